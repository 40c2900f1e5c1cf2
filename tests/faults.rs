//! Faults and abuse through real libpam: a state store on a file system that is
//! full (bytes or inodes) or read-only under each `[state] on_failure`; SMS
//! pumping held back by `[phone] allowed_prefixes` and
//! `[limits] max_sends_per_hour_total`, counted at the fake gateway.

mod common;

use std::os::unix::fs::PermissionsExt;

use common::gateway::{Gateway, Mode};
use common::*;

/// The client runs in a mount namespace whose state directory is a small tmpfs
/// broken as `fault` says; the machine sees nothing of it.
fn with_broken_state(s: &mut Setup, fault: &str) {
    std::fs::create_dir_all(&s.state).unwrap();
    std::fs::set_permissions(&s.state, std::fs::Permissions::from_mode(0o700)).unwrap();
    let script = match fault {
        "bytes" => {
            "mount -t tmpfs -o size=8k,mode=0700 tmpfs \"$0\" && { dd if=/dev/zero of=\"$0/fill\" bs=1k 2>/dev/null; true; } && exec \"$@\""
        }
        "inodes" => {
            "mount -t tmpfs -o nr_inodes=4,mode=0700 tmpfs \"$0\" && { i=0; while touch \"$0/f$i\" 2>/dev/null; do i=$((i+1)); done; } && exec \"$@\""
        }
        "readonly" => "mount -t tmpfs -o size=1m,mode=0700 tmpfs \"$0\" && mount -o remount,ro \"$0\" && exec \"$@\"",
        other => panic!("{other}"),
    };
    s.prefix = ["unshare", "-m", "--propagation", "private", "sh", "-c", script]
        .iter()
        .map(|a| a.to_string())
        .chain([s.state.display().to_string()])
        .collect();
}

#[test]
fn a_full_or_read_only_store_follows_on_failure_and_never_lets_in_without_a_code() {
    require!(Root, PamWrapper);
    for fault in ["bytes", "inodes", "readonly"] {
        for (policy, rc) in [("unavailable", PAM_AUTHINFO_UNAVAIL), ("deny", PAM_AUTH_ERR)] {
            let mut s = Setup::new(&format!("[state]\non_failure = \"{policy}\"\n[policy]\ntrusted_networks = [\"192.0.2.0/24\"]\n"));
            s.rewrite_config(
                &s.config_text().replace("[state]\non_failure", &format!("[state]\ndir = \"{}\"\non_failure", s.state.display())),
            );
            with_broken_state(&mut s, fault);
            let out = s.login(Stack::Probe, &[Reply::Code]);
            assert_eq!(out.rc, rc, "{fault} {policy}: {out:?}");
            assert!(s.spool_texts().is_empty(), "{fault} {policy}: no SMS");
            assert!(out.log.contains("SYSLOG(2): user alice: the state store failed"), "{fault} {policy}: LOG_CRIT: {}", out.log);
            // a trusted network needs no store
            let out = s.login_as(USER, Stack::Probe, &[], &["--rhost", "192.0.2.9"], |s| s.spool_texts());
            assert_eq!(out.rc, IGNORED, "{fault} {policy}: {out:?}");
        }
        let mut s = Setup::new("[state]\non_failure = \"degrade\"\n");
        s.rewrite_config(&s.config_text().replace("[state]\non_failure", &format!("[state]\ndir = \"{}\"\non_failure", s.state.display())));
        with_broken_state(&mut s, fault);
        let out = s.login(Stack::Probe, &[text("000000"), Reply::Code]);
        assert_eq!(out.rc, PAM_SUCCESS, "{fault} degrade: the SMS code still works: {out:?}");
        assert_eq!(out.log.matches("SYSLOG(2)").count(), 1, "{fault}: LOG_CRIT once per login: {}", out.log);
        let out = s.login(Stack::Probe, &[text("000000"), text("000001"), text("000002")]);
        assert_eq!(out.rc, PAM_MAXTRIES, "{fault} degrade: never in without a code: {out:?}");
        let out = s.login(Stack::Probe, &[text("ABCD-EFGH"), text("ABCD-EFGH"), text("ABCD-EFGH")]);
        assert_eq!(out.rc, PAM_MAXTRIES, "{fault} degrade: {out:?}");
        assert!(out.shown().contains(&"Backup codes cannot be used now; use the SMS code.".to_string()), "{out:?}");
    }
}

