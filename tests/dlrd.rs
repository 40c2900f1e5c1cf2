//! `smsotp-dlrd` as a process on loopback, attacked as the internet would: it
//! records a report only with a valid, unexpired token for a message that was
//! sent through that connector, bounds size, headers, time and concurrency, and
//! stays up.

mod common;

use std::io::Write;
use std::net::TcpStream;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::dlrd::{Dlrd, KEY, delivery_section, raw};
use common::*;
use pam_smsotp::dlr::MessageId;
use pam_smsotp::dlr::record::{DeliveryState, Sent, list, read_report, write_sent};
use pam_smsotp::dlr::token;

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

struct Daemon {
    dir: tempfile::TempDir,
    dlrd: Dlrd,
}

impl Daemon {
    fn start() -> Daemon {
        let dir = test_dir();
        let port = free_port();
        let config = dir.path().join("pam_smsotp.toml");
        let text = format!(
            "{}[[connector]]\nname = \"kannel\"\ntype = \"kannel\"\nbase_url = \"http://127.0.0.1:9\"\nusername = \"u\"\npassword = \"p\"\n[[connector]]\nname = \"gw\"\ntype = \"http\"\nurl = \"http://127.0.0.1:9/send\"\nto_param = \"to\"\nbody_param = \"text\"\n",
            delivery_section(dir.path(), port, "")
        );
        write_private(&config, &text);
        let dlrd = Dlrd::start(&config, port);
        Daemon { dir, dlrd }
    }

    fn reports(&self) -> std::path::PathBuf {
        self.dir.path().join("reports")
    }

    /// A message sent through `connector` for alice; its token valid until `expires`.
    fn sent(&self, connector: &str, expires: u64) -> (MessageId, String) {
        let id = MessageId::random().unwrap();
        let sent = Sent {
            id: id.as_text(),
            user: "alice".into(),
            seq: "K7".into(),
            connector: connector.into(),
            kind: if connector == "gw" { "http" } else { "kannel" }.into(),
            to: "+*********67".into(),
            sent: now(),
            expires,
        };
        write_sent(&self.reports(), &sent).unwrap();
        (id, token::issue(KEY.as_bytes(), &id, expires))
    }

    fn state(&self, id: &MessageId) -> Option<DeliveryState> {
        read_report(&self.reports(), id).unwrap().map(|r| r.state)
    }

    fn report_count(&self) -> usize {
        list(&self.reports()).unwrap().iter().filter(|(_, r)| r.is_some()).count()
    }
}

fn uid_of(pid: u32) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status.lines().find(|l| l.starts_with("Uid:")).unwrap().to_string()
}

