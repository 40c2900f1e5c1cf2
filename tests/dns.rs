//! Name resolution inside the budget, through real libpam: a nameserver that
//! never answers ends the send or lookup within the connector's `timeout` and
//! the login within `login_budget`; a nameserver that answers is used. The
//! client gets its own /etc/resolv.conf in a private mount namespace; the
//! machine's stays as it is.

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use common::gateway::{Gateway, Mode};
use common::*;

/// A loopback address of this test's own (port 53 can be bound once per
/// address, and other test runs may be at work on this machine).
fn own_loopback(n: u8) -> String {
    let pid = std::process::id();
    format!("127.53.{}.{}", (pid >> 8) % 250 + 1, (pid % 80) as u8 * 3 + n + 1)
}

/// A nameserver on a loopback address of its own, port 53: it answers
/// `gw.test.` with 127.0.0.1 unless `silent`, and counts the questions.
fn nameserver(ip: &str, silent: bool) -> (SocketAddr, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let socket = UdpSocket::bind((ip, 53)).unwrap_or_else(|e| panic!("bind {ip}:53: {e}"));
    let addr = socket.local_addr().unwrap();
    let asked = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = asked.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 512];
        while let Ok((n, from)) = socket.recv_from(&mut buf) {
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            if silent || n < 17 {
                continue;
            }
            let q = &buf[..n];
            let is_gw = q[12..].starts_with(b"\x02gw\x04test\x00");
            let qtype = u16::from_be_bytes([q[n - 4], q[n - 3]]);
            let mut a = q.to_vec();
            a[2] = 0x81;
            a[3] = if is_gw { 0x80 } else { 0x83 };
            if is_gw && qtype == 1 {
                a[7] = 1;
                a.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 127, 0, 0, 1]);
            }
            let _ = socket.send_to(&a, from);
        }
    });
    (addr, asked)
}

/// Run the client in a mount namespace whose /etc/resolv.conf names `server`.
fn with_resolv_conf(s: &mut Setup, server: SocketAddr) {
    let conf = s.path("resolv.conf");
    write_private(&conf, &format!("nameserver {}\noptions timeout:30 attempts:5\n", server.ip()));
    s.prefix = ["unshare", "-m", "--propagation", "private", "sh", "-c", "mount --bind \"$0\" /etc/resolv.conf && exec \"$@\""]
        .iter()
        .map(|a| a.to_string())
        .chain([conf.display().to_string()])
        .collect();
}

#[test]
fn a_silent_nameserver_ends_the_send_within_its_timeout() {
    require!(Root, PamWrapper);
    let (server, asked) = nameserver(&own_loopback(0), true);
    let mut s = Setup::with_connectors(
        "[limits]\nlogin_budget = 10\nresend_cooldown = 0\nmax_sends_per_hour = 1000\n\
         [[connector]]\nname = \"gw\"\ntype = \"http\"\nurl = \"http://gateway.example.test:8080/send\"\nto_param = \"to\"\nbody_param = \"text\"\ntimeout = 2\n",
        false,
    );
    with_resolv_conf(&mut s, server);
    let out = s.login(Stack::Probe, &[Reply::Code]);
    assert_eq!(out.rc, PAM_AUTHINFO_UNAVAIL, "{out:?}");
    assert!(out.elapsed >= Duration::from_millis(1900) && out.elapsed < Duration::from_secs(4), "{:?}", out.elapsed);
    assert!(out.log.contains("connector gw: timed out"), "{}", out.log);
    assert!(asked.load(std::sync::atomic::Ordering::SeqCst) > 0, "the nameserver was asked");
    assert_eq!(out.threads, 1, "no resolver thread");
}

#[test]
fn a_silent_nameserver_ends_the_ldap_lookup_within_its_timeout() {
    require!(Root, PamWrapper);
    let (server, _) = nameserver(&own_loopback(1), true);
    let mut s = Setup::new(
        "[[directory]]\ntype = \"ldap\"\nurl = \"ldap://ldap.example.test\"\nbase_dn = \"dc=example,dc=test\"\nfilter = \"(uid={user})\"\ntimeout = 2\n",
    );
    // mallory is not in the phone map: the LDAP source after it is asked
    with_resolv_conf(&mut s, server);
    let out = s.login_as("mallory", Stack::Probe, &[Reply::Code], &[], |s| s.spool_texts());
    assert_eq!(out.rc, PAM_AUTHINFO_UNAVAIL, "on_directory_failure = unavailable: {out:?}");
    assert!(out.elapsed < Duration::from_secs(4), "{:?}", out.elapsed);
    assert!(out.log.contains("ldap ldap://ldap.example.test is unavailable: timed out"), "{}", out.log);
}

#[test]
fn an_answering_nameserver_is_used() {
    require!(Root, PamWrapper);
    let (server, asked) = nameserver(&own_loopback(2), false);
    let gw = Gateway::start(Mode::text(200, "OK"));
    let url = gw.url("/send").replace("127.0.0.1", "gw.test");
    let mut s = Setup::with_connectors(
        &format!("[[connector]]\nname = \"gw\"\ntype = \"http\"\nurl = \"{url}\"\nto_param = \"to\"\nbody_param = \"text\"\ntimeout = 3\n"),
        false,
    );
    with_resolv_conf(&mut s, server);
    let out = s.login(Stack::Probe, &[Reply::Text("000000".into()), Reply::Text("000001".into()), Reply::Text("000002".into())]);
    assert_eq!(out.rc, PAM_MAXTRIES, "the code went out through gw.test: {out:?}");
    assert_eq!(gw.requests().len(), 1);
    assert!(asked.load(std::sync::atomic::Ordering::SeqCst) >= 1);
}
