//! BER (X.690) as LDAP uses it: definite lengths only. The encoder writes the
//! few shapes requests need. The decoder reads one element at a time from a
//! slice and never recurses; `check_nesting` walks a whole message with a
//! bounded explicit stack, so a reply nested 100 000 deep is refused, not followed.

use std::io::Read;

/// Deepest nesting accepted inside an LDAPMessage (a search entry needs 4).
pub const MAX_DEPTH: usize = 16;

pub const INTEGER: u8 = 0x02;
pub const OCTET_STRING: u8 = 0x04;
pub const ENUMERATED: u8 = 0x0a;
pub const BOOLEAN: u8 = 0x01;
pub const SEQUENCE: u8 = 0x30;
pub const SET: u8 = 0x31;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BerError {
    #[error("an element runs past the end of its container")]
    Truncated,
    #[error("an indefinite length (not allowed in LDAP)")]
    IndefiniteLength,
    #[error("a length field of more than 4 bytes")]
    LengthTooLong,
    #[error("a tag number too large")]
    TagTooLarge,
    #[error("nested deeper than {MAX_DEPTH} levels")]
    TooDeep,
    #[error("a message of {0} bytes (the limit is {1})")]
    TooBig(u64, usize),
    #[error("expected {expected}, found tag 0x{found:02x}")]
    UnexpectedTag { expected: &'static str, found: u8 },
    #[error("{0}")]
    Malformed(&'static str),
}

/// The identifier and length of one element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Header {
    /// The first identifier byte: class, constructed bit, and the number when below 31.
    ident: u8,
    header_len: usize,
    content_len: usize,
}

impl Header {
    fn constructed(&self) -> bool {
        self.ident & 0x20 != 0
    }
}

/// Reads a header from the start of `buf`; its content must fit in `buf`.
fn header(buf: &[u8]) -> Result<Header, BerError> {
    let mut pos = 0;
    let ident = *buf.first().ok_or(BerError::Truncated)?;
    pos += 1;
    if ident & 0x1f == 0x1f {
        // high tag number form: base-128 digits, the last without the top bit
        loop {
            let b = *buf.get(pos).ok_or(BerError::Truncated)?;
            pos += 1;
            if pos > 5 {
                return Err(BerError::TagTooLarge);
            }
            if b & 0x80 == 0 {
                break;
            }
        }
    }
    let first = *buf.get(pos).ok_or(BerError::Truncated)?;
    pos += 1;
    let content_len = match first {
        0x00..=0x7f => first as usize,
        0x80 => return Err(BerError::IndefiniteLength),
        0x81..=0x84 => {
            let n = (first & 0x7f) as usize;
            let bytes = buf.get(pos..pos + n).ok_or(BerError::Truncated)?;
            pos += n;
            bytes.iter().fold(0usize, |acc, b| (acc << 8) | *b as usize)
        }
        _ => return Err(BerError::LengthTooLong),
    };
    if buf.len() - pos < content_len {
        return Err(BerError::Truncated);
    }
    Ok(Header { ident, header_len: pos, content_len })
}

/// Walks every element of `buf` (the content of one message) without
/// recursion: each must fit exactly in its container, none deeper than `max_depth`.
pub fn check_nesting(buf: &[u8], max_depth: usize) -> Result<(), BerError> {
    // where each open constructed element ends
    let mut open: Vec<usize> = Vec::with_capacity(max_depth);
    let mut pos = 0;
    loop {
        while open.last() == Some(&pos) {
            open.pop();
        }
        let end = open.last().copied().unwrap_or(buf.len());
        if pos == end {
            return Ok(());
        }
        let h = header(&buf[pos..end])?;
        let content_start = pos + h.header_len;
        if h.constructed() {
            if open.len() >= max_depth {
                return Err(BerError::TooDeep);
            }
            open.push(content_start + h.content_len);
            pos = content_start;
        } else {
            pos = content_start + h.content_len;
        }
    }
}

/// Reads one LDAPMessage (an outer SEQUENCE) from `r` and returns its content.
/// The length is checked against `max` before anything is buffered; nothing
/// beyond the message is read, so a TLS handshake can follow on the same stream.
pub fn read_message<R: Read>(r: &mut R, max: usize) -> Result<Vec<u8>, ReadError> {
    let mut head = [0u8; 2];
    r.read_exact(&mut head)?;
    if head[0] != SEQUENCE {
        return Err(BerError::UnexpectedTag { expected: "an LDAPMessage", found: head[0] }.into());
    }
    let len: u64 = match head[1] {
        0x00..=0x7f => head[1] as u64,
        0x80 => return Err(BerError::IndefiniteLength.into()),
        0x81..=0x84 => {
            let mut bytes = [0u8; 4];
            let n = (head[1] & 0x7f) as usize;
            r.read_exact(&mut bytes[..n])?;
            bytes[..n].iter().fold(0u64, |acc, b| (acc << 8) | *b as u64)
        }
        _ => return Err(BerError::LengthTooLong.into()),
    };
    if len > max as u64 {
        return Err(BerError::TooBig(len, max).into());
    }
    let mut content = Vec::with_capacity(len as usize);
    r.take(len).read_to_end(&mut content)?;
    if (content.len() as u64) < len {
        return Err(ReadError::Io(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "the connection closed inside a reply")));
    }
    Ok(content)
}

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Ber(#[from] BerError),
}

