//! Depacketizer behaviour: round trips per codec, reordering, loss, keyframe gating, wrap-around,
//! restarts and a seeded fuzz run.

use std::time::{Duration, Instant};

use bytes::Bytes;
use lectern_sfu::codec::Codec;

use super::testutil::*;
use super::*;

/// A frame copied out of the depacketizer.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Out {
    ts: u32,
    key: bool,
    data: Vec<u8>,
    dims: Option<(u16, u16)>,
}

fn drain(d: &mut Depacketizer) -> Vec<Out> {
    let mut out = Vec::new();
    while let Some(f) = d.pop() {
        out.push(Out {
            ts: f.rtp_ts,
            key: f.keyframe,
            data: f.data.to_vec(),
            dims: f.dimensions,
        });
    }
    out
}

/// Compares frame contents without printing megabytes on failure.
fn assert_same_frames(out: &[Out], frames: &[Vec<u8>]) {
    assert_eq!(out.len(), frames.len(), "frame count");
    for (i, (o, f)) in out.iter().zip(frames).enumerate() {
        assert!(
            o.data == *f,
            "frame {i}: {} bytes, expected {}",
            o.data.len(),
            f.len()
        );
    }
}

fn push(d: &mut Depacketizer, p: &Packet, at: Instant) -> Vec<Out> {
    d.push(
        p.seq,
        p.ts,
        p.marker,
        Bytes::copy_from_slice(&p.payload),
        at,
    );
    drain(d)
}

fn push_all(d: &mut Depacketizer, packets: &[Packet], at: Instant) -> Vec<Out> {
    packets.iter().flat_map(|p| push(d, p, at)).collect()
}

