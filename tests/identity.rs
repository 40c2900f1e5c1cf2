//! One identity per account, through real libpam: every spelling a name
//! service accepts for a user shares that user's lock, limits and number; and
//! what a caller puts in PAM items cannot forge log lines.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

/// A name service that folds case and drops "@REALM" (as sssd or winbind can
/// be set up), active only for the client: a C NSS module built here, and an
/// nsswitch.conf bound over the machine's in a private mount namespace.
fn with_casefolding_name_service(s: &mut Setup) {
    let dir = s.dir.path().to_path_buf();
    let passwd = dir.join("nss-passwd");
    write_private(&passwd, &format!("{USER}:x:61234:61234:test:/nonexistent:/bin/sh\n"));
    let module = dir.join("libnss_casefold.so.2");
    let built = Command::new("cc")
        .args(["-shared", "-fPIC", "-O2", "-o"])
        .arg(&module)
        .arg(format!("-DPASSWD_FILE=\"{}\"", passwd.display()))
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/nss_casefold.c"))
        .status()
        .map(|st| st.success())
        .unwrap_or(false);
    assert!(built, "cc could not build tests/support/nss_casefold.c");
    let nsswitch = dir.join("nsswitch.conf");
    write_private(&nsswitch, "passwd: files casefold\ngroup: files\nshadow: files\nhosts: files\n");
    s.prefix = ["unshare", "-m", "--propagation", "private", "sh", "-c", "mount --bind \"$0\" /etc/nsswitch.conf && exec \"$@\""]
        .iter()
        .map(|a| a.to_string())
        .chain([nsswitch.display().to_string()])
        .collect();
    s.env.push(("LD_LIBRARY_PATH".into(), dir.display().to_string()));
}

#[test]
fn a_lock_on_alice_refuses_every_spelling_without_an_sms() {
    require!(Root, PamWrapper, Programs(&["cc"]));
    let mut s = Setup::new("[otp]\nmax_attempts = 1\n[limits]\nlockout_failures = 3\nlockout_duration = 900\nresend_cooldown = 0\n");
    with_casefolding_name_service(&mut s);
    // three wrong answers, each under another spelling, lock the one account
    for spelling in ["ALICE", "Alice", "alice@EXAMPLE.ORG"] {
        let out = s.login_as(spelling, Stack::Probe, &[text("000000")], &[], |s| s.spool_texts());
        assert_ne!(out.rc, PAM_SUCCESS, "{spelling}: {out:?}");
        assert!(out.log.contains(&format!("user {spelling}: known to the name service as {USER}")), "{}", out.log);
    }
    let sent = s.spool_texts().len();
    assert_eq!(sent, 3, "alice's number got each code");
    for spelling in [USER, "ALICE", "aLiCe@ELSEWHERE"] {
        let out = s.login_as(spelling, Stack::Probe, &[Reply::Code], &[], |s| s.spool_texts());
        assert_eq!(out.rc, PAM_AUTH_ERR, "{spelling} is alice, and alice is locked: {out:?}");
        assert_eq!(out.shown(), vec!["Too many failed verifications; try again later."]);
    }
    assert_eq!(s.spool_texts().len(), sent, "no SMS while locked, whatever the spelling");
    assert!(s.state.join("u-alice.json").exists());
    let stray: Vec<_> = std::fs::read_dir(&s.state)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .filter(|n| !n.to_string_lossy().starts_with("u-alice."))
        // the per-connector SMS counts of `smsotp report`, not a user's state
        .filter(|n| !n.to_string_lossy().starts_with("sent."))
        .collect();
    assert!(stray.is_empty(), "one state for one account: {stray:?}");
}

#[test]
fn unenrolled_ignore_never_lets_a_spelling_in_without_a_code() {
    require!(Root, PamWrapper, Programs(&["cc"]));
    let mut s = Setup::new("[policy]\nunenrolled = \"ignore\"\n");
    with_casefolding_name_service(&mut s);
    for spelling in ["ALICE", "Alice@REALM"] {
        // the phone map lists "alice": the variant must find her number, not skip
        let out = s.login_as(spelling, Stack::Probe, &[text("000000"), text("000001"), text("000002")], &[], |s| s.spool_texts());
        assert_eq!(out.rc, PAM_MAXTRIES, "{spelling} is asked for alice's code: {out:?}");
        let out = s.login_as(spelling, Stack::Probe, &[Reply::Code], &[], |s| s.spool_texts());
        assert_eq!(out.rc, PAM_SUCCESS, "{spelling}: {out:?}");
    }
    // a name the name service does not know keeps its spelling, and the policy applies
    let out = s.login_as("nobody-known", Stack::Probe, &[], &[], |s| s.spool_texts());
    assert_eq!(out.rc, IGNORED, "{out:?}");
}

#[test]
fn pam_items_cannot_forge_log_lines() {
    require!(Root, PamWrapper);
    let s = Setup::new("");
    let rhost = "192.0.2.1\nMar  1 00:00:00 host sshd[1]: Accepted password for root\u{1b}[2J";
    let out = s.login_as(USER, Stack::Probe, &[text("000000"), text("000001"), text("000002")], &["--rhost", rhost], |s| s.spool_texts());
    assert_eq!(out.rc, PAM_MAXTRIES, "{out:?}");
    assert!(out.log.contains("from 192.0.2.1?Mar  1 00:00:00 host sshd[1]: Accepted password for root?[2J"), "{}", out.log);
    assert!(!out.log.contains('\u{1b}'), "{}", out.log);
    assert!(!out.log.lines().any(|l| l.starts_with("Mar  1")), "{}", out.log);
}
