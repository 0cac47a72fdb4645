//! Forwarding decisions, as pure functions of a viewer leg's state and an incoming packet.
//!
//! A *leg* is one published track as one viewer receives it. Its sequence numbers and
//! timestamps must be continuous for the viewer even when the publisher changes under it (a
//! facilitator reloads the page and publishes with a new SSRC, new sequence numbers and a new
//! clock base). Each change of upstream source is an *epoch*; the leg binds to an epoch at a
//! keyframe (for video) and rewrites headers with offsets chosen so that its output continues
//! where it stopped.
//!
//! Nothing here touches a socket, a clock or the heap; the driver passes `now`.

use std::time::{Duration, Instant};

/// An RTP packet as the forwarder sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Incoming {
    /// Which upstream source of the track this packet comes from.
    pub epoch: u32,
    pub seq: u16,
    pub ts: u32,
    /// Whether the packet starts a keyframe (always true for audio).
    pub keyframe_start: bool,
    pub arrival: Instant,
}

/// What to do with a packet for one leg.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Send it with these header fields.
    Forward { seq: u16, ts: u32 },
    /// Not for this viewer now.
    Drop(DropReason),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropReason {
    /// A video leg starts (or restarts) only at a keyframe: decoding delta frames without their
    /// reference would show a corrupt picture.
    WaitingForKeyframe,
    /// A late packet of a source the leg has already moved on from.
    StaleEpoch,
}

/// The header-rewriting state of one viewer leg.
#[derive(Clone, Debug)]
pub struct Leg {
    video: bool,
    clock_rate: u32,
    /// The epoch the offsets below belong to; `None` until the first packet is forwarded.
    epoch: Option<u32>,
    seq_offset: u16,
    ts_offset: u32,
    last_out: Option<LastOut>,
}

#[derive(Clone, Copy, Debug)]
struct LastOut {
    seq: u16,
    ts: u32,
    at: Instant,
}

impl Leg {
    /// A new leg; video legs wait for a keyframe.
    pub fn new(video: bool, clock_rate: u32) -> Self {
        Self {
            video,
            clock_rate: clock_rate.max(1),
            epoch: None,
            seq_offset: 0,
            ts_offset: 0,
            last_out: None,
        }
    }

    /// Whether the leg is waiting for a keyframe of `current_epoch` (and so wants one
    /// requested from the publisher).
    pub fn wants_keyframe(&self, current_epoch: u32) -> bool {
        self.video && self.epoch != Some(current_epoch)
    }

    /// Decides what to do with `p` for this leg and updates the leg.
    pub fn decide(&mut self, p: &Incoming) -> Decision {
        match self.epoch {
            Some(e) if p.epoch < e => return Decision::Drop(DropReason::StaleEpoch),
            Some(e) if p.epoch == e => {}
            _ => {
                // A new source for this leg: bind at a keyframe.
                if self.video && !p.keyframe_start {
                    return Decision::Drop(DropReason::WaitingForKeyframe);
                }
                self.bind(p);
            }
        }
        let seq = p.seq.wrapping_add(self.seq_offset);
        let ts = p.ts.wrapping_add(self.ts_offset);
        match self.last_out {
            // Only newer packets advance the leg; a retransmission or reordered packet keeps the
            // offsets and the high-water mark unchanged.
            Some(last) if !seq_newer(seq, last.seq) => {}
            _ => {
                self.last_out = Some(LastOut {
                    seq,
                    ts,
                    at: p.arrival,
                })
            }
        }
        Decision::Forward { seq, ts }
    }

    fn bind(&mut self, p: &Incoming) {
        self.epoch = Some(p.epoch);
        match self.last_out {
            None => {
                // First packet ever: the viewer has no history, pass headers through.
                self.seq_offset = 0;
                self.ts_offset = 0;
            }
            Some(last) => {
                let next_seq = last.seq.wrapping_add(1);
                let elapsed = p.arrival.saturating_duration_since(last.at);
                let next_ts = last.ts.wrapping_add(ticks(elapsed, self.clock_rate).max(1));
                self.seq_offset = next_seq.wrapping_sub(p.seq);
                self.ts_offset = next_ts.wrapping_sub(p.ts);
            }
        }
    }

    /// Maps a sequence number the viewer asks to be retransmitted (NACK) back to the upstream
    /// sequence number of the current epoch, or `None` when the leg has not forwarded anything.
    pub fn upstream_seq(&self, out_seq: u16) -> Option<(u32, u16)> {
        let epoch = self.epoch?;
        Some((epoch, out_seq.wrapping_sub(self.seq_offset)))
    }

    /// Header fields for retransmitting an upstream packet of `epoch`, if still valid.
    pub fn rewrite(&self, epoch: u32, seq: u16, ts: u32) -> Option<(u16, u32)> {
        (self.epoch == Some(epoch)).then(|| {
            (
                seq.wrapping_add(self.seq_offset),
                ts.wrapping_add(self.ts_offset),
            )
        })
    }
}

/// RTP sequence comparison with wrap-around (RFC 3550 §A.1).
pub fn seq_newer(a: u16, b: u16) -> bool {
    a != b && a.wrapping_sub(b) < 0x8000
}

fn ticks(d: Duration, clock_rate: u32) -> u32 {
    let t = d.as_micros().saturating_mul(clock_rate as u128) / 1_000_000;
    u32::try_from(t).unwrap_or(u32::MAX)
}

/// Rate limit for keyframe requests sent to one publisher's track, so a storm of PLIs from many
/// viewers (or many late joiners) costs the publisher at most one keyframe per interval.
#[derive(Clone, Debug)]
pub struct KeyframeLimiter {
    min_interval: Duration,
    last: Option<Instant>,
    suppressed: u64,
}

