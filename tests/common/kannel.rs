//! A real Kannel on loopback: bearerbox, smsbox and the fake SMSC `fakesmsc`
//! from Debian's kannel-extras, which prints every message it receives.

// each test binary uses a part of the shared harness
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const FAKESMSC: &str = "/usr/lib/kannel/test/fakesmsc";
// not "pam": a sendsms-user of that name makes smsbox authenticate through PAM
pub const USERNAME: &str = "otpsender";
pub const PASSWORD: &str = "kpass";

pub fn available() -> Option<String> {
    for p in ["/usr/sbin/bearerbox", "/usr/sbin/smsbox", FAKESMSC] {
        if !Path::new(p).exists() {
            return Some(format!("needs {p} (Debian packages kannel, kannel-extras)"));
        }
    }
    None
}

pub struct Kannel {
    dir: tempfile::TempDir,
    children: Vec<Child>,
    pub sendsms_port: u16,
    admin_port: u16,
    /// Lines fakesmsc printed for messages it received.
    received: Arc<Mutex<Vec<String>>>,
}

/// Whether something listens on 127.0.0.1:port, read from /proc (a TCP connect
/// to the fake SMSC port would be taken for a client).
fn listening(port: u16) -> bool {
    let wanted = format!("0100007F:{port:04X}");
    let any = format!("00000000:{port:04X}");
    std::fs::read_to_string("/proc/net/tcp").unwrap_or_default().lines().skip(1).any(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        f.len() > 3 && (f[1] == wanted || f[1] == any) && f[3] == "0A"
    })
}

fn wait_for(what: &str, timeout: Duration, mut ok: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ok() {
        assert!(start.elapsed() < timeout, "Kannel: {what} did not happen within {timeout:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn http_get(port: u16, target: &str) -> String {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else { return String::new() };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = write!(s, "GET {target} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

impl Kannel {
    pub fn start() -> Kannel {
        Kannel::start_with(None)
    }

    /// As `start`, with delivery reports kept (`dlr-storage = internal`) and a
    /// second SMSC, `smsc-id = UP`: Kannel's generic `http` SMSC sending to
    /// `send_url` (an upstream of the test's), reached with `smsc=UP` only.
    /// An answer matching "failure" is an SMSC reject (report type 16).
    pub fn start_with_upstream(send_url: &str) -> Kannel {
        Kannel::start_with(Some(send_url))
    }

    fn start_with(upstream: Option<&str>) -> Kannel {
        let dir = tempfile::tempdir().expect("tempdir");
        let (admin, smsbox, smsc, sendsms) = (super::free_port(), super::free_port(), super::free_port(), super::free_port());
        let d = dir.path().display();
        let (core_extra, fake_extra, upstream_group) = match upstream {
            None => (String::new(), String::new(), String::new()),
            Some(url) => (
                "dlr-storage = internal\n".to_string(),
                "denied-smsc-id = UP\n".to_string(),
                format!(
                    "\ngroup = smsc\nsmsc = http\nsmsc-id = UP\nallowed-smsc-id = UP\nsystem-type = generic\nsend-url = \"{url}?to=%P&text=%b\"\nport = {}\nconnect-allow-ip = 127.0.0.1\nsmsc-username = up\nsmsc-password = uppw\nstatus-success-regex = \"^OK\"\nstatus-permfail-regex = \"failure\"\ngeneric-foreign-id-regex = \"<id>(.+)</id>\"\n",
                    super::free_port()
                ),
            ),
        };
        let conf = format!(
            r#"group = core
admin-port = {admin}
admin-interface = 127.0.0.1
admin-password = adminpw
status-password = adminpw
admin-allow-ip = 127.0.0.1
smsbox-port = {smsbox}
smsbox-interface = 127.0.0.1
box-allow-ip = 127.0.0.1
log-file = "{d}/bearerbox.log"
log-level = 1
{core_extra}
group = smsc
smsc = fake
smsc-id = FAKE
port = {smsc}
connect-allow-ip = 127.0.0.1
{fake_extra}{upstream_group}
group = smsbox
bearerbox-host = 127.0.0.1
bearerbox-port = {smsbox}
sendsms-port = {sendsms}
sendsms-interface = 127.0.0.1
log-file = "{d}/smsbox.log"
log-level = 1

group = sendsms-user
username = {USERNAME}
password = {PASSWORD}
max-messages = 3
concatenation = true
"#
        );
        let conf_path: PathBuf = dir.path().join("kannel.conf");
        std::fs::write(&conf_path, conf).expect("kannel.conf");
        let quiet = |name: &str| std::fs::File::create(dir.path().join(name)).expect("log file");
        let mut children = Vec::new();
        let bearerbox = Command::new("/usr/sbin/bearerbox")
            .arg(&conf_path)
            .stdout(quiet("bearerbox.out"))
            .stderr(quiet("bearerbox.err"))
            .spawn()
            .expect("start bearerbox");
        children.push(bearerbox);
        let mut kannel = Kannel { dir, children, sendsms_port: sendsms, admin_port: admin, received: Arc::new(Mutex::new(Vec::new())) };
        wait_for("the fake SMSC port listening", Duration::from_secs(10), || listening(smsc));

        let mut fake = Command::new(FAKESMSC)
            .args(["-H", "127.0.0.1", "-r", &smsc.to_string(), "-m", "0", "0 0 text unused"])
            .stdout(quiet_file(kannel.dir.path(), "fakesmsc.out"))
            .stderr(Stdio::piped())
            .spawn()
            .expect("start fakesmsc");
        // fakesmsc logs what it receives on stderr: "DEBUG: Got message 1: <from to type data>"
        let out = fake.stderr.take().expect("fakesmsc stderr");
        let received = kannel.received.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if line.contains("Got message") {
                    received.lock().expect("lock").push(line);
                }
            }
        });
        kannel.children.push(fake);

        let smsbox_child = Command::new("/usr/sbin/smsbox")
            .arg(&conf_path)
            .stdout(quiet_file(kannel.dir.path(), "smsbox.out"))
            .stderr(quiet_file(kannel.dir.path(), "smsbox.err"))
            .spawn()
            .expect("start smsbox");
        kannel.children.push(smsbox_child);
        wait_for("status: fake SMSC online and smsbox connected", Duration::from_secs(15), || {
            let status = http_get(admin, "/status.txt?password=adminpw");
            status.contains("online") && status.contains("Box connections:") && status.contains("smsbox:") && listening(sendsms)
        });
        kannel
    }

    /// The texts fakesmsc received, decoded.
    pub fn texts(&self) -> Vec<String> {
        self.received.lock().expect("lock").iter().map(|l| decode_fakesmsc(l)).collect()
    }

    pub fn raw(&self) -> Vec<String> {
        self.received.lock().expect("lock").clone()
    }

    /// Wait until `n` messages have arrived.
    pub fn wait_for_messages(&self, n: usize) -> Vec<String> {
        wait_for(&format!("{n} message(s) at the fake SMSC"), Duration::from_secs(10), || self.received.lock().expect("lock").len() >= n);
        self.texts()
    }

    pub fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default()
    }
}

