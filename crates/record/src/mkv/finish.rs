//! Finishing a file, shared by [`MkvWriter::finalize`](super::MkvWriter::finalize) and
//! [`recover`](super::recover): the per-track bookkeeping both derive from the blocks, the
//! Cues, and the in-place patches (Duration, SeekHead, Segment size).
//!
//! Both sides feed the same inputs (block timestamps as stored, the first payload bytes of each
//! block) to the same code, so a file finished either way is byte-identical, and a finished file
//! is exactly one whose recovery plan changes nothing.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};

use super::ebml::{self, id};
use super::MkvError;

/// Size of the space reserved after the Segment header for the SeekHead.
pub const SEEK_AREA_LEN: usize = 128;

/// Where the patchable parts of a file are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    /// File offset of the Segment's 8-byte size field.
    pub segment_size_pos: u64,
    /// File offset of the Segment's data; element positions are relative to it.
    pub segment_data_start: u64,
    /// The reserved SeekHead space, `(offset, length)`, if there is one.
    pub seek_area: Option<(u64, usize)>,
    /// File offsets of the Info and Tracks elements.
    pub info_pos: u64,
    pub tracks_pos: u64,
    /// File offset of the Duration's 8-byte float, if it can be patched.
    pub duration_pos: Option<u64>,
}

/// A cluster that gets a CuePoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CueEntry {
    /// Cluster timestamp, ms.
    pub time: u64,
    pub track: u64,
    /// File offset of the Cluster element.
    pub cluster_pos: u64,
    /// Offset of the first block from the start of the cluster's data.
    pub relative_pos: u64,
}

/// What a file's tracks are, as far as finishing is concerned.
#[derive(Clone, Debug)]
pub struct Timeline {
    tracks: Vec<TrackClock>,
    audio_only: bool,
}

#[derive(Clone, Debug)]
struct TrackClock {
    number: u64,
    video: bool,
    opus: bool,
    frames: u64,
    last_ts: Option<u64>,
    last_delta: u64,
    last_opus_ms: Option<u64>,
}

impl Timeline {
    /// `tracks`: `(number, is video, is Opus)`.
    pub fn new(tracks: impl IntoIterator<Item = (u64, bool, bool)>) -> Self {
        let tracks: Vec<TrackClock> = tracks
            .into_iter()
            .map(|(number, video, opus)| TrackClock {
                number,
                video,
                opus,
                frames: 0,
                last_ts: None,
                last_delta: 0,
                last_opus_ms: None,
            })
            .collect();
        let audio_only = !tracks.iter().any(|t| t.video);
        Timeline { tracks, audio_only }
    }

    pub fn has_track(&self, number: u64) -> bool {
        self.tracks.iter().any(|t| t.number == number)
    }

    pub fn is_video(&self, number: u64) -> bool {
        self.tracks.iter().any(|t| t.number == number && t.video)
    }

    /// Whether a cluster whose first block is on `track` (with this keyframe flag) gets a
    /// CuePoint.
    pub fn cue_worthy(&self, track: u64, keyframe: bool) -> bool {
        self.audio_only || (keyframe && self.is_video(track))
    }

    /// Records a block: `ts` in ms as stored, `head` the first bytes of its payload (two are
    /// enough).
    pub fn on_block(&mut self, track: u64, ts: u64, head: &[u8]) {
        let Some(clock) = self.tracks.iter_mut().find(|t| t.number == track) else {
            return;
        };
        clock.frames += 1;
        if let Some(last) = clock.last_ts {
            clock.last_delta = ts.saturating_sub(last);
        }
        clock.last_ts = Some(ts);
        if clock.opus {
            clock.last_opus_ms = opus_packet_ms(head);
        }
    }

    /// End of the last frame: its timestamp plus its duration (Opus: from the packet's TOC;
    /// otherwise the track's last frame interval).
    pub fn end_ms(&self) -> u64 {
        self.tracks
            .iter()
            .filter_map(|t| {
                let last = t.last_ts?;
                Some(last.saturating_add(t.last_opus_ms.unwrap_or(t.last_delta)))
            })
            .max()
            .unwrap_or(0)
    }

    /// Frames per track, in track order.
    pub fn frames(&self) -> Vec<(u64, u64)> {
        self.tracks.iter().map(|t| (t.number, t.frames)).collect()
    }
}

