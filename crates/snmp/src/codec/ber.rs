//! Minimal BER (X.690) reader and writer for the subset SNMP uses: single-byte tags, definite
//! lengths, primitive integers, octet strings, OIDs and constructed sequences.

use super::error::DecodeError;

/// Universal and SNMP application tags (RFC 3416 section 3, RFC 2578 section 7.1).
pub mod tag {
    pub const INTEGER: u8 = 0x02;
    pub const OCTET_STRING: u8 = 0x04;
    pub const NULL: u8 = 0x05;
    pub const OBJECT_IDENTIFIER: u8 = 0x06;
    pub const SEQUENCE: u8 = 0x30;
    pub const IP_ADDRESS: u8 = 0x40;
    pub const COUNTER32: u8 = 0x41;
    pub const GAUGE32: u8 = 0x42;
    pub const TIMETICKS: u8 = 0x43;
    pub const OPAQUE: u8 = 0x44;
    pub const NSAP_ADDRESS: u8 = 0x45;
    pub const COUNTER64: u8 = 0x46;
    pub const UINTEGER32: u8 = 0x47;
    pub const NO_SUCH_OBJECT: u8 = 0x80;
    pub const NO_SUCH_INSTANCE: u8 = 0x81;
    pub const END_OF_MIB_VIEW: u8 = 0x82;
}

/// A cursor over a BER buffer that hands out sub-slices of the input, never copying.
#[derive(Clone, Debug)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    base: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0, base: 0 }
    }

    /// A reader over `buf` that reports offsets relative to an enclosing buffer starting
    /// `base` bytes earlier (used to locate the USM authentication parameters).
    pub fn with_base(buf: &'a [u8], base: usize) -> Self {
        Self { buf, pos: 0, base }
    }

    pub fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    /// Absolute offset of the next unread byte.
    pub fn offset(&self) -> usize {
        self.base + self.pos
    }

    pub fn peek_tag(&self) -> Result<u8, DecodeError> {
        self.buf.get(self.pos).copied().ok_or(DecodeError::Truncated)
    }

    /// Reads one TLV and returns its tag, the content slice and the absolute offset of the
    /// content.
    pub fn read_any(&mut self) -> Result<(u8, &'a [u8], usize), DecodeError> {
        let tag = self.peek_tag()?;
        if tag & 0x1f == 0x1f {
            return Err(DecodeError::UnsupportedTag(tag));
        }
        // Short lengths, nearly every TLV of SNMP, without the long-form path.
        let (len, n) = match self.buf.get(self.pos + 1) {
            Some(&l) if l < 0x80 => (l as usize, 1),
            _ => read_length(&self.buf[self.pos + 1..])?,
        };
        let p = self.pos + 1 + n;
        let end = p.checked_add(len).ok_or(DecodeError::BadLength)?;
        if end > self.buf.len() {
            return Err(DecodeError::Truncated);
        }
        let content = &self.buf[p..end];
        let off = self.base + p;
        self.pos = end;
        Ok((tag, content, off))
    }

    /// Reads one TLV that must carry `expected` as its tag.
    pub fn read(&mut self, expected: u8) -> Result<&'a [u8], DecodeError> {
        let (tag, content, _) = self.read_any()?;
        if tag != expected {
            return Err(DecodeError::UnexpectedTag { expected, found: tag });
        }
        Ok(content)
    }

    /// Enters a constructed value with tag `expected` and returns a reader over its content.
    pub fn enter(&mut self, expected: u8) -> Result<Reader<'a>, DecodeError> {
        let (tag, content, off) = self.read_any()?;
        if tag != expected {
            return Err(DecodeError::UnexpectedTag { expected, found: tag });
        }
        Ok(Reader::with_base(content, off))
    }

    pub fn read_i32(&mut self) -> Result<i32, DecodeError> {
        decode_i32(self.read(tag::INTEGER)?)
    }

    pub fn read_octets(&mut self) -> Result<&'a [u8], DecodeError> {
        self.read(tag::OCTET_STRING)
    }

    /// Fails when unread bytes remain: SNMP messages have no trailing content.
    pub fn finish(&self) -> Result<(), DecodeError> {
        if self.is_empty() { Ok(()) } else { Err(DecodeError::TrailingData) }
    }
}

