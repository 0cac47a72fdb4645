//! Real encoded media for tests, made with ffmpeg, and small readers for what it writes.
//!
//! - [`vp8_ivf`], [`vp9_ivf`]: test-pattern video in IVF, read back with [`read_ivf`];
//! - [`opus_ogg`]: a 440 Hz tone as Ogg Opus (20 ms packets), read back with [`read_ogg_opus`];
//! - [`h264_annexb`]: constrained-baseline H.264 as an Annex B stream, split into access units
//!   by [`annexb_access_units`] and turned into Matroska's form by [`avcc_frame`] and
//!   [`avcc_record`].
//!
//! ffmpeg (with libvpx, libopus and, for H.264, libx264) comes from Debian's `ffmpeg` package.

use std::path::Path;
use std::process::Command;

use anyhow::{bail, ensure, Context, Result};

/// Where ffmpeg is expected.
pub const FFMPEG: &str = "ffmpeg";

/// Fails with an explanation unless `ffmpeg` runs.
pub fn require_ffmpeg() -> Result<()> {
    match Command::new(FFMPEG).arg("-version").output() {
        Ok(out) if out.status.success() => Ok(()),
        _ => bail!("ffmpeg is needed for this test: apt-get install ffmpeg"),
    }
}

/// Whether this ffmpeg has the encoder `name` (e.g. `libx264`).
pub fn has_encoder(name: &str) -> bool {
    let Ok(out) = Command::new(FFMPEG)
        .args(["-hide_banner", "-encoders"])
        .output()
    else {
        return false;
    };
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .any(|line| line.split_whitespace().nth(1) == Some(name))
}

/// Runs ffmpeg with `args` (quiet, never waiting on stdin), failing with its stderr.
pub fn ffmpeg(args: &[&str]) -> Result<()> {
    require_ffmpeg()?;
    let out = Command::new(FFMPEG)
        .args(["-hide_banner", "-nostdin", "-v", "error", "-y"])
        .args(args)
        .output()
        .context("running ffmpeg")?;
    ensure!(
        out.status.success(),
        "ffmpeg {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

fn test_pattern(seconds: f64, width: u32, height: u32, fps: u32) -> [String; 6] {
    [
        "-f".into(),
        "lavfi".into(),
        "-i".into(),
        format!("testsrc2=size={width}x{height}:rate={fps}"),
        "-t".into(),
        seconds.to_string(),
    ]
}

fn path_str(path: &Path) -> Result<&str> {
    path.to_str().context("non-UTF-8 path")
}

/// Encodes `seconds` of test pattern as VP8 in IVF: realtime, a keyframe every 30 frames, no
/// alternate reference frames (so every IVF frame is a shown frame).
pub fn vp8_ivf(path: &Path, seconds: f64, width: u32, height: u32, fps: u32) -> Result<()> {
    let input = test_pattern(seconds, width, height, fps);
    let mut args: Vec<&str> = input.iter().map(String::as_str).collect();
    args.extend([
        "-c:v",
        "libvpx",
        "-g",
        "30",
        "-deadline",
        "realtime",
        "-cpu-used",
        "8",
        "-b:v",
        "500k",
        "-auto-alt-ref",
        "0",
        "-lag-in-frames",
        "0",
        "-f",
        "ivf",
        path_str(path)?,
    ]);
    ffmpeg(&args)
}

/// Encodes `seconds` of test pattern as VP9 (profile 0) in IVF, like [`vp8_ivf`].
pub fn vp9_ivf(path: &Path, seconds: f64, width: u32, height: u32, fps: u32) -> Result<()> {
    let input = test_pattern(seconds, width, height, fps);
    let mut args: Vec<&str> = input.iter().map(String::as_str).collect();
    args.extend([
        "-c:v",
        "libvpx-vp9",
        "-g",
        "30",
        "-deadline",
        "realtime",
        "-cpu-used",
        "8",
        "-b:v",
        "300k",
        "-lag-in-frames",
        "0",
        "-pix_fmt",
        "yuv420p",
        "-f",
        "ivf",
        path_str(path)?,
    ]);
    ffmpeg(&args)
}

/// Encodes `seconds` of a 440 Hz tone as stereo Opus in Ogg, 20 ms per packet.
pub fn opus_ogg(path: &Path, seconds: f64) -> Result<()> {
    let seconds = seconds.to_string();
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:sample_rate=48000",
        "-t",
        &seconds,
        "-c:a",
        "libopus",
        "-frame_duration",
        "20",
        "-ac",
        "2",
        "-b:a",
        "64k",
        "-f",
        "ogg",
        path_str(path)?,
    ])
}

