//! sshd in a test's world, on a free loopback port, and ssh's command line for it.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::free_port;
use super::world::{CONF, USER, World};

/// sshd, a child of the test, stopped by PID when dropped (also on failure).
pub struct Sshd {
    child: Option<Child>,
    pub port: u16,
    pub log: PathBuf,
}

impl Sshd {
    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // our own child, not reaped yet: the PID is still its
            let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(5);
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl World {
    /// An sshd for this world: `methods` is its AuthenticationMethods, `extra`
    /// more lines; both come before the Include of conf/sshd_config.d, so they
    /// win (the first value of a keyword counts).
    pub fn sshd(&self, methods: &str, extra: &str) -> Sshd {
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
            let port = free_port();
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
    pub fn ssh(&self, sshd: &Sshd, key: bool, opts: &[&str], command: Option<&str>) -> Vec<String> {
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
