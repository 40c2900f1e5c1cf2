//! Numbers (issue 15): the enrolled/pinned store on both backends, the
//! enrolment dialogue and pinning through real libpam, and `smsotp phone|enrol`.

mod common;

use std::path::Path;

use common::redis::{PAM_PASSWORD, PAM_USER, Redis};
use common::*;
use pam_smsotp::auth::{EnrolCode, NumberVia, Numbers, StoredNumber};
use pam_smsotp::config::{Config, Secret};
use pam_smsotp::state::RedisStore;

fn number(phone: &str) -> StoredNumber {
    StoredNumber { phone: phone.into(), at: 1, via: NumberVia::Admin, verified: true, by: "root".into() }
}

fn redis_config(r: &Redis, dir: &Path) -> Config {
    let text = format!(
        "[state]\nbackend = \"redis\"\ndir = \"{}\"\n[state.redis]\nurl = \"{}\"\nusername = \"{PAM_USER}\"\nca_file = \"{}\"\n",
        dir.join("state").display(),
        r.url(),
        r.pki.ca.display()
    );
    let mut c = Config::parse(&text).unwrap();
    c.state.redis.password = Some(Secret::new(PAM_PASSWORD.into()));
    c
}

/// The Redis backend of `Numbers`, as the module's ACL user: round trip, a
/// code redeemed once (also when 20 logins race for it), garbage refused.
#[test]
fn redis_numbers_round_trip_and_redeem_once() {
    require!(Root, Redis);
    let r = Redis::start();
    let dir = test_dir();
    let config = redis_config(&r, dir.path());
    let mut s = RedisStore::new(&config);
    assert_eq!(s.numbers("alice").unwrap(), Default::default());
    s.set_enrolled("alice", Some(&number("+4915112345678"))).unwrap();
    s.set_pinned("alice", Some(&number("+4915100000000"))).unwrap();
    let a = s.numbers("alice").unwrap();
    assert_eq!(a.enrolled.unwrap().phone, "+4915112345678");
    assert_eq!(a.pinned.unwrap().phone, "+4915100000000");
    assert!(r.cli(&["GET", "smsotp:{u-alice}:enrolled"]).contains("+4915112345678"));

    let code = EnrolCode { hash: "h1".into(), expires: 2_000_000_000, issued_at: 1_999_999_000, by: "root".into() };
    s.set_enrol_code("bob", Some(&code)).unwrap();
    let ttl: i64 = r.cli(&["PTTL", "smsotp:{u-bob}:enrol"]).trim().parse().unwrap();
    assert!(ttl > 990_000 && ttl <= 1_000_000, "the key expires with the code: {ttl}");
    assert!(!s.redeem_enrol_code("bob", "h2", &number("+4915112345678")).unwrap());
    let racers: Vec<_> = (0..20)
        .map(|i| {
            let config = config.clone();
            std::thread::spawn(move || RedisStore::new(&config).redeem_enrol_code("bob", "h1", &number(&format!("+49151000000{i:02}"))))
        })
        .collect();
    let won: Vec<bool> = racers.into_iter().map(|t| t.join().unwrap().unwrap()).collect();
    assert_eq!(won.iter().filter(|w| **w).count(), 1, "{won:?}");
    let b = s.numbers("bob").unwrap();
    assert!(b.enrol_code.is_none());
    assert_eq!(b.enrolled.clone().unwrap(), b.pinned.unwrap());
    let listed: Vec<String> = s.list_numbers().unwrap().into_iter().map(|(u, _)| u).collect();
    assert_eq!(listed, ["alice", "bob"]);
    s.set_enrolled("alice", None).unwrap();
    let listed: Vec<String> = s.list_numbers().unwrap().into_iter().map(|(u, _)| u).collect();
    assert_eq!(listed, ["bob"], "a removed number is not listed");

    r.cli(&["SET", "smsotp:{u-carol}:pinned", "{not json"]);
    let mut fresh = RedisStore::new(&config);
    assert!(fresh.numbers("carol").is_err(), "garbage is an error, never 'no pin'");
}