impl KeyframeLimiter {
    pub fn new(min_interval: Duration) -> Self {
        Self {
            min_interval,
            last: None,
            suppressed: 0,
        }
    }

    /// Whether a request may go to the publisher now; records it if so.
    pub fn allow(&mut self, now: Instant) -> bool {
        match self.last {
            Some(last) if now.saturating_duration_since(last) < self.min_interval => {
                self.suppressed += 1;
                false
            }
            _ => {
                self.last = Some(now);
                true
            }
        }
    }

    /// Requests that were absorbed by the limit.
    pub fn suppressed(&self) -> u64 {
        self.suppressed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkt(epoch: u32, seq: u16, ts: u32, key: bool, at: Instant) -> Incoming {
        Incoming {
            epoch,
            seq,
            ts,
            keyframe_start: key,
            arrival: at,
        }
    }

    #[test]
    fn video_leg_waits_for_keyframe_then_passes_through() {
        let t = Instant::now();
        let mut leg = Leg::new(true, 90_000);
        assert!(leg.wants_keyframe(0));
        assert_eq!(
            leg.decide(&pkt(0, 100, 9000, false, t)),
            Decision::Drop(DropReason::WaitingForKeyframe)
        );
        assert_eq!(
            leg.decide(&pkt(0, 101, 12000, true, t)),
            Decision::Forward {
                seq: 101,
                ts: 12000
            }
        );
        assert!(!leg.wants_keyframe(0));
        // Delta frames flow once started.
        assert_eq!(
            leg.decide(&pkt(0, 102, 12000, false, t)),
            Decision::Forward {
                seq: 102,
                ts: 12000
            }
        );
    }

    #[test]
    fn audio_leg_never_waits() {
        let t = Instant::now();
        let mut leg = Leg::new(false, 48_000);
        assert!(!leg.wants_keyframe(0));
        assert_eq!(
            leg.decide(&pkt(0, 7, 960, true, t)),
            Decision::Forward { seq: 7, ts: 960 }
        );
    }

    #[test]
    fn new_epoch_continues_sequence_and_clock() {
        let t0 = Instant::now();
        let mut leg = Leg::new(true, 90_000);
        leg.decide(&pkt(0, 65_534, 4_294_960_000, true, t0));
        leg.decide(&pkt(0, 65_535, 4_294_963_000, false, t0));
        // The publisher comes back 2 s later with a new source.
        let t1 = t0 + Duration::from_secs(2);
        assert!(leg.wants_keyframe(1));
        assert_eq!(
            leg.decide(&pkt(1, 500, 10, false, t1)),
            Decision::Drop(DropReason::WaitingForKeyframe)
        );
        let Decision::Forward { seq, ts } = leg.decide(&pkt(1, 501, 10, true, t1)) else {
            panic!("keyframe must be forwarded");
        };
        assert_eq!(seq, 0, "sequence continues across the wrap");
        assert_eq!(ts, 4_294_963_000u32.wrapping_add(180_000));
        // Late packets of the old source are dropped.
        assert_eq!(
            leg.decide(&pkt(0, 1, 1, false, t1)),
            Decision::Drop(DropReason::StaleEpoch)
        );
        // And the new source keeps its offset.
        assert_eq!(
            leg.decide(&pkt(1, 502, 3010, false, t1)),
            Decision::Forward {
                seq: 1,
                ts: ts.wrapping_add(3000)
            }
        );
    }

    #[test]
    fn reordered_packets_keep_offsets() {
        let t = Instant::now();
        let mut leg = Leg::new(false, 48_000);
        leg.decide(&pkt(0, 10, 0, true, t));
        leg.decide(&pkt(0, 12, 1920, true, t));
        assert_eq!(
            leg.decide(&pkt(0, 11, 960, true, t)),
            Decision::Forward { seq: 11, ts: 960 }
        );
        // A restart after reordering continues after the highest sequence sent, not the last.
        let t1 = t + Duration::from_millis(20);
        let Decision::Forward { seq, .. } = leg.decide(&pkt(1, 9000, 0, true, t1)) else {
            panic!()
        };
        assert_eq!(seq, 13);
    }

    #[test]
    fn nack_maps_back_to_upstream() {
        let t0 = Instant::now();
        let mut leg = Leg::new(true, 90_000);
        assert_eq!(leg.upstream_seq(5), None);
        leg.decide(&pkt(0, 100, 0, true, t0));
        leg.decide(&pkt(1, 7, 0, true, t0 + Duration::from_millis(40)));
        // Output continued at 101 for upstream 7 of epoch 1.
        assert_eq!(leg.upstream_seq(101), Some((1, 7)));
        assert_eq!(leg.rewrite(1, 7, 0).map(|r| r.0), Some(101));
        assert_eq!(
            leg.rewrite(0, 100, 0),
            None,
            "old epoch is not retransmitted"
        );
    }

    #[test]
    fn sequence_comparison_wraps() {
        assert!(seq_newer(1, 65_535));
        assert!(!seq_newer(65_535, 1));
        assert!(!seq_newer(5, 5));
        assert!(seq_newer(0x7fff, 0));
    }

    #[test]
    fn keyframe_limiter_spaces_requests() {
        let t = Instant::now();
        let mut l = KeyframeLimiter::new(Duration::from_millis(500));
        assert!(l.allow(t));
        assert!(!l.allow(t + Duration::from_millis(100)));
        assert!(!l.allow(t + Duration::from_millis(499)));
        assert!(l.allow(t + Duration::from_millis(500)));
        assert_eq!(l.suppressed(), 2);
    }
}