fn tick(d: &mut Depacketizer, at: Instant) -> Vec<Out> {
    d.tick(at);
    drain(d)
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A VP8 stream: frame `i` has timestamp `i * 3000`; keyframes where `keys[i]`. Returns the
/// packets of each frame and the frames themselves.
fn vp8_stream(
    rng: &mut Rng,
    sender: &mut Sender,
    keys: &[bool],
    mtu: usize,
) -> (Vec<Vec<Packet>>, Vec<Vec<u8>>) {
    let mut packets = Vec::new();
    let mut frames = Vec::new();
    for (i, &key) in keys.iter().enumerate() {
        let len = if key { 2500 } else { 200 + rng.below(800) };
        let f = vp8_frame(rng, key, len, (640, 360));
        packets.push(sender.vp8(i as u32 * 3000, &f, mtu));
        frames.push(f);
    }
    (packets, frames)
}

#[test]
fn vp8_round_trip() {
    let mut rng = Rng::new(1);
    let mut s = Sender::new(1000);
    let keys = [true, false, false, false, true, false];
    let (packets, frames) = vp8_stream(&mut rng, &mut s, &keys, 200);
    let mut d = Depacketizer::new(Codec::Vp8, 90_000);
    let t = Instant::now();
    let out = push_all(&mut d, &packets.concat(), t);
    assert_eq!(out.len(), frames.len());
    for (i, (o, f)) in out.iter().zip(&frames).enumerate() {
        assert_eq!(o.ts, i as u32 * 3000);
        assert_eq!(o.key, keys[i]);
        assert_eq!(&o.data, f);
        assert_eq!(o.dims, keys[i].then_some((640, 360)));
    }
    assert!(!d.wants_keyframe());
    let st = d.stats();
    assert_eq!(
        (st.frames_out, st.frames_dropped, st.packets_lost),
        (6, 0, 0)
    );
    assert_eq!(d.avcc(), None);
}

#[test]
fn vp8_chrome_keyframe_packets() {
    // The first two packets of a Chrome VP8 keyframe: X=1, I with a 15-bit picture id, L
    // (TL0PICIDX), T; the frame tag and header of a 640×360 keyframe follow the descriptor.
    let first: &[u8] = &[
        0x90, 0xe0, 0x9a, 0x5c, 0x37, 0x20, 0x70, 0x93, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0x68,
        0x01, 0x11, 0x22,
    ];
    let second: &[u8] = &[0x80, 0xe0, 0x9a, 0x5c, 0x37, 0x20, 0x33, 0x44];
    let mut d = Depacketizer::new(Codec::Vp8, 90_000);
    let t = Instant::now();
    d.push(7, 90, false, Bytes::from_static(first), t);
    assert!(d.pop().is_none());
    d.push(8, 90, true, Bytes::from_static(second), t);
    let f = d.pop().unwrap();
    assert!(f.keyframe);
    assert_eq!(f.dimensions, Some((640, 360)));
    assert_eq!(f.data, &[&first[6..], &second[6..]].concat()[..]);
    assert!(d.pop().is_none());
}

#[test]
fn vp9_round_trip_single_layer() {
    for mode in [
        Vp9Mode::default(),
        Vp9Mode {
            flexible: true,
            layered: true,
        },
        Vp9Mode {
            flexible: false,
            layered: true,
        },
    ] {
        let mut rng = Rng::new(2);
        let mut s = Sender::new(40_000);
        let mut d = Depacketizer::new(Codec::Vp9, 90_000);
        let t = Instant::now();
        let mut expected = Vec::new();
        let mut got = Vec::new();
        for i in 0..8u32 {
            let key = i % 4 == 0;
            let f = vp9_frame(&mut rng, key, if key { 3000 } else { 400 }, (1280, 720));
            let ss = [(1280, 720)];
            let pk = s.vp9(
                i * 3000,
                std::slice::from_ref(&f),
                key,
                key.then_some(&ss[..]),
                mode,
                500,
            );
            got.extend(push_all(&mut d, &pk, t));
            expected.push((i * 3000, key, f));
        }
        assert_eq!(got.len(), expected.len(), "{mode:?}");
        for (o, (ts, key, f)) in got.iter().zip(&expected) {
            assert_eq!((o.ts, o.key, &o.data), (*ts, *key, f), "{mode:?}");
            assert_eq!(o.dims, key.then_some((1280, 720)));
        }
        assert_eq!(d.stats().malformed, 0);
    }
}

#[test]
fn vp9_key_frame_size_without_scalability_structure() {
    let mut rng = Rng::new(3);
    let mut s = Sender::new(1);
    let mut d = Depacketizer::new(Codec::Vp9, 90_000);
    let f = vp9_frame(&mut rng, true, 100, (320, 240));
    let pk = s.vp9(0, &[f], true, None, Vp9Mode::default(), 1200);
    let out = push_all(&mut d, &pk, Instant::now());
    assert_eq!(out.len(), 1);
    assert!(out[0].key);
    assert_eq!(out[0].dims, Some((320, 240)));
}

#[test]
fn vp9_spatial_layers_are_concatenated() {
    let mut rng = Rng::new(4);
    let mut s = Sender::new(65_500);
    let mut d = Depacketizer::new(Codec::Vp9, 90_000);
    let t = Instant::now();
    let mode = Vp9Mode {
        flexible: true,
        layered: true,
    };
    let sizes = [(320, 180), (640, 360)];
    let key = [vp9_frame(&mut rng, true, 900, (320, 180)), rng.bytes(1500)];
    let delta = [vp9_frame(&mut rng, false, 300, (0, 0)), rng.bytes(700)];
    let mut out = push_all(&mut d, &s.vp9(0, &key, true, Some(&sizes), mode, 400), t);
    out.extend(push_all(
        &mut d,
        &s.vp9(3000, &delta, false, None, mode, 400),
        t,
    ));
    assert_eq!(out.len(), 2);
    assert!(out[0].key && !out[1].key);
    assert_eq!(out[0].data, key.concat());
    assert_eq!(out[1].data, delta.concat());
    // The top layer's size, as the decoder outputs it.
    assert_eq!(out[0].dims, Some((640, 360)));
    assert_eq!(out[1].dims, None);
}

#[test]
fn h264_round_trip() {
    let mut rng = Rng::new(5);
    let mut s = Sender::new(9);
    let mut d = Depacketizer::new(Codec::H264, 90_000);
    let t = Instant::now();
    let idr = vec![
        SPS_640X360.to_vec(),
        PPS.to_vec(),
        h264_slice(&mut rng, true, 5000),
    ];
    let p1 = vec![h264_slice(&mut rng, false, 300)];
    let p2 = vec![
        h264_slice(&mut rng, false, 1500),
        h264_slice(&mut rng, false, 40),
    ];
    let mut out = Vec::new();
    for (i, au) in [&idr, &p1, &p2].into_iter().enumerate() {
        out.extend(push_all(&mut d, &s.h264(i as u32 * 3000, au, 1000), t));
    }
    assert_eq!(out.len(), 3);
    assert_eq!(out[0].data, avcc_access_unit(&idr));
    assert_eq!(out[1].data, avcc_access_unit(&p1));
    assert_eq!(out[2].data, avcc_access_unit(&p2));
    assert_eq!(
        out.iter().map(|o| o.key).collect::<Vec<_>>(),
        [true, false, false]
    );
    assert_eq!(out[0].dims, Some((640, 360)));
    assert_eq!(out[1].dims, None);
    let avcc = d.avcc().unwrap();
    assert_eq!(&avcc[..5], &[1, 0x42, 0xc0, 0x16, 0xff]);
    assert!(!d.wants_keyframe());
}

#[test]
fn h264_keyframe_after_loss_is_recognised_by_its_content() {
    let mut rng = Rng::new(6);
    let mut s = Sender::new(100);
    let mut d = Depacketizer::new(Codec::H264, 90_000);
    let t = Instant::now();
    let idr = |rng: &mut Rng| {
        vec![
            SPS_640X360.to_vec(),
            PPS.to_vec(),
            h264_slice(rng, true, 3000),
        ]
    };
    let first = idr(&mut rng);
    let mut out = push_all(&mut d, &s.h264(0, &first, 1000), t);
    // A delta access unit whose last packet is lost.
    let mut delta = s.h264(3000, &[h264_slice(&mut rng, false, 2500)], 1000);
    delta.pop();
    out.extend(push_all(&mut d, &delta, t));
    // The next IDR arrives right behind the gap.
    let second = idr(&mut rng);
    out.extend(push_all(&mut d, &s.h264(6000, &second, 1000), t));
    out.extend(tick(&mut d, t + ms(250)));
    assert_eq!(out.len(), 2);
    assert_eq!(out[1].ts, 6000);
    assert_eq!(out[1].data, avcc_access_unit(&second));
    assert!(!d.wants_keyframe());
    assert_eq!(d.stats().frames_dropped, 1);
    assert_eq!(d.stats().packets_lost, 1);
}

#[test]
fn opus_frames_and_gaps() {
    let mut rng = Rng::new(7);
    let mut s = Sender::new(65_530);
    let mut d = Depacketizer::new(Codec::Opus, 48_000);
    let t = Instant::now();
    let frames: Vec<Vec<u8>> = (0..12)
        .map(|_| {
            let len = 1 + rng.below(200);
            rng.bytes(len)
        })
        .collect();
    let packets: Vec<Packet> = frames
        .iter()
        .enumerate()
        .map(|(i, f)| s.opus(i as u32 * 960, f))
        .collect();
    let mut out = Vec::new();
    for (i, p) in packets.iter().enumerate() {
        if i == 4 || i == 5 {
            continue; // lost
        }
        out.extend(push(&mut d, p, t + ms(20 * i as u64)));
    }
    assert_eq!(out.len(), 4);
    // The audio window is 100 ms: packet 6 arrived at 120 ms.
    assert!(tick(&mut d, t + ms(219)).is_empty());
    out.extend(tick(&mut d, t + ms(220)));
    assert_eq!(out.len(), 10);
    let expected: Vec<&Vec<u8>> = frames
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 4 && *i != 5)
        .map(|(_, f)| f)
        .collect();
    for (o, f) in out.iter().zip(expected) {
        assert_eq!(&o.data, f);
        assert!(o.key);
    }
    assert!(!d.wants_keyframe());
    assert_eq!(d.stats().packets_lost, 2);
    assert_eq!(d.stats().frames_dropped, 0);
}

