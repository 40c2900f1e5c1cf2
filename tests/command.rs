//! The `command` connector, and failover across a mixed list of connectors.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::gateway::{Gateway, Mode};
use common::*;
use pam_smsotp::auth::{Sender, Sms};
use pam_smsotp::config::Config;
use pam_smsotp::connector::{Chain, DeliveryError};
use pam_smsotp::log::MemoryLog;
use pam_smsotp::phone::Phone;

const TEXT: &str = "Code 424242 for alice; it's \"quoted\" & $HOME";

fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

fn command_connector(name: &str, argv: &[&str], timeout: u64) -> String {
    let argv: Vec<String> = argv.iter().map(|a| format!("{a:?}")).collect();
    format!("[[connector]]\nname = \"{name}\"\ntype = \"command\"\nargv = [{}]\ntimeout = {timeout}\n", argv.join(", "))
}

fn chain(toml: &str) -> Chain {
    Chain::from_config(&Config::parse(toml).unwrap_or_else(|e| panic!("{e}\n{toml}")))
}

fn with_sms<T>(f: impl FnOnce(&Sms<'_>) -> T) -> T {
    let to = Phone::normalise(PHONE, "").unwrap();
    f(&Sms { to: &to, text: TEXT, code: "424242", seq: "AB", expires: 1_700_000_300, user: "alice" })
}

#[test]
fn number_and_text_arrive_in_a_clean_environment() {
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("record");
    let s = script(
        dir.path(),
        "send-sms",
        &format!("env > {0}.env; echo \"$@\" > {0}.args; cat > {0}.stdin; pwd > {0}.cwd; echo queued id 77", record.display()),
    );
    let c = chain(&command_connector("script", &[s.to_str().unwrap(), "--flag"], 5));
    let d = with_sms(|sms| Chain::try_one(&c.connectors[0], sms, Duration::from_secs(5))).unwrap();
    assert_eq!(d.answer, "exit 0: queued id 77");
    let env = std::fs::read_to_string(format!("{}.env", record.display())).unwrap();
    let vars: Vec<&str> =
        env.lines().map(|l| l.split('=').next().unwrap()).filter(|v| !["PWD", "SHLVL", "_", "OLDPWD"].contains(v)).collect();
    let mut sorted = vars.clone();
    sorted.sort();
    assert_eq!(sorted, vec!["PATH", "SMSOTP_CODE", "SMSOTP_EXPIRES", "SMSOTP_SEQ", "SMSOTP_TEXT", "SMSOTP_TO", "SMSOTP_USER"], "{env}");
    for var in ["SMSOTP_CODE=424242", "SMSOTP_SEQ=AB", "SMSOTP_EXPIRES=1700000300", "SMSOTP_USER=alice"] {
        assert!(env.lines().any(|l| l == var), "{var}: {env}");
    }
    assert!(env.contains(&format!("SMSOTP_TO={PHONE}")), "{env}");
    assert!(env.contains(&format!("SMSOTP_TEXT={TEXT}")), "{env}");
    let args = std::fs::read_to_string(format!("{}.args", record.display())).unwrap();
    assert_eq!(args.trim(), "--flag", "neither number nor text on the command line");
    assert_eq!(std::fs::read_to_string(format!("{}.stdin", record.display())).unwrap(), "", "stdin is empty and closed");
    assert_eq!(std::fs::read_to_string(format!("{}.cwd", record.display())).unwrap().trim(), "/");
}

#[test]
fn a_hanging_command_is_killed_at_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("pid");
    // a script whose child would outlive it if only the script were killed
    let s = script(dir.path(), "hang", &format!("sleep 60 & echo $! > {}; wait", pidfile.display()));
    let c = chain(&command_connector("hang", &[s.to_str().unwrap()], 1));
    let started = Instant::now();
    let e = with_sms(|sms| Chain::try_one(&c.connectors[0], sms, Duration::from_secs(30))).unwrap_err();
    assert_eq!(e, DeliveryError::Timeout);
    assert!(started.elapsed() < Duration::from_secs(3), "took {:?}", started.elapsed());
    let pid = std::fs::read_to_string(&pidfile).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    // gone, or a zombie waiting for init to reap it: either way no longer running
    let state = std::fs::read_to_string(format!("/proc/{}/stat", pid.trim())).unwrap_or_default();
    let state = state.rsplit(')').next().unwrap_or("").split_whitespace().next().unwrap_or("gone").to_string();
    assert!(state == "gone" || state == "Z", "the command's child still runs (state {state})");
    // the login's budget also bounds it
    let c = chain(&command_connector("hang", &[s.to_str().unwrap()], 60));
    let started = Instant::now();
    let e = with_sms(|sms| Chain::try_one(&c.connectors[0], sms, Duration::from_millis(500))).unwrap_err();
    assert_eq!(e, DeliveryError::Timeout);
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[test]
fn a_failing_command_triggers_failover() {
    let dir = tempfile::tempdir().unwrap();
    let fail = script(dir.path(), "fail", "echo \"modem busy for $SMSOTP_TO: $SMSOTP_TEXT\" >&2; exit 3");
    let ok = script(dir.path(), "ok", "exit 0");
    let c = chain(&(command_connector("first", &[fail.to_str().unwrap()], 5) + &command_connector("second", &[ok.to_str().unwrap()], 5)));
    let log = MemoryLog::default();
    let receipt = with_sms(|sms| c.send(sms, Duration::from_secs(10), &log)).unwrap();
    assert_eq!(receipt.connector, "second");
    let lines = log.lines().join("\n");
    assert!(
        lines.contains("connector first: the gateway refused the message:")
            && lines.contains("exit 3: modem busy for [redacted]: [redacted]"),
        "{lines}"
    );
    let missing = chain(&command_connector("gone", &["/nonexistent/send-sms"], 5));
    let e = with_sms(|sms| Chain::try_one(&missing.connectors[0], sms, Duration::from_secs(5))).unwrap_err();
    assert!(e.to_string().contains("cannot open /nonexistent/send-sms"), "{e}");
}

/// twilio (down), then kannel (refuses), then a command: each is tried, in order.
#[test]
fn failover_across_a_mixed_list() {
    let dir = tempfile::tempdir().unwrap();
    let twilio = Gateway::start(Mode::json(503, r#"{"code":20503,"message":"Service Unavailable","status":503}"#));
    let kannel = Gateway::start(Mode::text(403, "Authorization failed for sendsms"));
    let marker = dir.path().join("sent");
    let ok = script(dir.path(), "ok", &format!("echo \"$SMSOTP_TO\" > {}", marker.display()));
    let toml = format!(
        "[[connector]]\nname = \"tw\"\ntype = \"twilio\"\nbase_url = \"{}\"\naccount_sid = \"AC1\"\nauth_token = \"t\"\nfrom = \"+15550001111\"\n\
         [[connector]]\nname = \"kn\"\ntype = \"kannel\"\nbase_url = \"{}\"\nusername = \"u\"\npassword = \"p\"\n{}",
        twilio.url(""),
        kannel.url(""),
        command_connector("cmd", &[ok.to_str().unwrap()], 5)
    );
    let c = chain(&toml);
    let log = MemoryLog::default();
    let receipt = with_sms(|sms| c.send(sms, Duration::from_secs(10), &log)).unwrap();
    assert_eq!(receipt.connector, "cmd");
    assert_eq!(twilio.requests().len(), 1);
    assert_eq!(kannel.requests().len(), 1);
    assert_eq!(std::fs::read_to_string(&marker).unwrap().trim(), PHONE);
    let lines = log.lines().join("\n");
    assert!(lines.contains("connector tw: HTTP status 503: 20503 Service Unavailable"), "{lines}");
    assert!(lines.contains("connector kn: HTTP status 403: Authorization failed for sendsms"), "{lines}");
}

/// Through real libpam: a hanging command cannot hold the login past its timeout.
#[test]
fn a_login_with_a_hanging_command_ends() {
    require!(Root, PamWrapper);
    let s = Setup::with_connectors("", true);
    let hang = script(s.dir.path(), "hang", "exec sleep 60");
    let text = s.config_text().replace(
        "[[connector]]\nname = \"spool\"",
        &format!("{}\n[[connector]]\nname = \"spool\"", command_connector("hang", &[hang.to_str().unwrap()], 2)),
    );
    s.rewrite_config(&text);
    let out = s.login(Stack::Probe, &[Reply::Code]);
    assert_eq!(out.rc, PAM_SUCCESS, "failover to the spool: {out:?}");
    assert!(out.log.contains("connector hang: timed out"), "{}", out.log);
    assert!(out.elapsed < Duration::from_secs(5), "{:?}", out.elapsed);
}

/// Through real libpam, in a host whose SIGPIPE is at its default (death): a
/// SIGPIPE raised while the module works (here sent by the connector itself to
/// the host) never reaches the host; the login goes on to its normal answer.
#[test]
fn no_sigpipe_reaches_the_host() {
    require!(Root, PamWrapper);
    let s = Setup::with_connectors("", true);
    let pipe = script(s.dir.path(), "pipe", "kill -PIPE $PPID; exit 1");
    let text = s.config_text().replace(
        "[[connector]]\nname = \"spool\"",
        &format!("{}\n[[connector]]\nname = \"spool\"", command_connector("pipe", &[pipe.to_str().unwrap()], 2)),
    );
    s.rewrite_config(&text);
    let out = s.login_as(USER, Stack::Probe, &[Reply::Code], &["--sigpipe-default"], |s| s.spool_texts());
    assert_eq!(out.rc, PAM_SUCCESS, "the host survived and the spool took the code: {out:?}");
    assert!(out.log.contains("connector pipe: the gateway refused the message"), "{}", out.log);
}

/// What a script sees of itself: ids, groups, umask, signal dispositions, open
/// descriptors and limits, written to `<record>` as `key=value` lines.
fn introspect(record: &Path) -> String {
    format!(
        "{{ grep -E '^(Uid|Gid|Groups|SigIgn|Umask):' /proc/self/status; \
         echo fds=$(ls /proc/self/fd | tr '\\n' ' '); \
         echo nofile=$(ulimit -n); echo fsize=$(ulimit -f); echo cpu=$(ulimit -t); \
         }} > {}",
        record.display()
    )
}

fn field<'a>(record: &'a str, key: &str) -> &'a str {
    record.lines().find_map(|l| l.strip_prefix(key)).map(str::trim).unwrap_or_else(|| panic!("{key} missing in {record}"))
}

#[test]
fn the_program_runs_as_the_configured_user_with_its_groups_only() {
    require!(Root);
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let record = dir.path().join("record");
    std::fs::write(&record, "").unwrap();
    std::fs::set_permissions(&record, std::fs::Permissions::from_mode(0o666)).unwrap();
    let s = script(dir.path(), "whoami", &introspect(&record));
    let toml = command_connector("as-nobody", &[s.to_str().unwrap()], 5) + "user = \"nobody\"\n";
    let c = chain(&toml);
    with_sms(|sms| Chain::try_one(&c.connectors[0], sms, Duration::from_secs(5))).unwrap();
    let seen = std::fs::read_to_string(&record).unwrap();
    let nobody = nix::unistd::User::from_name("nobody").unwrap().unwrap();
    let (uid, gid) = (nobody.uid.as_raw().to_string(), nobody.gid.as_raw().to_string());
    assert_eq!(field(&seen, "Uid:").split_whitespace().collect::<Vec<_>>(), vec![uid.as_str(); 4], "{seen}");
    assert_eq!(field(&seen, "Gid:").split_whitespace().collect::<Vec<_>>(), vec![gid.as_str(); 4], "{seen}");
    assert!(field(&seen, "Groups:").split_whitespace().all(|g| g == gid), "nobody's groups only: {seen}");
}

#[test]
fn a_caller_s_umask_rlimits_fds_and_ignored_signals_do_not_reach_the_program() {
    require!(Root);
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("record");
    let s = script(dir.path(), "whoami", &introspect(&record));
    // The hostile caller's state is set up in a child process of the test (a
    // helper binary would do the same): umask 0777, tiny limits, an inherited
    // fd, SIGTERM/SIGHUP/SIGCHLD ignored. `smsotp send-test` then runs the
    // connector inside that process.
    let config = dir.path().join("config.toml");
    common::write_private(&config, &command_connector("script", &[s.to_str().unwrap()], 5));
    let shell = format!(
        "umask 0777; ulimit -S -n 64; ulimit -S -f 8; ulimit -S -t 5; exec 7</etc/hostname; trap '' TERM HUP CHLD; \
         exec {} --config {} send-test --to +15551234567",
        common::smsotp_path().display(),
        config.display()
    );
    let out = std::process::Command::new("/bin/bash").args(["-c", &shell]).output().unwrap();
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let seen = std::fs::read_to_string(&record).unwrap();
    assert_eq!(field(&seen, "Umask:"), "0022", "{seen}");
    // the C library's own reserved real-time signals (32, 33) are not ours to set
    let ignored = u64::from_str_radix(field(&seen, "SigIgn:"), 16).unwrap() & !0x1_8000_0000;
    assert_eq!(ignored, 0, "no signal ignored: {seen}");
    assert_eq!(field(&seen, "fds="), "0 1 2 3", "stdin, stdout, stderr and ls's own: {seen}");
    assert_eq!(field(&seen, "fsize="), "unlimited", "{seen}");
    assert_eq!(field(&seen, "cpu="), "unlimited", "{seen}");
    assert!(field(&seen, "nofile=").parse::<u64>().unwrap() >= 1024, "{seen}");
    let mode = std::fs::metadata(&record).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o644, "the program's umask is 022, not the caller's 0777");
}

