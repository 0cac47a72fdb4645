//! From one track's RTP packets to whole frames, ready for a Matroska block.
//!
//! ```text
//!  push(seq, ts, marker, payload, arrival)
//!     │
//!     ▼
//!  reorder (reorder.rs)      sequence order, duplicates dropped, gaps given up after a window
//!     │  packet | gap
//!     ▼
//!  frame assembly            one RTP timestamp = one frame, from its first packet to the marker,
//!     │                      payload descriptors stripped (vp8.rs, vp9.rs), H.264 rewritten as
//!     │                      length-prefixed NAL units (h264.rs); keyframe gating
//!     ▼
//!  pop() → Frame { rtp_ts, keyframe, data, dimensions }
//! ```
//!
//! A video frame comes out only if every one of its packets arrived. Once a frame is lost, the
//! frames after it cannot be decoded until the next keyframe, so delta frames are dropped until
//! then and [`Depacketizer::wants_keyframe`] asks for one; a file also starts on a keyframe, so
//! delta frames before the first one are dropped too. A loss between two VP8/VP9 frames whose
//! picture ids are consecutive lost no frame (padding, say) and breaks nothing. Opus packets are
//! frames on their own; a lost one is just skipped.
//!
//! The depacketizer is a pure state machine: time is passed in (`arrival`, `now`), nothing is
//! read from a clock, nothing blocks. Untrusted payloads never make it panic, and its memory is
//! bounded: at most 512 packets held, a frame of at most [`MAX_FRAME`] bytes,
//! at most [`MAX_BUFFERED`] bytes of frames not yet popped.
//!
//! Frames are assembled into one reused buffer and handed out as borrowed slices; after warm-up,
//! no allocation happens per packet.

mod bits;
mod h264;
mod reorder;
mod vp8;
mod vp9;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod testutil;

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;
use lectern_sfu::codec::Codec;

use self::h264::{AuInfo, H264};
use self::reorder::{Released, Reorder};

/// Largest frame kept; bigger ones are dropped (as lost).
pub const MAX_FRAME: usize = 4 << 20;
/// Largest total of assembled frames waiting to be popped, the frame being built included.
pub const MAX_BUFFERED: usize = 16 << 20;
/// Most frames waiting to be popped.
const MAX_READY: usize = 1024;
/// Largest RTP payload accepted (a UDP datagram cannot carry more).
pub const MAX_PAYLOAD: usize = 65_536;

/// How long a missing packet is waited for once a later one arrived.
pub const VIDEO_REORDER_WINDOW: Duration = Duration::from_millis(200);
/// The same for audio, which must not lag behind for long.
pub const AUDIO_REORDER_WINDOW: Duration = Duration::from_millis(100);

/// One complete frame, borrowed from the depacketizer until the next call that changes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    pub rtp_ts: u32,
    /// Decodable on its own (always true for audio).
    pub keyframe: bool,
    /// VP8/VP9: the codec bitstream (descriptors stripped; for VP9 the layer frames of all
    /// spatial layers of the picture, concatenated). H.264: the access unit as NAL units each
    /// prefixed with a 4-byte big-endian length (AVCC). Opus: the packet.
    pub data: &'a [u8],
    /// Picture size, when this frame declares one: VP8 keyframes, VP9 pictures with a
    /// scalability structure (or a single-layer key frame), H.264 access units with an SPS.
    pub dimensions: Option<(u16, u16)>,
}

/// Counters, cumulative since creation.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DepackStats {
    /// Frames handed out by [`Depacketizer::pop`].
    pub frames_out: u64,
    /// Frames dropped: incomplete, malformed, too large, or delta frames while waiting for a
    /// keyframe.
    pub frames_dropped: u64,
    /// Packets given up as lost.
    pub packets_lost: u64,
    /// Packets received twice.
    pub duplicates: u64,
    /// Packets that arrived after a later one and were still in time.
    pub reordered: u64,
    /// Packets that arrived after their place was given up or passed.
    pub late: u64,
    /// Packets whose payload could not be parsed.
    pub malformed: u64,
    /// Sequence number discontinuities taken for a restarted stream.
    pub resets: u64,
}

