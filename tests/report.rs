//! `smsotp report` against a state store filled by real logins (pam_wrapper):
//! the locked user, the user at the send cap, the SMS each connector took, the
//! backup codes running low, and no code or full number in the output.

mod common;

use common::{PAM_SUCCESS, Reply, Setup, Stack, smsotp, text};

fn section<'a>(out: &'a str, title: &str) -> Vec<&'a str> {
    let start = out.lines().position(|l| l.starts_with(title)).unwrap_or_else(|| panic!("no {title:?} in:\n{out}"));
    out.lines().skip(start).take_while(|l| !l.is_empty()).collect()
}

#[test]
fn report_after_real_logins_on_the_file_backend() {
    require!(Root, PamWrapper);
    let s = Setup::new("[limits]\nresend_cooldown = 0\nmax_sends_per_hour = 2\nlockout_failures = 2\n");
    // nothing yet
    let (rc, out) = smsotp(&s, &["report"]);
    assert_eq!(rc, 0, "{out}");
    assert!(out.contains("users locked now: 0") && out.contains("SMS per connector (last hour / last 24 hours):\n  none"), "{out}");

    // alice: two wrong codes lock her out (one SMS)
    let o = s.login(Stack::Probe, &[text("000000"), text("000001")]);
    assert_ne!(o.rc, PAM_SUCCESS);
    // bob: two logins reach his cap of 2 per hour; a backup code leaves him 2
    let bob_codes = common::backup_codes(&s, "bob", 3);
    for _ in 0..2 {
        let o = s.login_as("bob", Stack::Probe, &[Reply::Code], &[], |s| s.spool_texts());
        assert_eq!(o.rc, PAM_SUCCESS, "{o:#?}");
    }
    let o = s.login_as("bob", Stack::Probe, &[text(&bob_codes[0])], &[], |s| s.spool_texts());
    assert_eq!(o.rc, PAM_SUCCESS, "over the cap only backup codes work: {o:#?}");
    // carol has plenty of codes: not low
    common::backup_codes(&s, "carol", 5);
    // bob guesses twice more: locked too (the guesses count while only backup codes work)
    let o = s.login_as("bob", Stack::Probe, &[text("ABCD-EFGH-JK"), text("ABCD-EFGH-JK")], &[], |s| s.spool_texts());
    assert_eq!(o.rc, common::PAM_AUTH_ERR, "{o:#?}");

    // an enrolled number beside the state files is not a user's state
    let (rc, out) = smsotp(&s, &["phone", "set", "dave", "+15550001111"]);
    assert_eq!(rc, 0, "{out}");
    assert!(s.state.join("u-dave.numbers.json").exists());

    let (rc, out) = smsotp(&s, &["report"]);
    assert_eq!(rc, 0, "{out}");
    assert!(!out.contains("numbers") && !out.contains("unreadable"), "{out}");
    assert!(out.contains(", 3 users with state"), "alice, bob and carol only: {out}");
    let sent = s.spool_texts().len();
    assert_eq!(sent, 3, "{:?}", s.spool_texts());
    let locked = section(&out, "users locked now:");
    assert_eq!(locked.len(), 3, "{out}");
    assert_eq!(locked[0], "users locked now: 2", "{out}");
    assert!(locked[1].starts_with("  alice: for another "), "{out}");
    assert!(locked[2].starts_with("  bob: for another "), "{out}");
    let capped = section(&out, "users at their send cap (2 SMS per hour):");
    assert_eq!(capped[1..], ["  bob: 2 SMS in the last hour"], "{out}");
    let per_connector = section(&out, "SMS per connector");
    assert_eq!(per_connector[1..], [format!("  spool: {sent} / {sent}")], "{out}");
    let low = section(&out, "backup codes running low (2 or fewer left):");
    assert_eq!(low, ["backup codes running low (2 or fewer left): 1", "  bob: 2 left"], "{out}");
    assert!(out.contains("delivery failures (last 24 hours):\n  not recorded"), "{out}");
    common::assert_no_secrets(&out, &s.spool_texts().iter().map(|t| common::code_in(t)).collect::<Vec<_>>(), &[]);
    for c in &bob_codes {
        assert!(!out.contains(c.as_str()));
    }
}
