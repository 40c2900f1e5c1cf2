//! The private world of a real login: sshd, sudo, su and login, each using a
//! PAM stack from conf/pam.d/ verbatim and the module cargo built, run in a
//! private mount namespace (tests/support/login-ns.sh) in which the test's own
//! copies are bound over /etc/pam.d, /etc/passwd, /etc/shadow, /etc/group,
//! /etc/sudoers and /var/log/{wtmp,btmp,lastlog}; /run is a tmpfs (with
//! /run/sshd) and /dev a small private one whose /dev/log is a datagram socket
//! of the test's (`Syslog`). The copies add a test user `smsuser` (and
//! `smsother`, for su) with a known password, a home inside the test's
//! directory under target/tmp, and shell /bin/sh. Conversations run on a pty
//! through expect (tests/support/converse.exp), which answers each prompt in
//! turn with a step (`pass`, `text`, `see`, "code"...) and reads the code from
//! the spool connector's file, as a person reads the SMS.

use std::fs::{self, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::syslog::Syslog;
use super::{Setup, backup_codes, smsotp_ok, write_private};

/// expect's script and the namespace's setup script.
pub const SUPPORT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support");
/// The stacks and sshd settings the package installs, used verbatim.
pub const CONF: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/conf");

pub const USER: &str = "smsuser";
pub const USER_PASSWORD: &str = "Sms-user-pw1";
pub const USER_PHONE: &str = "+15551234567";
/// Calls `su smsuser`: the code must go to smsuser's number, not this one.
pub const OTHER: &str = "smsother";
pub const OTHER_PASSWORD: &str = "Sms-other-pw2";
pub const OTHER_PHONE: &str = "+447700900123";
/// sudo's target: the code must never go to root's number.
pub const ROOT_PHONE: &str = "+33612345678";
/// A group whose members the module skips (`[policy] skip_groups`).
pub const SKIP_GROUP: &str = "smsskip";

/// What a successful login's command prints; the shell computes it, so a
/// command line merely echoed back on the pty never matches.
pub const SHELL_COMMAND: &str = "echo SMSOTP-$((6*7)) $(id -un)";
pub const SHELL_OUTPUT: &str = "SMSOTP-42";

/// The programs every world needs (with `Need::Root` and `Need::PrivateMounts`).
pub const TOOLS: &[&str] = &["unshare", "expect", "setpriv", "openssl"];

/// Free uid/gid numbers for the test users (the same in every test: each has
/// its own copy of /etc/passwd).
pub fn free_ids() -> (u32, u32, u32) {
    static IDS: OnceLock<(u32, u32, u32)> = OnceLock::new();
    *IDS.get_or_init(|| {
        let used = |file: &str| -> Vec<u32> {
            fs::read_to_string(file).unwrap_or_default().lines().filter_map(|l| l.split(':').nth(2)?.parse().ok()).collect()
        };
        let (users, groups) = (used("/etc/passwd"), used("/etc/group"));
        let free = |n: u32| !users.contains(&n) && !groups.contains(&n);
        let first = (61001..65000).find(|&n| free(n) && free(n + 1) && free(n + 2)).expect("three free ids");
        (first, first + 1, first + 2)
    })
}

pub fn password_hash(password: &str) -> String {
    let out =
        Command::new("openssl").args(["passwd", "-6", "-stdin"]).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().and_then(|mut c| {
            c.stdin.take().unwrap().write_all(format!("{password}\n").as_bytes())?;
            c.wait_with_output()
        });
    let out = out.expect("openssl passwd");
    assert!(out.status.success(), "openssl passwd failed");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// One conversation driven by tests/support/converse.exp.
#[derive(Debug)]
pub struct Talk {
    /// The exit status of the program (ssh, sudo, su, login), or expect's own
    /// 90 (unexpected prompt), 91 (timeout), 92 (no SMS to read).
    pub status: i32,
    /// What the pty showed, with expect's markers.
    pub out: String,
}

impl Talk {
    /// Milliseconds from the spawn to the first marker starting with `what`.
    pub fn at(&self, what: &str) -> Option<u64> {
        self.out.lines().filter_map(|l| l.strip_prefix("SMSOTP-T ")).find_map(|l| {
            let (ms, event) = l.split_once(' ')?;
            event.starts_with(what).then(|| ms.parse().ok()).flatten()
        })
    }
    pub fn prompts(&self) -> Vec<&str> {
        self.out.lines().filter_map(|l| l.strip_prefix("SMSOTP-PROMPT ")).collect()
    }
    pub fn logged_in(&self) -> bool {
        self.out.lines().any(|l| l.starts_with(SHELL_OUTPUT) && !l.contains("$(("))
    }
}

/// Run `cmd`, killing it if it outlives `limit`; (status, stdout + stderr).
pub fn run(mut cmd: Command, limit: Duration) -> (i32, String) {
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("start {cmd:?}: {e}"));
    let readers: Vec<_> = [
        child.stdout.take().map(|s| Box::new(s) as Box<dyn Read + Send>),
        child.stderr.take().map(|s| Box::new(s) as Box<dyn Read + Send>),
    ]
    .into_iter()
    .flatten()
    .map(|mut r| {
        std::thread::spawn(move || {
            let mut s = Vec::new();
            let _ = r.read_to_end(&mut s);
            String::from_utf8_lossy(&s).into_owned()
        })
    })
    .collect();
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} did not finish within {limit:?}: it hangs");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let out: String = readers.into_iter().map(|r| r.join().unwrap()).collect();
    (status.code().unwrap_or(-1), out)
}

