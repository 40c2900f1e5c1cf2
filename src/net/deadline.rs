//! A TCP socket whose every read and write ends by a deadline, writing with
//! MSG_NOSIGNAL: the transport under the module's own LDAP and Redis clients
//! (plain, or under rustls).

use std::io::{self, IoSlice, Read, Write};
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use nix::sys::socket::MsgFlags;

/// A TCP socket whose every read and write ends by `deadline`.
pub struct DeadlineSocket {
    pub tcp: TcpStream,
    /// When every read and write must be done by; callers may move it.
    pub deadline: Instant,
}

fn timed_out() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "timed out")
}

impl DeadlineSocket {
    fn left(&self) -> io::Result<Duration> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(timed_out());
        }
        Ok(left)
    }
}

/// SO_RCVTIMEO and SO_SNDTIMEO expire as EAGAIN.
fn expiry_is_timeout(e: io::Error) -> io::Error {
    if e.kind() == io::ErrorKind::WouldBlock { timed_out() } else { e }
}

impl Read for DeadlineSocket {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.left()?;
        self.tcp.set_read_timeout(Some(left))?;
        self.tcp.read(buf).map_err(expiry_is_timeout)
    }
}

impl Write for DeadlineSocket {
    /// send(2) with MSG_NOSIGNAL: a peer that has gone away gives EPIPE, never a SIGPIPE in the host.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let left = self.left()?;
        self.tcp.set_write_timeout(Some(left))?;
        nix::sys::socket::send(self.tcp.as_raw_fd(), buf, MsgFlags::MSG_NOSIGNAL).map_err(|e| expiry_is_timeout(e.into()))
    }

    /// rustls writes vectored; writev(2) has no MSG_NOSIGNAL, so one buffer at a time through `write`.
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match bufs.iter().find(|b| !b.is_empty()) {
            Some(b) => self.write(b),
            None => Ok(0),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
