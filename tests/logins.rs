//! Real logins, end to end, with the real programs: sshd, sudo, su and login,
//! each using a PAM stack from conf/pam.d/ verbatim and the module cargo built.
//!
//! Nothing of the machine changes. Every scenario runs in a private mount
//! namespace (tests/support/login-ns.sh) in which the test's own copies are
//! bound over /etc/pam.d, /etc/passwd, /etc/shadow, /etc/group, /etc/sudoers
//! and /var/log/{wtmp,btmp,lastlog}; /run is a tmpfs (with /run/sshd) and /dev
//! a small private one whose /dev/log is a datagram socket of the test's, so
//! that the test reads what pam_syslog(3), sudo, su and login log. The copies
//! add a test user `smsuser` (and `smsother`, for su) with a known password,
//! a home inside the test's directory under target/tmp, and shell /bin/sh.
//! sshd listens on 127.0.0.1 on a free high port, is a child of the test, and
//! is stopped by PID when the test ends, passed or failed.
//!
//! The conversations run on a pty through expect (tests/support/converse.exp),
//! which answers each prompt in turn and reads the code from the spool
//! connector's file, as a person reads the SMS.
//!
//! The stacks are installed verbatim except for two documented substitutions
//! (see `World::install`): `pam_smsotp.so` becomes the absolute path of the
//! module with `config=<the test's config> debug`, and `pam_unix.so` on an
//! `auth` line gets `nodelay` (its 2 s failure delay would only slow the tests;
//! login's own pam_faildelay and su's delay stay).

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::world::{
    OTHER, OTHER_PHONE, SHELL_COMMAND, SHELL_OUTPUT, SKIP_GROUP, TOOLS, USER, USER_PASSWORD, USER_PHONE, World, pass, run, s, see, text,
};
use common::{Setup, write_private};

fn median(v: &mut [u64]) -> u64 {
    v.sort_unstable();
    v[v.len() / 2]
}

// ---------------------------------------------------------------------------
// sshd

/// Password, then the code from the SMS: sshd runs the command. Also times
/// connect-to-command-output against the same stack without the module.
#[test]
fn sshd_password_then_code_logs_in_and_runs_a_command() {
    require!(Root, Programs(TOOLS), Programs(&["sshd", "ssh", "ssh-keygen"]), PrivateMounts);
    let w = World::new("");
    w.install("sshd-password-sms", "sshd");
    let sshd = w.sshd("keyboard-interactive", "");
    let talk = w.talk(false, &[pass(USER_PASSWORD), "code".into(), see()], &w.ssh(&sshd, false, &[], Some(SHELL_COMMAND)));
    assert_eq!(talk.status, 0, "{talk:#?}\n{}", sshd.log_text());
    assert!(talk.logged_in(), "{}", talk.out);
    assert!(talk.out.contains(&format!("{SHELL_OUTPUT} {USER}")), "{}", talk.out);
    assert_eq!(talk.prompts(), ["password", "code"]);
    assert!(talk.out.contains("SMS code sent to +*********67: "), "the masked number is in the prompt: {}", talk.out);
    let sms = w.sms();
    assert_eq!(sms.len(), 1, "{sms:?}");
    assert_eq!(sms[0].0, USER_PHONE);
    assert!(sms[0].1.contains(&format!(" for {USER}@")), "{sms:?}");
    assert!(sshd.log_text().contains(&format!("Accepted keyboard-interactive/pam for {USER} from 127.0.0.1")), "{}", sshd.log_text());
    let log = w.log();
    assert!(log.contains(&format!("pam_smsotp(sshd:auth): user {USER} from 127.0.0.1: verified by SMS code")), "{log}");
    assert!(!log.contains(USER_PHONE) && !log.contains(&code_of(&sms[0].1)), "no number or code in the log: {log}");

    // timing: connect to command output, alternating with the same stack without
    // the module (its own sshd), so that load from elsewhere hits both alike
    const RUNS: usize = 8;
    let base = World::new("");
    base.install_without_module("sshd-password-sms", "sshd");
    let base_sshd = base.sshd("keyboard-interactive", "");
    let (mut with, mut with_after_password, mut without, mut without_after_password) = (vec![], vec![], vec![], vec![]);
    for _ in 0..RUNS {
        let t = w.talk(false, &[pass(USER_PASSWORD), "code".into(), see()], &w.ssh(&sshd, false, &[], Some(SHELL_COMMAND)));
        assert_eq!(t.status, 0, "{t:#?}");
        with.push(t.at("seen").unwrap());
        with_after_password.push(t.at("seen").unwrap() - t.at("prompt password").unwrap());
        let t = base.talk(false, &[pass(USER_PASSWORD), see()], &base.ssh(&base_sshd, false, &[], Some(SHELL_COMMAND)));
        assert_eq!(t.status, 0, "{t:#?}");
        without.push(t.at("seen").unwrap());
        without_after_password.push(t.at("seen").unwrap() - t.at("prompt password").unwrap());
    }
    assert!(base.sms().is_empty());
    let (mw, mo) = (median(&mut with), median(&mut without));
    eprintln!(
        "TIMING sshd, connect to command output, {RUNS} logins each: password + SMS code median {mw} ms (min {} max {}), \
         password only (same stack without pam_smsotp) median {mo} ms (min {} max {}); \
         from the password prompt on: {} ms against {} ms",
        with[0],
        with[RUNS - 1],
        without[0],
        without[RUNS - 1],
        median(&mut with_after_password),
        median(&mut without_after_password),
    );
}

