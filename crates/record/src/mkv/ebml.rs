//! EBML, the binary format under Matroska: element ids, variable-length integers ("vints"),
//! element builders, and a bounded element reader.
//!
//! An element is `id │ size │ data`. The id is a vint that keeps its length marker (1–4 bytes
//! here); the size is a vint of 1–8 bytes whose value drops the marker, and whose all-ones
//! value means "unknown size" (used for the Segment while it is being written).
//!
//! The reader never trusts a size from the file: every header it returns has been checked
//! against the end of its parent (and so against the file's length), and reads of element data
//! are capped by the caller.

use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};

/// Element ids (with their length marker, as they appear on disk).
pub mod id {
    pub const EBML: u32 = 0x1A45_DFA3;
    pub const EBML_VERSION: u32 = 0x4286;
    pub const EBML_READ_VERSION: u32 = 0x42F7;
    pub const EBML_MAX_ID_LENGTH: u32 = 0x42F2;
    pub const EBML_MAX_SIZE_LENGTH: u32 = 0x42F3;
    pub const DOC_TYPE: u32 = 0x4282;
    pub const DOC_TYPE_VERSION: u32 = 0x4287;
    pub const DOC_TYPE_READ_VERSION: u32 = 0x4285;

    pub const VOID: u32 = 0xEC;
    pub const CRC32: u32 = 0xBF;

    pub const SEGMENT: u32 = 0x1853_8067;

    pub const SEEK_HEAD: u32 = 0x114D_9B74;
    pub const SEEK: u32 = 0x4DBB;
    pub const SEEK_ID: u32 = 0x53AB;
    pub const SEEK_POSITION: u32 = 0x53AC;

    pub const INFO: u32 = 0x1549_A966;
    pub const TIMESTAMP_SCALE: u32 = 0x2A_D7B1;
    pub const DURATION: u32 = 0x4489;
    pub const DATE_UTC: u32 = 0x4461;
    pub const MUXING_APP: u32 = 0x4D80;
    pub const WRITING_APP: u32 = 0x5741;

    pub const TRACKS: u32 = 0x1654_AE6B;
    pub const TRACK_ENTRY: u32 = 0xAE;
    pub const TRACK_NUMBER: u32 = 0xD7;
    pub const TRACK_UID: u32 = 0x73C5;
    pub const TRACK_TYPE: u32 = 0x83;
    pub const FLAG_LACING: u32 = 0x9C;
    pub const NAME: u32 = 0x536E;
    pub const CODEC_ID: u32 = 0x86;
    pub const CODEC_PRIVATE: u32 = 0x63A2;
    pub const CODEC_DELAY: u32 = 0x56AA;
    pub const SEEK_PRE_ROLL: u32 = 0x56BB;
    pub const VIDEO: u32 = 0xE0;
    pub const PIXEL_WIDTH: u32 = 0xB0;
    pub const PIXEL_HEIGHT: u32 = 0xBA;
    pub const AUDIO: u32 = 0xE1;
    pub const SAMPLING_FREQUENCY: u32 = 0xB5;
    pub const CHANNELS: u32 = 0x9F;

    pub const CLUSTER: u32 = 0x1F43_B675;
    pub const TIMESTAMP: u32 = 0xE7;
    pub const POSITION: u32 = 0xA7;
    pub const PREV_SIZE: u32 = 0xAB;
    pub const SIMPLE_BLOCK: u32 = 0xA3;
    pub const BLOCK_GROUP: u32 = 0xA0;
    pub const BLOCK: u32 = 0xA1;
    pub const REFERENCE_BLOCK: u32 = 0xFB;
    pub const SILENT_TRACKS: u32 = 0x5854;
    pub const ENCRYPTED_BLOCK: u32 = 0xAF;

    pub const CUES: u32 = 0x1C53_BB6B;
    pub const CUE_POINT: u32 = 0xBB;
    pub const CUE_TIME: u32 = 0xB3;
    pub const CUE_TRACK_POSITIONS: u32 = 0xB7;
    pub const CUE_TRACK: u32 = 0xF7;
    pub const CUE_CLUSTER_POSITION: u32 = 0xF1;
    pub const CUE_RELATIVE_POSITION: u32 = 0xF0;

    pub const TAGS: u32 = 0x1254_C367;
    pub const CHAPTERS: u32 = 0x1043_A770;
    pub const ATTACHMENTS: u32 = 0x1941_A469;
}

/// The 8-byte "unknown size" marker.
pub const UNKNOWN_SIZE_8: [u8; 8] = [0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF];

/// The largest size an 8-byte vint can carry (all ones is reserved for "unknown").
pub const MAX_SIZE: u64 = (1 << 56) - 2;

