//! Matroska/WebM files: a small muxer, a reader, and crash recovery.
//!
//! One file per publisher group: camera video + microphone audio (two tracks), or the screen
//! share (one video track). Video is VP8, VP9 or H.264, audio is Opus. The DocType is `webm`
//! unless an H.264 track makes it `matroska`.
//!
//! # On-disk layout
//!
//! ```text
//! EBML header            DocType webm|matroska, DocTypeVersion 4, DocTypeReadVersion 2
//! Segment                size: 8-byte vint, "unknown" while recording, patched by finalize
//!   Void (128 bytes)     reserved; finalize turns it into SeekHead (Info, Tracks, Cues) + Void
//!   Info                 TimestampScale 1 ms, MuxingApp/WritingApp, DateUTC,
//!                        Duration (float64, 0 while recording, patched by finalize)
//!   Tracks               one TrackEntry per track (H.264: avcC in CodecPrivate;
//!                        Opus: OpusHead built here, CodecDelay, SeekPreRoll 80 ms)
//!   Cluster …            size: 8-byte vint, always exact; Timestamp, then SimpleBlocks
//!   Cues                 written by finalize: one CuePoint per cluster that starts with a video
//!                        keyframe (every cluster in an audio-only file)
//! ```
//!
//! A cluster is assembled in memory and written whole, with its exact size, when it closes: at a
//! video keyframe, when it would span more than [`WriterOptions::cluster_max_ms`] or grow past
//! [`WriterOptions::cluster_max_bytes`], or on [`MkvWriter::flush`]. The file is synced at least
//! every [`WriterOptions::sync_interval`], so a crash loses only the open cluster and what was
//! written since the last sync.
//!
//! # Recovery
//!
//! [`recover`] scans a file left unfinished, keeps every complete cluster (and the complete
//! blocks of a cut last cluster, whose size it rewrites in place), cuts what follows, and then
//! finishes the file exactly as [`MkvWriter::finalize`] does. Finishing is shared code: a
//! finalized file is one that recovery would not change, which is how recovery recognises it
//! and leaves it byte-identical.
//!
//! Everything read from a file goes through a bounded EBML reader ([`ebml`]): sizes are checked
//! against the parent element and the file length, and block payloads are never loaded.

pub mod ebml;
mod finish;
mod reader;
mod recover;
mod writer;

use std::fmt;

pub use reader::inspect;
pub use recover::recover;
pub use writer::MkvWriter;

/// Video codecs a file can hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum VideoCodec {
    Vp8,
    Vp9,
    /// Frames in AVCC form (4-byte big-endian length before each NAL unit).
    H264,
}

impl VideoCodec {
    /// The Matroska CodecID.
    pub fn codec_id(self) -> &'static str {
        match self {
            VideoCodec::Vp8 => "V_VP8",
            VideoCodec::Vp9 => "V_VP9",
            VideoCodec::H264 => "V_MPEG4/ISO/AVC",
        }
    }
}

/// What a track carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TrackKind {
    Video {
        codec: VideoCodec,
        width: u16,
        height: u16,
        /// H.264: the avcC record (required). VP8/VP9: usually `None`.
        codec_private: Option<Vec<u8>>,
    },
    /// Opus, always. The writer builds the OpusHead and sets CodecDelay and SeekPreRoll.
    Audio { sample_rate: u32, channels: u8 },
}

/// A track of a new file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrackSpec {
    /// 1-based (1..=126, so that a block's track number is one byte), unique within the file.
    pub number: u64,
    pub name: String,
    pub kind: TrackKind,
}

/// How the writer cuts clusters and syncs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WriterOptions {
    /// Longest span of a cluster, in ms (capped at 32 767, the reach of a block's timestamp).
    pub cluster_max_ms: u64,
    /// Largest cluster, in bytes (a single larger frame gets a cluster of its own).
    pub cluster_max_bytes: usize,
    /// Longest time between two syncs of written clusters.
    pub sync_interval: std::time::Duration,
}