fn code_of(text: &str) -> String {
    common::code_in(text)
}

/// Three wrong codes: refused, told so, and the command never runs.
#[test]
fn sshd_wrong_code_is_refused() {
    require!(Root, Programs(TOOLS), Programs(&["sshd", "ssh", "ssh-keygen"]), PrivateMounts);
    let w = World::new("");
    w.install("sshd-password-sms", "sshd");
    let sshd = w.sshd("keyboard-interactive", "");
    let talk = w.talk(
        false,
        &[pass(USER_PASSWORD), text("000000"), text("000001"), text("000002")],
        &w.ssh(&sshd, false, &[], Some(SHELL_COMMAND)),
    );
    assert_eq!(talk.status, 255, "ssh fails: {talk:#?}");
    assert!(!talk.logged_in(), "{}", talk.out);
    assert_eq!(talk.prompts(), ["password", "code", "code", "code"]);
    assert!(talk.out.contains("Wrong code."), "{}", talk.out);
    assert!(talk.out.contains("Too many wrong codes."), "{}", talk.out);
    assert!(talk.out.contains("Permission denied"), "{}", talk.out);
    assert_eq!(w.sms().len(), 1);
    assert!(!sshd.log_text().contains("Accepted"), "{}", sshd.log_text());
    let log = w.log();
    assert!(log.contains(&format!("user {USER} from 127.0.0.1: denied, too many wrong codes")), "{log}");
}

/// `requisite` on the password: a wrong password ends the stack before the
/// module, so no SMS goes out (and the module never runs).
#[test]
fn sshd_wrong_password_sends_no_sms() {
    require!(Root, Programs(TOOLS), Programs(&["sshd", "ssh", "ssh-keygen"]), PrivateMounts);
    let w = World::new("");
    w.install("sshd-password-sms", "sshd");
    let sshd = w.sshd("keyboard-interactive", "");
    let talk = w.talk(false, &[pass("not-the-password")], &w.ssh(&sshd, false, &[], Some(SHELL_COMMAND)));
    assert_eq!(talk.status, 255, "{talk:#?}");
    assert!(!talk.logged_in());
    assert_eq!(talk.prompts(), ["password"], "no code prompt after a wrong password: {}", talk.out);
    assert!(w.sms().is_empty(), "an SMS went out for a wrong password: {:?}", w.sms());
    assert!(!w.setup.spool.exists(), "the spool was not even created");
    assert!(sshd.log_text().contains(&format!("Failed keyboard-interactive/pam for {USER}")), "{}", sshd.log_text());
    let log = w.log();
    assert!(!log.contains("pam_smsotp("), "the module must not run after a wrong password: {log}");
}

/// `AuthenticationMethods publickey,keyboard-interactive` with the stack
/// without a password: key then code logs in; the key alone does not; no key
/// gets no further than publickey; BatchMode never reaches the module.
#[test]
fn sshd_publickey_then_code_and_a_key_alone_is_not_enough() {
    require!(Root, Programs(TOOLS), Programs(&["sshd", "ssh", "ssh-keygen"]), PrivateMounts);
    let w = World::new("");
    w.install("sshd-publickey-sms", "sshd");
    let sshd = w.sshd("publickey,keyboard-interactive", "");
    let both = ["PreferredAuthentications=publickey,keyboard-interactive"];

    let talk = w.talk(false, &["code".into(), see()], &w.ssh(&sshd, true, &both, Some(SHELL_COMMAND)));
    assert_eq!(talk.status, 0, "{talk:#?}\n{}", sshd.log_text());
    assert!(talk.logged_in(), "{}", talk.out);
    assert_eq!(talk.prompts(), ["code"], "no password prompt in this stack");
    assert_eq!(w.sms().len(), 1);
    let log = sshd.log_text();
    assert!(
        log.contains(&format!("Partial publickey for {USER}")) && log.contains(&format!("Accepted keyboard-interactive/pam for {USER}")),
        "{log}"
    );

    // the key alone: sshd wants keyboard-interactive too, the client offers nothing more
    let talk = w.talk(false, &[], &w.ssh(&sshd, true, &["PreferredAuthentications=publickey"], Some(SHELL_COMMAND)));
    assert_eq!(talk.status, 255, "{talk:#?}");
    assert!(!talk.logged_in());
    assert!(talk.out.contains("Permission denied (keyboard-interactive)"), "{}", talk.out);
    // no key: keyboard-interactive is not even offered before publickey succeeded
    let talk = w.talk(false, &[], &w.ssh(&sshd, false, &["PreferredAuthentications=keyboard-interactive"], Some(SHELL_COMMAND)));
    assert_eq!(talk.status, 255, "{talk:#?}");
    assert!(talk.out.contains("Permission denied (publickey)"), "{}", talk.out);
    assert!(talk.prompts().is_empty());
    // BatchMode (scripts, cron): the client does no keyboard-interactive at all
    let mut batch = w.ssh(&sshd, true, &[both[0], "BatchMode=yes"], Some(SHELL_COMMAND));
    batch.insert(0, "-w".into());
    batch.insert(0, "setsid".into());
    let mut cmd = Command::new(&batch[0]);
    cmd.args(&batch[1..]).env_clear().env("PATH", "/usr/bin:/bin").env("HOME", w.path("client"));
    let started = Instant::now();
    let (rc, out) = run(cmd, Duration::from_secs(30));
    assert_eq!(rc, 255, "{out}");
    assert!(started.elapsed() < Duration::from_secs(10), "BatchMode must fail fast");
    assert_eq!(w.sms().len(), 1, "no SMS for the key alone, no key, or BatchMode: {:?}", w.sms());
}

