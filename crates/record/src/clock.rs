//! From RTP timestamps to one session timeline, by way of RTCP sender reports.
//!
//! Each track's RTP timestamps start at a random offset and tick at the track's own rate, so
//! the tracks of a publisher cannot be lined up by their timestamps alone. A sender report
//! (RFC 3550 §6.4.1) pairs an RTP timestamp with the publisher's wall clock (NTP format), and
//! all tracks of one publisher share that wall clock:
//!
//! ```text
//!  rtp_ts ──TrackClock (latest report of the track)──▶ publisher NTP µs
//!         ──PublisherClock (one offset per publisher)──▶ recorder UNIX µs
//! ```
//!
//! [`TrackClock`] maps from the latest report, extrapolating with the nominal clock rate; each
//! new report re-anchors it, which follows a publisher clock that drifts from its nominal rate.
//! [`PublisherClock`] holds a single offset between the publisher's wall clock and the
//! recorder's, estimated once from the first report of any of the publisher's tracks and
//! shared by all of them, so their relative sync is exactly what the publisher reported.
//!
//! Everything here is pure arithmetic: arrival times are passed in, no clock is read.

/// Seconds from the NTP epoch (1900) to the UNIX epoch (1970).
pub const NTP_UNIX_OFFSET_SECS: u64 = 2_208_988_800;
const NTP_UNIX_OFFSET_US: i64 = NTP_UNIX_OFFSET_SECS as i64 * 1_000_000;
const US_PER_SEC: u64 = 1_000_000;

/// A sender report older than the latest by more than this is not "late" but a publisher
/// whose wall clock was reset; it is believed.
const CLOCK_RESET_US: u64 = 10 * US_PER_SEC;

/// A 64-bit NTP timestamp (32.32 fixed point seconds) in µs since the NTP epoch, rounded to
/// the nearest µs.
pub fn ntp_to_us(ntp: u64) -> u64 {
    let secs = ntp >> 32;
    let frac = ntp & 0xffff_ffff;
    secs * US_PER_SEC + ((frac * US_PER_SEC + (1 << 31)) >> 32)
}

/// µs since the NTP epoch as a 64-bit NTP timestamp (the inverse of [`ntp_to_us`]).
pub fn ntp_from_us(us: u64) -> u64 {
    let secs = us / US_PER_SEC;
    let frac = ((us % US_PER_SEC) << 32).div_ceil(US_PER_SEC);
    (secs << 32) | frac
}

/// Unwraps a track's 32-bit RTP timestamps into a monotonic-ish i64: each timestamp is placed
/// nearest to the previous one (a signed 32-bit difference), so wrap-around works both ways and
/// a reordered packet lands just before its successors.
#[derive(Debug, Default, Clone)]
pub struct Unwrapper {
    last: Option<i64>,
}

impl Unwrapper {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn unwrap(&mut self, ts: u32) -> i64 {
        let v = match self.last {
            None => i64::from(ts),
            Some(last) => last + i64::from(ts.wrapping_sub(last as u32) as i32),
        };
        self.last = Some(v);
        v
    }
}

#[derive(Debug, Clone, Copy)]
struct Report {
    ntp_us: u64,
    rtp_ts: u32,
}

/// Largest correction of a track's mapping per sender report.
const SLEW_US: i64 = 5_000;
/// A report this far from the mapping replaces it at once (the publisher's clock jumped).
const RESYNC_US: i64 = 500_000;

/// One track's mapping from RTP time to the publisher's wall clock, from its sender reports.
#[derive(Debug, Clone)]
pub struct TrackClock {
    clock_rate: u32,
    report: Option<Report>,
}

impl TrackClock {
    pub fn new(clock_rate: u32) -> Self {
        TrackClock {
            clock_rate,
            report: None,
        }
    }

    pub fn clock_rate(&self) -> u32 {
        self.clock_rate
    }