/// How many bytes the shortest size vint for `value` takes (1–8), or `None` if `value` is too
/// large for any.
pub fn size_len(value: u64) -> Option<usize> {
    (1..=8).find(|&len| value < (1u64 << (7 * len)) - 1)
}

/// Encodes `value` as a size vint of exactly `len` bytes. `None` if it does not fit (the
/// all-ones value of each length is reserved).
pub fn encode_size(value: u64, len: usize) -> Option<[u8; 8]> {
    if !(1..=8).contains(&len) || value >= (1u64 << (7 * len)) - 1 {
        return None;
    }
    let mut out = [0u8; 8];
    let marked = value | (1u64 << (7 * len));
    for (i, byte) in out.iter_mut().take(len).enumerate() {
        *byte = (marked >> (8 * (len - 1 - i))) as u8;
    }
    Some(out)
}

/// A decoded size vint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Vint {
    /// `None` for the reserved all-ones value, "unknown size".
    pub value: Option<u64>,
    /// Encoded length in bytes, 1–8.
    pub len: usize,
}

/// Length of the vint starting with `first`, 1–8, or `None` for `0x00` (longer than 8 bytes).
pub fn vint_len(first: u8) -> Option<usize> {
    match first.leading_zeros() {
        n @ 0..=7 => Some(n as usize + 1),
        _ => None,
    }
}

/// Decodes a size vint from the start of `bytes`. `None` if `bytes` is too short or starts
/// with `0x00`.
pub fn decode_size(bytes: &[u8]) -> Option<Vint> {
    let len = vint_len(*bytes.first()?)?;
    let raw = bytes.get(..len)?;
    let mut value = u64::from(raw[0]) & (0xFF >> len);
    for &b in &raw[1..] {
        value = (value << 8) | u64::from(b);
    }
    let all_ones = (1u64 << (7 * len)) - 1;
    Some(Vint {
        value: (value != all_ones).then_some(value),
        len,
    })
}

/// Decodes an element id (1–4 bytes, marker kept). `None` if too short, longer than 4 bytes,
/// or one of the reserved all-ones / all-zeros values.
pub fn decode_id(bytes: &[u8]) -> Option<(u32, usize)> {
    let len = vint_len(*bytes.first()?)?;
    if len > 4 {
        return None;
    }
    let raw = bytes.get(..len)?;
    let id = raw.iter().fold(0u32, |acc, &b| (acc << 8) | u32::from(b));
    let payload = u64::from(id) & ((1u64 << (7 * len)) - 1);
    if payload == 0 || payload == (1u64 << (7 * len)) - 1 {
        return None;
    }
    Some((id, len))
}

fn id_len(id: u32) -> usize {
    match id {
        0..=0xFF => 1,
        0x100..=0xFFFF => 2,
        0x1_0000..=0xFF_FFFF => 3,
        _ => 4,
    }
}

/// Appends an element id.
pub fn put_id(buf: &mut Vec<u8>, id: u32) {
    let len = id_len(id);
    buf.extend_from_slice(&id.to_be_bytes()[4 - len..]);
}

/// Appends the shortest size vint for `size`.
pub fn put_size(buf: &mut Vec<u8>, size: u64) {
    let len = size_len(size).unwrap_or(8);
    let bytes = encode_size(size.min(MAX_SIZE), len).unwrap_or(UNKNOWN_SIZE_8);
    buf.extend_from_slice(&bytes[..len]);
}

/// Appends an unsigned integer element in its shortest form (at least one byte).
pub fn put_uint(buf: &mut Vec<u8>, id: u32, value: u64) {
    let len = (8 - value.leading_zeros() as usize / 8).max(1);
    put_id(buf, id);
    put_size(buf, len as u64);
    buf.extend_from_slice(&value.to_be_bytes()[8 - len..]);
}

/// Appends a signed integer element of 8 bytes.
pub fn put_int8(buf: &mut Vec<u8>, id: u32, value: i64) {
    put_id(buf, id);
    put_size(buf, 8);
    buf.extend_from_slice(&value.to_be_bytes());
}

/// Appends a float element of 8 bytes.
pub fn put_float(buf: &mut Vec<u8>, id: u32, value: f64) {
    put_id(buf, id);
    put_size(buf, 8);
    buf.extend_from_slice(&value.to_be_bytes());
}

/// Appends a binary (or string) element.
pub fn put_bytes(buf: &mut Vec<u8>, id: u32, data: &[u8]) {
    put_id(buf, id);
    put_size(buf, data.len() as u64);
    buf.extend_from_slice(data);
}