/// Duration of an Opus packet from its TOC byte (RFC 6716 §3.1), in ms rounded up; `None` if
/// the packet is too short to tell.
pub fn opus_packet_ms(packet: &[u8]) -> Option<u64> {
    let toc = *packet.first()?;
    let config = toc >> 3;
    // Frame size in 48 kHz samples.
    let frame = match config {
        0..=11 => [480, 960, 1920, 2880][usize::from(config & 3)],
        12..=15 => [480, 960][usize::from(config & 1)],
        _ => [120, 240, 480, 960][usize::from(config & 3)],
    };
    let frames = match toc & 3 {
        0 => 1,
        1 | 2 => 2,
        _ => u64::from(*packet.get(1)? & 0x3F),
    };
    Some((frame * frames).min(5760).div_ceil(48))
}

/// The bytes that finish a file whose clusters end at `clusters_end`.
#[derive(Clone, Debug)]
pub struct Plan {
    /// File offset where the Cues go (the end of the last kept cluster).
    pub clusters_end: u64,
    /// The Cues element (empty if there are no cue points).
    pub cues: Vec<u8>,
    /// In-place patches: `(file offset, bytes)`.
    pub patches: Vec<(u64, Vec<u8>)>,
    pub cue_points: usize,
}

impl Plan {
    pub fn new(layout: &Layout, cues: &[CueEntry], duration_ms: u64, clusters_end: u64) -> Self {
        let base = layout.segment_data_start;
        let mut cues_bytes = Vec::new();
        if !cues.is_empty() {
            ebml::put_master(&mut cues_bytes, id::CUES, |buf| {
                for cue in cues {
                    ebml::put_master(buf, id::CUE_POINT, |buf| {
                        ebml::put_uint(buf, id::CUE_TIME, cue.time);
                        ebml::put_master(buf, id::CUE_TRACK_POSITIONS, |buf| {
                            ebml::put_uint(buf, id::CUE_TRACK, cue.track);
                            ebml::put_uint(
                                buf,
                                id::CUE_CLUSTER_POSITION,
                                cue.cluster_pos.saturating_sub(base),
                            );
                            ebml::put_uint(buf, id::CUE_RELATIVE_POSITION, cue.relative_pos);
                        });
                    });
                }
            });
        }
        let end = clusters_end + cues_bytes.len() as u64;

        let mut patches = Vec::new();
        if let Some(pos) = layout.duration_pos {
            patches.push((pos, (duration_ms as f64).to_be_bytes().to_vec()));
        }
        if let Some((pos, len)) = layout.seek_area {
            let mut seeks = vec![(id::INFO, layout.info_pos), (id::TRACKS, layout.tracks_pos)];
            if !cues_bytes.is_empty() {
                seeks.push((id::CUES, clusters_end));
            }
            if let Some(area) = seek_area_bytes(&seeks, base, len) {
                patches.push((pos, area));
            }
        }
        let segment_size = end.saturating_sub(base);
        if let Some(size) = ebml::encode_size(segment_size, 8) {
            patches.push((layout.segment_size_pos, size.to_vec()));
        }
        Plan {
            clusters_end,
            cues: cues_bytes,
            patches,
            cue_points: cues.len(),
        }
    }

    /// The file's length once finished.
    pub fn end(&self) -> u64 {
        self.clusters_end + self.cues.len() as u64
    }

    /// Cuts the file at `clusters_end`, writes the Cues there, patches, and syncs. The Segment
    /// size goes last, so a crash half-way leaves a file that recovery still repairs.
    pub fn apply(&self, file: &mut File) -> Result<(), MkvError> {
        file.set_len(self.clusters_end)?;
        file.seek(SeekFrom::Start(self.clusters_end))?;
        file.write_all(&self.cues)?;
        for (pos, bytes) in &self.patches {
            file.seek(SeekFrom::Start(*pos))?;
            file.write_all(bytes)?;
        }
        file.flush()?;
        file.sync_data()?;
        Ok(())
    }