/// With no terminal (a script without BatchMode), ssh answers every prompt
/// with an empty line: the module takes it as "send a new code", the cooldown
/// refuses that, the attempts run out, and the login ends at once: no hang.
#[test]
fn sshd_client_without_a_terminal_fails_fast() {
    require!(Root, Programs(TOOLS), Programs(&["sshd", "ssh", "ssh-keygen", "setsid"]), PrivateMounts);
    // the default cooldown and attempts, so the result is what a real site sees
    let w = World::new("[limits]\nresend_cooldown = 30\nmax_sends_per_hour = 1000\n");
    w.install("sshd-publickey-sms", "sshd");
    let sshd = w.sshd("publickey,keyboard-interactive", "");
    let mut argv = w.ssh(&sshd, true, &["PreferredAuthentications=publickey,keyboard-interactive"], Some(SHELL_COMMAND));
    argv.splice(0..0, ["setsid".to_string(), "-w".to_string()]);
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..]).env_clear().env("PATH", "/usr/bin:/bin").env("HOME", w.path("client"));
    let started = Instant::now();
    let (rc, out) = run(cmd, Duration::from_secs(30));
    let took = started.elapsed();
    assert_eq!(rc, 255, "{out}");
    assert!(!out.contains(SHELL_OUTPUT), "{out}");
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert_eq!(w.sms().len(), 1, "one code, the empty answer's resend refused by the cooldown: {:?}", w.sms());
    let log = w.log();
    assert!(log.contains("denied, too many wrong codes"), "{log}");
    // empty answers are no guesses: nothing counts towards the lockout
    let status = w.smsotp(&["status", USER]);
    assert!(status.contains("failures in the last 900 s: 0"), "{status}");
    eprintln!("ssh without a terminal: refused after {took:?}; {}", out.lines().filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" | "));
}

/// A backup code typed at the code prompt logs in once; the remaining count
/// shows up in an interactive session only (after a success, sshd keeps the
/// module's PAM_TEXT_INFO for the login messages, which `ssh host command`
/// never shows); the same code is refused the second time.
#[test]
fn sshd_backup_code_works_once() {
    require!(Root, Programs(TOOLS), Programs(&["sshd", "ssh", "ssh-keygen"]), PrivateMounts);
    let w = World::new("");
    w.install("sshd-password-sms", "sshd");
    let codes = w.backup_codes(2);
    let sshd = w.sshd("keyboard-interactive", "");
    let shell = format!("shell:{SHELL_COMMAND}; exit");
    let talk = w.talk(false, &[pass(USER_PASSWORD), text(&codes[0]), shell, see()], &w.ssh(&sshd, false, &["RequestTTY=force"], None));
    assert_eq!(talk.status, 0, "{talk:#?}\n{}", sshd.log_text());
    assert!(talk.logged_in(), "{}", talk.out);
    // ("1 backup code" also matches the plural the module prints today)
    assert!(talk.out.contains("1 backup code"), "the count is shown once logged in: {}", talk.out);
    assert_eq!(w.sms().len(), 1, "the SMS had gone out before the backup code was typed");
    assert!(w.log().contains(&format!("user {USER} from 127.0.0.1: verified by backup code, 1 left")));

    let again = w.talk(
        false,
        &[pass(USER_PASSWORD), text(&codes[0]), text(&codes[0]), text(&codes[0])],
        &w.ssh(&sshd, false, &[], Some(SHELL_COMMAND)),
    );
    assert_eq!(again.status, 255, "{again:#?}");
    assert!(!again.logged_in());
    assert!(again.out.contains("Wrong code."), "{}", again.out);
    assert!(w.smsotp(&["backup-codes", "status", USER]).contains(": 1 backup code"), "one code is left");
}