// ---------------------------------------------------------------------------
// Through real libpam

const MALLORY: &str = "mallory";
const ENROL_PROMPT: &str = "Enrolment code: ";
const NUMBER_PROMPT: &str = "Mobile number for SMS codes: ";
const NEW: &str = "+4915123456789";
const ENROL: &str = "[policy]\nunenrolled = \"enrol\"\n[phone]\nallowed_prefixes = [\"+49\", \"+1\"]\n[[directory]]\ntype = \"enrolled\"\n";

/// `smsotp enrol issue USER [ARGS]`: the code it printed.
fn issue(s: &Setup, user: &str, args: &[&str]) -> String {
    let out = smsotp_ok(s, &[&["enrol", "issue", user], args].concat());
    let code = out.lines().map(str::trim).find(|l| l.starts_with("ENR-")).unwrap_or_else(|| panic!("no code in {out}"));
    code.to_string()
}

fn enrol_as(s: &Setup, user: &str, script: &[Reply]) -> Outcome {
    s.login_as(user, Stack::PasswordThenSms, script, &[], |s| s.spool_texts())
}

fn numbers_file(s: &Setup, user: &str) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(s.state.join(format!("u-{user}.numbers.json"))).unwrap_or_default())
        .unwrap_or(serde_json::Value::Null)
}

#[test]
fn enrolment_with_a_valid_code_stores_the_number_the_next_login_uses_and_the_code_works_once() {
    require!(Root, PamWrapper);
    let s = Setup::new(ENROL);
    let code = issue(&s, MALLORY, &[]);
    assert!(smsotp_ok(&s, &["enrol", "status", MALLORY]).contains("pending"));
    let out = enrol_as(&s, MALLORY, &[Reply::Password, text(&code.to_lowercase()), text("+49 151 2345 6789"), Reply::Code]);
    assert_eq!(out.rc, PAM_SUCCESS, "{out:?}");
    let prompts = out.prompts();
    assert_eq!(&prompts[1..3], [ENROL_PROMPT, NUMBER_PROMPT], "{prompts:?}");
    assert!(prompts[3].contains("+***********89"), "{prompts:?}");
    assert!(out.shown().contains(&"Your number is enrolled.".to_string()), "{out:?}");
    assert_eq!(s.spool_numbers(), [NEW]);
    let stored = numbers_file(&s, MALLORY);
    assert_eq!(stored["enrolled"]["phone"], NEW);
    assert_eq!(stored["pinned"]["phone"], NEW);
    assert_eq!(stored["enrolled"]["via"], "enrolment");
    assert!(stored["enrol_code"].is_null(), "{stored}");
    assert!(!stored.to_string().contains(&code[4..]), "only a hash was kept");
    assert!(smsotp_ok(&s, &["enrol", "status", MALLORY]).contains("no enrolment code"));
    assert_no_secrets(&out.log, std::slice::from_ref(&code), &["15123456789"]);

    // the next login: the enrolled number, no enrolment prompts
    let out = enrol_as(&s, MALLORY, &[Reply::Password, Reply::Code]);
    assert_eq!(out.rc, PAM_SUCCESS, "{out:?}");
    assert_eq!(out.prompts().len(), 2, "{:?}", out.prompts());
    assert_eq!(s.spool_numbers(), [NEW, NEW]);
    assert!(smsotp_ok(&s, &["phone", "show", MALLORY]).contains("enrolled +***********89"));

    // the code works once: with the number removed, it enrols nothing more
    smsotp_ok(&s, &["phone", "remove", MALLORY]);
    let out = enrol_as(&s, MALLORY, &[Reply::Password, text(&code), text(&code), text(&code)]);
    assert_eq!(out.rc, PAM_MAXTRIES, "{out:?}");
    assert!(!out.prompts().contains(&NUMBER_PROMPT.to_string()));
    assert_eq!(s.spool_numbers().len(), 2);
}

