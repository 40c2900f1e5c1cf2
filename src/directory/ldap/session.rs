//! One LDAP connection in the calling thread: a TCP socket, TLS from the
//! start (ldaps) or after StartTLS, one deadline over every read and write,
//! and every reply bounded in size and nesting before it is decoded.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Instant;

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, StreamOwned};

use super::ber::{self, BerError, ReadError};
use super::protocol::{self, LdapResult, NOTICE_OF_DISCONNECTION, RawEntry, Response};
use super::{LdapProblem, printable};
use crate::net::deadline::DeadlineSocket;

/// Largest single reply accepted (a search entry with a few phone numbers is well below 1 KiB).
pub const MAX_MESSAGE: usize = 256 * 1024;
/// Largest sum of replies over one connection.
pub const MAX_TOTAL: usize = 1024 * 1024;

enum Channel {
    Plain(DeadlineSocket),
    Tls(Box<StreamOwned<ClientConnection, DeadlineSocket>>),
    Closed,
}

fn closed() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "the connection is closed")
}

impl Read for Channel {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Channel::Plain(s) => s.read(buf),
            Channel::Tls(s) => s.read(buf),
            Channel::Closed => Err(closed()),
        }
    }
}

impl Write for Channel {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Channel::Plain(s) => s.write(buf),
            Channel::Tls(s) => s.write(buf),
            Channel::Closed => Err(closed()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Channel::Plain(s) => s.flush(),
            Channel::Tls(s) => s.flush(),
            Channel::Closed => Err(closed()),
        }
    }
}

/// What a search found: at most one entry is ever kept.
#[derive(Debug)]
pub enum Found {
    Nothing,
    One(RawEntry),
    Many,
}

/// An open connection (after `LdapDirectory::connect`). Dropping it closes the socket.
pub struct LdapSession {
    channel: Channel,
    deadline: Instant,
    last_id: i32,
    received: usize,
}

fn io_problem(e: io::Error) -> LdapProblem {
    match e.kind() {
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => LdapProblem::Timeout,
        _ if e.get_ref().is_some_and(|inner| inner.is::<rustls::Error>()) => LdapProblem::Tls(e.to_string()),
        io::ErrorKind::UnexpectedEof => LdapProblem::Search("the server closed the connection".into()),
        _ => LdapProblem::Search(format!("connection lost: {e}")),
    }
}

fn bad_reply(e: BerError) -> LdapProblem {
    LdapProblem::BadReply(e.to_string())
}

fn result_text(r: &LdapResult) -> String {
    format!("result code {} {}", r.code, printable(&r.diagnostic)).trim().to_string()
}

impl LdapSession {
    pub(super) fn new(tcp: TcpStream, deadline: Instant) -> Self {
        LdapSession { channel: Channel::Plain(DeadlineSocket { tcp, deadline }), deadline, last_id: 0, received: 0 }
    }

    fn next_id(&mut self) -> i32 {
        self.last_id += 1;
        self.last_id
    }

    fn send(&mut self, bytes: &[u8]) -> Result<(), LdapProblem> {
        self.channel.write_all(bytes).and_then(|()| self.channel.flush()).map_err(io_problem)
    }

    /// The next reply to message `id`; replies to other IDs are skipped (within the caps).
    fn receive(&mut self, id: i32) -> Result<Response, LdapProblem> {
        loop {
            let content = ber::read_message(&mut self.channel, MAX_MESSAGE).map_err(|e| match e {
                ReadError::Io(e) => io_problem(e),
                ReadError::Ber(e) => bad_reply(e),
            })?;
            self.received += content.len();
            if self.received > MAX_TOTAL {
                return Err(LdapProblem::BadReply(format!("more than {MAX_TOTAL} bytes of replies")));
            }
            ber::check_nesting(&content, ber::MAX_DEPTH).map_err(bad_reply)?;
            let (got, response) = protocol::decode(&content).map_err(bad_reply)?;
            if got == 0 {
                return Err(match response {
                    Response::Extended { result, name } if name.as_deref() == Some(NOTICE_OF_DISCONNECTION) => {
                        LdapProblem::Search(format!("the server ended the connection: {}", result_text(&result)))
                    }
                    _ => LdapProblem::BadReply("an unsolicited message the module does not know".into()),
                });
            }
            if got == i64::from(id) {
                return Ok(response);
            }
        }
    }