fn gateway_connector(gw: &Gateway) -> String {
    format!(
        "[[connector]]\nname = \"gw\"\ntype = \"http\"\nurl = \"{}\"\nto_param = \"to\"\nbody_param = \"text\"\ntimeout = 3\n",
        gw.url("/send")
    )
}

#[test]
fn numbers_outside_allowed_prefixes_get_no_sms() {
    require!(Root, PamWrapper);
    let gw = Gateway::start(Mode::text(200, "OK"));
    let s = Setup::with_connectors(&format!("[phone]\nallowed_prefixes = [\"+44\"]\n{}", gateway_connector(&gw)), false);
    let out = s.login(Stack::Probe, &[Reply::Code]);
    assert_eq!(out.rc, PAM_AUTH_ERR, "alice's +1 number: {out:?}");
    assert!(out.log.contains("outside [phone] allowed_prefixes; no SMS sent"), "{}", out.log);
    assert!(gw.requests().is_empty(), "nothing reached the gateway");
    let out = s.login_as("bob", Stack::Probe, &[text("000000"), text("000001"), text("000002")], &[], |_| Vec::new());
    assert_eq!(out.rc, PAM_MAXTRIES, "bob's +44 number gets its code: {out:?}");
    assert_eq!(gw.requests().len(), 1);
    assert!(smsotp(&s, &["lookup", USER]).1.contains("warning: alice: the number is outside [phone] allowed_prefixes"));
    let check = smsotp(&s, &["check"]).1;
    assert!(check.contains("line 2: alice's number is outside [phone] allowed_prefixes"), "{check}");
    assert!(!check.contains("5551234567"), "{check}");
}

#[test]
fn the_total_cap_holds_every_user_of_the_store() {
    require!(Root, PamWrapper);
    let gw = Gateway::start(Mode::text(200, "OK"));
    let s = Setup::with_connectors(
        &format!("[limits]\nmax_sends_per_hour_total = 3\nresend_cooldown = 0\nmax_sends_per_hour = 1000\n{}", gateway_connector(&gw)),
        false,
    );
    let users = ["u1", "u2", "u3", "u4", "u5"];
    write_private(&s.phones, &users.iter().enumerate().map(|(i, u)| format!("{u} +4477009001{i:02}\n")).collect::<String>());
    let code = backup_codes(&s, "u5", 1).remove(0);
    for u in &users[..3] {
        let out = s.login_as(u, Stack::Probe, &[text("000000"), text("000001"), text("000002")], &[], |_| Vec::new());
        assert_eq!(out.rc, PAM_MAXTRIES, "{u}: {out:?}");
    }
    assert_eq!(gw.requests().len(), 3);
    let out = s.login_as("u4", Stack::Probe, &[text("000000"), text("000001"), text("000002")], &[], |_| Vec::new());
    assert_eq!(out.rc, PAM_MAXTRIES, "{out:?}");
    assert_eq!(out.prompts()[0], "No SMS can be sent now. Backup code: ");
    assert_eq!(out.log.matches("total of 3 SMS per hour is reached").count(), 1, "said once: {}", out.log);
    let out = s.login_as("u5", Stack::Probe, &[text(&code)], &[], |_| Vec::new());
    assert_eq!(out.rc, PAM_SUCCESS, "a backup code still works: {out:?}");
    assert_eq!(gw.requests().len(), 3, "the gateway got exactly the capped number of SMS");
}