    /// A sender report: its NTP timestamp (64-bit, RFC 3550 format) and the matching RTP
    /// timestamp. A report not newer than the one in use (it arrived late or out of order, or
    /// twice) is ignored.
    pub fn on_sender_report(&mut self, ntp: u64, rtp_ts: u32) {
        let ntp_us = ntp_to_us(ntp);
        if let Some(r) = self.report {
            if ntp_us <= r.ntp_us && r.ntp_us - ntp_us <= CLOCK_RESET_US {
                return;
            }
        }
        // Reports jitter by several milliseconds (audio especially); taking each one as it
        // comes would move frame times back and forth. The mapping is slewed towards a new
        // report by at most `SLEW_US` per report, which follows any real clock drift (far
        // below that per report) smoothly; a jump beyond `RESYNC_US` is taken at once.
        if let Some(predicted) = self.ntp_us(rtp_ts) {
            let deviation = ntp_us as i64 - predicted as i64;
            if deviation.abs() <= RESYNC_US {
                let step = deviation.clamp(-SLEW_US, SLEW_US);
                self.report = Some(Report {
                    ntp_us: (predicted as i64 + step).max(0) as u64,
                    rtp_ts,
                });
                return;
            }
        }
        self.report = Some(Report { ntp_us, rtp_ts });
    }

    pub fn has_report(&self) -> bool {
        self.report.is_some()
    }

    /// The publisher-clock time, in µs since the NTP epoch, of an RTP timestamp: from the
    /// latest report, the difference of the timestamps taken as a signed 32-bit number (so
    /// wrap-around either side of the report works) and converted at the nominal clock rate.
    /// `None` before any report (or with a zero clock rate).
    pub fn ntp_us(&self, rtp_ts: u32) -> Option<u64> {
        let r = self.report?;
        if self.clock_rate == 0 {
            return None;
        }
        let ticks = i64::from(rtp_ts.wrapping_sub(r.rtp_ts) as i32);
        let rate = i64::from(self.clock_rate);
        // Round to the nearest µs: |ticks| · 10⁶ < 2⁵², no overflow.
        let delta_us = (2 * ticks * US_PER_SEC as i64 + rate).div_euclid(2 * rate);
        let ntp_us = i64::try_from(r.ntp_us).ok()?.checked_add(delta_us)?;
        u64::try_from(ntp_us).ok()
    }
}

/// One publisher's clock offset to the recorder's clock, shared by all its tracks.
#[derive(Debug, Default, Clone)]
pub struct PublisherClock {
    offset_us: Option<i64>,
}

impl PublisherClock {
    pub fn new() -> Self {
        Self::default()
    }

    /// A sender report of any of the publisher's tracks, with the recorder's wall time of its
    /// arrival (µs since the UNIX epoch). The first one fixes the offset: (arrival) − (the
    /// report's NTP time as UNIX µs). Later ones change nothing, so every track of the
    /// publisher keeps the sync the publisher reported.
    pub fn observe(&mut self, ntp: u64, arrival_unix_us: u64) {
        if self.offset_us.is_some() {
            return;
        }
        let (Ok(ntp_us), Ok(arrival)) = (
            i64::try_from(ntp_to_us(ntp)),
            i64::try_from(arrival_unix_us),
        ) else {
            return;
        };
        self.offset_us = Some(arrival - (ntp_us - NTP_UNIX_OFFSET_US));
    }

    /// Recorder UNIX µs minus publisher UNIX µs, once a report was observed.
    pub fn offset_us(&self) -> Option<i64> {
        self.offset_us
    }

