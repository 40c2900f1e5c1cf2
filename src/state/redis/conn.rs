//! One connection to Redis or Valkey, owned by the module: a TCP socket made in
//! the calling thread, rustls with our own trust roots, a deadline on every
//! command, AUTH with the ACL user, and a check that the server is a primary.
//! The `redis` crate only packs commands, decodes replies (after our own bounds
//! check) and runs `Script` (EVALSHA with its SCRIPT LOAD fallback) over it.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::{ConnectionLike, RedisResult, Value};
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, StreamOwned};

use crate::config::{RedisAddress, Secret};
use crate::net::deadline::DeadlineSocket;
use crate::net::dns::{ResolveError, Resolver};

/// Largest reply accepted (a user's backup codes are a few KiB).
const MAX_REPLY: usize = 256 * 1024;
/// Nesting of arrays in a reply.
const MAX_DEPTH: usize = 4;
/// Elements of one array.
const MAX_ELEMENTS: usize = 4096;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnError {
    #[error("{0}: timed out")]
    Timeout(String),
    #[error("{0}: unreachable: {1}")]
    Unreachable(String, String),
    #[error("{0}: TLS: {1}")]
    Tls(String, String),
    #[error("{0}: refused the credentials: {1}")]
    Auth(String, String),
    #[error("{0} is not a primary (ROLE says {1})")]
    NotPrimary(String, String),
    #[error("{0}: {1}")]
    Protocol(String, String),
}

/// Who to log in as, and the TLS settings of a `rediss://` address.
pub struct Credentials<'a> {
    pub username: &'a str,
    pub password: Option<&'a Secret>,
}

enum Channel {
    Plain(DeadlineSocket),
    Tls(Box<StreamOwned<ClientConnection, DeadlineSocket>>),
}

impl Channel {
    fn socket(&mut self) -> &mut DeadlineSocket {
        match self {
            Channel::Plain(s) => s,
            Channel::Tls(s) => &mut s.sock,
        }
    }
}

impl Read for Channel {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Channel::Plain(s) => s.read(buf),
            Channel::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Channel {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Channel::Plain(s) => s.write(buf),
            Channel::Tls(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Channel::Plain(s) => s.flush(),
            Channel::Tls(s) => s.flush(),
        }
    }
}

/// An open, authenticated connection. Dropping it closes the socket.
pub struct RedisConn {
    channel: Channel,
    /// Bytes received but not yet decoded.
    pending: Vec<u8>,
    /// For each command.
    timeout: Duration,
    /// The end of the whole store's budget: no command runs past it.
    until: Instant,
    /// Set once a read or write failed: the stream is then out of step.
    broken: bool,
    name: String,
}

