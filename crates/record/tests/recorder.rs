//! The recorder as a state machine: tap messages in (with the time passed in), files and
//! catalogue calls out. Media is synthetic (VP8 descriptors and headers, Opus-sized packets);
//! the files are read back with the crate's own reader.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use lectern_proto::{PeerId, RecordingId, Source, TrackId};
use lectern_record::mkv::{self, FileSummary};
use lectern_record::recorder::{
    ntp_from_unix_us, unix_us, Catalogue, Group, OpenedFile, Recorder, Request,
};
use lectern_sfu::codec::Codec;
use lectern_sfu::TapMsg;
use lectern_testkit::media::{opus_payload, vp8_payload};

#[derive(Default)]
struct Log {
    opened: Vec<OpenedFile>,
    closed: Vec<(String, Result<u64, String>)>,
    events: Vec<(u64, String, String)>,
    finished: Option<(u64, Option<String>)>,
}

#[derive(Default, Clone)]
struct FakeCatalogue(Arc<Mutex<Log>>);

impl Catalogue for FakeCatalogue {
    fn file_opened(&self, f: &OpenedFile) -> Result<(), String> {
        self.0.lock().unwrap().opened.push(f.clone());
        Ok(())
    }
    fn file_progress(&self, _: &str, _: u64, _: u64) {}
    fn file_closed(&self, id: &str, r: Result<&FileSummary, &str>) {
        self.0
            .lock()
            .unwrap()
            .closed
            .push((id.into(), r.map(|s| s.duration_ms).map_err(String::from)));
    }
    fn event(&self, _: RecordingId, at_ms: u64, kind: &str, data: &str) {
        self.0
            .lock()
            .unwrap()
            .events
            .push((at_ms, kind.into(), data.into()));
    }
    fn finished(&self, _: RecordingId, d: u64, e: Option<&str>) {
        self.0.lock().unwrap().finished = Some((d, e.map(String::from)));
    }
}

/// A publisher's track as the test drives it: RTP clock with a random start, sequence numbers.
struct Track {
    id: TrackId,
    source: Source,
    codec: Codec,
    rate: u32,
    ts_base: u32,
    seq: u16,
}

impl Track {
    fn new(source: Source) -> Track {
        let (codec, rate) = match source {
            Source::Microphone => (Codec::Opus, 48_000),
            _ => (Codec::Vp8, 90_000),
        };
        Track {
            id: TrackId::random(),
            source,
            codec,
            rate,
            ts_base: rand::random(),
            seq: rand::random(),
        }
    }

    fn ts(&self, at: Duration) -> u32 {
        self.ts_base
            .wrapping_add((at.as_micros() as u64 * self.rate as u64 / 1_000_000) as u32)
    }
}

struct Harness {
    rec: Recorder,
    log: FakeCatalogue,
    dir: std::path::PathBuf,
    t0: Instant,
    started: SystemTime,
    publisher: PeerId,
}