/// lockout_failures = 2: the second wrong code locks the user and says so;
/// then the right password gets no code prompt, no SMS and no login, until
/// `smsotp unlock`.
#[test]
fn sshd_lockout_refuses_without_sending() {
    require!(Root, Programs(TOOLS), Programs(&["sshd", "ssh", "ssh-keygen"]), PrivateMounts);
    let w = World::new(
        "[limits]\nlockout_failures = 2\nlockout_window = 600\nlockout_duration = 600\nresend_cooldown = 0\nmax_sends_per_hour = 1000\n",
    );
    w.install("sshd-password-sms", "sshd");
    let sshd = w.sshd("keyboard-interactive", "");
    let talk = w.talk(false, &[pass(USER_PASSWORD), text("000000"), text("000001")], &w.ssh(&sshd, false, &[], Some(SHELL_COMMAND)));
    assert_eq!(talk.status, 255, "{talk:#?}");
    assert!(talk.out.contains("Too many failed verifications; try again later."), "{}", talk.out);
    assert_eq!(w.sms().len(), 1);
    let unused_code = code_of(&w.sms()[0].1);

    // locked: the password is right, the code of the first SMS is still valid, yet nothing is asked or sent
    let talk = w.talk(false, &[pass(USER_PASSWORD), text(&unused_code)], &w.ssh(&sshd, false, &[], Some(SHELL_COMMAND)));
    assert_eq!(talk.status, 255, "{talk:#?}");
    assert_eq!(talk.prompts(), ["password"], "no code prompt while locked: {}", talk.out);
    assert!(talk.out.contains("Too many failed verifications; try again later."), "{}", talk.out);
    assert!(!talk.logged_in());
    assert_eq!(w.sms().len(), 1, "no SMS while locked");
    let log = w.log();
    assert!(log.contains(&format!("user {USER}: locked out for another")), "{log}");
    assert!(w.smsotp(&["status", USER]).contains("locked: yes"));

    w.smsotp(&["unlock", USER]);
    let talk = w.talk(false, &[pass(USER_PASSWORD), "code".into(), see()], &w.ssh(&sshd, false, &[], Some(SHELL_COMMAND)));
    assert_eq!(talk.status, 0, "after unlock: {talk:#?}");
    assert!(talk.logged_in());
}

/// Why the snippet turns PasswordAuthentication off: sshd's password method
/// hands the password to every hidden prompt, the code prompt included. The
/// login fails and an SMS goes out, but the module knows the password
/// (PAM_AUTHTOK) and ends at once: no wrong code counts towards the lockout.
#[test]
fn sshd_password_method_cannot_answer_the_code() {
    require!(Root, Programs(TOOLS), Programs(&["sshd", "ssh", "ssh-keygen"]), PrivateMounts);
    let w = World::new("");
    w.install("sshd-password-sms", "sshd");
    let sshd = w.sshd("password", "PasswordAuthentication yes");
    let talk = w.talk(false, &[pass(USER_PASSWORD)], &w.ssh(&sshd, false, &["PreferredAuthentications=password"], Some(SHELL_COMMAND)));
    assert_eq!(talk.status, 255, "{talk:#?}");
    assert!(!talk.logged_in());
    assert_eq!(talk.prompts(), ["password"], "the code prompt never reaches the user: {}", talk.out);
    assert_eq!(w.sms().len(), 1, "yet an SMS went out");
    assert!(w.log().contains("the answer was the login's password"), "{}", w.log());
    assert!(w.smsotp(&["status", USER]).contains("failures in the last 900 s: 0"), "{}", w.smsotp(&["status", USER]));
}

/// The publickey stack honours the module's PAM_IGNORE: a member of
/// `skip_groups` gets in with the key alone, and no SMS is sent.
#[test]
fn sshd_publickey_stack_lets_a_skipped_group_in_with_the_key() {
    require!(Root, Programs(TOOLS), Programs(&["sshd", "ssh", "ssh-keygen"]), PrivateMounts);
    let w = World::new(&format!("[policy]\nskip_groups = [\"{SKIP_GROUP}\"]\n"));
    w.join_skip_group();
    w.install("sshd-publickey-sms", "sshd");
    let sshd = w.sshd("publickey,keyboard-interactive", "");
    let talk =
        w.talk(false, &[see()], &w.ssh(&sshd, true, &["PreferredAuthentications=publickey,keyboard-interactive"], Some(SHELL_COMMAND)));
    assert_eq!(talk.status, 0, "{talk:#?}\n{}", sshd.log_text());
    assert!(talk.logged_in());
    assert!(talk.prompts().is_empty(), "{}", talk.out);
    assert!(w.sms().is_empty());
    assert!(w.log().contains(&format!("user {USER} from 127.0.0.1: not asked for a code (SkipGroup)")));
}

// ---------------------------------------------------------------------------
// sudo

