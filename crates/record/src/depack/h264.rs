//! H.264 over RTP (RFC 6184, packetization mode 1 as WebRTC uses it) to AVCC access units.
//!
//! Three payload structures occur: a single NAL unit (types 1–23), STAP-A (24: 16-bit sizes and
//! NAL units) and FU-A (28: one NAL unit cut in fragments; the FU indicator keeps the NAL's
//! F/NRI bits, the FU header its type and the start/end bits). Every NAL unit of an access unit is
//! written with a 4-byte big-endian length in front, as Matroska's `V_MPEG4/ISO/AVC` wants.
//!
//! Sequence and picture parameter sets stay in-band and are also remembered, to build the
//! `AVCDecoderConfigurationRecord` (avcC, ISO/IEC 14496-15 §5.2.4.1) a file header needs. The
//! SPS is parsed for the picture size (with frame cropping).

use super::bits::BitReader;

const NAL_SLICE: u8 = 1;
const NAL_IDR: u8 = 5;
const NAL_SPS: u8 = 7;
const NAL_PPS: u8 = 8;
const NAL_AUD: u8 = 9;
const STAP_A: u8 = 24;
const FU_A: u8 = 28;

/// Parameter sets larger than this (real ones are tens of bytes) stay in-band but are not
/// remembered for avcC.
const MAX_PARAMETER_SET: usize = 1024;

/// The payload is not valid H.264 RTP (or uses a mode WebRTC does not).
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Malformed;

/// What the NAL units of one access unit revealed.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct AuInfo {
    /// Contains an IDR slice.
    pub idr: bool,
    /// Contains a sequence parameter set.
    pub sps: bool,
}

/// Reassembly state of one H.264 track, kept across access units for the parameter sets.
#[derive(Default)]
pub(super) struct H264 {
    /// Offset, relative to the frame start, of the length prefix of the NAL unit an FU-A is
    /// rebuilding, while one is open.
    fu: Option<(usize, u8)>,
    sps: Vec<u8>,
    pps: Vec<u8>,
    avcc: Vec<u8>,
    dimensions: Option<(u16, u16)>,
}

impl H264 {
    /// Forgets a half-rebuilt NAL unit (at a frame start or when a frame is dropped).
    pub(super) fn reset(&mut self) {
        self.fu = None;
    }

    /// Whether the access unit can end here (no NAL unit left half-rebuilt).
    pub(super) fn can_finish(&self) -> bool {
        self.fu.is_none()
    }

    /// The avcC record, once an SPS and a PPS were seen.
    pub(super) fn avcc(&self) -> Option<&[u8]> {
        (!self.avcc.is_empty()).then_some(self.avcc.as_slice())
    }

    /// The picture size of the latest SPS, if it could be parsed.
    pub(super) fn dimensions(&self) -> Option<(u16, u16)> {
        self.dimensions
    }

