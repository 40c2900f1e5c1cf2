//! A long-lived host: one process that runs many logins in turn (pam_start,
//! pam_authenticate, pam_end, which unloads the module each time), with HTTPS
//! sends and LDAP lookups among them. Open descriptors and threads stay flat
//! and nothing crashes at unload. RSS is printed for bench/longlived.sh, which
//! runs 10,000 cycles and records it in BENCHMARKS.md; this test runs fewer
//! (SMSOTP_CYCLES overrides).

mod common;

use std::io::Write;
use std::process::Stdio;

use common::gateway::{Gateway, Mode};
use common::slapd::{self, Slapd};
use common::*;

#[test]
fn many_logins_in_one_process_leave_fds_and_threads_flat() {
    require!(Root, PamWrapper, Slapd);
    let cycles: usize = std::env::var("SMSOTP_CYCLES").ok().and_then(|c| c.parse().ok()).unwrap_or(400);
    let ldap = Slapd::start();
    let s = Setup::with_connectors("", false);
    let texts = s.path("texts");
    let sink = texts.clone();
    let gw = Gateway::start_tls(Mode::handler(move |req| {
        let mut f = std::fs::OpenOptions::new().create(true).append(true).open(&sink).unwrap();
        writeln!(f, "{}", req.field("text").unwrap_or_default()).unwrap();
        (200, "text/plain", "OK".to_string())
    }));
    let ca = s.path("gateway-ca.pem");
    write_private(&ca, gw.tls_cert_pem.as_deref().unwrap());
    let map_users: Vec<String> = (1..=30).map(|i| format!("u{i}")).collect();
    let map: String = map_users.iter().enumerate().map(|(i, u)| format!("{u} +1555100{:04}\n", i)).collect();
    write_private(&s.phones, &format!("{USER} {PHONE}\n{map}"));
    let config = s.config_text()
        + &format!(
            "[[directory]]\ntype = \"ldap\"\nurl = \"ldap://127.0.0.1:{}\"\nbase_dn = \"{}\"\nphone_attributes = [\"mobile\", \"telephoneNumber\"]\ntimeout = 3\n\n\
             [[connector]]\nname = \"gw\"\ntype = \"http\"\nurl = \"{}\"\nto_param = \"to\"\nbody_param = \"text\"\nca_file = \"{}\"\ntimeout = 3\n",
            ldap.port,
            slapd::BASE,
            gw.url("/send"),
            ca.display()
        );
    s.rewrite_config(
        &config.replace(
            "resend_cooldown = 0\nmax_sends_per_hour = 1000",
            "resend_cooldown = 0\nmax_sends_per_hour = 1000\nlockout_failures = 0",
        ),
    );
    // bob and carol are only in LDAP: their logins look them up there
    let users = [vec![USER.to_string(), "bob".into(), "carol".into()], map_users].concat().join(",");
    let code_file = texts.display().to_string();
    let cycles_arg = cycles.to_string();
    let mut cmd = s.client_command(USER, Stack::Probe, &["--cycles", &cycles_arg, "--users", &users, "--code-file", &code_file]);
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let out = common::wrapper::spawn(&mut cmd).wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the host process died: {:?}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr).lines().filter(|l| !l.contains("PWRAP_TRACE")).take(40).collect::<Vec<_>>().join("\n")
    );
    let lines: Vec<serde_json::Value> = stdout.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    let samples: Vec<&serde_json::Value> = lines.iter().filter(|v| v.get("cycle").is_some()).collect();
    let summary = lines.iter().find(|v| v.get("rcs").is_some()).expect("a summary");
    eprintln!("longlived cycles={cycles}");
    for v in &samples {
        eprintln!("longlived sample cycle={} rss_kb={} fds={} threads={}", v["cycle"], v["rss_kb"], v["fds"], v["threads"]);
    }
    assert_eq!(summary["rcs"], serde_json::json!({ "0": cycles }), "every login succeeded: {summary}");
    let fds: Vec<u64> = samples.iter().map(|v| v["fds"].as_u64().unwrap()).collect();
    assert!(fds.iter().all(|&n| n == fds[0]), "open descriptors stay flat: {fds:?}");
    assert!(samples.iter().all(|v| v["threads"] == 1), "no thread is ever started");
    assert_eq!(gw.requests().len(), cycles, "every code went out over HTTPS");
    let from_ldap = gw.requests().iter().filter(|r| r.field("to").as_deref() == Some("+447700900123")).count();
    assert!(from_ldap >= cycles / 40, "bob's number came from LDAP: {from_ldap}");
}
