//! VP9 payload descriptor (RFC 9628 §4.2) and the start of the VP9 uncompressed frame header.
//!
//! ```text
//!  I P L F B E V Z              always
//!  M PictureID(7|15)            if I (15 bits when M)
//!  TID(3) U SID(3) D            if L
//!  TL0PICIDX                    if L and not F (non-flexible mode)
//!  P_DIFF(7) N                  if F and P, up to 3 times while N
//!  scalability structure        if V:
//!    N_S(3) Y G RES(3)
//!    WIDTH(16) HEIGHT(16)       × (N_S + 1) if Y
//!    N_G(8)                     if G, then per picture group entry:
//!      TID(3) U R(2) RES(2), P_DIFF(8) × R
//! ```
//!
//! B marks the first packet of a layer frame, E its last. A picture (one RTP timestamp) is the
//! layer frames of all its spatial layers; the RTP marker ends it.

use super::bits::BitReader;
use super::PicId;

/// What one VP9 packet says about itself.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Vp9Packet {
    /// B: first packet of a layer frame.
    pub begin: bool,
    /// E: last packet of a layer frame.
    pub end: bool,
    /// P: the frame references an earlier picture.
    pub inter: bool,
    /// L: layer indices present.
    pub layered: bool,
    /// Spatial layer (0 without layer indices).
    pub spatial: u8,
    pub picture_id: Option<PicId>,
    /// Offset of the VP9 bitstream in the payload.
    pub body: usize,
    /// Size of the top spatial layer, from a scalability structure with resolutions.
    pub ss_dimensions: Option<(u16, u16)>,
}

/// Parses and measures the descriptor; `None` when it is truncated or malformed.
pub(super) fn parse(p: &[u8]) -> Option<Vp9Packet> {
    let b0 = *p.first()?;
    let has_picture_id = b0 & 0x80 != 0;
    let inter = b0 & 0x40 != 0;
    let layered = b0 & 0x20 != 0;
    let flexible = b0 & 0x10 != 0;
    let begin = b0 & 0x08 != 0;
    let end = b0 & 0x04 != 0;
    let has_ss = b0 & 0x02 != 0;
    let mut i = 1;

    let mut picture_id = None;
    if has_picture_id {
        let m = *p.get(i)?;
        if m & 0x80 != 0 {
            let lo = *p.get(i + 1)?;
            picture_id = Some(PicId::new((u16::from(m & 0x7f) << 8) | u16::from(lo), 15));
            i += 2;
        } else {
            picture_id = Some(PicId::new(u16::from(m), 7));
            i += 1;
        }
    }

    let mut spatial = 0;
    if layered {
        let l = *p.get(i)?;
        spatial = (l >> 1) & 0x07;
        i += 1;
        if !flexible {
            i += 1; // TL0PICIDX
        }
    }

    if flexible && inter {
        // Up to three reference differences, each with a "another one follows" bit.
        let mut n = 0;
        loop {
            let d = *p.get(i)?;
            i += 1;
            n += 1;
            if d & 0x01 == 0 {
                break;
            }
            if n == 3 {
                return None;
            }
        }
    }

    let mut ss_dimensions = None;
    if has_ss {
        let s = *p.get(i)?;
        i += 1;
        let layers = usize::from(s >> 5) + 1;
        if s & 0x10 != 0 {
            for _ in 0..layers {
                let d = p.get(i..i + 4)?;
                let (w, h) = (
                    u16::from_be_bytes([d[0], d[1]]),
                    u16::from_be_bytes([d[2], d[3]]),
                );
                if w != 0 && h != 0 {
                    ss_dimensions = Some((w, h));
                }
                i += 4;
            }
        }
        if s & 0x08 != 0 {
            let groups = *p.get(i)?;
            i += 1;
            for _ in 0..groups {
                let g = *p.get(i)?;
                i += 1 + usize::from((g >> 2) & 0x03);
            }
        }
    }

    if i > p.len() {
        return None;
    }
    Some(Vp9Packet {
        begin,
        end,
        inter,
        layered,
        spatial,
        picture_id,
        body: i,
        ss_dimensions,
    })
}

/// What the uncompressed header of a VP9 frame says, as far as the recorder cares.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Vp9Header {
    /// A key frame (not "show existing frame", frame_type KEY_FRAME).
    pub keyframe: bool,
    /// Frame size, read from key frames.
    pub dimensions: Option<(u16, u16)>,
}