/// One test's world: its module setup, its copies of /etc and its log socket.
pub struct World {
    pub setup: Setup,
    /// Holds etc/, var/ and log.sock: what login-ns.sh binds over the machine's.
    pub root: PathBuf,
    syslog: Syslog,
    pub uid: u32,
    pub other_uid: u32,
}

impl World {
    /// A test directory with the module's config (spool connector; `extra`
    /// adds sections), a phone map, and the namespace's copies of /etc.
    pub fn new(extra: &str) -> World {
        World::with_setup(Setup::new(extra))
    }

    /// As `new`, with the configuration `setup` already holds.
    pub fn with_setup(setup: Setup) -> World {
        let t = setup.dir.path().to_path_buf();
        // the test users must reach their home and the shell their cwd; every file in it stays private
        fs::set_permissions(&t, fs::Permissions::from_mode(0o711)).unwrap();
        write_private(&setup.phones, &format!("# test map\n{USER}  {USER_PHONE}\n{OTHER} {OTHER_PHONE}\nroot {ROOT_PHONE}\n"));
        // the installed name, so that the log reads pam_smsotp(SERVICE:auth)
        std::os::unix::fs::symlink(&setup.module, t.join("pam_smsotp.so")).unwrap();

        let (uid, other_uid, skip_gid) = free_ids();
        let root = t.join("root");
        fs::create_dir_all(root.join("etc")).unwrap();
        fs::create_dir_all(root.join("var")).unwrap();
        let cp = Command::new("cp")
            .arg("-a")
            .args(["/etc/pam.d", "/etc/passwd", "/etc/shadow", "/etc/group"])
            .arg(root.join("etc"))
            .status()
            .unwrap();
        assert!(cp.success(), "copy /etc");
        let home = t.join("home").join(USER);
        fs::create_dir_all(&home).unwrap();
        std::os::unix::fs::chown(&home, Some(uid), Some(uid)).unwrap();
        fs::set_permissions(&home, fs::Permissions::from_mode(0o700)).unwrap();
        let append = |name: &str, text: String| {
            OpenOptions::new().append(true).open(root.join("etc").join(name)).unwrap().write_all(text.as_bytes()).unwrap();
        };
        append(
            "passwd",
            format!(
                "{USER}:x:{uid}:{uid}:SMS test user:{}:/bin/sh\n{OTHER}:x:{other_uid}:{other_uid}:SMS test caller:/nonexistent:/bin/sh\n",
                home.display()
            ),
        );
        append(
            "shadow",
            format!(
                "{USER}:{}:19000:0:99999:7:::\n{OTHER}:{}:19000:0:99999:7:::\n",
                password_hash(USER_PASSWORD),
                password_hash(OTHER_PASSWORD)
            ),
        );
        append("group", format!("{USER}:x:{uid}:\n{OTHER}:x:{other_uid}:\n{SKIP_GROUP}:x:{skip_gid}:\n"));
        let sudoers = root.join("etc/sudoers");
        fs::write(
            &sudoers,
            format!("Defaults !lecture, passwd_tries=1, timestamp_timeout=0\nDefaults env_reset\nroot ALL=(ALL:ALL) ALL\n{USER} ALL=(ALL:ALL) ALL\n"),
        )
        .unwrap();
        std::os::unix::fs::chown(&sudoers, Some(0), Some(0)).unwrap();
        fs::set_permissions(&sudoers, fs::Permissions::from_mode(0o440)).unwrap();
        // empty login records with the machine's owners and modes (sshd refuses a loose btmp)
        for f in ["wtmp", "btmp", "lastlog"] {
            if let Ok(meta) = fs::metadata(Path::new("/var/log").join(f)) {
                let copy = root.join("var").join(f);
                fs::write(&copy, b"").unwrap();
                std::os::unix::fs::chown(&copy, Some(meta.uid()), Some(meta.gid())).unwrap();
                fs::set_permissions(&copy, fs::Permissions::from_mode(meta.mode() & 0o7777)).unwrap();
            }
        }
        fs::create_dir_all(t.join("client")).unwrap();
        let syslog = Syslog::start(&root.join("log.sock"));
        World { setup, root, syslog, uid, other_uid }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.setup.dir.path().join(name)
    }

    /// Put smsuser into the group the config may skip.
    pub fn join_skip_group(&self) {
        let group = self.root.join("etc/group");
        let text = fs::read_to_string(&group)
            .unwrap()
            .replace(&format!("{SKIP_GROUP}:x:{}:\n", free_ids().2), &format!("{SKIP_GROUP}:x:{}:{USER}\n", free_ids().2));
        fs::write(&group, text).unwrap();
    }