/// Encodes `seconds` of test pattern as constrained-baseline H.264 (libx264, one slice per
/// frame, no B-frames, an IDR every 30 frames) in Annex B form.
pub fn h264_annexb(path: &Path, seconds: f64, width: u32, height: u32, fps: u32) -> Result<()> {
    ensure!(has_encoder("libx264"), "this ffmpeg has no libx264 encoder");
    let input = test_pattern(seconds, width, height, fps);
    let mut args: Vec<&str> = input.iter().map(String::as_str).collect();
    args.extend([
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-profile:v",
        "baseline",
        "-pix_fmt",
        "yuv420p",
        "-threads",
        "1",
        "-g",
        "30",
        "-bsf:v",
        "h264_mp4toannexb",
        "-f",
        "h264",
        path_str(path)?,
    ]);
    ffmpeg(&args)
}

/// An IVF file.
#[derive(Clone, Debug)]
pub struct Ivf {
    /// `VP80` or `VP90`.
    pub fourcc: [u8; 4],
    pub width: u16,
    pub height: u16,
    /// Time base of the frame timestamps: `timebase_num / timebase_den` seconds.
    pub timebase_num: u32,
    pub timebase_den: u32,
    pub frames: Vec<IvfFrame>,
}

impl Ivf {
    /// Frames per second, from the time base (IVF writers use one tick per frame).
    pub fn fps(&self) -> f64 {
        f64::from(self.timebase_den) / f64::from(self.timebase_num.max(1))
    }
}

/// A frame of an IVF file.
#[derive(Clone, Debug)]
pub struct IvfFrame {
    /// Timestamp in time-base ticks.
    pub pts: u64,
    /// Timestamp in ms.
    pub pts_ms: u64,
    pub keyframe: bool,
    pub data: Vec<u8>,
}

/// Reads an IVF file (VP8 or VP9).
pub fn read_ivf(path: &Path) -> Result<Ivf> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    parse_ivf(&bytes)
}

/// Parses the bytes of an IVF file (VP8 or VP9).
pub fn parse_ivf(bytes: &[u8]) -> Result<Ivf> {
    ensure!(
        bytes.len() >= 32 && &bytes[..4] == b"DKIF",
        "not an IVF file"
    );
    let u16_at = |at: usize| u16::from_le_bytes([bytes[at], bytes[at + 1]]);
    let u32_at =
        |at: usize| u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    let header_len = usize::from(u16_at(6)).max(32);
    let mut fourcc = [0u8; 4];
    fourcc.copy_from_slice(&bytes[8..12]);
    let vp9 = &fourcc == b"VP90";
    ensure!(vp9 || &fourcc == b"VP80", "IVF with {fourcc:?}");
    let mut ivf = Ivf {
        fourcc,
        width: u16_at(12),
        height: u16_at(14),
        timebase_den: u32_at(16),
        timebase_num: u32_at(20),
        frames: Vec::new(),
    };
    ensure!(ivf.timebase_den > 0, "IVF with a zero time base");
    let mut at = header_len;
    while at + 12 <= bytes.len() {
        let size = u32_at(at) as usize;
        let mut pts = [0u8; 8];
        pts.copy_from_slice(&bytes[at + 4..at + 12]);
        let pts = u64::from_le_bytes(pts);
        let data = bytes
            .get(at + 12..at + 12 + size)
            .context("IVF frame cut short")?
            .to_vec();
        ensure!(!data.is_empty(), "empty IVF frame");
        let keyframe = if vp9 {
            vp9_keyframe(&data)
        } else {
            data[0] & 1 == 0
        };
        let pts_ms = pts * 1000 * u64::from(ivf.timebase_num) / u64::from(ivf.timebase_den);
        ivf.frames.push(IvfFrame {
            pts,
            pts_ms,
            keyframe,
            data,
        });
        at += 12 + size;
    }
    Ok(ivf)
}

/// Whether a VP9 frame is a keyframe, from its uncompressed header: frame marker (2 bits),
/// profile (2 bits, plus a reserved bit in profile 3), show_existing_frame, frame_type (0 = key).
fn vp9_keyframe(frame: &[u8]) -> bool {
    let bits = u16::from_be_bytes([frame[0], frame.get(1).copied().unwrap_or(0)]);
    let bit = |i: u32| (bits >> (15 - i)) & 1;
    let profile = bit(2) | (bit(3) << 1);
    let mut next = 4;
    if profile == 3 {
        next += 1;
    }
    let show_existing = bit(next);
    show_existing == 0 && bit(next + 1) == 0
}

/// Reads the packets of a single-stream Ogg Opus file, without the OpusHead and OpusTags
/// headers. Packets may span pages (a lacing value of 255 continues the packet).
pub fn read_ogg_opus(path: &Path) -> Result<Vec<Vec<u8>>> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    parse_ogg_opus(&bytes)
}

