//! Phone numbers from a real slapd on loopback (and from LDIF exports), through
//! real libpam: which number each entry yields, the refusals, TLS, and outages.

mod common;

use std::net::TcpListener;
use std::time::{Duration, Instant};

use common::slapd::{self, Slapd};
use common::*;

/// A setup whose only directory is `directory` (TOML of one [[directory]]).
fn setup_with(directory: &str, extra: &str) -> Setup {
    let s = Setup::new(extra);
    let text = s.config_text();
    let start = text.find("[[directory]]").unwrap();
    let end = start + text[start..].find("\n\n").unwrap();
    s.rewrite_config(&text.replace(&text[start..end], directory.trim_end()));
    s
}

fn ldap_dir(url: &str, more: &str) -> String {
    format!(
        "[[directory]]\ntype = \"ldap\"\nurl = \"{url}\"\nbase_dn = \"{}\"\nphone_attributes = [\"mobile\", \"telephoneNumber\"]\ntimeout = 3\n{more}",
        slapd::BASE
    )
}

#[test]
fn each_entry_gives_the_right_number_or_a_refusal() {
    require!(Root, PamWrapper, Slapd);
    let ldap = Slapd::start();
    let s = setup_with(&ldap_dir(&format!("ldap://127.0.0.1:{}", ldap.port), ""), "[phone]\ndefault_country_code = \"+49\"\n");
    let login = |user: &str, script: &[Reply]| s.login_as(user, Stack::Probe, script, &[], |s| s.spool_texts());
    for (user, number) in [
        ("alice", "+15551234567"),
        ("bob", "+447700900123"),
        ("carol", "+15550001111"),
        ("jürgen", "+491712345678"),
        ("national", "+491717654321"),
    ] {
        let out = login(user, &[Reply::Code]);
        assert_eq!(out.rc, PAM_SUCCESS, "{user}: {out:?}\n{}", ldap.log());
        assert_eq!(s.spool_numbers().last().map(String::as_str), Some(number), "{user}");
    }
    let sent = s.spool_numbers().len();
    let out = login("dave", &[Reply::Code]);
    assert_eq!(out.rc, PAM_AUTH_ERR, "no number: unenrolled: {out:?}");
    let out = login("twin", &[Reply::Code]);
    assert_eq!(out.rc, PAM_AUTH_ERR, "{out:?}");
    assert!(out.log.contains("more than one entry matches the user; refusing to guess"), "{}", out.log);
    let out = login("broken", &[Reply::Code]);
    assert_eq!(out.rc, PAM_AUTH_ERR, "{out:?}");
    assert!(out.log.contains("uid=broken,ou=people") && out.log.contains("not an E.164 number"), "{}", out.log);
    for injected in ["*", "*)(uid=*", "alice)(|(uid=*", "ali*", "\\2a"] {
        let out = login(injected, &[Reply::Code]);
        assert_eq!(out.rc, PAM_AUTH_ERR, "{injected}: {out:?}");
        assert!(out.log.contains("no mobile number in any directory"), "{injected}: {}", out.log);
    }
    assert_eq!(s.spool_numbers().len(), sent, "no SMS for dave, twin, broken or an injected name");
}

#[test]
fn simple_bind_with_a_password_file() {
    require!(Root, PamWrapper, Slapd);
    let ldap = Slapd::start();
    let s = Setup::new("");
    let pw = s.path("ldap.secret");
    write_private(&pw, &format!("{}\n", slapd::BIND_PASSWORD));
    let dir = ldap_dir(
        &format!("ldap://127.0.0.1:{}", ldap.port),
        &format!("bind_dn = \"{}\"\nbind_password_file = \"{}\"\n", slapd::BIND_DN, pw.display()),
    );
    let s2 = setup_with(&dir, "");
    assert_eq!(s2.login(Stack::Probe, &[Reply::Code]).rc, PAM_SUCCESS);
    write_private(&pw, "wrong-password\n");
    let out = s2.login(Stack::Probe, &[Reply::Code]);
    assert_eq!(out.rc, PAM_AUTHINFO_UNAVAIL, "{out:?}");
    assert!(out.log.contains("bind refused: result code 49"), "{}", out.log);
    assert!(!out.log.contains("wrong-password"), "{}", out.log);
}

#[test]
fn starttls_and_ldaps_trust_only_the_configured_ca() {
    require!(Root, PamWrapper, Slapd);
    let ldap = Slapd::start();
    let starttls = |ca: &std::path::Path| {
        ldap_dir(&format!("ldap://127.0.0.1:{}", ldap.port), &format!("starttls = true\nca_file = \"{}\"\n", ca.display()))
    };
    let s = setup_with(&starttls(&ldap.ca), "");
    assert_eq!(s.login(Stack::Probe, &[Reply::Code]).rc, PAM_SUCCESS, "{}", ldap.log());
    let s = setup_with(&ldap_dir(&format!("ldaps://127.0.0.1:{}", ldap.tls_port), &format!("ca_file = \"{}\"\n", ldap.ca.display())), "");
    assert_eq!(s.login(Stack::Probe, &[Reply::Code]).rc, PAM_SUCCESS, "{}", ldap.log());
    for dir in [starttls(&ldap.other_ca), ldap_dir(&format!("ldaps://127.0.0.1:{}", ldap.tls_port), "")] {
        let s = setup_with(&dir, "");
        let out = s.login(Stack::Probe, &[Reply::Code]);
        assert_eq!(out.rc, PAM_AUTHINFO_UNAVAIL, "an untrusted certificate must be refused: {out:?}");
        assert!(out.log.contains("TLS failed"), "{}", out.log);
        assert!(s.spool_texts().is_empty());
    }
}

