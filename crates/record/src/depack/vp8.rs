//! VP8 payload descriptor (RFC 7741 §4.2) and the start of the VP8 frame header (RFC 6386 §9.1).
//!
//! ```text
//!  X R N S R PID(3)         always
//!  I L T K RSV(4)           if X
//!  M PictureID(7|15)        if I (15 bits when M)
//!  TL0PICIDX                if L
//!  TID(2) Y KEYIDX(5)       if T or K
//! ```
//!
//! The descriptor is stripped; what follows is VP8 bitstream. A packet with S=1 and PID=0
//! carries the first bytes of a frame, whose 3-byte frame tag says keyframe (P bit 0) and, for a
//! keyframe, is followed by the start code `9d 01 2a` and two 16-bit little-endian sizes (14
//! bits of size, 2 bits of scaling).

use super::PicId;

/// What one VP8 packet says about itself.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Vp8Packet {
    /// First packet of a frame (S=1, PID=0).
    pub start: bool,
    pub picture_id: Option<PicId>,
    /// Offset of the VP8 bitstream in the payload.
    pub body: usize,
    /// Only meaningful on a start packet.
    pub keyframe: bool,
    /// Only on a keyframe start packet with a complete header.
    pub dimensions: Option<(u16, u16)>,
}

/// Parses the descriptor; `None` when it is truncated or a start packet has no frame tag.
pub(super) fn parse(p: &[u8]) -> Option<Vp8Packet> {
    let b0 = *p.first()?;
    let start = b0 & 0x10 != 0 && b0 & 0x07 == 0;
    let mut i = 1;
    let mut picture_id = None;
    if b0 & 0x80 != 0 {
        let x = *p.get(i)?;
        i += 1;
        if x & 0x80 != 0 {
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
        if x & 0x40 != 0 {
            i += 1; // TL0PICIDX
        }
        if x & 0x30 != 0 {
            i += 1; // TID / Y / KEYIDX
        }
    }
    if i > p.len() {
        return None;
    }
    let body = &p[i..];
    let (keyframe, dimensions) = if start {
        let tag = *body.first()?;
        let keyframe = tag & 0x01 == 0;
        let dimensions = if keyframe { keyframe_size(body) } else { None };
        (keyframe, dimensions)
    } else {
        (false, None)
    };
    Some(Vp8Packet {
        start,
        picture_id,
        body: i,
        keyframe,
        dimensions,
    })
}

/// Width and height from a keyframe's header: frame tag (3), start code (3), sizes (2 + 2).
fn keyframe_size(frame: &[u8]) -> Option<(u16, u16)> {
    let h = frame.get(..10)?;
    if h[3..6] != [0x9d, 0x01, 0x2a] {
        return None;
    }
    let w = u16::from_le_bytes([h[6], h[7]]) & 0x3fff;
    let ht = u16::from_le_bytes([h[8], h[9]]) & 0x3fff;
    (w != 0 && ht != 0).then_some((w, ht))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first bytes of a real 640×360 VP8 keyframe (libvpx).
    const KEY_640X360: [u8; 10] = [0x70, 0x93, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0x68, 0x01];

    #[test]
    fn minimal_descriptor() {
        let mut p = vec![0x10];
        p.extend_from_slice(&KEY_640X360);
        let v = parse(&p).unwrap();
        assert!(v.start && v.keyframe);
        assert_eq!(v.body, 1);
        assert_eq!(v.picture_id, None);
        assert_eq!(v.dimensions, Some((640, 360)));
    }

    #[test]
    fn chrome_descriptor_with_15_bit_picture_id_and_tl0picidx() {
        // X=1 S=1; I L T; PictureID 0x1a5c (M=1); TL0PICIDX 0x37; TID 0, Y=1.
        let mut p = vec![0x90, 0xe0, 0x9a, 0x5c, 0x37, 0x20];
        p.extend_from_slice(&KEY_640X360);
        let v = parse(&p).unwrap();
        assert!(v.start && v.keyframe);
        assert_eq!(v.picture_id, Some(PicId::new(0x1a5c, 15)));
        assert_eq!(v.body, 6);
        assert_eq!(v.dimensions, Some((640, 360)));

        // The same picture's second packet: S=0, only the descriptor differs.
        let v = parse(&[0x80, 0xe0, 0x9a, 0x5c, 0x37, 0x20, 0xaa, 0xbb]).unwrap();
        assert!(!v.start);
        assert_eq!(v.body, 6);

        // A delta frame: P bit set.
        let v = parse(&[0x90, 0xe0, 0x9a, 0x5d, 0x37, 0x20, 0x31, 0x02, 0x00]).unwrap();
        assert!(v.start && !v.keyframe);
        assert_eq!(v.dimensions, None);
    }

    #[test]
    fn seven_bit_picture_id_and_partition_starts() {
        let v = parse(&[0x90, 0x80, 0x05, 0x01]).unwrap();
        assert_eq!(v.picture_id, Some(PicId::new(5, 7)));
        assert_eq!(v.body, 3);
        // S=1 but PID=1: start of a later partition, not of the frame.
        let v = parse(&[0x11, 0x00]).unwrap();
        assert!(!v.start);
    }

    #[test]
    fn truncated_descriptors() {
        assert_eq!(parse(&[]), None);
        assert_eq!(parse(&[0x90]), None);
        assert_eq!(parse(&[0x90, 0x80]), None);
        assert_eq!(parse(&[0x90, 0x80, 0x81]), None);
        assert_eq!(parse(&[0x90, 0xf0, 0x81, 0x00, 0x00]), None);
        // A start packet without a frame tag.
        assert_eq!(parse(&[0x10]), None);
        // A keyframe whose header is cut short: no size, still a keyframe.
        let v = parse(&[0x10, 0x70, 0x93, 0x00, 0x9d]).unwrap();
        assert!(v.keyframe);
        assert_eq!(v.dimensions, None);
        // A continuation packet may carry nothing after its descriptor.
        assert!(parse(&[0x80, 0x80, 0x05]).is_some());
    }
}
