//! A hostile LDAP server (or a man in the middle before StartTLS) against the
//! module's LDAP client: deep nesting, huge and endless replies, trickles,
//! bytes that are not UTF-8, control characters, garbage and cut connections,
//! in answer to the search, the bind, the StartTLS request and inside ldaps.
//! Each ends as the right directory error within the timeout, and the
//! process lives; through real libpam the client exits normally.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use pam_smsotp::auth::{Directory, DirectoryError, PhoneRecord};
use pam_smsotp::config::{LdapConfig, Secret};
use pam_smsotp::directory::LdapDirectory;
use pam_smsotp::log::MemoryLog;

const TIMEOUT: u64 = 2;
const BASE: &str = "dc=example,dc=org";

// ---- BER, as a server writes it ----

fn header(tag: u8, len: usize) -> Vec<u8> {
    let mut h = vec![tag];
    if len < 0x80 {
        h.push(len as u8);
    } else {
        let bytes = (len as u32).to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        h.push(0x80 | (4 - skip) as u8);
        h.extend_from_slice(&bytes[skip..]);
    }
    h
}

fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = header(tag, content.len());
    out.extend_from_slice(content);
    out
}

fn message(id: u8, op: &[u8]) -> Vec<u8> {
    let mut c = vec![0x02, 0x01, id];
    c.extend_from_slice(op);
    tlv(0x30, &c)
}

fn result_op(tag: u8, code: u8, text: &[u8]) -> Vec<u8> {
    let mut c = vec![0x0a, 0x01, code, 0x04, 0x00];
    c.extend(tlv(0x04, text));
    tlv(tag, &c)
}

fn entry_op(dn: &[u8], attrs: &[(&str, &[u8])]) -> Vec<u8> {
    let mut list = Vec::new();
    for (name, value) in attrs {
        let mut a = tlv(0x04, name.as_bytes());
        a.extend(tlv(0x31, &tlv(0x04, value)));
        list.extend(tlv(0x30, &a));
    }
    let mut c = tlv(0x04, dn);
    c.extend(tlv(0x30, &list));
    tlv(0x64, &c)
}

/// A reply with one entry, then the end of the search.
fn found(id: u8, dn: &[u8], attrs: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = message(id, &entry_op(dn, attrs));
    out.extend(message(id, &result_op(0x65, 0, b"")));
    out
}

/// `levels` SEQUENCEs inside one another around an empty string, each header
/// as short as its length allows; built from the inside out without recursion.
fn nested(levels: usize) -> Vec<u8> {
    let inner = [0x04u8, 0x00];
    let mut headers = Vec::with_capacity(levels);
    let mut len = inner.len();
    for _ in 0..levels {
        let h = header(0x30, len);
        len += h.len();
        headers.push(h);
    }
    let mut out = Vec::with_capacity(len);
    for h in headers.iter().rev() {
        out.extend_from_slice(h);
    }
    out.extend_from_slice(&inner);
    out
}

/// A reply to message `id` whose operation holds `levels` nested SEQUENCEs.
fn deep(tag: u8, id: u8, levels: usize) -> Vec<u8> {
    message(id, &tlv(tag, &nested(levels)))
}

// ---- the fake server ----

trait Stream: Read + Write + Send {}
impl<T: Read + Write + Send> Stream for T {}

struct Peer(Box<dyn Stream>);

impl Peer {
    /// The next request: (message ID, operation tag); None when the client is gone.
    fn request(&mut self) -> Option<(u8, u8)> {
        let mut head = [0u8; 2];
        self.0.read_exact(&mut head).ok()?;
        let len = if head[1] < 0x80 {
            head[1] as usize
        } else {
            let mut n = vec![0u8; (head[1] & 0x7f) as usize];
            self.0.read_exact(&mut n).ok()?;
            n.iter().fold(0, |a, b| (a << 8) | *b as usize)
        };
        let mut content = vec![0u8; len];
        self.0.read_exact(&mut content).ok()?;
        // INTEGER id (the module's IDs are small), then the operation's tag
        let id_len = content[1] as usize;
        Some((content[1 + id_len], content[2 + id_len]))
    }

    fn send(&mut self, bytes: &[u8]) -> bool {
        self.0.write_all(bytes).and_then(|()| self.0.flush()).is_ok()
    }