    /// Whether `file` already holds exactly these bytes (and nothing after them).
    pub fn is_applied(&self, file: &mut File) -> Result<bool, MkvError> {
        let len = file.seek(SeekFrom::End(0))?;
        if len != self.end() {
            return Ok(false);
        }
        let regions = std::iter::once((self.clusters_end, self.cues.as_slice()))
            .chain(self.patches.iter().map(|(pos, b)| (*pos, b.as_slice())));
        let mut buf = Vec::new();
        for (pos, expected) in regions {
            buf.resize(expected.len(), 0);
            file.seek(SeekFrom::Start(pos))?;
            file.read_exact(&mut buf)?;
            if buf != expected {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

/// A SeekHead for `seeks` (`(id, file offset)`) followed by the header of a Void that fills the
/// rest of `len` bytes (the Void's data is left as it is on disk); `None` if it does not fit.
fn seek_area_bytes(seeks: &[(u32, u64)], base: u64, len: usize) -> Option<Vec<u8>> {
    let mut inner = Vec::new();
    for &(element, pos) in seeks {
        ebml::put_master(&mut inner, id::SEEK, |buf| {
            let mut element_id = Vec::new();
            ebml::put_id(&mut element_id, element);
            ebml::put_bytes(buf, id::SEEK_ID, &element_id);
            ebml::put_uint(buf, id::SEEK_POSITION, pos.saturating_sub(base));
        });
    }
    let min_size_len = ebml::size_len(inner.len() as u64)?;
    // The Void after the SeekHead needs at least 2 bytes; a longer size field absorbs a gap of 1.
    (min_size_len..=8).find_map(|size_len| {
        let head_len = 4 + size_len + inner.len();
        let rest = len.checked_sub(head_len)?;
        if rest == 1 {
            return None;
        }
        let mut out = Vec::with_capacity(head_len + 9);
        ebml::put_id(&mut out, id::SEEK_HEAD);
        out.extend_from_slice(&ebml::encode_size(inner.len() as u64, size_len)?[..size_len]);
        out.extend_from_slice(&inner);
        if rest > 0 {
            out.extend_from_slice(&ebml::void_header(rest as u64));
        }
        Some(out)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opus_durations() {
        // config 1 (SILK NB 20 ms), code 0.
        assert_eq!(opus_packet_ms(&[1 << 3]), Some(20));
        // config 31 (CELT FB 20 ms), code 1: two frames.
        assert_eq!(opus_packet_ms(&[(31 << 3) | 1]), Some(40));
        // config 16 (CELT 2.5 ms), code 3 with 3 frames → 7.5 ms, rounded up.
        assert_eq!(opus_packet_ms(&[(16 << 3) | 3, 3]), Some(8));
        // code 3 without its count byte.
        assert_eq!(opus_packet_ms(&[(16 << 3) | 3]), None);
        // capped at 120 ms.
        assert_eq!(opus_packet_ms(&[(3 << 3) | 3, 63]), Some(120));
        assert_eq!(opus_packet_ms(&[]), None);
    }

    #[test]
    fn seek_area_fills_exactly() {
        let seeks = [(id::INFO, 300), (id::TRACKS, 400), (id::CUES, 1 << 40)];
        for len in (60..300).chain([1 << 20]) {
            let Some(area) = seek_area_bytes(&seeks, 100, len) else {
                assert!(len < 70, "{len}");
                continue;
            };
            // On disk: the SeekHead, then a Void reaching exactly the end of the area.
            let mut disk = vec![0xAAu8; len];
            disk[..area.len()].copy_from_slice(&area);
            let mut reader = ebml::Reader::new(std::io::Cursor::new(disk)).unwrap();
            let seek_head = reader.header(len as u64, false).unwrap();
            assert_eq!(seek_head.id, id::SEEK_HEAD);
            let end = seek_head.end().unwrap();
            if end < len as u64 {
                reader.seek_to(end).unwrap();
                let void = reader.header(len as u64, false).unwrap();
                assert_eq!(void.id, id::VOID);
                assert_eq!(void.end(), Some(len as u64), "{len}");
            }
        }
        assert!(seek_area_bytes(&seeks, 100, SEEK_AREA_LEN).is_some());
    }

    #[test]
    fn timeline_end() {
        let mut timeline = Timeline::new([(1, true, false), (2, false, true)]);
        assert_eq!(timeline.end_ms(), 0);
        timeline.on_block(1, 0, &[0]);
        timeline.on_block(1, 33, &[0]);
        timeline.on_block(2, 40, &[(31 << 3)]);
        assert_eq!(timeline.end_ms(), 66);
        timeline.on_block(1, 66, &[0]);
        assert_eq!(timeline.end_ms(), 99);
        assert_eq!(timeline.frames(), vec![(1, 3), (2, 1)]);
        assert!(timeline.cue_worthy(1, true));
        assert!(!timeline.cue_worthy(1, false));
        assert!(!timeline.cue_worthy(2, true));
        let audio = Timeline::new([(1, false, true)]);
        assert!(audio.cue_worthy(1, false));
    }
}