impl RedisConn {
    /// Resolve, connect, start TLS, AUTH and SELECT, all within `timeout` and before `until`.
    pub fn open(
        address: &RedisAddress,
        tls: Option<&Arc<ClientConfig>>,
        credentials: &Credentials<'_>,
        timeout: Duration,
        until: Instant,
    ) -> Result<RedisConn, ConnError> {
        let name = format!("redis {}:{}", address.host, address.port);
        let deadline = (Instant::now() + timeout).min(until);
        let addrs = Resolver::system().resolve(&address.host, address.port, deadline).map_err(|e| match e {
            ResolveError::Timeout => ConnError::Timeout(name.clone()),
            e => ConnError::Unreachable(name.clone(), format!("cannot resolve: {e}")),
        })?;
        let mut last = ConnError::Unreachable(name.clone(), "no address".into());
        let mut tcp = None;
        for addr in addrs {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(ConnError::Timeout(name));
            }
            match TcpStream::connect_timeout(&addr, left) {
                Ok(s) => {
                    tcp = Some(s);
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::TimedOut => last = ConnError::Timeout(name.clone()),
                Err(e) => last = ConnError::Unreachable(name.clone(), e.to_string()),
            }
        }
        let tcp = tcp.ok_or(last)?;
        let _ = tcp.set_nodelay(true);
        let socket = DeadlineSocket { tcp, deadline };
        let channel = match (address.tls, tls) {
            (false, _) => Channel::Plain(socket),
            (true, None) => return Err(ConnError::Tls(name, "no TLS configuration".into())),
            (true, Some(config)) => {
                let server = ServerName::try_from(address.host.clone()).map_err(|e| ConnError::Tls(name.clone(), e.to_string()))?;
                let conn = ClientConnection::new(config.clone(), server).map_err(|e| ConnError::Tls(name.clone(), e.to_string()))?;
                let mut stream = StreamOwned::new(conn, socket);
                while stream.conn.is_handshaking() {
                    stream.conn.complete_io(&mut stream.sock).map_err(|e| io_error(&name, &e))?;
                }
                Channel::Tls(Box::new(stream))
            }
        };
        let mut conn = RedisConn { channel, pending: Vec::new(), timeout, until, broken: false, name };
        if let Some(password) = credentials.password {
            let mut auth = redis::cmd("AUTH");
            if !credentials.username.is_empty() {
                auth.arg(credentials.username);
            }
            auth.arg(password.expose());
            match conn.req_command(&auth).and_then(Value::extract_error) {
                Ok(Value::Okay) => {}
                Ok(other) => return Err(conn.unexpected("AUTH", &other)),
                Err(e) if e.is_io_error() || e.is_timeout() => return Err(conn.failure(&e)),
                Err(e) => return Err(ConnError::Auth(conn.name.clone(), printable(&e.to_string()))),
            }
        }
        if address.db != 0 {
            let reply = conn.command(redis::cmd("SELECT").arg(address.db))?;
            if reply != Value::Okay {
                return Err(conn.unexpected("SELECT", &reply));
            }
        }
        Ok(conn)
    }

    /// Refuse anything but a primary: a replica (stale, read-only) or a sentinel.
    pub fn require_primary(&mut self) -> Result<(), ConnError> {
        let reply = self.command(&redis::cmd("ROLE"))?;
        let role = match &reply {
            Value::Array(items) => match items.first() {
                Some(Value::BulkString(b)) => String::from_utf8_lossy(b).into_owned(),
                Some(Value::SimpleString(s)) => s.clone(),
                _ => return Err(self.unexpected("ROLE", &reply)),
            },
            _ => return Err(self.unexpected("ROLE", &reply)),
        };
        if role != "master" {
            return Err(ConnError::NotPrimary(self.name.clone(), printable(&role)));
        }
        Ok(())
    }

    /// Run one command; a server error reply is an error.
    pub fn command(&mut self, cmd: &redis::Cmd) -> Result<Value, ConnError> {
        self.req_command(cmd).and_then(Value::extract_error).map_err(|e| self.failure(&e))
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// A `redis` error as ours, without control characters.
    pub fn failure(&self, e: &redis::RedisError) -> ConnError {
        if e.is_timeout() {
            ConnError::Timeout(self.name.clone())
        } else if e.is_io_error() {
            ConnError::Unreachable(self.name.clone(), printable(&e.to_string()))
        } else {
            ConnError::Protocol(self.name.clone(), printable(&e.to_string()))
        }
    }

    pub fn unexpected(&self, what: &str, reply: &Value) -> ConnError {
        let shown: String = printable(&format!("{reply:?}")).chars().take(80).collect();
        ConnError::Protocol(self.name.clone(), format!("unexpected answer to {what}: {shown}"))
    }

    fn send_and_receive(&mut self, packed: &[u8], count: usize) -> io::Result<Vec<Value>> {
        if self.broken {
            return Err(io::Error::new(io::ErrorKind::NotConnected, "the connection failed earlier"));
        }
        let deadline = (Instant::now() + self.timeout).min(self.until);
        self.channel.socket().deadline = deadline;
        let result = self.exchange(packed, count);
        if result.is_err() {
            self.broken = true;
        }
        result
    }

    fn exchange(&mut self, packed: &[u8], count: usize) -> io::Result<Vec<Value>> {
        self.channel.write_all(packed)?;
        self.channel.flush()?;
        let mut replies = Vec::with_capacity(count.min(16));
        for _ in 0..count {
            replies.push(self.read_reply()?);
        }
        Ok(replies)
    }

    /// Read until one whole reply is buffered (bounded in size and shape), then decode it.
    fn read_reply(&mut self) -> io::Result<Value> {
        let mut chunk = [0u8; 8192];
        loop {
            match frame(&self.pending, 0) {
                Ok(Some(len)) => {
                    let value = redis::parse_redis_value(&self.pending[..len])
                        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, printable(&e.to_string())))?;
                    self.pending.drain(..len);
                    return Ok(value);
                }
                Ok(None) if self.pending.len() > MAX_REPLY => {
                    return Err(io::Error::new(io::ErrorKind::InvalidData, "reply larger than 256 KiB"));
                }
                Ok(None) => {}
                Err(why) => return Err(io::Error::new(io::ErrorKind::InvalidData, why)),
            }
            let n = self.channel.read(&mut chunk)?;
            if n == 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the server closed the connection"));
            }
            self.pending.extend_from_slice(&chunk[..n]);
        }
    }
}

