//! Appending a response to a caller's buffer without passing a size limit: the one writer
//! every record and option encoder uses (RFC 1035 §4.1 layout, §4.1.4 compression pointers).

/// The response did not fit in the space allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Full;

/// Appends to a response buffer without exceeding `limit`.
pub struct Writer<'a> {
    buf: &'a mut [u8],
    pos: usize,
    limit: usize,
}

impl<'a> Writer<'a> {
    /// A writer over `buf` that refuses to go past `limit` bytes.
    pub fn new(buf: &'a mut [u8], limit: usize) -> Self {
        let limit = limit.min(buf.len());
        Self { buf, pos: 0, limit }
    }
    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.pos
    }
    /// Nothing written yet.
    pub fn is_empty(&self) -> bool {
        self.pos == 0
    }
    /// Drops everything after `pos`.
    pub fn truncate(&mut self, pos: usize) {
        self.pos = pos.min(self.pos);
    }
    /// Lowers the limit (to keep room for a trailing OPT record).
    pub fn set_limit(&mut self, limit: usize) {
        self.limit = limit.min(self.buf.len());
    }
    /// Appends raw bytes.
    pub fn bytes(&mut self, b: &[u8]) -> Result<(), Full> {
        let end = self.pos + b.len();
        if end > self.limit {
            return Err(Full);
        }
        self.buf[self.pos..end].copy_from_slice(b);
        self.pos = end;
        Ok(())
    }
    /// Appends a big-endian u16.
    pub fn u16(&mut self, v: u16) -> Result<(), Full> {
        self.bytes(&v.to_be_bytes())
    }
    /// Appends a big-endian u32.
    pub fn u32(&mut self, v: u32) -> Result<(), Full> {
        self.bytes(&v.to_be_bytes())
    }
    /// Overwrites a u16 already written at `at` (header counts and flags).
    pub fn patch_u16(&mut self, at: usize, v: u16) {
        if at + 2 <= self.pos {
            self.buf[at..at + 2].copy_from_slice(&v.to_be_bytes());
        }
    }
    /// Appends a compression pointer to `offset` (RFC 1035 §4.1.4).
    pub fn pointer(&mut self, offset: usize) -> Result<(), Full> {
        self.u16(0xc000 | (offset as u16 & 0x3fff))
    }
    /// Appends a presentation-form name (dots between labels, no escapes) uncompressed.
    pub fn name(&mut self, name: &str) -> Result<(), Full> {
        let bare = name.strip_suffix('.').unwrap_or(name);
        if !bare.is_empty() {
            for label in bare.split('.') {
                let len = label.len().min(63);
                self.bytes(&[len as u8])?;
                self.bytes(&label.as_bytes()[..len])?;
            }
        }
        self.bytes(&[0])
    }
    /// The written response.
    pub fn finish(self) -> usize {
        self.pos
    }
}