    /// Waits until the client closes.
    fn drain(&mut self) {
        let mut buf = [0u8; 4096];
        while matches!(self.0.read(&mut buf), Ok(n) if n > 0) {}
    }
}

fn tls_server_config() -> (Arc<rustls::ServerConfig>, String) {
    let key = rcgen::KeyPair::generate().unwrap();
    let params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
    let cert = params.self_signed(&key).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.der().clone()], rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).unwrap())
        .unwrap();
    (Arc::new(config), cert.pem())
}

struct Fake {
    port: u16,
    /// PEM of the certificate when the server speaks ldaps.
    cert: Option<String>,
}

/// A server for one connection at a time, each served by `serve` on a thread of the test process.
fn fake(serve: impl Fn(Peer) + Send + Sync + 'static) -> Fake {
    fake_inner(serve, None)
}

fn fake_ldaps(serve: impl Fn(Peer) + Send + Sync + 'static) -> Fake {
    fake_inner(serve, Some(tls_server_config()))
}

fn fake_inner(serve: impl Fn(Peer) + Send + Sync + 'static, tls: Option<(Arc<rustls::ServerConfig>, String)>) -> Fake {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let serve = Arc::new(serve);
    let tls_config = tls.as_ref().map(|(c, _)| c.clone());
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let (serve, tls_config) = (serve.clone(), tls_config.clone());
            thread::spawn(move || {
                let peer = match tls_config {
                    None => Peer(Box::new(stream)),
                    Some(config) => {
                        let conn = rustls::ServerConnection::new(config).unwrap();
                        Peer(Box::new(rustls::StreamOwned::new(conn, stream)))
                    }
                };
                serve(peer)
            });
        }
    });
    Fake { port, cert: tls.map(|(_, pem)| pem) }
}

/// Answers the first request with `bytes`, then waits for the client to go.
fn answer(bytes: Vec<u8>) -> impl Fn(Peer) + Send + Sync + 'static {
    move |mut peer: Peer| {
        if peer.request().is_some() {
            peer.send(&bytes);
            peer.drain();
        }
    }
}