/// Appends a master element whose children `fill` writes.
pub fn put_master(buf: &mut Vec<u8>, id: u32, fill: impl FnOnce(&mut Vec<u8>)) {
    let mut inner = Vec::new();
    fill(&mut inner);
    put_bytes(buf, id, &inner);
}

/// A Void element of exactly `total` bytes (`total` ≥ 2), zero-filled.
pub fn void_element(total: usize) -> Vec<u8> {
    let mut buf = void_header(total as u64);
    buf.resize(total.max(buf.len()), 0);
    buf
}

/// The header (id and size, 2 or 9 bytes) of a Void element `total` bytes long in all
/// (`total` ≥ 2); what its data holds does not matter to readers.
pub fn void_header(total: u64) -> Vec<u8> {
    let mut buf = Vec::with_capacity(9);
    put_id(&mut buf, id::VOID);
    // A one-byte size covers up to 126 data bytes; beyond, an 8-byte size.
    if total <= 128 {
        put_size(&mut buf, total.saturating_sub(2));
    } else {
        let bytes = encode_size(total - 9, 8).unwrap_or(UNKNOWN_SIZE_8);
        buf.extend_from_slice(&bytes);
    }
    buf
}

/// An element header read from a file, already checked against its parent's end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub id: u32,
    /// File offset of the id.
    pub start: u64,
    /// Length of the size field.
    pub size_len: usize,
    /// File offset of the data.
    pub data_start: u64,
    /// `None` for unknown size.
    pub size: Option<u64>,
}

impl Header {
    /// File offset of the size field.
    pub fn size_pos(&self) -> u64 {
        self.data_start - self.size_len as u64
    }

    /// End of the data, if the size is known.
    pub fn end(&self) -> Option<u64> {
        self.size.map(|size| self.data_start + size)
    }
}

/// Why an element could not be read at some offset.
#[derive(Debug)]
pub enum ReadError {
    /// The file could not be read.
    Io(io::Error),
    /// The bytes there are not a valid element within its parent: garbage, or a cut.
    Bad(&'static str),
}

impl From<io::Error> for ReadError {
    fn from(err: io::Error) -> Self {
        if err.kind() == io::ErrorKind::UnexpectedEof {
            ReadError::Bad("unexpected end of file")
        } else {
            ReadError::Io(err)
        }
    }
}

/// A reader over a file that tracks its position and knows the file's length.
pub struct Reader<R> {
    inner: BufReader<R>,
    pos: u64,
    len: u64,
}

impl<R: Read + Seek> Reader<R> {
    pub fn new(mut inner: R) -> io::Result<Self> {
        let len = inner.seek(SeekFrom::End(0))?;
        inner.seek(SeekFrom::Start(0))?;
        Ok(Reader {
            inner: BufReader::with_capacity(64 * 1024, inner),
            pos: 0,
            len,
        })
    }

    /// The file's length.
    pub fn file_len(&self) -> u64 {
        self.len
    }

    pub fn pos(&self) -> u64 {
        self.pos
    }

    /// Moves to `pos` (≤ the file's length).
    pub fn seek_to(&mut self, pos: u64) -> Result<(), ReadError> {
        if pos > self.len {
            return Err(ReadError::Bad("offset past the end of the file"));
        }
        let delta = pos as i128 - self.pos as i128;
        match i64::try_from(delta) {
            Ok(delta) => self.inner.seek_relative(delta)?,
            Err(_) => {
                self.inner.seek(SeekFrom::Start(pos))?;
            }
        }
        self.pos = pos;
        Ok(())
    }

    /// Reads up to `buf.len()` bytes but never past `end`; returns how many were read.
    fn peek_upto(&mut self, buf: &mut [u8], end: u64) -> Result<usize, ReadError> {
        let want = (end.min(self.len).saturating_sub(self.pos)).min(buf.len() as u64) as usize;
        let available = self.inner.fill_buf()?;
        if available.len() >= want {
            buf[..want].copy_from_slice(&available[..want]);
        } else {
            // Straddles the buffer's end: read, then step back.
            self.inner.read_exact(&mut buf[..want])?;
            self.inner.seek_relative(-(want as i64))?;
        }
        Ok(want)
    }

    /// Reads exactly `buf.len()` bytes.
    pub fn read_exact(&mut self, buf: &mut [u8]) -> Result<(), ReadError> {
        if self.len.saturating_sub(self.pos) < buf.len() as u64 {
            return Err(ReadError::Bad("unexpected end of file"));
        }
        self.inner.read_exact(buf)?;
        self.pos += buf.len() as u64;
        Ok(())
    }

