//! Reading a file's structure: the scan shared by [`inspect`] and [`recover`](super::recover).
//!
//! The scan walks the Segment's top-level elements once: the header part (SeekHead/Void, Info,
//! Tracks, …), then the run of Clusters, then whatever follows (Cues, Tags, …). Inside a
//! cluster it reads the Timestamp and each block's header (track, timestamp, flags and the
//! first two payload bytes), never a payload. It stops at the first element that cannot be
//! read within its parent: from there on the file is a cut, zeros or garbage.
//!
//! Memory stays bounded: strings and the header elements are capped, and the per-cluster
//! record is one cue entry for the clusters that get a CuePoint.

use std::fs::File;
use std::path::Path;

use super::ebml::{encode_size, id, void_header, Header, ReadError, Reader};
use super::finish::{CueEntry, Timeline};
use super::{FileInfo, MediaKind, MkvError, TrackInfo};

/// Longest DocType, track name or CodecID read.
const MAX_STRING: u64 = 1024;
/// Most tracks accepted in a file.
const MAX_TRACKS: usize = 64;
/// Bytes of a block read: track vint (≤ 8), timestamp (2), flags (1), payload head (2).
const BLOCK_HEAD: usize = 13;

/// What [`scan`] found.
#[derive(Debug)]
pub(crate) struct Scan {
    pub doc_type: String,
    pub file_len: u64,
    pub segment: Header,
    pub seek_area: Option<(u64, usize)>,
    pub has_seek_head: bool,
    pub info_pos: u64,
    pub timestamp_scale: u64,
    pub duration: Option<f64>,
    /// Offset of the Duration's data if it is an 8-byte float (patchable in place).
    pub duration_pos: Option<u64>,
    pub tracks_pos: u64,
    pub tracks: Vec<TrackInfo>,
    /// Blocks of the cluster run, per track.
    pub timeline: Timeline,
    pub cues: Vec<CueEntry>,
    pub clusters: usize,
    pub blocks: u64,
    pub first_block: Option<u64>,
    pub last_block: Option<u64>,
    /// End of the last kept cluster (or of the header part if there is none).
    pub clusters_end: u64,
    /// In-place writes that make the kept clusters whole: the new 8-byte size of a cut last
    /// cluster, Void headers over the damaged part of a cluster inside the run.
    pub fixes: Vec<(u64, Vec<u8>)>,
    /// Bytes of damaged clusters covered by Void elements by those fixes.
    pub voided: u64,
    pub has_cues: bool,
    pub cue_points: usize,
    /// End of the last readable element.
    pub readable_end: u64,
    /// Whether the Segment's size is known and everything in it was readable up to its end,
    /// which is the end of the file.
    pub complete: bool,
}