#[test]
fn reordering_within_the_window() {
    let mut rng = Rng::new(8);
    let mut s = Sender::new(500);
    let keys: Vec<bool> = (0..20).map(|i| i % 10 == 0).collect();
    let (packets, frames) = vp8_stream(&mut rng, &mut s, &keys, 100);
    let mut all = packets.concat();
    // Shuffle within blocks of 16 packets, the very first packet left first (it defines
    // where the stream starts; anything older is late).
    for block in all[1..].chunks_mut(16) {
        for i in (1..block.len()).rev() {
            let j = rng.below(i + 1);
            block.swap(i, j);
        }
    }
    let mut d = Depacketizer::new(Codec::Vp8, 90_000);
    let t = Instant::now();
    let out = push_all(&mut d, &all, t);
    assert_same_frames(&out, &frames);
    assert!(d.stats().reordered > 0);
    assert_eq!(d.stats().packets_lost, 0);
}

#[test]
fn duplicates_are_dropped() {
    let mut rng = Rng::new(9);
    let mut s = Sender::new(0);
    let keys = [true, false, false];
    let (packets, frames) = vp8_stream(&mut rng, &mut s, &keys, 300);
    let all = packets.concat();
    let mut d = Depacketizer::new(Codec::Vp8, 90_000);
    let t = Instant::now();
    let mut out = Vec::new();
    for (i, p) in all.iter().enumerate() {
        out.extend(push(&mut d, p, t));
        out.extend(push(&mut d, p, t));
        if i > 2 {
            out.extend(push(&mut d, &all[i - 2], t));
        }
    }
    assert_same_frames(&out, &frames);
    assert_eq!(d.stats().duplicates, (all.len() + all.len() - 3) as u64);
}