/// A VP8/VP9 picture id, 7 or 15 bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PicId {
    value: u16,
    bits: u8,
}

impl PicId {
    pub(crate) fn new(value: u16, bits: u8) -> Self {
        PicId { value, bits }
    }

    /// Is `next` the picture right after this one (compared on the shorter width)?
    fn followed_by(self, next: PicId) -> bool {
        let mask = (1u16 << self.bits.min(next.bits).min(15)) - 1;
        self.value.wrapping_add(1) & mask == next.value & mask
    }
}

/// Depacketizes one track. See the module documentation.
pub struct Depacketizer {
    reorder: Reorder,
    asm: Assembler,
    clock_rate: u32,
}

impl std::fmt::Debug for Depacketizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Depacketizer")
            .field("codec", &self.asm.codec)
            .field("clock_rate", &self.clock_rate)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl Depacketizer {
    /// A depacketizer with the default reorder window: [`VIDEO_REORDER_WINDOW`] for video,
    /// [`AUDIO_REORDER_WINDOW`] for audio.
    pub fn new(codec: Codec, clock_rate: u32) -> Self {
        let window = if codec.is_video() {
            VIDEO_REORDER_WINDOW
        } else {
            AUDIO_REORDER_WINDOW
        };
        Depacketizer {
            reorder: Reorder::new(window),
            asm: Assembler::new(codec),
            clock_rate,
        }
    }

    /// Changes how long a missing packet is waited for.
    pub fn with_reorder_window(mut self, window: Duration) -> Self {
        self.reorder.set_window(window);
        self
    }

    pub fn codec(&self) -> Codec {
        self.asm.codec
    }

    /// The RTP clock rate of the track, as given at creation.
    pub fn clock_rate(&self) -> u32 {
        self.clock_rate
    }

    /// One RTP packet: its payload without the RTP header and without padding. A padding-only
    /// packet should still be pushed (with an empty payload) so its sequence number is not taken
    /// for a loss. Packets may arrive out of order, duplicated, or never.
    ///
    /// Takes the payload as [`Bytes`] so a packet that must wait for an earlier one is held
    /// without copying.
    pub fn push(&mut self, seq: u16, rtp_ts: u32, marker: bool, payload: Bytes, arrival: Instant) {
        self.asm.compact();
        let payload = (payload.len() <= MAX_PAYLOAD).then_some(payload);
        let asm = &mut self.asm;
        self.reorder
            .push(seq, rtp_ts, marker, payload, arrival, &mut |r| {
                asm.release(r)
            });
    }

    /// The next complete frame in order, if any. Call until `None` after each
    /// [`push`](Self::push) and [`tick`](Self::tick).
    pub fn pop(&mut self) -> Option<Frame<'_>> {
        let r = self.asm.ready.pop_front()?;
        Some(Frame {
            rtp_ts: r.ts,
            keyframe: r.keyframe,
            data: self.asm.buf.get(r.start..r.end).unwrap_or_default(),
            dimensions: r.dimensions,
        })
    }

    /// Gives up on missing packets that a later packet has waited for longer than the reorder
    /// window, so the frames behind a permanent gap come out.
    pub fn tick(&mut self, now: Instant) {
        self.asm.compact();
        let asm = &mut self.asm;
        self.reorder.tick(now, &mut |r| asm.release(r));
    }

    /// True while delta frames are being dropped for want of a keyframe (after a loss, or
    /// before the first keyframe once a delta frame was dropped). Cleared when a keyframe comes
    /// out. Never true for audio.
    pub fn wants_keyframe(&self) -> bool {
        self.asm.wants_keyframe
    }

    pub fn stats(&self) -> DepackStats {
        let r = self.reorder.stats;
        let a = self.asm.stats;
        DepackStats {
            frames_out: a.frames_out,
            frames_dropped: a.frames_dropped,
            packets_lost: r.lost,
            duplicates: r.duplicates,
            reordered: r.reordered,
            late: r.late,
            malformed: a.malformed,
            resets: r.resets,
        }
    }

    /// H.264 only: the avcC record (AVCDecoderConfigurationRecord) built from the latest SPS and
    /// PPS, once both were seen.
    pub fn avcc(&self) -> Option<&[u8]> {
        match self.asm.codec {
            Codec::H264 => self.asm.h264.avcc(),
            _ => None,
        }
    }

    /// Memory in use, for the tests' bounds: (frame buffer capacity, frames waiting, packets
    /// held).
    #[cfg(test)]
    fn footprint(&self) -> (usize, usize, usize) {
        (
            self.asm.buf.capacity(),
            self.asm.ready.len(),
            self.reorder.held(),
        )
    }
}