#[test]
fn a_report_counts_only_with_a_valid_token_for_a_message_sent_through_that_connector() {
    require!(Root);
    let d = Daemon::start();
    // it dropped root: every uid is nobody's
    assert_eq!(uid_of(d.dlrd.pid()).split_whitespace().skip(1).collect::<Vec<_>>(), ["65534"; 4]);

    let (id, tok) = d.sent("kannel", now() + 3600);
    // forged: one character changed; for another message; for another connector; expired; no message
    let mut forged = tok.clone().into_bytes();
    forged[19] = if forged[19] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).unwrap();
    assert_eq!(d.dlrd.get(&format!("/r/kannel/{forged}?type=1&reply=")).0, 403);
    assert_eq!(d.dlrd.get(&format!("/r/gw/{tok}?status=delivered")).0, 403, "a token for kannel used on gw");
    let (expired_id, expired) = d.sent("kannel", now() - 1);
    assert_eq!(d.dlrd.get(&format!("/r/kannel/{expired}?type=1&reply=")).0, 403);
    let never_sent = token::issue(KEY.as_bytes(), &MessageId::random().unwrap(), now() + 3600);
    assert_eq!(d.dlrd.get(&format!("/r/kannel/{never_sent}?type=1&reply=")).0, 403);
    let other_key = token::issue(b"another key of sixteen bytes or more", &id, now() + 3600);
    assert_eq!(d.dlrd.get(&format!("/r/kannel/{other_key}?type=1&reply=")).0, 403);
    assert_eq!(d.dlrd.get("/r/nosuchconnector/AAAAAAAAAAAAAAAAAAAA?type=1").0, 404);
    assert_eq!(d.dlrd.get(&format!("/r/kannel/{tok}?nothing=here")).0, 400);
    assert_eq!(d.report_count(), 0, "nothing may be recorded");
    assert_eq!(d.state(&expired_id), None);

    // the real one: an intermediate, then the final state, then a late intermediate and a contradiction
    assert_eq!(d.dlrd.get(&format!("/r/kannel/{tok}?type=8&reply=ACK%2F")).0, 200);
    assert_eq!(d.state(&id), Some(DeliveryState::Pending));
    let (status, _) = d.dlrd.get(&format!("/r/kannel/{tok}?type=2&reply=id%3A1001+sub%3A001+dlvrd%3A000+stat%3AUNDELIV+err%3A001"));
    assert_eq!(status, 200);
    let report = read_report(&d.reports(), &id).unwrap().unwrap();
    assert_eq!(
        (report.state, report.reason.as_str(), report.user.as_str(), report.seq.as_str()),
        (DeliveryState::Failed, "undeliv_err_001", "alice", "K7")
    );
    assert_eq!(d.dlrd.get(&format!("/r/kannel/{tok}?type=1&reply=")).0, 200);
    assert_eq!(d.dlrd.get(&format!("/r/kannel/{tok}?type=8&reply=")).0, 200);
    assert_eq!(d.state(&id), Some(DeliveryState::Failed), "a final state is kept");

    // the generic connector: POSTed form
    let (gid, gtok) = d.sent("gw", now() + 3600);
    assert_eq!(d.dlrd.post(&format!("/r/gw/{gtok}"), "application/x-www-form-urlencoded", b"status=DELIVRD").0, 200);
    assert_eq!(d.state(&gid), Some(DeliveryState::Delivered));
    assert_eq!(d.report_count(), 2);
}