    /// Appends one RTP payload's NAL units to the frame at `out[frame..]`, length-prefixed.
    pub(super) fn append(
        &mut self,
        p: &[u8],
        out: &mut Vec<u8>,
        frame: usize,
        au: &mut AuInfo,
    ) -> Result<(), Malformed> {
        let b0 = *p.first().ok_or(Malformed)?;
        match b0 & 0x1f {
            NAL_SLICE..=23 => {
                if self.fu.is_some() {
                    return Err(Malformed);
                }
                self.write_nal(p, out, au);
            }
            STAP_A => {
                if self.fu.is_some() {
                    return Err(Malformed);
                }
                let mut i = 1;
                while i < p.len() {
                    let size = p.get(i..i + 2).ok_or(Malformed)?;
                    let size = usize::from(u16::from_be_bytes([size[0], size[1]]));
                    let nal = p.get(i + 2..i + 2 + size).ok_or(Malformed)?;
                    if !nal.is_empty() {
                        self.write_nal(nal, out, au);
                    }
                    i += 2 + size;
                }
            }
            FU_A => {
                let fu = *p.get(1).ok_or(Malformed)?;
                let (start, end, nal_type) = (fu & 0x80 != 0, fu & 0x40 != 0, fu & 0x1f);
                let data = &p[2..];
                if start {
                    if self.fu.is_some() {
                        return Err(Malformed);
                    }
                    let len_at = out.len() - frame;
                    out.extend_from_slice(&[0; 4]);
                    out.push((b0 & 0xe0) | nal_type);
                    self.fu = Some((len_at, nal_type));
                    if nal_type == NAL_IDR {
                        au.idr = true;
                    }
                } else if self.fu.is_none() {
                    return Err(Malformed);
                }
                out.extend_from_slice(data);
                if end {
                    let (len_at, nal_type) = self.fu.take().ok_or(Malformed)?;
                    let at = frame + len_at;
                    let len = out.len() - at - 4;
                    let len = u32::try_from(len).map_err(|_| Malformed)?;
                    out[at..at + 4].copy_from_slice(&len.to_be_bytes());
                    if matches!(nal_type, NAL_SPS | NAL_PPS) {
                        // Rare (parameter sets fit in one packet), but handled.
                        self.remember(&out[at + 4..], au);
                    }
                }
            }
            // Reserved types: receivers ignore them.
            0 | 30 | 31 => {}
            // STAP-B, MTAP16/24, FU-B: interleaved mode only, which WebRTC does not use.
            _ => return Err(Malformed),
        }
        Ok(())
    }

    fn write_nal(&mut self, nal: &[u8], out: &mut Vec<u8>, au: &mut AuInfo) {
        // An RTP payload is far below 4 GiB; the length always fits.
        let len = u32::try_from(nal.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(nal);
        match nal[0] & 0x1f {
            NAL_IDR => au.idr = true,
            NAL_SPS | NAL_PPS => self.remember(nal, au),
            _ => {}
        }
    }

    /// Keeps the latest SPS / PPS and rebuilds avcC when one of them changed.
    fn remember(&mut self, nal: &[u8], au: &mut AuInfo) {
        let Some(&header) = nal.first() else { return };
        if nal.len() > MAX_PARAMETER_SET {
            return;
        }
        let is_sps = header & 0x1f == NAL_SPS;
        if is_sps {
            au.sps = true;
        }
        let slot = if is_sps { &mut self.sps } else { &mut self.pps };
        if slot.as_slice() == nal {
            return;
        }
        slot.clear();
        slot.extend_from_slice(nal);
        if is_sps {
            self.dimensions = parse_sps(nal).and_then(|s| s.dimensions);
        }
        self.rebuild_avcc();
    }

    fn rebuild_avcc(&mut self) {
        self.avcc.clear();
        if self.sps.len() < 4 || self.pps.is_empty() {
            return;
        }
        let (Ok(sps_len), Ok(pps_len)) =
            (u16::try_from(self.sps.len()), u16::try_from(self.pps.len()))
        else {
            return;
        };
        let a = &mut self.avcc;
        a.push(1); // configurationVersion
        a.extend_from_slice(&self.sps[1..4]); // profile, compatibility, level
        a.push(0xfc | 3); // lengthSizeMinusOne = 3
        a.push(0xe0 | 1); // one SPS
        a.extend_from_slice(&sps_len.to_be_bytes());
        a.extend_from_slice(&self.sps);
        a.push(1); // one PPS
        a.extend_from_slice(&pps_len.to_be_bytes());
        a.extend_from_slice(&self.pps);
        if matches!(self.sps[1], 100 | 110 | 122 | 144) {
            if let Some(sps) = parse_sps(&self.sps) {
                a.push(0xfc | (sps.chroma_format_idc & 0x03));
                a.push(0xf8 | (sps.bit_depth_luma_minus8 & 0x07));
                a.push(0xf8 | (sps.bit_depth_chroma_minus8 & 0x07));
                a.push(0); // no SPS extensions
            }
        }
    }
}

/// Does this payload surely begin an access unit? Used after loss, when the previous packet
/// that would tell is missing. Only an access unit delimiter or a sequence parameter set as the
/// first NAL unit count: a slice, even the first of its picture, may have had parameter sets or
/// SEI in front of it in a lost packet. (A keyframe sent without in-band parameter sets right
/// behind a loss is therefore missed; the next one, arriving in sequence, is not.)
pub(super) fn starts_access_unit(p: &[u8]) -> bool {
    let Some(&b0) = p.first() else { return false };
    let first_nal = match b0 & 0x1f {
        STAP_A => p.get(3).map(|n| n & 0x1f),
        FU_A => p.get(1).filter(|fu| *fu & 0x80 != 0).map(|fu| fu & 0x1f),
        t => Some(t),
    };
    matches!(first_nal, Some(NAL_AUD | NAL_SPS))
}

/// The fields of a sequence parameter set the recorder uses.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Sps {
    pub chroma_format_idc: u8,
    pub bit_depth_luma_minus8: u8,
    pub bit_depth_chroma_minus8: u8,
    /// Cropped picture size, when it fits 16 bits.
    pub dimensions: Option<(u16, u16)>,
}