    /// TLS from here on (ldaps at once, or after StartTLS); the handshake completes here.
    pub(super) fn start_tls(&mut self, config: Arc<ClientConfig>, name: ServerName<'static>) -> Result<(), LdapProblem> {
        let Channel::Plain(mut sock) = std::mem::replace(&mut self.channel, Channel::Closed) else {
            return Err(LdapProblem::Tls("TLS is already on".into()));
        };
        let mut conn = ClientConnection::new(config, name).map_err(|e| LdapProblem::Tls(e.to_string()))?;
        while conn.is_handshaking() {
            conn.complete_io(&mut sock).map_err(|e| match io_problem(e) {
                LdapProblem::Timeout => LdapProblem::Timeout,
                LdapProblem::Tls(t) => LdapProblem::Tls(t),
                other => LdapProblem::Tls(format!("handshake: {other}")),
            })?;
        }
        self.channel = Channel::Tls(Box::new(StreamOwned::new(conn, sock)));
        Ok(())
    }

    /// The StartTLS extended operation, then the handshake.
    pub(super) fn starttls(&mut self, config: Arc<ClientConfig>, name: ServerName<'static>) -> Result<(), LdapProblem> {
        let id = self.next_id();
        self.send(&protocol::starttls_request(id))?;
        match self.receive(id)? {
            Response::Extended { result, .. } if result.code == 0 => self.start_tls(config, name),
            Response::Extended { result, .. } => Err(LdapProblem::Tls(format!("the server refused StartTLS: {}", result_text(&result)))),
            _ => Err(LdapProblem::BadReply("the answer to StartTLS is not an extended response".into())),
        }
    }

    pub(super) fn bind(&mut self, dn: &str, password: &str) -> Result<(), LdapProblem> {
        let id = self.next_id();
        self.send(&protocol::bind_request(id, dn, password))?;
        match self.receive(id)? {
            Response::Bind(result) if result.code == 0 => Ok(()),
            Response::Bind(result) => Err(LdapProblem::BindRefused(result_text(&result))),
            _ => Err(LdapProblem::BadReply("the answer to the bind is not a bind response".into())),
        }
    }

    /// A subtree search for at most two entries; a second entry ends it at once.
    pub(super) fn search(&mut self, base: &str, filter: &[u8], attributes: &[String]) -> Result<Found, LdapProblem> {
        let id = self.next_id();
        let seconds = self.deadline.saturating_duration_since(Instant::now()).as_secs().max(1);
        self.send(&protocol::search_request(id, base, filter, attributes, 2, seconds.min(i64::MAX as u64) as i64))?;
        let mut first = None;
        loop {
            match self.receive(id)? {
                Response::Entry(_) if first.is_some() => return Ok(Found::Many),
                Response::Entry(entry) => first = Some(entry),
                Response::Reference | Response::Other(0x79) => {}
                Response::Done(r) if r.code == protocol::SIZE_LIMIT_EXCEEDED => return Ok(Found::Many),
                Response::Done(r) if r.code != 0 => return Err(LdapProblem::Search(result_text(&r))),
                Response::Done(_) => return Ok(first.map_or(Found::Nothing, Found::One)),
                _ => return Err(LdapProblem::BadReply("an answer to the search that is not a search result".into())),
            }
        }
    }