#[test]
fn a_wrong_revoked_or_expired_code_asks_no_number_and_sends_nothing() {
    require!(Root, PamWrapper);
    let s = Setup::new(ENROL);
    let replaced = issue(&s, MALLORY, &[]);
    let code = issue(&s, MALLORY, &[]);
    let wrong = "ENR-2345-6789-ABCD-EFGH";
    let out = enrol_as(&s, MALLORY, &[Reply::Password, text(wrong), text("123456"), text(&replaced)]);
    assert_eq!(out.rc, PAM_MAXTRIES, "{out:?}");
    assert_eq!(out.prompts()[1..], [ENROL_PROMPT; 3], "no number asked");
    assert_eq!(out.shown(), ["Wrong enrolment code."; 3]);
    assert!(s.spool_numbers().is_empty());
    assert_eq!(s.state_json(MALLORY)["failures"].as_array().map(Vec::len), Some(3), "counted towards the lockout");

    // revoked
    smsotp_ok(&s, &["enrol", "revoke", MALLORY]);
    let out = enrol_as(&s, MALLORY, &[Reply::Password, text(&code), text(&code), text(&code)]);
    assert_eq!(out.rc, PAM_MAXTRIES, "{out:?}");
    assert!(out.log.contains("none is pending"), "{}", out.log);

    // expired: a fresh code whose expiry has passed (the file is the store's)
    let code = issue(&s, MALLORY, &["--ttl", "60"]);
    let path = s.state.join(format!("u-{MALLORY}.numbers.json"));
    let mut stored = numbers_file(&s, MALLORY);
    stored["enrol_code"]["expires"] = serde_json::json!(stored["enrol_code"]["issued_at"].as_u64().unwrap() - 1);
    write_private(&path, &stored.to_string());
    assert!(smsotp_ok(&s, &["enrol", "status", MALLORY]).contains("expired"));
    let out = enrol_as(&s, MALLORY, &[Reply::Password, text(&code), text(&code), text(&code)]);
    assert_eq!(out.rc, PAM_MAXTRIES, "{out:?}");
    assert!(!out.prompts().contains(&NUMBER_PROMPT.to_string()));
    assert!(s.spool_numbers().is_empty(), "no SMS at all");

    // a code of the wrong shape, and an absurd one, are refused without hashing or panicking
    smsotp_ok(&s, &["unlock", MALLORY]);
    let code = issue(&s, MALLORY, &[]);
    let huge = "ENR-".to_string() + &"A".repeat(5000);
    let out = enrol_as(&s, MALLORY, &[Reply::Password, text(&huge), text("ENR-\u{1b}[2J"), text(&code[..code.len() - 1])]);
    assert_eq!(out.rc, PAM_MAXTRIES, "{out:?}");
    assert!(!out.log.contains('\u{1b}'), "{}", out.log);
}

