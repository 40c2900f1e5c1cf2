//! RESP2, the little of it the store speaks: commands packed as arrays of bulk
//! strings, replies framed (bounded in size, nesting and element count) before
//! they are decoded, and Lua scripts run by hash (EVALSHA, loaded on NOSCRIPT).

/// Largest reply accepted (a user's backup codes are a few KiB).
pub const MAX_REPLY: usize = 256 * 1024;
/// Nesting of arrays in a reply.
const MAX_DEPTH: usize = 4;
/// Elements of one array.
const MAX_ELEMENTS: usize = 4096;

/// One decoded reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Nil,
    Int(i64),
    BulkString(Vec<u8>),
    Array(Vec<Value>),
    SimpleString(String),
    /// `+OK`
    Okay,
    /// `-ERR ...`: the server refused the command.
    ServerError(String),
}

impl Value {
    /// The integers of an array of integers.
    pub fn integers(&self) -> Option<Vec<i64>> {
        match self {
            Value::Array(items) => items.iter().map(|v| if let Value::Int(n) = v { Some(*n) } else { None }).collect(),
            _ => None,
        }
    }

    pub fn integer(&self) -> Option<i64> {
        if let Value::Int(n) = self { Some(*n) } else { None }
    }
}

/// One command and its arguments.
#[derive(Debug, Clone, Default)]
pub struct Cmd {
    args: Vec<Vec<u8>>,
}

/// Start a command.
pub fn cmd(name: &str) -> Cmd {
    Cmd { args: vec![name.as_bytes().to_vec()] }
}

/// What can be an argument (or several: a list gives one each).
pub trait Args {
    fn push_to(&self, out: &mut Vec<Vec<u8>>);
}

impl Args for str {
    fn push_to(&self, out: &mut Vec<Vec<u8>>) {
        out.push(self.as_bytes().to_vec());
    }
}

impl Args for String {
    fn push_to(&self, out: &mut Vec<Vec<u8>>) {
        self.as_str().push_to(out);
    }
}

impl Args for [u8] {
    fn push_to(&self, out: &mut Vec<Vec<u8>>) {
        out.push(self.to_vec());
    }
}

macro_rules! number_args {
    ($($t:ty),*) => {$(
        impl Args for $t {
            fn push_to(&self, out: &mut Vec<Vec<u8>>) {
                out.push(self.to_string().into_bytes());
            }
        }
    )*};
}
number_args!(i32, i64, u64, u32, usize);

impl<T: Args> Args for [T] {
    fn push_to(&self, out: &mut Vec<Vec<u8>>) {
        for a in self {
            a.push_to(out);
        }
    }
}

impl<T: Args> Args for Vec<T> {
    fn push_to(&self, out: &mut Vec<Vec<u8>>) {
        self.as_slice().push_to(out);
    }
}

impl<T: Args + ?Sized> Args for &T {
    fn push_to(&self, out: &mut Vec<Vec<u8>>) {
        (**self).push_to(out);
    }
}

impl Cmd {
    pub fn arg<A: Args>(&mut self, a: A) -> &mut Cmd {
        a.push_to(&mut self.args);
        self
    }

    /// The wire form: `*N` then each argument as a bulk string.
    pub fn pack(&self) -> Vec<u8> {
        let size = self.args.iter().map(|a| a.len() + 16).sum::<usize>() + 16;
        let mut out = Vec::with_capacity(size);
        out.extend_from_slice(format!("*{}\r\n", self.args.len()).as_bytes());
        for a in &self.args {
            out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            out.extend_from_slice(a);
            out.extend_from_slice(b"\r\n");
        }
        out
    }
}

/// A Lua script and its SHA-1, the name EVALSHA knows it by.
pub struct Script {
    code: &'static str,
    hash: String,
}

impl Script {
    pub fn new(code: &'static str) -> Script {
        let digest = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, code.as_bytes());
        let hash = crate::hex::lower(digest.as_ref());
        Script { code, hash }
    }

    /// `EVALSHA hash numkeys keys... args...`
    pub fn evalsha(&self, keys: &[String], args: &[String]) -> Cmd {
        let mut c = cmd("EVALSHA");
        c.arg(&self.hash).arg(keys.len()).arg(keys).arg(args);
        c
    }

    /// `SCRIPT LOAD code`, for a server that does not know the hash yet.
    pub fn load(&self) -> Cmd {
        let mut c = cmd("SCRIPT");
        c.arg("LOAD").arg(self.code);
        c
    }

    pub fn hash(&self) -> &str {
        &self.hash
    }
}

