//! The muxer: header at creation, one cluster at a time, index at the end.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use super::ebml::{self, id};
use super::finish::{CueEntry, Layout, Plan, Timeline, SEEK_AREA_LEN};
use super::{FileSummary, MkvError, TrackKind, TrackSpec, VideoCodec, WriterOptions};

/// The application name written to Info.
const APP: &str = "lectern";
/// Opus pre-skip written to the OpusHead, in 48 kHz samples (libopus's usual 6.5 ms).
const OPUS_PRE_SKIP: u16 = 312;
/// Opus SeekPreRoll, ns.
const OPUS_SEEK_PRE_ROLL_NS: u64 = 80_000_000;
/// Longest cluster span a block's 16-bit relative timestamp can reach, ms.
const MAX_CLUSTER_SPAN_MS: u64 = i16::MAX as u64;
/// Cluster header: 4-byte id + 8-byte size.
const CLUSTER_HEADER_LEN: usize = 12;
/// Longest track name kept, in bytes.
const MAX_NAME_LEN: usize = 256;
/// Seconds from the Unix epoch to 2001-01-01T00:00:00 UTC, Matroska's DateUTC origin.
const MATROSKA_EPOCH_UNIX_S: u64 = 978_307_200;

/// Writes one Matroska/WebM file as media arrives.
///
/// Memory is bounded by one cluster (plus one cue entry per cluster). Dropping a writer without
/// [`finalize`](MkvWriter::finalize) leaves the file as a crash would: the open cluster is lost
/// and [`recover`](super::recover) finishes the rest.
#[derive(Debug)]
pub struct MkvWriter {
    file: File,
    layout: Layout,
    timeline: Timeline,
    cluster_max_ms: u64,
    cluster_max_bytes: usize,
    sync_interval: std::time::Duration,
    /// The open cluster, header included (its size is filled in when it closes).
    cluster: Vec<u8>,
    cluster_ts: u64,
    /// First block of the open cluster: `(track, keyframe, offset in the cluster's data)`;
    /// `None` while no cluster is open.
    cluster_first: Option<(u64, bool, u64)>,
    /// Bytes on disk.
    file_len: u64,
    last_ts: u64,
    clamped: u64,
    cues: Vec<CueEntry>,
    last_sync: Instant,
    /// Set when a write failed: the file is left for recovery and the writer refuses more.
    failed: bool,
}

impl MkvWriter {
    /// Creates the file (fails if it exists) and writes the EBML header, the Segment (size
    /// unknown), reserved SeekHead space, Info and Tracks; syncs the file and its directory.
    pub fn create(
        path: &Path,
        tracks: Vec<TrackSpec>,
        opts: WriterOptions,
    ) -> Result<MkvWriter, MkvError> {
        validate(&tracks)?;
        let h264 = tracks.iter().any(|t| {
            matches!(
                t.kind,
                TrackKind::Video {
                    codec: VideoCodec::H264,
                    ..
                }
            )
        });
        let doc_type = if h264 { "matroska" } else { "webm" };

        let mut head = Vec::with_capacity(1024);
        ebml::put_master(&mut head, id::EBML, |buf| {
            ebml::put_uint(buf, id::EBML_VERSION, 1);
            ebml::put_uint(buf, id::EBML_READ_VERSION, 1);
            ebml::put_uint(buf, id::EBML_MAX_ID_LENGTH, 4);
            ebml::put_uint(buf, id::EBML_MAX_SIZE_LENGTH, 8);
            ebml::put_bytes(buf, id::DOC_TYPE, doc_type.as_bytes());
            ebml::put_uint(buf, id::DOC_TYPE_VERSION, 4);
            ebml::put_uint(buf, id::DOC_TYPE_READ_VERSION, 2);
        });
        ebml::put_id(&mut head, id::SEGMENT);
        let segment_size_pos = head.len() as u64;
        head.extend_from_slice(&ebml::UNKNOWN_SIZE_8);
        let segment_data_start = head.len() as u64;
        head.extend_from_slice(&ebml::void_element(SEEK_AREA_LEN));

        let info_pos = head.len() as u64;
        let mut info = Vec::new();
        ebml::put_uint(&mut info, id::TIMESTAMP_SCALE, 1_000_000);
        ebml::put_bytes(&mut info, id::MUXING_APP, APP.as_bytes());
        ebml::put_bytes(&mut info, id::WRITING_APP, APP.as_bytes());
        ebml::put_int8(&mut info, id::DATE_UTC, date_utc_ns());
        ebml::put_float(&mut info, id::DURATION, 0.0);
        let duration_in_info = info.len() - 8;
        ebml::put_bytes(&mut head, id::INFO, &info);
        let duration_pos = head.len() - info.len() + duration_in_info;

        let tracks_pos = head.len() as u64;
        ebml::put_master(&mut head, id::TRACKS, |buf| {
            for track in &tracks {
                ebml::put_master(buf, id::TRACK_ENTRY, |buf| track_entry(buf, track));
            }
        });

        let mut file = OpenOptions::new().write(true).create_new(true).open(path)?;
        file.write_all(&head)?;
        file.sync_data()?;
        sync_parent(path)?;

        let timeline = Timeline::new(tracks.iter().map(|t| match t.kind {
            TrackKind::Video { .. } => (t.number, true, false),
            TrackKind::Audio { .. } => (t.number, false, true),
        }));
        Ok(MkvWriter {
            file,
            layout: Layout {
                segment_size_pos,
                segment_data_start,
                seek_area: Some((segment_data_start, SEEK_AREA_LEN)),
                info_pos,
                tracks_pos,
                duration_pos: Some(duration_pos as u64),
            },
            timeline,
            cluster_max_ms: opts.cluster_max_ms.min(MAX_CLUSTER_SPAN_MS),
            cluster_max_bytes: opts.cluster_max_bytes,
            sync_interval: opts.sync_interval,
            cluster: Vec::new(),
            cluster_ts: 0,
            cluster_first: None,
            file_len: head.len() as u64,
            last_ts: 0,
            clamped: 0,
            cues: Vec::new(),
            last_sync: Instant::now(),
            failed: false,
        })
    }