/// Reads a definite length at the start of `buf`: the length and the octets it took.
#[inline]
pub fn read_length(buf: &[u8]) -> Result<(usize, usize), DecodeError> {
    let first = *buf.first().ok_or(DecodeError::Truncated)?;
    if first < 0x80 {
        return Ok((first as usize, 1));
    }
    // Long form, minimal or not: up to eight length octets as net-snmp reads them (leading
    // zeros are allowed; the indefinite form 0x80 is not, X.690 8.1.3.6).
    let n = (first & 0x7f) as usize;
    if n == 0 || n > 8 {
        return Err(DecodeError::BadLength);
    }
    let bytes = buf.get(1..1 + n).ok_or(DecodeError::Truncated)?;
    let len =
        bytes.iter().try_fold(0u64, |acc, &b| (acc >> 56 == 0).then_some((acc << 8) | b as u64));
    let len = len.and_then(|l| usize::try_from(l).ok()).ok_or(DecodeError::BadLength)?;
    Ok((len, 1 + n))
}

/// Decodes a signed two's-complement INTEGER of one to eight octets (non-minimal forms
/// such as `00 00 00 00 2a` included, as net-snmp reads them) whose value fits 32 bits.
pub fn decode_i32(c: &[u8]) -> Result<i32, DecodeError> {
    if c.len() <= 4 {
        let Some(&first) = c.first() else { return Err(DecodeError::BadInteger) };
        let mut v: i32 = if first & 0x80 != 0 { -1 } else { 0 };
        for &b in c {
            v = (v << 8) | b as i32;
        }
        return Ok(v);
    }
    decode_i64(c).and_then(|v| i32::try_from(v).map_err(|_| DecodeError::BadInteger))
}

/// Decodes a signed two's-complement INTEGER of one to eight octets.
pub fn decode_i64(c: &[u8]) -> Result<i64, DecodeError> {
    let Some(&first) = c.first() else { return Err(DecodeError::BadInteger) };
    if c.len() > 8 {
        return Err(DecodeError::BadInteger);
    }
    let init: i64 = if first & 0x80 != 0 { -1 } else { 0 };
    Ok(c.iter().fold(init, |v, &b| (v << 8) | b as i64))
}

/// Decodes an unsigned application integer (Counter32, Gauge32, TimeTicks, UInteger32) as
/// net-snmp's `asn_parse_unsigned_int` does: one to eight octets, or nine with a leading
/// zero, keeping the low 32 bits of a wider value (what a 32-bit counter shows after it
/// wraps). A negative-looking 4-byte form, which some agents emit, is its unsigned bit
/// pattern.
pub fn decode_u32(c: &[u8]) -> Result<u32, DecodeError> {
    match c.len() {
        1..=4 => Ok(c.iter().fold(0u32, |a, &b| (a << 8) | b as u32)),
        5..=8 => Ok(c.iter().fold(0u64, |a, &b| (a << 8) | b as u64) as u32),
        9 if c[0] == 0 => Ok(c[1..].iter().fold(0u64, |a, &b| (a << 8) | b as u64) as u32),
        _ => Err(DecodeError::BadInteger),
    }
}

/// Decodes a Counter64 (up to 8 value bytes, 9 with a leading zero).
pub fn decode_u64(c: &[u8]) -> Result<u64, DecodeError> {
    match c.len() {
        1..=8 => Ok(c.iter().fold(0u64, |a, &b| (a << 8) | b as u64)),
        9 if c[0] == 0 => Ok(c[1..].iter().fold(0u64, |a, &b| (a << 8) | b as u64)),
        _ => Err(DecodeError::BadInteger),
    }
}