    /// Says goodbye when there is time left, then closes.
    pub fn unbind(&mut self) -> Result<(), LdapProblem> {
        if Instant::now() >= self.deadline {
            self.channel = Channel::Closed;
            return Ok(());
        }
        let id = self.next_id();
        let sent = self.send(&protocol::unbind_request(id));
        if let Channel::Tls(tls) = &mut self.channel {
            tls.conn.send_close_notify();
            let _ = tls.flush();
        }
        self.channel = Channel::Closed;
        sent
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::ldap::ber::element;
    use crate::directory::ldap::protocol::tests::{entry_op, ldap_result, reply};
    use std::net::TcpListener;
    use std::time::Duration;

    /// A session to a peer that answers with `answer` (after reading what the client sent).
    fn session_with(answer: Vec<u8>, timeout: Duration) -> (LdapSession, std::thread::JoinHandle<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = [0u8; 512];
            let _ = s.read(&mut buf);
            let _ = s.write_all(&answer);
            let _ = s.read(&mut buf);
        });
        let tcp = TcpStream::connect(addr).unwrap();
        (LdapSession::new(tcp, Instant::now() + timeout), server)
    }

    fn search(answer: Vec<u8>) -> Result<Found, LdapProblem> {
        let (mut session, server) = session_with(answer, Duration::from_secs(3));
        let found = session.search("dc=x", &[0x87, 0x01, b'a'], &["mobile".into()]);
        drop(session);
        server.join().unwrap();
        found
    }

    #[test]
    fn replies_to_other_ids_and_references_are_skipped() {
        let mut answer = reply(7, &entry_op(b"uid=other", &[]));
        answer.extend(reply(1, &element(0x73, &element(0x04, b"ldap://elsewhere"))));
        answer.extend(reply(1, &entry_op(b"uid=a", &[("mobile", &[b"+15551234567"])])));
        answer.extend(reply(1, &ldap_result(0x65, 0, "")));
        match search(answer) {
            Ok(Found::One(e)) => assert_eq!(e.dn, b"uid=a"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_second_entry_or_size_limit_is_many() {
        let mut two = reply(1, &entry_op(b"uid=a", &[]));
        two.extend(reply(1, &entry_op(b"uid=b", &[])));
        assert!(matches!(search(two), Ok(Found::Many)));
        assert!(matches!(search(reply(1, &ldap_result(0x65, 4, ""))), Ok(Found::Many)));
        assert!(matches!(search(reply(1, &ldap_result(0x65, 0, ""))), Ok(Found::Nothing)));
        assert_eq!(
            search(reply(1, &ldap_result(0x65, 32, "no\x07such\nobject"))).unwrap_err(),
            LdapProblem::Search("result code 32 nosuchobject".into())
        );
    }

    #[test]
    fn a_notice_of_disconnection_ends_the_search() {
        let mut body = ldap_result(0x78, 52, "going down")[2..].to_vec();
        body.extend(element(0x8a, NOTICE_OF_DISCONNECTION));
        let err = search(reply(0, &element(0x78, &body))).unwrap_err();
        assert_eq!(err, LdapProblem::Search("the server ended the connection: result code 52 going down".into()));
    }

    #[test]
    fn the_total_of_replies_is_capped() {
        // many replies to another message ID, each below the per-message cap
        let one = reply(9, &element(0x73, &element(0x04, &vec![b'x'; 60_000])));
        let answer: Vec<u8> = std::iter::repeat_n(one, 20).flatten().collect();
        assert_eq!(search(answer).unwrap_err(), LdapProblem::BadReply(format!("more than {MAX_TOTAL} bytes of replies")));
    }

    #[test]
    fn the_deadline_bounds_a_silent_peer() {
        let (mut session, server) = session_with(Vec::new(), Duration::from_millis(300));
        let started = Instant::now();
        let err = session.search("dc=x", &[0x87, 0x01, b'a'], &[]).unwrap_err();
        assert_eq!(err, LdapProblem::Timeout);
        assert!(started.elapsed() < Duration::from_secs(1), "{:?}", started.elapsed());
        drop(session);
        server.join().unwrap();
    }
}
