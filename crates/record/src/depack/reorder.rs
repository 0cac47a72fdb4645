//! Puts one track's RTP packets back in sequence-number order.
//!
//! Packets are held in a fixed ring of [`CAPACITY`] slots indexed by their extended (unwrapped)
//! sequence number, so memory is bounded whatever arrives. Each packet is released, in order, to
//! a callback as soon as everything before it was released; a missing packet is given up — a
//! [`Released::Gap`] — when a packet after it has waited the reorder window (see
//! [`Reorder::tick`]), or when a packet arrives too far ahead for the ring.
//!
//! Sequence numbers are 16 bits and wrap; each is extended relative to the highest seen (a
//! signed 16-bit difference). A jump forward of [`RESET_JUMP`] or more, or a run of packets far
//! behind what was released, is taken for a restarted stream: what is held is flushed and
//! numbering starts over at the new packet.

use std::time::{Duration, Instant};

use bytes::Bytes;

/// Packets held at most (a power of two, so wrap-around keeps slot indices aligned).
pub(super) const CAPACITY: usize = 512;
/// A forward jump this large restarts the numbering instead of counting the skipped packets as
/// lost.
const RESET_JUMP: i64 = 4096;
/// This many consecutive packets from far behind the released point restart the numbering.
const RESTART_RUN: u32 = 8;

/// What the buffer hands on, in sequence order.
#[derive(Debug)]
pub(super) enum Released<'a> {
    /// The next packet. `payload` is `None` when it was refused (oversized).
    Packet {
        ts: u32,
        marker: bool,
        payload: Option<&'a [u8]>,
    },
    /// One or more packets here will never come.
    Gap,
}

/// Counters of the reorder stage.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct ReorderStats {
    pub lost: u64,
    pub duplicates: u64,
    pub reordered: u64,
    pub late: u64,
    pub resets: u64,
}

struct Held {
    ts: u32,
    marker: bool,
    payload: Option<Bytes>,
    arrival: Instant,
}

struct Slot {
    /// Extended sequence number last stored here (held or already released); `NONE` if never.
    seq: i64,
    held: Option<Held>,
}

const NONE: i64 = i64::MIN;

pub(super) struct Reorder {
    slots: Box<[Slot]>,
    /// Extended sequence number of the next packet to release.
    next: i64,
    /// Highest extended sequence number accepted; the reference for extending new ones.
    highest: i64,
    started: bool,
    /// Packets currently held (all within `next..next + CAPACITY`).
    held: usize,
    /// Consecutive packets that arrived far behind `next`.
    far_run: u32,
    window: Duration,
    pub(super) stats: ReorderStats,
}

impl Reorder {
    pub(super) fn new(window: Duration) -> Self {
        Reorder {
            slots: (0..CAPACITY)
                .map(|_| Slot {
                    seq: NONE,
                    held: None,
                })
                .collect(),
            next: 0,
            highest: 0,
            started: false,
            held: 0,
            far_run: 0,
            window,
            stats: ReorderStats::default(),
        }
    }

    pub(super) fn set_window(&mut self, window: Duration) {
        self.window = window;
    }

    /// Packets waiting for an earlier one.
    #[cfg(test)]
    pub(super) fn held(&self) -> usize {
        self.held
    }

    fn index(seq: i64) -> usize {
        seq.rem_euclid(CAPACITY as i64) as usize
    }

    fn extend(&self, seq: u16) -> i64 {
        let diff = seq.wrapping_sub(self.highest as u16) as i16;
        self.highest + i64::from(diff)
    }

