//! The sender's side, for the tests: small packetizers written from the RFCs, independently of
//! the parsers under test, and synthetic frames.

/// One RTP packet as the depacketizer receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Packet {
    pub seq: u16,
    pub ts: u32,
    pub marker: bool,
    pub payload: Vec<u8>,
}

/// Seeded xorshift64*, so failures reproduce.
pub(super) struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// How a VP9 picture is described on the wire.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Vp9Mode {
    /// Flexible mode (F): reference differences instead of TL0PICIDX.
    pub flexible: bool,
    /// Send layer indices (L).
    pub layered: bool,
}

/// Numbers packets and pictures like one RTP sender.
pub(super) struct Sender {
    pub seq: u16,
    pub picture_id: u16,
    pub tl0: u8,
}

impl Sender {
    pub fn new(seq: u16) -> Self {
        Sender {
            seq,
            picture_id: 0x1a5c,
            tl0: 0x37,
        }
    }

    fn packet(&mut self, ts: u32, marker: bool, payload: Vec<u8>) -> Packet {
        let p = Packet {
            seq: self.seq,
            ts,
            marker,
            payload,
        };
        self.seq = self.seq.wrapping_add(1);
        p
    }

    /// VP8 as Chrome sends it: X=1 with I (15-bit picture id), L (TL0PICIDX) and T, S on the
    /// first packet, partition id 0.
    pub fn vp8(&mut self, ts: u32, frame: &[u8], mtu: usize) -> Vec<Packet> {
        let pic = self.picture_id & 0x7fff;
        self.picture_id = self.picture_id.wrapping_add(1);
        let chunks: Vec<&[u8]> = frame.chunks(mtu.max(1)).collect();
        let n = chunks.len();
        let mut out = Vec::new();
        for (i, chunk) in chunks.into_iter().enumerate() {
            let mut p = vec![
                0x80 | if i == 0 { 0x10 } else { 0 },
                0xe0,
                0x80 | (pic >> 8) as u8,
                pic as u8,
                self.tl0,
                0x20,
            ];
            p.extend_from_slice(chunk);
            out.push(self.packet(ts, i + 1 == n, p));
        }
        out
    }

    /// One VP9 picture: one layer frame per spatial layer, each cut in packets with B/E; the
    /// scalability structure (with resolutions) on the first packet when `ss` is given.
    pub fn vp9(
        &mut self,
        ts: u32,
        layers: &[Vec<u8>],
        key: bool,
        ss: Option<&[(u16, u16)]>,
        mode: Vp9Mode,
        mtu: usize,
    ) -> Vec<Packet> {
        let pic = self.picture_id & 0x7fff;
        self.picture_id = self.picture_id.wrapping_add(1);
        let mut out = Vec::new();
        let layer_count = layers.len();
        for (sid, frame) in layers.iter().enumerate() {
            let chunks: Vec<&[u8]> = frame.chunks(mtu.max(1)).collect();
            let n = chunks.len();
            for (i, chunk) in chunks.into_iter().enumerate() {
                let begin = i == 0;
                let end = i + 1 == n;
                let first_of_picture = sid == 0 && begin;
                let inter = !key || sid > 0;
                let with_ss = first_of_picture && ss.is_some();
                let mut b0 = 0x80; // I
                if inter {
                    b0 |= 0x40;
                }
                if mode.layered {
                    b0 |= 0x20;
                }
                if mode.flexible {
                    b0 |= 0x10;
                }
                if begin {
                    b0 |= 0x08;
                }
                if end {
                    b0 |= 0x04;
                }
                if with_ss {
                    b0 |= 0x02;
                }
                let mut p = vec![b0, 0x80 | (pic >> 8) as u8, pic as u8];
                if mode.layered {
                    p.push((sid as u8) << 1);
                    if !mode.flexible {
                        p.push(self.tl0);
                    }
                }
                if mode.flexible && inter {
                    // Two reference differences.
                    p.extend_from_slice(&[(1 << 1) | 1, 2 << 1]);
                }
                if let Some(sizes) = ss.filter(|_| with_ss) {
                    // N_S, Y=1, G=1 with one group entry (TID 0, U 0, one reference).
                    p.push((((sizes.len() - 1) as u8) << 5) | 0x18);
                    for &(w, h) in sizes {
                        p.extend_from_slice(&w.to_be_bytes());
                        p.extend_from_slice(&h.to_be_bytes());
                    }
                    p.extend_from_slice(&[1, 0x04, 1]);
                }
                p.extend_from_slice(chunk);
                let marker = end && sid + 1 == layer_count;
                out.push(self.packet(ts, marker, p));
            }
        }
        out
    }