#[test]
fn loss_inside_a_frame_drops_deltas_until_the_next_keyframe() {
    let mut rng = Rng::new(10);
    let mut s = Sender::new(1);
    let keys = [true, false, false, false, true, false];
    let (packets, frames) = vp8_stream(&mut rng, &mut s, &keys, 100);
    assert!(packets[2].len() >= 3);
    let mut d = Depacketizer::new(Codec::Vp8, 90_000);
    let t = Instant::now();
    let mut out = Vec::new();
    for (i, frame) in packets.iter().enumerate() {
        for (k, p) in frame.iter().enumerate() {
            if i == 2 && k == 1 {
                continue; // lost
            }
            out.extend(push(&mut d, p, t + ms(10 * i as u64)));
        }
        if i == 2 {
            assert!(!d.wants_keyframe(), "the gap is not given up yet");
        }
    }
    assert_eq!(out.len(), 2, "everything behind the gap waits");
    // The first packet behind the gap arrived at 20 ms; the window is 200 ms.
    out.extend(tick(&mut d, t + ms(219)));
    assert_eq!(out.len(), 2);
    out.extend(tick(&mut d, t + ms(220)));
    // Frame 2 incomplete, frame 3 a delta: dropped. Keyframe 4 and delta 5 out.
    let ts: Vec<u32> = out.iter().map(|o| o.ts).collect();
    assert_eq!(ts, [0, 3000, 12_000, 15_000]);
    assert_eq!(out[2].data, frames[4]);
    assert!(!d.wants_keyframe());
    let st = d.stats();
    assert_eq!((st.frames_dropped, st.packets_lost), (2, 1));

    // Now a loss with no keyframe behind it: the recorder is asked for one.
    let (more, _) = vp8_stream(&mut rng, &mut s, &[false, false, false], 100);
    let mut late = more.concat();
    late.remove(1);
    let t2 = t + ms(1000);
    push_all(&mut d, &late, t2);
    assert!(tick(&mut d, t2 + ms(300)).is_empty());
    assert!(d.wants_keyframe());
}

#[test]
fn lost_marker_packet_drops_the_frame() {
    let mut rng = Rng::new(11);
    let mut s = Sender::new(1);
    let (packets, _) = vp8_stream(&mut rng, &mut s, &[true, false, true], 200);
    let mut d = Depacketizer::new(Codec::Vp8, 90_000);
    let t = Instant::now();
    let mut out = push_all(&mut d, &packets[0], t);
    let mut second = packets[1].clone();
    second.pop();
    out.extend(push_all(&mut d, &second, t));
    out.extend(push_all(&mut d, &packets[2], t));
    out.extend(tick(&mut d, t + ms(200)));
    assert_eq!(out.iter().map(|o| o.ts).collect::<Vec<_>>(), [0, 6000]);
}

#[test]
fn frames_without_marker_end_when_the_timestamp_changes() {
    let mut rng = Rng::new(12);
    let mut s = Sender::new(1);
    let (mut packets, _) = vp8_stream(&mut rng, &mut s, &[true, false], 200);
    packets[0].last_mut().unwrap().marker = false;
    let mut d = Depacketizer::new(Codec::Vp8, 90_000);
    let out = push_all(&mut d, &packets.concat(), Instant::now());
    // The keyframe never ended: dropped, and so is the delta behind it.
    assert!(out.is_empty());
    assert!(d.wants_keyframe());
    assert_eq!(d.stats().frames_dropped, 2);
}

#[test]
fn the_first_frame_must_be_a_keyframe() {
    let mut rng = Rng::new(13);
    let mut s = Sender::new(1);
    let (packets, frames) = vp8_stream(&mut rng, &mut s, &[false, false, true, false], 300);
    let mut d = Depacketizer::new(Codec::Vp8, 90_000);
    let t = Instant::now();
    assert!(!d.wants_keyframe());
    let out = push_all(&mut d, &packets[0], t);
    assert!(out.is_empty());
    assert!(d.wants_keyframe());
    let out = push_all(&mut d, &packets[1..].concat(), t);
    assert_eq!(out.len(), 2);
    assert_eq!(out[0].data, frames[2]);
    assert!(!d.wants_keyframe());
    assert_eq!(d.stats().frames_dropped, 2);
}

