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

/// Video codecs the synthetic camera can imitate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VideoCodec {
    Vp8,
    Vp9,
    H264,
}

impl VideoCodec {
    pub fn mime(self) -> &'static str {
        match self {
            VideoCodec::Vp8 => "video/VP8",
            VideoCodec::Vp9 => "video/VP9",
            VideoCodec::H264 => "video/H264",
        }
    }
}

/// A VP8 packet payload of `size` bytes.
pub fn vp8_payload(index: u64, frame_start: bool, keyframe: bool, size: usize) -> Vec<u8> {
    video_payload(VideoCodec::Vp8, index, frame_start, keyframe, size)
}

/// A video packet payload of `size` bytes whose first two bytes carry the codec's frame-start
/// and keyframe signals: VP8 descriptor S bit and header P bit; VP9 descriptor B and P bits;
/// H.264 NAL unit type (IDR 5 or non-IDR 1, as a FU-A for continuations).
pub fn video_payload(
    codec: VideoCodec,
    index: u64,
    frame_start: bool,
    keyframe: bool,
    size: usize,
) -> Vec<u8> {
    let mut p = vec![0u8; size.max(VIDEO_META + 16)];
    match codec {
        VideoCodec::Vp8 => {
            p[0] = if frame_start { 0x10 } else { 0x00 };
            // VP8 payload header: P bit (0x01) = inter frame.
            p[1] = if keyframe { 0x00 } else { 0x01 };
        }
        VideoCodec::Vp9 => {
            p[0] = match (frame_start, keyframe) {
                (true, true) => 0x08,
                (true, false) => 0x48,
                (false, true) => 0x00,
                (false, false) => 0x40,
            };
        }
        VideoCodec::H264 => {
            let nal = if keyframe { 5 } else { 1 };
            // FU-A: indicator (type 28), header with the start bit on the first fragment.
            p[0] = 0x60 | 28;
            p[1] = if frame_start { 0x80 | nal } else { nal };
        }
    }
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

/// What a payload says about itself: (index, send time ns, keyframe start). `video` is the
/// codec of a video payload, `None` for audio.
pub fn read_payload(video: Option<VideoCodec>, p: &[u8]) -> Option<(u64, u64, bool)> {
    let off = if video.is_some() { VIDEO_META } else { 0 };
    let index = u64::from_be_bytes(p.get(off..off + 8)?.try_into().ok()?);
    let sent = u64::from_be_bytes(p.get(off + 8..off + 16)?.try_into().ok()?);
    let key = match video {
        None => false,
        Some(VideoCodec::Vp8) => p[0] & 0x10 != 0 && p[1] & 0x01 == 0,
        Some(VideoCodec::Vp9) => p[0] & 0x08 != 0 && p[0] & 0x40 == 0,
        Some(VideoCodec::H264) => p[0] & 0x1f == 28 && p[1] == 0x85,
    };
    Some((index, sent, key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip() {
        let v = vp8_payload(42, true, true, 1000);
        assert_eq!(v.len(), 1000);
        let (i, t, k) = read_payload(Some(VideoCodec::Vp8), &v).unwrap();
        assert_eq!(i, 42);
        assert!(k);
        assert!(t <= now_ns());
        let (_, _, k) =
            read_payload(Some(VideoCodec::Vp8), &vp8_payload(1, true, false, 100)).unwrap();
        assert!(!k);
        let (_, _, k) =
            read_payload(Some(VideoCodec::Vp8), &vp8_payload(1, false, true, 100)).unwrap();
        assert!(!k, "a continuation packet is not a keyframe start");
        assert_eq!(read_payload(None, &opus_payload(7, 80)).unwrap().0, 7);
        assert!(read_payload(None, &[1, 2]).is_none());
        for codec in [VideoCodec::Vp9, VideoCodec::H264] {
            let k = video_payload(codec, 3, true, true, 100);
            assert!(
                read_payload(Some(codec), &k).unwrap().2,
                "{codec:?} keyframe"
            );
            let d = video_payload(codec, 3, true, false, 100);
            assert!(!read_payload(Some(codec), &d).unwrap().2, "{codec:?} delta");
            let c = video_payload(codec, 3, false, true, 100);
            assert!(
                !read_payload(Some(codec), &c).unwrap().2,
                "{codec:?} continuation"
            );
        }
    }
}
