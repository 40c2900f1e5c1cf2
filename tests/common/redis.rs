//! A real redis-server on loopback high ports, started from a temp dir and
//! stopped by PID: AOF on, TLS with a test CA, the default user off, an
//! admin user for the tests and the module's ACL user limited to `smsotp:*`
//! and the commands its scripts need (the README's line).

// each test binary uses a part of the shared harness
#![allow(dead_code)]

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const PAM_USER: &str = "pam_smsotp";
pub const PAM_PASSWORD: &str = "pam-redis-secret";
pub const ADMIN_USER: &str = "admin";
pub const ADMIN_PASSWORD: &str = "admin-redis-secret";

/// The module's ACL, as the README gives it.
pub const PAM_ACL: &str = "resetkeys ~smsotp:* resetchannels -@all +auth +ping +role +select +evalsha +script|load \
                           +smembers +wait +time +get +set +del +zscore +zadd +zrange +zrangebyscore +zremrangebyscore +zcard +zpopmin \
                           +pexpire +srem +scard";

/// `smsotp`'s ACL user, as the README gives it: the module's commands, plus
/// SADD (backup codes), EXISTS and PTTL (migration), INFO (check) and SCAN (report).
pub const SMSOTP_ADMIN: &str = "smsotp_admin";
pub const SMSOTP_ADMIN_PASSWORD: &str = "smsotp-admin-secret";
pub const SMSOTP_ADMIN_ACL: &str = "resetkeys ~smsotp:* resetchannels -@all +auth +ping +role +select +evalsha +script|load \
                                    +smembers +wait +time +get +set +del +zscore +zadd +zrange +zrangebyscore +zremrangebyscore \
                                    +zcard +zpopmin +pexpire +srem +scard +sadd +exists +pttl +info +scan";

pub fn available() -> Option<String> {
    for p in ["/usr/bin/redis-server", "/usr/bin/redis-cli", "/usr/bin/redis-sentinel"] {
        if !Path::new(p).exists() {
            return Some(format!("needs {p} (Debian packages redis-server, redis-sentinel, redis-tools)"));
        }
    }
    None
}

/// Files shared by a primary and its replicas: the CAs and the server certificate.
pub struct Pki {
    pub ca: PathBuf,
    /// A CA that signed nothing here: trusting only it must fail.
    pub other_ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

fn write_ca(dir: &Path, name: &str) -> (rcgen::Issuer<'static, rcgen::KeyPair>, PathBuf) {
    let key = rcgen::KeyPair::generate().expect("key");
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.distinguished_name.push(rcgen::DnType::CommonName, format!("pam_smsotp redis test CA {name}"));
    params.key_usages =
        vec![rcgen::KeyUsagePurpose::KeyCertSign, rcgen::KeyUsagePurpose::CrlSign, rcgen::KeyUsagePurpose::DigitalSignature];
    let cert = params.self_signed(&key).expect("ca");
    let path = dir.join(format!("{name}.pem"));
    std::fs::write(&path, cert.pem()).expect("ca pem");
    (rcgen::Issuer::new(params, key), path)
}

impl Pki {
    pub fn new(dir: &Path) -> Pki {
        let (issuer, ca) = write_ca(dir, "ca");
        let (_, other_ca) = write_ca(dir, "other-ca");
        let key = rcgen::KeyPair::generate().expect("key");
        let mut params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).expect("params");
        params.distinguished_name.push(rcgen::DnType::CommonName, "127.0.0.1");
        let server = params.signed_by(&key, &issuer).expect("server cert");
        let (cert, key_path) = (dir.join("server.pem"), dir.join("server.key"));
        std::fs::write(&cert, server.pem()).expect("server pem");
        std::fs::write(&key_path, key.serialize_pem()).expect("server key");
        Pki { ca, other_ca, cert, key: key_path }
    }
}

pub struct Redis {
    pub dir: tempfile::TempDir,
    child: Option<Child>,
    /// Plain text (loopback only).
    pub port: u16,
    pub tls_port: u16,
    pub pki: Pki,
}

impl Redis {
    pub fn start() -> Redis {
        Redis::start_with("")
    }

    /// A primary with `extra` lines of redis.conf.
    pub fn start_with(extra: &str) -> Redis {
        let dir = super::test_dir();
        let pki = Pki::new(dir.path());
        Redis::start_in(dir, pki, extra)
    }

