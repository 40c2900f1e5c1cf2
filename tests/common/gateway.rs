//! A local fake SMS gateway in the style of Duo's mockduo: records every request
//! and answers as told, including the faults a real gateway shows.

// each test binary uses a part of the shared harness
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// Decides the answer from the request, as a provider would: (status, content type, body).
pub type Handler = Arc<dyn Fn(&Request) -> (u16, &'static str, String) + Send + Sync>;

#[derive(Clone)]
pub enum Mode {
    /// Answer as the handler says.
    Handle(Handler),
    /// Answer with this status, content type and body.
    Reply { status: u16, content_type: &'static str, body: String },
    /// Accept and never answer.
    Hang,
    /// Answer bytes that are not HTTP.
    Garbage,
}

impl Mode {
    pub fn json(status: u16, body: &str) -> Mode {
        Mode::Reply { status, content_type: "application/json", body: body.to_string() }
    }
    pub fn text(status: u16, body: &str) -> Mode {
        Mode::Reply { status, content_type: "text/plain", body: body.to_string() }
    }
    pub fn handler(f: impl Fn(&Request) -> (u16, &'static str, String) + Send + Sync + 'static) -> Mode {
        Mode::Handle(Arc::new(f))
    }
}

#[derive(Clone, Debug)]
pub struct Request {
    pub method: String,
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// Form fields of the body, or of the query string when there is no body.
    pub fn form(&self) -> Vec<(String, String)> {
        let raw = if self.body.is_empty() {
            self.target.split_once('?').map(|(_, q)| q.to_string()).unwrap_or_default()
        } else {
            String::from_utf8_lossy(&self.body).into_owned()
        };
        raw.split('&')
            .filter(|p| !p.is_empty())
            .map(|pair| {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                (decode(k), decode(v))
            })
            .collect()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }

    pub fn query(&self, name: &str) -> Option<String> {
        let q = self.target.split_once('?').map(|(_, q)| q).unwrap_or("");
        q.split('&').filter_map(|p| p.split_once('=')).find(|(k, _)| decode(k) == name).map(|(_, v)| decode(v))
    }

    pub fn field(&self, name: &str) -> Option<String> {
        self.form().into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }
}

fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(&s.replace('+', " ")).decode_utf8_lossy().into_owned()
}

pub struct Gateway {
    pub port: u16,
    pub requests: Arc<Mutex<Vec<Request>>>,
    mode: Arc<Mutex<Mode>>,
    stop: Arc<AtomicBool>,
    pub tls_cert_pem: Option<String>,
}

impl Gateway {
    pub fn start(mode: Mode) -> Gateway {
        Gateway::start_inner(mode, None)
    }

    /// HTTPS with a fresh self-signed certificate for 127.0.0.1 (untrusted unless
    /// the test gives `tls_cert_pem` to the connector as `ca_file`).
    pub fn start_tls(mode: Mode) -> Gateway {
        let key = rcgen::KeyPair::generate().expect("key");
        let params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).expect("params");
        let cert = params.self_signed(&key).expect("cert");
        let pem = cert.pem();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_no_client_auth()
            .with_single_cert(vec![cert.der().clone()], rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).expect("key der"))
            .expect("server config");
        Gateway::start_inner(mode, Some((Arc::new(config), pem)))
    }

    fn start_inner(mode: Mode, tls: Option<(Arc<rustls::ServerConfig>, String)>) -> Gateway {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().expect("addr").port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let mode = Arc::new(Mutex::new(mode));
        let stop = Arc::new(AtomicBool::new(false));
        let (r, m, s) = (requests.clone(), mode.clone(), stop.clone());
        let tls_config = tls.as_ref().map(|(c, _)| c.clone());
        thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let (r, m, s, tls_config) = (r.clone(), m.clone(), s.clone(), tls_config.clone());
                        thread::spawn(move || serve(stream, r, m, s, tls_config));
                    }
                    Err(_) => thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Gateway { port, requests, mode, stop, tls_cert_pem: tls.map(|(_, pem)| pem) }
    }

    pub fn url(&self, path: &str) -> String {
        let scheme = if self.tls_cert_pem.is_some() { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}{path}", self.port)
    }

    pub fn set_mode(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }

    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }

    /// The SMS texts received, from the `text` form field.
    pub fn texts(&self) -> Vec<String> {
        self.requests().iter().filter_map(|r| r.field("text")).collect()
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn serve(
    stream: TcpStream,
    requests: Arc<Mutex<Vec<Request>>>,
    mode: Arc<Mutex<Mode>>,
    stop: Arc<AtomicBool>,
    tls: Option<Arc<rustls::ServerConfig>>,
) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    match tls {
        None => handle(stream, requests, mode, stop),
        Some(config) => {
            let Ok(conn) = rustls::ServerConnection::new(config) else { return };
            let tls_stream = rustls::StreamOwned::new(conn, stream);
            handle(tls_stream, requests, mode, stop)
        }
    }
}

fn handle<S: Read + Write>(stream: S, requests: Arc<Mutex<Vec<Request>>>, mode: Arc<Mutex<Mode>>, stop: Arc<AtomicBool>) {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let target = parts.next().unwrap_or("").to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 {
            return;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    let len: usize = headers.iter().find(|(k, _)| k.eq_ignore_ascii_case("content-length")).and_then(|(_, v)| v.parse().ok()).unwrap_or(0);
    let mut body = vec![0u8; len];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let request = Request { method, target, headers, body };
    requests.lock().unwrap().push(request.clone());
    let mut mode = mode.lock().unwrap().clone();
    if let Mode::Handle(h) = &mode {
        let (status, content_type, body) = h(&request);
        mode = Mode::Reply { status, content_type, body };
    }
    let mut stream = reader.into_inner();
    match mode {
        Mode::Handle(_) => {}
        Mode::Reply { status, content_type, body } => {
            let reply = format!(
                "HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(reply.as_bytes());
            let _ = stream.flush();
        }
        Mode::Hang => {
            for _ in 0..600 {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                thread::sleep(Duration::from_millis(100));
            }
        }
        Mode::Garbage => {
            let _ = stream.write_all(b"this is not HTTP at all\r\n\r\n");
            let _ = stream.flush();
        }
    }
}

/// A loopback port with nothing listening: connections are refused.
pub fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}