    /// Adds a frame of `track` at `ts_ms` (ms from the file's start). Timestamps must not
    /// decrease across tracks: a smaller one is raised to the last one written and counted in
    /// [`clamped`](MkvWriter::clamped). Audio blocks are always marked as keyframes.
    ///
    /// A new cluster starts at a video keyframe, when the open one would span more than
    /// `cluster_max_ms` or grow past `cluster_max_bytes`; the closed cluster is written whole,
    /// and the file synced if `sync_interval` has passed since the last sync.
    pub fn write_frame(
        &mut self,
        track: u64,
        ts_ms: u64,
        keyframe: bool,
        data: &[u8],
    ) -> Result<(), MkvError> {
        self.check_usable()?;
        if !self.timeline.has_track(track) {
            return Err(MkvError::UnknownTrack(track));
        }
        if data.is_empty() {
            return Err(MkvError::invalid("empty frame"));
        }
        let ts = if ts_ms < self.last_ts {
            self.clamped += 1;
            self.last_ts
        } else {
            ts_ms
        };
        self.last_ts = ts;
        let video = self.timeline.is_video(track);
        let keyframe = keyframe || !video;

        let mut block_head = Vec::with_capacity(16);
        ebml::put_size(&mut block_head, track);
        let payload_len = (block_head.len() + 3 + data.len()) as u64;
        let block_len = 1 + ebml::size_len(payload_len).unwrap_or(8) + payload_len as usize;

        if self.cluster_first.is_some()
            && ((video && keyframe)
                || ts - self.cluster_ts > self.cluster_max_ms
                || self.cluster.len() + block_len > self.cluster_max_bytes)
        {
            self.close_cluster()?;
        }
        if self.cluster_first.is_none() {
            self.cluster.clear();
            ebml::put_id(&mut self.cluster, id::CLUSTER);
            self.cluster.extend_from_slice(&ebml::UNKNOWN_SIZE_8);
            ebml::put_uint(&mut self.cluster, id::TIMESTAMP, ts);
            self.cluster_ts = ts;
            let relative = (self.cluster.len() - CLUSTER_HEADER_LEN) as u64;
            self.cluster_first = Some((track, keyframe, relative));
        }

        // Within i16: the span is capped at MAX_CLUSTER_SPAN_MS above.
        let relative = (ts - self.cluster_ts).min(MAX_CLUSTER_SPAN_MS) as i16;
        self.cluster.reserve(block_len);
        ebml::put_id(&mut self.cluster, id::SIMPLE_BLOCK);
        ebml::put_size(&mut self.cluster, payload_len);
        self.cluster.extend_from_slice(&block_head);
        self.cluster.extend_from_slice(&relative.to_be_bytes());
        self.cluster.push(if keyframe { 0x80 } else { 0x00 });
        self.cluster.extend_from_slice(data);
        self.timeline
            .on_block(track, ts, &data[..data.len().min(2)]);
        Ok(())
    }