/// Answers the first request with `reply(id)`.
fn answer_with(reply: impl Fn(u8) -> Vec<u8> + Send + Sync + 'static) -> impl Fn(Peer) + Send + Sync + 'static {
    move |mut peer: Peer| {
        if let Some((id, _)) = peer.request() {
            peer.send(&reply(id));
            peer.drain();
        }
    }
}

// ---- the client side ----

fn config(fake: &Fake) -> LdapConfig {
    let scheme = if fake.cert.is_some() { "ldaps" } else { "ldap" };
    LdapConfig {
        url: format!("{scheme}://127.0.0.1:{}", fake.port),
        base_dn: BASE.into(),
        filter: "(uid={user})".into(),
        phone_attributes: vec!["mobile".into(), "telephoneNumber".into()],
        bind_dn: None,
        bind_password_file: None,
        starttls: false,
        ca_file: None,
        timeout: TIMEOUT,
        bind_password: None,
    }
}

fn lookup_with(config: &LdapConfig) -> (Result<Option<PhoneRecord>, DirectoryError>, Duration) {
    let dir = LdapDirectory::new(config, "+49".into());
    let started = Instant::now();
    let result = dir.lookup("alice", Duration::from_secs(30), &MemoryLog::default());
    (result, started.elapsed())
}

fn lookup(fake: &Fake) -> (Result<Option<PhoneRecord>, DirectoryError>, Duration) {
    lookup_with(&config(fake))
}

/// The lookup failed as the directory being unavailable (so `on_directory_failure`
/// applies), saying `expected`, within the timeout; the reason has no control character.
fn assert_unavailable(got: (Result<Option<PhoneRecord>, DirectoryError>, Duration), expected: &str, case: &str) {
    let (result, elapsed) = got;
    match result {
        Err(DirectoryError::Unavailable { reason, .. }) => {
            assert!(reason.contains(expected), "{case}: {reason:?} does not say {expected:?}");
            assert!(!reason.chars().any(char::is_control), "{case}: control characters in {reason:?}");
        }
        other => panic!("{case}: expected unavailable ({expected}), got {other:?}"),
    }
    assert!(elapsed < Duration::from_secs(TIMEOUT) + Duration::from_millis(500), "{case}: took {elapsed:?}");
}

fn assert_refused(got: (Result<Option<PhoneRecord>, DirectoryError>, Duration), expected: &str, case: &str) {
    match got.0 {
        Err(e @ DirectoryError::Refused { .. }) => {
            let text = e.to_string();
            assert!(text.contains(expected), "{case}: {text:?} does not say {expected:?}");
            assert!(!text.chars().any(char::is_control), "{case}: control characters in {text:?}");
        }
        other => panic!("{case}: expected a refusal ({expected}), got {other:?}"),
    }
}

const TOO_DEEP: &str = "bad reply: nested deeper than 16 levels";
const FOUR_GIB: [u8; 6] = [0x30, 0x84, 0xff, 0xff, 0xff, 0xff];

/// 40 000 levels fit below the 256 KiB cap: refused for their depth. 100 000
/// need more bytes than the cap: refused for their size before any parsing.
#[test]
fn deep_nesting_in_a_search_reply_is_a_directory_failure() {
    assert!(deep(0x64, 1, 40_000).len() < 256 * 1024);
    assert_unavailable(lookup(&fake(answer_with(|id| deep(0x64, id, 40_000)))), TOO_DEEP, "40k levels");
    assert_unavailable(lookup(&fake(answer_with(|id| deep(0x64, id, 100_000)))), "bad reply: a message of", "100k levels");
    // deep inside an attribute value's SET, after a valid start
    let nested_value = |id| {
        let mut a = tlv(0x04, b"mobile");
        a.extend(tlv(0x31, &nested(1000)));
        let mut c = tlv(0x04, b"uid=alice,dc=example,dc=org");
        c.extend(tlv(0x30, &tlv(0x30, &a)));
        message(id, &tlv(0x64, &c))
    };
    assert_unavailable(lookup(&fake(answer_with(nested_value))), TOO_DEEP, "deep value");
}

#[test]
fn huge_replies_are_refused_before_they_are_buffered() {
    // a length of 4 GiB and then nothing: refused at once, not waited for
    let (result, elapsed) = lookup(&fake(answer(FOUR_GIB.to_vec())));
    assert!(elapsed < Duration::from_secs(1), "{elapsed:?}");
    assert_unavailable((result, elapsed), "bad reply: a message of 4294967295 bytes", "4 GiB");
    // 50 MB announced and sent
    let fifty = fake(|mut peer: Peer| {
        if peer.request().is_some() {
            let size = 50 * 1024 * 1024;
            let mut head = vec![0x30, 0x84];
            head.extend((size as u32).to_be_bytes());
            if peer.send(&head) {
                let chunk = vec![0x04u8; 64 * 1024];
                for _ in 0..size / chunk.len() {
                    if !peer.send(&chunk) {
                        break;
                    }
                }
            }
        }
    });
    assert_unavailable(lookup(&fifty), "bad reply: a message of 52428800 bytes", "50 MB message");
    // 50 MB as replies of 100 KB each to a message the module never sent
    let many = fake(|mut peer: Peer| {
        if peer.request().is_some() {
            let one = message(99, &tlv(0x73, &tlv(0x04, &vec![b'x'; 100 * 1024])));
            for _ in 0..500 {
                if !peer.send(&one) {
                    break;
                }
            }
        }
    });
    assert_unavailable(lookup(&many), "bad reply: more than 1048576 bytes of replies", "50 MB in many replies");
    // the same, as entries to the search itself: the second entry ends the search
    let entries = fake(|mut peer: Peer| {
        if let Some((id, _)) = peer.request() {
            let one = message(id, &entry_op(b"uid=alice,dc=example,dc=org", &[("mobile", b"+15551234567")]));
            for _ in 0..100_000 {
                if !peer.send(&one) {
                    break;
                }
            }
        }
    });
    assert_refused(lookup(&entries), "more than one entry matches the user", "endless entries");
}

#[test]
fn a_trickling_server_cannot_hold_the_login_beyond_the_timeout() {
    let trickle = |mut peer: Peer| {
        if let Some((id, _)) = peer.request() {
            for b in found(id, b"uid=alice,dc=example,dc=org", &[("mobile", &[b'1'; 5000])]) {
                if !peer.send(&[b]) {
                    return;
                }
                thread::sleep(Duration::from_millis(100));
            }
        }
    };
    let (result, elapsed) = lookup(&fake(trickle));
    assert!(elapsed >= Duration::from_secs(TIMEOUT) - Duration::from_millis(100), "{elapsed:?}");
    assert_unavailable((result, elapsed), "timed out", "trickle");
}

#[test]
fn bytes_that_are_not_utf8_refuse_the_entry_and_never_give_a_number() {
    let dn = fake(answer_with(|id| found(id, b"uid=al\xffice,dc=example,dc=org", &[("mobile", b"+15551234567")])));
    assert_refused(lookup(&dn), "the entry's DN is not UTF-8", "DN");
    // the preferred attribute is broken: no falling back to the next one
    let value = fake(answer_with(|id| {
        found(id, b"uid=alice,dc=example,dc=org", &[("mobile", b"+49 171 \xff2345678"), ("telephoneNumber", b"+15551234567")])
    }));
    assert_refused(lookup(&value), "the value of mobile is not UTF-8", "value");
}

#[test]
fn control_characters_from_the_server_never_reach_a_message() {
    let dn = b"uid=alice\x1b[2J\r\nFAKE LOG LINE,dc=example,dc=org";
    let good = fake(answer_with(move |id| found(id, dn, &[("mobile", b"+15551234567")])));
    let record = lookup(&good).0.expect("found").expect("a record");
    assert_eq!(record.phone.e164(), "+15551234567");
    assert_eq!(record.dn.as_deref(), Some("uid=alice[2JFAKE LOG LINE,dc=example,dc=org"));
    let bad = fake(answer_with(move |id| found(id, dn, &[("mobile", b"12\x07")])));
    assert_refused(lookup(&bad), "entry uid=alice[2JFAKE LOG LINE,dc=example,dc=org", "bad number");
    let diagnostic = fake(answer_with(|id| message(id, &result_op(0x65, 80, b"disk\r\n<13>fake: error\x00"))));
    assert_unavailable(lookup(&diagnostic), "search failed: result code 80 disk<13>fake: error", "diagnostic");
}

#[test]
fn malformed_replies_are_a_directory_failure() {
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("HTTP", b"HTTP/1.0 400 Bad Request\r\n\r\n".to_vec(), "bad reply: expected an LDAPMessage, found tag 0x48"),
        ("no operation", vec![0x30, 0x03, 0x02, 0x01, 0x01], "bad reply: an element runs past the end"),
        ("indefinite length", vec![0x30, 0x80, 0x02, 0x01, 0x01, 0x00, 0x00], "bad reply: an indefinite length"),
        ("inner overrun", vec![0x30, 0x06, 0x02, 0x01, 0x01, 0x64, 0x7f, 0x00], "bad reply: an element runs past the end"),
        ("empty message", vec![0x30, 0x00], "bad reply: an element runs past the end"),
        ("id of 9 bytes", vec![0x30, 0x0d, 0x02, 0x09, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0x65, 0x00], "bad reply: an integer of 0 or more"),
        ("entry without attributes", message(1, &tlv(0x64, &tlv(0x04, b"uid=a"))), "bad reply: an element runs past the end"),
        (
            "value not in a SET",
            message(1, &tlv(0x64, &[tlv(0x04, b"uid=a"), tlv(0x30, &tlv(0x30, &tlv(0x04, b"mobile")))].concat())),
            "bad reply",
        ),
        (
            "a bind answer to a search",
            message(1, &result_op(0x61, 0, b"")),
            "bad reply: an answer to the search that is not a search result",
        ),
        ("unknown unsolicited", message(0, &result_op(0x65, 0, b"")), "bad reply: an unsolicited message"),
    ];
    for (case, bytes, expected) in cases {
        assert_unavailable(lookup(&fake(answer(bytes))), expected, case);
    }
}