/// Parses an SPS NAL unit (header byte included), H.264 §7.3.2.1.1.
pub(super) fn parse_sps(nal: &[u8]) -> Option<Sps> {
    let mut r = BitReader::rbsp(nal.get(1..)?);
    let profile_idc = r.bits(8)?;
    r.bits(16)?; // constraint flags, level_idc
    r.ue()?; // seq_parameter_set_id
    let mut chroma_format_idc = 1;
    let mut separate_colour_plane = false;
    let (mut depth_luma, mut depth_chroma) = (0, 0);
    if matches!(
        profile_idc,
        100 | 110 | 122 | 244 | 44 | 83 | 86 | 118 | 128 | 138 | 139 | 134 | 135
    ) {
        chroma_format_idc = r.ue()?;
        if chroma_format_idc > 3 {
            return None;
        }
        if chroma_format_idc == 3 {
            separate_colour_plane = r.bit()?;
        }
        depth_luma = r.ue()?;
        depth_chroma = r.ue()?;
        if depth_luma > 6 || depth_chroma > 6 {
            return None;
        }
        r.bit()?; // qpprime_y_zero_transform_bypass_flag
        if r.bit()? {
            // seq_scaling_matrix_present_flag
            let lists = if chroma_format_idc == 3 { 12 } else { 8 };
            for i in 0..lists {
                if r.bit()? {
                    skip_scaling_list(&mut r, if i < 6 { 16 } else { 64 })?;
                }
            }
        }
    }
    r.ue()?; // log2_max_frame_num_minus4
    match r.ue()? {
        0 => {
            r.ue()?; // log2_max_pic_order_cnt_lsb_minus4
        }
        1 => {
            r.bit()?; // delta_pic_order_always_zero_flag
            r.se()?; // offset_for_non_ref_pic
            r.se()?; // offset_for_top_to_bottom_field
            let cycle = r.ue()?;
            if cycle > 255 {
                return None;
            }
            for _ in 0..cycle {
                r.se()?;
            }
        }
        2 => {}
        _ => return None,
    }
    r.ue()?; // max_num_ref_frames
    r.bit()?; // gaps_in_frame_num_value_allowed_flag
    let width_mbs = u64::from(r.ue()?) + 1;
    let height_units = u64::from(r.ue()?) + 1;
    let frame_mbs_only = r.bit()?;
    if !frame_mbs_only {
        r.bit()?; // mb_adaptive_frame_field_flag
    }
    r.bit()?; // direct_8x8_inference_flag
    let (mut crop_l, mut crop_r, mut crop_t, mut crop_b) = (0, 0, 0, 0);
    if r.bit()? {
        crop_l = u64::from(r.ue()?);
        crop_r = u64::from(r.ue()?);
        crop_t = u64::from(r.ue()?);
        crop_b = u64::from(r.ue()?);
    }
    let field_factor = if frame_mbs_only { 1 } else { 2 };
    let (crop_x, crop_y) = if separate_colour_plane || chroma_format_idc == 0 {
        (1, field_factor)
    } else {
        let sub_width = if chroma_format_idc == 3 { 1 } else { 2 };
        let sub_height = if chroma_format_idc == 1 { 2 } else { 1 };
        (sub_width, sub_height * field_factor)
    };
    let width = (width_mbs * 16).checked_sub(crop_x * (crop_l + crop_r));
    let height = (height_units * 16 * field_factor).checked_sub(crop_y * (crop_t + crop_b));
    let dimensions = match (width, height) {
        (Some(w), Some(h)) if w > 0 && h > 0 => u16::try_from(w).ok().zip(u16::try_from(h).ok()),
        _ => None,
    };
    Some(Sps {
        chroma_format_idc: chroma_format_idc as u8,
        bit_depth_luma_minus8: depth_luma as u8,
        bit_depth_chroma_minus8: depth_chroma as u8,
        dimensions,
    })
}