    /// Writes the open cluster (if any) and syncs the file.
    pub fn flush(&mut self) -> Result<(), MkvError> {
        self.check_usable()?;
        self.close_cluster()?;
        self.sync()
    }

    /// Bytes on disk. The open cluster, held in memory, is not counted (see
    /// [`buffered_bytes`](MkvWriter::buffered_bytes)).
    pub fn bytes_written(&self) -> u64 {
        self.file_len
    }

    /// Size of the open cluster, held in memory until it closes.
    pub fn buffered_bytes(&self) -> usize {
        if self.cluster_first.is_some() {
            self.cluster.len()
        } else {
            0
        }
    }

    /// End of the last frame so far (written or buffered), in ms: its timestamp plus an
    /// estimate of its duration.
    pub fn duration_ms(&self) -> u64 {
        self.timeline.end_ms()
    }

    /// Frames whose timestamp was raised to keep timestamps non-decreasing.
    pub fn clamped(&self) -> u64 {
        self.clamped
    }

    /// Writes the open cluster and the Cues, patches Duration, SeekHead and the Segment size,
    /// and syncs.
    pub fn finalize(mut self) -> Result<FileSummary, MkvError> {
        self.check_usable()?;
        self.close_cluster()?;
        let duration_ms = self.timeline.end_ms();
        let plan = Plan::new(&self.layout, &self.cues, duration_ms, self.file_len);
        plan.apply(&mut self.file)?;
        Ok(FileSummary {
            duration_ms,
            bytes: plan.end(),
            frames: self.timeline.frames(),
            cues: plan.cue_points,
        })
    }

    fn check_usable(&self) -> Result<(), MkvError> {
        if self.failed {
            return Err(MkvError::invalid(
                "an earlier write failed; the file needs recovery",
            ));
        }
        Ok(())
    }

    fn close_cluster(&mut self) -> Result<(), MkvError> {
        let Some((track, keyframe, relative_pos)) = self.cluster_first.take() else {
            return Ok(());
        };
        let size = (self.cluster.len() - CLUSTER_HEADER_LEN) as u64;
        let size_field =
            ebml::encode_size(size, 8).ok_or_else(|| MkvError::invalid("cluster too large"))?;
        self.cluster[4..CLUSTER_HEADER_LEN].copy_from_slice(&size_field);
        if let Err(err) = self.file.write_all(&self.cluster) {
            self.failed = true;
            return Err(err.into());
        }
        if self.timeline.cue_worthy(track, keyframe) {
            self.cues.push(CueEntry {
                time: self.cluster_ts,
                track,
                cluster_pos: self.file_len,
                relative_pos,
            });
        }
        self.file_len += self.cluster.len() as u64;
        // Keep the buffer's memory near one ordinary cluster after an outsized frame.
        self.cluster.clear();
        self.cluster
            .shrink_to(self.cluster_max_bytes.saturating_mul(2).max(64 * 1024));
        if self.last_sync.elapsed() >= self.sync_interval {
            self.sync()?;
        }
        Ok(())
    }

    fn sync(&mut self) -> Result<(), MkvError> {
        if let Err(err) = self.file.sync_data() {
            self.failed = true;
            return Err(err.into());
        }
        self.last_sync = Instant::now();
        Ok(())
    }
}

fn validate(tracks: &[TrackSpec]) -> Result<(), MkvError> {
    if tracks.is_empty() {
        return Err(MkvError::invalid("a file needs at least one track"));
    }
    for (i, track) in tracks.iter().enumerate() {
        if track.number == 0 || track.number > 126 {
            return Err(MkvError::invalid(format!(
                "track number {} out of 1..=126",
                track.number
            )));
        }
        if tracks[..i].iter().any(|t| t.number == track.number) {
            return Err(MkvError::invalid(format!(
                "track number {} used twice",
                track.number
            )));
        }
        match &track.kind {
            TrackKind::Video {
                codec: VideoCodec::H264,
                codec_private: None,
                ..
            } => return Err(MkvError::invalid("an H.264 track needs its avcC record")),
            TrackKind::Audio {
                sample_rate,
                channels,
            } => {
                if *sample_rate == 0 || !(1..=2).contains(channels) {
                    return Err(MkvError::invalid(format!(
                        "Opus track with {sample_rate} Hz and {channels} channels"
                    )));
                }
            }
            TrackKind::Video { .. } => {}
        }
    }
    Ok(())
}

