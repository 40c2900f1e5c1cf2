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

use std::fs::{self, OpenOptions};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use common::{Setup, smsotp_path, write_private};

const SUPPORT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support");
const CONF: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/conf");

const USER: &str = "smsuser";
const USER_PASSWORD: &str = "Sms-user-pw1";
const USER_PHONE: &str = "+15551234567";
/// Calls `su smsuser`: the code must go to smsuser's number, not this one.
const OTHER: &str = "smsother";
const OTHER_PASSWORD: &str = "Sms-other-pw2";
const OTHER_PHONE: &str = "+447700900123";
/// sudo's target: the code must never go to root's number.
const ROOT_PHONE: &str = "+33612345678";
/// A group whose members the module skips (`[policy] skip_groups`).
const SKIP_GROUP: &str = "smsskip";

/// What a successful login's command prints; the shell computes it, so a
/// command line merely echoed back on the pty never matches.
const SHELL_COMMAND: &str = "echo SMSOTP-$((6*7)) $(id -un)";
const SHELL_OUTPUT: &str = "SMSOTP-42";

// ---------------------------------------------------------------------------
// Skipping, visibly

fn on_path(program: &str) -> bool {
    ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"].iter().any(|d| Path::new(d).join(program).exists())
}

/// Why this machine cannot run the test, if it cannot.
fn skip_reason(programs: &[&str]) -> Option<String> {
    if !nix::unistd::geteuid().is_root() {
        return Some("needs root (private mount namespaces, bind mounts over /etc, a root-owned config)".into());
    }
    for p in ["unshare", "expect", "setpriv", "openssl"].iter().chain(programs) {
        if !on_path(p) {
            return Some(format!("needs the program `{p}`"));
        }
    }
    static UNSHARE: OnceLock<Option<String>> = OnceLock::new();
    UNSHARE
        .get_or_init(|| {
            let ok = Command::new("unshare")
                .args(["-m", "--propagation", "private", "sh", "-c", "mount -t tmpfs tmpfs /run"])
                .stderr(Stdio::null())
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            (!ok).then(|| "cannot make a private mount namespace (unshare -m and mount failed)".to_string())
        })
        .clone()
}

macro_rules! require {
    ($($program:expr),* $(,)?) => {
        if let Some(why) = skip_reason(&[$($program),*]) {
            eprintln!("SKIPPED: {}: {why}", std::thread::current().name().unwrap_or("logins"));
            return;
        }
    };
}

// ---------------------------------------------------------------------------
// The test's private world

