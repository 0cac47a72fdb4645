//! A cheap log-linear histogram of non-negative integers (latencies in µs): exact below 64,
//! then 32 buckets per power of two (about 3 % resolution). Recording is a few shifts and an
//! increment; histograms of many viewers merge by adding counts.

const SUB_BITS: u32 = 5;
const SUB: u64 = 1 << SUB_BITS;
const EXACT: u64 = 2 * SUB;
const BUCKETS: usize = EXACT as usize + (64 - SUB_BITS as usize - 1) * SUB as usize;

/// Counts of values in log-linear buckets.
#[derive(Clone)]
pub struct Histogram {
    counts: Box<[u64]>,
    total: u64,
    max: u64,
}

impl std::fmt::Debug for Histogram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Histogram")
            .field("count", &self.total)
            .field("p50", &self.percentile(0.5))
            .field("max", &self.max)
            .finish()
    }
}

impl Default for Histogram {
    fn default() -> Self {
        Self {
            counts: vec![0; BUCKETS].into_boxed_slice(),
            total: 0,
            max: 0,
        }
    }
}

fn bucket(v: u64) -> usize {
    if v < EXACT {
        return v as usize;
    }
    // v >= 2^(SUB_BITS+1): top bit e, next SUB_BITS bits pick the sub-bucket.
    let e = 63 - v.leading_zeros();
    let sub = (v >> (e - SUB_BITS)) & (SUB - 1);
    (EXACT + (u64::from(e) - u64::from(SUB_BITS) - 1) * SUB + sub) as usize
}

/// The smallest value of a bucket and the first value of the next one.
fn bounds(b: usize) -> (u64, u64) {
    let b = b as u64;
    if b < EXACT {
        return (b, b + 1);
    }
    let e = (b - EXACT) / SUB + u64::from(SUB_BITS) + 1;
    let sub = (b - EXACT) % SUB;
    let width = 1u64 << (e - u64::from(SUB_BITS));
    let low = (1u64 << e) + sub * width;
    (low, low.saturating_add(width))
}

impl Histogram {
    pub fn record(&mut self, v: u64) {
        self.counts[bucket(v)] += 1;
        self.total += 1;
        self.max = self.max.max(v);
    }

    pub fn count(&self) -> u64 {
        self.total
    }

    pub fn max(&self) -> u64 {
        self.max
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(other.counts.iter()) {
            *a += b;
        }
        self.total += other.total;
        self.max = self.max.max(other.max);
    }

    pub fn clear(&mut self) {
        self.counts.iter_mut().for_each(|c| *c = 0);
        self.total = 0;
        self.max = 0;
    }

    /// The value below which a fraction `p` of the recorded values lie (the middle of the
    /// bucket that holds it; 0 when empty).
    pub fn percentile(&self, p: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let rank = ((self.total as f64 * p).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (b, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                let (lo, hi) = bounds(b);
                return (lo + (hi - lo - 1) / 2).min(self.max);
            }
        }
        self.max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_ordered_and_tight() {
        let mut last = 0;
        for v in (0..100_000u64).chain([u64::MAX / 2, u64::MAX]) {
            let b = bucket(v);
            assert!(b >= last && b < BUCKETS, "{v}");
            last = b;
            let (lo, hi) = bounds(b);
            assert!(lo <= v && (v < hi || hi == u64::MAX), "{v} in [{lo}, {hi})");
            assert!(hi - lo <= 1 + lo / 32, "{v}: [{lo}, {hi}) too wide");
        }
    }

    #[test]
    fn percentiles() {
        let mut h = Histogram::default();
        assert_eq!(h.percentile(0.5), 0);
        for v in 1..=1000 {
            h.record(v);
        }
        let p50 = h.percentile(0.5) as f64;
        let p99 = h.percentile(0.99) as f64;
        assert!((p50 - 500.0).abs() / 500.0 < 0.03, "{p50}");
        assert!((p99 - 990.0).abs() / 990.0 < 0.03, "{p99}");
        let mut other = Histogram::default();
        other.record(5000);
        h.merge(&other);
        assert_eq!(h.count(), 1001);
        assert_eq!(h.max(), 5000);
        assert_eq!(h.percentile(1.0), 5000.min(h.percentile(1.0)));
    }
}