fn track_entry(buf: &mut Vec<u8>, track: &TrackSpec) {
    ebml::put_uint(buf, id::TRACK_NUMBER, track.number);
    ebml::put_uint(buf, id::TRACK_UID, track.number);
    let mut name_end = track.name.len().min(MAX_NAME_LEN);
    while !track.name.is_char_boundary(name_end) {
        name_end -= 1;
    }
    match &track.kind {
        TrackKind::Video {
            codec,
            width,
            height,
            codec_private,
        } => {
            ebml::put_uint(buf, id::TRACK_TYPE, 1);
            ebml::put_uint(buf, id::FLAG_LACING, 0);
            if name_end > 0 {
                ebml::put_bytes(buf, id::NAME, &track.name.as_bytes()[..name_end]);
            }
            ebml::put_bytes(buf, id::CODEC_ID, codec.codec_id().as_bytes());
            if let Some(private) = codec_private {
                ebml::put_bytes(buf, id::CODEC_PRIVATE, private);
            }
            ebml::put_master(buf, id::VIDEO, |buf| {
                ebml::put_uint(buf, id::PIXEL_WIDTH, u64::from(*width));
                ebml::put_uint(buf, id::PIXEL_HEIGHT, u64::from(*height));
            });
        }
        TrackKind::Audio {
            sample_rate,
            channels,
        } => {
            ebml::put_uint(buf, id::TRACK_TYPE, 2);
            ebml::put_uint(buf, id::FLAG_LACING, 0);
            if name_end > 0 {
                ebml::put_bytes(buf, id::NAME, &track.name.as_bytes()[..name_end]);
            }
            ebml::put_bytes(buf, id::CODEC_ID, b"A_OPUS");
            ebml::put_bytes(buf, id::CODEC_PRIVATE, &opus_head(*sample_rate, *channels));
            let pre_skip_ns = u64::from(OPUS_PRE_SKIP) * 1_000_000_000 / 48_000;
            ebml::put_uint(buf, id::CODEC_DELAY, pre_skip_ns);
            ebml::put_uint(buf, id::SEEK_PRE_ROLL, OPUS_SEEK_PRE_ROLL_NS);
            ebml::put_master(buf, id::AUDIO, |buf| {
                ebml::put_float(buf, id::SAMPLING_FREQUENCY, f64::from(*sample_rate));
                ebml::put_uint(buf, id::CHANNELS, u64::from(*channels));
            });
        }
    }
}

/// The Opus identification header (RFC 7845 §5.1), channel mapping family 0.
fn opus_head(sample_rate: u32, channels: u8) -> Vec<u8> {
    let mut head = Vec::with_capacity(19);
    head.extend_from_slice(b"OpusHead");
    head.push(1);
    head.push(channels);
    head.extend_from_slice(&OPUS_PRE_SKIP.to_le_bytes());
    head.extend_from_slice(&sample_rate.to_le_bytes());
    head.extend_from_slice(&0i16.to_le_bytes());
    head.push(0);
    head
}

/// Now, as ns since 2001-01-01 UTC.
fn date_utc_ns() -> i64 {
    let unix_ns = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let ns = unix_ns as i128 - i128::from(MATROSKA_EPOCH_UNIX_S) * 1_000_000_000;
    i64::try_from(ns).unwrap_or(0)
}

/// Syncs the directory holding `path`, so the new file's entry survives a power loss.
fn sync_parent(path: &Path) -> Result<(), MkvError> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    File::open(parent)?.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opus_head_layout() {
        let head = opus_head(48_000, 2);
        assert_eq!(head.len(), 19);
        assert_eq!(&head[..8], b"OpusHead");
        assert_eq!(head[9], 2);
        assert_eq!(u16::from_le_bytes([head[10], head[11]]), 312);
        assert_eq!(
            u32::from_le_bytes([head[12], head[13], head[14], head[15]]),
            48_000
        );
    }

    #[test]
    fn track_validation() {
        let opus = |number| TrackSpec {
            number,
            name: String::new(),
            kind: TrackKind::Audio {
                sample_rate: 48_000,
                channels: 2,
            },
        };
        assert!(validate(&[]).is_err());
        assert!(validate(&[opus(0)]).is_err());
        assert!(validate(&[opus(1), opus(1)]).is_err());
        assert!(validate(&[opus(1), opus(2)]).is_ok());
        let h264 = TrackSpec {
            number: 1,
            name: String::new(),
            kind: TrackKind::Video {
                codec: VideoCodec::H264,
                width: 320,
                height: 240,
                codec_private: None,
            },
        };
        assert!(validate(&[h264]).is_err());
    }
}