impl Harness {
    fn new() -> Harness {
        let dir = std::env::temp_dir().join(format!(
            "lectern-recorder-test-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        let log = FakeCatalogue::default();
        let (t0, started) = (Instant::now(), SystemTime::now());
        let rec = Recorder::new(
            RecordingId::random(),
            &dir,
            started,
            t0,
            Arc::new(log.clone()),
        )
        .unwrap();
        Harness {
            rec,
            log,
            dir,
            t0,
            started,
            publisher: PeerId::random(),
        }
    }

    fn announce(&mut self, t: &Track) {
        self.rec.handle(
            self.t0,
            TapMsg::Track {
                track: t.id,
                source: t.source,
                publisher: self.publisher,
                name: "Ana".into(),
                codec: t.codec,
                clock_rate: t.rate,
                channels: 2,
            },
        );
    }

    /// A sender report of `t` at media time `at` (publisher clock = recorder clock).
    fn report(&mut self, t: &Track, at: Duration) {
        self.rec.handle(
            self.t0 + at,
            TapMsg::SenderReport {
                track: t.id,
                ntp: ntp_from_unix_us(unix_us(self.started + at)),
                rtp: t.ts(at),
                at: self.started + at,
            },
        );
    }

    /// One frame of `t` captured at `at`, arriving `delay` later.
    fn frame(&mut self, t: &mut Track, at: Duration, key: bool, delay: Duration) {
        let arrival = self.t0 + at + delay;
        let payloads = if t.codec == Codec::Opus {
            vec![opus_payload(0, 80)]
        } else {
            vec![
                vp8_payload(0, true, key, 900),
                vp8_payload(1, false, key, 900),
            ]
        };
        let n = payloads.len();
        for (i, p) in payloads.into_iter().enumerate() {
            t.seq = t.seq.wrapping_add(1);
            self.rec.handle(
                arrival,
                TapMsg::Rtp {
                    track: t.id,
                    seq: t.seq,
                    ts: t.ts(at),
                    marker: i + 1 == n,
                    payload: Bytes::from(p),
                    at: arrival,
                },
            );
        }
    }

    /// Camera (33 fps, a keyframe every 0.99 s) and microphone (20 ms) from `from` to `to`,
    /// reports every second, ticks every 100 ms.
    fn run(&mut self, cam: &mut Track, mic: Option<&mut Track>, from: u64, to: u64) {
        let mut mic = mic;
        for ms in (from..to).step_by(10) {
            let at = Duration::from_millis(ms);
            if ms % 1000 == 0 {
                self.report(cam, at);
                if let Some(m) = mic.as_deref() {
                    self.report(m, at);
                }
            }
            if ms % 20 == 0 {
                if let Some(m) = mic.as_deref_mut() {
                    self.frame(m, at, true, Duration::from_millis(5));
                }
            }
            if ms % 30 == 0 {
                self.frame(cam, at, ms % 990 == 0, Duration::from_millis(12));
            }
            if ms % 100 == 0 {
                self.rec.tick(self.t0 + at);
            }
        }
    }

    fn files(&self) -> Vec<OpenedFile> {
        self.log.0.lock().unwrap().opened.clone()
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn camera_and_microphone_share_a_file_and_the_screen_has_its_own() {
    let mut h = Harness::new();
    let (mut cam, mut mic, mut scr) = (
        Track::new(Source::Camera),
        Track::new(Source::Microphone),
        Track::new(Source::Screen),
    );
    for t in [&cam, &mic, &scr] {
        h.announce(t);
    }
    for ms in (0..4000u64).step_by(10) {
        let at = Duration::from_millis(ms);
        if ms % 1000 == 0 {
            h.report(&scr, at);
        }
        if ms >= 500 && (ms - 500) % 200 == 0 {
            h.frame(&mut scr, at, (ms - 500) % 2000 == 0, Duration::ZERO);
        }
        h.run(&mut cam, Some(&mut mic), ms, ms + 10);
    }
    h.rec.handle(h.t0 + Duration::from_secs(4), TapMsg::Stop);
    let files = h.files();
    assert_eq!(files.len(), 2, "{files:?}");
    let camera = files.iter().find(|f| f.group == Group::Camera).unwrap();
    let screen = files.iter().find(|f| f.group == Group::Screen).unwrap();
    assert_eq!(camera.file_name, "camera-1.webm");
    assert_eq!(camera.mime, "video/webm");
    assert!(camera.tracks_json.contains("microphone"));
    assert_eq!(screen.mime, "video/webm");
    assert!(camera.start_ms < 50, "camera starts on the first keyframe");
    assert!(
        (490..520).contains(&screen.start_ms),
        "the screen starts when it does on the timeline: {}",
        screen.start_ms
    );
    let info = mkv::inspect(&h.dir.join(&camera.file_name)).unwrap();
    assert!(info.complete && info.has_cues);
    assert_eq!(info.tracks.len(), 2);
    let log = h.log.0.lock().unwrap();
    assert!(
        log.closed.iter().all(|(_, r)| r.is_ok()),
        "{:?}",
        log.closed
    );
    assert_eq!(log.finished.as_ref().map(|f| f.1.clone()), Some(None));
    let stats = h.rec.stats();
    assert!(stats.frames_written > 300, "{stats:?}");
}

#[test]
fn frames_wait_for_a_report_and_fall_back_to_arrival_times() {
    let mut h = Harness::new();
    let mut cam = Track::new(Source::Camera);
    h.announce(&cam);
    // No sender report at all: nothing is written for 3 s, then arrival times are used.
    for ms in (0..2500u64).step_by(33) {
        h.frame(
            &mut cam,
            Duration::from_millis(ms),
            ms % 990 == 0,
            Duration::ZERO,
        );
        h.rec.tick(h.t0 + Duration::from_millis(ms));
    }
    assert!(h.files().is_empty(), "no file before a report or the wait");
    for ms in (2500..5000u64).step_by(33) {
        h.frame(
            &mut cam,
            Duration::from_millis(ms),
            ms % 990 == 0,
            Duration::ZERO,
        );
        h.rec.tick(h.t0 + Duration::from_millis(ms));
    }
    let files = h.files();
    assert_eq!(files.len(), 1);
    assert!(files[0].start_ms < 100, "the held frames keep their times");
    h.rec.handle(h.t0 + Duration::from_secs(5), TapMsg::Stop);
    let log = h.log.0.lock().unwrap();
    let (_, duration) = &log.closed[0];
    assert!(duration.as_ref().is_ok_and(|d| *d > 4500), "{duration:?}");
}

#[test]
fn a_track_change_starts_the_next_file_and_a_lost_camera_asks_for_a_keyframe() {
    let mut h = Harness::new();
    let (mut cam, mut mic) = (Track::new(Source::Camera), Track::new(Source::Microphone));
    h.announce(&cam);
    h.announce(&mic);
    h.run(&mut cam, Some(&mut mic), 0, 2000);
    // The camera stops: its file ends; the microphone goes on in a file of its own.
    h.rec.handle(
        h.t0 + Duration::from_millis(2000),
        TapMsg::TrackEnded { track: cam.id },
    );
    for ms in (2000..3000u64).step_by(20) {
        let at = Duration::from_millis(ms);
        h.frame(&mut mic, at, true, Duration::ZERO);
        if ms % 100 == 0 {
            h.rec.tick(h.t0 + at);
        }
    }
    let files = h.files();
    assert_eq!(files.len(), 2, "{files:?}");
    assert_eq!(files[1].file_name, "camera-2.webm");
    assert_eq!(files[1].mime, "audio/webm");
    assert!(
        (1990..2050).contains(&files[1].start_ms),
        "{}",
        files[1].start_ms
    );

    // The camera comes back (a new source): the audio-only file ends at its first keyframe,
    // and until then a delta frame makes the recorder ask for one.
    let mut cam2 = Track::new(Source::Camera);
    h.announce(&cam2);
    h.report(&cam2, Duration::from_millis(3000));
    while h.rec.poll_request().is_some() {}
    h.frame(
        &mut cam2,
        Duration::from_millis(3000),
        false,
        Duration::ZERO,
    );
    h.rec.tick(h.t0 + Duration::from_millis(3300));
    let mut asked = Vec::new();
    while let Some(r) = h.rec.poll_request() {
        asked.push(r);
    }
    assert!(asked.contains(&Request::Keyframe(cam2.id)), "{asked:?}");
    h.run(&mut cam2, Some(&mut mic), 3000, 4500);
    h.rec
        .handle(h.t0 + Duration::from_millis(4500), TapMsg::Stop);
    let files = h.files();
    assert_eq!(files.len(), 3, "{files:?}");
    assert_eq!(files[2].file_name, "camera-3.webm");
    assert_eq!(files[2].mime, "video/webm");
    for f in &files {
        let info = mkv::inspect(&h.dir.join(&f.file_name)).unwrap();
        assert!(info.complete, "{}: {info:?}", f.file_name);
    }
}

#[test]
fn events_land_on_the_timeline() {
    let mut h = Harness::new();
    h.rec.handle(
        h.t0,
        TapMsg::Event {
            kind: "chapter",
            data: r#"{"title":"Intro"}"#.into(),
            at: h.started + Duration::from_millis(1234),
        },
    );
    h.rec.handle(h.t0, TapMsg::Stop);
    let log = h.log.0.lock().unwrap();
    assert_eq!(
        log.events,
        [(
            1234,
            "chapter".to_string(),
            r#"{"title":"Intro"}"#.to_string()
        )]
    );
    assert!(log.finished.is_some());
}

/// RTP payloads of one encoded video frame, as a browser packetizes it.
fn packetize(codec: Codec, frame: &[Vec<u8>], key: bool) -> Vec<Vec<u8>> {
    const MTU: usize = 1100;
    let mut out = Vec::new();
    match codec {
        Codec::H264 => {
            // RFC 6184: single NAL units, FU-A for the big ones.
            for nal in frame {
                if nal.len() <= MTU {
                    out.push(nal.clone());
                    continue;
                }
                let chunks: Vec<&[u8]> = nal[1..].chunks(MTU).collect();
                for (i, c) in chunks.iter().enumerate() {
                    let mut p = vec![(nal[0] & 0xe0) | 28, nal[0] & 0x1f];
                    if i == 0 {
                        p[1] |= 0x80;
                    }
                    if i + 1 == chunks.len() {
                        p[1] |= 0x40;
                    }
                    p.extend_from_slice(c);
                    out.push(p);
                }
            }
        }
        _ => {
            // RFC 9628 (VP9), one layer, non-flexible without picture id: B, E and P bits.
            let chunks: Vec<&[u8]> = frame[0].chunks(MTU).collect();
            for (i, c) in chunks.iter().enumerate() {
                let mut d = 0u8;
                if !key {
                    d |= 0x40;
                }
                if i == 0 {
                    d |= 0x08;
                }
                if i + 1 == chunks.len() {
                    d |= 0x04;
                }
                let mut p = vec![d];
                p.extend_from_slice(c);
                out.push(p);
            }
        }
    }
    out
}

/// Real H.264 (Matroska) and VP9 (WebM) from ffmpeg's encoders, through RTP, the recorder and
/// back out through ffmpeg's decoder without an error.
#[test]
fn real_h264_and_vp9_are_recorded_playably() {
    use lectern_testkit::encoded;
    for codec in [Codec::H264, Codec::Vp9] {
        let mut h = Harness::new();
        std::fs::create_dir_all(&h.dir).unwrap();
        let frames: Vec<(bool, Vec<Vec<u8>>)> = if codec == Codec::H264 {
            let path = h.dir.join("in.h264");
            encoded::h264_annexb(&path, 3.0, 320, 240, 30).unwrap();
            encoded::annexb_access_units(&std::fs::read(&path).unwrap())
                .into_iter()
                .map(|au| (au.keyframe, au.nals))
                .collect()
        } else {
            let path = h.dir.join("in.ivf");
            encoded::vp9_ivf(&path, 3.0, 320, 240, 30).unwrap();
            encoded::read_ivf(&path)
                .unwrap()
                .frames
                .into_iter()
                .map(|f| (f.keyframe, vec![f.data]))
                .collect()
        };
        let mut cam = Track::new(Source::Camera);
        cam.codec = codec;
        h.announce(&cam);
        for (i, (key, frame)) in frames.iter().enumerate() {
            let at = Duration::from_millis(i as u64 * 1000 / 30);
            if i % 30 == 0 {
                h.report(&cam, at);
            }
            let payloads = packetize(codec, frame, *key);
            let n = payloads.len();
            for (j, p) in payloads.into_iter().enumerate() {
                cam.seq = cam.seq.wrapping_add(1);
                h.rec.handle(
                    h.t0 + at,
                    TapMsg::Rtp {
                        track: cam.id,
                        seq: cam.seq,
                        ts: cam.ts(at),
                        marker: j + 1 == n,
                        payload: Bytes::from(p),
                        at: h.t0 + at,
                    },
                );
            }
            h.rec.tick(h.t0 + at);
        }
        h.rec.handle(h.t0 + Duration::from_secs(3), TapMsg::Stop);
        let files = h.files();
        assert_eq!(files.len(), 1, "{codec:?}: {files:?}");
        let (name, mime) = match codec {
            Codec::H264 => ("camera-1.mkv", "video/x-matroska"),
            _ => ("camera-1.webm", "video/webm"),
        };
        assert_eq!((files[0].file_name.as_str(), files[0].mime), (name, mime));
        let path = h.dir.join(name);
        let out = std::process::Command::new("ffmpeg")
            .args(["-hide_banner", "-nostdin", "-v", "error", "-i"])
            .arg(&path)
            .args(["-f", "null", "-"])
            .output()
            .expect("ffmpeg is needed for this test (apt-get install ffmpeg)");
        let errors = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && errors.trim().is_empty(),
            "{codec:?}: {errors}"
        );
        let stats = h.rec.stats();
        assert!(
            stats.frames_written >= frames.len() as u64 - 1,
            "{codec:?}: {stats:?} of {} frames",
            frames.len()
        );
        let info = mkv::inspect(&path).unwrap();
        assert!(info.complete && info.has_cues, "{codec:?}: {info:?}");
    }
}