impl Default for WriterOptions {
    fn default() -> Self {
        WriterOptions {
            cluster_max_ms: 1000,
            cluster_max_bytes: 4 << 20,
            sync_interval: std::time::Duration::from_secs(1),
        }
    }
}

/// What a finished (finalized or recovered) file holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileSummary {
    /// The Duration written to Info: end of the last frame (last timestamp plus an estimate of
    /// that frame's duration), in ms.
    pub duration_ms: u64,
    /// File size.
    pub bytes: u64,
    /// Frames per track, in track order: `(track number, frames)`.
    pub frames: Vec<(u64, u64)>,
    /// Cue points written.
    pub cues: usize,
}

/// The outcome of [`recover`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recovered {
    pub summary: FileSummary,
    /// `false` if the file was already finished and left untouched.
    pub repaired: bool,
    /// Bytes given up: a cut cluster's incomplete tail and whatever unreadable follows the
    /// last readable element (garbage, zeros), plus damaged parts of clusters covered by Void
    /// elements. A readable index that is rewritten does not count.
    pub dropped_bytes: u64,
}

/// A track as read from a file.
#[derive(Clone, Debug, PartialEq)]
pub struct TrackInfo {
    pub number: u64,
    /// Matroska CodecID, e.g. `V_VP8`, `A_OPUS`.
    pub codec_id: String,
    pub name: String,
    pub kind: MediaKind,
    /// CodecPrivate length in bytes (0 if absent).
    pub codec_private_len: usize,
}

/// The kind of a track read from a file.
#[derive(Clone, Debug, PartialEq)]
pub enum MediaKind {
    Video {
        width: u64,
        height: u64,
    },
    Audio {
        sampling_frequency: f64,
        channels: u64,
    },
    /// Another Matroska TrackType (subtitles, …).
    Other(u64),
}

/// A file's structure, as read by [`inspect`].
#[derive(Clone, Debug, PartialEq)]
pub struct FileInfo {
    /// `webm` or `matroska`.
    pub doc_type: String,
    pub tracks: Vec<TrackInfo>,
    /// Duration from Info, in ms (`None` if absent). 0 in a file still being written.
    pub duration_ms: Option<f64>,
    /// Complete clusters in the run that follows the header (a cut last cluster counts if it
    /// holds at least one complete block).
    pub clusters: usize,
    /// Blocks in those clusters.
    pub blocks: u64,
    /// Blocks per track, in track order: `(track number, blocks)`.
    pub blocks_per_track: Vec<(u64, u64)>,
    /// Timestamp of the first and last block, in ms.
    pub first_block_ms: Option<u64>,
    pub last_block_ms: Option<u64>,
    /// Whether a SeekHead is present.
    pub has_seek_head: bool,
    /// Whether a Cues element is present after the clusters, and its CuePoints.
    pub has_cues: bool,
    pub cue_points: usize,
    /// Whether the Segment has a known size.
    pub segment_size_known: bool,
    /// Whether the Segment ends exactly at the end of the file with every element in it
    /// readable (a finalized or recovered file).
    pub complete: bool,
    /// Bytes after the last readable element (a cut, zeros or garbage).
    pub trailing_bytes: u64,
    /// File size.
    pub file_len: u64,
}

/// Errors of the Matroska layer.
#[derive(Debug, thiserror::Error)]
pub enum MkvError {
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The file (or the arguments) cannot be used.
    #[error("invalid: {0}")]
    Invalid(String),
    #[error("unknown track {0}")]
    UnknownTrack(u64),
}

impl MkvError {
    pub(crate) fn invalid(what: impl fmt::Display) -> Self {
        MkvError::Invalid(what.to_string())
    }
}

impl From<ebml::ReadError> for MkvError {
    fn from(err: ebml::ReadError) -> Self {
        match err {
            ebml::ReadError::Io(err) => MkvError::Io(err),
            ebml::ReadError::Bad(what) => MkvError::invalid(what),
        }
    }
}