/// smsuser runs sudo (setuid root): its own password, then a code sent to its
/// own number (PAM_USER is the invoking user, not root); the command runs as
/// root. `sudo -i` goes through the sudo-i service, which needs the same lines.
#[test]
fn sudo_right_code_runs_the_command_as_root() {
    require!(Root, Programs(TOOLS), Programs(&["sudo"]), PrivateMounts);
    let w = World::new("");
    w.install("sudo", "sudo");
    w.install("sudo-i", "sudo-i");
    let as_root = "echo SMSOTP-42 uid=$(id -u)";
    let talk = w.talk(true, &[pass(USER_PASSWORD), "code".into(), see()], &w.as_user(USER, &["sudo", "-k", "sh", "-c", as_root]));
    assert_eq!(talk.status, 0, "{talk:#?}\n{}", w.log());
    assert!(talk.out.contains("SMSOTP-42 uid=0"), "{}", talk.out);
    assert!(talk.out.contains(&format!("[sudo] password for {USER}: ")), "{}", talk.out);
    let sms = w.sms();
    assert_eq!(sms.len(), 1);
    assert_eq!(sms[0].0, USER_PHONE, "the invoking user's number, never root's");
    assert!(sms[0].1.contains(&format!(" for {USER}@")));
    let log = w.log();
    assert!(log.contains(&format!("pam_smsotp(sudo:auth): user {USER}: code ")), "{log}");
    assert!(log.contains(&format!("pam_smsotp(sudo:auth): user {USER}: verified by SMS code")), "{log}");

    let talk = w.talk(true, &[pass(USER_PASSWORD), "code".into(), see()], &w.as_user(USER, &["sudo", "-k", "-i", "sh", "-c", as_root]));
    assert_eq!(talk.status, 0, "{talk:#?}");
    assert!(talk.out.contains("SMSOTP-42 uid=0"), "{}", talk.out);
    assert_eq!(w.sms().len(), 2);
    assert!(w.log().contains(&format!("pam_smsotp(sudo-i:auth): user {USER}: verified by SMS code")));
}

/// Wrong codes: refused, the command does not run. sudo calls the stack with
/// PAM_SILENT (sudo < 1.9.16 always does), which forbids messages of their own,
/// so the module puts "Wrong code." in front of the next prompt. A wrong
/// password sends no SMS.
#[test]
fn sudo_wrong_code_is_refused() {
    require!(Root, Programs(TOOLS), Programs(&["sudo"]), PrivateMounts);
    let w = World::new("");
    w.install("sudo", "sudo");
    let talk = w.talk(
        true,
        &[pass(USER_PASSWORD), text("000000"), text("000001"), text("000002")],
        &w.as_user(USER, &["sudo", "-k", "sh", "-c", "echo SMSOTP-42"]),
    );
    assert_eq!(talk.status, 1, "{talk:#?}");
    assert!(!talk.out.contains("\nSMSOTP-42"), "{}", talk.out);
    assert_eq!(talk.prompts(), ["password", "code", "code", "code"]);
    assert!(talk.out.contains("incorrect password attempt"), "{}", talk.out);
    assert!(talk.out.contains("Wrong code. SMS code sent to"), "PAM_SILENT: the message rides on the next prompt: {}", talk.out);
    assert_eq!(w.sms().len(), 1);
    assert!(w.log().contains(&format!("pam_smsotp(sudo:auth): user {USER}: denied, too many wrong codes")));

    let talk = w.talk(true, &[pass("not-the-password")], &w.as_user(USER, &["sudo", "-k", "sh", "-c", "echo SMSOTP-42"]));
    assert_eq!(talk.status, 1, "{talk:#?}");
    assert_eq!(talk.prompts(), ["password"]);
    assert_eq!(w.sms().len(), 1, "no SMS for a wrong password");
}

/// No conversation: `sudo -n` never starts PAM (no SMS); `sudo -S` whose
/// input ends after the password makes the conversation fail at the code
/// prompt: the module returns PAM_CONV_ERR at once (it logs "conversation
/// ended"), nothing hangs, nothing runs.
#[test]
fn sudo_without_a_conversation_fails_fast() {
    require!(Root, Programs(TOOLS), Programs(&["sudo"]), PrivateMounts);
    let w = World::new("");
    w.install("sudo", "sudo");
    let mut cmd = w.in_namespace();
    cmd.args(w.as_user(USER, &["sudo", "-n", "sh", "-c", "echo SMSOTP-42"]));
    let (rc, out) = run(cmd, Duration::from_secs(30));
    assert_eq!(rc, 1, "{out}");
    assert!(out.contains("a password is required"), "{out}");
    assert!(w.sms().is_empty());

    // sudo -S reads the answers from stdin: give the password, then end of file
    let cmd = w.fed_then_eof(USER_PASSWORD, &w.as_user(USER, &["sudo", "-S", "-k", "sh", "-c", "echo SMSOTP-42"]));
    let started = Instant::now();
    let (rc, out) = run(cmd, Duration::from_secs(30));
    assert_eq!(rc, 1, "{out}");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(!out.contains("\nSMSOTP-42"), "{out}");
    assert!(out.contains("SMS code sent to"), "the module did prompt: {out}");
    assert_eq!(w.sms().len(), 1, "the code had gone out before the prompt");
    let log = w.log();
    assert!(log.contains(&format!("pam_smsotp(sudo:auth): user {USER}: conversation ended")), "{log}");
}

// ---------------------------------------------------------------------------
// su

