//! What a room shows its recorder: the tracks it forwards, their packets and their publishers'
//! sender reports, over a bounded queue that never makes the room wait.
//!
//! The recorder is a subscriber like any viewer, but it reads whole tracks (not a viewer's
//! rewritten sequence), so it gets the publisher's packets as they arrive, before any per-viewer
//! rewriting. A packet's payload is shared (`Bytes`), never copied. When the recorder falls
//! behind, packets are dropped and counted; forwarding is never slowed.

use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::time::{Instant, SystemTime};

use bytes::Bytes;
use lectern_proto::{PeerId, Source, TrackId};

use crate::codec::Codec;

/// Messages queued for a recorder before packets are dropped: ~15 s of a 2 Mbit/s camera with
/// its microphone.
pub const TAP_QUEUE: usize = 4096;

/// One message from a room to its recorder.
#[derive(Clone, Debug)]
pub enum TapMsg {
    /// A track is forwarded from a (new) source. Sent when the recorder attaches, when a track
    /// appears and when a paused track resumes (its sequence numbers start afresh then).
    Track {
        track: TrackId,
        source: Source,
        publisher: PeerId,
        /// The publisher's display name.
        name: String,
        codec: Codec,
        clock_rate: u32,
        channels: u16,
    },
    /// One RTP packet of a track, as the publisher sent it.
    Rtp {
        track: TrackId,
        seq: u16,
        ts: u32,
        marker: bool,
        payload: Bytes,
        at: Instant,
    },
    /// The publisher's RTCP sender report for a track: its NTP time and matching RTP time.
    SenderReport {
        track: TrackId,
        ntp: u64,
        rtp: u32,
        at: SystemTime,
    },
    /// The track stopped (its publisher left, paused or unpublished it).
    TrackEnded { track: TrackId },
    /// A timed event for the recording's timeline (a chapter; chat and questions later):
    /// its kind, JSON data, and when it happened.
    Event {
        kind: &'static str,
        data: String,
        at: SystemTime,
    },
    /// Recording stops: finalize everything.
    Stop,
}

/// The room's end of a recorder's queue.
#[derive(Debug)]
pub struct Tap {
    tx: SyncSender<TapMsg>,
    dropped: u64,
}

impl Tap {
    /// A tap and the recorder's end of it.
    pub fn channel(capacity: usize) -> (Tap, Receiver<TapMsg>) {
        let (tx, rx) = sync_channel(capacity);
        (Tap { tx, dropped: 0 }, rx)
    }

    /// Queues a message without waiting. `false` when the recorder is gone.
    pub fn send(&mut self, m: TapMsg) -> bool {
        match self.tx.try_send(m) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) => {
                self.dropped += 1;
                if self.dropped.is_power_of_two() {
                    tracing::warn!(
                        "the recorder falls behind: {} messages dropped",
                        self.dropped
                    );
                }
                true
            }
            Err(TrySendError::Disconnected(_)) => false,
        }
    }

    /// Messages dropped because the recorder's queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}