/// One element read by `Reader`.
#[derive(Debug, Clone, Copy)]
pub struct Element<'a> {
    /// The first identifier byte (tags used by LDAP are all below 31).
    pub tag: u8,
    pub content: &'a [u8],
}

/// The elements of one container, in order.
pub struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { rest: buf }
    }

    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    pub fn next_element(&mut self) -> Result<Element<'a>, BerError> {
        let h = header(self.rest)?;
        let end = h.header_len + h.content_len;
        let element = Element { tag: h.ident, content: &self.rest[h.header_len..end] };
        self.rest = &self.rest[end..];
        Ok(element)
    }

    /// The next element's content, which must carry `tag`.
    pub fn expect(&mut self, tag: u8, what: &'static str) -> Result<&'a [u8], BerError> {
        let e = self.next_element()?;
        if e.tag != tag {
            return Err(BerError::UnexpectedTag { expected: what, found: e.tag });
        }
        Ok(e.content)
    }
}

/// A two's-complement INTEGER or ENUMERATED that fits in an i64.
pub fn integer_value(content: &[u8]) -> Result<i64, BerError> {
    if content.is_empty() || content.len() > 8 {
        return Err(BerError::Malformed("an integer of 0 or more than 8 bytes"));
    }
    let negative = content[0] & 0x80 != 0;
    let start: i64 = if negative { -1 } else { 0 };
    Ok(content.iter().fold(start, |acc, b| (acc << 8) | *b as i64))
}

/// Appends one element.
pub fn push(out: &mut Vec<u8>, tag: u8, content: &[u8]) {
    out.push(tag);
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = (len as u64).to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (8 - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
}

pub fn element(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + 6);
    push(&mut out, tag, content);
    out
}

pub fn integer(tag: u8, value: i64) -> Vec<u8> {
    let bytes = value.to_be_bytes();
    // drop leading bytes that only repeat the sign
    let mut skip = 0;
    while skip < 7 {
        let (b, next) = (bytes[skip], bytes[skip + 1]);
        if (b == 0 && next & 0x80 == 0) || (b == 0xff && next & 0x80 != 0) {
            skip += 1;
        } else {
            break;
        }
    }
    element(tag, &bytes[skip..])
}

