//! A real OpenLDAP slapd on loopback, with a test CA for StartTLS and ldaps.

// each test binary uses a part of the shared harness
#![allow(dead_code)]

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const BASE: &str = "dc=example,dc=org";
pub const BIND_DN: &str = "cn=pam,dc=example,dc=org";
pub const BIND_PASSWORD: &str = "pam-bind-secret";

pub fn available() -> Option<String> {
    for p in ["/usr/sbin/slapd", "/usr/sbin/slapadd", "/etc/ldap/schema/inetorgperson.schema"] {
        if !Path::new(p).exists() {
            return Some(format!("needs {p} (Debian packages slapd, ldap-utils)"));
        }
    }
    None
}

pub struct Slapd {
    pub dir: tempfile::TempDir,
    child: Option<Child>,
    pub port: u16,
    pub tls_port: u16,
    /// The CA that signed the server certificate (PEM file).
    pub ca: PathBuf,
    /// A CA that signed nothing here: trusting only it must fail.
    pub other_ca: PathBuf,
}

/// The directory's people: every case the tests need.
pub const PEOPLE: &str = "\
dn: uid=alice,ou=people,dc=example,dc=org
objectClass: inetOrgPerson
uid: alice
cn: Alice
sn: A
mobile: +1 555 123 4567

dn: uid=bob,ou=people,dc=example,dc=org
objectClass: inetOrgPerson
uid: bob
cn: Bob
sn: B
telephoneNumber: +44 7700 900123

dn: uid=carol,ou=people,dc=example,dc=org
objectClass: inetOrgPerson
uid: carol
cn: Carol
sn: C
mobile: +1 555 000 1111
telephoneNumber: +1 555 000 2222

dn: uid=dave,ou=people,dc=example,dc=org
objectClass: inetOrgPerson
uid: dave
cn: Dave
sn: D

dn: uid=twin,ou=people,dc=example,dc=org
objectClass: inetOrgPerson
uid: twin
cn: Twin One
sn: T
mobile: +1 555 000 3333

dn: uid=twin,ou=others,dc=example,dc=org
objectClass: inetOrgPerson
uid: twin
cn: Twin Two
sn: T
mobile: +1 555 000 4444

dn:: dWlkPWrDvHJnZW4sb3U9cGVvcGxlLGRjPWV4YW1wbGUsZGM9b3Jn
objectClass: inetOrgPerson
uid:: asO8cmdlbg==
cn:: SsO8cmdlbiBNw7xsbGVy
sn: M
mobile: 0049 171 2345678

dn: uid=national,ou=people,dc=example,dc=org
objectClass: inetOrgPerson
uid: national
cn: National
sn: N
mobile: 0171 7654321

dn: uid=broken,ou=people,dc=example,dc=org
objectClass: inetOrgPerson
uid: broken
cn: Broken
sn: B
mobile: 12345
";

fn write_ca(dir: &Path, name: &str) -> (rcgen::Issuer<'static, rcgen::KeyPair>, PathBuf) {
    let key = rcgen::KeyPair::generate().expect("key");
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.distinguished_name.push(rcgen::DnType::CommonName, format!("pam_smsotp test CA {name}"));
    params.key_usages =
        vec![rcgen::KeyUsagePurpose::KeyCertSign, rcgen::KeyUsagePurpose::CrlSign, rcgen::KeyUsagePurpose::DigitalSignature];
    let cert = params.self_signed(&key).expect("ca");
    let path = dir.join(format!("{name}.pem"));
    std::fs::write(&path, cert.pem()).expect("ca pem");
    (rcgen::Issuer::new(params, key), path)
}

impl Slapd {
    pub fn start() -> Slapd {
        let dir = super::test_dir();
        let d = dir.path();
        let (issuer, ca) = write_ca(d, "ca");
        let (_, other_ca) = write_ca(d, "other-ca");
        let server_key = rcgen::KeyPair::generate().expect("key");
        let mut params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).expect("params");
        params.distinguished_name.push(rcgen::DnType::CommonName, "127.0.0.1");
        let server = params.signed_by(&server_key, &issuer).expect("server cert");
        std::fs::write(d.join("server.pem"), server.pem()).expect("server pem");
        std::fs::write(d.join("server.key"), server_key.serialize_pem()).expect("server key");
        std::fs::create_dir(d.join("db")).expect("db dir");
        let conf = format!(
            "include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
modulepath /usr/lib/ldap
moduleload back_mdb
pidfile {d}/slapd.pid
TLSCACertificateFile {d}/ca.pem
TLSCertificateFile {d}/server.pem
TLSCertificateKeyFile {d}/server.key
database mdb
maxsize 10485760
suffix \"{BASE}\"
rootdn \"cn=admin,{BASE}\"
rootpw admin-secret
directory {d}/db
access to attrs=userPassword by anonymous auth by * none
access to * by * read
",
            d = d.display()
        );
        std::fs::write(d.join("slapd.conf"), conf).expect("slapd.conf");
        let data = format!(
            "dn: {BASE}\nobjectClass: dcObject\nobjectClass: organization\no: Example\ndc: example\n\n\
             dn: ou=people,{BASE}\nobjectClass: organizationalUnit\nou: people\n\n\
             dn: ou=others,{BASE}\nobjectClass: organizationalUnit\nou: others\n\n\
             dn: {BIND_DN}\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\ncn: pam\nuserPassword: {BIND_PASSWORD}\n\n{PEOPLE}"
        );
        std::fs::write(d.join("data.ldif"), data).expect("data");
        let out = Command::new("/usr/sbin/slapadd")
            .args(["-q", "-f"])
            .arg(d.join("slapd.conf"))
            .arg("-l")
            .arg(d.join("data.ldif"))
            .output()
            .expect("slapadd");
        assert!(out.status.success(), "slapadd: {}", String::from_utf8_lossy(&out.stderr));
        let (port, tls_port) = (super::free_port(), super::free_port());
        let mut slapd = Slapd { dir, child: None, port, tls_port, ca, other_ca };
        slapd.run();
        slapd
    }

    fn run(&mut self) {
        let d = self.dir.path();
        let urls = format!("ldap://127.0.0.1:{}/ ldaps://127.0.0.1:{}/", self.port, self.tls_port);
        let child = Command::new("/usr/sbin/slapd")
            .arg("-f")
            .arg(d.join("slapd.conf"))
            .args(["-h", &urls, "-d", "0"])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(d.join("slapd.log")).expect("log"))
            .spawn()
            .expect("start slapd");
        self.child = Some(child);
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() || TcpStream::connect(("127.0.0.1", self.tls_port)).is_err() {
            assert!(started.elapsed() < Duration::from_secs(10), "slapd did not start: {}", self.log());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("slapd.log")).unwrap_or_default()
    }

    /// Stop slapd by its PID (the tests of an outage call this, Drop too).
    pub fn stop(&mut self) {
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

impl Drop for Slapd {
    fn drop(&mut self) {
        self.stop();
    }
}