/// The length of the one RESP2 reply at the start of `buf`: `Ok(None)` while it
/// is incomplete; an error for anything malformed, too large or too deep.
/// Checked before anything is decoded, so a hostile length cannot make it allocate.
pub fn frame(buf: &[u8], depth: usize) -> Result<Option<usize>, &'static str> {
    let Some(&kind) = buf.first() else { return Ok(None) };
    if !b"+-:$*".contains(&kind) {
        return Err("not a RESP2 reply");
    }
    let Some(end) = line_end(buf) else {
        return if buf.len() > MAX_REPLY { Err("reply line too long") } else { Ok(None) };
    };
    let line = &buf[1..end];
    let header = end + 2;
    match kind {
        b'+' | b'-' => Ok(Some(header)),
        b':' => number(line).map(|_| Some(header)),
        b'$' => match number(line)? {
            -1 => Ok(Some(header)),
            n if n < 0 || n as usize > MAX_REPLY => Err("bulk string length out of bounds"),
            n => {
                let total = header + n as usize + 2;
                if buf.len() < total {
                    return Ok(None);
                }
                if &buf[total - 2..total] != b"\r\n" {
                    return Err("bulk string not terminated");
                }
                Ok(Some(total))
            }
        },
        b'*' => {
            if depth >= MAX_DEPTH {
                return Err("reply nested too deeply");
            }
            let n = match number(line)? {
                -1 => return Ok(Some(header)),
                n if n < 0 || n as usize > MAX_ELEMENTS => return Err("array length out of bounds"),
                n => n as usize,
            };
            let mut at = header;
            for _ in 0..n {
                match frame(&buf[at..], depth + 1)? {
                    Some(len) => at += len,
                    None => return Ok(None),
                }
            }
            Ok(Some(at))
        }
        _ => Err("not a RESP2 reply"),
    }
}

/// Where the header line that follows the kind byte ends (its `\r\n`).
fn line_end(buf: &[u8]) -> Option<usize> {
    buf.get(1..)?.windows(2).take(MAX_REPLY).position(|w| w == b"\r\n").map(|at| at + 1)
}

fn number(line: &[u8]) -> Result<i64, &'static str> {
    std::str::from_utf8(line).ok().and_then(|s| s.parse::<i64>().ok()).ok_or("malformed number in a reply")
}

/// Decode one reply that `frame` accepted; the rest of `buf` after it is returned too.
pub fn decode(buf: &[u8]) -> Result<(Value, &[u8]), &'static str> {
    let end = line_end(buf).ok_or("reply line not terminated")?;
    let (Some(&kind), line, rest) = (buf.first(), &buf[1..end], &buf[end + 2..]) else { return Err("empty reply") };
    let text = || String::from_utf8_lossy(line).into_owned();
    match kind {
        b'+' if line == b"OK" => Ok((Value::Okay, rest)),
        b'+' => Ok((Value::SimpleString(text()), rest)),
        b'-' => Ok((Value::ServerError(text()), rest)),
        b':' => Ok((Value::Int(number(line)?), rest)),
        b'$' => match number(line)? {
            -1 => Ok((Value::Nil, rest)),
            n if n < 0 || n as usize > MAX_REPLY || rest.len() < n as usize + 2 => Err("bulk string length out of bounds"),
            n => {
                let n = n as usize;
                Ok((Value::BulkString(rest[..n].to_vec()), &rest[n + 2..]))
            }
        },
        b'*' => match number(line)? {
            -1 => Ok((Value::Nil, rest)),
            n if n < 0 || n as usize > MAX_ELEMENTS => Err("array length out of bounds"),
            n => {
                let mut items = Vec::with_capacity(n as usize);
                let mut rest = rest;
                for _ in 0..n {
                    let (item, after) = decode(rest)?;
                    items.push(item);
                    rest = after;
                }
                Ok((Value::Array(items), rest))
            }
        },
        _ => Err("not a RESP2 reply"),
    }
}