    /// Reads the id at the current position without consuming it, within `end`.
    pub fn peek_id(&mut self, end: u64) -> Result<u32, ReadError> {
        let mut bytes = [0u8; 4];
        let n = self.peek_upto(&mut bytes, end)?;
        decode_id(&bytes[..n])
            .map(|(id, _)| id)
            .ok_or(ReadError::Bad("invalid element id"))
    }

    /// Reads an element header at the current position. Its data must fit within `end` (the
    /// parent's end, at most the file's length); an unknown size is allowed only if
    /// `allow_unknown`.
    pub fn header(&mut self, end: u64, allow_unknown: bool) -> Result<Header, ReadError> {
        let header = self.raw_header(end)?;
        match header.size {
            Some(size) if size > end.min(self.len).saturating_sub(header.data_start) => {
                Err(ReadError::Bad("element larger than its parent"))
            }
            None if !allow_unknown => Err(ReadError::Bad("unknown size not allowed here")),
            _ => Ok(header),
        }
    }

    /// Reads an element header at the current position whose id and size fields lie within
    /// `end`, without checking its data against `end` (for elements that may have been cut:
    /// the Segment and Clusters). On error the position is unchanged.
    pub fn raw_header(&mut self, end: u64) -> Result<Header, ReadError> {
        let end = end.min(self.len);
        let start = self.pos;
        let mut bytes = [0u8; 12];
        let n = self.peek_upto(&mut bytes, end)?;
        let bytes = &bytes[..n];
        let (id, id_len) = decode_id(bytes).ok_or(ReadError::Bad("invalid element id"))?;
        let size = decode_size(&bytes[id_len..]).ok_or(ReadError::Bad("invalid element size"))?;
        let data_start = start + (id_len + size.len) as u64;
        self.skip_to(data_start)?;
        Ok(Header {
            id,
            start,
            size_len: size.len,
            data_start,
            size: size.value,
        })
    }

    /// Moves forward to `pos` (cheap within the buffer).
    pub fn skip_to(&mut self, pos: u64) -> Result<(), ReadError> {
        self.seek_to(pos)
    }

    /// Reads an element's data (size known, ≤ `limit` bytes).
    pub fn data(&mut self, header: &Header, limit: u64) -> Result<Vec<u8>, ReadError> {
        let size = header.size.ok_or(ReadError::Bad("unknown size"))?;
        if size > limit {
            return Err(ReadError::Bad("element too large"));
        }
        self.seek_to(header.data_start)?;
        let mut buf = vec![0u8; size as usize];
        self.read_exact(&mut buf)?;
        Ok(buf)
    }