#[test]
fn joining_mid_frame_waits_for_a_keyframe() {
    let mut rng = Rng::new(14);
    let mut s = Sender::new(1);
    let (packets, _) = vp8_stream(&mut rng, &mut s, &[true, false, true], 300);
    let mut d = Depacketizer::new(Codec::Vp8, 90_000);
    let all = packets.concat();
    let out = push_all(&mut d, &all[2..], Instant::now());
    assert_eq!(out.iter().map(|o| o.ts).collect::<Vec<_>>(), [6000]);
}

#[test]
fn loss_between_consecutive_pictures_breaks_nothing() {
    let mut rng = Rng::new(15);
    let mut s = Sender::new(1);
    let (mut packets, _) = vp8_stream(&mut rng, &mut s, &[true, false], 300);
    // A padding packet between the frames never arrives.
    s.seq = s.seq.wrapping_add(1);
    let (next, _) = vp8_stream(&mut rng, &mut s, &[false], 300);
    packets.extend(next.into_iter().map(|mut f| {
        for p in &mut f {
            p.ts += 6000;
        }
        f
    }));
    let mut d = Depacketizer::new(Codec::Vp8, 90_000);
    let t = Instant::now();
    let mut out = push_all(&mut d, &packets.concat(), t);
    out.extend(tick(&mut d, t + ms(200)));
    assert_eq!(out.len(), 3);
    assert!(!d.wants_keyframe());
    assert_eq!(d.stats().packets_lost, 1);

    // A received padding packet (empty payload) is not even a gap.
    let mut d = Depacketizer::new(Codec::Vp8, 90_000);
    let (packets, _) = vp8_stream(&mut rng, &mut s, &[true, false], 300);
    let mut out = push_all(&mut d, &packets[0], t);
    let pad = Packet {
        seq: packets[0].last().unwrap().seq.wrapping_add(1),
        ts: 0,
        marker: false,
        payload: Vec::new(),
    };
    out.extend(push(&mut d, &pad, t));
    let shifted: Vec<Packet> = packets[1]
        .iter()
        .map(|p| Packet {
            seq: p.seq.wrapping_add(1),
            ..p.clone()
        })
        .collect();
    out.extend(push_all(&mut d, &shifted, t));
    assert_eq!(out.len(), 2);
    assert_eq!(d.stats().packets_lost, 0);

    // But a whole lost frame (picture id skipped) breaks the chain.
    let mut d = Depacketizer::new(Codec::Vp8, 90_000);
    let (packets, _) = vp8_stream(&mut rng, &mut s, &[true, false, false], 300);
    let mut out = push_all(&mut d, &packets[0], t);
    out.extend(push_all(&mut d, &packets[2], t));
    out.extend(tick(&mut d, t + ms(200)));
    assert_eq!(out.len(), 1);
    assert!(d.wants_keyframe());
}

#[test]
fn sequence_numbers_wrap() {
    let mut rng = Rng::new(16);
    let mut s = Sender::new(65_520);
    let keys: Vec<bool> = (0..10).map(|i| i == 0).collect();
    let (packets, frames) = vp8_stream(&mut rng, &mut s, &keys, 150);
    let all = packets.concat();
    assert!(all.first().unwrap().seq > all.last().unwrap().seq, "wraps");
    let mut d = Depacketizer::new(Codec::Vp8, 90_000);
    let out = push_all(&mut d, &all, Instant::now());
    assert_same_frames(&out, &frames);
    // Reordered across the wrap, too.
    let mut d = Depacketizer::new(Codec::Vp8, 90_000);
    let mut swapped = all.clone();
    let wrap = swapped.iter().position(|p| p.seq == 0).unwrap();
    swapped.swap(wrap - 1, wrap);
    let out = push_all(&mut d, &swapped, Instant::now());
    assert_eq!(out.len(), frames.len());
}

#[test]
fn a_huge_sequence_jump_restarts() {
    let mut rng = Rng::new(17);
    let mut s = Sender::new(100);
    let (packets, _) = vp8_stream(&mut rng, &mut s, &[true, false], 300);
    let mut d = Depacketizer::new(Codec::Vp8, 90_000);
    let t = Instant::now();
    let mut out = push_all(&mut d, &packets.concat(), t);
    s.seq = s.seq.wrapping_add(30_000);
    s.picture_id = s.picture_id.wrapping_add(77);
    let (packets, _) = vp8_stream(&mut rng, &mut s, &[false, true, false], 300);
    out.extend(push_all(&mut d, &packets.concat(), t));
    // The delta right after the restart cannot be decoded; the keyframe and what follows can.
    assert_eq!(
        out.iter().map(|o| o.ts).collect::<Vec<_>>(),
        [0, 3000, 3000, 6000]
    );
    assert_eq!(d.stats().resets, 1);
    assert_eq!(d.stats().packets_lost, 0);
}