impl ConnectionLike for RedisConn {
    fn req_packed_command(&mut self, cmd: &[u8]) -> RedisResult<Value> {
        let mut replies = self.send_and_receive(cmd, 1)?;
        replies.pop().ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no reply").into())
    }

    fn req_packed_commands(&mut self, cmd: &[u8], offset: usize, count: usize) -> RedisResult<Vec<Value>> {
        let replies = self.send_and_receive(cmd, offset.saturating_add(count))?;
        Ok(replies.into_iter().skip(offset).collect())
    }

    fn get_db(&self) -> i64 {
        0
    }

    fn check_connection(&mut self) -> bool {
        !self.broken && matches!(self.command(&redis::cmd("PING")), Ok(Value::SimpleString(_)))
    }

    fn is_open(&self) -> bool {
        !self.broken
    }
}

fn io_error(name: &str, e: &io::Error) -> ConnError {
    match e.kind() {
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => ConnError::Timeout(name.into()),
        _ if e.get_ref().is_some_and(|inner| inner.is::<rustls::Error>()) => ConnError::Tls(name.into(), printable(&e.to_string())),
        _ => ConnError::Unreachable(name.into(), printable(&e.to_string())),
    }
}

/// Text from a peer, safe for a log line.
pub fn printable(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(300).collect()
}

/// The length of the one RESP2 reply at the start of `buf`: `Ok(None)` while it
/// is incomplete; an error for anything malformed, too large or too deep.
/// Checked before the codec sees the bytes, so a hostile length cannot make
/// it allocate.
fn frame(buf: &[u8], depth: usize) -> Result<Option<usize>, &'static str> {
    let Some(&kind) = buf.first() else { return Ok(None) };
    let Some(end) = buf.windows(2).take(MAX_REPLY).position(|w| w == b"\r\n") else {
        return if buf.len() > MAX_REPLY { Err("reply line too long") } else { Ok(None) };
    };
    let line = &buf[1..end];
    let header = end + 2;
    let number = || -> Result<i64, &'static str> {
        std::str::from_utf8(line).ok().and_then(|s| s.parse::<i64>().ok()).ok_or("malformed length in a reply")
    };
    match kind {
        b'+' | b'-' => Ok(Some(header)),
        b':' => number().map(|_| Some(header)),
        b'$' => match number()? {
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
            let n = match number()? {
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
        ] {
            assert!(frame(bad, 0).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
        let long = vec![b'+'; MAX_REPLY + 10];
        assert!(frame(&long, 0).is_err());
    }

    #[test]
    fn peer_text_loses_control_characters() {
        assert_eq!(printable("ERR\r\nfake\x1b[31m line"), "ERRfake[31m line");
    }
}