/// smsother runs `su smsuser`: smsuser's password and a code sent to
/// smsuser's number (PAM_USER is the target), then the command runs as smsuser.
#[test]
fn su_right_code_gives_a_shell() {
    require!(Root, Programs(TOOLS), Programs(&["su"]), PrivateMounts);
    let w = World::new("");
    w.install("su", "su");
    let talk = w.talk(true, &[pass(USER_PASSWORD), "code".into(), see()], &w.as_user(OTHER, &["su", USER, "-c", SHELL_COMMAND]));
    assert_eq!(talk.status, 0, "{talk:#?}\n{}", w.log());
    assert!(talk.out.contains(&format!("{SHELL_OUTPUT} {USER}")), "{}", talk.out);
    let sms = w.sms();
    assert_eq!(sms.len(), 1);
    assert_eq!(sms[0].0, USER_PHONE, "the target's number, not the caller's ({OTHER_PHONE})");
    assert!(sms[0].1.contains(&format!(" for {USER}@")));
    let log = w.log();
    assert!(log.contains(&format!("pam_smsotp(su:auth): user {USER}: verified by SMS code")), "{log}");
    assert!(log.contains(&format!("(to {USER}) {OTHER} on")), "su's own log line: {log}");
}

/// Wrong codes: su refuses (after its own failure delay), the command does not run.
#[test]
fn su_wrong_code_is_refused() {
    require!(Root, Programs(TOOLS), Programs(&["su"]), PrivateMounts);
    let w = World::new("");
    w.install("su", "su");
    let talk = w.talk(
        true,
        &[pass(USER_PASSWORD), text("000000"), text("000001"), text("000002")],
        &w.as_user(OTHER, &["su", USER, "-c", SHELL_COMMAND]),
    );
    assert_eq!(talk.status, 1, "{talk:#?}");
    assert!(!talk.logged_in(), "{}", talk.out);
    assert!(talk.out.contains("Wrong code.") && talk.out.contains("Too many wrong codes."), "{}", talk.out);
    assert_eq!(w.sms().len(), 1);
    assert!(w.log().contains(&format!("FAILED SU (to {USER}) {OTHER}")));
}

/// su reading from a pipe that ends after the password: PAM_CONV_ERR, which
/// su reports with pam_strerror ("Conversation error"); no hang.
#[test]
fn su_without_a_conversation_reports_a_conversation_error() {
    require!(Root, Programs(TOOLS), Programs(&["su"]), PrivateMounts);
    let w = World::new("");
    w.install("su", "su");
    let cmd = w.fed_then_eof(USER_PASSWORD, &w.as_user(OTHER, &["su", USER, "-c", SHELL_COMMAND]));
    let started = Instant::now();
    let (rc, out) = run(cmd, Duration::from_secs(30));
    assert_eq!(rc, 1, "{out}");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(out.contains("su: Conversation error"), "PAM_CONV_ERR's text: {out}");
    assert!(!out.contains(&format!("{SHELL_OUTPUT} ")), "{out}");
    assert!(w.log().contains(&format!("pam_smsotp(su:auth): user {USER}: conversation ended")));
}

// ---------------------------------------------------------------------------
// login

/// Console-style login on a pty, started by root: password, code, a shell.
#[test]
fn login_right_code_gives_a_shell() {
    require!(Root, Programs(TOOLS), Programs(&["login"]), PrivateMounts);
    let w = World::new("");
    w.install("login", "login");
    let shell = format!("shell:{SHELL_COMMAND} $HOME; exit");
    let talk = w.talk(true, &[pass(USER_PASSWORD), "code".into(), shell, see()], &s(&["login", USER]));
    assert_eq!(talk.status, 0, "{talk:#?}\n{}", w.log());
    assert!(talk.out.contains(&format!("{SHELL_OUTPUT} {USER} {}", w.path("home").join(USER).display())), "{}", talk.out);
    assert_eq!(w.sms().len(), 1);
    assert_eq!(w.sms()[0].0, USER_PHONE);
    assert!(w.log().contains(&format!("pam_smsotp(login:auth): user {USER}")), "{}", w.log());
}

/// Wrong codes at the console: no shell (login's 3 s pam_faildelay applies).
#[test]
fn login_wrong_code_is_refused() {
    require!(Root, Programs(TOOLS), Programs(&["login"]), PrivateMounts);
    let w = World::new("");
    w.install("login", "login");
    let talk = w.talk(true, &[pass(USER_PASSWORD), text("000000"), text("000001"), text("000002")], &s(&["login", USER]));
    assert!(!talk.logged_in(), "{}", talk.out);
    assert!(talk.out.contains("Too many wrong codes."), "{}", talk.out);
    assert!(!talk.out.contains("$ "), "no shell prompt: {}", talk.out);
    assert_eq!(talk.prompts(), ["password", "code", "code", "code"]);
    assert_eq!(w.sms().len(), 1);
    assert!(w.log().contains(&format!("pam_smsotp(login:auth): user {USER}")), "{}", w.log());
    assert!(w.log().contains("TOO MANY LOGIN TRIES"), "{}", w.log());
}

// ---------------------------------------------------------------------------
// Hostile callers of sudo and su

