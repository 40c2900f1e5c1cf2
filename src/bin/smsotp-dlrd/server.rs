//! The listening loop: one thread per connection, at most `MAX_CONNECTIONS` at
//! once (more are answered 503 at once), one request per connection, each
//! within `REQUEST_DEADLINE` from accept to answer.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use pam_smsotp::dlr::request::{Head, MAX_HEAD_BYTES, RequestError, head_end, parse_head};
use pam_smsotp::sys::syslog;

use crate::handle::{Answer, Receiver};

pub const MAX_CONNECTIONS: usize = 32;
pub const REQUEST_DEADLINE: Duration = Duration::from_secs(5);
const WRITE_TIMEOUT: Duration = Duration::from_secs(2);

/// Serve until the process is stopped.
pub fn serve(listener: TcpListener, receiver: &Receiver) {
    let active = Arc::new(AtomicUsize::new(0));
    std::thread::scope(|scope| {
        for stream in listener.incoming() {
            let mut stream = match stream {
                Ok(s) => s,
                Err(e) => {
                    // EMFILE and the like: back off instead of spinning
                    syslog::line(libc::LOG_WARNING, &format!("accept failed: {e}"));
                    std::thread::sleep(Duration::from_millis(100));
                    continue;
                }
            };
            if active.fetch_add(1, Ordering::AcqRel) >= MAX_CONNECTIONS {
                active.fetch_sub(1, Ordering::AcqRel);
                let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
                respond(&mut stream, &Answer { status: 503, body: "busy\n" });
                continue;
            }
            let active = active.clone();
            let spawned = std::thread::Builder::new().stack_size(256 * 1024).spawn_scoped(scope, move || {
                connection(stream, receiver);
                active.fetch_sub(1, Ordering::AcqRel);
            });
            if spawned.is_err() {
                syslog::line(libc::LOG_WARNING, "cannot start a connection thread");
            }
        }
    });
}

fn connection(mut stream: TcpStream, receiver: &Receiver) {
    let deadline = Instant::now() + REQUEST_DEADLINE;
    let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
    let answer = match read_request(&mut stream, deadline) {
        Ok((head, body)) => receiver.handle(&head, &body),
        Err(Failure::Request(e)) => Answer { status: e.status(), body: "bad request\n" },
        Err(Failure::Timeout) => Answer { status: 408, body: "too slow\n" },
        Err(Failure::Closed) => return,
    };
    respond(&mut stream, &answer);
}

enum Failure {
    Request(RequestError),
    Timeout,
    Closed,
}

/// Read into `buf` once, within what is left until `deadline`.
fn read_some(stream: &mut TcpStream, buf: &mut [u8], deadline: Instant) -> Result<usize, Failure> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(Failure::Timeout);
    }
    stream.set_read_timeout(Some(left)).map_err(|_| Failure::Closed)?;
    match stream.read(buf) {
        Ok(0) => Err(Failure::Closed),
        Ok(n) => Ok(n),
        Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => Err(Failure::Timeout),
        Err(_) => Err(Failure::Closed),
    }
}

fn read_request(stream: &mut TcpStream, deadline: Instant) -> Result<(Head, Vec<u8>), Failure> {
    let mut buf = Vec::with_capacity(2048);
    let mut chunk = [0u8; 4096];
    let end = loop {
        let n = read_some(stream, &mut chunk, deadline)?;
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = head_end(&buf) {
            break end;
        }
        if buf.len() > MAX_HEAD_BYTES {
            return Err(Failure::Request(RequestError::HeadTooLarge));
        }
    };
    let head = parse_head(&buf[..end]).map_err(Failure::Request)?;
    let mut body = buf.split_off(end);
    if body.len() > head.content_length {
        // a second request pipelined behind this one is not served
        body.truncate(head.content_length);
    }
    while body.len() < head.content_length {
        let want = (head.content_length - body.len()).min(chunk.len());
        let n = read_some(stream, &mut chunk[..want], deadline)?;
        body.extend_from_slice(&chunk[..n]);
    }
    Ok((head, body))
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        411 => "Length Required",
        413 => "Content Too Large",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "Error",
    }
}

fn respond(stream: &mut TcpStream, answer: &Answer) {
    let text = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
        answer.status,
        reason(answer.status),
        answer.body.len(),
        answer.body
    );
    let _ = stream.write_all(text.as_bytes());
    let _ = stream.shutdown(std::net::Shutdown::Both);
}