    fn start_in(dir: tempfile::TempDir, pki: Pki, extra: &str) -> Redis {
        let mut r = Redis { dir, child: None, port: super::free_port(), tls_port: super::free_port(), pki };
        r.write_conf(extra);
        r.run();
        r
    }

    /// A replica of `primary` (plain replication on loopback).
    pub fn replica_of(primary: &Redis) -> Redis {
        let extra = format!("replicaof 127.0.0.1 {}\nmasteruser {ADMIN_USER}\nmasterauth {ADMIN_PASSWORD}\n", primary.port);
        let r = Redis::start_with(&extra);
        r.wait_attached();
        r
    }

    /// A primary for Sentinel: it replicates over TLS, so sentinels and
    /// replicas know it (and each other) by TLS ports only.
    pub fn start_tls_primary() -> Redis {
        Redis::start_with("tls-replication yes\n")
    }

    /// A replica of `primary` over TLS, sharing its certificates.
    pub fn tls_replica_of(primary: &Redis) -> Redis {
        let dir = super::test_dir();
        let pki = Pki {
            ca: primary.pki.ca.clone(),
            other_ca: primary.pki.other_ca.clone(),
            cert: primary.pki.cert.clone(),
            key: primary.pki.key.clone(),
        };
        let extra = format!(
            "tls-replication yes\nreplicaof 127.0.0.1 {}\nmasteruser {ADMIN_USER}\nmasterauth {ADMIN_PASSWORD}\n",
            primary.tls_port
        );
        let r = Redis::start_in(dir, pki, &extra);
        r.wait_attached();
        r
    }