#[test]
fn late_packets_after_give_up_are_ignored() {
    let mut rng = Rng::new(18);
    let mut s = Sender::new(1);
    let (packets, _) = vp8_stream(&mut rng, &mut s, &[true, false, true], 200);
    let all = packets.concat();
    let missing = packets[0].len() + 1;
    let mut d = Depacketizer::new(Codec::Vp8, 90_000);
    let t = Instant::now();
    for (i, p) in all.iter().enumerate() {
        if i != missing {
            push(&mut d, p, t);
        }
    }
    tick(&mut d, t + ms(200));
    let before = d.stats();
    let out = push(&mut d, &all[missing], t + ms(210));
    assert!(out.is_empty());
    assert_eq!(d.stats().late, before.late + 1);
}

#[test]
fn oversized_frames_are_dropped() {
    let mut rng = Rng::new(19);
    let mut s = Sender::new(1);
    let mut d = Depacketizer::new(Codec::Vp8, 90_000);
    let t = Instant::now();
    let big = vp8_frame(&mut rng, true, MAX_FRAME + 1000, (640, 360));
    let out = push_all(&mut d, &s.vp8(0, &big, 60_000), t);
    assert!(out.is_empty());
    assert!(d.wants_keyframe());
    let ok = vp8_frame(&mut rng, true, 1000, (640, 360));
    let out = push_all(&mut d, &s.vp8(3000, &ok, 60_000), t);
    assert_eq!(out.len(), 1);
    // A payload above the RTP maximum is refused as malformed, keeping its sequence number.
    let huge = vp8_frame(&mut rng, true, MAX_PAYLOAD + 10, (640, 360));
    let out = push_all(&mut d, &s.vp8(6000, &huge, MAX_PAYLOAD + 100), t);
    assert!(out.is_empty());
    assert_eq!(d.stats().malformed, 1);
}

#[test]
fn memory_stays_bounded_when_frames_are_not_popped() {
    let mut rng = Rng::new(20);
    let mut s = Sender::new(1);
    let mut d = Depacketizer::new(Codec::Opus, 48_000);
    let t = Instant::now();
    let frame = rng.bytes(1000);
    for i in 0..5000u32 {
        let p = s.opus(i * 960, &frame);
        d.push(p.seq, p.ts, false, Bytes::from(p.payload), t);
    }
    let (buf, ready, held) = d.footprint();
    assert!(ready <= MAX_READY);
    assert!(buf <= 2 * MAX_BUFFERED);
    assert_eq!(held, 0);
    assert_eq!(drain(&mut d).len(), MAX_READY);
    // Once popped, the buffer is reused from the start.
    let p = s.opus(5000 * 960, &frame);
    d.push(p.seq, p.ts, false, Bytes::from(p.payload), t);
    assert_eq!(drain(&mut d).len(), 1);
}

