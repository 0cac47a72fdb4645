//! What the forwarder needs to know about payloads: does this packet start a keyframe?
//!
//! Only the RTP payload descriptor and the first bytes of the codec header are read; nothing is
//! decoded. Each function takes an untrusted payload and never panics.

/// Codecs the SFU forwards.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Codec {
    Vp8,
    Vp9,
    H264,
    Opus,
}

impl Codec {
    /// From an SDP/WebRTC mime type such as `video/VP8`.
    pub fn from_mime(mime: &str) -> Option<Codec> {
        let sub = mime.rsplit('/').next()?;
        if sub.eq_ignore_ascii_case("vp8") {
            Some(Codec::Vp8)
        } else if sub.eq_ignore_ascii_case("vp9") {
            Some(Codec::Vp9)
        } else if sub.eq_ignore_ascii_case("h264") {
            Some(Codec::H264)
        } else if sub.eq_ignore_ascii_case("opus") {
            Some(Codec::Opus)
        } else {
            None
        }
    }

    pub fn is_video(self) -> bool {
        !matches!(self, Codec::Opus)
    }

    /// Does this RTP payload begin a keyframe (a point where a new viewer can start decoding)?
    /// Audio packets are always a valid start.
    pub fn is_keyframe_start(self, payload: &[u8]) -> bool {
        match self {
            Codec::Vp8 => vp8_keyframe_start(payload),
            Codec::Vp9 => vp9_keyframe_start(payload),
            Codec::H264 => h264_keyframe_start(payload),
            Codec::Opus => true,
        }
    }
}

/// VP8 (RFC 7741): a packet with S=1 and PID=0 starts a frame; the frame is a keyframe when the
/// P bit of the VP8 payload header is 0.
fn vp8_keyframe_start(p: &[u8]) -> bool {
    let Some(&b0) = p.first() else { return false };
    let extended = b0 & 0x80 != 0;
    let start = b0 & 0x10 != 0;
    let pid = b0 & 0x07;
    if !start || pid != 0 {
        return false;
    }
    let mut i = 1;
    if extended {
        let Some(&x) = p.get(i) else { return false };
        i += 1;
        if x & 0x80 != 0 {
            // PictureID: 7 or 15 bits.
            let Some(&pic) = p.get(i) else { return false };
            i += if pic & 0x80 != 0 { 2 } else { 1 };
        }
        if x & 0x40 != 0 {
            i += 1; // TL0PICIDX
        }
        if x & 0x30 != 0 {
            i += 1; // TID/Y/KEYIDX
        }
    }
    matches!(p.get(i), Some(h) if h & 0x01 == 0)
}

/// VP9 (RFC 9628): B=1 (beginning of a frame) and P=0 (not inter-predicted) on the base layer.
fn vp9_keyframe_start(p: &[u8]) -> bool {
    let Some(&b0) = p.first() else { return false };
    let inter_predicted = b0 & 0x40 != 0;
    let begin = b0 & 0x08 != 0;
    if !begin || inter_predicted {
        return false;
    }
    let has_layers = b0 & 0x20 != 0;
    if !has_layers {
        return true;
    }
    // Layer indices follow the picture id; require spatial layer 0.
    let mut i = 1;
    if b0 & 0x80 != 0 {
        let Some(&pic) = p.get(i) else { return false };
        i += if pic & 0x80 != 0 { 2 } else { 1 };
    }
    matches!(p.get(i), Some(l) if (l >> 1) & 0x07 == 0)
}