pub fn boolean(tag: u8, value: bool) -> Vec<u8> {
    element(tag, &[if value { 0xff } else { 0x00 }])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(depth: usize) -> Vec<u8> {
        let mut e = element(OCTET_STRING, b"x");
        for _ in 0..depth {
            e = element(SEQUENCE, &e);
        }
        e
    }

    #[test]
    fn integers_round_trip_in_their_shortest_form() {
        for (v, bytes) in [(0i64, vec![0x00]), (127, vec![0x7f]), (128, vec![0x00, 0x80]), (-1, vec![0xff]), (-129, vec![0xff, 0x7f])] {
            let e = integer(INTEGER, v);
            assert_eq!(&e[2..], &bytes[..], "{v}");
            assert_eq!(integer_value(&e[2..]), Ok(v));
        }
        assert_eq!(integer_value(&[]), Err(BerError::Malformed("an integer of 0 or more than 8 bytes")));
        assert!(integer_value(&[1; 9]).is_err());
    }

    #[test]
    fn long_lengths_are_written_and_read() {
        let content = vec![7u8; 300];
        let e = element(OCTET_STRING, &content);
        assert_eq!(&e[..4], &[0x04, 0x82, 0x01, 0x2c]);
        let mut r = Reader::new(&e);
        assert_eq!(r.expect(OCTET_STRING, "string"), Ok(&content[..]));
        assert!(r.is_empty());
    }

    #[test]
    fn nesting_is_bounded_without_recursion() {
        assert_eq!(check_nesting(&nested(MAX_DEPTH), MAX_DEPTH), Ok(()));
        assert_eq!(check_nesting(&nested(MAX_DEPTH + 1), MAX_DEPTH), Err(BerError::TooDeep));
        // 100 000 levels: a recursive walker would overflow the test thread's stack
        // (every header in the 6-byte long form, so each length is easy to write)
        let levels = 100_000usize;
        let mut deep = Vec::with_capacity(levels * 6);
        for i in 0..levels {
            deep.push(SEQUENCE);
            deep.push(0x84);
            deep.extend_from_slice(&(((levels - 1 - i) * 6) as u32).to_be_bytes());
        }
        assert_eq!(check_nesting(&deep, levels), Ok(()), "well formed, only too deep");
        assert_eq!(check_nesting(&deep, MAX_DEPTH), Err(BerError::TooDeep));
    }

    #[test]
    fn elements_must_fit_their_container() {
        // a SEQUENCE claiming 5 bytes holding an element claiming 10
        assert_eq!(check_nesting(&[0x30, 0x05, 0x04, 0x0a, 1, 2, 3], MAX_DEPTH), Err(BerError::Truncated));
        assert_eq!(check_nesting(&[0x04, 0x80, 0x00, 0x00], MAX_DEPTH), Err(BerError::IndefiniteLength));
        assert_eq!(check_nesting(&[0x04, 0x85, 1, 0, 0, 0, 0], MAX_DEPTH), Err(BerError::LengthTooLong));
        assert_eq!(check_nesting(&[0x1f, 0x81, 0x81, 0x81, 0x81, 0x01, 0x00], MAX_DEPTH), Err(BerError::TagTooLarge));
        assert_eq!(check_nesting(&[0x1f, 0x81, 0x01, 0x00], MAX_DEPTH), Ok(()));
        assert_eq!(check_nesting(&[0x30], MAX_DEPTH), Err(BerError::Truncated));
        assert_eq!(check_nesting(&[], MAX_DEPTH), Ok(()));
    }

    #[test]
    fn a_message_is_checked_against_the_cap_before_it_is_read() {
        // claims 4 GiB; the stream holds nothing more
        let mut claim: &[u8] = &[0x30, 0x84, 0xff, 0xff, 0xff, 0xff];
        assert!(matches!(read_message(&mut claim, 1024), Err(ReadError::Ber(BerError::TooBig(0xffff_ffff, 1024)))));
        let mut not_ldap: &[u8] = &[0x04, 0x01, 0x00];
        assert!(matches!(read_message(&mut not_ldap, 1024), Err(ReadError::Ber(BerError::UnexpectedTag { .. }))));
        let mut short: &[u8] = &[0x30, 0x05, 1, 2];
        assert!(matches!(read_message(&mut short, 1024), Err(ReadError::Io(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof));
        let mut two: &[u8] = &[0x30, 0x01, 0xaa, 0x30, 0x00];
        assert_eq!(read_message(&mut two, 1024).unwrap(), vec![0xaa]);
        assert_eq!(two, &[0x30, 0x00], "nothing beyond the message is consumed");
        let mut indefinite: &[u8] = &[0x30, 0x80, 0, 0];
        assert!(matches!(read_message(&mut indefinite, 1024), Err(ReadError::Ber(BerError::IndefiniteLength))));
    }

    #[test]
    fn reader_checks_tags() {
        let mut buf = element(ENUMERATED, &[0]);
        buf.extend(element(0x8a, b"oid"));
        let mut r = Reader::new(&buf);
        assert_eq!(r.expect(ENUMERATED, "code"), Ok(&[0u8][..]));
        assert_eq!(r.expect(0x8a, "name"), Ok(&b"oid"[..]));
        assert!(r.is_empty());
        assert!(matches!(Reader::new(&buf).expect(OCTET_STRING, "a string"), Err(BerError::UnexpectedTag { found: 0x0a, .. })));
        assert_eq!(r.next_element().unwrap_err(), BerError::Truncated);
    }
}