#[test]
fn a_connection_cut_mid_request_is_a_directory_failure() {
    // closed after a few bytes of the request
    let cut = fake(|peer: Peer| {
        let mut s = peer.0;
        let mut buf = [0u8; 3];
        let _ = s.read_exact(&mut buf);
    });
    assert_unavailable(lookup(&cut), "search failed:", "cut request");
    // closed inside the reply
    let half = fake(|mut peer: Peer| {
        if let Some((id, _)) = peer.request() {
            let reply = found(id, b"uid=alice,dc=example,dc=org", &[("mobile", b"+15551234567")]);
            peer.send(&reply[..reply.len() / 2]);
        }
    });
    assert_unavailable(lookup(&half), "search failed: the server closed the connection", "half a reply");
}

fn starttls(fake: &Fake) -> LdapConfig {
    LdapConfig { starttls: true, ..config(fake) }
}

/// Builds the reply to message `id`.
type Replier = dyn Fn(u8) -> Vec<u8> + Send + Sync;

/// The StartTLS answer arrives in the clear, where anyone on the path can write it.
#[test]
fn the_starttls_answer_is_bounded_like_any_other() {
    let cases: Vec<(&str, Box<Replier>, &str)> = vec![
        ("deep", Box::new(|id| deep(0x78, id, 40_000)), TOO_DEEP),
        ("100k deep", Box::new(|id| deep(0x78, id, 100_000)), "bad reply: a message of"),
        ("4 GiB", Box::new(|_| FOUR_GIB.to_vec()), "bad reply: a message of 4294967295 bytes"),
        ("garbage", Box::new(|_| b"\x16\x03\x01 not ldap".to_vec()), "bad reply: expected an LDAPMessage"),
        ("not an extended response", Box::new(|id| message(id, &result_op(0x65, 0, b""))), "bad reply: the answer to StartTLS"),
        (
            "refused, with control characters",
            Box::new(|id| message(id, &result_op(0x78, 2, b"no\x1b]0;TLS\x07 here"))),
            "TLS failed: the server refused StartTLS: result code 2 no]0;TLS here",
        ),
        ("half, then silence", Box::new(|id| message(id, &result_op(0x78, 0, b""))[..5].to_vec()), "timed out"),
    ];
    for (case, reply, expected) in cases {
        let server = fake(answer_with(reply));
        assert_unavailable(lookup_with(&starttls(&server)), expected, case);
    }
    let trickle = fake(|mut peer: Peer| {
        if let Some((id, _)) = peer.request() {
            for b in message(id, &result_op(0x78, 0, &[b'x'; 1000])) {
                if !peer.send(&[b]) {
                    return;
                }
                thread::sleep(Duration::from_millis(100));
            }
        }
    });
    assert_unavailable(lookup_with(&starttls(&trickle)), "timed out", "trickle");
    let half_then_close = fake(|mut peer: Peer| {
        if let Some((id, _)) = peer.request() {
            peer.send(&message(id, &result_op(0x78, 0, b""))[..5]);
        }
    });
    assert_unavailable(lookup_with(&starttls(&half_then_close)), "the server closed the connection", "half, then closed");
    // a success answer followed by a server that never starts TLS: the handshake times out
    let silent = fake(answer_with(|id| message(id, &result_op(0x78, 0, b""))));
    assert_unavailable(lookup_with(&starttls(&silent)), "timed out", "no handshake");
}

