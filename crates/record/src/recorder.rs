//! The recorder of one recording: from a room's tap messages to files on one timeline.
//!
//! Each track is depacketized (reordered, loss handled) into frames; each frame's RTP time is
//! mapped to the publisher's wall clock with its RTCP sender reports, then to the recording's
//! timeline (milliseconds since the recording started). Frames go to one file per publisher and
//! group: camera + microphone in one file, the screen share in another. A file starts on a video
//! keyframe (or the first audio frame when the group has no video); when its set of tracks
//! changes (a camera is added, a track stops, a publisher reconnects) the file is finalized and
//! the next one starts, so every file has fixed tracks and its own start on the timeline.
//!
//! The recorder does file I/O but reads no clock: the driver ([`crate::task`]) passes `now`.
//! What the catalogue must know goes through [`Catalogue`], synchronously, *before* a file is
//! created, so the catalogue never misses a file that exists and recovery can find it.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use lectern_proto::{PeerId, RecordingId, Source, TrackId};
use lectern_sfu::codec::Codec;
use lectern_sfu::TapMsg;

use crate::clock::{PublisherClock, TrackClock};
use crate::depack::Depacketizer;
use crate::mkv::{FileSummary, MkvWriter, TrackKind, TrackSpec, VideoCodec, WriterOptions};

/// How long frames wait for their track's first sender report before arrival times are used.
const REPORT_WAIT: Duration = Duration::from_secs(3);
/// Frames held per track while waiting for a report (bounded memory, ~3 s of 60 fps video).
const MAX_PENDING: usize = 256;
/// How long a frame may wait in a file's interleaving buffer for the other track.
const INTERLEAVE_WAIT_MS: u64 = 400;
/// How long frames wait for a track of their file that has not delivered any frame yet (its
/// frames may still be waiting for its first sender report).
const FIRST_FRAME_WAIT_MS: u64 = 3_500;
/// Frames held in one file's interleaving buffer, at most.
const MAX_INTERLEAVE: usize = 1024;
/// How often files are flushed and synced, and progress reported.
pub const FLUSH_EVERY: Duration = Duration::from_secs(1);
const PROGRESS_EVERY: Duration = Duration::from_secs(5);
/// Minimum spacing of the recorder's own keyframe requests for one track.
const KEYFRAME_RETRY: Duration = Duration::from_millis(500);

/// Which file of a publisher a track goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Group {
    /// Camera and microphone.
    Camera,
    /// Screen share.
    Screen,
}

impl Group {
    pub fn of(source: Source) -> Group {
        match source {
            Source::Camera | Source::Microphone => Group::Camera,
            Source::Screen => Group::Screen,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Group::Camera => "camera",
            Group::Screen => "screen",
        }
    }
}

/// A file the recorder is about to create.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenedFile {
    /// Unique id (used in URLs).
    pub id: String,
    pub recording: RecordingId,
    pub group: Group,
    /// The publisher's display name.
    pub publisher: String,
    /// The publisher's connection (who it was is in the server's member log).
    pub peer: PeerId,
    /// The name inside the recording's folder.
    pub file_name: String,
    pub mime: &'static str,
    /// JSON: `[{"source": "camera", "codec": "vp8"}, …]`.
    pub tracks_json: String,
    /// Where the file starts on the recording's timeline.
    pub start_ms: u64,
}

/// Where the recorder reports what it writes. Calls are synchronous and rare (a few per file);
/// an error from [`Catalogue::file_opened`] means the file is not created.
pub trait Catalogue: Send + Sync {
    fn file_opened(&self, file: &OpenedFile) -> Result<(), String>;
    /// Progress of a file being written (a few times a minute).
    fn file_progress(&self, file_id: &str, duration_ms: u64, bytes: u64);
    /// A file is complete (`Ok`) or could not be completed (`Err`): then it is either absent
    /// (never created) or left on disk for the recovery of the next start.
    fn file_closed(&self, file_id: &str, result: Result<&FileSummary, &str>);
    /// A timed event of the recording (`at_ms` on its timeline; `data` is JSON).
    fn event(&self, recording: RecordingId, at_ms: u64, kind: &str, data: &str);
    /// The recording is over: `error` when it failed.
    fn finished(&self, recording: RecordingId, duration_ms: u64, error: Option<&str>);
}