/// H.264 (RFC 6184): an SPS or the first fragment of an IDR slice, alone, in a STAP-A, or in a
/// FU-A start fragment.
fn h264_keyframe_start(p: &[u8]) -> bool {
    const SPS: u8 = 7;
    const IDR: u8 = 5;
    let Some(&b0) = p.first() else { return false };
    match b0 & 0x1f {
        SPS | IDR => true,
        24 => {
            // STAP-A: 16-bit sizes followed by NAL units.
            let mut i = 1;
            while i + 2 < p.len() {
                let size = u16::from_be_bytes([p[i], p[i + 1]]) as usize;
                let Some(&nal) = p.get(i + 2) else { break };
                if matches!(nal & 0x1f, SPS | IDR) {
                    return true;
                }
                i += 2 + size;
            }
            false
        }
        28 => matches!(p.get(1), Some(fu) if fu & 0x80 != 0 && matches!(fu & 0x1f, SPS | IDR)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mime_types() {
        assert_eq!(Codec::from_mime("video/VP8"), Some(Codec::Vp8));
        assert_eq!(Codec::from_mime("video/h264"), Some(Codec::H264));
        assert_eq!(Codec::from_mime("audio/opus"), Some(Codec::Opus));
        assert_eq!(Codec::from_mime("video/AV1"), None);
        assert_eq!(Codec::from_mime(""), None);
    }

    #[test]
    fn vp8_keyframes() {
        // S=1, PID=0, no extension, P=0 → keyframe.
        assert!(Codec::Vp8.is_keyframe_start(&[0x10, 0x00, 0x9d, 0x01, 0x2a]));
        // P=1 → delta frame.
        assert!(!Codec::Vp8.is_keyframe_start(&[0x10, 0x01]));
        // Not a frame start.
        assert!(!Codec::Vp8.is_keyframe_start(&[0x00, 0x00]));
        // Extended with a 15-bit picture id, TL0PICIDX and TID: header at offset 6.
        assert!(Codec::Vp8.is_keyframe_start(&[0x90, 0xe0, 0x81, 0x23, 0x05, 0x20, 0x00]));
        assert!(!Codec::Vp8.is_keyframe_start(&[0x90, 0xe0, 0x81, 0x23, 0x05, 0x20, 0x01]));
        // Truncated.
        assert!(!Codec::Vp8.is_keyframe_start(&[0x90, 0x80]));
        assert!(!Codec::Vp8.is_keyframe_start(&[]));
    }

    #[test]
    fn vp9_keyframes() {
        assert!(Codec::Vp9.is_keyframe_start(&[0x08]));
        assert!(!Codec::Vp9.is_keyframe_start(&[0x48]));
        assert!(!Codec::Vp9.is_keyframe_start(&[0x00]));
        // Picture id (7 bit) and layer byte with spatial id 1 → not a base-layer start.
        assert!(!Codec::Vp9.is_keyframe_start(&[0xa8, 0x05, 0x02]));
        assert!(Codec::Vp9.is_keyframe_start(&[0xa8, 0x05, 0x00]));
    }

    #[test]
    fn h264_keyframes() {
        assert!(Codec::H264.is_keyframe_start(&[0x67, 0x42]));
        assert!(Codec::H264.is_keyframe_start(&[0x65, 0x88]));
        assert!(!Codec::H264.is_keyframe_start(&[0x41, 0x9a]));
        // STAP-A with SPS.
        assert!(Codec::H264.is_keyframe_start(&[0x78, 0x00, 0x02, 0x67, 0x42, 0x00, 0x01, 0x68]));
        // FU-A start of IDR, and a middle fragment.
        assert!(Codec::H264.is_keyframe_start(&[0x7c, 0x85]));
        assert!(!Codec::H264.is_keyframe_start(&[0x7c, 0x05]));
        // Hostile STAP-A sizes.
        assert!(!Codec::H264.is_keyframe_start(&[0x78, 0xff, 0xff, 0x41]));
    }

    #[test]
    fn never_panics_on_short_input() {
        for codec in [Codec::Vp8, Codec::Vp9, Codec::H264, Codec::Opus] {
            for len in 0..8 {
                for fill in [0x00u8, 0xff, 0x90, 0x78, 0x7c] {
                    let _ = codec.is_keyframe_start(&vec![fill; len]);
                }
            }
        }
    }
}