/// Frame then decode: what the connection does with its buffer. `Ok(None)` while incomplete.
pub fn parse(buf: &[u8]) -> Result<Option<(Value, usize)>, &'static str> {
    match frame(buf, 0)? {
        None => Ok(None),
        Some(len) => decode(&buf[..len]).map(|(v, _)| Some((v, len))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_whole_replies_only() {
        assert_eq!(frame(b"+OK\r\n", 0), Ok(Some(5)));
        assert_eq!(frame(b"+OK\r", 0), Ok(None));
        assert_eq!(frame(b":12\r\n:1", 0), Ok(Some(5)));
        assert_eq!(frame(b"$3\r\nabc\r\n", 0), Ok(Some(9)));
        assert_eq!(frame(b"$3\r\nab", 0), Ok(None));
        assert_eq!(frame(b"$-1\r\n", 0), Ok(Some(5)));
        assert_eq!(frame(b"*2\r\n:1\r\n$1\r\nx\r\n", 0), Ok(Some(15)));
        assert_eq!(frame(b"*2\r\n:1\r\n", 0), Ok(None));
        assert_eq!(frame(b"", 0), Ok(None));
    }

    #[test]
    fn refuses_hostile_replies_before_decoding() {
        for bad in [
            &b"$99999999999\r\n"[..],
            b"$-2\r\n",
            b"*99999999999999\r\n",
            b"*5000\r\n",
            b"*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n",
            b":abc\r\n",
            b"$3\r\nabcXY",
            b"%1\r\n",
            b"\x00\r\n",
            b"\r\n\xbb",
            b"\r\n",
        ] {
            assert!(frame(bad, 0).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
        let long = vec![b'+'; MAX_REPLY + 10];
        assert!(frame(&long, 0).is_err());
    }

    #[test]
    fn decodes_every_reply_kind() {
        let all = b"*7\r\n+OK\r\n+PONG\r\n-ERR no\r\n:-42\r\n$3\r\na\x00b\r\n$-1\r\n*1\r\n*0\r\n";
        let (value, used) = parse(all).unwrap().unwrap();
        assert_eq!(used, all.len());
        assert_eq!(
            value,
            Value::Array(vec![
                Value::Okay,
                Value::SimpleString("PONG".into()),
                Value::ServerError("ERR no".into()),
                Value::Int(-42),
                Value::BulkString(b"a\x00b".to_vec()),
                Value::Nil,
                Value::Array(vec![Value::Array(vec![])]),
            ])
        );
        assert_eq!(parse(b"*-1\r\n"), Ok(Some((Value::Nil, 5))));
        assert_eq!(parse(b"*2\r\n:1\r\n:2\r\n").unwrap().unwrap().0.integers(), Some(vec![1, 2]));
        assert_eq!(parse(b"*2\r\n:1\r\n+x\r\n").unwrap().unwrap().0.integers(), None);
    }

    #[test]
    fn packs_commands_as_bulk_string_arrays() {
        let keys = vec!["k1".to_string(), "k{2}".to_string()];
        let mut c = cmd("DEL");
        c.arg(&keys).arg(7u64).arg("a b\r\n");
        assert_eq!(c.pack(), b"*5\r\n$3\r\nDEL\r\n$2\r\nk1\r\n$4\r\nk{2}\r\n$1\r\n7\r\n$5\r\na b\r\n\r\n".to_vec());
    }

    #[test]
    fn scripts_are_named_by_their_sha1() {
        // `redis-cli SCRIPT LOAD "return 1"`
        assert_eq!(Script::new("return 1").hash(), "e0e1f9fabfc9d4800c877a703b823ac0578ff8db");
        let packed = Script::new("return 1").evalsha(&["k".into()], &["a".into(), "b".into()]).pack();
        assert!(packed.starts_with(b"*6\r\n$7\r\nEVALSHA\r\n$40\r\ne0e1f9fabfc9d4800c877a703b823ac0578ff8db\r\n$1\r\n1\r\n$1\r\nk\r\n"));
    }
}