#[derive(Debug, Default, Clone, Copy)]
struct AssemblyStats {
    frames_out: u64,
    frames_dropped: u64,
    malformed: u64,
}

/// A frame waiting in `buf` to be popped.
struct Ready {
    ts: u32,
    keyframe: bool,
    dimensions: Option<(u16, u16)>,
    start: usize,
    end: usize,
}

/// The frame being put together, at `buf[start..]`.
struct Building {
    ts: u32,
    start: usize,
    keyframe: bool,
    dimensions: Option<(u16, u16)>,
    picture: Option<PicId>,
    /// VP9: inside a layer frame (B seen, E not yet).
    layer_open: bool,
    /// VP9: highest spatial layer seen in this picture.
    top_spatial: u8,
    /// VP9: size from the key frame header of the first layer frame.
    header_dimensions: Option<(u16, u16)>,
    /// H.264: what the NAL units so far revealed.
    au: AuInfo,
}

enum State {
    /// Between frames.
    Idle,
    Building(Building),
    /// Ignoring the rest of the frame with this timestamp (it is already lost).
    Skipping(u32),
}

/// Turns the ordered packet stream into frames (the second stage of the pipeline).
struct Assembler {
    codec: Codec,
    state: State,
    /// Delta frames are dropped until a keyframe comes out.
    need_keyframe: bool,
    wants_keyframe: bool,
    /// Packets were lost since the last frame boundary.
    gap: bool,
    /// Picture id of the last frame received whole.
    last_picture: Option<PicId>,
    /// Timestamp and marker of the previous packet, if no loss came after it.
    prev: Option<(u32, bool)>,
    h264: H264,
    /// Frames waiting to be popped, then the frame being built.
    buf: Vec<u8>,
    ready: VecDeque<Ready>,
    stats: AssemblyStats,
}

impl Assembler {
    fn new(codec: Codec) -> Self {
        Assembler {
            codec,
            state: State::Idle,
            need_keyframe: codec.is_video(),
            wants_keyframe: false,
            gap: false,
            last_picture: None,
            prev: None,
            h264: H264::default(),
            buf: Vec::new(),
            ready: VecDeque::new(),
            stats: AssemblyStats::default(),
        }
    }

    /// Reclaims the space of popped frames (only once all were popped, so offsets stay valid).
    fn compact(&mut self) {
        if !self.ready.is_empty() {
            return;
        }
        match &mut self.state {
            State::Building(b) => {
                if b.start > 0 {
                    self.buf.copy_within(b.start.., 0);
                    self.buf.truncate(self.buf.len() - b.start);
                    b.start = 0;
                }
            }
            _ => self.buf.clear(),
        }
    }

    fn release(&mut self, r: Released<'_>) {
        match r {
            Released::Gap => self.on_gap(),
            Released::Packet {
                ts,
                marker,
                payload,
            } => self.on_packet(ts, marker, payload),
        }
    }

    fn on_gap(&mut self) {
        self.prev = None;
        if matches!(self.state, State::Building(_)) {
            self.drop_frame();
        }
        self.gap = true;
    }