/// Parses the bytes of a single-stream Ogg Opus file (see [`read_ogg_opus`]).
pub fn parse_ogg_opus(bytes: &[u8]) -> Result<Vec<Vec<u8>>> {
    let mut packets = Vec::new();
    let mut current = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let page = &bytes[at..];
        ensure!(
            page.len() >= 27 && &page[..4] == b"OggS",
            "bad Ogg page at {at}"
        );
        let segments = usize::from(page[26]);
        let lacing = page.get(27..27 + segments).context("Ogg page cut short")?;
        let mut data_at = 27 + segments;
        for &len in lacing {
            let len = usize::from(len);
            current.extend_from_slice(
                page.get(data_at..data_at + len)
                    .context("Ogg page cut short")?,
            );
            data_at += len;
            if len < 255 {
                packets.push(std::mem::take(&mut current));
            }
        }
        at += data_at;
    }
    ensure!(
        packets.len() >= 2
            && packets[0].starts_with(b"OpusHead")
            && packets[1].starts_with(b"OpusTags"),
        "not an Ogg Opus stream"
    );
    Ok(packets.split_off(2))
}

/// An H.264 access unit: its NAL units (without start codes).
#[derive(Clone, Debug)]
pub struct AccessUnit {
    pub nals: Vec<Vec<u8>>,
    /// Holds an IDR slice.
    pub keyframe: bool,
}

/// NAL unit type.
pub fn nal_type(nal: &[u8]) -> u8 {
    nal.first().map_or(0, |b| b & 0x1F)
}

/// Splits an Annex B stream into NAL units (start codes of 3 or 4 bytes).
pub fn annexb_nals(stream: &[u8]) -> Vec<Vec<u8>> {
    let mut starts = Vec::new();
    let mut i = 0;
    while i + 3 <= stream.len() {
        if stream[i] == 0 && stream[i + 1] == 0 && stream[i + 2] == 1 {
            starts.push(i + 3);
            i += 3;
        } else {
            i += 1;
        }
    }
    let mut nals = Vec::new();
    for (k, &start) in starts.iter().enumerate() {
        let mut end = starts.get(k + 1).map_or(stream.len(), |&next| next - 3);
        // Trailing zeros belong to the next start code (4-byte form) or padding.
        while end > start && stream[end - 1] == 0 {
            end -= 1;
        }
        if end > start {
            nals.push(stream[start..end].to_vec());
        }
    }
    nals
}

/// Groups an Annex B stream's NAL units into access units: a new one starts at an access unit
/// delimiter, SPS, PPS or SEI after a slice, or at a slice whose first_mb_in_slice is 0.
pub fn annexb_access_units(stream: &[u8]) -> Vec<AccessUnit> {
    let mut units: Vec<AccessUnit> = Vec::new();
    let mut current = AccessUnit {
        nals: Vec::new(),
        keyframe: false,
    };
    let mut has_slice = false;
    for nal in annexb_nals(stream) {
        let kind = nal_type(&nal);
        let slice = kind == 1 || kind == 5;
        let first_slice = slice && nal.get(1).is_some_and(|b| b & 0x80 != 0);
        let starts_unit = matches!(kind, 6..=9) || first_slice;
        if has_slice && starts_unit {
            units.push(std::mem::replace(
                &mut current,
                AccessUnit {
                    nals: Vec::new(),
                    keyframe: false,
                },
            ));
            has_slice = false;
        }
        has_slice |= slice;
        current.keyframe |= kind == 5;
        current.nals.push(nal);
    }
    if has_slice {
        units.push(current);
    }
    units
}

/// An access unit in AVCC form: each NAL unit after its 4-byte big-endian length.
pub fn avcc_frame(nals: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for nal in nals {
        out.extend_from_slice(&(nal.len() as u32).to_be_bytes());
        out.extend_from_slice(nal);
    }
    out
}