#[test]
fn hostile_requests_are_refused_and_the_daemon_stays_up() {
    require!(Root);
    let mut d = Daemon::start();
    let (id, tok) = d.sent("kannel", now() + 3600);
    let path = format!("/r/kannel/{tok}?type=1&reply=");

    // a huge body is refused from its length, before it is sent
    let big = format!("POST {path} HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 100000000\r\n\r\n");
    assert_eq!(raw(d.dlrd.port, big.as_bytes()).0, 413);
    // too many headers, a huge header line, a head that never ends
    let many = format!("GET {path} HTTP/1.1\r\n{}\r\n", "X-Pad: 1\r\n".repeat(100));
    assert_eq!(raw(d.dlrd.port, many.as_bytes()).0, 431);
    let long = format!("GET {path} HTTP/1.1\r\nX-Pad: {}\r\n\r\n", "a".repeat(6000));
    assert_eq!(raw(d.dlrd.port, long.as_bytes()).0, 431);
    let endless = format!("GET {path} HTTP/1.1\r\n{}", "X-Pad: 1234567890\r\n".repeat(2000));
    assert_eq!(raw(d.dlrd.port, endless.as_bytes()).0, 431);
    assert_eq!(raw(d.dlrd.port, format!("GET {path} HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n").as_bytes()).0, 411);
    assert_eq!(raw(d.dlrd.port, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n").0, 400, "a TLS hello");
    assert_eq!(d.report_count(), 0);

    // slow clients: each is cut off at the request deadline, and others are served meanwhile
    let slow: Vec<TcpStream> = (0..8)
        .map(|_| {
            let mut s = TcpStream::connect(("127.0.0.1", d.dlrd.port)).unwrap();
            s.write_all(b"GET /r/kannel/").unwrap();
            s
        })
        .collect();
    let started = Instant::now();
    assert_eq!(d.dlrd.get("/r/kannel/x").0, 404);
    assert!(started.elapsed() < Duration::from_secs(2), "served behind slow clients in {:?}", started.elapsed());
    let cut = std::thread::scope(|scope| {
        let handles: Vec<_> = slow
            .into_iter()
            .map(|mut s| {
                scope.spawn(move || {
                    let t = Instant::now();
                    // one byte every 300 ms: never a whole head
                    while s.write_all(b"a").is_ok() && t.elapsed() < Duration::from_secs(15) {
                        std::thread::sleep(Duration::from_millis(300));
                    }
                    t.elapsed()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).max().unwrap()
    });
    assert!(cut < Duration::from_secs(8), "slow clients were held {cut:?}");

    // a burst of parallel forged reports: every one answered 403 or 503, nothing recorded
    let statuses: Vec<u16> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..200)
            .map(|i| {
                let port = d.dlrd.port;
                scope.spawn(move || {
                    let forged =
                        token::issue(b"the attacker's own key, 16+ bytes", &MessageId::from_bytes([i as u8; 6]), u64::from(u32::MAX));
                    raw(port, format!("GET /r/kannel/{forged}?type=1&reply= HTTP/1.1\r\n\r\n").as_bytes()).0
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(statuses.iter().all(|s| *s == 403 || *s == 503), "{statuses:?}");
    assert!(statuses.iter().filter(|s| **s == 403).count() > 50, "most are served: {statuses:?}");
    assert_eq!(d.report_count(), 0);

    // a flood of idle connections: the ones over the limit are told 503 at once, the daemon recovers
    let idle: Vec<TcpStream> = (0..40).map(|_| TcpStream::connect(("127.0.0.1", d.dlrd.port)).unwrap()).collect();
    // (on a busy machine the daemon may take a moment to take them all in)
    let busy = (0..20).any(|_| {
        std::thread::sleep(Duration::from_millis(100));
        d.dlrd.get(&path).0 == 503
    });
    assert!(busy, "a request over the connection limit is told 503: {}", d.dlrd.output());
    drop(idle);
    std::thread::sleep(Duration::from_millis(300));
    assert!(d.dlrd.running(), "{}", d.dlrd.output());
    assert_eq!(d.dlrd.get(&path).0, 200, "{}", d.dlrd.output());
    assert_eq!(d.state(&id), Some(DeliveryState::Delivered));
}

#[test]
fn it_refuses_to_start_without_its_key_or_as_a_user_that_does_not_exist() {
    require!(Root);
    let dir = test_dir();
    let port = free_port();
    let config = dir.path().join("pam_smsotp.toml");
    let section = delivery_section(dir.path(), port, "").replace("user = \"nobody\"", "user = \"no-such-user-here\"");
    write_private(&config, &section);
    let out = std::process::Command::new(common::dlrd::dlrd_path()).arg("--config").arg(&config).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no-such-user-here"), "{out:?}");
    std::fs::remove_file(dir.path().join("dlr.key")).unwrap();
    let out = std::process::Command::new(common::dlrd::dlrd_path()).arg("--config").arg(&config).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("dlr.key"), "{out:?}");
}

/// One syslog line per report, ident smsotp-dlrd, in the documented key=value
/// form with the number masked; refused reports are logged as refused.
#[test]
fn each_report_is_one_syslog_line_with_the_number_masked() {
    require!(Root, Programs(world::TOOLS), PrivateMounts);
    let w = world::World::new("");
    let d = test_dir();
    let port = free_port();
    let config = d.path().join("pam_smsotp.toml");
    write_private(
        &config,
        &format!(
            "{}[[connector]]\nname = \"kannel\"\ntype = \"kannel\"\nbase_url = \"http://127.0.0.1:9\"\nusername = \"u\"\npassword = \"p\"\n",
            delivery_section(d.path(), port, "")
        ),
    );
    let mut child = w.in_namespace().arg(common::dlrd::dlrd_path()).arg("--config").arg(&config).spawn().unwrap();
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(start.elapsed() < Duration::from_secs(10) && child.try_wait().unwrap().is_none(), "dlrd did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    let id = MessageId::random().unwrap();
    let sent = Sent {
        id: id.as_text(),
        user: "alice smith".into(),
        seq: "Q4".into(),
        connector: "kannel".into(),
        kind: "kannel".into(),
        to: "+*********67".into(),
        sent: now(),
        expires: now() + 60,
    };
    write_sent(&d.path().join("reports"), &sent).unwrap();
    let tok = token::issue(KEY.as_bytes(), &id, now() + 60);
    let get = |target: &str| raw(port, format!("GET {target} HTTP/1.1\r\n\r\n").as_bytes()).0;
    assert_eq!(get(&format!("/r/kannel/{tok}?type=2&reply=id%3A1+stat%3AUNDELIV+err%3A001")), 200);
    assert_eq!(get("/r/kannel/AAAAAAAAAAAAAAAAAAAA?type=1&reply="), 403);
    std::thread::sleep(Duration::from_millis(300));
    let _ = child.kill();
    let _ = child.wait();
    let log = w.log();
    assert!(
        log.contains("smsotp-dlrd[")
            && log.contains(
                "event=delivery result=failed reason=undeliv_err_001 connector=kannel seq=Q4 user=\"alice smith\" to=+*********67"
            ),
        "{log}"
    );
    assert!(log.contains("event=delivery result=refused reason=the_token_s_signature_does_not_match connector=kannel"), "{log}");
    assert!(!log.contains("5551234567") && !log.contains(&tok), "{log}");
}

/// Demotion end to end: failed reports through the daemon demote a connector
/// (tried last by the module's chain), and the demotion ends after demote_for.
#[test]
fn failed_reports_demote_a_connector_until_demote_for_has_passed() {
    require!(Root);
    use common::gateway::{Gateway, Mode};
    use pam_smsotp::auth::{Sender, Sms};
    use pam_smsotp::config::Config;
    use pam_smsotp::connector::Chain;
    use pam_smsotp::state::delivery::StoredDeliveryLog;

    let (a, b) = (Gateway::start(Mode::text(200, "OK")), Gateway::start(Mode::text(200, "OK")));
    let dir = test_dir();
    let port = free_port();
    let config_path = dir.path().join("pam_smsotp.toml");
    let entry = |name: &str, g: &Gateway| {
        format!(
            "[[connector]]\nname = \"{name}\"\ntype = \"http\"\nurl = \"{}?to={{{{to}}}}&text={{{{text}}}}&dlr={{{{dlr_url}}}}\"\n",
            g.url("/send")
        )
    };
    write_private(
        &config_path,
        &format!("{}{}{}", delivery_section(dir.path(), port, "demote_after = 2\ndemote_for = 3"), entry("a", &a), entry("b", &b)),
    );
    let dlrd = Dlrd::start(&config_path, port);
    let config = Config::load(&config_path).unwrap();
    let to = pam_smsotp::phone::Phone::normalise("+15551234567", "").unwrap();
    let sms = Sms { to: &to, text: "123456 is your code", code: "123456", seq: "AB", expires: now() + 60, user: "alice" };
    let log = pam_smsotp::log::MemoryLog::default();
    let send = || {
        let mut chain = Chain::from_config(&config);
        chain.delivery = StoredDeliveryLog::from_config(&config).map(|d| Box::new(d) as Box<dyn pam_smsotp::auth::DeliveryLog>);
        chain.send(&sms, Duration::from_secs(5), &log).unwrap().connector
    };
    // two messages through a, each reported failed through the daemon
    for n in 0..2 {
        assert_eq!(send(), "a");
        let dlr = a.requests()[n].query("dlr").unwrap();
        let path = dlr.strip_prefix(&format!("http://127.0.0.1:{port}")).unwrap();
        assert_eq!(dlrd.get(&format!("{path}?status=failed&reason=unreachable")).0, 200);
    }
    let demoted_at = Instant::now();
    assert_eq!(send(), "b", "a is demoted: b is tried first");
    assert!(log.0.borrow().iter().any(|(_, l)| l.contains("connector a: demoted")), "{:?}", log.0.borrow());
    let listed = {
        let out = std::process::Command::new(smsotp_path()).arg("--config").arg(&config_path).arg("deliveries").output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(listed.contains("connector a: demoted"), "{listed}");
    std::thread::sleep(Duration::from_secs(3).saturating_sub(demoted_at.elapsed()) + Duration::from_millis(1100));
    assert_eq!(send(), "a", "the demotion ended after demote_for");
}

/// Where a connector has `dlr_signing_key_file`, a report must also carry the
/// provider's valid signature: Twilio, Telnyx and MessageBird, each signed
/// right (recorded) and wrong (403, nothing recorded).
#[test]
fn signed_providers_reports_need_a_valid_signature() {
    require!(Root);
    use base64::Engine;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    use ring::signature::KeyPair;
    use sha2::Digest;

    let dir = test_dir();
    let port = free_port();
    let key_file = |name: &str, text: &str| {
        let p = dir.path().join(name);
        write_private(&p, text);
        p
    };
    let pkcs8 = ring::signature::Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new()).unwrap();
    let telnyx_pair = ring::signature::Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
    let entries = format!(
        "[[connector]]\nname = \"tw\"\ntype = \"twilio\"\naccount_sid = \"AC1\"\nauth_token = \"t\"\nfrom = \"+15550001111\"\ndlr_signing_key_file = {:?}\n\
         [[connector]]\nname = \"tx\"\ntype = \"telnyx\"\napi_key = \"k\"\nfrom = \"+15550001111\"\ndlr_signing_key_file = {:?}\n\
         [[connector]]\nname = \"mb\"\ntype = \"messagebird\"\naccess_key = \"k\"\nfrom = \"ACME\"\ndlr_signing_key_file = {:?}\n",
        key_file("twilio.key", "twilio-auth-token\n"),
        key_file("telnyx.pub", &STANDARD.encode(telnyx_pair.public_key().as_ref())),
        key_file("mb.key", "mb-signing-key\n"),
    );
    let config = dir.path().join("pam_smsotp.toml");
    write_private(&config, &format!("{}{entries}", delivery_section(dir.path(), port, "")));
    let dlrd = Dlrd::start(&config, port);
    let reports = dir.path().join("reports");
    let sent = |connector: &str, kind: &str| {
        let id = MessageId::random().unwrap();
        let s = Sent {
            id: id.as_text(),
            user: "alice".into(),
            seq: "S1".into(),
            connector: connector.into(),
            kind: kind.into(),
            to: "+*67".into(),
            sent: now(),
            expires: now() + 60,
        };
        write_sent(&reports, &s).unwrap();
        (id, token::issue(KEY.as_bytes(), &id, now() + 60))
    };
    let state = |id: &MessageId| read_report(&reports, id).unwrap().map(|r| r.state);
    let public = |path: &str| format!("http://127.0.0.1:{port}/r{path}");
    let request = |method: &str, target: &str, headers: &[(&str, String)], content_type: &str, body: &[u8]| {
        let mut r = format!("{method} {target} HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n", body.len());
        for (k, v) in headers {
            r.push_str(&format!("{k}: {v}\r\n"));
        }
        r.push_str("\r\n");
        let mut bytes = r.into_bytes();
        bytes.extend_from_slice(body);
        raw(port, &bytes).0
    };

    // Twilio: HMAC-SHA1 of the URL and the sorted parameters under the auth token
    let (id, tok) = sent("tw", "twilio");
    let body = "MessageSid=SM1&MessageStatus=delivered&To=%2B15551234567&AccountSid=AC1";
    let signed_text = format!("{}AccountSidAC1MessageSidSM1MessageStatusdeliveredTo+15551234567", public(&format!("/tw/{tok}")));
    let sign = |key: &[u8]| {
        let k = ring::hmac::Key::new(ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, key);
        STANDARD.encode(ring::hmac::sign(&k, signed_text.as_bytes()).as_ref())
    };
    let form = "application/x-www-form-urlencoded";
    let target = format!("/r/tw/{tok}");
    assert_eq!(request("POST", &target, &[], form, body.as_bytes()), 403, "unsigned");
    assert_eq!(request("POST", &target, &[("X-Twilio-Signature", sign(b"wrong-token"))], form, body.as_bytes()), 403);
    assert_eq!(state(&id), None);
    assert_eq!(request("POST", &target, &[("X-Twilio-Signature", sign(b"twilio-auth-token"))], form, body.as_bytes()), 200);
    assert_eq!(state(&id), Some(DeliveryState::Delivered));

    // Telnyx: Ed25519 over "timestamp|body"
    let (id, tok) = sent("tx", "telnyx");
    let body = br#"{"data":{"event_type":"message.finalized","payload":{"to":[{"phone_number":"+15551234567","status":"delivery_failed"}],"errors":[{"code":"40002"}]}}}"#;
    let ts = now().to_string();
    let mut message = format!("{ts}|").into_bytes();
    message.extend_from_slice(body);
    let good = STANDARD.encode(telnyx_pair.sign(&message).as_ref());
    let mut tampered = body.to_vec();
    tampered[30] ^= 1;
    let target = format!("/r/tx/{tok}");
    let headers = [("telnyx-signature-ed25519", good.clone()), ("telnyx-timestamp", ts.clone())];
    assert_eq!(request("POST", &target, &headers, "application/json", &tampered), 403);
    let stale = [("telnyx-signature-ed25519", good.clone()), ("telnyx-timestamp", (now() - 3600).to_string())];
    assert_eq!(request("POST", &target, &stale, "application/json", body), 403);
    assert_eq!(state(&id), None);
    assert_eq!(request("POST", &target, &headers, "application/json", body), 200);
    assert_eq!(state(&id), Some(DeliveryState::Failed));

    // MessageBird: a JWT over the URL's SHA-256 (GET: no body)
    let (id, tok) = sent("mb", "messagebird");
    let query = format!("id=e80&reference={tok}&recipient=15551234567&status=delivered");
    let url = public(&format!("/mb/{tok}?{query}"));
    let jwt = |key: &[u8], url: &str| {
        let h = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
        let hash: String = sha2::Sha256::digest(url.as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
        let claims = format!(r#"{{"iss":"MessageBird","nbf":{},"exp":{},"jti":"j","url_hash":"{hash}"}}"#, now(), now() + 60);
        let p = URL_SAFE_NO_PAD.encode(claims);
        let sig = ring::hmac::sign(&ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key), format!("{h}.{p}").as_bytes());
        format!("{h}.{p}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref()))
    };
    let target = format!("/r/mb/{tok}?{query}");
    assert_eq!(request("GET", &target, &[("MessageBird-Signature-JWT", jwt(b"other", &url))], "text/plain", b""), 403);
    assert_eq!(request("GET", &target, &[("MessageBird-Signature-JWT", jwt(b"mb-signing-key", "http://evil/"))], "text/plain", b""), 403);
    assert_eq!(state(&id), None);
    assert_eq!(request("GET", &target, &[("MessageBird-Signature-JWT", jwt(b"mb-signing-key", &url))], "text/plain", b""), 200);
    assert_eq!(state(&id), Some(DeliveryState::Delivered));
    drop(dlrd);
}