#[test]
fn numbers_outside_allowed_prefixes_get_no_sms_and_wrong_sms_codes_reach_the_lockout() {
    require!(Root, PamWrapper);
    let limits = "[limits]\nresend_cooldown = 0\nmax_sends_per_hour = 1000\nlockout_failures = 3\n[otp]\nmax_attempts = 5\n";
    let s = Setup::new(&format!("{limits}{}", ENROL.replace("\"+49\", \"+1\"", "\"+49\"")));
    let code = issue(&s, MALLORY, &[]);
    let out =
        enrol_as(&s, MALLORY, &[Reply::Password, text(&code), text("+1 555 123 4567"), text("+44 7700 900123"), text("+33 6 12 34 56 78")]);
    assert_eq!(out.rc, PAM_AUTH_ERR, "{out:?}");
    assert_eq!(out.shown(), ["This number cannot receive codes."; 3]);
    assert!(s.spool_numbers().is_empty(), "no SMS to a number outside the prefixes");
    assert!(out.log.contains("outside [phone] allowed_prefixes"), "{}", out.log);
    assert!(smsotp_ok(&s, &["enrol", "status", MALLORY]).contains("pending"), "the code stays");

    // letters, control characters and absurd lengths as the number
    let long = "4".repeat(4000);
    let out = enrol_as(&s, MALLORY, &[Reply::Password, text(&code), text("+49 CALL ME"), text("+49151\u{7}2345678"), text(&long)]);
    assert_eq!(out.rc, PAM_AUTH_ERR, "{out:?}");
    assert!(s.spool_numbers().is_empty());

    // a right number, then wrong SMS codes until the lockout: nothing stored
    let out = enrol_as(&s, MALLORY, &[Reply::Password, text(&code), text(NEW), text("000000"), text("111111"), text("222222")]);
    assert_eq!(out.rc, PAM_AUTH_ERR, "{out:?}");
    assert!(out.shown().iter().any(|m| m.contains("try again later")), "{out:?}");
    assert!(numbers_file(&s, MALLORY)["enrolled"].is_null());
    assert!(smsotp_ok(&s, &["status", MALLORY]).contains("locked: yes"));
}

/// `smsotp phone set USER NUMBER --verify` with the code typed back on stdin.
fn phone_set_verify(s: &Setup, user: &str, number: &str, answer: impl FnOnce(&Setup) -> String) -> (i32, String) {
    use std::io::{Read, Write};
    let mut child = std::process::Command::new(smsotp_path())
        .arg("--config")
        .arg(&s.config)
        .args(["phone", "set", user, number, "--verify"])
        .env_clear()
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let sent = s.spool_messages().len();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while s.spool_messages().len() == sent && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let mut stdin = child.stdin.take().unwrap();
    let _ = writeln!(stdin, "{}", answer(s));
    drop(stdin);
    let mut out = String::new();
    child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    child.stderr.take().unwrap().read_to_string(&mut out).unwrap();
    (child.wait().unwrap().code().unwrap_or(-1), out)
}

#[test]
fn phone_set_verify_stores_the_number_only_with_the_right_code() {
    require!(Root, PamWrapper);
    let s = Setup::new(ENROL);
    let (rc, out) = phone_set_verify(&s, MALLORY, "+49 151 2345 6789", |_| "000000".into());
    assert_eq!(rc, 1, "{out}");
    assert!(out.contains("wrong code; nothing stored"), "{out}");
    assert_eq!(s.spool_numbers(), [NEW], "the code went to the number being set");
    assert!(numbers_file(&s, MALLORY)["enrolled"].is_null());
    let (rc, out) = phone_set_verify(&s, MALLORY, "+49 151 2345 6789", |s| code_in(s.spool_texts().last().unwrap()));
    assert_eq!(rc, 0, "{out}");
    assert!(out.contains("registered (verified)") && !out.contains("23456789"), "{out}");
    let stored = numbers_file(&s, MALLORY);
    assert_eq!((stored["enrolled"]["phone"].as_str(), stored["enrolled"]["verified"].as_bool()), (Some(NEW), Some(true)));
    assert_eq!(stored["pinned"]["phone"], NEW, "verified: pinned");
    // the enrolled directory answers for mallory now
    let out = enrol_as(&s, MALLORY, &[Reply::Password, Reply::Code]);
    assert_eq!(out.rc, PAM_SUCCESS, "{out:?}");
    assert_eq!(s.spool_numbers().last().map(String::as_str), Some(NEW));
    // outside the prefixes, or not a number: refused before anything is sent
    let (rc, out) = smsotp(&s, &["phone", "set", MALLORY, "+44 7700 900123"]);
    assert_eq!(rc, 1, "{out}");
    let (rc, out) = smsotp(&s, &["phone", "set", MALLORY, "+49 151 23\u{1b}45"]);
    assert_eq!(rc, 1, "{out}");
    assert_eq!(s.spool_numbers().len(), 3);
    let list = smsotp_ok(&s, &["phone", "list"]);
    assert!(list.contains("mallory\t+***********89"), "{list}");
}