    /// One H.264 access unit: small NAL units at the front aggregated in a STAP-A, NAL units
    /// larger than `mtu` cut in FU-A fragments, the rest as single NAL unit packets.
    pub fn h264(&mut self, ts: u32, nals: &[Vec<u8>], mtu: usize) -> Vec<Packet> {
        let mut payloads: Vec<Vec<u8>> = Vec::new();
        let mut i = 0;
        // STAP-A of the leading run of NAL units that fit together.
        let mut stap = vec![0x78];
        let mut in_stap = 0;
        while i < nals.len() && stap.len() + 2 + nals[i].len() <= mtu && nals[i].len() < 64 {
            stap.extend_from_slice(&(nals[i].len() as u16).to_be_bytes());
            stap.extend_from_slice(&nals[i]);
            in_stap += 1;
            i += 1;
        }
        match in_stap {
            0 => {}
            1 => payloads.push(nals[i - 1].clone()),
            _ => payloads.push(stap),
        }
        for nal in &nals[i..] {
            if nal.len() <= mtu {
                payloads.push(nal.clone());
                continue;
            }
            let indicator = (nal[0] & 0xe0) | 28;
            let chunks: Vec<&[u8]> = nal[1..].chunks(mtu.max(1)).collect();
            let n = chunks.len();
            for (k, chunk) in chunks.into_iter().enumerate() {
                let mut header = nal[0] & 0x1f;
                if k == 0 {
                    header |= 0x80;
                }
                if k + 1 == n {
                    header |= 0x40;
                }
                let mut p = vec![indicator, header];
                p.extend_from_slice(chunk);
                payloads.push(p);
            }
        }
        let n = payloads.len();
        payloads
            .into_iter()
            .enumerate()
            .map(|(k, p)| self.packet(ts, k + 1 == n, p))
            .collect()
    }

    pub fn opus(&mut self, ts: u32, frame: &[u8]) -> Packet {
        self.packet(ts, false, frame.to_vec())
    }
}

/// A VP8 frame: a keyframe has the 10-byte header with its size, a delta frame the P bit.
pub(super) fn vp8_frame(rng: &mut Rng, key: bool, len: usize, dims: (u16, u16)) -> Vec<u8> {
    let mut f = rng.bytes(len.max(10));
    if key {
        f[0] &= !0x01;
        f[3..6].copy_from_slice(&[0x9d, 0x01, 0x2a]);
        f[6..8].copy_from_slice(&dims.0.to_le_bytes());
        f[8..10].copy_from_slice(&dims.1.to_le_bytes());
    } else {
        f[0] |= 0x01;
    }
    f
}

/// A VP9 frame (profile 0): a key frame header with its size, or an inter frame header.
pub(super) fn vp9_frame(rng: &mut Rng, key: bool, len: usize, dims: (u16, u16)) -> Vec<u8> {
    let mut f = rng.bytes(len.max(9));
    if key {
        // frame marker, profile 0, key frame, shown; sync code; colour space BT.601, studio
        // range; width − 1, height − 1.
        f[..4].copy_from_slice(&[0x82, 0x49, 0x83, 0x42]);
        let v: u64 = (0b0010 << 36) | (u64::from(dims.0 - 1) << 20) | (u64::from(dims.1 - 1) << 4);
        f[4..9].copy_from_slice(&v.to_be_bytes()[3..]);
    } else {
        f[0] = 0x86;
    }
    f
}

/// Real parameter sets of a 640×360 Constrained Baseline stream (libx264).
pub(super) const SPS_640X360: [u8; 25] = [
    0x67, 0x42, 0xc0, 0x16, 0xd9, 0x00, 0xa0, 0x2f, 0xf9, 0x70, 0x11, 0x00, 0x00, 0x03, 0x00, 0x01,
    0x00, 0x00, 0x03, 0x00, 0x02, 0x0f, 0x16, 0x2e, 0x48,
];
pub(super) const PPS: [u8; 5] = [0x68, 0xcb, 0x83, 0xcb, 0x20];

/// A slice NAL unit: IDR (type 5) or non-IDR (type 1), first macroblock 0.
pub(super) fn h264_slice(rng: &mut Rng, idr: bool, len: usize) -> Vec<u8> {
    let mut n = rng.bytes(len.max(2));
    n[0] = if idr { 0x65 } else { 0x41 };
    n[1] |= 0x80;
    n
}

/// The AVCC form of an access unit: each NAL unit with a 4-byte length.
pub(super) fn avcc_access_unit(nals: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for n in nals {
        out.extend_from_slice(&(n.len() as u32).to_be_bytes());
        out.extend_from_slice(n);
    }
    out
}
