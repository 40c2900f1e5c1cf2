//! The HTTP/1.x requests `smsotp-dlrd` accepts: one request per connection,
//! bounded head, header count, line length and body; no chunked bodies. The
//! reading loop (with its deadline) is the daemon's; this is the parser.

/// Bytes of the request line and headers together.
pub const MAX_HEAD_BYTES: usize = 8 * 1024;
/// Bytes of one line of the head.
pub const MAX_LINE_BYTES: usize = 4 * 1024;
/// Header lines.
pub const MAX_HEADERS: usize = 32;
/// Bytes of a body (Infobip batches up to 100 reports, about 60 KiB).
pub const MAX_BODY_BYTES: usize = 128 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("malformed request")]
    Malformed,
    #[error("request head too large")]
    HeadTooLarge,
    #[error("too many headers")]
    TooManyHeaders,
    #[error("body too large")]
    BodyTooLarge,
    #[error("chunked or encoded bodies are not accepted")]
    Chunked,
    #[error("method not allowed")]
    Method,
}

impl RequestError {
    /// The status the daemon answers with.
    pub fn status(self) -> u16 {
        match self {
            RequestError::Malformed => 400,
            RequestError::HeadTooLarge | RequestError::TooManyHeaders => 431,
            RequestError::BodyTooLarge => 413,
            RequestError::Chunked => 411,
            RequestError::Method => 405,
        }
    }
}

/// A parsed request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub method: Method,
    /// The request target as sent (origin form: path and query).
    pub target: String,
    /// Names lower-cased, values trimmed.
    pub headers: Vec<(String, String)>,
    pub content_length: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
}

impl Head {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    pub fn path(&self) -> &str {
        self.target.split_once('?').map_or(self.target.as_str(), |(p, _)| p)
    }

    pub fn query(&self) -> &str {
        self.target.split_once('?').map_or("", |(_, q)| q)
    }
}

/// Where the head ends in `buf` (the index after the blank line), once it is whole.
pub fn head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

/// Parse a whole head (through its blank line). Anything outside the bounds
/// above, or not plain HTTP/1.0 or 1.1 GET/POST, is an error.
pub fn parse_head(bytes: &[u8]) -> Result<Head, RequestError> {
    if bytes.len() > MAX_HEAD_BYTES {
        return Err(RequestError::HeadTooLarge);
    }
    let text = std::str::from_utf8(bytes).map_err(|_| RequestError::Malformed)?;
    let text = text.strip_suffix("\r\n\r\n").ok_or(RequestError::Malformed)?;
    let mut lines = text.split("\r\n");
    let request_line = lines.next().ok_or(RequestError::Malformed)?;
    if request_line.len() > MAX_LINE_BYTES {
        return Err(RequestError::HeadTooLarge);
    }
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(RequestError::Malformed);
    };
    if !matches!(version, "HTTP/1.1" | "HTTP/1.0") {
        return Err(RequestError::Malformed);
    }
    let method = match method {
        "GET" => Method::Get,
        "POST" => Method::Post,
        m if !m.is_empty() && m.bytes().all(|b| b.is_ascii_uppercase()) => return Err(RequestError::Method),
        _ => return Err(RequestError::Malformed),
    };
    if !target.starts_with('/') || target.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err(RequestError::Malformed);
    }
    let mut headers = Vec::new();
    for line in lines {
        if line.len() > MAX_LINE_BYTES {
            return Err(RequestError::HeadTooLarge);
        }
        if headers.len() == MAX_HEADERS {
            return Err(RequestError::TooManyHeaders);
        }
        let (name, value) = line.split_once(':').ok_or(RequestError::Malformed)?;
        let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
        if name.is_empty() || !name.bytes().all(token) {
            return Err(RequestError::Malformed);
        }
        let value = value.trim_matches([' ', '\t']);
        if value.bytes().any(|b| (b < b' ' && b != b'\t') || b == 0x7f) {
            return Err(RequestError::Malformed);
        }
        headers.push((name.to_ascii_lowercase(), value.to_string()));
    }
    let mut content_length = None;
    for (name, value) in &headers {
        match name.as_str() {
            "transfer-encoding" | "content-encoding" => return Err(RequestError::Chunked),
            "content-length" => {
                if value.is_empty() || value.len() > 10 || !value.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(RequestError::Malformed);
                }
                let n: usize = value.parse().map_err(|_| RequestError::Malformed)?;
                // two different lengths: a smuggling attempt
                if content_length.is_some_and(|c| c != n) {
                    return Err(RequestError::Malformed);
                }
                content_length = Some(n);
            }
            _ => {}
        }
    }
    let content_length = content_length.unwrap_or(0);
    if content_length > MAX_BODY_BYTES {
        return Err(RequestError::BodyTooLarge);
    }
    Ok(Head { method, target: target.to_string(), headers, content_length })
}

/// `a=1&b=x%20y` (form or query) as decoded pairs; '+' is a space.
pub fn form_pairs(text: &str) -> Vec<(String, String)> {
    text.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(&s.replace('+', " ")).decode_utf8_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_post_parses() {
        let head =
            parse_head(b"POST /dlr/gw/tok?x=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 12\r\nX-Twilio-Signature: abc\r\n\r\n").unwrap();
        assert_eq!(head.method, Method::Post);
        assert_eq!(head.path(), "/dlr/gw/tok");
        assert_eq!(head.query(), "x=1");
        assert_eq!(head.content_length, 12);
        assert_eq!(head.header("x-twilio-signature"), Some("abc"));
    }

    #[test]
    fn hostile_heads_are_refused_with_the_right_status() {
        let big = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(MAX_LINE_BYTES));
        let many = format!("GET / HTTP/1.1\r\n{}\r\n", "X-A: 1\r\n".repeat(MAX_HEADERS + 1));
        for (head, status) in [
            (b"GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec(), 411),
            (b"POST / HTTP/1.1\r\nContent-Length: 999999999\r\n\r\n".to_vec(), 413),
            (b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n".to_vec(), 400),
            (b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n".to_vec(), 400),
            (b"DELETE / HTTP/1.1\r\n\r\n".to_vec(), 405),
            (b"GET / HTTP/2\r\n\r\n".to_vec(), 400),
            (b"GET http://x/ HTTP/1.1\r\n\r\n".to_vec(), 400),
            (b"GET / HTTP/1.1\r\nBad Name: x\r\n\r\n".to_vec(), 400),
            (b"GET / HTTP/1.1\r\nX: a\x00b\r\n\r\n".to_vec(), 400),
            (b"GET / HTTP/1.1\r\nno colon\r\n\r\n".to_vec(), 400),
            (b"\xff\xfe / HTTP/1.1\r\n\r\n".to_vec(), 400),
            (big.into_bytes(), 431),
            (many.into_bytes(), 431),
            (vec![b'a'; MAX_HEAD_BYTES + 1], 431),
        ] {
            let e = parse_head(&head).unwrap_err();
            assert_eq!(e.status(), status, "{:?}: {e}", String::from_utf8_lossy(&head));
        }
    }

    #[test]
    fn form_pairs_decode() {
        assert_eq!(form_pairs("a=1&b=x+y%21&c"), vec![("a".into(), "1".into()), ("b".into(), "x y!".into()), ("c".into(), "".into())]);
    }
}