// ---------------------------------------------------------------------------
// Pinning against a real slapd whose `mobile` changes between logins

/// Set alice's `mobile` in slapd, as a user with self-write rights would.
fn set_mobile(ldap: &common::slapd::Slapd, number: &str) {
    let change = format!("dn: uid=alice,ou=people,{}\nchangetype: modify\nreplace: mobile\nmobile: {number}\n", common::slapd::BASE);
    let mut child = std::process::Command::new("/usr/bin/ldapmodify")
        .args([
            "-x",
            "-H",
            &format!("ldap://127.0.0.1:{}", ldap.port),
            "-D",
            &format!("cn=admin,{}", common::slapd::BASE),
            "-w",
            "admin-secret",
        ])
        .env_clear()
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(change.as_bytes()).unwrap();
    assert!(child.wait().unwrap().success(), "ldapmodify");
}

fn ldap_setup(ldap: &common::slapd::Slapd, extra: &str) -> Setup {
    let s = Setup::new(extra);
    let text = s.config_text();
    let start = text.find("[[directory]]").unwrap();
    let end = start + text[start..].find("\n\n").unwrap();
    let dir = format!(
        "[[directory]]\ntype = \"ldap\"\nurl = \"ldap://127.0.0.1:{}\"\nbase_dn = \"{}\"\nphone_attributes = [\"mobile\"]\ntimeout = 3",
        ldap.port,
        common::slapd::BASE
    );
    s.rewrite_config(&text.replace(&text[start..end], &dir));
    s
}

