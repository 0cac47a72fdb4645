//! A bounds-checked MSB-first bit reader for codec headers (VP9 uncompressed header, H.264
//! sequence parameter set).
//!
//! Every read returns `None` once the input is exhausted, so parsers written with `?` stop
//! cleanly on truncated or hostile input. For H.264 the reader can skip emulation-prevention
//! bytes (`00 00 03`) on the fly, so an escaped NAL unit is read as its RBSP without copying.

pub(super) struct BitReader<'a> {
    data: &'a [u8],
    /// Index of the next byte to load.
    pos: usize,
    /// The byte being read and how many of its bits are left.
    cur: u8,
    left: u8,
    /// Skip `03` after two zero bytes (H.264 RBSP extraction).
    unescape: bool,
    zeros: u8,
}

impl<'a> BitReader<'a> {
    /// A reader over plain bits.
    pub(super) fn new(data: &'a [u8]) -> Self {
        BitReader {
            data,
            pos: 0,
            cur: 0,
            left: 0,
            unescape: false,
            zeros: 0,
        }
    }

    /// A reader over an escaped H.264 NAL unit payload (after the NAL header byte).
    pub(super) fn rbsp(data: &'a [u8]) -> Self {
        BitReader {
            unescape: true,
            ..BitReader::new(data)
        }
    }

    fn load(&mut self) -> Option<()> {
        let mut b = *self.data.get(self.pos)?;
        self.pos += 1;
        if self.unescape && self.zeros >= 2 && b == 0x03 {
            b = *self.data.get(self.pos)?;
            self.pos += 1;
            self.zeros = 0;
        }
        self.zeros = if b == 0 {
            self.zeros.saturating_add(1)
        } else {
            0
        };
        self.cur = b;
        self.left = 8;
        Some(())
    }

    pub(super) fn bit(&mut self) -> Option<bool> {
        if self.left == 0 {
            self.load()?;
        }
        self.left -= 1;
        Some((self.cur >> self.left) & 1 == 1)
    }

    /// `n` ≤ 32 bits as an unsigned number.
    pub(super) fn bits(&mut self, n: u8) -> Option<u32> {
        debug_assert!(n <= 32);
        let mut v: u32 = 0;
        for _ in 0..n {
            v = (v << 1) | u32::from(self.bit()?);
        }
        Some(v)
    }

    /// Unsigned exp-Golomb code (`ue(v)`); `None` for codes longer than 32 bits.
    pub(super) fn ue(&mut self) -> Option<u32> {
        let mut zeros = 0u8;
        while !self.bit()? {
            zeros += 1;
            if zeros > 31 {
                return None;
            }
        }
        let rest = self.bits(zeros)?;
        // 2^zeros - 1 + rest ≤ 2^32 - 2 for zeros ≤ 31.
        Some(((1u64 << zeros) - 1 + u64::from(rest)) as u32)
    }

    /// Signed exp-Golomb code (`se(v)`).
    pub(super) fn se(&mut self) -> Option<i64> {
        let k = i64::from(self.ue()?);
        Some(if k % 2 == 1 { (k + 1) / 2 } else { -(k / 2) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_bits_msb_first() {
        let mut r = BitReader::new(&[0b1010_0000, 0xff]);
        assert_eq!(r.bit(), Some(true));
        assert_eq!(r.bits(3), Some(0b010));
        assert_eq!(r.bits(8), Some(0x0f));
        assert_eq!(r.bits(4), Some(0x0f));
        assert_eq!(r.bit(), None);
    }

    #[test]
    fn exp_golomb() {
        // 1 → 0, 010 → 1, 011 → 2, 00100 → 3, 00111 → 6.
        let mut r = BitReader::new(&[0b1010_0110, 0b0100_0011, 0b1000_0000]);
        assert_eq!(r.ue(), Some(0));
        assert_eq!(r.ue(), Some(1));
        assert_eq!(r.ue(), Some(2));
        assert_eq!(r.ue(), Some(3));
        assert_eq!(r.ue(), Some(6));
        // se: 1 → 0, 010 → 1, 011 → -1.
        let mut r = BitReader::new(&[0b1010_0110]);
        assert_eq!(r.se(), Some(0));
        assert_eq!(r.se(), Some(1));
        assert_eq!(r.se(), Some(-1));
        // Too many leading zeros, and truncation.
        assert_eq!(BitReader::new(&[0; 8]).ue(), None);
        assert_eq!(BitReader::new(&[0x00, 0x01]).ue(), None);
    }

    #[test]
    fn skips_emulation_prevention() {
        let mut r = BitReader::rbsp(&[0x00, 0x00, 0x03, 0x01, 0x00, 0x00, 0x03]);
        assert_eq!(r.bits(24), Some(0x000001));
        assert_eq!(r.bits(16), Some(0));
        // A trailing 03 with nothing after it: exhausted.
        assert_eq!(r.bit(), None);
        // Not escaped without two zeros before.
        let mut r = BitReader::rbsp(&[0x00, 0x03]);
        assert_eq!(r.bits(16), Some(0x0003));
    }
}
