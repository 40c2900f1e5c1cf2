//! Persistent protections through real libpam, each login its own process:
//! lockout, send limits, backup codes, grace, and a state store that stays
//! safe against hostile names, insecure directories and damaged files.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use common::gateway::{Gateway, Mode};
use common::*;

#[test]
fn lockout_persists_across_processes_and_lifts_after_the_duration() {
    require!(Root, PamWrapper);
    let s = Setup::new(
        "[otp]\nmax_attempts = 1\n[limits]\nlockout_failures = 3\nlockout_window = 600\nlockout_duration = 3\nresend_cooldown = 0\nmax_sends_per_hour = 100\n",
    );
    for _ in 0..2 {
        assert_eq!(s.login(Stack::Probe, &[text("000000")]).rc, PAM_MAXTRIES);
    }
    let out = s.login(Stack::Probe, &[text("000000")]);
    assert_eq!(out.rc, PAM_AUTH_ERR, "the third failure locks: {out:?}");
    assert_eq!(out.shown(), vec!["Too many failed verifications; try again later."]);
    let sent = s.spool_texts().len();
    // locked: even the right code is refused, and no SMS goes out
    let out = s.login(Stack::Probe, &[Reply::Code]);
    assert_eq!(out.rc, PAM_AUTH_ERR, "{out:?}");
    assert_eq!(s.spool_texts().len(), sent, "no SMS while locked");
    assert!(out.log.contains("locked out for another"), "{}", out.log);
    let (rc, status) = smsotp(&s, &["status", USER]);
    assert_eq!(rc, 0);
    assert!(status.contains("locked: yes"), "{status}");
    std::thread::sleep(Duration::from_millis(3100));
    let out = s.login(Stack::Probe, &[Reply::Code]);
    assert_eq!(out.rc, PAM_SUCCESS, "the lock lifted: {out:?}");
}

#[test]
fn unlock_lifts_a_lockout() {
    require!(Root, PamWrapper);
    let s = Setup::new("[otp]\nmax_attempts = 2\n[limits]\nlockout_failures = 2\nlockout_duration = 900\nresend_cooldown = 0\n");
    assert_eq!(s.login(Stack::Probe, &[text("1"), text("2")]).rc, PAM_AUTH_ERR);
    assert_eq!(s.login(Stack::Probe, &[Reply::Code]).rc, PAM_AUTH_ERR);
    let (rc, out) = smsotp(&s, &["unlock", USER]);
    assert_eq!(rc, 0, "{out}");
    assert_eq!(s.login(Stack::Probe, &[Reply::Code]).rc, PAM_SUCCESS);
}

#[test]
fn hourly_cap_holds_across_processes_and_leaves_backup_codes() {
    require!(Root, PamWrapper);
    let s = Setup::new("[limits]\nmax_sends_per_hour = 3\nresend_cooldown = 0\n");
    for _ in 0..3 {
        let out = s.login(Stack::Probe, &[Reply::Code]);
        assert_eq!(out.rc, PAM_SUCCESS, "{out:?}");
    }
    assert_eq!(s.spool_texts().len(), 3);
    let out = s.login(Stack::Probe, &[text("123456"), text(""), text("234567")]);
    assert_eq!(out.rc, PAM_MAXTRIES, "{out:?}");
    assert_eq!(s.spool_texts().len(), 3, "over the cap no SMS is sent, not even on Enter");
    assert_eq!(out.prompts()[0], "No SMS can be sent now. Backup code: ");
    assert_eq!(out.shown()[0], "Too many SMS codes were sent in the last hour.");
    let codes = backup_codes(&s, USER, 2);
    let out = s.login(Stack::Probe, &[text(&codes[0])]);
    assert_eq!(out.rc, PAM_SUCCESS, "a backup code still works: {out:?}");
    assert_eq!(s.spool_texts().len(), 3);
}