fn skip_scaling_list(r: &mut BitReader<'_>, size: usize) -> Option<()> {
    let (mut last, mut next) = (8i64, 8i64);
    for _ in 0..size {
        if next != 0 {
            let delta = r.se()?;
            next = (last + delta).rem_euclid(256);
        }
        if next != 0 {
            last = next;
        }
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// Real parameter sets from libx264: 1920×1080 High (cropped from 1088) and 640×360
    /// Constrained Baseline (cropped from 368).
    const SPS_1080_HIGH: &str = "67640028acd940780227e5c044000003000400000300083c60c658";
    const SPS_360_BASELINE: &str = "6742c016d900a02ff97011000003000100000300020f162e48";
    /// Test vectors published with other parsers: 320×180 High (crop bottom 6) and 720×404
    /// Baseline.
    const SPS_180_HIGH: &str = "6764000dacd941419f9e10000003001000000303c0f1429960";
    const SPS_404_BASELINE: &str = "6742c01ed900b435f9e10000030001000003003c0f162e48";

    #[test]
    fn sps_sizes_with_cropping() {
        let dims = |s: &str| parse_sps(&hex(s)).and_then(|s| s.dimensions);
        assert_eq!(dims(SPS_1080_HIGH), Some((1920, 1080)));
        assert_eq!(dims(SPS_360_BASELINE), Some((640, 360)));
        assert_eq!(dims(SPS_180_HIGH), Some((320, 180)));
        assert_eq!(dims(SPS_404_BASELINE), Some((720, 404)));
        let high = parse_sps(&hex(SPS_1080_HIGH)).unwrap();
        assert_eq!(high.chroma_format_idc, 1);
        assert_eq!(
            (high.bit_depth_luma_minus8, high.bit_depth_chroma_minus8),
            (0, 0)
        );
    }

    #[test]
    fn sps_truncated_never_panics() {
        let sps = hex(SPS_1080_HIGH);
        for n in 0..sps.len() {
            let _ = parse_sps(&sps[..n]);
        }
        assert_eq!(parse_sps(&[]), None);
        assert_eq!(parse_sps(&[0x67]), None);
        assert_eq!(
            parse_sps(&[0x67, 0x64, 0x00, 0x28, 0x00, 0x00, 0x00, 0x00]),
            None
        );
    }

    #[test]
    fn avcc_record() {
        let mut h = H264::default();
        let mut out = Vec::new();
        let mut au = AuInfo::default();
        let sps = hex(SPS_1080_HIGH);
        let pps = hex("68ebe3cb22c0");
        h.append(&sps, &mut out, 0, &mut au).unwrap();
        assert_eq!(h.avcc(), None);
        h.append(&pps, &mut out, 0, &mut au).unwrap();
        assert!(au.sps && !au.idr);
        let a = h.avcc().unwrap();
        assert_eq!(&a[..6], &[1, 0x64, 0x00, 0x28, 0xff, 0xe1]);
        assert_eq!(&a[6..8], &(sps.len() as u16).to_be_bytes());
        assert_eq!(&a[8..8 + sps.len()], &sps[..]);
        let rest = &a[8 + sps.len()..];
        assert_eq!(rest[0], 1);
        assert_eq!(&rest[1..3], &(pps.len() as u16).to_be_bytes());
        assert_eq!(&rest[3..3 + pps.len()], &pps[..]);
        // High profile: chroma format 1, 8-bit, no extensions.
        assert_eq!(&rest[3 + pps.len()..], &[0xfd, 0xf8, 0xf8, 0x00]);
        assert_eq!(h.dimensions(), Some((1920, 1080)));

        // Baseline has no extension bytes.
        let mut h = H264::default();
        h.append(&hex(SPS_360_BASELINE), &mut out, 0, &mut au)
            .unwrap();
        h.append(&hex("68cb83cb20"), &mut out, 0, &mut au).unwrap();
        let a = h.avcc().unwrap();
        assert_eq!(a.len(), 6 + 2 + 25 + 1 + 2 + 5);
    }

    #[test]
    fn access_unit_starts() {
        assert!(starts_access_unit(&[0x09, 0xf0]));
        assert!(starts_access_unit(&[0x67, 0x42]));
        assert!(starts_access_unit(&[0x78, 0x00, 0x02, 0x67, 0x42]));
        assert!(starts_access_unit(&[0x7c, 0x87, 0x42]));
        assert!(!starts_access_unit(&[0x7c, 0x07, 0x42]));
        // Slices, SEI and PPS may have had something in front of them.
        assert!(!starts_access_unit(&[0x65, 0x88]));
        assert!(!starts_access_unit(&[0x7c, 0x85, 0x88]));
        assert!(!starts_access_unit(&[0x06, 0x05]));
        assert!(!starts_access_unit(&[0x78, 0x00, 0x02, 0x68, 0xce]));
        assert!(!starts_access_unit(&[]));
        assert!(!starts_access_unit(&[0x78, 0x00]));
    }

    #[test]
    fn malformed_payloads() {
        let mut h = H264::default();
        let mut out = Vec::new();
        let mut au = AuInfo::default();
        // Hostile STAP-A size.
        assert_eq!(
            h.append(&[0x78, 0xff, 0xff, 0x41], &mut out, 0, &mut au),
            Err(Malformed)
        );
        // FU-A continuation without a start, FU-A without its header.
        assert_eq!(
            h.append(&[0x7c, 0x05, 0x00], &mut out, 0, &mut au),
            Err(Malformed)
        );
        assert_eq!(h.append(&[0x7c], &mut out, 0, &mut au), Err(Malformed));
        // Interleaved-mode types.
        assert_eq!(
            h.append(&[0x79, 0x00], &mut out, 0, &mut au),
            Err(Malformed)
        );
        // A second FU-A start while one is open.
        out.clear();
        h.append(&[0x7c, 0x85, 0x01], &mut out, 0, &mut au).unwrap();
        assert!(!h.can_finish());
        assert_eq!(
            h.append(&[0x7c, 0x85, 0x02], &mut out, 0, &mut au),
            Err(Malformed)
        );
        assert_eq!(
            h.append(&[0x41, 0x9a], &mut out, 0, &mut au),
            Err(Malformed)
        );
        h.reset();
        assert!(h.can_finish());
        // Reserved types are ignored.
        assert_eq!(h.append(&[0x1e, 0x00], &mut out, 0, &mut au), Ok(()));
        assert_eq!(h.append(&[], &mut out, 0, &mut au), Err(Malformed));
    }
}
