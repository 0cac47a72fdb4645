//! Shared helpers of the Matroska tests: temporary directories, real media encoded once per
//! process, muxing it, and checking files with ffprobe/ffmpeg.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use lectern_record::mkv::{
    FileSummary, MkvWriter, TrackKind, TrackSpec, VideoCodec, WriterOptions,
};
use lectern_testkit::encoded::{self, Ivf};

/// A directory removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    /// A fresh directory under the system's temporary directory.
    pub fn new(name: &str) -> TempDir {
        Self::under(&std::env::temp_dir(), name)
    }

    /// A fresh directory in memory (`/dev/shm`) when there is one: syncs cost nothing there.
    pub fn in_memory(name: &str) -> TempDir {
        let shm = Path::new("/dev/shm");
        if shm.is_dir() {
            Self::under(shm, name)
        } else {
            Self::new(name)
        }
    }

    fn under(base: &Path, name: &str) -> TempDir {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = base.join(format!("lectern-mkv-{}-{name}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Real media: 5 s of VP8 (320x240, 30 fps, a keyframe a second) and 5 s of Opus (20 ms).
pub struct Media {
    pub vp8: Ivf,
    pub opus: Vec<Vec<u8>>,
}

pub const MEDIA_SECONDS: f64 = 5.0;
pub const OPUS_FRAME_MS: u64 = 20;

/// The shared media, encoded on first use.
pub fn media() -> &'static Media {
    static MEDIA: OnceLock<Media> = OnceLock::new();
    MEDIA.get_or_init(|| {
        let dir = TempDir::new("media");
        let vp8 = dir.file("video.ivf");
        let opus = dir.file("audio.ogg");
        encoded::vp8_ivf(&vp8, MEDIA_SECONDS, 320, 240, 30).expect("encode VP8");
        encoded::opus_ogg(&opus, MEDIA_SECONDS).expect("encode Opus");
        let media = Media {
            vp8: encoded::read_ivf(&vp8).expect("read IVF"),
            opus: encoded::read_ogg_opus(&opus).expect("read Ogg"),
        };
        assert!(
            media.vp8.frames.len() >= 140,
            "{} VP8 frames",
            media.vp8.frames.len()
        );
        assert!(media.vp8.frames[0].keyframe);
        assert!(media.opus.len() >= 245, "{} Opus packets", media.opus.len());
        media
    })
}

/// A frame to mux.
#[derive(Clone, Debug)]
pub struct Frame {
    pub track: u64,
    pub ts_ms: u64,
    pub keyframe: bool,
    pub data: Vec<u8>,
}

pub fn vp8_track(number: u64) -> TrackSpec {
    TrackSpec {
        number,
        name: "camera".into(),
        kind: TrackKind::Video {
            codec: VideoCodec::Vp8,
            width: 320,
            height: 240,
            codec_private: None,
        },
    }
}

pub fn opus_track(number: u64) -> TrackSpec {
    TrackSpec {
        number,
        name: "microphone".into(),
        kind: TrackKind::Audio {
            sample_rate: 48_000,
            channels: 2,
        },
    }
}

/// The media's frames up to `until_ms` (exclusive), VP8 on track 1 and Opus on track 2,
/// interleaved by timestamp.
pub fn camera_and_microphone(until_ms: u64) -> Vec<Frame> {
    let media = media();
    let mut frames: Vec<Frame> = media
        .vp8
        .frames
        .iter()
        .filter(|f| f.pts_ms < until_ms)
        .map(|f| Frame {
            track: 1,
            ts_ms: f.pts_ms,
            keyframe: f.keyframe,
            data: f.data.clone(),
        })
        .collect();
    frames.extend(
        media
            .opus
            .iter()
            .enumerate()
            .map(|(i, packet)| (i as u64 * OPUS_FRAME_MS, packet))
            .filter(|(ts, _)| *ts < until_ms)
            .map(|(ts, packet)| Frame {
                track: 2,
                ts_ms: ts,
                keyframe: true,
                data: packet.clone(),
            }),
    );
    frames.sort_by_key(|f| (f.ts_ms, f.track));
    frames
}

/// After each cluster reached the disk: `(bytes on disk, ms of media they hold at least)`.
pub type History = Vec<(u64, u64)>;

/// Muxes `frames` into a new file at `path` and finalizes it.
pub fn mux(path: &Path, tracks: Vec<TrackSpec>, frames: &[Frame]) -> (FileSummary, History) {
    let mut writer = MkvWriter::create(path, tracks, WriterOptions::default()).expect("create");
    let mut history = vec![(writer.bytes_written(), 0)];
    for frame in frames {
        writer
            .write_frame(frame.track, frame.ts_ms, frame.keyframe, &frame.data)
            .expect("write frame");
        if writer.bytes_written() != history.last().map_or(0, |h| h.0) {
            // The clusters before this frame are on disk: media up to its timestamp.
            history.push((writer.bytes_written(), frame.ts_ms));
        }
    }
    // What the recorder does every second; here it also makes the end of the clusters known.
    writer.flush().expect("flush");
    history.push((writer.bytes_written(), writer.duration_ms()));
    let summary = writer.finalize().expect("finalize");
    (summary, history)
}

/// What ffprobe says about a file.
#[derive(Debug)]
pub struct Probe {
    pub duration: f64,
    pub codecs: Vec<String>,
}

pub fn ffprobe(path: &Path) -> Probe {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "format=duration:stream=codec_name",
            "-of",
            "json",
        ])
        .arg(path)
        .output()
        .expect("ffprobe is needed for this test: apt-get install ffmpeg");
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "ffprobe {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("ffprobe json");
    let duration = json["format"]["duration"]
        .as_str()
        .and_then(|d| d.parse().ok())
        .unwrap_or_else(|| panic!("no duration in {json}"));
    let codecs = json["streams"]
        .as_array()
        .map(|streams| {
            streams
                .iter()
                .filter_map(|s| s["codec_name"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    Probe { duration, codecs }
}

/// Decodes a file with ffmpeg (`before_input` goes before `-i`, e.g. `-ss 3`; `after_input`
/// after it) and returns what it printed at level "error": empty for a clean decode.
pub fn decode_errors(path: &Path, before_input: &[&str], after_input: &[&str]) -> String {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-nostdin", "-v", "error"])
        .args(before_input)
        .arg("-i")
        .arg(path)
        .args(after_input)
        .args(["-f", "null", "-"])
        .output()
        .expect("ffmpeg is needed for this test: apt-get install ffmpeg");
    let mut errors = String::from_utf8_lossy(&out.stderr).into_owned();
    if !out.status.success() {
        errors.push_str(&format!("\nffmpeg exited with {}", out.status));
    }
    errors
}

/// Asserts that ffmpeg decodes the whole file without a single error.
pub fn assert_decodes(path: &Path) {
    let errors = decode_errors(path, &[], &[]);
    assert!(errors.is_empty(), "decoding {}: {errors}", path.display());
}

/// A small xorshift generator: deterministic, no dependencies.
pub struct XorShift(u64);

impl XorShift {
    pub fn new(seed: u64) -> XorShift {
        XorShift(seed.max(1))
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// Uniform in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}
