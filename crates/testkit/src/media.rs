//! Synthetic media: RTP payloads that a test can identify and time.
//!
//! Video payloads start with a VP8 payload descriptor (RFC 7741) so the SFU's keyframe detection
//! sees real structure: the first packet of a frame has S=1, PID=0 and a VP8 header byte whose P
//! bit says key (0) or delta (1) frame. After the descriptor (and header byte), and at the start
//! of audio payloads, come the packet index (u64) and the send time in ns on [`now_ns`]'s clock
//! (u64), both big-endian.

use std::sync::OnceLock;
use std::time::Instant;

static EPOCH: OnceLock<Instant> = OnceLock::new();

/// Nanoseconds on a clock shared by every client of this process.
pub fn now_ns() -> u64 {
    let epoch = *EPOCH.get_or_init(Instant::now);
    Instant::now().saturating_duration_since(epoch).as_nanos() as u64
}

/// Converts an `Instant` to [`now_ns`]'s clock.
pub fn instant_ns(t: Instant) -> u64 {
    let epoch = *EPOCH.get_or_init(Instant::now);
    t.saturating_duration_since(epoch).as_nanos() as u64
}

/// Where the index and time start in a video payload.
const VIDEO_META: usize = 2;

/// A VP8 packet payload of `size` bytes.
pub fn vp8_payload(index: u64, frame_start: bool, keyframe: bool, size: usize) -> Vec<u8> {
    let mut p = vec![0u8; size.max(VIDEO_META + 16)];
    p[0] = if frame_start { 0x10 } else { 0x00 };
    // VP8 payload header: P bit (0x01) = inter frame. Only meaningful on a frame start.
    p[1] = if keyframe { 0x00 } else { 0x01 };
    p[VIDEO_META..VIDEO_META + 8].copy_from_slice(&index.to_be_bytes());
    p[VIDEO_META + 8..VIDEO_META + 16].copy_from_slice(&now_ns().to_be_bytes());
    p
}

/// An Opus packet payload of `size` bytes.
pub fn opus_payload(index: u64, size: usize) -> Vec<u8> {
    let mut p = vec![0xfcu8; size.max(16)];
    p[..8].copy_from_slice(&index.to_be_bytes());
    p[8..16].copy_from_slice(&now_ns().to_be_bytes());
    p
}

/// What a payload says about itself: (index, send time ns, keyframe start).
pub fn read_payload(video: bool, p: &[u8]) -> Option<(u64, u64, bool)> {
    let off = if video { VIDEO_META } else { 0 };
    let index = u64::from_be_bytes(p.get(off..off + 8)?.try_into().ok()?);
    let sent = u64::from_be_bytes(p.get(off + 8..off + 16)?.try_into().ok()?);
    let key = video && p[0] & 0x10 != 0 && p[1] & 0x01 == 0;
    Some((index, sent, key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip() {
        let v = vp8_payload(42, true, true, 1000);
        assert_eq!(v.len(), 1000);
        let (i, t, k) = read_payload(true, &v).unwrap();
        assert_eq!(i, 42);
        assert!(k);
        assert!(t <= now_ns());
        let (_, _, k) = read_payload(true, &vp8_payload(1, true, false, 100)).unwrap();
        assert!(!k);
        let (_, _, k) = read_payload(true, &vp8_payload(1, false, true, 100)).unwrap();
        assert!(!k, "a continuation packet is not a keyframe start");
        assert_eq!(read_payload(false, &opus_payload(7, 80)).unwrap().0, 7);
        assert!(read_payload(false, &[1, 2]).is_none());
    }
}