    fn wait_attached(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.cli(&["INFO", "replication"]).contains("master_link_status:up") {
            assert!(Instant::now() < deadline, "the replica did not attach: {}", self.log());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn write_conf(&self, extra: &str) {
        let d = self.dir.path();
        let conf = format!(
            "bind 127.0.0.1\nport {port}\ntls-port {tls}\ntls-cert-file {cert}\ntls-key-file {key}\ntls-ca-cert-file {ca}\n\
             tls-auth-clients no\ndir {d}\nlogfile {d}/redis.log\ndaemonize no\nsave \"\"\nappendonly yes\nappendfsync everysec\n\
             maxmemory-policy noeviction\nuser default off\nuser {ADMIN_USER} on >{ADMIN_PASSWORD} ~* &* +@all\n\
             user {PAM_USER} on >{PAM_PASSWORD} {PAM_ACL}\nuser {SMSOTP_ADMIN} on >{SMSOTP_ADMIN_PASSWORD} {SMSOTP_ADMIN_ACL}\n{extra}",
            port = self.port,
            tls = self.tls_port,
            cert = self.pki.cert.display(),
            key = self.pki.key.display(),
            ca = self.pki.ca.display(),
            d = d.display(),
        );
        std::fs::write(d.join("redis.conf"), conf).expect("redis.conf");
    }

    fn run(&mut self) {
        let d = self.dir.path();
        let child = Command::new("/usr/bin/redis-server")
            .arg(d.join("redis.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        self.child = Some(child);
        let started = Instant::now();
        loop {
            let up = TcpStream::connect(("127.0.0.1", self.port)).is_ok() && self.cli(&["PING"]).trim() == "PONG";
            if up {
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(10), "redis-server did not start: {}", self.log());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// A command as the admin user, through redis-cli on the plain port; its output.
    pub fn cli(&self, args: &[&str]) -> String {
        let out = Command::new("/usr/bin/redis-cli")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "--user", ADMIN_USER, "--pass", ADMIN_PASSWORD, "--no-auth-warning"])
            .args(args)
            .env_clear()
            .output()
            .expect("redis-cli");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("redis.log")).unwrap_or_default()
    }

    pub fn url(&self) -> String {
        format!("rediss://127.0.0.1:{}/0", self.tls_port)
    }

    pub fn plain_url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// The module's password, in a root-owned 0600 file under `dir`.
    pub fn password_file(&self, dir: &Path) -> PathBuf {
        let path = dir.join("redis-password");
        super::write_private(&path, &format!("{PAM_PASSWORD}\n"));
        path
    }

    /// `[state.redis]` lines naming smsotp's ACL user and its password file under `dir`.
    pub fn admin_lines(&self, dir: &Path) -> String {
        let path = dir.join("redis-admin-password");
        super::write_private(&path, &format!("{SMSOTP_ADMIN_PASSWORD}\n"));
        format!("admin_username = \"{SMSOTP_ADMIN}\"\nadmin_password_file = \"{}\"\n", path.display())
    }

    /// `[state.redis]` for this server over TLS.
    pub fn section(&self, dir: &Path, extra: &str) -> String {
        let timeout = if extra.contains("timeout") { "" } else { "timeout = 2\n" };
        format!(
            "[state.redis]\nurl = \"{}\"\nusername = \"{PAM_USER}\"\npassword_file = \"{}\"\nca_file = \"{}\"\n{timeout}{extra}\n",
            self.url(),
            self.password_file(dir).display(),
            self.pki.ca.display()
        )
    }

    pub fn signal(&self, signal: &str) {
        if let Some(pid) = self.pid() {
            let _ = Command::new("kill").arg(format!("-{signal}")).arg(pid.to_string()).status();
        }
    }

    /// Stop redis-server by its PID (Drop does too).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill").arg("-CONT").arg(c.id().to_string()).status();
            let _ = Command::new("kill").arg("-TERM").arg(c.id().to_string()).status();
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A redis-sentinel over TLS (no plain port) watching `master_name` "smsotp".
pub struct Sentinel {
    pub dir: tempfile::TempDir,
    child: Option<Child>,
    pub tls_port: u16,
}

pub const MASTER_NAME: &str = "smsotp";

/// Sentinels that refuse anyone without credentials: the default user is off,
/// the sentinels reach each other as `SENTINEL_PEER_USER`, and the module's
/// `SENTINEL_CLIENT_USER` may only AUTH and ask for the primary.
pub const SENTINEL_PEER_USER: &str = "sentinel-peer";
pub const SENTINEL_PEER_PASSWORD: &str = "peer-pw-2f0c";
pub const SENTINEL_CLIENT_USER: &str = "pam-sentinel";
pub const SENTINEL_CLIENT_PASSWORD: &str = "client-pw-77ad";

impl Sentinel {
    pub fn start(primary: &Redis) -> Sentinel {
        Sentinel::start_with(primary, false)
    }

    pub fn start_with(primary: &Redis, acl: bool) -> Sentinel {
        let dir = super::test_dir();
        let d = dir.path();
        let tls_port = super::free_port();
        let conf = format!(
            "bind 127.0.0.1\nport 0\ntls-port {tls_port}\ntls-cert-file {cert}\ntls-key-file {key}\ntls-ca-cert-file {ca}\n\
             tls-auth-clients no\ntls-replication yes\ndir {d}\nlogfile {d}/sentinel.log\ndaemonize no\n\
             sentinel monitor {MASTER_NAME} 127.0.0.1 {port} 2\nsentinel auth-user {MASTER_NAME} {ADMIN_USER}\n\
             sentinel auth-pass {MASTER_NAME} {ADMIN_PASSWORD}\nsentinel down-after-milliseconds {MASTER_NAME} 1000\n\
             sentinel failover-timeout {MASTER_NAME} 10000\nsentinel parallel-syncs {MASTER_NAME} 1\n{acl}",
            acl = if acl {
                format!(
                    "user default off\nuser {SENTINEL_PEER_USER} on >{SENTINEL_PEER_PASSWORD} allchannels +@all\n\
                     user {SENTINEL_CLIENT_USER} on >{SENTINEL_CLIENT_PASSWORD} -@all +auth +sentinel|get-master-addr-by-name\n\
                     sentinel sentinel-user {SENTINEL_PEER_USER}\nsentinel sentinel-pass {SENTINEL_PEER_PASSWORD}\n"
                )
            } else {
                String::new()
            },
            cert = primary.pki.cert.display(),
            key = primary.pki.key.display(),
            ca = primary.pki.ca.display(),
            d = d.display(),
            port = primary.tls_port,
        );
        std::fs::write(d.join("sentinel.conf"), conf).expect("sentinel.conf");
        let child = Command::new("/usr/bin/redis-sentinel")
            .arg(d.join("sentinel.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-sentinel");
        let s = Sentinel { dir, child: Some(child), tls_port };
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", tls_port)).is_err() {
            assert!(started.elapsed() < Duration::from_secs(10), "redis-sentinel did not start: {}", s.log());
            std::thread::sleep(Duration::from_millis(20));
        }
        s
    }

    pub fn url(&self) -> String {
        format!("rediss://127.0.0.1:{}", self.tls_port)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sentinel.log")).unwrap_or_default()
    }
}

impl Drop for Sentinel {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill").arg("-TERM").arg(c.id().to_string()).status();
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