#[test]
fn a_chatty_program_does_not_stall_and_its_output_is_capped() {
    let dir = tempfile::tempdir().unwrap();
    let s = script(dir.path(), "chatty", "head -c 300000 /dev/zero | tr '\\0' x; head -c 100000 /dev/zero | tr '\\0' y >&2; exit 0");
    let c = chain(&command_connector("chatty", &[s.to_str().unwrap()], 5));
    let started = Instant::now();
    let d = with_sms(|sms| Chain::try_one(&c.connectors[0], sms, Duration::from_secs(5))).unwrap();
    assert!(started.elapsed() < Duration::from_secs(3), "took {:?}", started.elapsed());
    assert!(d.answer.starts_with("exit 0: xxx") && d.answer.len() < 300, "{}", d.answer);
}

#[test]
fn a_background_child_holding_the_output_does_not_hold_the_login() {
    let dir = tempfile::tempdir().unwrap();
    let s = script(dir.path(), "detach", "sleep 30 & echo queued; exit 0");
    let c = chain(&command_connector("detach", &[s.to_str().unwrap()], 10));
    let started = Instant::now();
    let d = with_sms(|sms| Chain::try_one(&c.connectors[0], sms, Duration::from_secs(10))).unwrap();
    assert!(started.elapsed() < Duration::from_secs(2), "took {:?}", started.elapsed());
    assert_eq!(d.answer, "exit 0: queued");
}

#[test]
fn a_program_others_could_change_is_refused() {
    require!(Root);
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("ran");
    let s = script(dir.path(), "writable", &format!("touch {}", marker.display()));
    std::fs::set_permissions(&s, std::fs::Permissions::from_mode(0o777)).unwrap();
    let c = chain(&command_connector("w", &[s.to_str().unwrap()], 5));
    let e = with_sms(|sms| Chain::try_one(&c.connectors[0], sms, Duration::from_secs(5))).unwrap_err();
    assert!(e.to_string().contains("lets group or others write it"), "{e}");
    std::fs::set_permissions(&s, std::fs::Permissions::from_mode(0o755)).unwrap();
    nix::unistd::chown(&s, Some(nix::unistd::Uid::from_raw(65534)), None).unwrap();
    let e = with_sms(|sms| Chain::try_one(&c.connectors[0], sms, Duration::from_secs(5))).unwrap_err();
    assert!(e.to_string().contains("not root"), "{e}");
    assert!(!marker.exists(), "the program never ran");
}
