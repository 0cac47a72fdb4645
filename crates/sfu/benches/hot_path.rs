//! Micro-benchmarks of the forwarding hot path: the per-leg decision, the retransmission cache,
//! SRTP protection of one forwarded packet, a whole fan-out to N viewers (CPU only), and the
//! kernel send cost per datagram with `sendto` against `sendmmsg`.
//!
//! ```text
//! cargo bench -p lectern-sfu --bench hot_path
//! ```
//! Allocation counts are checked by `crates/sfu/tests/zero_alloc.rs` (zero per viewer).

use std::hint::black_box;
use std::net::UdpSocket;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use lectern_sfu::batch::{SendBatch, BATCH};
use lectern_sfu::cache::PacketCache;
use lectern_sfu::forward::{Decision, Incoming, Leg};
use lectern_sfu::srtp::{OutHeader, Rollover, SrtpSender};
use rtc::rtp;
use rtc::srtp::protection_profile::ProtectionProfile;

const PAYLOAD: usize = 1100;

fn incoming(seq: u16, at: Instant) -> Incoming {
    Incoming {
        epoch: 0,
        seq,
        ts: u32::from(seq) * 3000,
        keyframe_start: true,
        arrival: at,
    }
}

fn decide(c: &mut Criterion) {
    let now = Instant::now();
    let mut leg = Leg::new(true, 90_000);
    let mut seq = 0u16;
    c.bench_function("forward/decide", |b| {
        b.iter(|| {
            seq = seq.wrapping_add(1);
            black_box(leg.decide(black_box(&incoming(seq, now))))
        })
    });
}

fn cache(c: &mut Criterion) {
    let mut cache = PacketCache::new(1024);
    let mut packet = rtp::Packet {
        header: rtp::header::Header {
            version: 2,
            ..Default::default()
        },
        payload: Bytes::from(vec![1u8; PAYLOAD]),
    };
    let mut seq = 0u16;
    c.bench_function("cache/insert", |b| {
        b.iter(|| {
            seq = seq.wrapping_add(1);
            packet.header.sequence_number = seq;
            cache.insert(0, black_box(&packet));
        })
    });
    c.bench_function("cache/get", |b| {
        b.iter(|| {
            seq = seq.wrapping_add(7);
            black_box(cache.get(0, seq & 1023).is_some())
        })
    });
}

fn seal(c: &mut Criterion) {
    let payload = vec![9u8; PAYLOAD];
    let mut buf = vec![0u8; 1536];
    for (name, profile) in [
        (
            "egress/seal_aes_gcm_1100B",
            ProtectionProfile::AeadAes128Gcm,
        ),
        (
            "egress/seal_aes_cm_sha1_1100B",
            ProtectionProfile::Aes128CmHmacSha1_80,
        ),
    ] {
        let mut srtp = SrtpSender::new(profile, &[3; 16], &vec![4; profile.salt_len()]).unwrap();
        let mut roc = Rollover::default();
        let mut seq = 0u16;
        let mut g = c.benchmark_group(name);
        g.throughput(Throughput::Bytes(PAYLOAD as u64));
        g.bench_function("one packet", |b| {
            b.iter(|| {
                seq = seq.wrapping_add(1);
                let h = OutHeader {
                    marker: false,
                    payload_type: 96,
                    seq,
                    ts: 0,
                    ssrc: 1,
                };
                black_box(
                    srtp.seal_rtp(&mut buf, &h, &payload, roc.roc_for(seq))
                        .unwrap(),
                )
            })
        });
        g.finish();
    }
}

/// One packet to N viewers: decision, header, copy, AES-GCM, queued in the batch (not sent).
fn fan_out(c: &mut Criterion) {
    let payload = Bytes::from(vec![5u8; PAYLOAD]);
    let now = Instant::now();
    for viewers in [50usize, 400] {
        let mut legs: Vec<(Leg, SrtpSender, Rollover)> = (0..viewers)
            .map(|i| {
                (
                    Leg::new(true, 90_000),
                    SrtpSender::new(ProtectionProfile::AeadAes128Gcm, &[i as u8; 16], &[1; 12])
                        .unwrap(),
                    Rollover::default(),
                )
            })
            .collect();
        let to = "127.0.0.1:9".parse().unwrap();
        let mut batch = SendBatch::new();
        let mut seq = 0u16;
        let mut g = c.benchmark_group("fanout_cpu");
        g.throughput(Throughput::Elements(viewers as u64));
        g.bench_function(format!("{viewers} viewers"), |b| {
            b.iter(|| {
                seq = seq.wrapping_add(1);
                let inc = incoming(seq, now);
                for (i, (leg, srtp, roc)) in legs.iter_mut().enumerate() {
                    let Decision::Forward { seq, ts } = leg.decide(&inc) else {
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
                        ssrc: i as u32,
                    };
                    let n = srtp
                        .seal_rtp(batch.slot(), &h, &payload, roc.roc_for(seq))
                        .unwrap();
                    batch.push(n, to);
                }
            })
        });
        g.finish();
    }
}

/// Kernel cost of a datagram on loopback: 64 × `sendto` against one `sendmmsg` of 64, each to
/// one of 8 receiving sockets (drained outside the timed part).
fn send(c: &mut Criterion) {
    let tx = lectern_sfu::net::std_udp_socket(([127, 0, 0, 1], 0).into()).unwrap();
    let rx: Vec<UdpSocket> = (0..8)
        .map(|_| {
            let s = lectern_sfu::net::std_udp_socket(([127, 0, 0, 1], 0).into()).unwrap();
            s.set_nonblocking(true).unwrap();
            s
        })
        .collect();
    let addrs: Vec<_> = rx.iter().map(|s| s.local_addr().unwrap()).collect();
    let drain = || {
        let mut buf = [0u8; 2048];
        for s in &rx {
            while s.recv(&mut buf).is_ok() {}
        }
    };
    let datagram = vec![7u8; PAYLOAD + 28];
    let mut g = c.benchmark_group("send_64_datagrams");
    g.throughput(Throughput::Elements(BATCH as u64));
    g.bench_function("sendto", |b| {
        b.iter_batched(
            drain,
            |_| {
                for i in 0..BATCH {
                    let _ = tx.send_to(&datagram, addrs[i % addrs.len()]);
                }
            },
            BatchSize::PerIteration,
        )
    });
    let mut batch = SendBatch::new();
    g.bench_function("sendmmsg", |b| {
        b.iter_batched(
            drain,
            |_| {
                for i in 0..BATCH {
                    let slot = batch.slot();
                    slot[..datagram.len()].copy_from_slice(&datagram);
                    batch.push(datagram.len(), addrs[i % addrs.len()]);
                }
                black_box(batch.flush(&tx))
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = decide, cache, seal, fan_out, send
}
criterion_main!(benches);