    /// Takes one packet; releases whatever became releasable.
    pub(super) fn push(
        &mut self,
        seq: u16,
        ts: u32,
        marker: bool,
        payload: Option<Bytes>,
        arrival: Instant,
        out: &mut impl FnMut(Released<'_>),
    ) {
        if !self.started {
            self.started = true;
            self.next = i64::from(seq);
            self.highest = self.next;
        }
        let ext = self.extend(seq);
        let ahead = ext - self.next;
        let cap = CAPACITY as i64;
        if ahead < 0 {
            if -ahead > cap {
                self.far_run += 1;
                if self.far_run < RESTART_RUN {
                    self.stats.late += 1;
                    return;
                }
                self.restart(ext, out);
            } else {
                if self.slots[Self::index(ext)].seq == ext {
                    self.stats.duplicates += 1;
                } else {
                    self.stats.late += 1;
                }
                return;
            }
        } else if ahead >= cap {
            if ahead >= RESET_JUMP {
                self.restart(ext, out);
            } else {
                self.advance(ext - cap + 1, out);
            }
        }
        self.far_run = 0;

        let i = Self::index(ext);
        if self.slots[i].seq == ext {
            self.stats.duplicates += 1;
            return;
        }
        if ext < self.highest {
            self.stats.reordered += 1;
        } else {
            self.highest = ext;
        }
        let slot = &mut self.slots[i];
        slot.seq = ext;
        if slot.held.take().is_some() {
            // Unreachable by the window invariant; kept so the count never drifts.
            self.held -= 1;
        }
        if ext == self.next {
            out(Released::Packet {
                ts,
                marker,
                payload: payload.as_deref(),
            });
            self.next += 1;
            self.drain(out);
        } else {
            slot.held = Some(Held {
                ts,
                marker,
                payload,
                arrival,
            });
            self.held += 1;
        }
    }

    /// Gives up on missing packets that precede a packet which has waited the reorder window.
    pub(super) fn tick(&mut self, now: Instant, out: &mut impl FnMut(Released<'_>)) {
        if self.held == 0 {
            return;
        }
        // The newest packet that has waited long enough: every gap before it is given up (it
        // proved them missing when it arrived).
        let mut target = None;
        let mut seen = 0;
        let mut seq = self.next;
        while seen < self.held && seq < self.next + CAPACITY as i64 {
            let slot = &self.slots[Self::index(seq)];
            if slot.seq == seq {
                if let Some(h) = &slot.held {
                    seen += 1;
                    if now.saturating_duration_since(h.arrival) >= self.window {
                        target = Some(seq);
                    }
                }
            }
            seq += 1;
        }
        if let Some(target) = target {
            self.advance(target, out);
            self.drain(out);
        }
    }

    /// Releases the packet at `next` (or reports it lost) and moves on.
    fn step(&mut self, out: &mut impl FnMut(Released<'_>)) {
        let slot = &mut self.slots[Self::index(self.next)];
        match slot.held.take() {
            Some(h) if slot.seq == self.next => {
                self.held -= 1;
                out(Released::Packet {
                    ts: h.ts,
                    marker: h.marker,
                    payload: h.payload.as_deref(),
                });
            }
            stale => {
                if stale.is_some() {
                    self.held -= 1;
                }
                self.stats.lost += 1;
                out(Released::Gap);
            }
        }
        self.next += 1;
    }

    /// Releases or gives up everything before `target`.
    fn advance(&mut self, target: i64, out: &mut impl FnMut(Released<'_>)) {
        while self.next < target {
            if self.held == 0 {
                self.stats.lost += (target - self.next) as u64;
                out(Released::Gap);
                self.next = target;
                return;
            }
            self.step(out);
        }
    }

    /// Releases consecutive held packets from `next` on.
    fn drain(&mut self, out: &mut impl FnMut(Released<'_>)) {
        while self.held > 0 {
            let slot = &self.slots[Self::index(self.next)];
            if slot.seq != self.next || slot.held.is_none() {
                return;
            }
            self.step(out);
        }
    }

    /// Flushes what is held and starts numbering over at `ext`.
    fn restart(&mut self, ext: i64, out: &mut impl FnMut(Released<'_>)) {
        let end = self.next + CAPACITY as i64;
        while self.held > 0 && self.next < end {
            self.step(out);
        }
        out(Released::Gap);
        for slot in self.slots.iter_mut() {
            slot.seq = NONE;
            slot.held = None;
        }
        self.held = 0;
        self.next = ext;
        self.highest = ext;
        self.far_run = 0;
        self.stats.resets += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pushes `(seq, arrival ms)` and returns what came out: `Some(seq)` for packets (the
    /// sequence number is carried in the timestamp), `None` for gaps.
    fn run(r: &mut Reorder, base: Instant, packets: &[(u16, u64)]) -> Vec<Option<u16>> {
        let mut got = Vec::new();
        for &(seq, ms) in packets {
            let at = base + Duration::from_millis(ms);
            r.push(
                seq,
                u32::from(seq),
                false,
                Some(Bytes::from_static(b"x")),
                at,
                &mut |x| {
                    got.push(match x {
                        Released::Packet { ts, .. } => Some(ts as u16),
                        Released::Gap => None,
                    })
                },
            );
        }
        got
    }

    fn tick(r: &mut Reorder, base: Instant, ms: u64) -> Vec<Option<u16>> {
        let mut got = Vec::new();
        r.tick(base + Duration::from_millis(ms), &mut |x| {
            got.push(match x {
                Released::Packet { ts, .. } => Some(ts as u16),
                Released::Gap => None,
            })
        });
        got
    }

    #[test]
    fn in_order_and_reordered() {
        let t = Instant::now();
        let mut r = Reorder::new(Duration::from_millis(100));
        assert_eq!(run(&mut r, t, &[(10, 0), (11, 0)]), [Some(10), Some(11)]);
        assert_eq!(run(&mut r, t, &[(13, 1), (14, 1)]), []);
        assert_eq!(r.held(), 2);
        assert_eq!(run(&mut r, t, &[(12, 2)]), [Some(12), Some(13), Some(14)]);
        assert_eq!(r.held(), 0);
        assert_eq!(r.stats.reordered, 1);
        // Duplicates, held and already released; late after a give-up.
        assert_eq!(run(&mut r, t, &[(16, 3), (16, 3), (14, 3)]), []);
        assert_eq!(r.stats.duplicates, 2);
        assert_eq!(tick(&mut r, t, 50), []);
        assert_eq!(tick(&mut r, t, 103), [None, Some(16)]);
        assert_eq!(r.stats.lost, 1);
        assert_eq!(run(&mut r, t, &[(15, 104)]), []);
        assert_eq!(r.stats.late, 1);
    }

    #[test]
    fn sequence_wraps() {
        let t = Instant::now();
        let mut r = Reorder::new(Duration::from_millis(100));
        let got = run(&mut r, t, &[(65534, 0), (0, 0), (65535, 0), (1, 0)]);
        assert_eq!(got, [Some(65534), Some(65535), Some(0), Some(1)]);
    }

    #[test]
    fn tick_gives_up_only_gaps_behind_old_packets() {
        let t = Instant::now();
        let mut r = Reorder::new(Duration::from_millis(100));
        run(&mut r, t, &[(1, 0), (3, 0), (6, 80)]);
        // At 100 ms only packet 3 is old: gap 2 goes, 3 out; gap 4–5 waits for 6's window.
        assert_eq!(tick(&mut r, t, 100), [None, Some(3)]);
        assert_eq!(tick(&mut r, t, 179), []);
        assert_eq!(tick(&mut r, t, 180), [None, None, Some(6)]);
        assert_eq!(r.stats.lost, 3);
    }

    #[test]
    fn far_ahead_slides_the_window_and_huge_jumps_restart() {
        let t = Instant::now();
        let mut r = Reorder::new(Duration::from_millis(100));
        run(&mut r, t, &[(0, 0), (2, 0)]);
        // 600 ahead: everything before 600 - 511 is given up; 2 comes out on the way.
        let got = run(&mut r, t, &[(600, 0)]);
        assert_eq!(got, [None, Some(2), None]);
        assert_eq!(r.stats.lost, 1 + (600 - 511 - 3) as u64);
        assert_eq!(r.held(), 1);
        // A jump of 20000: restart, nothing counted lost for it.
        let lost = r.stats.lost;
        let got = run(&mut r, t, &[(20600, 0), (20601, 0)]);
        assert_eq!(got.last(), Some(&Some(20601)));
        assert!(got.contains(&Some(600)));
        assert_eq!(r.stats.resets, 1);
        assert!(r.stats.lost - lost < CAPACITY as u64);
        // A run of packets from far behind restarts too.
        let mut got = Vec::new();
        for s in 100..100 + RESTART_RUN as u16 + 2 {
            got.extend(run(&mut r, t, &[(s, 0)]));
        }
        assert_eq!(r.stats.resets, 2);
        assert_eq!(got.last(), Some(&Some(100 + RESTART_RUN as u16 + 1)));
    }
}