#[test]
fn cooldown_holds_across_processes() {
    require!(Root, PamWrapper);
    let s = Setup::new("[otp]\nmax_attempts = 1\n[limits]\nresend_cooldown = 2\nmax_sends_per_hour = 100\n");
    assert_eq!(s.login(Stack::Probe, &[Reply::Code]).rc, PAM_SUCCESS);
    let out = s.login(Stack::Probe, &[text("123456")]);
    assert_eq!(out.rc, PAM_MAXTRIES, "{out:?}");
    assert!(out.shown()[0].starts_with("A code was sent moments ago; another can be sent in "), "{:?}", out.shown());
    assert_eq!(s.spool_texts().len(), 1);
    std::thread::sleep(Duration::from_millis(2100));
    assert_eq!(s.login(Stack::Probe, &[Reply::Code]).rc, PAM_SUCCESS);
    assert_eq!(s.spool_texts().len(), 2);
}

#[test]
fn a_backup_code_works_once() {
    require!(Root, PamWrapper);
    let s = Setup::new("");
    let codes = backup_codes(&s, USER, 3);
    assert!(codes.iter().all(|c| c.len() == 9 && &c[4..5] == "-"), "{codes:?}");
    let out = s.login(Stack::PasswordThenSms, &[Reply::Password, text(&codes[1].to_lowercase())]);
    assert_eq!(out.rc, PAM_SUCCESS, "{out:?}");
    assert_eq!(out.shown(), vec!["2 backup codes left."]);
    let out = s.login(Stack::Probe, &[text(&codes[1]), text(&codes[1]), text(&codes[1])]);
    assert_eq!(out.rc, PAM_MAXTRIES, "used once already: {out:?}");
    let (_, status) = smsotp(&s, &["backup-codes", "status", USER]);
    assert!(status.contains("2 backup codes left"), "{status}");
    // the state keeps only hashes
    let state = std::fs::read_to_string(s.state.join("u-alice.json")).unwrap();
    for c in &codes {
        assert!(!state.contains(c.as_str()) && !state.contains(&c.replace('-', "")), "a code in clear in the state file");
    }
    assert_eq!(smsotp(&s, &["backup-codes", "revoke", USER]).0, 0);
    assert_eq!(s.login(Stack::Probe, &[text(&codes[0]), Reply::Code]).rc, PAM_SUCCESS);
    assert_eq!(s.state_json(USER)["backup_codes"].as_array().unwrap().len(), 0);
}

#[test]
fn backup_only_after_a_gateway_outage() {
    require!(Root, PamWrapper);
    let gw = Gateway::start(Mode::text(503, "down"));
    let s = Setup::with_connectors(
        &format!(
            "[policy]\non_send_failure = \"backup_only\"\n[[connector]]\nname = \"gw\"\ntype = \"http\"\nurl = \"{}\"\nto_param = \"to\"\nbody_param = \"text\"\n",
            gw.url("/send")
        ),
        false,
    );
    let codes = backup_codes(&s, USER, 1);
    let out = s.login(Stack::PasswordThenSms, &[Reply::Password, text(&codes[0])]);
    assert_eq!(out.rc, PAM_SUCCESS, "{out:?}");
    assert_eq!(out.prompts()[1], "No SMS can be sent now. Backup code: ");
    assert_eq!(out.shown(), vec!["0 backup codes left."]);
    assert!(out.log.contains("verified by backup code, 0 left"), "{}", out.log);
}

#[test]
fn grace_skips_then_expires() {
    require!(Root, PamWrapper);
    let s = Setup::new("[policy]\ngrace = 2\n");
    let from = |h: &str| vec!["--rhost".to_string(), h.to_string()];
    let a = from("198.51.100.7");
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    let out = s.login_as(USER, Stack::Probe, &[Reply::Code], &a, |s| s.spool_texts());
    assert_eq!(out.rc, PAM_SUCCESS);
    let out = s.login_as(USER, Stack::Probe, &[], &a, |s| s.spool_texts());
    assert_eq!(out.rc, IGNORED, "within grace from the same host: {out:?}");
    assert_eq!(s.spool_texts().len(), 1);
    let b = ["--rhost", "198.51.100.8"];
    let out = s.login_as(USER, Stack::Probe, &[Reply::Code], &b, |s| s.spool_texts());
    assert_eq!(out.rc, PAM_SUCCESS, "another host is asked");
    let out = s.login_as(USER, Stack::Probe, &[Reply::Code], &["--tty", "pts/3"], |s| s.spool_texts());
    assert_eq!(out.rc, PAM_SUCCESS, "no rhost: the tty is the origin");
    assert_eq!(s.login_as(USER, Stack::Probe, &[], &["--tty", "pts/3"], |s| s.spool_texts()).rc, IGNORED);
    std::thread::sleep(Duration::from_millis(2100));
    let out = s.login_as(USER, Stack::Probe, &[Reply::Code], &a, |s| s.spool_texts());
    assert_eq!(out.rc, PAM_SUCCESS, "grace expired, asked again: {out:?}");
    assert_eq!(s.spool_texts().len(), 4);
}