/// A `#!/bin/sh` command connector, as a site would write one: it delivers the
/// SMS into the spool file (where converse.exp reads the code as the phone
/// would), records its own ids, umask, descriptors and signal dispositions, and
/// takes a second, during which its children hold SMSOTP_* in their environment.
fn hostile_world() -> (World, PathBuf) {
    let setup = Setup::with_connectors("", false);
    let record = setup.path("connector-record");
    let script = setup.path("send-sms");
    write_private(
        &script,
        &format!(
            "#!/bin/sh\n\
             {{ grep -E '^(Uid|Gid|Groups|SigIgn|Umask):' /proc/self/status; echo fds=$(ls /proc/self/fd | tr '\\n' ' '); \
             env | sed -n 's/^\\(SMSOTP_[A-Z]*\\)=.*/var=\\1/p' | sort | tr '\\n' ' '; echo; }} > {record}\n\
             printf '{{\"to\":\"%s\",\"text\":\"%s\"}}\\n' \"$SMSOTP_TO\" \"$SMSOTP_TEXT\" >> {spool}\n\
             sleep 1\n",
            record = record.display(),
            spool = setup.spool.display()
        ),
    );
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
    fs::create_dir_all(setup.spool.parent().unwrap()).unwrap();
    let config =
        setup.config_text() + &format!("\n[[connector]]\nname = \"script\"\ntype = \"command\"\nargv = [\"{}\"]\n", script.display());
    setup.rewrite_config(&config);
    let w = World::with_setup(setup);
    // where the caller's watcher writes what it could read (the caller must be able to write it)
    let loot = w.path("client");
    fs::set_permissions(&loot, fs::Permissions::from_mode(0o777)).unwrap();
    (w, record)
}

/// The caller's side: umask 0777, tiny limits, an open descriptor, SIGCHLD,
/// SIGPIPE, SIGTERM and SIGHUP ignored, a hostile environment, and a watcher
/// that keeps reading every /proc/PID/environ it can for SMSOTP_, as the
/// caller, while the login runs; then the setuid program.
fn as_hostile_caller(w: &World, user: &str, program: &str) -> Vec<String> {
    let loot = w.path("client/loot");
    let script = format!(
        "umask 0777; ulimit -n 32; ulimit -f 64; exec 7</etc/hostname; trap '' CHLD PIPE TERM HUP; \
         export SSL_CERT_FILE=/nonexistent http_proxy=http://127.0.0.1:9 https_proxy=http://127.0.0.1:9 LD_LIBRARY_PATH=/nonexistent \
         PATH=/nonexistent:/usr/bin:/bin IFS=: SHELL=/bin/false TZ=Nowhere; \
         ( i=0; while [ $i -lt 80 ]; do for f in /proc/[0-9]*/environ; do \
         grep -l SMSOTP_ \"$f\" 2>/dev/null; done; sleep 0.05; i=$((i+1)); done > {} ) & \
         exec {program}",
        loot.display()
    );
    w.as_user(user, &["sh", "-c", &script])
}

fn connector_record(record: &Path) -> String {
    fs::read_to_string(record).unwrap_or_else(|e| panic!("the connector did not run: {e}"))
}

fn assert_child_ran_as_root_with_a_clean_slate(record: &str) {
    let line = |key: &str| record.lines().find_map(|l| l.strip_prefix(key)).map(str::trim).unwrap_or_else(|| panic!("{key}: {record}"));
    assert_eq!(line("Uid:").split_whitespace().collect::<Vec<_>>(), ["0"; 4], "real, effective, saved, fs uid: {record}");
    assert_eq!(line("Gid:").split_whitespace().collect::<Vec<_>>(), ["0"; 4], "{record}");
    assert_eq!(line("Umask:"), "0022", "{record}");
    let ignored = u64::from_str_radix(line("SigIgn:"), 16).unwrap() & !0x1_8000_0000;
    assert_eq!(ignored, 0, "no signal ignored: {record}");
    assert_eq!(line("fds="), "0 1 2 3", "{record}");
    assert_eq!(line("var="), "SMSOTP_CODE var=SMSOTP_EXPIRES var=SMSOTP_SEQ var=SMSOTP_TEXT var=SMSOTP_TO var=SMSOTP_USER", "{record}");
}

fn loot(w: &World) -> String {
    fs::read_to_string(w.path("client/loot")).unwrap_or_default()
}

/// smsuser runs sudo from a hostile shell. The command connector's script runs
/// as root with all ids 0 and nothing of the caller's; no process the caller
/// can read holds SMSOTP_; the right code still works (SIGCHLD ignored by the
/// caller does not hide the script's exit), and a wrong one never lets in.
#[test]
fn sudo_hostile_caller_cannot_read_or_skip_the_code() {
    require!(Root, Programs(TOOLS), Programs(&["sudo"]), PrivateMounts);
    let (w, record) = hostile_world();
    w.install("sudo", "sudo");
    let talk = w.talk(
        true,
        &[pass(USER_PASSWORD), "code".into(), see()],
        &as_hostile_caller(&w, USER, "sudo -k sh -c 'echo SMSOTP-$((6*7)) uid=$(id -u)'"),
    );
    assert_eq!(talk.status, 0, "{talk:#?}\n{}", w.log());
    assert!(talk.out.contains("SMSOTP-42 uid=0"), "{}", talk.out);
    assert_child_ran_as_root_with_a_clean_slate(&connector_record(&record));
    assert_eq!(loot(&w), "", "the caller read a process holding the code");
    assert_eq!(w.sms().len(), 1);

    fs::remove_file(&record).unwrap();
    let talk = w.talk(
        true,
        &[pass(USER_PASSWORD), text("000000"), text("000001"), text("000002")],
        &as_hostile_caller(&w, USER, "sudo -k sh -c 'echo SMSOTP-$((6*7))'"),
    );
    assert_eq!(talk.status, 1, "{talk:#?}");
    assert!(!talk.out.contains("\nSMSOTP-42"), "{}", talk.out);
    assert_eq!(loot(&w), "");
    assert_child_ran_as_root_with_a_clean_slate(&connector_record(&record));
}