    fn on_packet(&mut self, ts: u32, marker: bool, payload: Option<&[u8]>) {
        let Some(p) = payload else {
            self.malformed();
            return;
        };
        if p.is_empty() {
            return; // padding: keeps the sequence, carries nothing
        }
        let prev = self.prev.replace((ts, marker));
        if self.codec == Codec::Opus {
            self.begin(ts, true, None, None);
            self.append(p);
            self.finish();
            return;
        }
        // A frame of another timestamp is over: dropped if its end never came.
        if matches!(&self.state, State::Building(b) if b.ts != ts) {
            self.drop_frame();
        }
        if matches!(self.state, State::Skipping(s) if s != ts) {
            self.state = State::Idle;
        }
        match self.codec {
            Codec::Vp8 => self.vp8(ts, marker, p),
            Codec::Vp9 => self.vp9(ts, marker, p),
            Codec::H264 => {
                let after_end = prev.is_some_and(|(t, m)| m || t != ts);
                self.h264(ts, marker, p, after_end)
            }
            Codec::Opus => {}
        }
    }

    fn vp8(&mut self, ts: u32, marker: bool, p: &[u8]) {
        let Some(d) = vp8::parse(p) else {
            self.malformed();
            return;
        };
        match self.state {
            State::Idle if d.start => self.begin(ts, d.keyframe, d.dimensions, d.picture_id),
            State::Idle => {
                self.lost_start(ts);
                return;
            }
            State::Skipping(_) => return,
            State::Building(_) if d.start => {
                // A second frame start with the same timestamp.
                self.malformed();
                return;
            }
            State::Building(_) => {}
        }
        if self.append(&p[d.body..]) && marker {
            self.finish();
        }
    }

    fn vp9(&mut self, ts: u32, marker: bool, p: &[u8]) {
        let Some(d) = vp9::parse(p) else {
            self.malformed();
            return;
        };
        let body = &p[d.body..];
        match &mut self.state {
            State::Idle if d.begin => {
                if self.gap && d.spatial > 0 {
                    // The lower layers of this picture may be what was lost.
                    self.mark_broken();
                }
                let header = vp9::frame_header(body);
                let keyframe =
                    !d.inter && d.spatial == 0 && header.as_ref().is_some_and(|h| h.keyframe);
                self.begin(ts, keyframe, d.ss_dimensions, d.picture_id);
                if let State::Building(b) = &mut self.state {
                    b.layer_open = true;
                    b.top_spatial = d.spatial;
                    b.header_dimensions = header.and_then(|h| h.dimensions);
                }
            }
            State::Idle => {
                self.lost_start(ts);
                return;
            }
            State::Skipping(_) => return,
            State::Building(b) => {
                if d.begin == b.layer_open {
                    // A layer frame starting inside another, or a continuation outside one.
                    self.malformed();
                    return;
                }
                b.layer_open = true;
                b.top_spatial = b.top_spatial.max(d.spatial);
                if b.dimensions.is_none() {
                    b.dimensions = d.ss_dimensions;
                }
            }
        }
        if !self.append(body) {
            return;
        }
        if let State::Building(b) = &mut self.state {
            if d.end {
                b.layer_open = false;
            }
        }
        if marker || (d.end && !d.layered) {
            self.finish();
        }
    }

    fn h264(&mut self, ts: u32, marker: bool, p: &[u8], after_end: bool) {
        match self.state {
            State::Idle if after_end || h264::starts_access_unit(p) => {
                self.begin(ts, false, None, None)
            }
            State::Idle => {
                self.lost_start(ts);
                return;
            }
            State::Skipping(_) => return,
            State::Building(_) => {}
        }
        // STAP-A grows by 2 bytes per NAL unit, FU-A by 5 bytes: bounded by twice the payload.
        if !self.fits(p.len() * 2 + 8) {
            return;
        }
        let State::Building(b) = &mut self.state else {
            return;
        };
        if self
            .h264
            .append(p, &mut self.buf, b.start, &mut b.au)
            .is_err()
        {
            self.malformed();
            return;
        }
        if marker {
            self.finish();
        }
    }