#[test]
fn a_changed_directory_number_gets_what_on_change_says_and_phone_accept_ends_a_refusal() {
    require!(Root, PamWrapper, Slapd);
    let ldap = common::slapd::Slapd::start();
    let (old, new) = ("+15551234567", "+15559998888");
    for policy in ["allow", "notify", "deny"] {
        set_mobile(&ldap, "+1 555 123 4567");
        let s = Setup::new("");
        let told = s.path("told");
        let notify = s.path("notify.sh");
        std::fs::write(&notify, format!("#!/bin/sh\nenv | sort > {}\n", told.display())).unwrap();
        std::fs::set_permissions(&notify, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        let extra = format!("[phone]\non_change = \"{policy}\"\nnotify_command = [\"{}\"]\n", notify.display());
        let s = ldap_setup(&ldap, &extra);
        let login = || s.login(Stack::Probe, &[Reply::Code]);
        let out = login();
        assert_eq!(out.rc, PAM_SUCCESS, "{policy}: {out:?}\n{}", ldap.log());
        assert_eq!(numbers_file(&s, USER)["pinned"]["phone"], old, "{policy}: the first verified number is pinned");
        assert!(smsotp_ok(&s, &["status", USER]).contains("the directories agree"));

        set_mobile(&ldap, "+1 555 999 8888");
        assert!(smsotp_ok(&s, &["status", USER]).contains("the directories DIFFER: +*********88"), "{policy}");
        let out = login();
        match policy {
            "allow" => {
                assert_eq!(out.rc, PAM_SUCCESS, "{out:?}");
                assert_eq!(s.spool_numbers().last().map(String::as_str), Some(new));
                assert!(!told.exists(), "allow runs nothing");
            }
            "notify" => {
                assert_eq!(out.rc, PAM_SUCCESS, "{out:?}");
                assert_eq!(s.spool_numbers().last().map(String::as_str), Some(new));
                assert!(out.log.contains("SYSLOG(4)") && out.log.contains("on_change = notify"), "{}", out.log);
                let env = std::fs::read_to_string(&told).unwrap();
                for line in ["SMSOTP_NEW=+*********88", "SMSOTP_OLD=+*********67", "SMSOTP_USER=alice"] {
                    assert!(env.lines().any(|l| l == line), "{line} missing from\n{env}");
                }
                assert!(!env.contains("5559998888") && !env.contains("5551234567"), "masked numbers only:\n{env}");
                assert!(!env.contains("PAM_WRAPPER") && !env.contains("LD_PRELOAD"), "a clean environment:\n{env}");
            }
            _ => {
                assert_eq!(out.rc, PAM_AUTH_ERR, "{out:?}");
                assert_eq!(s.spool_numbers(), [old], "no SMS to the new number");
                assert!(out.log.contains("smsotp phone accept alice"), "{}", out.log);
                assert_no_secrets(&out.log, &[], &["5559998888"]);
                assert_eq!(login().rc, PAM_AUTH_ERR, "refused until accepted");
                let accepted = smsotp_ok(&s, &["phone", "accept", USER]);
                assert!(accepted.contains("+*********88"), "{accepted}");
                let out = login();
                assert_eq!(out.rc, PAM_SUCCESS, "{out:?}");
                assert_eq!(s.spool_numbers().last().map(String::as_str), Some(new));
            }
        }
        assert_eq!(numbers_file(&s, USER)["pinned"]["phone"], new, "{policy}: the new number is pinned once verified");
        // and changing back is a change again
        set_mobile(&ldap, "+1 555 123 4567");
        let out = login();
        assert_eq!(out.rc, if policy == "deny" { PAM_AUTH_ERR } else { PAM_SUCCESS }, "{policy}: {out:?}");
    }
}

// ---------------------------------------------------------------------------
// The fleet: numbers in Redis

/// One host of the fleet: its own config, spool and state dir, the shared Redis,
/// smsotp writing as the admin ACL user.
fn redis_host(r: &Redis, extra: &str) -> Setup {
    let s = Setup::new(extra);
    let admin = r.admin_lines(s.dir.path());
    let section = r.section(s.dir.path(), &admin);
    let text = s.config_text().replace("[state]\n", "[state]\nbackend = \"redis\"\n");
    s.rewrite_config(&format!("{text}\n{section}"));
    s
}

#[test]
fn a_number_enrolled_on_one_host_is_used_on_another() {
    require!(Root, PamWrapper, Redis);
    let r = Redis::start();
    let (a, b) = (redis_host(&r, ENROL), redis_host(&r, ENROL));
    let code = issue(&a, MALLORY, &[]);
    assert!(smsotp_ok(&b, &["enrol", "status", MALLORY]).contains("pending"), "the code is the fleet's");
    let out = enrol_as(&a, MALLORY, &[Reply::Password, text(&code), text("+49 151 2345 6789"), Reply::Code]);
    assert_eq!(out.rc, PAM_SUCCESS, "{out:?}\n{}", r.log());
    assert!(!a.state.join(format!("u-{MALLORY}.numbers.json")).exists(), "kept in Redis, not on the host");
    let out = enrol_as(&b, MALLORY, &[Reply::Password, Reply::Code]);
    assert_eq!(out.rc, PAM_SUCCESS, "{out:?}");
    assert_eq!(out.prompts().len(), 2, "no enrolment on the second host: {:?}", out.prompts());
    assert_eq!(b.spool_numbers(), [NEW]);
    // the code was used up fleet-wide
    smsotp_ok(&b, &["phone", "remove", MALLORY]);
    let out = enrol_as(&b, MALLORY, &[Reply::Password, text(&code), text(&code), text(&code)]);
    assert_eq!(out.rc, PAM_MAXTRIES, "{out:?}");
    // an admin's number set on one host, pinned, is seen on the other; keys stay under the prefix
    smsotp_ok(&a, &["phone", "set", "bob", "+49 151 0000 0001"]);
    assert!(smsotp_ok(&b, &["phone", "list"]).contains("bob\t+***********01"));
    for k in r.cli(&["--scan"]).lines() {
        assert!(k.starts_with("smsotp:"), "{k}");
    }
}