/// smsother knows smsuser's password and runs `su smsuser` from a hostile
/// shell: the same guarantees, and the code still goes to smsuser's number.
#[test]
fn su_hostile_caller_cannot_read_or_skip_the_code() {
    require!(Root, Programs(TOOLS), Programs(&["su"]), PrivateMounts);
    let (w, record) = hostile_world();
    w.install("su", "su");
    let talk = w.talk(
        true,
        &[pass(USER_PASSWORD), text("000000"), text("000001"), text("000002")],
        &as_hostile_caller(&w, OTHER, &format!("su {USER} -c 'echo SMSOTP-$((6*7))'")),
    );
    assert_eq!(talk.status, 1, "{talk:#?}");
    assert!(!talk.logged_in(), "{}", talk.out);
    assert_eq!(loot(&w), "", "the caller read a process holding the code");
    assert_child_ran_as_root_with_a_clean_slate(&connector_record(&record));
    assert_eq!(w.sms()[0].0, USER_PHONE);

    let talk = w.talk(
        true,
        &[pass(USER_PASSWORD), "code".into(), see()],
        &as_hostile_caller(&w, OTHER, &format!("su {USER} -c '{SHELL_COMMAND}'")),
    );
    assert_eq!(talk.status, 0, "{talk:#?}\n{}", w.log());
    assert!(talk.out.contains(&format!("{SHELL_OUTPUT} {USER}")), "{}", talk.out);
    assert_eq!(loot(&w), "");
}

/// Grace after `su smsuser` is bound to the terminal AND the calling user: the
/// same user on the same (recycled) terminal is let through, another user who
/// knows smsuser's password on that terminal is asked for a code. Every talk
/// gets a fresh devpts instance, so each runs on /dev/pts/0.
#[test]
fn su_grace_is_not_inherited_by_another_user_on_a_recycled_terminal() {
    require!(Root, Programs(TOOLS), Programs(&["su"]), PrivateMounts);
    let w = World::new("[policy]\ngrace = 600\n");
    w.install("su", "su");
    let su = |caller: &str| w.as_user(caller, &["su", USER, "-c", SHELL_COMMAND]);
    let talk = w.talk(true, &[pass(USER_PASSWORD), "code".into(), see()], &su(USER));
    assert_eq!(talk.status, 0, "{talk:#?}\n{}", w.log());
    assert_eq!(w.sms().len(), 1);
    // the same user, the same terminal: grace, no code
    let talk = w.talk(true, &[pass(USER_PASSWORD), see()], &su(USER));
    assert_eq!(talk.status, 0, "{talk:#?}\n{}", w.log());
    assert!(talk.out.contains(&format!("{SHELL_OUTPUT} {USER}")), "{}", talk.out);
    assert_eq!(w.sms().len(), 1, "grace: no SMS");
    // smsother on the recycled terminal, with smsuser's password: asked for a code
    let talk = w.talk(true, &[pass(USER_PASSWORD), text("000000"), text("000001"), text("000002")], &su(OTHER));
    assert_eq!(talk.status, 1, "{talk:#?}");
    assert!(!talk.logged_in(), "{}", talk.out);
    assert_eq!(talk.prompts(), ["password", "code", "code", "code"]);
    assert_eq!(w.sms().len(), 2);
    assert_eq!(w.log().matches("not asked for a code (Grace)").count(), 1, "{}", w.log());
}

/// A client that answers the code prompt with the password (as a script or a
/// mail client that answers every prompt with it would): pam_unix set
/// PAM_AUTHTOK, so the module recognises it, ends the login at once without
/// counting a failure, and sends no more SMS.
#[test]
fn sudo_password_typed_at_the_code_prompt_ends_the_login_without_a_failure() {
    require!(Root, Programs(TOOLS), Programs(&["sudo"]), PrivateMounts);
    let w = World::new("[otp]\nmax_resends = 3\n");
    w.install("sudo", "sudo");
    let talk = w.talk(true, &[pass(USER_PASSWORD), text(USER_PASSWORD)], &w.as_user(USER, &["sudo", "-k", "sh", "-c", "echo SMSOTP-42"]));
    assert_eq!(talk.status, 1, "{talk:#?}");
    assert_eq!(talk.prompts(), ["password", "code"]);
    assert_eq!(w.sms().len(), 1);
    let log = w.log();
    assert!(log.contains("the answer was the login's password"), "{log}");
    assert!(!log.contains(USER_PASSWORD), "{log}");
    let status = w.smsotp(&["status", USER]);
    assert!(status.contains("failures in the last 900 s: 0"), "{status}");
}