/// Reads the first bytes of a VP9 frame; `None` if they are not a VP9 frame header.
pub(super) fn frame_header(frame: &[u8]) -> Option<Vp9Header> {
    const CS_RGB: u32 = 7;
    let mut r = BitReader::new(frame);
    if r.bits(2)? != 2 {
        return None; // frame_marker
    }
    let low = r.bits(1)?;
    let high = r.bits(1)?;
    let profile = (high << 1) | low;
    if profile == 3 {
        r.bit()?; // reserved_zero
    }
    let not_key = Vp9Header {
        keyframe: false,
        dimensions: None,
    };
    if r.bit()? {
        return Some(not_key); // show_existing_frame
    }
    if r.bit()? {
        return Some(not_key); // frame_type: NON_KEY_FRAME
    }
    r.bit()?; // show_frame
    r.bit()?; // error_resilient_mode
    if r.bits(24)? != 0x49_83_42 {
        return None; // frame_sync_code
    }
    // color_config
    if profile >= 2 {
        r.bit()?; // ten_or_twelve_bit
    }
    let color_space = r.bits(3)?;
    if color_space != CS_RGB {
        r.bit()?; // color_range
        if profile == 1 || profile == 3 {
            r.bits(3)?; // subsampling_x, subsampling_y, reserved_zero
        }
    } else if profile == 1 || profile == 3 {
        r.bit()?; // reserved_zero
    }
    // frame_size: 16 bits each, minus one.
    let w = r.bits(16)? + 1;
    let h = r.bits(16)? + 1;
    Some(Vp9Header {
        keyframe: true,
        dimensions: u16::try_from(w).ok().zip(u16::try_from(h).ok()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// First bytes of real 320×240 VP9 key frames (libvpx): profile 0 (4:2:0) and profile 1
    /// (4:4:4, RGB colour space).
    const KEY_PROFILE0: [u8; 12] = [
        0x82, 0x49, 0x83, 0x42, 0x00, 0x13, 0xf0, 0x0e, 0xf6, 0x08, 0x38, 0x24,
    ];
    const KEY_PROFILE1: [u8; 12] = [
        0xa2, 0x49, 0x83, 0x42, 0xe0, 0x13, 0xf0, 0x0e, 0xf6, 0x08, 0x38, 0x24,
    ];

    #[test]
    fn key_frame_headers() {
        for h in [&KEY_PROFILE0, &KEY_PROFILE1] {
            assert_eq!(
                frame_header(h),
                Some(Vp9Header {
                    keyframe: true,
                    dimensions: Some((320, 240))
                })
            );
        }
        // An inter frame: frame_type 1.
        assert_eq!(frame_header(&[0x86, 0x00]).map(|h| h.keyframe), Some(false));
        // Show existing frame.
        assert_eq!(frame_header(&[0x88]).map(|h| h.keyframe), Some(false));
        // Not a frame marker; truncated.
        assert_eq!(frame_header(&[0x00, 0x00]), None);
        assert_eq!(frame_header(&KEY_PROFILE0[..5]), None);
        assert_eq!(frame_header(&[]), None);
    }

    #[test]
    fn chrome_keyframe_descriptor_with_scalability_structure() {
        // I (15-bit id 0x1234), B, E, V; SS: one layer with 640×360, no picture group.
        let p = [0x8e, 0x92, 0x34, 0x10, 0x02, 0x80, 0x01, 0x68, 0xaa];
        let v = parse(&p).unwrap();
        assert!(v.begin && v.end && !v.inter && !v.layered);
        assert_eq!(v.picture_id, Some(PicId::new(0x1234, 15)));
        assert_eq!(v.ss_dimensions, Some((640, 360)));
        assert_eq!(v.body, 8);
    }

    #[test]
    fn layered_flexible_and_picture_groups() {
        // Non-flexible with layer indices: SID 2, then TL0PICIDX.
        let v = parse(&[0xa8, 0x05, 0x04, 0x07, 0xee]).unwrap();
        assert_eq!(v.spatial, 2);
        assert_eq!(v.body, 4);
        // Flexible, inter: layer byte, no TL0PICIDX, two P_DIFFs.
        let v = parse(&[0xf8, 0x05, 0x00, 0x03, 0x02, 0xee]).unwrap();
        assert!(v.inter);
        assert_eq!(v.body, 5);
        // A fourth P_DIFF is not allowed.
        assert_eq!(parse(&[0xd8, 0x05, 0x03, 0x03, 0x03, 0xee]), None);
        // SS with two layers (320×180, 640×360) and a group of two entries, the second with
        // one reference.
        let v = parse(&[
            0x0a, 0x38, 0x01, 0x40, 0x00, 0xb4, 0x02, 0x80, 0x01, 0x68, 0x02, 0x00, 0x04, 0x01,
            0xee,
        ])
        .unwrap();
        assert_eq!(v.ss_dimensions, Some((640, 360)));
        assert_eq!(v.body, 14);
    }

    #[test]
    fn truncated_descriptors() {
        assert_eq!(parse(&[]), None);
        assert_eq!(parse(&[0x80]), None);
        assert_eq!(parse(&[0x80, 0x80]), None);
        assert_eq!(parse(&[0x20]), None);
        assert_eq!(parse(&[0x20, 0x00]), None);
        assert_eq!(parse(&[0x50]), None);
        assert_eq!(parse(&[0x02]), None);
        assert_eq!(parse(&[0x02, 0x10, 0x00]), None);
        assert_eq!(parse(&[0x02, 0x08, 0x02, 0x0c]), None);
        // Descriptor only: fine (empty body).
        assert_eq!(parse(&[0x08]).map(|v| v.body), Some(1));
    }
}
