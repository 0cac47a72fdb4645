//! The per-viewer part of forwarding allocates nothing: for each viewer of a packet the
//! forwarding decision, the header rewrite, the one payload copy, SRTP protection and queueing
//! for `sendmmsg` run on memory set up once. A counting allocator wraps the system allocator for
//! this test binary and counts every allocation made during the fan-out.

use std::alloc::System;
use std::time::Instant;

use bytes::Bytes;
use lectern_sfu::batch::{SendBatch, BATCH};
use lectern_sfu::cache::PacketCache;
use lectern_sfu::forward::{Decision, Incoming, Leg};
use lectern_sfu::srtp::{OutHeader, Rollover, SrtpSender};
use rtc::rtp;
use rtc::srtp::protection_profile::ProtectionProfile;
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

struct Viewer {
    leg: Leg,
    srtp: SrtpSender,
    roc: Rollover,
    ssrc: u32,
    to: std::net::SocketAddr,
}

#[test]
fn fan_out_allocates_nothing_per_viewer() {
    const VIEWERS: usize = 200;
    const PACKETS: u16 = 500;
    for profile in [
        ProtectionProfile::AeadAes128Gcm,
        ProtectionProfile::Aes128CmHmacSha1_80,
    ] {
        let mut viewers: Vec<Viewer> = (0..VIEWERS)
            .map(|i| Viewer {
                leg: Leg::new(true, 90_000),
                srtp: SrtpSender::new(profile, &[i as u8; 16], &vec![7; profile.salt_len()])
                    .unwrap(),
                roc: Rollover::default(),
                ssrc: 1000 + i as u32,
                to: ([127, 0, 0, 1], 40_000 + i as u16).into(),
            })
            .collect();
        let mut batch = SendBatch::new();
        let mut cache = PacketCache::new(1024);
        let payloads: Vec<Bytes> = (0..PACKETS)
            .map(|i| Bytes::from(vec![(i % 251) as u8; 1100]))
            .collect();
        let start = Instant::now();
        // The counting allocator sees every thread of the process, and the test harness's own
        // thread allocates now and then; so the same fan-out runs up to three times (the legs
        // carry on where they were) and one run must allocate nothing. An allocation on the
        // path itself would show in every run (one per packet and viewer: 100 000 a run).
        let mut runs = Vec::new();
        let mut sealed = 0usize;
        for round in 0..3u32 {
            sealed = 0;
            let region = Region::new(GLOBAL);
            for (i, payload) in payloads.iter().enumerate() {
                let k = round as usize * payloads.len() + i;
                let seq = 65_000u16.wrapping_add(k as u16);
                let incoming = Incoming {
                    epoch: 0,
                    seq,
                    ts: 3000 * k as u32,
                    // A keyframe every 100 packets; legs start at the first.
                    keyframe_start: k % 100 == 0,
                    arrival: start,
                };
                for v in &mut viewers {
                    let Decision::Forward { seq, ts } = v.leg.decide(&incoming) else {
                        continue;
                    };
                    if batch.is_full() {
                        batch.clear();
                    }
                    let h = OutHeader {
                        marker: false,
                        payload_type: 96,
                        seq,
                        ts,
                        ssrc: v.ssrc,
                    };
                    let roc = v.roc.roc_for(seq);
                    let n = v.srtp.seal_rtp(batch.slot(), &h, payload, roc).unwrap();
                    batch.push(n, v.to);
                    sealed += 1;
                }
            }
            let change = region.change();
            runs.push(change.allocations);
            assert_eq!(
                sealed,
                VIEWERS * PACKETS as usize,
                "every viewer got every packet"
            );
            if change.allocations == 0 {
                break;
            }
        }
        assert_eq!(
            runs.iter().min().copied(),
            Some(0),
            "{profile:?}: allocations per run of {sealed} forwarded packets: {runs:?}"
        );
        assert!(batch.is_full() || sealed % BATCH != 0 || batch.is_empty());

        // The shared per-track work (the retransmission cache) is per incoming packet, not per
        // viewer, and allocates nothing either once the header's extension list is empty.
        let packet = rtp::Packet {
            header: rtp::header::Header {
                version: 2,
                sequence_number: 1,
                ..Default::default()
            },
            payload: payloads[0].clone(),
        };
        cache.insert(0, &packet);
        let counts: Vec<usize> = (0..3)
            .map(|_| {
                let region = Region::new(GLOBAL);
                for seq in 0..2000u16 {
                    let mut p = packet.clone();
                    p.header.sequence_number = seq;
                    cache.insert(0, &p);
                }
                region.change().allocations
            })
            .collect();
        assert!(counts.contains(&0), "cache insert allocates: {counts:?}");
    }
}