    /// A publisher-clock time (µs since the NTP epoch, as [`TrackClock::ntp_us`] gives) on the
    /// recorder's clock, in µs since the UNIX epoch. `None` before any report, or if the result
    /// would precede the UNIX epoch.
    pub fn to_local_unix_us(&self, ntp_us: u64) -> Option<u64> {
        let offset = self.offset_us?;
        let v = i64::try_from(ntp_us)
            .ok()?
            .checked_sub(NTP_UNIX_OFFSET_US)?
            .checked_add(offset)?;
        u64::try_from(v).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A publisher's wall clock at "now": 2026-11-28, in µs since the NTP epoch.
    const T0_US: u64 = (1_795_824_000 + NTP_UNIX_OFFSET_SECS) * US_PER_SEC;

    /// Seeded xorshift for unrelated RTP offsets.
    fn rng(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }

    /// The RTP timestamp of wall time `us` for a track of `rate` Hz starting at `offset`.
    fn rtp_at(offset: u32, rate: u32, us: u64) -> u32 {
        let ticks = (u128::from(us) * u128::from(rate) + 500_000) / 1_000_000;
        offset.wrapping_add(ticks as u32)
    }

    #[test]
    fn ntp_conversions() {
        assert_eq!(ntp_to_us(0x0000_0001_8000_0000), 1_500_000);
        assert_eq!(ntp_to_us(0), 0);
        for us in [0, 1, 999_999, 1_000_000, T0_US, T0_US + 123_457] {
            assert_eq!(ntp_to_us(ntp_from_us(us)), us);
        }
    }

    #[test]
    fn unwrapper_handles_wrap_both_ways() {
        let mut u = Unwrapper::new();
        assert_eq!(u.unwrap(0xffff_fff0), 0xffff_fff0);
        assert_eq!(u.unwrap(0x10), 0x1_0000_0010);
        assert_eq!(u.unwrap(0xffff_fff8), 0xffff_fff8); // reordered, back across the wrap
        assert_eq!(u.unwrap(0x20), 0x1_0000_0020);
        let mut u = Unwrapper::new();
        assert_eq!(u.unwrap(5), 5);
        assert_eq!(u.unwrap(0xffff_fff0), -16);
        // Three wraps at 90 kHz steps of one frame: steady progress.
        let mut u = Unwrapper::new();
        let start = 0xfff0_0000u32;
        let mut ts = start;
        for i in 0..300_000i64 {
            assert_eq!(u.unwrap(ts), i64::from(start) + i * 45_000);
            ts = ts.wrapping_add(45_000);
        }
    }

    #[test]
    fn audio_and_video_line_up_within_a_millisecond() {
        let mut seed = 0x1234_5678_9abc_def0;
        for _ in 0..50 {
            let audio_offset = rng(&mut seed) as u32;
            let video_offset = rng(&mut seed) as u32;
            let mut audio = TrackClock::new(48_000);
            let mut video = TrackClock::new(90_000);
            let mut publisher = PublisherClock::new();
            assert_eq!(audio.ntp_us(123), None);
            // Reports at different instants; the recorder's clock is 3.2 s ahead of the
            // publisher's and reports take 40 ms to arrive.
            let skew_us = 3_200_000;
            for (clock, offset, rate, at) in [
                (&mut audio, audio_offset, 48_000, 1_000_000),
                (&mut video, video_offset, 90_000, 1_370_000),
            ] {
                let ntp_us = T0_US + at;
                clock.on_sender_report(ntp_from_us(ntp_us), rtp_at(offset, rate, at));
                let arrival = ntp_us - NTP_UNIX_OFFSET_SECS * US_PER_SEC + skew_us + 40_000;
                publisher.observe(ntp_from_us(ntp_us), arrival);
            }
            assert_eq!(publisher.offset_us(), Some(skew_us as i64 + 40_000));
            for k in 0..200u64 {
                let at = 900_000 + k * 20_000 + rng(&mut seed) % 20_000;
                let a = audio.ntp_us(rtp_at(audio_offset, 48_000, at)).unwrap();
                let v = video.ntp_us(rtp_at(video_offset, 90_000, at)).unwrap();
                let (a, v) = (
                    publisher.to_local_unix_us(a).unwrap(),
                    publisher.to_local_unix_us(v).unwrap(),
                );
                assert!(a.abs_diff(v) <= 1_000, "{a} vs {v}");
                let truth = T0_US + at - NTP_UNIX_OFFSET_SECS * US_PER_SEC + skew_us + 40_000;
                assert!(a.abs_diff(truth) <= 1_000);
            }
        }
    }

    #[test]
    fn rtp_wrap_around_the_report() {
        let mut c = TrackClock::new(90_000);
        // Report just before the wrap, frame just after it: 512 ticks later.
        c.on_sender_report(ntp_from_us(T0_US), 0xffff_ff00);
        assert_eq!(c.ntp_us(0x0000_0100), Some(T0_US + 5_689));
        // Report just after the wrap, frame just before it: earlier.
        let mut c = TrackClock::new(90_000);
        c.on_sender_report(ntp_from_us(T0_US), 0x0000_0100);
        assert_eq!(c.ntp_us(0xffff_ff00), Some(T0_US - 5_689));
        assert_eq!(c.ntp_us(0x0000_0100), Some(T0_US));
        // Hours away on a 48 kHz clock still map the right way (signed 32-bit difference).
        let mut c = TrackClock::new(48_000);
        c.on_sender_report(ntp_from_us(T0_US), 0x8000_0000);
        let ten_hours = 10 * 3600 * 48_000u32;
        assert_eq!(
            c.ntp_us(0x8000_0000u32.wrapping_add(ten_hours)),
            Some(T0_US + 36_000_000_000)
        );
    }

    #[test]
    fn late_and_out_of_order_reports_are_ignored() {
        let mut c = TrackClock::new(90_000);
        assert!(!c.has_report());
        let offset = 0x4000_0000;
        c.on_sender_report(
            ntp_from_us(T0_US + 1_000_000),
            rtp_at(offset, 90_000, 1_000_000),
        );
        c.on_sender_report(
            ntp_from_us(T0_US + 6_000_000),
            rtp_at(offset, 90_000, 6_000_000),
        );
        assert!(c.has_report());
        let at = 6_500_000;
        let expect = c.ntp_us(rtp_at(offset, 90_000, at));
        // The report of 3 s arrives now, and it disagrees by 50 ms: it must not win.
        c.on_sender_report(
            ntp_from_us(T0_US + 3_000_000),
            rtp_at(offset, 90_000, 3_050_000),
        );
        assert_eq!(c.ntp_us(rtp_at(offset, 90_000, at)), expect);
        // A duplicate of the latest changes nothing either.
        c.on_sender_report(
            ntp_from_us(T0_US + 6_000_000),
            rtp_at(offset, 90_000, 6_100_000),
        );
        assert_eq!(c.ntp_us(rtp_at(offset, 90_000, at)), expect);
        assert!(expect.unwrap().abs_diff(T0_US + at) <= 1);
        // A publisher whose wall clock jumped back an hour is believed.
        c.on_sender_report(ntp_from_us(T0_US - 3_600_000_000), 0);
        assert_eq!(c.ntp_us(0), Some(T0_US - 3_600_000_000));
    }

    #[test]
    fn drifting_rtp_clock_is_followed() {
        // The publisher's RTP clock runs 500 ppm fast: 90 045 ticks per wall second.
        let actual_rate = 90_045;
        let offset = 0xdead_beef;
        let mut c = TrackClock::new(90_000);
        let mut first = TrackClock::new(90_000);
        first.on_sender_report(ntp_from_us(T0_US), rtp_at(offset, actual_rate, 0));
        for report_s in (0..=100u64).step_by(5) {
            let at = report_s * US_PER_SEC;
            c.on_sender_report(ntp_from_us(T0_US + at), rtp_at(offset, actual_rate, at));
            // Frames in the second after each report map to within 1 ms of the truth.
            for k in 0..50 {
                let frame_at = at + k * 20_000;
                let got = c.ntp_us(rtp_at(offset, actual_rate, frame_at)).unwrap();
                assert!(got.abs_diff(T0_US + frame_at) <= 1_000, "at {frame_at}");
            }
        }
        // Without following the reports, 100 s of drift would be 50 ms off.
        let at = 100 * US_PER_SEC;
        let stale = first.ntp_us(rtp_at(offset, actual_rate, at)).unwrap();
        assert!(stale.abs_diff(T0_US + at) > 40_000);
    }

    #[test]
    fn publisher_offset_is_fixed_by_the_first_report() {
        let mut p = PublisherClock::new();
        assert_eq!(p.offset_us(), None);
        assert_eq!(p.to_local_unix_us(T0_US), None);
        let unix_us = T0_US - NTP_UNIX_OFFSET_SECS * US_PER_SEC;
        // The recorder's clock is 2 s behind the publisher's.
        p.observe(ntp_from_us(T0_US), unix_us - 2_000_000);
        assert_eq!(p.offset_us(), Some(-2_000_000));
        p.observe(ntp_from_us(T0_US + 5_000_000), unix_us + 9_000_000);
        assert_eq!(p.offset_us(), Some(-2_000_000));
        assert_eq!(
            p.to_local_unix_us(T0_US + 1_000),
            Some(unix_us - 2_000_000 + 1_000)
        );
        // Before the UNIX epoch: no answer rather than a wrapped one.
        assert_eq!(p.to_local_unix_us(0), None);
    }
}