/// Free uid/gid numbers for the test users (the same in every test: each has
/// its own copy of /etc/passwd).
fn free_ids() -> (u32, u32, u32) {
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

fn password_hash(password: &str) -> String {
    let out =
        Command::new("openssl").args(["passwd", "-6", "-stdin"]).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().and_then(|mut c| {
            c.stdin.take().unwrap().write_all(format!("{password}\n").as_bytes())?;
            c.wait_with_output()
        });
    let out = out.expect("openssl passwd");
    assert!(out.status.success(), "openssl passwd failed");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// What pam_syslog(3) and the programs send to /dev/log inside the namespace.
struct Syslog {
    lines: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    reader: Option<std::thread::JoinHandle<()>>,
    path: PathBuf,
    marks: AtomicUsize,
}

impl Syslog {
    fn start(path: &Path) -> Syslog {
        let socket = UnixDatagram::bind(path).expect("bind the log socket");
        fs::set_permissions(path, fs::Permissions::from_mode(0o666)).unwrap();
        socket.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        // a reader must run all the time: a full datagram queue (10 by default) blocks syslog(3) in the sender
        let reader = {
            let (lines, stop) = (lines.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut buf = vec![0u8; 16384];
                while !stop.load(Ordering::Relaxed) {
                    if let Ok(n) = socket.recv(&mut buf) {
                        lines.lock().unwrap().push(String::from_utf8_lossy(&buf[..n]).into_owned());
                    }
                }
            })
        };
        Syslog { lines, stop, reader: Some(reader), path: path.to_path_buf(), marks: AtomicUsize::new(0) }
    }

    /// Everything logged so far: a marker sent now arrives after every line
    /// sent before it, so wait for the marker.
    fn text(&self) -> String {
        let mark = format!("SMSOTP-MARK-{}", self.marks.fetch_add(1, Ordering::SeqCst));
        UnixDatagram::unbound().unwrap().send_to(mark.as_bytes(), &self.path).expect("mark the log");
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            {
                let lines = self.lines.lock().unwrap();
                if lines.iter().any(|l| l == &mark) {
                    return lines.iter().filter(|l| !l.starts_with("SMSOTP-MARK-")).map(|l| format!("{l}\n")).collect();
                }
            }
            assert!(Instant::now() < deadline, "the log reader is stuck");
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Syslog {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
    }
}

/// One conversation driven by tests/support/converse.exp.
#[derive(Debug)]
struct Talk {
    /// The exit status of the program (ssh, sudo, su, login), or expect's own
    /// 90 (unexpected prompt), 91 (timeout), 92 (no SMS to read).
    status: i32,
    /// What the pty showed, with expect's markers.
    out: String,
}

impl Talk {
    /// Milliseconds from the spawn to the first marker starting with `what`.
    fn at(&self, what: &str) -> Option<u64> {
        self.out.lines().filter_map(|l| l.strip_prefix("SMSOTP-T ")).find_map(|l| {
            let (ms, event) = l.split_once(' ')?;
            event.starts_with(what).then(|| ms.parse().ok()).flatten()
        })
    }
    fn prompts(&self) -> Vec<&str> {
        self.out.lines().filter_map(|l| l.strip_prefix("SMSOTP-PROMPT ")).collect()
    }
    fn logged_in(&self) -> bool {
        self.out.lines().any(|l| l.starts_with(SHELL_OUTPUT) && !l.contains("$(("))
    }
}

/// Run `cmd`, killing it if it outlives `limit`; (status, stdout + stderr).
fn run(mut cmd: Command, limit: Duration) -> (i32, String) {
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

struct World {
    setup: Setup,
    /// Holds etc/, var/ and log.sock: what login-ns.sh binds over the machine's.
    root: PathBuf,
    syslog: Syslog,
    uid: u32,
    other_uid: u32,
}

impl World {
    /// A test directory with the module's config (spool connector; `extra`
    /// adds sections), a phone map, and the namespace's copies of /etc.
    fn new(extra: &str) -> World {
        World::with_setup(Setup::new(extra))
    }

    /// As `new`, with the configuration `setup` already holds.
    fn with_setup(setup: Setup) -> World {
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

    fn path(&self, name: &str) -> PathBuf {
        self.setup.dir.path().join(name)
    }

    /// Put smsuser into the group the config may skip.
    fn join_skip_group(&self) {
        let group = self.root.join("etc/group");
        let text = fs::read_to_string(&group)
            .unwrap()
            .replace(&format!("{SKIP_GROUP}:x:{}:\n", free_ids().2), &format!("{SKIP_GROUP}:x:{}:{USER}\n", free_ids().2));
        fs::write(&group, text).unwrap();
    }

    /// Install conf/pam.d/`file` as the namespace's /etc/pam.d/`service`.
    /// The only changes: `pam_smsotp.so` -> the module's absolute path plus
    /// `config=... debug`; `pam_unix.so` on an auth line -> `pam_unix.so nodelay`.
    fn install(&self, file: &str, service: &str) {
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
    fn install_without_module(&self, file: &str, service: &str) {
        self.install(file, service);
        let path = self.root.join("etc/pam.d").join(service);
        let text: String =
            fs::read_to_string(&path).unwrap().lines().filter(|l| !l.contains("pam_smsotp.so")).map(|l| format!("{l}\n")).collect();
        fs::write(path, text).unwrap();
    }

    /// `unshare -m ... login-ns.sh ROOT` followed by the program to run in the namespace.
    fn in_namespace(&self) -> Command {
        let mut cmd = Command::new("unshare");
        cmd.args(["-m", "--propagation", "private", "sh"]).arg(Path::new(SUPPORT).join("login-ns.sh")).arg(&self.root);
        cmd.env_clear().env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin").env("LANG", "C").env("TERM", "dumb").env("HOME", "/root");
        cmd
    }

    /// Drive `program` over a pty with expect, answering with `steps` (see
    /// converse.exp); in the namespace or (`in_ns` false, for ssh) outside it.
    fn talk(&self, in_ns: bool, steps: &[String], program: &[String]) -> Talk {
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
    fn as_user(&self, user: &str, program: &[&str]) -> Vec<String> {
        let id = if user == USER { self.uid } else { self.other_uid };
        let mut v: Vec<String> = ["setpriv", &format!("--reuid={id}"), &format!("--regid={id}"), "--init-groups", "--reset-env"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        v.extend(program.iter().map(|s| s.to_string()));
        v
    }

    /// (to, text) of every SMS in the spool.
    fn sms(&self) -> Vec<(String, String)> {
        fs::read_to_string(&self.setup.spool)
            .unwrap_or_default()
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).expect("spool line is JSON");
                (v["to"].as_str().unwrap().to_string(), v["text"].as_str().unwrap().to_string())
            })
            .collect()
    }

    fn log(&self) -> String {
        self.syslog.text()
    }

    /// `smsotp --config CONF ARGS...`
    fn smsotp(&self, args: &[&str]) -> String {
        let out = Command::new(smsotp_path()).arg("--config").arg(&self.setup.config).args(args).env_clear().output().unwrap();
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "smsotp {args:?}: {text}");
        text
    }

    fn backup_codes(&self, n: u32) -> Vec<String> {
        let out = self.smsotp(&["backup-codes", "generate", USER, "--count", &n.to_string()]);
        let codes: Vec<String> = out.lines().filter_map(|l| l.trim().split_once(".  ")).map(|(_, c)| c.trim().to_string()).collect();
        assert_eq!(codes.len(), n as usize, "{out}");
        codes
    }

    /// An sshd for this world: `methods` is its AuthenticationMethods, `extra`
    /// more lines; both come before the Include of conf/sshd_config.d, so they
    /// win (the first value of a keyword counts).
    fn sshd(&self, methods: &str, extra: &str) -> Sshd {
        let t = self.setup.dir.path();
        if !t.join("host_key").exists() {
            for key in ["host_key", "client_key"] {
                let ok = Command::new("ssh-keygen")
                    .args(["-q", "-t", "ed25519", "-N", "", "-C", "smsotp-test", "-f"])
                    .arg(t.join(key))
                    .status()
                    .unwrap();
                assert!(ok.success(), "ssh-keygen");
            }
            fs::copy(t.join("client_key.pub"), t.join("authorized_keys")).unwrap();
        }
        let mut last_log = String::new();
        for _ in 0..3 {
            let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
            let config = t.join("sshd_config");
            let snippet = Path::new(CONF).join("sshd_config.d/pam_smsotp.conf");
            fs::write(
                &config,
                format!(
                    "# the test's own settings first: in sshd_config the first value wins\n\
                     ListenAddress 127.0.0.1\nPort {port}\nHostKey {t}/host_key\nPidFile {t}/sshd.pid\n\
                     AuthorizedKeysFile {t}/authorized_keys\nStrictModes no\nAllowUsers {USER}\nLoginGraceTime 60\n\
                     UseDNS no\nPrintMotd no\nPrintLastLog no\nLogLevel VERBOSE\n\
                     AuthenticationMethods {methods}\n{extra}\n\
                     # then the settings pam_smsotp needs, verbatim\nInclude {}\n",
                    snippet.display(),
                    t = t.display()
                ),
            )
            .unwrap();
            let log = t.join("sshd.log");
            let mut cmd = self.in_namespace();
            cmd.args(["/usr/sbin/sshd", "-D", "-e", "-f"]).arg(&config);
            let out = fs::File::create(&log).unwrap();
            cmd.stdin(Stdio::null()).stdout(out.try_clone().unwrap()).stderr(out);
            let child = cmd.spawn().expect("start sshd");
            let mut sshd = Sshd { child: Some(child), port, log };
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                let text = sshd.log_text();
                if text.contains(&format!("Server listening on 127.0.0.1 port {port}")) {
                    return sshd;
                }
                if matches!(sshd.child.as_mut().unwrap().try_wait(), Ok(Some(_))) || Instant::now() > deadline {
                    last_log = text;
                    break; // a port taken in between, or a real failure: try again, then report
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        panic!("sshd did not start:\n{last_log}");
    }

    /// ssh to `sshd` as smsuser: `key` offers the test key; `opts` more `-o`.
    fn ssh(&self, sshd: &Sshd, key: bool, opts: &[&str], command: Option<&str>) -> Vec<String> {
        let mut v: Vec<String> = vec!["ssh".into(), "-F".into(), "/dev/null".into(), "-p".into(), sshd.port.to_string()];
        for o in ["StrictHostKeyChecking=no", "UserKnownHostsFile=/dev/null", "NumberOfPasswordPrompts=1", "ConnectTimeout=10"] {
            v.extend(["-o".to_string(), o.to_string()]);
        }
        if key {
            v.extend(["-i".to_string(), self.path("client_key").display().to_string(), "-o".into(), "IdentitiesOnly=yes".into()]);
        } else {
            v.extend(["-o".to_string(), "PubkeyAuthentication=no".into()]);
        }
        for o in opts {
            v.extend(["-o".to_string(), o.to_string()]);
        }
        if !opts.iter().any(|o| o.starts_with("PreferredAuthentications=")) {
            // after a refusal sshd may list no method, and ssh then tries all of its own
            let methods = if key { "publickey,keyboard-interactive" } else { "keyboard-interactive" };
            v.extend(["-o".to_string(), format!("PreferredAuthentications={methods}")]);
        }
        v.push(format!("{USER}@127.0.0.1"));
        v.extend(command.map(str::to_string));
        v
    }
}

/// sshd, a child of the test, stopped by PID when dropped (also on failure).
struct Sshd {
    child: Option<Child>,
    port: u16,
    log: PathBuf,
}

impl Sshd {
    fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(5);
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

fn pass(p: &str) -> String {
    format!("pass:{p}")
}

fn text(t: &str) -> String {
    format!("text:{t}")
}

fn see() -> String {
    format!("see:{SHELL_OUTPUT}")
}

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
    require!("sshd", "ssh", "ssh-keygen");
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
    require!("sshd", "ssh", "ssh-keygen");
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
    require!("sshd", "ssh", "ssh-keygen");
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
    require!("sshd", "ssh", "ssh-keygen");
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
    require!("sshd", "ssh", "ssh-keygen", "setsid");
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
    require!("sshd", "ssh", "ssh-keygen");
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
    require!("sshd", "ssh", "ssh-keygen");
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
    require!("sshd", "ssh", "ssh-keygen");
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
    require!("sshd", "ssh", "ssh-keygen");
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
    require!("sudo");
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
    require!("sudo");
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
    require!("sudo");
    let w = World::new("");
    w.install("sudo", "sudo");
    let mut cmd = w.in_namespace();
    cmd.args(w.as_user(USER, &["sudo", "-n", "sh", "-c", "echo SMSOTP-42"]));
    let (rc, out) = run(cmd, Duration::from_secs(30));
    assert_eq!(rc, 1, "{out}");
    assert!(out.contains("a password is required"), "{out}");
    assert!(w.sms().is_empty());

    // sudo -S reads the answers from stdin: give the password, then end of file
    let mut argv = w.as_user(USER, &["sudo", "-S", "-k", "sh", "-c", "echo SMSOTP-42"]);
    let script = format!("printf '%s\\n' '{USER_PASSWORD}' | exec \"$@\"");
    argv.splice(0..0, ["sh".to_string(), "-c".to_string(), script, "sh".to_string()]);
    let mut cmd = w.in_namespace();
    cmd.args(&argv);
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
    require!("su");
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
    require!("su");
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
    require!("su");
    let w = World::new("");
    w.install("su", "su");
    let mut argv = w.as_user(OTHER, &["su", USER, "-c", SHELL_COMMAND]);
    let script = format!("printf '%s\\n' '{USER_PASSWORD}' | exec \"$@\"");
    argv.splice(0..0, ["sh".to_string(), "-c".to_string(), script, "sh".to_string()]);
    let mut cmd = w.in_namespace();
    cmd.args(&argv);
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
    require!("login");
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
    require!("login");
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
    require!("sudo");
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
    require!("su");
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
    require!("su");
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
    require!("sudo");
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