#[test]
fn an_outage_follows_on_directory_failure_within_the_timeout() {
    require!(Root, PamWrapper, Slapd);
    let mut ldap = Slapd::start();
    let url = format!("ldap://127.0.0.1:{}", ldap.port);
    ldap.stop();
    let fallback = format!("[[directory]]\ntype = \"file\"\npath = \"{}\"", "PHONES");
    for (policy, rc) in [("unavailable", PAM_AUTHINFO_UNAVAIL), ("deny", PAM_AUTH_ERR), ("next", PAM_SUCCESS)] {
        let s = setup_with(
            &format!("{}\n{fallback}", ldap_dir(&url, "")),
            &format!("[policy]\non_directory_failure = \"{policy}\"\nunenrolled = \"ignore\"\n"),
        );
        s.rewrite_config(&s.config_text().replace("PHONES", &s.phones.display().to_string()));
        let out = s.login(Stack::Probe, &[Reply::Code]);
        assert_eq!(out.rc, rc, "{policy}: {out:?}");
        assert!(out.log.contains("unreachable"), "{}", out.log);
    }
    // a server that accepts and never answers: the timeout (3 s) bounds the login
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let s = setup_with(
        &ldap_dir(&format!("ldap://127.0.0.1:{}", silent.local_addr().unwrap().port()), ""),
        "[policy]\nunenrolled = \"ignore\"\n",
    );
    let started = Instant::now();
    let out = s.login(Stack::Probe, &[Reply::Code]);
    assert_eq!(out.rc, PAM_AUTHINFO_UNAVAIL, "{out:?}");
    assert!(started.elapsed() < Duration::from_secs(6), "{:?}", started.elapsed());
    assert!(started.elapsed() >= Duration::from_secs(2), "{:?}", started.elapsed());
    drop(silent);
}

#[test]
fn smsotp_lookup_and_check_speak_ldap() {
    require!(Root, PamWrapper, Slapd);
    let ldap = Slapd::start();
    let s = Setup::new("");
    let pw = s.path("ldap.secret");
    write_private(&pw, slapd::BIND_PASSWORD);
    let s = setup_with(
        &ldap_dir(
            &format!("ldap://127.0.0.1:{}", ldap.port),
            &format!("bind_dn = \"{}\"\nbind_password_file = \"{}\"\n", slapd::BIND_DN, pw.display()),
        ),
        "",
    );
    let run = |args: &[&str]| smsotp(&s, args);
    let (rc, out) = run(&["lookup", "alice"]);
    assert_eq!(rc, 0, "{out}");
    assert!(out.contains("alice: +*********67 from ldap ldap://127.0.0.1:"), "{out}");
    assert!(out.contains("alice: entry uid=alice,ou=people,dc=example,dc=org"), "{out}");
    let (rc, out) = run(&["check"]);
    assert_eq!(rc, 0, "{out}");
    assert!(out.contains("bind as cn=pam,dc=example,dc=org works"), "{out}");
    assert!(!out.contains(slapd::BIND_PASSWORD), "{out}");
    write_private(&pw, "nope");
    let (rc, out) = run(&["check"]);
    assert_eq!(rc, 1, "{out}");
    assert!(out.contains("bind refused"), "{out}");
}

#[test]
fn ldif_exports_through_real_libpam() {
    require!(Root, PamWrapper);
    let s = Setup::new("");
    let export = s.path("people.ldif");
    write_private(&export, &format!("version: 1\n\n{}\ndn: uid=bad\nthis is not ldif\n", slapd::PEOPLE));
    let s = setup_with(&format!("[[directory]]\ntype = \"ldif\"\npath = \"{}\"\n", export.display()), "");
    let out = s.login_as("jürgen", Stack::Probe, &[Reply::Code], &[], |s| s.spool_texts());
    assert_eq!(out.rc, PAM_SUCCESS, "{out:?}");
    assert_eq!(s.spool_numbers(), vec!["+491712345678"]);
    assert!(out.log.contains("line ") && out.log.contains("entry skipped"), "the broken entry is reported: {}", out.log);
    let out = s.login_as("twin", Stack::Probe, &[Reply::Code], &[], |s| s.spool_texts());
    assert_eq!(out.rc, PAM_AUTH_ERR, "{out:?}");
    assert!(out.log.contains("2 entries match the user"), "{}", out.log);
    assert_eq!(s.login_as("bob", Stack::Probe, &[Reply::Code], &[], |s| s.spool_texts()).rc, PAM_SUCCESS);
    assert_eq!(s.spool_numbers().last().map(String::as_str), Some("+447700900123"));
}

/// The LDAP client (name resolution, StartTLS, search) stays on the calling
/// thread: no worker, no helper thread, no process, traced with strace.
#[test]
fn an_ldap_lookup_creates_no_thread() {
    require!(Root, PamWrapper, Slapd, Programs(&["strace"]));
    let ldap = Slapd::start();
    let dir = ldap_dir(&format!("ldap://localhost:{}", ldap.port), &format!("starttls = true\nca_file = \"{}\"\n", ldap.ca.display()));
    let mut s = setup_with(&dir, "");
    let trace = s.trace_clones();
    let out = s.login(Stack::Probe, &[Reply::Code]);
    assert_eq!(out.rc, PAM_SUCCESS, "{out:?}");
    let calls = std::fs::read_to_string(&trace).unwrap();
    assert!(calls.trim().is_empty(), "the LDAP lookup created threads or processes:\n{calls}");
}