/// What the recorder asks of the room.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// A keyframe on this track.
    Keyframe(TrackId),
}

/// Counters of one recording.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RecorderStats {
    pub packets: u64,
    pub frames_written: u64,
    /// Frames dropped: incomplete, waiting for a keyframe, too late, or without a file.
    pub frames_dropped: u64,
    pub files: u64,
    pub bytes: u64,
}

/// A frame ready for a file, on the recording's timeline.
#[derive(Debug)]
struct TimedFrame {
    at_ms: u64,
    track: TrackId,
    keyframe: bool,
    data: Vec<u8>,
    dimensions: Option<(u16, u16)>,
}

/// A frame waiting for its track's first sender report.
#[derive(Debug)]
struct PendingFrame {
    rtp_ts: u32,
    keyframe: bool,
    data: Vec<u8>,
    dimensions: Option<(u16, u16)>,
    arrival: Instant,
}

struct TrackState {
    source: Source,
    publisher: PeerId,
    name: String,
    codec: Codec,
    clock_rate: u32,
    channels: u16,
    depack: Depacketizer,
    clock: TrackClock,
    pending: VecDeque<PendingFrame>,
    /// The last frame time given to a file, to keep each track monotonic.
    last_ms: Option<u64>,
    last_keyframe_request: Option<Instant>,
}

impl TrackState {
    fn group_key(&self) -> (PeerId, Group) {
        (self.publisher, Group::of(self.source))
    }
}

struct OpenFile {
    id: String,
    path: PathBuf,
    writer: MkvWriter,
    /// Its tracks with their Matroska track numbers.
    tracks: Vec<(TrackId, u64)>,
    start_ms: u64,
    /// Frames waiting to be written in time order.
    interleave: BinaryHeap<Reverse<(u64, u64, usize)>>,
    slots: Vec<Option<TimedFrame>>,
    free: Vec<usize>,
    next_order: u64,
    /// The newest frame time seen per track (the interleaving watermark).
    seen: HashMap<TrackId, u64>,
    /// The time of the last frame written; anything older comes too late for the file.
    written_ms: u64,
    last_progress: Instant,
}

/// The recorder of one recording.
pub struct Recorder {
    recording: RecordingId,
    dir: PathBuf,
    started: SystemTime,
    started_at: Instant,
    catalogue: std::sync::Arc<dyn Catalogue>,
    options: WriterOptions,
    tracks: HashMap<TrackId, TrackState>,
    publishers: HashMap<PeerId, PublisherClock>,
    files: HashMap<(PeerId, Group), OpenFile>,
    file_counter: HashMap<Group, u32>,
    requests: Vec<Request>,
    last_flush: Instant,
    error: Option<String>,
    stats: RecorderStats,
    /// Reused frame buffers.
    pool: Vec<Vec<u8>>,
}

impl Recorder {
    /// A recorder writing into `dir` (created if needed); the recording's timeline starts at
    /// `started` (wall clock) = `started_at` (monotonic clock).
    pub fn new(
        recording: RecordingId,
        dir: &Path,
        started: SystemTime,
        started_at: Instant,
        catalogue: std::sync::Arc<dyn Catalogue>,
    ) -> std::io::Result<Recorder> {
        std::fs::create_dir_all(dir)?;
        Ok(Recorder {
            recording,
            dir: dir.to_path_buf(),
            started,
            started_at,
            catalogue,
            options: WriterOptions::default(),
            tracks: HashMap::new(),
            publishers: HashMap::new(),
            files: HashMap::new(),
            file_counter: HashMap::new(),
            requests: Vec::new(),
            last_flush: started_at,
            error: None,
            stats: RecorderStats::default(),
            pool: Vec::new(),
        })
    }

    pub fn stats(&self) -> RecorderStats {
        self.stats
    }

