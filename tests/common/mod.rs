//! What the integration tests share. This file: logins through real libpam
//! under pam_wrapper, driven from Rust: a service directory of the test's own,
//! pam_matrix as the password step, the module as built by cargo, and
//! tests/support/pamclient.py as the application. Beside it: `skip` (the
//! `require!` macro), `arch` (where the system keeps its PAM modules),
//! `wrapper` (one pam_wrapper client start at a time),
//! `world`, `syslog` and `sshd` (real sshd, sudo, su
//! and login in a private mount namespace), and the fake peers `gateway`,
//! `kannel` and `slapd`.

// Every test binary compiles all of this and uses only its own part of it.
#![allow(dead_code)]

pub mod arch;
pub mod dlrd;
pub mod gateway;
pub mod kannel;
pub mod redis;
pub mod skip;
pub mod slapd;
pub mod sshd;
pub mod syslog;
pub mod world;
pub mod wrapper;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub const USER: &str = "alice";
pub const PASSWORD: &str = "secret";
pub const PHONE: &str = "+15551234567";

pub const PAM_SUCCESS: i32 = 0;
pub const PAM_SERVICE_ERR: i32 = 3;
pub const PAM_AUTH_ERR: i32 = 7;
pub const PAM_AUTHINFO_UNAVAIL: i32 = 9;
pub const PAM_USER_UNKNOWN: i32 = 10;
pub const PAM_MAXTRIES: i32 = 11;
pub const PAM_CONV_ERR: i32 = 19;
/// The probe stack turns the module's PAM_IGNORE into this (pam_debug auth=incomplete).
pub const IGNORED: i32 = 31;

/// A loopback port nothing listens on (until someone binds it).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port")
}

/// A private (0700) directory for one test, under `test_base()`.
pub fn test_dir() -> tempfile::TempDir {
    let dir = tempfile::Builder::new().prefix("smsotp-").tempdir_in(test_base()).expect("tempdir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).expect("chmod");
    dir
}

/// Where the tests' directories go: cargo's target/tmp, unless a directory
/// above it is not searchable by other users (a checkout under a 0700
/// `mktemp -d`); then /tmp/smsotp-tests. Tests run programs as other users
/// (sshd's and smsotp-dlrd's unprivileged processes, a non-root PAM caller)
/// that must reach the files a test makes readable to them.
pub fn test_base() -> PathBuf {
    let target = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let searchable = target.ancestors().all(|d| std::fs::metadata(d).is_ok_and(|m| m.permissions().mode() & 0o001 != 0));
    if searchable {
        return target.to_path_buf();
    }
    let base = Path::new("/tmp/smsotp-tests");
    // 0711: others may pass through to a test's directory, not list them
    let _ = std::fs::DirBuilder::new().mode(0o711).create(base);
    base.to_path_buf()
}

/// `path`, or when the checkout is not searchable by other users (see
/// `test_base`) a hard link to it (a copy across file systems) in
/// /tmp/smsotp-tests: for a file a process of another user must open (the
/// module, the PAM client script).
pub fn reachable_by_others(path: &Path) -> PathBuf {
    let base = test_base();
    if base == Path::new(env!("CARGO_TARGET_TMPDIR")) {
        return path.to_path_buf();
    }
    use std::os::unix::fs::MetadataExt;
    let source = std::fs::metadata(path).expect("the file to reach");
    let name = path.file_name().expect("a file name").to_string_lossy().into_owned();
    // named after the file's inode and modification time (a link changes its ctime): a rebuilt module gets a new place
    let place = base.join(format!("{}.{}.{}-{name}", source.ino(), source.mtime(), source.mtime_nsec()));
    if place.exists() {
        return place;
    }
    // those of earlier builds, a day old, go (a link keeps its old file's blocks)
    let day_old =
        |e: &std::fs::DirEntry| e.metadata().is_ok_and(|m| m.modified().is_ok_and(|t| t.elapsed().is_ok_and(|a| a.as_secs() > 86_400)));
    for old in std::fs::read_dir(&base).into_iter().flatten().flatten() {
        if old.file_name().to_string_lossy().ends_with(&format!("-{name}")) && day_old(&old) {
            let _ = std::fs::remove_file(old.path());
        }
    }
    // linked (or copied) under a name of this process's, then renamed into place
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let temp = base.join(format!(".{}.{}.{name}", std::process::id(), NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)));
    let _ = std::fs::remove_file(&temp);
    if std::fs::hard_link(path, &temp).is_err() {
        std::fs::copy(path, &temp).expect("copy for other users");
    }
    std::fs::rename(&temp, &place).expect("rename into place");
    place
}