fn binding(fake: &Fake) -> LdapConfig {
    LdapConfig { bind_dn: Some("cn=pam,dc=example,dc=org".into()), bind_password: Some(Secret::new("bind-secret".into())), ..config(fake) }
}

#[test]
fn the_bind_answer_is_bounded_like_any_other() {
    let deep_bind = fake(answer_with(|id| deep(0x61, id, 40_000)));
    assert_unavailable(lookup_with(&binding(&deep_bind)), TOO_DEEP, "deep");
    let huge = fake(answer(FOUR_GIB.to_vec()));
    assert_unavailable(lookup_with(&binding(&huge)), "bad reply: a message of 4294967295 bytes", "4 GiB");
    let refused = fake(answer_with(|id| message(id, &result_op(0x61, 49, b"invalid\ncredentials"))));
    let (result, elapsed) = lookup_with(&binding(&refused));
    assert_unavailable((result, elapsed), "bind refused: result code 49 invalidcredentials", "refused");
}

#[test]
fn hostile_replies_inside_ldaps_are_bounded_too() {
    let server = fake_ldaps(answer_with(|id| deep(0x64, id, 40_000)));
    let dir = test_dir();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, server.cert.as_ref().unwrap()).unwrap();
    let config = LdapConfig { ca_file: Some(ca.clone()), ..config(&server) };
    assert_unavailable(lookup_with(&config), TOO_DEEP, "deep inside TLS");
    let huge = fake_ldaps(answer(FOUR_GIB.to_vec()));
    let config = LdapConfig { url: format!("ldaps://127.0.0.1:{}", huge.port), ..config };
    let _ = std::fs::write(&ca, huge.cert.as_ref().unwrap());
    assert_unavailable(lookup_with(&config), "bad reply: a message of 4294967295 bytes", "4 GiB inside TLS");
}