    /// Reads an unsigned integer element (0–8 bytes).
    pub fn uint(&mut self, header: &Header) -> Result<u64, ReadError> {
        let data = self.data(header, 8)?;
        Ok(data.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
    }

    /// Reads a float element (0, 4 or 8 bytes).
    pub fn float(&mut self, header: &Header) -> Result<f64, ReadError> {
        let data = self.data(header, 8)?;
        match data.len() {
            0 => Ok(0.0),
            4 => Ok(f64::from(f32::from_be_bytes([
                data[0], data[1], data[2], data[3],
            ]))),
            8 => {
                let mut raw = [0u8; 8];
                raw.copy_from_slice(&data);
                Ok(f64::from_be_bytes(raw))
            }
            _ => Err(ReadError::Bad("float of invalid size")),
        }
    }

    /// Reads a string element (≤ `limit` bytes), lossily, without trailing NULs.
    pub fn string(&mut self, header: &Header, limit: u64) -> Result<String, ReadError> {
        let data = self.data(header, limit)?;
        let text = String::from_utf8_lossy(&data);
        Ok(text.trim_end_matches('\0').to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    #[test]
    fn size_vint_boundaries() {
        assert_eq!(size_len(0), Some(1));
        assert_eq!(size_len(126), Some(1));
        // 127 is 0xFF, reserved for "unknown" in one byte.
        assert_eq!(size_len(127), Some(2));
        assert_eq!(size_len((1 << 14) - 2), Some(2));
        assert_eq!(size_len((1 << 14) - 1), Some(3));
        assert_eq!(size_len(MAX_SIZE), Some(8));
        assert_eq!(size_len(MAX_SIZE + 1), None);
        assert_eq!(encode_size(127, 1), None);
        assert_eq!(encode_size(0, 0), None);
        assert_eq!(encode_size(0, 9), None);
        assert_eq!(&encode_size(1, 1).unwrap()[..1], &[0x81]);
        assert_eq!(&encode_size(1, 2).unwrap()[..2], &[0x40, 0x01]);
        assert_eq!(&encode_size(5, 8).unwrap()[..8], &[1, 0, 0, 0, 0, 0, 0, 5]);
    }

    #[test]
    fn size_vint_round_trip() {
        let values = [
            0u64,
            1,
            126,
            127,
            128,
            16382,
            16383,
            1 << 20,
            1 << 35,
            MAX_SIZE,
        ];
        for &value in &values {
            let min = size_len(value).unwrap();
            for len in min..=8 {
                let bytes = encode_size(value, len).unwrap();
                let decoded = decode_size(&bytes[..len]).unwrap();
                assert_eq!(
                    decoded,
                    Vint {
                        value: Some(value),
                        len
                    },
                    "{value} in {len}"
                );
            }
            if min > 1 {
                assert!(encode_size(value, min - 1).is_none());
            }
        }
    }

    #[test]
    fn size_vint_unknown_and_invalid() {
        assert_eq!(
            decode_size(&[0xFF]),
            Some(Vint {
                value: None,
                len: 1
            })
        );
        assert_eq!(
            decode_size(&[0x7F, 0xFF]),
            Some(Vint {
                value: None,
                len: 2
            })
        );
        assert_eq!(
            decode_size(&UNKNOWN_SIZE_8),
            Some(Vint {
                value: None,
                len: 8
            })
        );
        // Not all ones: a real (large) value.
        assert_eq!(
            decode_size(&[0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE])
                .unwrap()
                .value,
            Some(MAX_SIZE)
        );
        assert_eq!(decode_size(&[]), None);
        assert_eq!(decode_size(&[0x00, 1, 2, 3, 4, 5, 6, 7, 8]), None);
        // Truncated: the marker says 4 bytes, 3 given.
        assert_eq!(decode_size(&[0x10, 0, 0]), None);
    }

    #[test]
    fn ids() {
        assert_eq!(decode_id(&[0xEC]), Some((id::VOID, 1)));
        assert_eq!(
            decode_id(&[0x1A, 0x45, 0xDF, 0xA3, 0x00]),
            Some((id::EBML, 4))
        );
        assert_eq!(decode_id(&[0x08, 0, 0, 0, 1]), None); // 5 bytes
        assert_eq!(decode_id(&[0xFF]), None); // reserved
        assert_eq!(decode_id(&[0x80]), None); // reserved
        assert_eq!(decode_id(&[0x1F, 0x43]), None); // truncated
        let mut buf = Vec::new();
        for id in [id::VOID, id::SEEK, id::TIMESTAMP_SCALE, id::CLUSTER] {
            buf.clear();
            put_id(&mut buf, id);
            assert_eq!(decode_id(&buf), Some((id, buf.len())));
        }
    }

    #[test]
    fn uint_elements_are_shortest() {
        let mut buf = Vec::new();
        put_uint(&mut buf, id::TRACK_NUMBER, 0);
        assert_eq!(buf, [0xD7, 0x81, 0x00]);
        buf.clear();
        put_uint(&mut buf, id::TRACK_NUMBER, 256);
        assert_eq!(buf, [0xD7, 0x82, 0x01, 0x00]);
        buf.clear();
        put_uint(&mut buf, id::TRACK_NUMBER, u64::MAX);
        assert_eq!(buf.len(), 10);
    }

    #[test]
    fn void_elements_have_the_asked_length() {
        for total in [2usize, 3, 100, 128, 129, 130, 1000] {
            let void = void_element(total);
            assert_eq!(void.len(), total);
            let mut reader = Reader::new(Cursor::new(void)).unwrap();
            let header = reader.header(total as u64, false).unwrap();
            assert_eq!(header.id, id::VOID);
            assert_eq!(header.end(), Some(total as u64));
        }
    }

    #[test]
    fn reader_checks_sizes_against_parent() {
        // A Void claiming 10 bytes with 3 present.
        let bytes = vec![0xEC, 0x8A, 0, 0, 0];
        let mut reader = Reader::new(Cursor::new(bytes)).unwrap();
        assert!(matches!(reader.header(5, false), Err(ReadError::Bad(_))));
        // Unknown size refused unless allowed.
        let bytes = vec![0x1F, 0x43, 0xB6, 0x75, 0xFF];
        let mut reader = Reader::new(Cursor::new(bytes)).unwrap();
        assert!(reader.header(5, false).is_err());
        reader.seek_to(0).unwrap();
        let header = reader.header(5, true).unwrap();
        assert_eq!(header.size, None);
        assert_eq!(header.data_start, 5);
        // A header cut short.
        let mut reader = Reader::new(Cursor::new(vec![0x1F, 0x43])).unwrap();
        assert!(reader.header(2, true).is_err());
    }
}