/// The AVCDecoderConfigurationRecord (avcC) for one SPS and one PPS, 4-byte NAL lengths.
pub fn avcc_record(sps: &[u8], pps: &[u8]) -> Result<Vec<u8>> {
    ensure!(sps.len() >= 4 && nal_type(sps) == 7, "not an SPS");
    ensure!(!pps.is_empty() && nal_type(pps) == 8, "not a PPS");
    let mut out = vec![1, sps[1], sps[2], sps[3], 0xFC | 3, 0xE0 | 1];
    out.extend_from_slice(&(sps.len() as u16).to_be_bytes());
    out.extend_from_slice(sps);
    out.push(1);
    out.extend_from_slice(&(pps.len() as u16).to_be_bytes());
    out.extend_from_slice(pps);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nals_and_access_units() {
        let stream = [
            0, 0, 0, 1, 0x67, 1, 2, 3, // SPS
            0, 0, 0, 1, 0x68, 4, // PPS
            0, 0, 1, 0x65, 0x88, 9, // IDR, first_mb 0
            0, 0, 1, 0x41, 0x9A, 7, // non-IDR, first_mb 0
            0, 0, 1, 0x41, 0x40, 7, // second slice of the same picture
        ];
        let nals = annexb_nals(&stream);
        assert_eq!(nals.len(), 5);
        assert_eq!(nals[0], [0x67, 1, 2, 3]);
        let units = annexb_access_units(&stream);
        assert_eq!(units.len(), 2);
        assert!(units[0].keyframe);
        assert_eq!(units[0].nals.len(), 3);
        assert!(!units[1].keyframe);
        assert_eq!(units[1].nals.len(), 2);
        assert_eq!(avcc_frame(&units[1].nals)[..4], [0, 0, 0, 3]);
        let record = avcc_record(&nals[0], &nals[1]).unwrap();
        assert_eq!(record[..6], [1, 1, 2, 3, 0xFF, 0xE1]);
    }

    /// An Ogg page (the reader does not check CRCs) holding `segments`.
    fn ogg_page(continued: bool, segments: &[&[u8]], packet_ends: bool) -> Vec<u8> {
        let mut page = b"OggS".to_vec();
        page.push(0);
        page.push(u8::from(continued));
        page.extend_from_slice(&[0; 8 + 4 + 4 + 4]);
        let mut lacing = Vec::new();
        let mut data = Vec::new();
        for (i, segment) in segments.iter().enumerate() {
            let last = i + 1 == segments.len();
            let mut rest = segment.len();
            while rest >= 255 {
                lacing.push(255);
                rest -= 255;
            }
            if !last || packet_ends {
                lacing.push(rest as u8);
            }
            data.extend_from_slice(segment);
        }
        page.push(lacing.len() as u8);
        page.extend_from_slice(&lacing);
        page.extend_from_slice(&data);
        page
    }

    #[test]
    fn ogg_packets_across_pages() {
        let long: Vec<u8> = (0..700u32).map(|i| i as u8).collect();
        let mut stream = ogg_page(false, &[b"OpusHead-ish"], true);
        stream.extend(ogg_page(false, &[b"OpusTags"], true));
        // A 510-byte first part ending the page with lacing 255, 255: continued next page.
        stream.extend(ogg_page(false, &[b"first", &long[..510]], false));
        stream.extend(ogg_page(true, &[&long[510..], b"last"], true));
        let packets = parse_ogg_opus(&stream).unwrap();
        assert_eq!(packets.len(), 3);
        assert_eq!(packets[0], b"first");
        assert_eq!(packets[1], long);
        assert_eq!(packets[2], b"last");
        assert!(parse_ogg_opus(&stream[..40]).is_err());
    }

    #[test]
    fn ivf_frames() {
        let mut ivf = b"DKIF".to_vec();
        ivf.extend_from_slice(&0u16.to_le_bytes());
        ivf.extend_from_slice(&32u16.to_le_bytes());
        ivf.extend_from_slice(b"VP80");
        ivf.extend_from_slice(&320u16.to_le_bytes());
        ivf.extend_from_slice(&240u16.to_le_bytes());
        ivf.extend_from_slice(&30u32.to_le_bytes());
        ivf.extend_from_slice(&1u32.to_le_bytes());
        ivf.extend_from_slice(&[0; 8]);
        for (pts, first) in [(0u64, 0x10u8), (1, 0x11), (2, 0x11)] {
            ivf.extend_from_slice(&3u32.to_le_bytes());
            ivf.extend_from_slice(&pts.to_le_bytes());
            ivf.extend_from_slice(&[first, 0, 0]);
        }
        let parsed = parse_ivf(&ivf).unwrap();
        assert_eq!(
            (parsed.width, parsed.height, parsed.fps()),
            (320, 240, 30.0)
        );
        let frames: Vec<_> = parsed
            .frames
            .iter()
            .map(|f| (f.pts_ms, f.keyframe))
            .collect();
        assert_eq!(frames, [(0, true), (33, false), (66, false)]);
        assert!(parse_ivf(&ivf[..ivf.len() - 1]).is_err());
    }

    #[test]
    fn vp9_keyframe_bits() {
        // frame marker 10, profile 0, show_existing 0, frame_type 0.
        assert!(vp9_keyframe(&[0b1000_0000, 0]));
        // frame_type 1.
        assert!(!vp9_keyframe(&[0b1000_0100, 0]));
        // profile 3: reserved bit, then show_existing 0, frame_type 0.
        assert!(vp9_keyframe(&[0b1011_0000, 0]));
    }
}
