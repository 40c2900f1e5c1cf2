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
    f(&Sms { to: &to, text: TEXT, code: "424242" })
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
    assert_eq!(sorted, vec!["PATH", "SMSOTP_TEXT", "SMSOTP_TO"], "{env}");
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
    assert!(e.to_string().contains("cannot run /nonexistent/send-sms"), "{e}");
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
    require_pam_env!();
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
