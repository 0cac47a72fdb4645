//! Every parser of untrusted bytes in the media plane, fed random and mutated input: none may
//! panic. (A randomized complement to the unit tests; deterministic seeds keep it repeatable.)

use lectern_proto::{PublishedMid, Source};
use lectern_sfu::codec::Codec;
use lectern_sfu::demux::{stun_username, Demux};
use lectern_sfu::offer::{check_publish_offer, sections};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn random_bytes(rng: &mut StdRng, max: usize) -> Vec<u8> {
    let n = rng.random_range(0..max);
    (0..n).map(|_| rng.random()).collect()
}

/// A valid STUN binding request with a USERNAME, to mutate.
fn binding() -> Vec<u8> {
    let user = b"abcd:efgh";
    let mut m = vec![0x00, 0x01, 0x00, 0x0c, 0x21, 0x12, 0xa4, 0x42];
    m.extend_from_slice(&[9; 12]);
    m.extend_from_slice(&[0x00, 0x06, 0x00, user.len() as u8]);
    m.extend_from_slice(user);
    m.extend_from_slice(&[0, 0, 0]);
    m
}

#[test]
fn stun_and_demux_survive_garbage() {
    let mut rng = StdRng::seed_from_u64(1);
    let mut d: Demux<u8> = Demux::default();
    let from = std::net::SocketAddr::from(([127, 0, 0, 1], 9));
    for _ in 0..100_000 {
        let mut b = if rng.random_bool(0.5) {
            binding()
        } else {
            random_bytes(&mut rng, 64)
        };
        // Flip a few bytes, including the length fields.
        for _ in 0..rng.random_range(0..4) {
            if !b.is_empty() {
                let i = rng.random_range(0..b.len());
                b[i] = rng.random();
            }
        }
        let _ = stun_username(&b);
        let _ = d.route(from, &b, |u| u.len().try_into().ok());
    }
}

#[test]
fn keyframe_detection_survives_garbage() {
    let mut rng = StdRng::seed_from_u64(2);
    for _ in 0..100_000 {
        let b = random_bytes(&mut rng, 32);
        for c in [Codec::Vp8, Codec::Vp9, Codec::H264, Codec::Opus] {
            let _ = c.is_keyframe_start(&b);
        }
    }
}

#[test]
fn offer_checks_survive_garbage() {
    let mut rng = StdRng::seed_from_u64(3);
    let pieces = [
        "v=0\r\n",
        "m=video 9 UDP/TLS/RTP/SAVPF 96\r\n",
        "m=audio 0 x\r\n",
        "a=mid:0\r\n",
        "a=mid:\r\n",
        "a=rtpmap:96 VP8/90000\r\n",
        "a=rtpmap:\r\n",
        "a=rtpmap:1\r\n",
        "a=inactive\r\n",
        "m=\r\n",
        "\u{0}",
        "ü",
        "a=mid:1\r\n",
        "a=rtpmap:111 opus/48000/2\r\n",
    ];
    let tracks = [
        PublishedMid {
            mid: "0".into(),
            source: Source::Camera,
        },
        PublishedMid {
            mid: "1".into(),
            source: Source::Microphone,
        },
    ];
    for _ in 0..20_000 {
        let sdp: String = (0..rng.random_range(0..12))
            .map(|_| pieces[rng.random_range(0..pieces.len())])
            .collect();
        let _ = sections(&sdp);
        let n = rng.random_range(0..=tracks.len());
        let _ = check_publish_offer(&sdp, &tracks[..n]);
    }
}