// ---- through real libpam ----

/// A setup whose only directory is the LDAP server at `url`, failures `unavailable`.
fn pam_setup(url: &str, more: &str) -> Setup {
    let s = Setup::new("[policy]\non_directory_failure = \"unavailable\"\n");
    let text = s.config_text();
    let start = text.find("[[directory]]").unwrap();
    let end = start + text[start..].find("\n\n").unwrap();
    let directory = format!("[[directory]]\ntype = \"ldap\"\nurl = \"{url}\"\nbase_dn = \"{BASE}\"\ntimeout = {TIMEOUT}\n{more}");
    s.rewrite_config(&text.replace(&text[start..end], directory.trim_end()));
    s
}

/// One login by pamclient.py with SIGPIPE at its default action (Python ignores it on
/// start), as a host that never touched it: a write the module makes to a dead socket
/// would kill it.
fn login_with_default_sigpipe(s: &Setup) -> Outcome {
    s.login_as(USER, Stack::Probe, &[Reply::Code], &["--sigpipe-default"], |s| s.spool_texts())
}

#[test]
fn a_deeply_nested_reply_through_real_libpam_is_authinfo_unavail() {
    require!(Root, PamWrapper);
    for (name, starttls) in [("search", ""), ("StartTLS", "starttls = true\n")] {
        let tag = if starttls.is_empty() { 0x64 } else { 0x78 };
        let server = fake(answer_with(move |id| deep(tag, id, 40_000)));
        let s = pam_setup(&format!("ldap://127.0.0.1:{}", server.port), starttls);
        let out = login_with_default_sigpipe(&s);
        assert_eq!(out.rc, PAM_AUTHINFO_UNAVAIL, "{name}: {out:?}");
        assert!(out.log.contains(TOO_DEEP), "{name}: {}", out.log);
        assert!(s.spool_texts().is_empty(), "{name}");
        assert_eq!(out.threads, 1, "{name}: the module started a thread");
    }
}

/// The server answers the bind, then resets the connection: the module's next
/// writes (the search, the unbind) meet a dead socket. With SIGPIPE at its
/// default in the client, only MSG_NOSIGNAL keeps it alive, in the clear and over TLS.
#[test]
fn a_reset_connection_raises_no_sigpipe_in_the_host() {
    require!(Root, PamWrapper);
    let reset_after_bind = |mut peer: Peer| {
        if let Some((id, _)) = peer.request() {
            peer.send(&message(id, &result_op(0x61, 0, b"")));
            // the search arrives and is left unread: closing then sends a reset
            thread::sleep(Duration::from_millis(300));
        }
    };
    let plain = fake(reset_after_bind);
    let tls = fake_ldaps(reset_after_bind);
    for (server, scheme) in [(&plain, "ldap"), (&tls, "ldaps")] {
        let s0 = Setup::new("");
        let pw = s0.path("bind.secret");
        write_private(&pw, "bind-secret\n");
        let mut more = format!("bind_dn = \"cn=pam,{BASE}\"\nbind_password_file = \"{}\"\n", pw.display());
        if let Some(pem) = &server.cert {
            let ca = s0.path("ca.pem");
            std::fs::write(&ca, pem).unwrap();
            more.push_str(&format!("ca_file = \"{}\"\n", ca.display()));
        }
        let s = pam_setup(&format!("{scheme}://127.0.0.1:{}", server.port), &more);
        let out = login_with_default_sigpipe(&s);
        assert_eq!(out.rc, PAM_AUTHINFO_UNAVAIL, "{scheme}: {out:?}");
        assert!(out.log.contains("search failed"), "{scheme}: {}", out.log);
    }
}