    /// Install conf/pam.d/`file` as the namespace's /etc/pam.d/`service`.
    /// The only changes: `pam_smsotp.so` -> the module's absolute path plus
    /// `config=... debug`; `pam_unix.so` on an auth line -> `pam_unix.so nodelay`.
    pub fn install(&self, file: &str, service: &str) {
        let text = fs::read_to_string(Path::new(CONF).join("pam.d").join(file)).unwrap_or_else(|e| panic!("conf/pam.d/{file}: {e}"));
        let module = format!("{} config={} debug", self.path("pam_smsotp.so").display(), self.setup.config.display());
        let mut modules = 0;
        let installed: String = text
            .lines()
            .map(|line| {
                let mut line = line.to_string();
                if !line.trim_start().starts_with('#') {
                    if line.contains("pam_smsotp.so") {
                        modules += 1;
                        line = line.replace("pam_smsotp.so", &module);
                    }
                    if line.trim_start().starts_with("auth") && line.contains("pam_unix.so") {
                        line = line.replace("pam_unix.so", "pam_unix.so nodelay");
                    }
                }
                line + "\n"
            })
            .collect();
        assert_eq!(modules, 1, "conf/pam.d/{file} must name pam_smsotp.so once");
        fs::write(self.root.join("etc/pam.d").join(service), installed).unwrap();
    }

    /// As `install`, with the module's line removed: the stack without the
    /// second factor, only as a timing baseline.
    pub fn install_without_module(&self, file: &str, service: &str) {
        self.install(file, service);
        let path = self.root.join("etc/pam.d").join(service);
        let text: String =
            fs::read_to_string(&path).unwrap().lines().filter(|l| !l.contains("pam_smsotp.so")).map(|l| format!("{l}\n")).collect();
        fs::write(path, text).unwrap();
    }

    /// `unshare -m ... login-ns.sh ROOT` followed by the program to run in the namespace.
    pub fn in_namespace(&self) -> Command {
        let mut cmd = Command::new("unshare");
        cmd.args(["-m", "--propagation", "private", "sh"]).arg(Path::new(SUPPORT).join("login-ns.sh")).arg(&self.root);
        cmd.env_clear().env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin").env("LANG", "C").env("TERM", "dumb").env("HOME", "/root");
        cmd
    }

    /// `program` in the namespace with no terminal: its input is the line
    /// `line`, then end of file.
    pub fn fed_then_eof(&self, line: &str, program: &[String]) -> Command {
        let mut cmd = self.in_namespace();
        cmd.args(["sh", "-c", &format!("printf '%s\\n' '{line}' | exec \"$@\""), "sh"]).args(program);
        cmd
    }

    /// Drive `program` over a pty with expect, answering with `steps` (see
    /// converse.exp); in the namespace or (`in_ns` false, for ssh) outside it.
    pub fn talk(&self, in_ns: bool, steps: &[String], program: &[String]) -> Talk {
        let mut cmd = if in_ns {
            let mut c = self.in_namespace();
            c.arg("expect");
            c
        } else {
            let mut c = Command::new("expect");
            c.env_clear()
                .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
                .env("LANG", "C")
                .env("TERM", "dumb")
                .env("HOME", self.path("client"));
            c
        };
        cmd.arg("-f").arg(Path::new(SUPPORT).join("converse.exp")).arg(&self.setup.spool).args(steps).arg("--").args(program);
        let (status, out) = run(cmd, Duration::from_secs(60));
        Talk { status, out }
    }

    /// `setpriv` to `user` with a clean environment and its groups: how a
    /// user's own shell would run the program, without touching the machine.
    pub fn as_user(&self, user: &str, program: &[&str]) -> Vec<String> {
        let id = if user == USER { self.uid } else { self.other_uid };
        let mut v: Vec<String> = ["setpriv", &format!("--reuid={id}"), &format!("--regid={id}"), "--init-groups", "--reset-env"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        v.extend(program.iter().map(|s| s.to_string()));
        v
    }

    /// (to, text) of every SMS in the spool.
    pub fn sms(&self) -> Vec<(String, String)> {
        self.setup.spool_messages()
    }

    pub fn log(&self) -> String {
        self.syslog.text()
    }

    /// `smsotp --config CONF ARGS...`, which must succeed: its output.
    pub fn smsotp(&self, args: &[&str]) -> String {
        smsotp_ok(&self.setup, args)
    }

    /// N new backup codes for smsuser.
    pub fn backup_codes(&self, n: u32) -> Vec<String> {
        backup_codes(&self.setup, USER, n)
    }
}

// The steps of a conversation (see converse.exp); "code" reads the newest SMS.

pub fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

/// Answer a hidden prompt with this password.
pub fn pass(p: &str) -> String {
    format!("pass:{p}")
}

/// Answer the next prompt with this text.
pub fn text(t: &str) -> String {
    format!("text:{t}")
}

/// Wait until the shell's output shows.
pub fn see() -> String {
    format!("see:{SHELL_OUTPUT}")
}
