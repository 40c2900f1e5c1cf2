//! One connection to Redis or Valkey, owned by the module: a TCP socket made in
//! the calling thread, rustls with our own trust roots, a deadline on every
//! command, AUTH with the ACL user, and a check that the server is a primary.
//! Commands and replies are RESP2 (resp.rs), scripts run by hash.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, StreamOwned};

use crate::config::{RedisAddress, Secret};
use crate::net::deadline::DeadlineSocket;
use crate::net::dns::{ResolveError, Resolver};

use super::resp::{self, Cmd, MAX_REPLY, Script, Value};

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
            let mut auth = resp::cmd("AUTH");
            if !credentials.username.is_empty() {
                auth.arg(credentials.username);
            }
            auth.arg(password.expose());
            match conn.exchange_one(&auth)? {
                Value::Okay => {}
                Value::ServerError(e) => return Err(ConnError::Auth(conn.name.clone(), printable(&e))),
                other => return Err(conn.unexpected("AUTH", &other)),
            }
        }
        if address.db != 0 {
            let reply = conn.command(resp::cmd("SELECT").arg(address.db))?;
            if reply != Value::Okay {
                return Err(conn.unexpected("SELECT", &reply));
            }
        }
        Ok(conn)
    }

    /// Refuse anything but a primary: a replica (stale, read-only) or a sentinel.
    pub fn require_primary(&mut self) -> Result<(), ConnError> {
        let reply = self.command(&resp::cmd("ROLE"))?;
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
    pub fn command(&mut self, cmd: &Cmd) -> Result<Value, ConnError> {
        match self.exchange_one(cmd)? {
            Value::ServerError(e) => Err(ConnError::Protocol(self.name.clone(), printable(&e))),
            v => Ok(v),
        }
    }

    /// Run a script by its hash, loading it once if the server does not know it.
    pub fn run_script(&mut self, script: &Script, keys: &[String], args: &[String]) -> Result<Value, ConnError> {
        let evalsha = script.evalsha(keys, args);
        match self.exchange_one(&evalsha)? {
            Value::ServerError(e) if e.starts_with("NOSCRIPT") => {
                match self.command(&script.load())? {
                    Value::BulkString(hash) if hash == script.hash().as_bytes() => {}
                    other => return Err(self.unexpected("SCRIPT LOAD", &other)),
                }
                self.command(&evalsha)
            }
            Value::ServerError(e) => Err(ConnError::Protocol(self.name.clone(), printable(&e))),
            v => Ok(v),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Send one command, read its reply (a server error is a reply here).
    fn exchange_one(&mut self, cmd: &Cmd) -> Result<Value, ConnError> {
        if self.broken {
            return Err(ConnError::Unreachable(self.name.clone(), "the connection failed earlier".into()));
        }
        let deadline = (Instant::now() + self.timeout).min(self.until);
        self.channel.socket().deadline = deadline;
        let result = self.exchange(&cmd.pack());
        result.map_err(|e| {
            self.broken = true;
            match e.kind() {
                io::ErrorKind::InvalidData => ConnError::Protocol(self.name.clone(), printable(&e.to_string())),
                _ => io_error(&self.name, &e),
            }
        })
    }

    pub fn unexpected(&self, what: &str, reply: &Value) -> ConnError {
        let shown: String = printable(&format!("{reply:?}")).chars().take(80).collect();
        ConnError::Protocol(self.name.clone(), format!("unexpected answer to {what}: {shown}"))
    }

    fn exchange(&mut self, packed: &[u8]) -> io::Result<Value> {
        self.channel.write_all(packed)?;
        self.channel.flush()?;
        self.read_reply()
    }

    /// Read until one whole reply is buffered (bounded in size and shape), then decode it.
    fn read_reply(&mut self) -> io::Result<Value> {
        let mut chunk = [0u8; 8192];
        loop {
            match resp::parse(&self.pending) {
                Ok(Some((value, len))) => {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_text_loses_control_characters() {
        assert_eq!(printable("ERR\r\nfake\x1b[31m line"), "ERRfake[31m line");
    }
}