    /// Starts a frame (state must be idle).
    fn begin(
        &mut self,
        ts: u32,
        keyframe: bool,
        dimensions: Option<(u16, u16)>,
        picture: Option<PicId>,
    ) {
        if self.gap {
            // Loss since the last frame: harmless only if no picture is missing in between.
            let continuous = matches!((self.last_picture, picture),
                (Some(a), Some(b)) if a.followed_by(b));
            if !continuous {
                self.mark_broken();
            }
            self.gap = false;
        }
        self.h264.reset();
        self.state = State::Building(Building {
            ts,
            start: self.buf.len(),
            keyframe,
            dimensions,
            picture,
            layer_open: false,
            top_spatial: 0,
            header_dimensions: None,
            au: AuInfo::default(),
        });
    }

    /// A packet from the middle of a frame whose start is missing.
    fn lost_start(&mut self, ts: u32) {
        self.gap = false;
        self.last_picture = None;
        self.stats.frames_dropped += 1;
        self.mark_broken();
        self.state = State::Skipping(ts);
    }

    /// Is there room for `more` bytes in the frame being built? If not, the frame is dropped.
    fn fits(&mut self, more: usize) -> bool {
        let State::Building(b) = &self.state else {
            return false;
        };
        let frame = self.buf.len() - b.start + more;
        if frame > MAX_FRAME || self.buf.len() + more > MAX_BUFFERED {
            self.drop_frame();
            return false;
        }
        true
    }

    /// Appends bitstream to the frame being built; false if the frame was dropped instead.
    fn append(&mut self, data: &[u8]) -> bool {
        if !self.fits(data.len()) {
            return false;
        }
        self.buf.extend_from_slice(data);
        true
    }

    /// The frame being built got its last packet: queue it, or drop it.
    fn finish(&mut self) {
        let State::Building(b) = std::mem::replace(&mut self.state, State::Idle) else {
            return;
        };
        let (keyframe, dimensions) = match self.codec {
            Codec::H264 => {
                if !self.h264.can_finish() {
                    // The last NAL unit never got its end fragment.
                    self.state = State::Building(b);
                    self.malformed();
                    return;
                }
                let dims = if b.au.sps {
                    self.h264.dimensions()
                } else {
                    None
                };
                (b.au.idr, dims)
            }
            Codec::Vp9 => {
                let dims = b.dimensions.or(if b.keyframe && b.top_spatial == 0 {
                    b.header_dimensions
                } else {
                    None
                });
                (b.keyframe, dims)
            }
            Codec::Vp8 => (b.keyframe, b.dimensions),
            Codec::Opus => (true, None),
        };
        self.last_picture = b.picture;
        let end = self.buf.len();
        if end == b.start {
            self.buf.truncate(b.start);
            self.stats.frames_dropped += 1;
            self.mark_broken();
            return;
        }
        if self.need_keyframe && !keyframe {
            self.buf.truncate(b.start);
            self.stats.frames_dropped += 1;
            self.wants_keyframe = true;
            return;
        }
        if self.ready.len() >= MAX_READY {
            self.buf.truncate(b.start);
            self.stats.frames_dropped += 1;
            self.mark_broken();
            return;
        }
        self.ready.push_back(Ready {
            ts: b.ts,
            keyframe,
            dimensions,
            start: b.start,
            end,
        });
        self.stats.frames_out += 1;
        if keyframe {
            self.need_keyframe = false;
            self.wants_keyframe = false;
        }
    }

    /// Drops the frame being built; the rest of its packets will be skipped.
    fn drop_frame(&mut self) {
        if let State::Building(b) = &self.state {
            let ts = b.ts;
            self.buf.truncate(b.start);
            self.state = State::Skipping(ts);
            self.stats.frames_dropped += 1;
            self.last_picture = None;
            self.h264.reset();
            self.mark_broken();
        }
    }

    /// A payload that could not be parsed: the frame it belongs to is lost.
    fn malformed(&mut self) {
        self.stats.malformed += 1;
        self.prev = None;
        match self.state {
            State::Building(_) => self.drop_frame(),
            State::Idle => self.gap = true,
            State::Skipping(_) => {}
        }
    }

    /// The stream cannot be decoded until the next keyframe.
    fn mark_broken(&mut self) {
        if self.codec.is_video() {
            self.need_keyframe = true;
            self.wants_keyframe = true;
        }
    }
}