/// Reads a file's structure. Fails if the file has no usable header: EBML header with a
/// `webm`/`matroska` DocType, Segment, complete Info and Tracks with at least one track.
pub fn inspect(path: &Path) -> Result<FileInfo, MkvError> {
    let file = File::open(path)?;
    let scan = scan(&file)?;
    let scale = scan.timestamp_scale;
    let to_ms = |units: u64| (u128::from(units) * u128::from(scale) / 1_000_000) as u64;
    Ok(FileInfo {
        doc_type: scan.doc_type,
        duration_ms: scan.duration.map(|d| d * scale as f64 / 1_000_000.0),
        clusters: scan.clusters,
        blocks: scan.blocks,
        blocks_per_track: scan.timeline.frames(),
        first_block_ms: scan.first_block.map(to_ms),
        last_block_ms: scan.last_block.map(to_ms),
        has_seek_head: scan.has_seek_head,
        has_cues: scan.has_cues,
        cue_points: scan.cue_points,
        segment_size_known: scan.segment.size.is_some(),
        complete: scan.complete,
        trailing_bytes: scan.file_len.saturating_sub(scan.readable_end),
        file_len: scan.file_len,
        tracks: scan.tracks,
    })
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Stage {
    Header,
    Clusters,
    After,
}

/// Scans `file` (see the module docs).
pub(crate) fn scan(file: &File) -> Result<Scan, MkvError> {
    let mut r = Reader::new(file)?;
    let len = r.file_len();

    let ebml = r
        .header(len, false)
        .map_err(|_| MkvError::invalid("no EBML header"))?;
    if ebml.id != id::EBML {
        return Err(MkvError::invalid("not an EBML file"));
    }
    let doc_type = read_doc_type(&mut r, &ebml)?;
    if doc_type != "webm" && doc_type != "matroska" {
        return Err(MkvError::invalid(format!("DocType {doc_type:?}")));
    }
    r.seek_to(ebml.end().unwrap_or(len))?;
    let segment = r
        .raw_header(len)
        .map_err(|_| MkvError::invalid("no Segment"))?;
    if segment.id != id::SEGMENT {
        return Err(MkvError::invalid("no Segment after the EBML header"));
    }
    let declared_end = segment
        .size
        .map(|size| segment.data_start.saturating_add(size));
    let seg_end = declared_end.map_or(len, |end| end.min(len));

    let mut info: Option<InfoScan> = None;
    let mut tracks: Option<(u64, Vec<TrackInfo>)> = None;
    let mut timeline = Timeline::new([]);
    let mut run = Run::default();
    let mut stage = Stage::Header;
    let mut seek_area_end = segment.data_start;
    let mut seek_area_open = true;
    let mut has_seek_head = false;
    let mut has_cues = false;
    let mut cue_points = 0;
    let mut clusters_end = segment.data_start;
    let mut cut = false;
    let mut pos = segment.data_start;
    let mut clean_end = false;

    loop {
        if pos >= seg_end {
            clean_end = pos == seg_end;
            break;
        }
        r.seek_to(pos)?;
        let header = match r.raw_header(seg_end) {
            Ok(header) => header,
            Err(ReadError::Io(err)) => return Err(err.into()),
            Err(ReadError::Bad(_)) => break,
        };
        if header.id == id::CLUSTER {
            if stage == Stage::After || info.is_none() || tracks.is_none() {
                break;
            }
            stage = Stage::Clusters;
            match scan_cluster(&mut r, &header, seg_end, &mut timeline, &mut run)? {
                ClusterEnd::Continue(end) => {
                    pos = end;
                    clusters_end = end;
                }
                ClusterEnd::Cut(keep_end) => {
                    clusters_end = keep_end;
                    pos = keep_end;
                    cut = true;
                    break;
                }
            }
            continue;
        }
        let Some(end) = header.end().filter(|&end| end <= seg_end) else {
            break;
        };
        match header.id {
            id::SEEK_HEAD | id::VOID if seek_area_open => {
                seek_area_end = end;
                has_seek_head |= header.id == id::SEEK_HEAD;
            }
            id::INFO if info.is_none() && stage == Stage::Header => {
                match read_info(&mut r, &header) {
                    Ok(found) => info = Some(found),
                    Err(ReadError::Io(err)) => return Err(err.into()),
                    Err(ReadError::Bad(_)) => break,
                }
            }
            id::TRACKS if tracks.is_none() && stage == Stage::Header => {
                match read_tracks(&mut r, &header) {
                    Ok(found) => {
                        timeline = Timeline::new(found.iter().map(|t| {
                            (
                                t.number,
                                matches!(t.kind, MediaKind::Video { .. }),
                                t.codec_id == "A_OPUS",
                            )
                        }));
                        tracks = Some((header.start, found));
                    }
                    Err(ReadError::Io(err)) => return Err(err.into()),
                    Err(ReadError::Bad(_)) => break,
                }
            }
            id::CUES if stage != Stage::Header => {
                has_cues = true;
                cue_points += count_children(&mut r, &header, id::CUE_POINT)?;
                stage = Stage::After;
            }
            id::VOID => {}
            id::SEEK_HEAD | id::TAGS | id::CHAPTERS | id::ATTACHMENTS | id::CUES => {
                if stage == Stage::Clusters {
                    stage = Stage::After;
                }
            }
            _ => break,
        }
        if header.id != id::VOID && header.id != id::SEEK_HEAD {
            seek_area_open = false;
        }
        if stage == Stage::Header {
            clusters_end = end;
        }
        pos = end;
    }

    let Some(info) = info else {
        return Err(MkvError::invalid("no complete Info element"));
    };
    let Some((tracks_pos, tracks)) = tracks else {
        return Err(MkvError::invalid("no complete Tracks element"));
    };
    if tracks.is_empty() {
        return Err(MkvError::invalid("no tracks"));
    }
    let complete = clean_end && !cut && run.fixes.is_empty() && declared_end == Some(len);
    Ok(Scan {
        doc_type,
        file_len: len,
        seek_area: (seek_area_end > segment.data_start).then(|| {
            (
                segment.data_start,
                (seek_area_end - segment.data_start) as usize,
            )
        }),
        segment,
        has_seek_head,
        info_pos: info.pos,
        timestamp_scale: info.timestamp_scale,
        duration: info.duration,
        duration_pos: info.duration_pos,
        tracks_pos,
        tracks,
        timeline,
        cues: run.cues,
        clusters: run.clusters,
        blocks: run.blocks,
        first_block: run.first_block,
        last_block: run.last_block,
        clusters_end,
        fixes: run.fixes,
        voided: run.voided,
        has_cues,
        cue_points,
        readable_end: pos.min(len),
        complete,
    })
}

fn read_doc_type(r: &mut Reader<&File>, ebml: &Header) -> Result<String, MkvError> {
    let end = ebml.end().unwrap_or(ebml.data_start);
    let mut pos = ebml.data_start;
    let mut doc_type = String::from("matroska");
    while pos < end {
        r.seek_to(pos)?;
        let child = r
            .header(end, false)
            .map_err(|_| MkvError::invalid("damaged EBML header"))?;
        if child.id == id::DOC_TYPE {
            doc_type = r
                .string(&child, MAX_STRING)
                .map_err(|_| MkvError::invalid("damaged DocType"))?;
        }
        pos = child.end().unwrap_or(end);
    }
    Ok(doc_type)
}

struct InfoScan {
    pos: u64,
    timestamp_scale: u64,
    duration: Option<f64>,
    duration_pos: Option<u64>,
}

fn read_info(r: &mut Reader<&File>, info: &Header) -> Result<InfoScan, ReadError> {
    let end = info.end().unwrap_or(info.data_start);
    let mut found = InfoScan {
        pos: info.start,
        timestamp_scale: 1_000_000,
        duration: None,
        duration_pos: None,
    };
    let mut pos = info.data_start;
    while pos < end {
        r.seek_to(pos)?;
        let child = r.header(end, false)?;
        match child.id {
            id::TIMESTAMP_SCALE => found.timestamp_scale = r.uint(&child)?,
            id::DURATION => {
                found.duration = Some(r.float(&child)?);
                found.duration_pos = (child.size == Some(8)).then_some(child.data_start);
            }
            _ => {}
        }
        pos = child.end().unwrap_or(end);
    }
    if found.timestamp_scale == 0 {
        return Err(ReadError::Bad("zero TimestampScale"));
    }
    Ok(found)
}

fn read_tracks(r: &mut Reader<&File>, tracks: &Header) -> Result<Vec<TrackInfo>, ReadError> {
    let end = tracks.end().unwrap_or(tracks.data_start);
    let mut found: Vec<TrackInfo> = Vec::new();
    let mut pos = tracks.data_start;
    while pos < end {
        r.seek_to(pos)?;
        let child = r.header(end, false)?;
        if child.id == id::TRACK_ENTRY {
            let track = read_track_entry(r, &child)?;
            if track.number == 0 || found.iter().any(|t| t.number == track.number) {
                return Err(ReadError::Bad("invalid or repeated track number"));
            }
            if found.len() == MAX_TRACKS {
                return Err(ReadError::Bad("too many tracks"));
            }
            found.push(track);
        }
        pos = child.end().unwrap_or(end);
    }
    Ok(found)
}

fn read_track_entry(r: &mut Reader<&File>, entry: &Header) -> Result<TrackInfo, ReadError> {
    let end = entry.end().unwrap_or(entry.data_start);
    let mut track = TrackInfo {
        number: 0,
        codec_id: String::new(),
        name: String::new(),
        kind: MediaKind::Other(0),
        codec_private_len: 0,
    };
    let mut track_type = 0;
    let (mut width, mut height) = (0, 0);
    let (mut frequency, mut channels) = (8000.0, 1);
    let mut pos = entry.data_start;
    while pos < end {
        r.seek_to(pos)?;
        let child = r.header(end, false)?;
        match child.id {
            id::TRACK_NUMBER => track.number = r.uint(&child)?,
            id::TRACK_TYPE => track_type = r.uint(&child)?,
            id::CODEC_ID => track.codec_id = r.string(&child, MAX_STRING)?,
            id::NAME => track.name = r.string(&child, MAX_STRING)?,
            id::CODEC_PRIVATE => track.codec_private_len = child.size.unwrap_or(0) as usize,
            id::VIDEO => {
                for_children(r, &child, |r, grandchild| {
                    match grandchild.id {
                        id::PIXEL_WIDTH => width = r.uint(grandchild)?,
                        id::PIXEL_HEIGHT => height = r.uint(grandchild)?,
                        _ => {}
                    }
                    Ok(())
                })?;
            }
            id::AUDIO => {
                for_children(r, &child, |r, grandchild| {
                    match grandchild.id {
                        id::SAMPLING_FREQUENCY => frequency = r.float(grandchild)?,
                        id::CHANNELS => channels = r.uint(grandchild)?,
                        _ => {}
                    }
                    Ok(())
                })?;
            }
            _ => {}
        }
        pos = child.end().unwrap_or(end);
    }
    track.kind = match track_type {
        1 => MediaKind::Video { width, height },
        2 => MediaKind::Audio {
            sampling_frequency: frequency,
            channels,
        },
        other => MediaKind::Other(other),
    };
    Ok(track)
}

/// Calls `visit` for each child of `parent` (whose size is known and checked).
fn for_children(
    r: &mut Reader<&File>,
    parent: &Header,
    mut visit: impl FnMut(&mut Reader<&File>, &Header) -> Result<(), ReadError>,
) -> Result<(), ReadError> {
    let end = parent.end().unwrap_or(parent.data_start);
    let mut pos = parent.data_start;
    while pos < end {
        r.seek_to(pos)?;
        let child = r.header(end, false)?;
        visit(r, &child)?;
        pos = child.end().unwrap_or(end);
    }
    Ok(())
}

/// Counts the children of `parent` with id `child_id`, up to the first unreadable one.
fn count_children(
    r: &mut Reader<&File>,
    parent: &Header,
    child_id: u32,
) -> Result<usize, MkvError> {
    let mut count = 0;
    match for_children(r, parent, |_, child| {
        count += usize::from(child.id == child_id);
        Ok(())
    }) {
        Ok(()) | Err(ReadError::Bad(_)) => Ok(count),
        Err(ReadError::Io(err)) => Err(err.into()),
    }
}

/// Totals over the cluster run.
#[derive(Default)]
struct Run {
    cues: Vec<CueEntry>,
    clusters: usize,
    blocks: u64,
    first_block: Option<u64>,
    last_block: Option<u64>,
    fixes: Vec<(u64, Vec<u8>)>,
    voided: u64,
}

enum ClusterEnd {
    /// The cluster is whole (or will be once the run's fixes are written); the next element
    /// starts at this offset.
    Continue(u64),
    /// The run ends in this cluster: what is kept of it ends at this offset (its start if
    /// nothing is kept).
    Cut(u64),
}

/// A block's header.
struct BlockHead {
    track: u64,
    relative: i16,
    keyframe: bool,
    head: [u8; 2],
    head_len: usize,
}

/// Scans a cluster's children. Totals and the timeline are only updated for what is kept.
fn scan_cluster(
    r: &mut Reader<&File>,
    cluster: &Header,
    seg_end: u64,
    timeline: &mut Timeline,
    run: &mut Run,
) -> Result<ClusterEnd, MkvError> {
    let declared_end = cluster.end();
    let bound = declared_end.map_or(seg_end, |end| end.min(seg_end));
    let before = timeline.clone();
    let mut cluster_ts: Option<u64> = None;
    let mut first: Option<(u64, bool, u64)> = None;
    let mut blocks = 0u64;
    let mut first_block = None;
    let mut last_block = None;
    let mut pos = cluster.data_start;
    let mut clean = false;

    loop {
        if pos >= bound {
            // Whole if it ends where it says, or (unknown size) where the Segment ends.
            clean = pos == bound && declared_end.is_none_or(|end| end == bound);
            break;
        }
        r.seek_to(pos)?;
        if cluster.size.is_none() {
            if let Ok(next) = r.peek_id(bound) {
                if is_top_level(next) {
                    clean = true;
                    break;
                }
            }
        }
        let child = match r.header(bound, false) {
            Ok(child) => child,
            Err(ReadError::Io(err)) => return Err(err.into()),
            Err(ReadError::Bad(_)) => break,
        };
        let end = child.end().unwrap_or(bound);
        match child.id {
            id::TIMESTAMP if cluster_ts.is_none() => match r.uint(&child) {
                Ok(ts) => cluster_ts = Some(ts),
                Err(ReadError::Io(err)) => return Err(err.into()),
                Err(ReadError::Bad(_)) => break,
            },
            id::SIMPLE_BLOCK | id::BLOCK_GROUP => {
                let Some(base) = cluster_ts else { break };
                let block = match read_block(r, &child) {
                    Ok(Some(block)) if timeline.has_track(block.track) => block,
                    Ok(_) | Err(ReadError::Bad(_)) => break,
                    Err(ReadError::Io(err)) => return Err(err.into()),
                };
                let ts = (base as i128 + i128::from(block.relative)).clamp(0, u64::MAX as i128);
                let ts = ts as u64;
                timeline.on_block(block.track, ts, &block.head[..block.head_len]);
                if first.is_none() {
                    first = Some((
                        block.track,
                        block.keyframe,
                        child.start - cluster.data_start,
                    ));
                }
                first_block.get_or_insert(ts);
                last_block = Some(ts);
                blocks += 1;
            }
            id::VOID
            | id::CRC32
            | id::POSITION
            | id::PREV_SIZE
            | id::SILENT_TRACKS
            | id::ENCRYPTED_BLOCK => {}
            _ => break,
        }
        pos = end;
    }

    let keep = |run: &mut Run| {
        run.clusters += 1;
        run.blocks += blocks;
        if run.first_block.is_none() {
            run.first_block = first_block;
        }
        if last_block.is_some() {
            run.last_block = last_block;
        }
        if let (Some((track, keyframe, relative_pos)), Some(time)) = (first, cluster_ts) {
            if timeline.cue_worthy(track, keyframe) {
                run.cues.push(CueEntry {
                    time,
                    track,
                    cluster_pos: cluster.start,
                    relative_pos,
                });
            }
        }
    };
    if clean {
        keep(run);
        return Ok(ClusterEnd::Continue(pos));
    }
    // Damaged inside, yet its size leads to another cluster: cover the damage (from the end
    // of the last good block, or the whole cluster if it has none) with a Void, and go on.
    if let Some(end) = declared_end.filter(|&end| end < seg_end) {
        let from = if blocks > 0 { pos } else { cluster.start };
        if end - from >= 2 && next_is_cluster(r, end, seg_end)? {
            if blocks > 0 {
                keep(run);
            } else {
                *timeline = before;
            }
            run.fixes.push((from, void_header(end - from)));
            run.voided += end - from;
            return Ok(ClusterEnd::Continue(end));
        }
    }
    // Cut: keep the complete blocks if the size can be rewritten in place.
    if blocks > 0 && cluster.size_len == 8 {
        if let Some(size) = encode_size(pos - cluster.data_start, 8) {
            keep(run);
            run.fixes.push((cluster.size_pos(), size.to_vec()));
            return Ok(ClusterEnd::Cut(pos));
        }
    }
    *timeline = before;
    Ok(ClusterEnd::Cut(cluster.start))
}

/// Whether a Cluster header starts at `pos`.
fn next_is_cluster(r: &mut Reader<&File>, pos: u64, seg_end: u64) -> Result<bool, MkvError> {
    r.seek_to(pos)?;
    match r.raw_header(seg_end) {
        Ok(header) => Ok(header.id == id::CLUSTER),
        Err(ReadError::Bad(_)) => Ok(false),
        Err(ReadError::Io(err)) => Err(err.into()),
    }
}

/// Ids that end an unknown-size cluster.
fn is_top_level(element: u32) -> bool {
    matches!(
        element,
        id::CLUSTER
            | id::CUES
            | id::TAGS
            | id::CHAPTERS
            | id::ATTACHMENTS
            | id::SEEK_HEAD
            | id::INFO
            | id::TRACKS
            | id::SEGMENT
            | id::EBML
    )
}

/// Reads the header of a SimpleBlock, or of the Block in a BlockGroup. `Ok(None)` if it is not
/// a valid block.
fn read_block(r: &mut Reader<&File>, element: &Header) -> Result<Option<BlockHead>, ReadError> {
    if element.id == id::SIMPLE_BLOCK {
        return read_block_head(r, element, true);
    }
    let mut block = None;
    let mut referenced = false;
    for_children(r, element, |_, child| {
        match child.id {
            id::BLOCK if block.is_none() => block = Some(*child),
            id::REFERENCE_BLOCK => referenced = true,
            _ => {}
        }
        Ok(())
    })?;
    let Some(block) = block else { return Ok(None) };
    Ok(read_block_head(r, &block, false)?.map(|mut head| {
        head.keyframe = !referenced;
        head
    }))
}

fn read_block_head(
    r: &mut Reader<&File>,
    element: &Header,
    simple: bool,
) -> Result<Option<BlockHead>, ReadError> {
    let size = element.size.unwrap_or(0);
    let mut bytes = [0u8; BLOCK_HEAD];
    let n = size.min(BLOCK_HEAD as u64) as usize;
    r.seek_to(element.data_start)?;
    r.read_exact(&mut bytes[..n])?;
    let bytes = &bytes[..n];
    let Some(track) = super::ebml::decode_size(bytes) else {
        return Ok(None);
    };
    let Some(number) = track.value else {
        return Ok(None);
    };
    // Track, timestamp, flags, and at least one byte of payload.
    if size < track.len as u64 + 4 {
        return Ok(None);
    }
    let relative = i16::from_be_bytes([bytes[track.len], bytes[track.len + 1]]);
    let flags = bytes[track.len + 2];
    let payload = &bytes[track.len + 3..];
    let mut head = [0u8; 2];
    let head_len = payload.len().min(2);
    head[..head_len].copy_from_slice(&payload[..head_len]);
    Ok(Some(BlockHead {
        track: number,
        relative,
        keyframe: simple && flags & 0x80 != 0,
        head,
        head_len,
    }))
}