#[test]
fn hostile_user_names_stay_inside_the_state_directory() {
    require!(Root, PamWrapper);
    let s = Setup::new("[otp]\nmax_attempts = 1\n");
    let names = ["../../escape", "a/b", "..", ".hidden", "x".repeat(250).as_str().to_owned().leak() as &str, "semi;colon", "üser"];
    let mut phones = format!("{USER} {PHONE}\n");
    for n in &names {
        phones.push_str(&format!("{n} {PHONE}\n"));
    }
    std::fs::write(&s.phones, phones).unwrap();
    assert_eq!(s.login(Stack::Probe, &[Reply::Code]).rc, PAM_SUCCESS);
    let outside_before: Vec<_> = std::fs::read_dir(s.dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    for n in names {
        let out = s.login_as(n, Stack::Probe, &[text("nope")], &[], |s| s.spool_texts());
        assert_eq!(out.rc, PAM_MAXTRIES, "{n}: {out:?}\n{}", std::fs::read_to_string(&s.phones).unwrap());
    }
    for entry in std::fs::read_dir(&s.state).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        // sent.counts and sent.lock: the per-connector SMS counts of `smsotp report`
        assert!(name.starts_with("u-") || name.starts_with("h-") || name.starts_with("sent."), "unexpected state file {name}");
        assert!(!name.contains('/') && name.len() < 255);
    }
    let outside_after: Vec<_> = std::fs::read_dir(s.dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(outside_before.len(), outside_after.len(), "a file appeared outside the state directory");
    assert!(!s.dir.path().parent().unwrap().join("escape").exists());
    let v = s.state_json("%2E%2E%2F%2E%2E%2Fescape");
    assert_eq!(v["failures"].as_array().unwrap().len(), 1);
}

#[test]
fn an_insecure_state_directory_is_refused() {
    require!(Root, PamWrapper);
    let s = Setup::new("");
    assert_eq!(s.login(Stack::Probe, &[Reply::Code]).rc, PAM_SUCCESS);
    let meta = std::fs::metadata(&s.state).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o700, "created 0700");

    std::fs::set_permissions(&s.state, std::fs::Permissions::from_mode(0o777)).unwrap();
    let out = s.login(Stack::Probe, &[Reply::Code]);
    assert_eq!(out.rc, PAM_SERVICE_ERR, "{out:?}");
    assert!(out.log.contains("is insecure") && out.log.contains("0777"), "{}", out.log);
    std::fs::set_permissions(&s.state, std::fs::Permissions::from_mode(0o700)).unwrap();

    std::os::unix::fs::chown(&s.state, Some(65534), None).unwrap();
    let out = s.login(Stack::Probe, &[Reply::Code]);
    assert_eq!(out.rc, PAM_SERVICE_ERR, "{out:?}");
    assert!(out.log.contains("owned by uid 65534"), "{}", out.log);
    std::os::unix::fs::chown(&s.state, Some(0), None).unwrap();

    // a symlink in place of the directory
    let real = s.path("elsewhere");
    std::fs::create_dir(&real).unwrap();
    std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::remove_dir_all(&s.state).unwrap();
    std::os::unix::fs::symlink(&real, &s.state).unwrap();
    assert_eq!(s.login(Stack::Probe, &[Reply::Code]).rc, PAM_SERVICE_ERR);
}

#[test]
fn a_symlinked_state_file_is_not_followed() {
    require!(Root, PamWrapper);
    let s = Setup::new("");
    assert_eq!(s.login(Stack::Probe, &[Reply::Code]).rc, PAM_SUCCESS);
    let victim = s.path("victim");
    std::fs::write(&victim, "precious").unwrap();
    let state = s.state.join("u-alice.json");
    std::fs::remove_file(&state).unwrap();
    std::os::unix::fs::symlink(&victim, &state).unwrap();
    let out = s.login(Stack::Probe, &[Reply::Code]);
    assert_ne!(out.rc, PAM_SUCCESS, "{out:?}");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
}