/// A BER writer appending to a `Vec<u8>`. Constructed values are opened with
/// [`Writer::begin`] and closed with [`Writer::end`], which fixes up the length in place with
/// the minimal encoding.
#[derive(Debug)]
pub struct Writer<'b> {
    buf: &'b mut Vec<u8>,
}

/// The position of an open constructed value.
#[derive(Clone, Copy, Debug)]
#[must_use]
pub struct Mark(usize);

impl<'b> Writer<'b> {
    pub fn new(buf: &'b mut Vec<u8>) -> Self {
        Self { buf }
    }

    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    pub fn buf_mut(&mut self) -> &mut Vec<u8> {
        self.buf
    }

    pub fn begin(&mut self, tag: u8) -> Mark {
        self.buf.push(tag);
        self.buf.push(0);
        Mark(self.buf.len())
    }

    pub fn end(&mut self, mark: Mark) {
        let start = mark.0;
        let len = self.buf.len() - start;
        if len < 0x80 {
            self.buf[start - 1] = len as u8;
            return;
        }
        let n = len_bytes(len);
        let old_end = self.buf.len();
        self.buf.resize(old_end + n, 0);
        self.buf.copy_within(start..old_end, start + n);
        self.buf[start - 1] = 0x80 | n as u8;
        for i in 0..n {
            self.buf[start + i] = (len >> (8 * (n - 1 - i))) as u8;
        }
    }

    fn header(&mut self, tag: u8, len: usize) {
        self.buf.push(tag);
        if len < 0x80 {
            self.buf.push(len as u8);
        } else {
            let n = len_bytes(len);
            self.buf.push(0x80 | n as u8);
            for i in (0..n).rev() {
                self.buf.push((len >> (8 * i)) as u8);
            }
        }
    }

    pub fn raw(&mut self, tag: u8, content: &[u8]) {
        self.header(tag, content.len());
        self.buf.extend_from_slice(content);
    }

    /// Writes `tag` with `len` zero bytes of content and returns the content offset, so the
    /// caller can fill it in later (the USM authentication parameters).
    pub fn placeholder(&mut self, tag: u8, len: usize) -> usize {
        self.header(tag, len);
        let off = self.buf.len();
        self.buf.resize(off + len, 0);
        off
    }

    pub fn null(&mut self, tag: u8) {
        self.buf.push(tag);
        self.buf.push(0);
    }

    pub fn i64(&mut self, tag: u8, v: i64) {
        let bytes = v.to_be_bytes();
        let mut i = 0;
        while i < 7 {
            let (b, next) = (bytes[i], bytes[i + 1]);
            if (b == 0 && next & 0x80 == 0) || (b == 0xff && next & 0x80 != 0) {
                i += 1;
            } else {
                break;
            }
        }
        self.raw(tag, &bytes[i..]);
    }

    pub fn i32(&mut self, v: i32) {
        self.i64(tag::INTEGER, v as i64);
    }

    /// Unsigned values are written as non-negative two's-complement integers (a leading zero
    /// byte when the top bit is set).
    pub fn u64(&mut self, tag: u8, v: u64) {
        let bytes = v.to_be_bytes();
        let skip = bytes.iter().take(7).take_while(|&&b| b == 0).count();
        if bytes[skip] & 0x80 != 0 {
            self.header(tag, 8 - skip + 1);
            self.buf.push(0);
        } else {
            self.header(tag, 8 - skip);
        }
        self.buf.extend_from_slice(&bytes[skip..]);
    }

    pub fn oid(&mut self, oid: &super::Oid) {
        let m = self.begin(tag::OBJECT_IDENTIFIER);
        oid.encode_into(self.buf);
        self.end(m);
    }

    pub fn octets(&mut self, v: &[u8]) {
        self.raw(tag::OCTET_STRING, v);
    }
}

fn len_bytes(len: usize) -> usize {
    match len {
        0..=0xff => 1,
        0x100..=0xffff => 2,
        0x1_0000..=0xff_ffff => 3,
        _ => 4,
    }
}