/// Many random streams, damaged at random (loss, duplication, reordering, corruption,
/// truncation, garbage, sequence and timestamp jumps): nothing panics, memory stays bounded.
#[test]
fn fuzz_never_panics_and_stays_bounded() {
    let mut rng = Rng::new(0x5eed_1ec7);
    let t0 = Instant::now();
    for round in 0..300 {
        let codec = [Codec::Vp8, Codec::Vp9, Codec::H264, Codec::Opus][round % 4];
        let mut d = Depacketizer::new(codec, 90_000);
        let mut s = Sender::new(rng.next() as u16);
        let mut packets: Vec<Packet> = Vec::new();
        for i in 0..60u32 {
            let key = i % 15 == 0;
            let ts = i * 3000;
            let len = 1 + rng.below(if key { 6000 } else { 1500 });
            let mtu = 50 + rng.below(1200);
            match codec {
                Codec::Vp8 => {
                    packets.extend(s.vp8(ts, &vp8_frame(&mut rng, key, len, (64, 48)), mtu))
                }
                Codec::Vp9 => {
                    let mode = Vp9Mode {
                        flexible: rng.below(2) == 0,
                        layered: rng.below(2) == 0,
                    };
                    let layers = 1 + rng.below(2);
                    let frames: Vec<Vec<u8>> = (0..layers)
                        .map(|_| vp9_frame(&mut rng, key, len, (64, 48)))
                        .collect();
                    let ss = [(32, 24), (64, 48)];
                    let ss = key.then_some(&ss[..layers]);
                    packets.extend(s.vp9(ts, &frames, key, ss, mode, mtu));
                }
                Codec::H264 => {
                    let mut au = Vec::new();
                    if key {
                        au.push(SPS_640X360.to_vec());
                        au.push(PPS.to_vec());
                    }
                    au.push(h264_slice(&mut rng, key, len));
                    packets.extend(s.h264(ts, &au, mtu));
                }
                Codec::Opus => packets.push(s.opus(ts, &rng.bytes(len % 300))),
            }
        }
        // Damage: drop, duplicate, swap, corrupt, truncate, inject garbage, jump.
        let mut now = t0;
        let mut i = 0;
        while i < packets.len() {
            let mut p = packets[i].clone();
            match rng.below(40) {
                0 => {
                    i += 1;
                    continue;
                }
                1 => {
                    let j = rng.below(packets.len());
                    packets.swap(i, j);
                    continue;
                }
                2 => {
                    let k = rng.below(p.payload.len().max(1));
                    if let Some(b) = p.payload.get_mut(k) {
                        *b ^= 1 << rng.below(8);
                    }
                }
                3 => p.payload.truncate(rng.below(p.payload.len() + 1)),
                4 => {
                    let len = rng.below(40);
                    p.payload = rng.bytes(len);
                }
                5 => p.seq = p.seq.wrapping_add(rng.next() as u16),
                6 => p.marker = !p.marker,
                7 => p.ts = rng.next() as u32,
                _ => {}
            }
            now += Duration::from_micros(rng.below(20_000) as u64);
            d.push(p.seq, p.ts, p.marker, Bytes::from(p.payload), now);
            if rng.below(3) > 0 {
                for f in std::iter::from_fn(|| d.pop().map(|f| f.data.len())) {
                    assert!(f > 0 && f <= MAX_FRAME);
                }
            }
            if rng.below(10) == 0 {
                d.tick(now + Duration::from_millis(rng.below(400) as u64));
            }
            let (buf, ready, held) = d.footprint();
            assert!(buf <= MAX_BUFFERED + 4 * MAX_PAYLOAD, "buffer {buf}");
            assert!(ready <= MAX_READY);
            assert!(held <= reorder::CAPACITY);
            i += 1;
        }
        d.tick(now + Duration::from_secs(1));
        drain(&mut d);
        let _ = (d.stats(), d.wants_keyframe(), d.avcc());
    }

    // Pure garbage, every codec, with hostile sequence numbers.
    for codec in [Codec::Vp8, Codec::Vp9, Codec::H264, Codec::Opus] {
        let mut d = Depacketizer::new(codec, 90_000);
        let mut now = t0;
        for _ in 0..20_000 {
            let len = rng.below(64);
            let mut payload = rng.bytes(len);
            if let Some(b) = payload.first_mut() {
                // Bias towards the interesting descriptor / NAL types.
                *b = match rng.below(4) {
                    0 => *b | 0x90,
                    1 => (*b & 0xe0) | [24, 28, 5, 7][rng.below(4)],
                    _ => *b,
                };
            }
            let seq = rng.next() as u16 % 700;
            now += Duration::from_millis(rng.below(5) as u64);
            d.push(
                seq,
                rng.below(4) as u32,
                rng.below(2) == 0,
                Bytes::from(payload),
                now,
            );
            drain(&mut d);
            if rng.below(20) == 0 {
                d.tick(now + Duration::from_millis(300));
                drain(&mut d);
            }
            let (buf, ready, held) = d.footprint();
            assert!(buf <= MAX_BUFFERED + 4 * MAX_PAYLOAD);
            assert!(ready <= MAX_READY);
            assert!(held <= reorder::CAPACITY);
        }
    }
}