    pub fn recording(&self) -> RecordingId {
        self.recording
    }

    /// Why the recorder failed (it then records nothing more).
    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }

    /// What the room should do for the recorder.
    pub fn poll_request(&mut self) -> Option<Request> {
        self.requests.pop()
    }

    /// One message from the room. Returns `false` after [`TapMsg::Stop`].
    pub fn handle(&mut self, now: Instant, msg: TapMsg) -> bool {
        if self.error.is_some() {
            // After a failure nothing more is recorded; the stop still reports the end.
            if matches!(msg, TapMsg::Stop) {
                self.stop(now);
                return false;
            }
            return true;
        }
        match msg {
            TapMsg::Track {
                track,
                source,
                publisher,
                name,
                codec,
                clock_rate,
                channels,
            } => {
                // A known track announced again has a new source: its sequence numbers and
                // clock start afresh, and its file ends.
                if self.tracks.contains_key(&track) {
                    self.end_track(now, track);
                }
                self.tracks.insert(
                    track,
                    TrackState {
                        source,
                        publisher,
                        name,
                        codec,
                        clock_rate: clock_rate.max(1),
                        channels,
                        depack: Depacketizer::new(codec, clock_rate.max(1)),
                        clock: TrackClock::new(clock_rate.max(1)),
                        pending: VecDeque::new(),
                        last_ms: None,
                        last_keyframe_request: None,
                    },
                );
                // A video track joining a group whose file lacks it starts a new file on its
                // first keyframe (see `place`).
            }
            TapMsg::Rtp {
                track,
                seq,
                ts,
                marker,
                payload,
                at,
            } => {
                self.stats.packets += 1;
                self.on_rtp(now, track, seq, ts, marker, payload, at);
            }
            TapMsg::SenderReport {
                track,
                ntp,
                rtp,
                at,
            } => {
                let Some(t) = self.tracks.get_mut(&track) else {
                    return true;
                };
                t.clock.on_sender_report(ntp, rtp);
                let arrival = unix_us(at);
                self.publishers
                    .entry(t.publisher)
                    .or_default()
                    .observe(ntp, arrival);
                self.release_pending(now, track);
            }
            TapMsg::TrackEnded { track } => self.end_track(now, track),
            TapMsg::Event { kind, data, at } => {
                let at_ms = at
                    .duration_since(self.started)
                    .map_or(0, |d| d.as_millis() as u64);
                self.catalogue.event(self.recording, at_ms, kind, &data);
            }
            TapMsg::Stop => {
                self.stop(now);
                return false;
            }
        }
        self.check_failed();
        true
    }

    /// Periodic work: frames behind a permanent gap, frames that waited too long for a report,
    /// interleaving deadlines, flushing and syncing, progress.
    pub fn tick(&mut self, now: Instant) {
        if self.error.is_some() {
            return;
        }
        let ids: Vec<TrackId> = self.tracks.keys().copied().collect();
        for id in ids {
            if let Some(t) = self.tracks.get_mut(&id) {
                t.depack.tick(now);
            }
            self.drain_track(now, id);
            self.release_pending(now, id);
        }
        let keys: Vec<(PeerId, Group)> = self.files.keys().copied().collect();
        for key in &keys {
            self.write_ready(*key, false);
        }
        if now.duration_since(self.last_flush) >= FLUSH_EVERY {
            self.last_flush = now;
            for key in keys {
                let Some(f) = self.files.get_mut(&key) else {
                    continue;
                };
                if let Err(e) = f.writer.flush() {
                    let msg = format!("writing {}: {e}", f.path.display());
                    self.fail(msg);
                    break;
                }
                if now.duration_since(f.last_progress) >= PROGRESS_EVERY {
                    f.last_progress = now;
                    self.catalogue.file_progress(
                        &f.id,
                        f.writer.duration_ms(),
                        f.writer.bytes_written(),
                    );
                }
            }
        }
        self.check_failed();
    }

    /// Finalizes every file and reports the recording as finished.
    pub fn stop(&mut self, now: Instant) {
        for (id, t) in &self.tracks {
            let d = t.depack.stats();
            tracing::info!(
                "recording {}: track {id} ({:?}): {} frames, {} dropped, {} packets lost, {} late",
                self.recording,
                t.codec,
                d.frames_out,
                d.frames_dropped,
                d.packets_lost,
                d.late
            );
        }
        tracing::info!("recording {}: {:?}", self.recording, self.stats);
        let keys: Vec<(PeerId, Group)> = self.files.keys().copied().collect();
        for key in keys {
            self.close_file(key);
        }
        let duration = now.saturating_duration_since(self.started_at).as_millis() as u64;
        self.catalogue
            .finished(self.recording, duration, self.error.as_deref());
    }

    // ------------------------------------------------------------------------------------------

    #[allow(clippy::too_many_arguments)]
    fn on_rtp(
        &mut self,
        now: Instant,
        track: TrackId,
        seq: u16,
        ts: u32,
        marker: bool,
        payload: Bytes,
        at: Instant,
    ) {
        let Some(t) = self.tracks.get_mut(&track) else {
            return;
        };
        t.depack.push(seq, ts, marker, payload, at);
        self.drain_track(now, track);
    }

    /// Takes the complete frames out of a track's depacketizer.
    fn drain_track(&mut self, now: Instant, track: TrackId) {
        loop {
            let Some(t) = self.tracks.get_mut(&track) else {
                return;
            };
            let mut buf = self.pool.pop().unwrap_or_default();
            let Some(frame) = t.depack.pop() else {
                self.pool.push(buf);
                break;
            };
            buf.clear();
            buf.extend_from_slice(frame.data);
            let pending = PendingFrame {
                rtp_ts: frame.rtp_ts,
                keyframe: frame.keyframe,
                data: buf,
                dimensions: frame.dimensions,
                arrival: now,
            };
            if t.clock.has_report() && t.pending.is_empty() {
                self.place(now, track, pending);
            } else {
                if t.pending.len() >= MAX_PENDING {
                    if let Some(old) = t.pending.pop_front() {
                        self.stats.frames_dropped += 1;
                        self.pool.push(old.data);
                    }
                }
                t.pending.push_back(pending);
            }
        }
        let wants = self
            .tracks
            .get(&track)
            .is_some_and(|t| t.codec.is_video() && t.depack.wants_keyframe());
        if wants {
            self.ask_keyframe(now, track);
        }
    }

    /// Frames that waited for a sender report go on once one came, or after [`REPORT_WAIT`]
    /// with a clock taken from their arrival times.
    fn release_pending(&mut self, now: Instant, track: TrackId) {
        let (started, started_at) = (self.started, self.started_at);
        let Some(t) = self.tracks.get_mut(&track) else {
            return;
        };
        let Some(first) = t.pending.front() else {
            return;
        };
        if !t.clock.has_report() {
            if now.saturating_duration_since(first.arrival) < REPORT_WAIT {
                return;
            }
            // No report in time: the arrival time of the first frame stands in for its
            // capture time.
            tracing::warn!(
                "recording {}: no sender report for track {track}; using arrival times",
                self.recording
            );
            let arrival_unix = unix_us(system_time(started, started_at, first.arrival));
            let ntp = ntp_from_unix_us(arrival_unix);
            t.clock.on_sender_report(ntp, first.rtp_ts);
            self.publishers
                .entry(t.publisher)
                .or_default()
                .observe(ntp, arrival_unix);
        }
        let frames: Vec<PendingFrame> = t.pending.drain(..).collect();
        for f in frames {
            self.place(now, track, f);
        }
    }

    /// A frame with a known clock: onto the timeline and into its group's file.
    fn place(&mut self, now: Instant, track: TrackId, f: PendingFrame) {
        let Some(t) = self.tracks.get_mut(&track) else {
            self.pool.push(f.data);
            return;
        };
        let local_us = t
            .clock
            .ntp_us(f.rtp_ts)
            .and_then(|ntp| self.publishers.get(&t.publisher)?.to_local_unix_us(ntp));
        let start_us = unix_us(self.started);
        let Some(local_us) = local_us.filter(|us| *us >= start_us) else {
            // Before the recording started (or unmappable).
            self.stats.frames_dropped += 1;
            self.pool.push(f.data);
            return;
        };
        let mut at_ms = (local_us - start_us) / 1000;
        // Strictly increasing per track: decoders take equal or decreasing times as errors.
        if let Some(last) = t.last_ms {
            at_ms = at_ms.max(last + 1);
        }
        t.last_ms = Some(at_ms);
        let key = t.group_key();
        let is_video = t.codec.is_video();
        let frame = TimedFrame {
            at_ms,
            track,
            keyframe: f.keyframe,
            data: f.data,
            dimensions: f.dimensions,
        };
        // The common case: the group's file has this track.
        if let Some(file) = self.files.get(&key) {
            if file.tracks.iter().any(|(id, _)| *id == track) {
                self.queue(key, frame);
                return;
            }
            // A new track in the group: a new file starts at its keyframe.
            if is_video && frame.keyframe {
                self.close_file(key);
            } else {
                if is_video {
                    self.ask_keyframe(now, track);
                }
                self.drop_frame(frame);
                return;
            }
        }
        // No file: start one on a video keyframe, or on audio when the group has no video.
        let wanted = self.group_tracks(key);
        let has_video = wanted
            .iter()
            .any(|id| self.tracks.get(id).is_some_and(|t| t.codec.is_video()));
        let can_start = if has_video {
            is_video && frame.keyframe
        } else {
            true
        };
        if !can_start {
            if has_video {
                if let Some(video) = wanted
                    .iter()
                    .find(|id| self.tracks.get(id).is_some_and(|t| t.codec.is_video()))
                {
                    self.ask_keyframe(now, *video);
                }
            }
            self.drop_frame(frame);
            return;
        }
        if self.open_file(now, key, &wanted, &frame).is_ok() {
            self.queue(key, frame);
        } else {
            self.drop_frame(frame);
        }
    }

    fn drop_frame(&mut self, frame: TimedFrame) {
        self.stats.frames_dropped += 1;
        self.pool.push(frame.data);
    }

    /// The live tracks of a publisher's group, video first.
    fn group_tracks(&self, key: (PeerId, Group)) -> Vec<TrackId> {
        let mut ids: Vec<(bool, Source, TrackId)> = self
            .tracks
            .iter()
            .filter(|(_, t)| t.group_key() == key)
            .map(|(id, t)| (!t.codec.is_video(), t.source, *id))
            .collect();
        ids.sort();
        ids.into_iter().map(|(_, _, id)| id).collect()
    }

    fn open_file(
        &mut self,
        now: Instant,
        key: (PeerId, Group),
        tracks: &[TrackId],
        first: &TimedFrame,
    ) -> Result<(), ()> {
        let mut specs = Vec::new();
        let mut numbers = Vec::new();
        let mut described = Vec::new();
        let mut matroska = false;
        let mut audio_only = true;
        let mut publisher = String::new();
        for (i, id) in tracks.iter().enumerate() {
            let Some(t) = self.tracks.get(id) else {
                continue;
            };
            publisher.clone_from(&t.name);
            let number = i as u64 + 1;
            let kind = match t.codec {
                Codec::Opus => TrackKind::Audio {
                    sample_rate: t.clock_rate,
                    channels: t.channels.clamp(1, 2) as u8,
                },
                video => {
                    audio_only = false;
                    let (width, height) = if *id == first.track {
                        first.dimensions.unwrap_or((640, 480))
                    } else {
                        (640, 480)
                    };
                    let codec = match video {
                        Codec::Vp8 => VideoCodec::Vp8,
                        Codec::Vp9 => VideoCodec::Vp9,
                        _ => {
                            matroska = true;
                            VideoCodec::H264
                        }
                    };
                    TrackKind::Video {
                        codec,
                        width,
                        height,
                        codec_private: t.depack.avcc().map(|a| a.to_vec()),
                    }
                }
            };
            described.push(serde_json::json!({
                "number": number,
                "source": source_name(t.source),
                "codec": codec_name(t.codec),
            }));
            specs.push(TrackSpec {
                number,
                name: source_name(t.source).to_string(),
                kind,
            });
            numbers.push((*id, number));
        }
        if specs.is_empty() {
            return Err(());
        }
        let n = self.file_counter.entry(key.1).or_insert(0);
        *n += 1;
        let ext = if matroska { "mkv" } else { "webm" };
        let file_name = format!("{}-{}.{ext}", key.1.as_str(), n);
        let mime = match (matroska, audio_only) {
            (true, _) => "video/x-matroska",
            (false, true) => "audio/webm",
            (false, false) => "video/webm",
        };
        let opened = OpenedFile {
            id: uuid_like(),
            recording: self.recording,
            group: key.1,
            publisher,
            peer: key.0,
            file_name: file_name.clone(),
            mime,
            tracks_json: serde_json::Value::Array(described).to_string(),
            start_ms: first.at_ms,
        };
        if let Err(e) = self.catalogue.file_opened(&opened) {
            self.fail(format!("cataloguing {file_name}: {e}"));
            return Err(());
        }
        let path = self.dir.join(&file_name);
        let writer = match MkvWriter::create(&path, specs, self.options.clone()) {
            Ok(w) => w,
            Err(e) => {
                let msg = format!("creating {}: {e}", path.display());
                self.catalogue.file_closed(&opened.id, Err(&msg));
                self.fail(msg);
                return Err(());
            }
        };
        self.stats.files += 1;
        self.files.insert(
            key,
            OpenFile {
                id: opened.id,
                path,
                writer,
                tracks: numbers,
                start_ms: first.at_ms,
                interleave: BinaryHeap::new(),
                slots: Vec::new(),
                free: Vec::new(),
                next_order: 0,
                seen: HashMap::new(),
                written_ms: 0,
                last_progress: now,
            },
        );
        Ok(())
    }

    /// Queues a frame in its file's interleaving buffer and writes what is ready.
    fn queue(&mut self, key: (PeerId, Group), frame: TimedFrame) {
        let Some(f) = self.files.get_mut(&key) else {
            self.drop_frame(frame);
            return;
        };
        if frame.at_ms < f.start_ms.max(f.written_ms) {
            self.drop_frame(frame);
            return;
        }
        let seen = f.seen.entry(frame.track).or_insert(frame.at_ms);
        *seen = (*seen).max(frame.at_ms);
        let at = frame.at_ms;
        let slot = match f.free.pop() {
            Some(i) => {
                f.slots[i] = Some(frame);
                i
            }
            None => {
                f.slots.push(Some(frame));
                f.slots.len() - 1
            }
        };
        f.interleave.push(Reverse((at, f.next_order, slot)));
        f.next_order += 1;
        let force = f.interleave.len() > MAX_INTERLEAVE;
        self.write_ready(key, force);
    }

    /// Writes the frames of a file that no other track can precede any more: those at or
    /// before every track's newest frame, or older than the interleaving wait.
    fn write_ready(&mut self, key: (PeerId, Group), all: bool) {
        let Some(f) = self.files.get_mut(&key) else {
            return;
        };
        let newest = f.seen.values().copied().max().unwrap_or(0);
        let all_seen = f.seen.len() >= f.tracks.len();
        let watermark = if all_seen {
            f.seen.values().copied().min().unwrap_or(0)
        } else {
            0
        };
        let wait = if all_seen {
            INTERLEAVE_WAIT_MS
        } else {
            FIRST_FRAME_WAIT_MS
        };
        let mut failed = None;
        while let Some(Reverse((at, _, slot))) = f.interleave.peek().copied() {
            if !all && at > watermark && at + wait > newest {
                break;
            }
            f.interleave.pop();
            let Some(frame) = f.slots.get_mut(slot).and_then(Option::take) else {
                continue;
            };
            f.free.push(slot);
            let number = f
                .tracks
                .iter()
                .find(|(id, _)| *id == frame.track)
                .map(|(_, n)| *n);
            if let Some(number) = number {
                match f.writer.write_frame(
                    number,
                    frame.at_ms - f.start_ms,
                    frame.keyframe,
                    &frame.data,
                ) {
                    Ok(()) => {
                        self.stats.frames_written += 1;
                        f.written_ms = f.written_ms.max(frame.at_ms);
                    }
                    Err(e) => failed = Some(format!("writing {}: {e}", f.path.display())),
                }
            }
            self.pool.push(frame.data);
            if failed.is_some() {
                break;
            }
        }
        if let Some(e) = failed {
            self.fail(e);
        }
    }

    /// A track stopped: its file ends (the group's other tracks start a new one).
    fn end_track(&mut self, _now: Instant, track: TrackId) {
        let Some(t) = self.tracks.remove(&track) else {
            return;
        };
        let key = t.group_key();
        for f in t.pending {
            self.pool.push(f.data);
        }
        if self
            .files
            .get(&key)
            .is_some_and(|f| f.tracks.iter().any(|(id, _)| *id == track))
        {
            self.close_file(key);
        }
    }

    /// Writes what is queued and finalizes a file.
    fn close_file(&mut self, key: (PeerId, Group)) {
        self.write_ready(key, true);
        let Some(f) = self.files.remove(&key) else {
            return;
        };
        match f.writer.finalize() {
            Ok(summary) => {
                self.stats.bytes += summary.bytes;
                self.catalogue.file_closed(&f.id, Ok(&summary));
            }
            Err(e) => {
                // What reached the disk may still be playable.
                let msg = format!("finalizing {}: {e}", f.path.display());
                match crate::mkv::recover(&f.path) {
                    Ok(r) => self.catalogue.file_closed(&f.id, Ok(&r.summary)),
                    // Not even that (the disk is full): the file stays as it is, and the
                    // next start's recovery repairs it once there is room.
                    Err(_) => self.catalogue.file_closed(&f.id, Err(&msg)),
                }
                self.fail(msg);
            }
        }
    }

    fn ask_keyframe(&mut self, now: Instant, track: TrackId) {
        let Some(t) = self.tracks.get_mut(&track) else {
            return;
        };
        if t.last_keyframe_request
            .is_some_and(|at| now.saturating_duration_since(at) < KEYFRAME_RETRY)
        {
            return;
        }
        t.last_keyframe_request = Some(now);
        self.requests.push(Request::Keyframe(track));
    }

    fn fail(&mut self, message: String) {
        if self.error.is_none() {
            tracing::error!("recording {}: {message}", self.recording);
            self.error = Some(message);
        }
    }

    /// After a failure, the files are closed as far as possible and nothing more is written.
    fn check_failed(&mut self) {
        if self.error.is_none() || self.files.is_empty() {
            return;
        }
        let keys: Vec<(PeerId, Group)> = self.files.keys().copied().collect();
        for key in keys {
            self.close_file(key);
        }
    }
}

/// The wall-clock time of a monotonic instant, given one moment known on both clocks.
fn system_time(started: SystemTime, started_at: Instant, at: Instant) -> SystemTime {
    match at.checked_duration_since(started_at) {
        Some(d) => started + d,
        None => started - started_at.duration_since(at),
    }
}

fn source_name(s: Source) -> &'static str {
    match s {
        Source::Camera => "camera",
        Source::Microphone => "microphone",
        Source::Screen => "screen",
    }
}

fn codec_name(c: Codec) -> &'static str {
    match c {
        Codec::Vp8 => "vp8",
        Codec::Vp9 => "vp9",
        Codec::H264 => "h264",
        Codec::Opus => "opus",
    }
}

fn uuid_like() -> String {
    let bytes: [u8; 16] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Microseconds since the UNIX epoch.
pub fn unix_us(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// A 64-bit NTP timestamp for a UNIX time in microseconds.
pub fn ntp_from_unix_us(us: u64) -> u64 {
    crate::clock::ntp_from_us(us + crate::clock::NTP_UNIX_OFFSET_SECS * 1_000_000)
}
