//! Recorder benchmark: CPU per packet and memory over a long synthetic recording.
//!
//! A publisher's camera (VP8, 1.5 Mbit/s, 30 fps, a keyframe every 3 s, 1100-byte packets), its
//! microphone (Opus, 20 ms packets) and a screen share (VP8, 0.5 Mbit/s, 5 fps) go through the
//! recorder as the room would hand them over, with sender reports every second, for `--minutes`
//! of media time, as fast as the recorder takes them (files really written and synced to a
//! temporary folder). Reported: CPU µs per packet (user + system), resident memory at each
//! tenth of the run (it must stay flat), bytes written.
//!
//! `cargo bench -p lectern-record --bench recorder -- --minutes 30`

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use lectern_proto::{PeerId, RecordingId, Source, TrackId};
use lectern_record::mkv::FileSummary;
use lectern_record::recorder::{ntp_from_unix_us, unix_us, Catalogue, OpenedFile, Recorder};
use lectern_sfu::codec::Codec;
use lectern_sfu::TapMsg;

#[derive(Default)]
struct CountingCatalogue {
    files: AtomicU64,
}

impl Catalogue for CountingCatalogue {
    fn file_opened(&self, _: &OpenedFile) -> Result<(), String> {
        self.files.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
    fn file_progress(&self, _: &str, _: u64, _: u64) {}
    fn file_closed(&self, _: &str, _: Result<&FileSummary, &str>) {}
    fn event(&self, _: RecordingId, _: u64, _: &str, _: &str) {}
    fn finished(&self, _: RecordingId, _: u64, _: Option<&str>) {}
}

/// (user + system CPU seconds, resident KiB) of this process.
fn usage() -> (f64, u64) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // Fields 14 and 15 (utime, stime) are at 11 and 12 after the command name.
    let cpu = (ticks(11) + ticks(12)) / 100.0;
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    (cpu, pages * 4)
}

/// A VP8 frame of `size` bytes: a real frame tag (key or delta) and, for keyframes, the start
/// code and dimensions, then filler.
fn vp8_frame(key: bool, size: usize, n: u64) -> Vec<u8> {
    let mut f = vec![0u8; size.max(10)];
    let first_partition = 100u32;
    let tag = (if key { 0 } else { 1 }) | (1 << 4) | (first_partition << 5);
    f[0] = tag as u8;
    f[1] = (tag >> 8) as u8;
    f[2] = (tag >> 16) as u8;
    if key {
        f[3..6].copy_from_slice(&[0x9d, 0x01, 0x2a]);
        f[6..8].copy_from_slice(&1280u16.to_le_bytes());
        f[8..10].copy_from_slice(&720u16.to_le_bytes());
    }
    for (i, b) in f.iter_mut().enumerate().skip(10) {
        *b = (i as u64 ^ n) as u8;
    }
    f
}

struct Stream {
    track: TrackId,
    seq: u16,
    ts_base: u32,
    clock: u32,
}