/// The module cargo built for this test run (module/, a dev-dependency, so
/// `cargo test` builds it). `cargo test` refreshes
/// target/<profile>/deps/libpam_smsotp.so but not the copy one level up that
/// `cargo build` makes, so take whichever is newer.
pub fn module_path() -> PathBuf {
    let exe = std::env::current_exe().expect("test exe");
    let deps = exe.parent().expect("deps dir");
    let candidates = [deps.join("libpam_smsotp.so"), deps.parent().expect("target dir").join("libpam_smsotp.so")];
    candidates
        .into_iter()
        .filter_map(|p| Some((std::fs::metadata(&p).ok()?.modified().ok()?, p)))
        .max()
        .map(|(_, p)| reachable_by_others(&p))
        .expect("libpam_smsotp.so is missing: cargo test builds it (module/)")
}

// The admin CLI as the tests run it: `smsotp --config <the setup's config>`,
// with an empty environment.

pub fn smsotp_path() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_smsotp"))
}

/// `smsotp --config CONF ARGS...`: (exit code, stdout then stderr).
pub fn smsotp(s: &Setup, args: &[&str]) -> (i32, String) {
    let out = Command::new(smsotp_path()).arg("--config").arg(&s.config).args(args).env_clear().output().expect("run smsotp");
    (out.status.code().unwrap_or(-1), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

/// As `smsotp`, which must succeed: its output.
pub fn smsotp_ok(s: &Setup, args: &[&str]) -> String {
    let (rc, text) = smsotp(s, args);
    assert_eq!(rc, 0, "smsotp {args:?}: {text}");
    text
}

/// `smsotp backup-codes generate USER --count N`, and the codes it printed.
pub fn backup_codes(s: &Setup, user: &str, n: u32) -> Vec<String> {
    let out = smsotp_ok(s, &["backup-codes", "generate", user, "--count", &n.to_string()]);
    let codes: Vec<String> = out.lines().filter_map(|l| l.trim().split_once(".  ")).map(|(_, c)| c.trim().to_string()).collect();
    assert_eq!(codes.len(), n as usize, "{out}");
    codes
}

pub fn write_private(path: &Path, text: &str) {
    std::fs::write(path, text).expect("write");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
}

/// Which stack the login goes through.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Stack {
    /// pam_matrix password (requisite), then the module, as administrators stack it.
    PasswordThenSms,
    /// The module alone, with its PAM_IGNORE made visible as `IGNORED`.
    Probe,
}

pub struct Setup {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub spool: PathBuf,
    pub phones: PathBuf,
    /// The private `[state].dir` (never the machine's /var/lib/pam_smsotp).
    pub state: PathBuf,
    pub module_args: String,
    pub env: Vec<(String, String)>,
    /// A program (and its arguments) to run the client under, e.g. strace.
    pub prefix: Vec<String>,
    /// Run under pam_wrapper (the default); without it, real libpam reads /etc/pam.d.
    pub use_wrapper: bool,
    /// The module the service files name.
    pub module: PathBuf,
}

#[derive(Clone, Debug)]
pub enum Reply {
    Password,
    /// The code of the newest SMS.
    Code,
    /// The code of the n-th SMS (0 = first).
    CodeNumber(usize),
    /// The code of the newest SMS to this user carrying the tag the prompt shows
    /// ("Code [AB]: " and "... for USER [AB]"), for logins running side by side.
    TaggedCode,
    Text(String),
    /// As `Text`, once the test's `texts` function (which may wait for something) has returned.
    TextAfterTexts(String),
    /// Break the conversation.
    Fail,
    /// The code of the newest SMS, typed after this long (the code may expire meanwhile).
    SlowCode(Duration),
}

pub fn text(s: &str) -> Reply {
    Reply::Text(s.to_string())
}

#[derive(Debug)]
pub struct Outcome {
    pub rc: i32,
    pub setcred: Option<i32>,
    /// Threads in the client process after pam_authenticate (the client has one).
    pub threads: i64,
    /// (style, text) of every conversation message: 1/2 prompts, 3 error, 4 info.
    pub messages: Vec<(i32, String)>,
    /// What the module logged through pam_syslog (pam_wrapper prints it).
    pub log: String,
    pub elapsed: Duration,
}

impl Outcome {
    pub fn prompts(&self) -> Vec<String> {
        self.messages.iter().filter(|(s, _)| *s == 1 || *s == 2).map(|(_, m)| m.clone()).collect()
    }
    pub fn shown(&self) -> Vec<String> {
        self.messages.iter().filter(|(s, _)| *s == 3 || *s == 4).map(|(_, m)| m.clone()).collect()
    }
}

impl Setup {
    /// A config with a phone map holding alice and `extra` (sections and
    /// `[[connector]]`s), then the spool connector last.
    pub fn new(extra: &str) -> Setup {
        Setup::with_connectors(extra, true)
    }

    /// As `new`, with or without the spool connector at the end.
    pub fn with_connectors(extra: &str, with_spool: bool) -> Setup {
        let dir = test_dir();
        let p = dir.path();
        let config = p.join("pam_smsotp.toml");
        let spool = p.join("spool/outbox.jsonl");
        let phones = p.join("phones");
        write_private(&phones, &format!("# test map\n{USER}  {PHONE}\nbob +44 7700 900123\nbroken\ncarol 12345\n"));
        let spool_section = if with_spool {
            format!("[[connector]]\nname = \"spool\"\ntype = \"spool\"\npath = \"{}\"\n", spool.display())
        } else {
            String::new()
        };
        let state = p.join("state");
        let mut base = String::new();
        if !extra.contains("[limits]") {
            // tests log in many times in a row; the limits have tests of their own
            base.push_str("[limits]\nresend_cooldown = 0\nmax_sends_per_hour = 1000\n\n");
        }
        if !extra.contains("[state]") {
            base.push_str(&format!("[state]\ndir = \"{}\"\n\n", state.display()));
        }
        let text = format!(
            "[message]\ntemplate = \"Code {{code}} for {{user}}@{{host}}\"\n\n{base}[[directory]]\ntype = \"file\"\npath = \"{}\"\n\n{extra}\n{spool_section}",
            phones.display()
        );
        write_private(&config, &text);
        write_private(
            &p.join("passdb"),
            &format!(
                "{USER}:{PASSWORD}:smsotp-test\nbob:{PASSWORD}:smsotp-test\ncarol:{PASSWORD}:smsotp-test\nmallory:{PASSWORD}:smsotp-test\n"
            ),
        );
        let setup = Setup {
            dir,
            config,
            spool,
            phones,
            state,
            module_args: "debug".into(),
            env: Vec::new(),
            prefix: Vec::new(),
            use_wrapper: true,
            module: module_path(),
        };
        setup.write_services();
        setup
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn write_services(&self) {
        let p = self.dir.path();
        let module = &self.module;
        let args = format!("config={} {}", self.config.display(), self.module_args);
        let (matrix, security) = (arch::pam_wrapper_modules().join("pam_matrix.so"), arch::security_dir());
        let security = security.display();
        let password = format!(
            "auth requisite {} passdb={}\nauth required {} {args}\naccount required {security}/pam_permit.so\n",
            matrix.display(),
            p.join("passdb").display(),
            module.display()
        );
        std::fs::write(p.join("smsotp-test"), password).expect("service");
        let probe = format!(
            "auth [success=done ignore=1 default=die] {} {args}\nauth requisite {security}/pam_deny.so\nauth required {security}/pam_debug.so auth=incomplete\n",
            module.display()
        );
        std::fs::write(p.join("smsotp-probe"), probe).expect("service");
        std::fs::write(p.join("other"), format!("auth required {security}/pam_deny.so\naccount required {security}/pam_deny.so\n"))
            .expect("other");
    }

    pub fn set_module_args(&mut self, args: &str) {
        self.module_args = args.to_string();
        self.write_services();
    }

    pub fn rewrite_config(&self, text: &str) {
        write_private(&self.config, text);
    }

    pub fn config_text(&self) -> String {
        std::fs::read_to_string(&self.config).expect("config")
    }

    /// (to, text) of every SMS in the spool, in order.
    pub fn spool_messages(&self) -> Vec<(String, String)> {
        std::fs::read_to_string(&self.spool)
            .unwrap_or_default()
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).expect("spool line is JSON");
                (v["to"].as_str().expect("to").to_string(), v["text"].as_str().expect("text").to_string())
            })
            .collect()
    }

    /// Texts of every SMS in the spool.
    pub fn spool_texts(&self) -> Vec<String> {
        self.spool_messages().into_iter().map(|(_, text)| text).collect()
    }

    /// The numbers the spool received, in order.
    pub fn spool_numbers(&self) -> Vec<String> {
        self.spool_messages().into_iter().map(|(to, _)| to).collect()
    }

    /// `[state].dir`/u-USER.json: the user's state file.
    pub fn state_file(&self, user: &str) -> PathBuf {
        self.state.join(format!("u-{user}.json"))
    }

    /// The user's state file, parsed.
    pub fn state_json(&self, user: &str) -> serde_json::Value {
        let path = self.state_file(user);
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// Run the client under strace, tracing every clone, fork and vfork into
    /// the returned file (empty when the login started no thread or process).
    pub fn trace_clones(&mut self) -> PathBuf {
        let trace = self.path("clone.trace");
        self.prefix = ["strace", "-f", "-qq", "-e", "trace=clone,clone3,fork,vfork", "-o"]
            .iter()
            .map(|a| a.to_string())
            .chain([trace.display().to_string()])
            .collect();
        trace
    }

    pub fn login(&self, stack: Stack, script: &[Reply]) -> Outcome {
        self.login_as(USER, stack, script, &[], |s| s.spool_texts())
    }

    /// The libpam client (tests/support/pamclient.py) for one login as `user`,
    /// under pam_wrapper with this setup's services; stdio not yet set.
    pub fn client_command(&self, user: &str, stack: Stack, extra_args: &[&str]) -> Command {
        let service = match stack {
            Stack::PasswordThenSms => "smsotp-test",
            Stack::Probe => "smsotp-probe",
        };
        let client = reachable_by_others(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/pamclient.py"));
        let python = if Path::new("/usr/bin/python3").exists() { "/usr/bin/python3" } else { "python3" };
        // pam_wrapper is preloaded into the client alone: in a prefix (strace,
        // unshare, sh) its constructor would set up a /tmp/pam.X of its own
        let mut client_args: Vec<String> = Vec::new();
        if self.use_wrapper {
            client_args.push("/usr/bin/env".into());
            client_args.extend([
                "LD_PRELOAD=libpam_wrapper.so".to_string(),
                "PAM_WRAPPER=1".into(),
                format!("PAM_WRAPPER_SERVICE_DIR={}", self.dir.path().display()),
                "PAM_WRAPPER_DEBUGLEVEL=3".into(),
            ]);
            // a test's own settings (a service directory of its own) win
            client_args.extend(self.env.iter().map(|(k, v)| format!("{k}={v}")));
        }
        client_args.push(python.into());
        let mut args = self.prefix.iter().cloned().chain(client_args);
        let mut cmd = Command::new(args.next().expect("a program"));
        cmd.args(args).arg(client).args(["--service", service, "--user", user]).args(extra_args);
        cmd.env_clear().env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin");
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    /// Log in as `user`; `texts` lists the SMS texts received so far (spool,
    /// fake gateway, Kannel...), read when the script asks for a code.
    pub fn login_as(
        &self,
        user: &str,
        stack: Stack,
        script: &[Reply],
        extra_args: &[&str],
        texts: impl Fn(&Setup) -> Vec<String>,
    ) -> Outcome {
        let mut cmd = self.client_command(user, stack, extra_args);
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        // one client start at a time (see wrapper.rs); the login's time
        // starts once its pam_wrapper directory is set up
        let mut child = wrapper::spawn(&mut cmd);
        let started = Instant::now();
        let mut stdin = child.stdin.take().expect("stdin");
        let stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut stderr = child.stderr.take().expect("stderr");
        let err_reader = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = stderr.read_to_string(&mut s);
            s
        });
        let mut script = script.iter().cloned();
        let mut messages = Vec::new();
        let mut rc = None;
        let mut setcred = None;
        let mut threads = 0;
        for line in stdout.lines() {
            let line = line.expect("read");
            let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(|_| panic!("bad client line {line}"));
            if let Some(code) = v.get("rc") {
                rc = code.as_i64().map(|c| c as i32);
                setcred = v.get("setcred").and_then(|s| s.as_i64()).map(|c| c as i32);
                threads = v.get("threads").and_then(|t| t.as_i64()).unwrap_or(0);
                break;
            }
            let style = v["style"].as_i64().unwrap_or(0) as i32;
            let msg = v["msg"].as_str().unwrap_or("").to_string();
            messages.push((style, msg.clone()));
            if style == 1 || style == 2 {
                let reply = match script.next() {
                    None | Some(Reply::Fail) => serde_json::json!({"fail": true}),
                    Some(Reply::Password) => serde_json::json!({"answer": PASSWORD}),
                    Some(Reply::Text(t)) => serde_json::json!({"answer": t}),
                    Some(Reply::TextAfterTexts(t)) => {
                        let _ = texts(self);
                        serde_json::json!({"answer": t})
                    }
                    Some(Reply::Code) => match texts(self).last() {
                        Some(last) => serde_json::json!({"answer": code_in(last)}),
                        // no SMS arrived: break the conversation; the test's assertions show the log
                        None => serde_json::json!({"fail": true}),
                    },
                    Some(Reply::TaggedCode) => {
                        let tag = msg.split_once('[').and_then(|(_, r)| r.split_once(']')).map(|(t, _)| t.to_string()).unwrap_or_default();
                        let mine = texts(self).into_iter().rev().find(|t| t.contains(&format!(" for {user} [{tag}]")));
                        match mine {
                            Some(t) => serde_json::json!({"answer": code_in(&t)}),
                            None => serde_json::json!({"fail": true}),
                        }
                    }
                    Some(Reply::SlowCode(wait)) => {
                        std::thread::sleep(wait);
                        match texts(self).last() {
                            Some(last) => serde_json::json!({"answer": code_in(last)}),
                            None => serde_json::json!({"fail": true}),
                        }
                    }
                    Some(Reply::CodeNumber(n)) => {
                        let all = texts(self);
                        serde_json::json!({"answer": code_in(&all[n])})
                    }
                };
                let _ = writeln!(stdin, "{reply}");
                let _ = stdin.flush();
            }
        }
        drop(stdin);
        let _ = child.wait();
        let stderr = err_reader.join().unwrap_or_default();
        // keep the module's pam_syslog lines, drop pam_wrapper's own tracing
        let log: String = stderr.lines().filter(|l| l.contains("SYSLOG(")).map(|l| format!("{l}\n")).collect();
        let rc = rc.unwrap_or_else(|| panic!("the client gave no return code; stderr:\n{stderr}"));
        Outcome { rc, setcred, threads, messages, log, elapsed: started.elapsed() }
    }
}

/// The code in "Code 123456 for alice@host".
pub fn code_in(text: &str) -> String {
    text.split_whitespace().nth(1).unwrap_or_else(|| panic!("no code in {text:?}")).to_string()
}

/// The number, the secrets and every code must not be in `haystack`.
pub fn assert_no_secrets(haystack: &str, codes: &[String], secrets: &[&str]) {
    for needle in [PHONE, &PHONE[1..], "5551234567"] {
        assert!(!haystack.contains(needle), "the full number {needle} leaked:\n{haystack}");
    }
    for c in codes {
        assert!(!haystack.contains(c.as_str()), "the code {c} leaked:\n{haystack}");
    }
    for s in secrets {
        assert!(!haystack.contains(s), "the secret {s} leaked:\n{haystack}");
    }
}