#[test]
fn a_truncated_state_file_does_not_unlock_anyone() {
    require!(Root, PamWrapper);
    let s = Setup::new("[otp]\nmax_attempts = 2\n[limits]\nlockout_failures = 2\nlockout_duration = 900\nresend_cooldown = 0\n");
    assert_eq!(s.login(Stack::Probe, &[text("1"), text("2")]).rc, PAM_AUTH_ERR);
    let path = s.state.join("u-alice.json");
    let full = std::fs::read_to_string(&path).unwrap();
    assert!(full.contains("locked_until"));
    // what a machine stopped in the middle of the last rewrite can leave: the
    // redo record beside it brings the whole state back
    std::fs::write(&path, &full[..full.len() / 2]).unwrap();
    let out = s.login(Stack::Probe, &[Reply::Code]);
    assert_eq!(out.rc, PAM_AUTH_ERR, "still locked: {out:?}");
    assert!(out.log.contains("locked"), "{}", out.log);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), full, "written through from the record");
    // damage with no record to repair it
    for cut in [full.len() / 2, 1, 0] {
        for records in ["u-alice.lock", "u-alice.redo"] {
            std::fs::write(s.state.join(records), "").unwrap();
        }
        std::fs::write(&path, &full[..cut]).unwrap();
        let out = s.login(Stack::Probe, &[Reply::Code]);
        assert_eq!(out.rc, PAM_AUTHINFO_UNAVAIL, "cut at {cut}: {out:?}");
        assert!(out.log.contains("state for the user is unreadable"), "{}", out.log);
    }
    std::fs::write(&path, "{\"version\":1,\"garbage\":true}").unwrap();
    assert_eq!(s.login(Stack::Probe, &[Reply::Code]).rc, PAM_AUTHINFO_UNAVAIL);
    // the admin starts the user afresh
    let (rc, out) = smsotp(&s, &["unlock", USER]);
    assert_eq!(rc, 0, "{out}");
    assert_eq!(s.login(Stack::Probe, &[Reply::Code]).rc, PAM_SUCCESS);
}