fn main() {
    let mut minutes = 10u64;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--minutes" {
            minutes = args.next().and_then(|m| m.parse().ok()).unwrap_or(minutes);
        }
    }
    let dir = std::env::temp_dir().join(format!("lectern-recorder-bench-{}", std::process::id()));
    let catalogue = Arc::new(CountingCatalogue::default());
    let started = SystemTime::now();
    let t0 = Instant::now();
    let mut rec = Recorder::new(RecordingId::random(), &dir, started, t0, catalogue.clone())
        .expect("recorder");
    let publisher = PeerId::random();
    let mut cam = Stream {
        track: TrackId::random(),
        seq: 1000,
        ts_base: 0x1234_5678,
        clock: 90_000,
    };
    let mut mic = Stream {
        track: TrackId::random(),
        seq: 40_000,
        ts_base: 0x8765_4321,
        clock: 48_000,
    };
    let mut scr = Stream {
        track: TrackId::random(),
        seq: 7,
        ts_base: 42,
        clock: 90_000,
    };
    for (s, source, codec, rate, ch) in [
        (&cam, Source::Camera, Codec::Vp8, 90_000, 0),
        (&mic, Source::Microphone, Codec::Opus, 48_000, 2),
        (&scr, Source::Screen, Codec::Vp8, 90_000, 0),
    ] {
        rec.handle(
            t0,
            TapMsg::Track {
                track: s.track,
                source,
                publisher,
                name: "Bench".into(),
                codec,
                clock_rate: rate,
                channels: ch,
            },
        );
    }

    let total = Duration::from_secs(minutes * 60);
    let (cpu0, rss0) = usage();
    let wall0 = Instant::now();
    let mut packets = 0u64;
    let mut samples = Vec::new();
    let step = Duration::from_millis(10);
    let mut t = Duration::ZERO;
    let mut frame_n = 0u64;
    let send = |rec: &mut Recorder,
                s: &mut Stream,
                at: Duration,
                frame: &[u8],
                vp8: bool,
                packets: &mut u64| {
        let ts = s
            .ts_base
            .wrapping_add((at.as_micros() as u64 * s.clock as u64 / 1_000_000) as u32);
        let chunk = if vp8 { 1100 } else { usize::MAX };
        let parts: Vec<&[u8]> = frame.chunks(chunk).collect();
        for (i, p) in parts.iter().enumerate() {
            let mut payload = Vec::with_capacity(p.len() + 1);
            if vp8 {
                payload.push(if i == 0 { 0x10 } else { 0x00 });
            }
            payload.extend_from_slice(p);
            s.seq = s.seq.wrapping_add(1);
            rec.handle(
                t0 + at,
                TapMsg::Rtp {
                    track: s.track,
                    seq: s.seq,
                    ts,
                    marker: i + 1 == parts.len(),
                    payload: Bytes::from(payload),
                    at: t0 + at,
                },
            );
            *packets += 1;
        }
    };
    let report = |rec: &mut Recorder, s: &Stream, at: Duration| {
        let unix = unix_us(started + at);
        let ts = s
            .ts_base
            .wrapping_add((at.as_micros() as u64 * s.clock as u64 / 1_000_000) as u32);
        rec.handle(
            t0 + at,
            TapMsg::SenderReport {
                track: s.track,
                ntp: ntp_from_unix_us(unix),
                rtp: ts,
                at: started + at,
            },
        );
    };
    while t < total {
        let ms = t.as_millis() as u64;
        if ms % 1000 == 0 {
            report(&mut rec, &cam, t);
            report(&mut rec, &mic, t);
            report(&mut rec, &scr, t);
        }
        if ms % 20 == 0 {
            send(&mut rec, &mut mic, t, &[0x5a; 90], false, &mut packets);
        }
        if ms * 30 % 1000 < 10 {
            let key = frame_n % 90 == 0;
            let size = if key { 24_000 } else { 6_000 };
            send(
                &mut rec,
                &mut cam,
                t,
                &vp8_frame(key, size, frame_n),
                true,
                &mut packets,
            );
            frame_n += 1;
        }
        if ms % 200 == 0 {
            let key = ms % 10_000 == 0;
            let f = vp8_frame(key, if key { 40_000 } else { 12_000 }, ms);
            send(&mut rec, &mut scr, t, &f, true, &mut packets);
        }
        if ms % 100 == 0 {
            rec.tick(t0 + t);
        }
        if ms % (total.as_millis() as u64 / 10).max(1) == 0 {
            samples.push((ms / 1000, usage().1));
        }
        t += step;
    }
    rec.handle(t0 + t, TapMsg::Stop);
    let (cpu1, rss1) = usage();
    let wall = wall0.elapsed();
    let bytes: u64 = std::fs::read_dir(&dir)
        .map(|d| {
            d.filter_map(|e| e.ok()?.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0);
    let stats = rec.stats();
    println!("recorder benchmark: {minutes} min of media (camera 1.5 Mbit/s 30 fps + Opus + screen 0.5 Mbit/s 5 fps)");
    println!("  packets            {packets}");
    println!(
        "  frames written     {} (dropped {})",
        stats.frames_written, stats.frames_dropped
    );
    println!(
        "  files              {}",
        catalogue.files.load(Ordering::Relaxed)
    );
    println!("  bytes on disk      {:.1} MiB", bytes as f64 / 1048576.0);
    println!(
        "  wall time          {:.2} s ({:.0}× real time)",
        wall.as_secs_f64(),
        total.as_secs_f64() / wall.as_secs_f64()
    );
    println!(
        "  CPU per packet     {:.2} µs (user + system, incl. writes and fdatasync)",
        (cpu1 - cpu0) * 1e6 / packets as f64
    );
    println!("  resident memory    start {rss0} KiB, end {rss1} KiB");
    println!(
        "  memory over time   {}",
        samples
            .iter()
            .map(|(s, k)| format!("{s}s:{k}KiB"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let _ = std::fs::remove_dir_all(&dir);
}
