//! A real `smsotp-dlrd` on loopback for a test: its `[delivery]` section, key
//! file and reports directory (owned by `nobody`, the account it drops to),
//! and a raw HTTP client to send it reports the way providers do.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const KEY: &str = "a test key of more than sixteen bytes";
pub const DLR_USER: &str = "nobody";

pub fn dlrd_path() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_smsotp-dlrd"))
}

/// The `[delivery]` section for a daemon on `port`, with its key file and
/// reports directory made under `dir`.
pub fn delivery_section(dir: &Path, port: u16, extra: &str) -> String {
    let key = dir.join("dlr.key");
    super::write_private(&key, &format!("{KEY}\n"));
    let reports = dir.join("reports");
    std::fs::create_dir_all(&reports).unwrap();
    let nobody = nix::unistd::User::from_name(DLR_USER).unwrap().expect("user nobody");
    std::os::unix::fs::chown(&reports, Some(nobody.uid.as_raw()), Some(nobody.gid.as_raw())).unwrap();
    std::fs::set_permissions(&reports, std::fs::Permissions::from_mode(0o700)).unwrap();
    // nobody must reach the reports directory through the test's own (0700) directory
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o711)).unwrap();
    format!(
        "[delivery]\ncallback_url = \"http://127.0.0.1:{port}/r\"\nsecret_file = \"{}\"\nlisten = \"127.0.0.1:{port}\"\nuser = \"{DLR_USER}\"\nreports_dir = \"{}\"\n{extra}\n",
        key.display(),
        reports.display()
    )
}

pub struct Dlrd {
    pub port: u16,
    child: Child,
    log: PathBuf,
}

impl Dlrd {
    /// Start the daemon on `config` (which holds `delivery_section(.., port, ..)`)
    /// and wait until it listens.
    pub fn start(config: &Path, port: u16) -> Dlrd {
        let log = config.with_extension("dlrd.log");
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new(dlrd_path())
            .arg("--config")
            .arg(config)
            .env_clear()
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("start smsotp-dlrd");
        let mut d = Dlrd { port, child, log };
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = d.child.try_wait() {
                panic!("smsotp-dlrd exited ({status}): {}", d.output());
            }
            assert!(start.elapsed() < Duration::from_secs(10), "smsotp-dlrd does not listen: {}", d.output());
            std::thread::sleep(Duration::from_millis(20));
        }
        d
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// What it printed to stdout and stderr.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Send raw bytes, read the answer: (status, body); status 0 when none came.
    pub fn raw(&self, request: &[u8]) -> (u16, String) {
        raw(self.port, request)
    }

    pub fn get(&self, target: &str) -> (u16, String) {
        self.raw(format!("GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: Kannel/1.4.5\r\n\r\n").as_bytes())
    }

    pub fn post(&self, target: &str, content_type: &str, body: &[u8]) -> (u16, String) {
        let mut r =
            format!("POST {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n", body.len())
                .into_bytes();
        r.extend_from_slice(body);
        self.raw(&r)
    }
}

pub fn raw(port: u16, request: &[u8]) -> (u16, String) {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else { return (0, String::new()) };
    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
    let _ = s.write_all(request);
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    let status = out.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = out.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status, body)
}

impl Drop for Dlrd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