/// A state file with a backup-code hash naming 4 GiB of argon2 memory, or times
/// at the integer limits: a normal PAM answer, never an abort of the host.
#[test]
fn hostile_state_files_get_a_normal_pam_answer() {
    require!(Root, PamWrapper);
    let s = Setup::new("[limits]\nlockout_duration = 900\nresend_cooldown = 0\n");
    std::fs::create_dir_all(&s.state).unwrap();
    std::fs::set_permissions(&s.state, std::fs::Permissions::from_mode(0o700)).unwrap();
    let path = s.state.join("u-alice.json");
    let salt_out = "c2FsdHNhbHRzYWx0$YWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWE";
    let hostile_hash = format!(
        r#"{{"version":1,"failures":[],"locked_until":null,"sends":[],"grace":[],"backup_codes":["$argon2id$v=19$m=4194304,t=4294967295,p=255${salt_out}"]}}"#
    );
    write_private(&path, &hostile_hash);
    let out = s.login(Stack::Probe, &[text("ABCD-EFGH")]);
    assert_eq!(out.rc, PAM_AUTHINFO_UNAVAIL, "damaged, refused: {out:?}");
    assert!(out.log.contains("not the module's own"), "{}", out.log);

    // times at the limits: a lock "until the end of time" lasts at most its duration
    let extreme = format!(
        r#"{{"version":1,"failures":[{max},{max}],"locked_until":{max},"sends":[{max}],"grace":[{{"origin":"x","until":{max}}}],"backup_codes":[]}}"#,
        max = u64::MAX
    );
    write_private(&path, &extreme);
    let out = s.login(Stack::Probe, &[Reply::Code]);
    assert_eq!(out.rc, PAM_AUTH_ERR, "still locked, for at most the duration: {out:?}");
    let locked_until = s.state_json(USER)["locked_until"].as_u64().unwrap_or(0);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    assert!(locked_until == u64::MAX || locked_until <= now + 900, "{locked_until}");
    let (rc, status) = smsotp(&s, &["status", USER]);
    assert_eq!(rc, 0, "{status}");
    let left: u64 =
        status.split("locked: yes, for another ").nth(1).and_then(|r| r.split(' ').next()).and_then(|n| n.parse().ok()).unwrap();
    assert!(left <= 900, "a lock lasts at most lockout_duration from now: {status}");

    // a newer format is refused by name, and left as it is
    let newer = r#"{"version":2,"failures":[],"future_field":true}"#;
    write_private(&path, newer);
    let out = s.login(Stack::Probe, &[Reply::Code]);
    assert_eq!(out.rc, PAM_AUTHINFO_UNAVAIL, "{out:?}");
    assert!(out.log.contains("state format version 2"), "{}", out.log);
    let (rc, said) = smsotp(&s, &["unlock", USER]);
    assert_ne!(rc, 0, "unlock refuses to overwrite a newer format: {said}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), newer);
}

#[test]
fn unlock_of_a_damaged_file_keeps_the_backup_codes_it_can_trust() {
    require!(Root, PamWrapper);
    let s = Setup::new("[otp]\nmax_attempts = 2\n[limits]\nlockout_failures = 2\nresend_cooldown = 0\n");
    let codes = backup_codes(&s, USER, 3);
    assert_eq!(s.login(Stack::Probe, &[text("1"), text("2")]).rc, PAM_AUTH_ERR);
    let path = s.state.join("u-alice.json");
    let mut damaged = s.state_json(USER);
    damaged["failures"] = serde_json::json!("not a list");
    damaged["backup_codes"].as_array_mut().unwrap().push(serde_json::json!("$argon2id$v=19$m=4194304,t=2,p=1$c2FsdA$YWFh"));
    write_private(&path, &damaged.to_string());
    let (rc, out) = smsotp(&s, &["unlock", USER]);
    assert_eq!(rc, 0, "{out}");
    assert!(out.contains("3 backup codes"), "{out}");
    let out = s.login(Stack::Probe, &[text(&codes[1])]);
    assert_eq!(out.rc, PAM_SUCCESS, "the kept code still works: {out:?}");
}

/// Times from the future (a wall clock stepped back, or a hostile file): a
/// cooldown, a grace and a lock last at most their configured length from now.
#[test]
fn future_times_never_lengthen_a_cooldown_grace_or_lock() {
    require!(Root, PamWrapper);
    let s = Setup::new("[policy]\ngrace = 2\n[limits]\nresend_cooldown = 2\nlockout_duration = 2\nmax_sends_per_hour = 1000\n");
    std::fs::create_dir_all(&s.state).unwrap();
    std::fs::set_permissions(&s.state, std::fs::Permissions::from_mode(0o700)).unwrap();
    let far = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 30 * 86_400;
    let path = s.state.join("u-alice.json");
    let key = r#"service=\"smsotp-probe\" rhost=\"198.51.100.7\""#;
    write_private(
        &path,
        &format!(
            r#"{{"version":1,"failures":[],"locked_until":null,"sends":[{far}],"grace":[{{"origin":"{key}","until":{far}}}],"backup_codes":[]}}"#
        ),
    );
    let rhost = ["--rhost", "198.51.100.7"];
    assert_eq!(s.login_as(USER, Stack::Probe, &[], &rhost, |s| s.spool_texts()).rc, IGNORED, "grace, for now");
    let out = s.login(Stack::Probe, &[Reply::Code]);
    assert_ne!(out.rc, PAM_SUCCESS, "the cooldown holds, for now: {out:?}");
    assert!(s.spool_texts().is_empty());
    std::thread::sleep(std::time::Duration::from_millis(2200));
    let out = s.login_as(USER, Stack::Probe, &[Reply::Code], &rhost, |s| s.spool_texts());
    assert_eq!(out.rc, PAM_SUCCESS, "grace and cooldown ended within their 2 s: {out:?}");
    assert_eq!(s.spool_texts().len(), 1);
    // a lock stamped 30 days ahead lasts lockout_duration
    let mut state = s.state_json(USER);
    state["locked_until"] = serde_json::json!(far);
    write_private(&path, &state.to_string());
    assert_eq!(s.login(Stack::Probe, &[Reply::Code]).rc, PAM_AUTH_ERR);
    std::thread::sleep(std::time::Duration::from_millis(2200));
    assert_eq!(s.login(Stack::Probe, &[Reply::Code]).rc, PAM_SUCCESS, "the lock ended within lockout_duration");
}