/// Loss, duplication and reordering only (no corruption): every frame that comes out is exactly
/// a frame that was sent, in order, and every video delta frame that comes out directly follows
/// the previous frame that came out — the output is always decodable.
#[test]
fn fuzz_loss_and_reordering_yield_only_decodable_sent_frames() {
    let mut rng = Rng::new(0xfeed_f00d);
    let t0 = Instant::now();
    let (mut total_out, mut total_sent) = (0, 0);
    for round in 0..400 {
        let codec = [Codec::Vp8, Codec::Vp9, Codec::H264, Codec::Opus][round % 4];
        let mut s = Sender::new(rng.next() as u16);
        let mode = Vp9Mode {
            flexible: rng.below(2) == 0,
            layered: rng.below(2) == 0,
        };
        let layers = if mode.layered { 1 + rng.below(2) } else { 1 };
        // (timestamp, keyframe, expected data) of every frame sent.
        let mut sent: Vec<(u32, bool, Vec<u8>)> = Vec::new();
        let mut packets: Vec<Packet> = Vec::new();
        for i in 0..80u32 {
            let key = i % 20 == 0 || rng.below(30) == 0;
            let ts = i * 3000;
            let len = 10 + rng.below(if key { 4000 } else { 1200 });
            let mtu = 100 + rng.below(1000);
            match codec {
                Codec::Vp8 => {
                    let f = vp8_frame(&mut rng, key, len, (64, 48));
                    packets.extend(s.vp8(ts, &f, mtu));
                    sent.push((ts, key, f));
                }
                Codec::Vp9 => {
                    let frames: Vec<Vec<u8>> = (0..layers)
                        .map(|_| vp9_frame(&mut rng, key, len, (64, 48)))
                        .collect();
                    let ss = [(32, 24), (64, 48)];
                    let ss = key.then_some(&ss[..layers]);
                    packets.extend(s.vp9(ts, &frames, key, ss, mode, mtu));
                    sent.push((ts, key, frames.concat()));
                }
                Codec::H264 => {
                    let mut au = Vec::new();
                    if key {
                        au.push(SPS_640X360.to_vec());
                        au.push(PPS.to_vec());
                    }
                    for _ in 0..1 + rng.below(2) {
                        au.push(h264_slice(&mut rng, key, len));
                    }
                    packets.extend(s.h264(ts, &au, mtu));
                    sent.push((ts, key, avcc_access_unit(&au)));
                }
                Codec::Opus => {
                    let f = rng.bytes(len % 300 + 1);
                    packets.push(s.opus(ts, &f));
                    sent.push((ts, true, f));
                }
            }
        }
        // Damage the schedule: lose some, duplicate some, swap neighbours.
        let mut schedule: Vec<Packet> = Vec::new();
        for p in &packets {
            match rng.below(25) {
                0 => {}
                1 => {
                    schedule.push(p.clone());
                    schedule.push(p.clone());
                }
                _ => schedule.push(p.clone()),
            }
        }
        for k in 1..schedule.len() {
            if rng.below(8) == 0 {
                let j = (k + 1 + rng.below(6)).min(schedule.len() - 1);
                schedule.swap(k, j);
            }
        }
        let mut d = Depacketizer::new(codec, 90_000);
        let mut now = t0;
        let mut out = Vec::new();
        for (k, p) in schedule.iter().enumerate() {
            now += Duration::from_millis(1 + rng.below(3) as u64);
            out.extend(push(&mut d, p, now));
            if k % 10 == 0 {
                out.extend(tick(&mut d, now));
            }
        }
        out.extend(tick(&mut d, now + Duration::from_secs(1)));

        total_out += out.len();
        total_sent += sent.len();
        let mut last: Option<usize> = None;
        for o in &out {
            let i = sent
                .iter()
                .position(|(ts, _, _)| *ts == o.ts)
                .expect("a sent timestamp");
            assert!(
                o.data == sent[i].2,
                "round {round} ({codec:?}): frame {i} differs: {} vs {} bytes, {mode:?}, {layers} layers",
                o.data.len(),
                sent[i].2.len()
            );
            assert_eq!(o.key, sent[i].1, "round {round}: frame {i}");
            assert!(last.is_none_or(|l| i > l), "round {round}: out of order");
            if codec.is_video() && !o.key {
                assert_eq!(
                    last,
                    i.checked_sub(1),
                    "round {round}: delta {i} undecodable"
                );
            }
            last = Some(i);
        }
        assert!(!d.wants_keyframe() || codec.is_video());
    }
    // Most frames survive this much damage (a lost keyframe costs up to 20 frames).
    assert!(
        total_out * 2 > total_sent,
        "{total_out} of {total_sent} frames out"
    );
}

#[test]
fn picture_ids_compare_on_the_shorter_width() {
    assert!(PicId::new(0x7fff, 15).followed_by(PicId::new(0, 15)));
    assert!(PicId::new(5, 15).followed_by(PicId::new(6, 15)));
    assert!(!PicId::new(5, 15).followed_by(PicId::new(7, 15)));
    assert!(PicId::new(0x17f, 15).followed_by(PicId::new(0, 7)));
    assert!(PicId::new(0x7f, 7).followed_by(PicId::new(0, 7)));
}