fn quiet_file(dir: &Path, name: &str) -> std::fs::File {
    std::fs::File::create(dir.join(name)).expect("log file")
}

/// "Got message 1: <12345 +15551234567 text Code 123456 for alice>" (text as
/// it is) or "... ucs-2 %04%1A%04%3E..." (UTF-16BE, URL-encoded with '+' for 0x20).
pub fn decode_fakesmsc(line: &str) -> String {
    let inner = line.split_once('<').and_then(|(_, r)| r.rsplit_once('>')).map(|(m, _)| m).unwrap_or("");
    let mut fields = inner.splitn(4, ' ');
    let (_from, _to, kind, data) = (fields.next(), fields.next(), fields.next().unwrap_or(""), fields.next().unwrap_or(""));
    match kind {
        "ucs-2" | "ucs2" => {
            let bytes: Vec<u8> = percent_encoding::percent_decode_str(&data.replace('+', " ")).collect();
            let units: Vec<u16> = bytes.chunks(2).map(|c| u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])).collect();
            String::from_utf16_lossy(&units)
        }
        _ => data.to_string(),
    }
}

impl Drop for Kannel {
    /// Stop what was started, by PID: smsbox, then bearerbox, then the fake SMSC.
    fn drop(&mut self) {
        let order = [2usize, 0, 1];
        for i in order {
            if let Some(c) = self.children.get_mut(i) {
                let _ = Command::new("kill").arg("-TERM").arg(c.id().to_string()).status();
                let deadline = Instant::now() + Duration::from_secs(5);
                loop {
                    match c.try_wait() {
                        Ok(Some(_)) => break,
                        _ if Instant::now() > deadline => {
                            let _ = c.kill();
                            let _ = c.wait();
                            break;
                        }
                        _ => std::thread::sleep(Duration::from_millis(20)),
                    }
                }
            }
        }
    }
}
