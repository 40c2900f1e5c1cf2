//! Packaging and documentation: the Debian package and the RPM as the README's
//! commands build them (packaging/deb/build.sh, packaging/rpm/build.sh), their
//! file lists, modes and configuration-file marks; the .deb installed, upgraded,
//! removed and purged in a throw-away root with the installed `smsotp check`
//! passing; the RPM installed and upgraded in another; lintian; the man pages
//! rendered with warnings as errors; and the documentation checked against the
//! code: every configuration key the parser accepts is in pam_smsotp.toml(5)
//! and in conf/pam_smsotp.toml and nothing else is, and every `smsotp` command
//! and option is in smsotp(8) and nothing else is.
//!
//! Nothing here writes to the host's /etc, /usr or /var: packages go into roots
//! under CARGO_TARGET_TMPDIR (`dpkg --root`, `rpm --root`), the maintainer
//! scripts run with DPKG_ROOT set (which they honour, and which makes them skip
//! pam-auth-update), and `smsotp check` runs on a copy of the installed
//! configuration whose paths point into the throw-away root. Tests print
//! `SKIPPED: <test>: <reason>` when not root or when a tool is missing.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

mod common;

use pam_smsotp::config::Config;
use pam_smsotp::config::keys;

const VERSION: &str = env!("CARGO_PKG_VERSION");
const PRESETS: &[&str] = &["twilio", "vonage", "plivo", "clickatell", "bulksms", "messagebird", "sinch", "telnyx", "infobip", "kannel"];

// ---------------------------------------------------------------------------
// helpers

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// This test process's own directory under cargo's temp dir for integration
/// tests, so that concurrent runs do not collide; those of finished runs are
/// removed.
fn base() -> &'static Path {
    static BASE: OnceLock<PathBuf> = OnceLock::new();
    BASE.get_or_init(|| {
        let parent = Path::new(env!("CARGO_TARGET_TMPDIR")).join("packaging");
        if let Ok(entries) = fs::read_dir(&parent) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                let alive = name.parse::<u32>().map(|pid| Path::new(&format!("/proc/{pid}")).exists()).unwrap_or(false);
                if !alive {
                    let _ = fs::remove_dir_all(e.path());
                }
            }
        }
        let dir = parent.join(std::process::id().to_string());
        fs::create_dir_all(&dir).unwrap();
        dir
    })
}

/// A fresh directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = base().join(name);
    if dir.exists() {
        fs::remove_dir_all(&dir).unwrap();
    }
    fs::create_dir_all(&dir).unwrap();
    dir
}

fn run(cmd: &mut Command) -> Output {
    let shown = format!("{cmd:?}");
    let out = cmd.output().unwrap_or_else(|e| panic!("{shown}: {e}"));
    if !out.status.success() {
        panic!("{shown} failed ({}):\n{}\n{}", out.status, String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    }
    out
}

fn stdout(cmd: &mut Command) -> String {
    String::from_utf8(run(cmd).stdout).unwrap()
}

fn mode(path: &Path) -> u32 {
    fs::symlink_metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).mode() & 0o7777
}

/// The example files the packages must carry: whatever conf/ holds at build time.
fn conf_examples(sub: &str) -> Vec<String> {
    let dir = repo().join("conf").join(sub);
    let mut names: Vec<String> = match fs::read_dir(&dir) {
        Ok(entries) => {
            entries.filter_map(|e| e.ok()).filter(|e| e.path().is_file()).map(|e| e.file_name().to_string_lossy().into_owned()).collect()
        }
        Err(_) => Vec::new(),
    };
    names.sort();
    names
}

// ---------------------------------------------------------------------------
// building, once per test run

/// `cargo build --release` once; both package scripts then pack its output.
fn release_build() -> &'static Result<(), String> {
    static BUILT: OnceLock<Result<(), String>> = OnceLock::new();
    BUILT.get_or_init(|| {
        let out =
            Command::new(env!("CARGO")).args(["build", "--release", "--quiet"]).current_dir(repo()).output().map_err(|e| e.to_string())?;
        if out.status.success() { Ok(()) } else { Err(String::from_utf8_lossy(&out.stderr).into_owned()) }
    })
}

/// Run a package build script; its last stdout line is the package's path.
fn build_package(script: &str) -> Result<PathBuf, String> {
    release_build().clone()?;
    // a directory of this test process's own, so that concurrent runs and
    // hand-made builds in target/ do not collide
    let dir = base().join(if script.contains("deb") { "deb-out" } else { "rpm-out" });
    let out = Command::new(repo().join(script))
        .env("SKIP_CARGO_BUILD", "1")
        .env("PKG_OUT", &dir)
        .current_dir(repo())
        .output()
        .map_err(|e| format!("{script}: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        return Err(format!("{script} failed:\n{text}\n{}", String::from_utf8_lossy(&out.stderr)));
    }
    let last = text.lines().last().unwrap_or("").trim().to_string();
    let path = repo().join(&last);
    if !path.is_file() {
        return Err(format!("{script} printed {last:?}, which is not a file"));
    }
    Ok(path)
}

fn deb() -> PathBuf {
    static DEB: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    DEB.get_or_init(|| build_package("packaging/deb/build.sh")).clone().unwrap()
}

fn rpm() -> PathBuf {
    static RPM: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    RPM.get_or_init(|| build_package("packaging/rpm/build.sh")).clone().unwrap()
}

// ---------------------------------------------------------------------------
// the Debian package

/// `dpkg-deb -c`: path (without the leading '.') -> (mode string, owner).
fn deb_listing(deb: &Path) -> BTreeMap<String, (String, String)> {
    let text = stdout(Command::new("dpkg-deb").arg("-c").arg(deb));
    text.lines()
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let path = f[5..].join(" ");
            let path = path.trim_start_matches('.').trim_end_matches('/').to_string();
            (if path.is_empty() { "/".into() } else { path }, (f[0].to_string(), f[1].to_string()))
        })
        .collect()
}

#[test]
fn deb_has_the_files_modes_conffiles_and_dependencies() {
    require!(Programs(&["dpkg-deb", "dpkg-architecture", "dpkg-shlibdeps", "make", "strip", "nm"]));
    let deb = deb();
    let name = deb.file_name().unwrap().to_string_lossy().into_owned();
    let arch = stdout(Command::new("dpkg-architecture").arg("-qDEB_HOST_ARCH")).trim().to_string();
    assert!(name.starts_with(&format!("pam-smsotp_{VERSION}-")) && name.ends_with(&format!("_{arch}.deb")), "{name}");

    let files = deb_listing(&deb);
    let security = format!("/usr/lib/{}/security", common::arch::multiarch());
    let expect = [
        (format!("{security}/pam_smsotp.so"), "-rw-r--r--"),
        ("/usr/sbin/smsotp".into(), "-rwxr-xr-x"),
        ("/etc/security/pam_smsotp.toml".into(), "-rw-------"),
        ("/etc/security/pam_smsotp.phones".into(), "-rw-------"),
        ("/usr/lib/tmpfiles.d/pam_smsotp.conf".into(), "-rw-r--r--"),
        ("/usr/share/pam-configs/smsotp".into(), "-rw-r--r--"),
        ("/usr/share/man/man8/pam_smsotp.8.gz".into(), "-rw-r--r--"),
        ("/usr/share/man/man8/smsotp.8.gz".into(), "-rw-r--r--"),
        ("/usr/share/man/man5/pam_smsotp.toml.5.gz".into(), "-rw-r--r--"),
        ("/usr/share/doc/pam-smsotp/copyright".into(), "-rw-r--r--"),
        ("/usr/share/doc/pam-smsotp/changelog.Debian.gz".into(), "-rw-r--r--"),
        ("/usr/share/doc/pam-smsotp/examples/pam_smsotp.phones".into(), "-rw-r--r--"),
        ("/usr/share/doc/pam-smsotp/examples/pam_smsotp.toml".into(), "-rw-r--r--"),
    ];
    for (path, want) in &expect {
        match files.get(path) {
            Some((m, _)) => assert_eq!(m, want, "{path}"),
            None => panic!("{path} is not in {name}: {:#?}", files.keys()),
        }
    }
    for (sub, names) in [("pam.d", conf_examples("pam.d")), ("sshd_config.d", conf_examples("sshd_config.d"))] {
        for n in names {
            let path = format!("/usr/share/doc/pam-smsotp/examples/{sub}/{n}");
            assert!(files.contains_key(&path), "conf/{sub}/{n} is not packaged as {path}");
        }
    }
    assert!(!conf_examples("pam.d").is_empty(), "conf/pam.d has no example stack");
    for (path, (m, owner)) in &files {
        assert_eq!(owner, "root/root", "{path}");
        if m.starts_with('d') {
            assert_eq!(m, "drwxr-xr-x", "{path}");
        }
        // the state directory is postinst's (and tmpfiles.d's), not a packaged path
        assert!(!path.starts_with("/var"), "{path} should not be in the package");
    }

    // control: conffiles, dependencies
    let conffiles = stdout(Command::new("dpkg-deb").arg("-I").arg(&deb).arg("conffiles"));
    let conffiles: BTreeSet<&str> = conffiles.lines().map(str::trim).collect();
    assert_eq!(conffiles, BTreeSet::from(["/etc/security/pam_smsotp.toml", "/etc/security/pam_smsotp.phones"]),);
    let depends = stdout(Command::new("dpkg-deb").arg("-f").arg(&deb).arg("Depends"));
    for dep in ["libc6 (>=", "libpam0g (>=", "libgcc-s1", "libpam-runtime", "ca-certificates"] {
        assert!(depends.contains(dep), "Depends lacks {dep}: {depends}");
    }
    let postinst = stdout(Command::new("dpkg-deb").arg("-I").arg(&deb).arg("postinst"));
    let code: Vec<&str> = postinst.lines().filter(|l| !l.trim_start().starts_with('#')).collect();
    assert!(!code.iter().any(|l| l.contains("--enable")), "postinst must not enable the profile");
    assert!(code.iter().any(|l| l.contains("0700")), "postinst creates the state directory 0700");
    let prerm = stdout(Command::new("dpkg-deb").arg("-I").arg(&deb).arg("prerm"));
    assert!(prerm.contains("pam-auth-update --package --remove smsotp"), "{prerm}");

    // contents
    let root = scratch("deb-contents");
    run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&root));
    let installed = |p: &str| root.join(p.trim_start_matches('/'));
    assert_eq!(
        fs::read(installed("/etc/security/pam_smsotp.toml")).unwrap(),
        fs::read(repo().join("conf/pam_smsotp.toml")).unwrap(),
        "the conffile is conf/pam_smsotp.toml"
    );
    let tmpfiles = fs::read_to_string(installed("/usr/lib/tmpfiles.d/pam_smsotp.conf")).unwrap();
    let entries: Vec<&str> = tmpfiles.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()).collect();
    assert_eq!(entries, ["d /var/lib/pam_smsotp 0700 root root -"]);
    let profile = fs::read_to_string(installed("/usr/share/pam-configs/smsotp")).unwrap();
    check_pam_auth_update_profile(&profile);
    let symbols = stdout(Command::new("nm").arg("-D").arg("--defined-only").arg(installed(&format!("{security}/pam_smsotp.so"))));
    for sym in ["pam_sm_authenticate", "pam_sm_setcred"] {
        assert!(symbols.lines().any(|l| l.ends_with(&format!(" {sym}"))), "{sym} not exported");
    }
    let copyright = fs::read_to_string(installed("/usr/share/doc/pam-smsotp/copyright")).unwrap();
    assert!(copyright.starts_with("Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/"));
    assert!(copyright.contains("License: MIT"));
}

/// The profile is off by default and, once enabled, puts the module in the
/// "Additional" block (after pam_deny/pam_permit, i.e. after a successful
/// password), never in the "Primary" block where pam_unix's success=end would
/// jump over it.
fn check_pam_auth_update_profile(profile: &str) {
    let mut fields = BTreeMap::new();
    let mut current = String::new();
    for line in profile.lines() {
        assert!(!line.starts_with('#'), "pam-auth-update has no comments: {line:?}");
        if let Some((k, v)) = line.split_once(':').filter(|(k, _)| !k.starts_with(char::is_whitespace)) {
            current = k.to_string();
            fields.insert(current.clone(), v.trim().to_string());
        } else if !line.trim().is_empty() {
            let v = fields.get_mut(&current).unwrap();
            v.push('\n');
            v.push_str(line.trim());
        }
    }
    assert_eq!(fields.get("Default").map(String::as_str), Some("no"), "{profile}");
    assert_eq!(fields.get("Auth-Type").map(String::as_str), Some("Additional"), "{profile}");
    let auth: Vec<String> =
        fields["Auth"].lines().map(|l| l.split_whitespace().collect::<Vec<_>>().join(" ")).filter(|l| !l.is_empty()).collect();
    assert_eq!(auth, ["requisite pam_smsotp.so"], "{profile}");
    assert!(fields["Priority"].parse::<u32>().is_ok(), "{profile}");
    for k in fields.keys() {
        assert!(!k.starts_with("Account") && !k.starts_with("Session") && !k.starts_with("Password"), "only auth: {k}");
    }
}

/// Runs pam-auth-update in a private mount namespace over copies of
/// /etc/pam.d, /var/lib/pam, /usr/share/pam-configs and /var/cache/debconf:
/// register the packaged profile (as postinst does, on stock common-* files),
/// enable it, remove it (as
/// prerm does), printing the auth lines of common-auth after each step. Every
/// bind mount is proven to write into its copy before pam-auth-update runs.
const PAM_AUTH_UPDATE_SANDBOX: &str = r#"
set -eu
work=$1; profile=$2
for pair in pamd:/etc/pam.d seen:/var/lib/pam configs:/usr/share/pam-configs debconf:/var/cache/debconf; do
  copy=$work/${pair%%:*}; real=${pair#*:}
  [ -d "$real" ] || { echo "no $real" >&2; exit 1; }
  mkdir -p "$copy"
  cp -a "$real/." "$copy/"
  mount --bind "$copy" "$real"
  touch "$real/.smsotp-sandbox"
  test -e "$copy/.smsotp-sandbox"
  rm -f "$real/.smsotp-sandbox"
done
cp "$profile" /usr/share/pam-configs/smsotp
export DEBIAN_FRONTEND=noninteractive
show() { echo "== $1"; grep -E '^auth[[:space:]]' /etc/pam.d/common-auth | tr -s ' 	' ' '; }
# --force: start from Debian's stock common-* even if the host's were edited
pam-auth-update --package --force; show package
pam-auth-update --enable smsotp; show enable
pam-auth-update --package --remove smsotp; show remove
"#;

#[test]
fn pam_auth_update_keeps_the_profile_off_and_enables_it_after_the_password() {
    require!(
        Root,
        Programs(&["unshare", "mount", "pam-auth-update", "dpkg-deb", "dpkg-architecture", "dpkg-shlibdeps", "make", "strip"]),
        DebianPam
    );
    let root = scratch("pam-auth-update");
    run(Command::new("dpkg-deb").arg("-x").arg(deb()).arg(root.join("pkg")));
    let profile = root.join("pkg/usr/share/pam-configs/smsotp");
    let before = (fs::read("/etc/pam.d/common-auth").unwrap(), fs::read("/var/lib/pam/seen").ok());
    let out = stdout(
        Command::new("unshare")
            .args(["--mount", "--propagation", "private", "bash", "-c", PAM_AUTH_UPDATE_SANDBOX, "sandbox"])
            .arg(root.join("sandbox"))
            .arg(&profile),
    );
    // the copies include debconf's database, which may hold other packages' answers
    fs::remove_dir_all(root.join("sandbox")).unwrap();
    let after = (fs::read("/etc/pam.d/common-auth").unwrap(), fs::read("/var/lib/pam/seen").ok());
    assert!(before == after, "the host's PAM configuration changed");

    let step = |name: &str| -> Vec<String> {
        out.split("== ")
            .find(|s| s.starts_with(name))
            .unwrap_or_else(|| panic!("{out}"))
            .lines()
            .skip(1)
            .map(|l| l.trim().to_string())
            .collect()
    };
    let installed = step("package");
    assert!(!installed.iter().any(|l| l.contains("pam_smsotp")), "installing must not enable the profile:\n{out}");
    let enabled = step("enable");
    let at = |module: &str| enabled.iter().position(|l| l.contains(module)).unwrap_or_else(|| panic!("no {module}:\n{out}"));
    let smsotp = at("pam_smsotp.so");
    assert_eq!(enabled[smsotp], "auth requisite pam_smsotp.so", "{out}");
    // after the password modules' block and its pam_deny / pam_permit: only a
    // login whose password succeeded reaches the module
    assert!(smsotp > at("pam_unix.so") && smsotp > at("pam_deny.so") && smsotp > at("pam_permit.so"), "{out}");
    assert_eq!(enabled.len(), installed.len() + 1, "{out}");
    assert_eq!(step("remove"), installed, "{out}");
}

/// A root that dpkg can install into: its own empty database.
fn dpkg_root(name: &str) -> PathBuf {
    let root = scratch(name);
    for d in ["var/lib/dpkg/info", "var/lib/dpkg/updates", "var/lib/dpkg/triggers", "var/log", "var/spool"] {
        fs::create_dir_all(root.join(d)).unwrap();
    }
    fs::write(root.join("var/lib/dpkg/status"), "").unwrap();
    fs::write(root.join("var/lib/dpkg/available"), "").unwrap();
    root
}

fn dpkg(root: &Path, args: &[&str], deb: Option<&Path>) -> Output {
    let mut cmd = Command::new("dpkg");
    cmd.arg(format!("--root={}", root.display()))
        // the maintainer scripts honour DPKG_ROOT; run them from the host's shell
        .arg("--force-script-chrootless")
        // libc6, libpam0g... are the host's, not in this empty root
        .arg("--force-depends")
        .arg("--log=/dev/null")
        .args(args);
    if let Some(d) = deb {
        cmd.arg(d);
    }
    run(&mut cmd)
}

/// What of the host a package install could touch: it must not change.
fn host_fingerprint() -> (Option<Vec<u8>>, bool, String) {
    let status = Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", "pam-smsotp"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    (fs::read("/etc/pam.d/common-auth").ok(), Path::new("/var/lib/pam_smsotp").exists(), status)
}

#[test]
fn deb_installs_upgrades_removes_and_purges_in_a_throwaway_root() {
    require!(Root, Programs(&["dpkg", "dpkg-deb", "dpkg-architecture", "dpkg-shlibdeps", "make", "strip"]));
    let deb = deb();
    let host_before = host_fingerprint();
    let root = dpkg_root("deb-root");
    let at = |p: &str| root.join(p.trim_start_matches('/'));

    dpkg(&root, &["--install"], Some(&deb));
    let config = at("/etc/security/pam_smsotp.toml");
    let state = at("/var/lib/pam_smsotp");
    assert_eq!(mode(&config), 0o600);
    assert_eq!(fs::metadata(&config).unwrap().uid(), 0);
    assert!(state.is_dir(), "postinst creates the state directory");
    assert_eq!(mode(&state), 0o700);
    assert_eq!(fs::metadata(&state).unwrap().uid(), 0);
    assert!(at(&format!("/usr/lib/{}/security/pam_smsotp.so", common::arch::multiarch())).is_file());

    // the installed command accepts the installed configuration
    installed_smsotp_check(&root);

    // an administrator's change survives a reinstall of the package (dpkg keeps
    // a changed conffile whose packaged version did not change)
    let mut text = fs::read_to_string(&config).unwrap();
    text.push_str("\n# changed by the administrator\n");
    fs::write(&config, &text).unwrap();
    fs::write(state.join("alice"), "state").unwrap();
    dpkg(&root, &["--install"], Some(&deb));
    assert_eq!(fs::read_to_string(&config).unwrap(), text, "the conffile was overwritten");
    assert_eq!(mode(&config), 0o600);
    assert!(state.join("alice").exists(), "an upgrade keeps the state");

    // remove: program gone, configuration and state stay
    dpkg(&root, &["--remove", "pam-smsotp"], None);
    assert!(!at("/usr/sbin/smsotp").exists());
    assert!(config.exists(), "remove keeps the conffiles");
    assert!(state.join("alice").exists(), "remove keeps the state");

    // purge: configuration, state and the default spool file go
    fs::create_dir_all(at("/var/spool/pam_smsotp")).unwrap();
    fs::write(at("/var/spool/pam_smsotp/outbox.jsonl"), "{}\n").unwrap();
    dpkg(&root, &["--purge", "pam-smsotp"], None);
    assert!(!config.exists(), "purge removes the conffile");
    assert!(!at("/etc/security/pam_smsotp.phones").exists());
    assert!(!state.exists(), "purge removes the state directory");
    assert!(!at("/var/spool/pam_smsotp").exists(), "purge removes the default spool");

    assert_eq!(host_fingerprint(), host_before, "the host's PAM config, state dir or dpkg database changed");
}

/// Run the installed `smsotp check` on a copy of the installed configuration
/// whose file paths point into `root` (the default state directory is the
/// host's /var/lib/pam_smsotp, which `check` would create). The copy is parsed
/// first so that no path outside `root` can reach the command.
fn installed_smsotp_check(root: &Path) {
    let r = root.display().to_string();
    let original = fs::read_to_string(root.join("etc/security/pam_smsotp.toml")).unwrap();
    let mut text = original.clone();
    for p in ["/etc/security/pam_smsotp.phones", "/var/lib/pam_smsotp", "/var/spool/pam_smsotp/"] {
        text = text.replace(&format!("\"{p}"), &format!("\"{r}{p}"));
    }
    // the state directory must be named, or the default (the host's) would be used
    if !text.contains(&format!("dir = \"{r}/var/lib/pam_smsotp\"")) {
        text.push_str(&format!("\n[state]\ndir = \"{r}/var/lib/pam_smsotp\"\n"));
    }
    let parsed = Config::parse(&text).unwrap_or_else(|e| panic!("the installed configuration does not parse: {e}"));
    assert!(parsed.state.dir.starts_with(root), "{}", parsed.state.dir.display());
    for d in &parsed.directories {
        if let pam_smsotp::config::DirectoryConfig::File(f) = d {
            assert!(f.path.starts_with(root), "{}", f.path.display());
        }
    }
    let copy = root.join("etc/security/pam_smsotp.check.toml");
    fs::write(&copy, &text).unwrap();
    fs::set_permissions(&copy, fs::Permissions::from_mode(0o600)).unwrap();
    let out = Command::new(root.join("usr/sbin/smsotp")).arg("--config").arg(&copy).arg("check").env_clear().output().unwrap();
    let shown = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "installed smsotp check failed:\n{shown}");
    assert!(shown.contains(": valid"), "{shown}");
    assert!(shown.contains(&format!("state: {r}/var/lib/pam_smsotp is usable")), "{shown}");
    let version = stdout(Command::new(root.join("usr/sbin/smsotp")).arg("--version"));
    assert_eq!(version.trim(), format!("smsotp {VERSION}"));
    fs::remove_file(&copy).unwrap();
}

#[test]
fn deb_is_lintian_clean() {
    require!(Programs(&["lintian", "dpkg-deb", "dpkg-architecture", "dpkg-shlibdeps", "make", "strip"]));
    let deb = deb();
    let out = Command::new("lintian")
        .args(["--info", "--pedantic", "--display-experimental", "--no-tag-display-limit"])
        .arg(&deb)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    eprintln!("lintian:\n{text}");
    let bad: Vec<&str> = text.lines().filter(|l| l.starts_with("E:") || l.starts_with("W:")).collect();
    assert!(
        bad.is_empty(),
        "lintian errors or warnings (fix them, or override and explain in packaging/deb/lintian-notes.md):\n{}",
        bad.join("\n")
    );
    assert!(out.status.success(), "lintian failed: {text}\n{}", String::from_utf8_lossy(&out.stderr));
    let notes = fs::read_to_string(repo().join("packaging/deb/lintian-notes.md")).unwrap();
    let overrides = fs::read_to_string(repo().join("packaging/deb/lintian-overrides")).unwrap();
    for line in overrides.lines().filter(|l| l.starts_with("pam-smsotp:")) {
        let tag = line.split_whitespace().nth(1).unwrap();
        assert!(notes.contains(tag), "override {tag} is not explained in lintian-notes.md");
    }
    for line in text.lines().filter(|l| l.starts_with("I:") || l.starts_with("P:") || l.starts_with("X:")) {
        let tag = line.split_whitespace().nth(2).unwrap_or("");
        assert!(notes.contains(tag) || tag == "unused-override", "lintian {line:?} is neither fixed nor explained in lintian-notes.md");
    }
}

// ---------------------------------------------------------------------------
// the RPM

/// `rpm` with a database of this test's own (Debian's rpm would otherwise make
/// ~/.rpmdb even to query a package file).
fn rpm_cmd() -> Command {
    let db = base().join("rpm-query-db");
    fs::create_dir_all(&db).unwrap();
    let mut cmd = Command::new("rpm");
    cmd.arg("--dbpath").arg(db);
    cmd
}

/// `rpm -qlpv`: path -> (mode string, user, group).
fn rpm_listing(rpm: &Path) -> BTreeMap<String, (String, String, String)> {
    let text = stdout(rpm_cmd().arg("-qlpv").arg(rpm));
    text.lines()
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f[8..].join(" "), (f[0].to_string(), f[2].to_string(), f[3].to_string()))
        })
        .collect()
}

#[test]
fn rpm_has_the_files_modes_and_config_marks_and_installs_in_a_throwaway_root() {
    require!(Root, Programs(&["rpmbuild", "rpm", "make"]));
    let rpm = rpm();
    let name = rpm.file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.starts_with(&format!("pam_smsotp-{VERSION}-1")) && name.ends_with(".rpm"), "{name}");

    let files = rpm_listing(&rpm);
    let expect = [
        ("/usr/lib64/security/pam_smsotp.so", "-rw-r--r--"),
        ("/usr/sbin/smsotp", "-rwxr-xr-x"),
        ("/etc/security/pam_smsotp.toml", "-rw-------"),
        ("/etc/security/pam_smsotp.phones", "-rw-------"),
        ("/usr/lib/tmpfiles.d/pam_smsotp.conf", "-rw-r--r--"),
        ("/var/lib/pam_smsotp", "drwx------"),
        ("/usr/share/man/man8/pam_smsotp.8.gz", "-rw-r--r--"),
        ("/usr/share/man/man8/smsotp.8.gz", "-rw-r--r--"),
        ("/usr/share/man/man5/pam_smsotp.toml.5.gz", "-rw-r--r--"),
        ("/usr/share/doc/pam_smsotp/copyright", "-rw-r--r--"),
        ("/usr/share/doc/pam_smsotp/examples/pam_smsotp.phones", "-rw-r--r--"),
    ];
    for (path, want) in expect {
        match files.get(path) {
            Some((m, u, g)) => {
                assert_eq!(m, want, "{path}");
                assert_eq!((u.as_str(), g.as_str()), ("root", "root"), "{path}");
            }
            None => panic!("{path} is not in {name}: {:#?}", files.keys()),
        }
    }
    for n in conf_examples("pam.d") {
        assert!(files.contains_key(&format!("/usr/share/doc/pam_smsotp/examples/pam.d/{n}")), "conf/pam.d/{n}");
    }
    for n in conf_examples("sshd_config.d") {
        assert!(files.contains_key(&format!("/usr/share/doc/pam_smsotp/examples/sshd_config.d/{n}")), "conf/sshd_config.d/{n}");
    }
    assert!(!files.keys().any(|p| p.contains("pam-configs")), "pam-auth-update profiles are Debian's");
    assert!(!files.keys().any(|p| p.contains("/lintian/") || p.contains("/.build-id")), "{:#?}", files.keys());

    // %config(noreplace) on both files in /etc, and nothing else is config
    let flags = stdout(rpm_cmd().arg("-qp").arg("--qf").arg("[%{FILEFLAGS:fflags} %{FILENAMES}\n]").arg(&rpm));
    let config: BTreeMap<&str, &str> =
        flags.lines().filter_map(|l| l.split_once(' ').map(|(f, p)| (p, f))).filter(|(_, f)| f.contains('c')).collect();
    assert_eq!(config, BTreeMap::from([("/etc/security/pam_smsotp.phones", "cn"), ("/etc/security/pam_smsotp.toml", "cn")]), "{flags}");
    let configfiles = stdout(rpm_cmd().arg("-qp").arg("--configfiles").arg(&rpm));
    assert_eq!(
        configfiles.lines().collect::<BTreeSet<_>>(),
        BTreeSet::from(["/etc/security/pam_smsotp.phones", "/etc/security/pam_smsotp.toml"])
    );
    let requires = stdout(rpm_cmd().arg("-qp").arg("--requires").arg(&rpm));
    for r in ["pam", "ca-certificates", "libpam.so.0()(64bit)", "libc.so.6()(64bit)"] {
        assert!(requires.lines().any(|l| l.trim() == r), "Requires lacks {r}: {requires}");
    }

    // install, change the configuration, upgrade in place, erase: in a throw-away root
    let root = scratch("rpm-root");
    let at = |p: &str| root.join(p.trim_start_matches('/'));
    let rpm_in = |args: &[&str]| {
        let mut cmd = Command::new("rpm");
        cmd.arg("--root").arg(&root).args(["--dbpath", "/var/lib/rpm", "--nodeps"]).args(args);
        run(&mut cmd)
    };
    rpm_in(&["-i", rpm.to_str().unwrap()]);
    let config = at("/etc/security/pam_smsotp.toml");
    assert_eq!(mode(&config), 0o600);
    assert_eq!(mode(&at("/var/lib/pam_smsotp")), 0o700);
    assert_eq!(fs::metadata(at("/var/lib/pam_smsotp")).unwrap().uid(), 0);
    assert!(at("/usr/lib64/security/pam_smsotp.so").is_file());
    let mut text = fs::read_to_string(&config).unwrap();
    text.push_str("\n# changed by the administrator\n");
    fs::write(&config, &text).unwrap();
    rpm_in(&["-U", "--replacepkgs", rpm.to_str().unwrap()]);
    assert_eq!(fs::read_to_string(&config).unwrap(), text, "noreplace: the changed configuration stays");
    fs::write(at("/var/lib/pam_smsotp/alice"), "state").unwrap();
    rpm_in(&["-e", "pam_smsotp"]);
    assert!(!at("/usr/sbin/smsotp").exists());
    assert!(at("/var/lib/pam_smsotp/alice").exists(), "erase keeps the state");
    assert!(at("/etc/security/pam_smsotp.toml.rpmsave").exists(), "erase keeps a changed configuration as .rpmsave");
}

// ---------------------------------------------------------------------------
// man pages

const PAGES: &[&str] =
    &["packaging/man/pam_smsotp.8", "packaging/man/pam_smsotp.toml.5", "packaging/man/smsotp.8", "packaging/man/smsotp-dlrd.8"];

fn man_warnings(page: &Path) -> (String, String) {
    let out = Command::new("man")
        .args(["--warnings", "-l"])
        .arg(page)
        .env("MANWIDTH", "80")
        .env("LC_ALL", "C.UTF-8")
        .env("MAN_KEEP_FORMATTING", "")
        .env("PAGER", "cat")
        .output()
        .unwrap();
    assert!(out.status.success(), "man -l {}: {}", page.display(), String::from_utf8_lossy(&out.stderr));
    (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn man_pages_render_without_warnings() {
    require!(Programs(&["man", "groff"]));
    for page in PAGES {
        let (text, warnings) = man_warnings(&repo().join(page));
        assert!(warnings.trim().is_empty(), "man --warnings -l {page}:\n{warnings}");
        assert!(text.contains("NAME") && text.contains("SEE ALSO"), "{page}");
    }
}

#[test]
fn installed_man_pages_render_without_warnings_and_carry_the_version() {
    require!(Programs(&["man", "groff", "dpkg-deb", "dpkg-architecture", "dpkg-shlibdeps", "make", "strip"]));
    let root = scratch("deb-man");
    run(Command::new("dpkg-deb").arg("-x").arg(deb()).arg(&root));
    for page in ["usr/share/man/man8/pam_smsotp.8.gz", "usr/share/man/man8/smsotp.8.gz", "usr/share/man/man5/pam_smsotp.toml.5.gz"] {
        let (text, warnings) = man_warnings(&root.join(page));
        assert!(warnings.trim().is_empty(), "{page}:\n{warnings}");
        assert!(text.contains(&format!("pam_smsotp {VERSION}")), "{page} does not carry the version");
        assert!(!text.contains("@VERSION@"), "{page}");
    }
}

// ---------------------------------------------------------------------------
// the configuration keys: parser <-> pam_smsotp.toml(5) <-> conf/pam_smsotp.toml

fn parser_keys() -> BTreeSet<String> {
    keys::all().unwrap_or_else(|e| panic!("config::keys: {e}")).into_iter().collect()
}

/// Entries of pam_smsotp.toml(5): a `.TP`/`.TQ` tag `.B KEY` or `.BR KEY ...`
/// under a `.\" keys: TABLE...` comment counts as KEY of each TABLE.
fn man_page_keys(page: &str) -> BTreeSet<String> {
    let mut scopes: Vec<String> = Vec::new();
    let mut tag_next = false;
    let mut out = BTreeSet::new();
    for line in page.lines() {
        if let Some(rest) = line.strip_prefix(".\\\" keys:") {
            scopes = rest.split_whitespace().map(str::to_string).collect();
            continue;
        }
        if line == ".TP" || line == ".TQ" {
            tag_next = true;
            continue;
        }
        if tag_next {
            tag_next = false;
            let tag = line.strip_prefix(".BR ").or_else(|| line.strip_prefix(".B "));
            if let (Some(tag), false) = (tag, scopes.is_empty()) {
                let key = tag.split_whitespace().next().unwrap().trim_matches('"');
                for s in &scopes {
                    out.insert(format!("{s}.{key}"));
                }
            }
        }
    }
    out
}

#[test]
fn every_config_key_is_in_the_man_page_and_every_documented_key_exists() {
    let keys = parser_keys();
    let page = fs::read_to_string(repo().join("packaging/man/pam_smsotp.toml.5")).unwrap();
    let documented = man_page_keys(&page);
    let undocumented: Vec<_> = keys.difference(&documented).collect();
    let unknown: Vec<_> = documented.difference(&keys).collect();
    assert!(
        undocumented.is_empty() && unknown.is_empty(),
        "keys the parser accepts but pam_smsotp.toml(5) does not describe: {undocumented:#?}\n\
         keys pam_smsotp.toml(5) describes but the parser rejects: {unknown:#?}"
    );
}

/// `key = value` lines of the annotated config, commented out or not, as
/// dotted paths: `[section]` keys, `[[array]]` keys resolved by the entry's
/// `type`, and the keys of inline tables (`auth = { type = "bearer", ... }`).
fn conf_keys(text: &str) -> BTreeSet<String> {
    fn key_of(line: &str) -> Option<(&str, &str)> {
        let (k, v) = line.split_once('=')?;
        let k = k.trim();
        (!k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')).then_some((k, v.trim()))
    }
    /// `"x"   # comment` -> x
    fn string_value(v: &str) -> String {
        match v.strip_prefix('"') {
            Some(rest) => rest.split('"').next().unwrap_or("").to_string(),
            None => v.split('#').next().unwrap_or("").trim().to_string(),
        }
    }
    fn inline_keys(v: &str) -> Vec<(String, String)> {
        let inner = v.trim().strip_prefix('{').and_then(|s| s.split('}').next()).unwrap_or("");
        inner
            .split(',')
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.trim().to_string(), v.trim().trim_matches('"').to_string()))
            .filter(|(k, _)| k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
            .collect()
    }
    let mut out = BTreeSet::new();
    let mut section = String::new();
    let mut array = false;
    let mut entry: Vec<(String, String)> = Vec::new();
    let flush = |section: &str, entry: &mut Vec<(String, String)>, out: &mut BTreeSet<String>| {
        if entry.is_empty() {
            return;
        }
        let kind = entry.iter().find(|(k, _)| k == "type").map(|(_, v)| string_value(v));
        for (k, v) in entry.drain(..) {
            match &kind {
                _ if k == "type" => {
                    out.insert(format!("{section}.type"));
                }
                Some(kind) => {
                    out.insert(format!("{section}.{kind}.{k}"));
                    if k == "auth" || k == "success_json" {
                        let inline = inline_keys(&v);
                        let sub = inline.iter().find(|(k, _)| k == "type").map(|(_, v)| v.clone());
                        for (ik, _) in &inline {
                            match (&sub, ik.as_str()) {
                                (_, "type") => out.insert(format!("{section}.{kind}.{k}.type")),
                                (Some(sub), _) => out.insert(format!("{section}.{kind}.{k}.{sub}.{ik}")),
                                (None, _) => out.insert(format!("{section}.{kind}.{k}.{ik}")),
                            };
                        }
                    }
                }
                None => {
                    out.insert(format!("{section}.?.{k}"));
                }
            }
        }
    };
    for raw in text.lines() {
        let line = raw.trim_start_matches(|c: char| c == '#' || c.is_whitespace());
        if let Some(name) = line.strip_prefix("[[").and_then(|l| l.split("]]").next()) {
            flush(&section, &mut entry, &mut out);
            section = name.trim().to_string();
            array = true;
        } else if let Some(name) = line
            .strip_prefix('[')
            .and_then(|l| l.split(']').next())
            // `[state.redis]`: a table inside a section
            .filter(|n| n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.') && !n.is_empty())
        {
            flush(&section, &mut entry, &mut out);
            section = name.to_string();
            array = false;
        } else if let Some((k, v)) = key_of(line) {
            if section.is_empty() {
                continue;
            }
            if array {
                entry.push((k.to_string(), v.to_string()));
            } else {
                out.insert(format!("{section}.{k}"));
            }
        }
    }
    flush(&section, &mut entry, &mut out);
    out
}

fn words(text: &str) -> BTreeSet<String> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).filter(|w| !w.is_empty()).map(str::to_string).collect()
}

#[test]
fn every_config_key_is_in_the_annotated_config_and_every_key_there_exists() {
    let keys = parser_keys();
    let text = fs::read_to_string(repo().join("conf/pam_smsotp.toml")).unwrap();
    let written = conf_keys(&text);
    // every `key = ...` line in the file, commented out or not, is a real key where it stands
    let unknown: Vec<_> =
        written.iter().filter(|k| !keys.contains(*k) && !keys::FREE_FORM.iter().any(|f| k.starts_with(&format!("{f}.")))).collect();
    assert!(unknown.is_empty(), "conf/pam_smsotp.toml shows keys the parser rejects there: {unknown:#?}");
    // every key the parser accepts is shown: as a `key = ...` line where it
    // belongs, or, for the provider presets and the auth variants, which the
    // file lists in prose ("twilio: account_sid, auth_token | auth_token_file"),
    // by name next to its type's name
    let vocabulary = words(&text);
    let mut absent = Vec::new();
    for key in &keys {
        if written.contains(key) {
            continue;
        }
        let parts: Vec<&str> = key.split('.').collect();
        let listed_in_prose = (parts.len() >= 3 && PRESETS.contains(&parts[1]) || key.starts_with("connector.http.auth."))
            && parts[1..].iter().all(|p| vocabulary.contains(*p));
        if !listed_in_prose {
            absent.push(key);
        }
    }
    assert!(absent.is_empty(), "keys the parser accepts that conf/pam_smsotp.toml does not show: {absent:#?}");
}

// ---------------------------------------------------------------------------
// smsotp(8) <-> the command line

struct Cli {
    /// leaf command path ("backup-codes generate") -> its options and arguments
    commands: BTreeMap<String, (BTreeSet<String>, BTreeSet<String>)>,
    global: BTreeSet<String>,
}

fn help(args: &[&str]) -> String {
    stdout(Command::new(env!("CARGO_BIN_EXE_smsotp")).args(args).arg("--help").env_clear())
}

/// The lines of a `--help` block ("Commands:", "Options:", "Arguments:").
fn block<'a>(text: &'a str, title: &str) -> Vec<&'a str> {
    text.lines().skip_while(|l| *l != title).skip(1).take_while(|l| !l.trim().is_empty()).collect()
}

fn options_of(text: &str) -> BTreeSet<String> {
    block(text, "Options:")
        .iter()
        .flat_map(|l| l.split_whitespace().take_while(|w| w.starts_with('-')).map(|w| w.trim_end_matches(',').to_string()))
        .collect()
}

fn cli() -> Cli {
    fn walk(path: &[String], out: &mut BTreeMap<String, (BTreeSet<String>, BTreeSet<String>)>) {
        let args: Vec<&str> = path.iter().map(String::as_str).collect();
        let text = help(&args);
        let subs: Vec<String> = block(&text, "Commands:")
            .iter()
            .filter_map(|l| l.split_whitespace().next())
            .filter(|c| *c != "help")
            .map(str::to_string)
            .collect();
        if subs.is_empty() {
            let arguments = block(&text, "Arguments:")
                .iter()
                .filter_map(|l| l.split_whitespace().next())
                .map(|a| a.trim_matches(|c| c == '<' || c == '>' || c == '[' || c == ']' || c == '.').to_string())
                .collect();
            out.insert(path.join(" "), (options_of(&text), arguments));
        } else {
            for s in subs {
                let mut p = path.to_vec();
                p.push(s);
                walk(&p, out);
            }
        }
    }
    let mut commands = BTreeMap::new();
    walk(&[], &mut commands);
    Cli { commands, global: options_of(&help(&[])) }
}

/// Plain text of troff source: escapes that matter here undone.
fn untroff(s: &str) -> String {
    s.replace("\\-", "-")
        .replace("\\(dq", "\"")
        .replace("\\fB", "")
        .replace("\\fI", "")
        .replace("\\fR", "")
        .replace("\\fP", "")
        .replace("\\c", "")
}

/// The page's sections (.SH) and, within COMMANDS, subsections (.SS).
fn sections(page: &str) -> (BTreeMap<String, String>, BTreeMap<String, String>) {
    let mut sh = BTreeMap::new();
    let mut ss = BTreeMap::new();
    let (mut cur_sh, mut cur_ss) = (String::new(), None::<String>);
    for line in page.lines() {
        let line = untroff(line);
        if let Some(t) = line.strip_prefix(".SH ") {
            cur_sh = t.trim_matches('"').to_string();
            cur_ss = None;
        } else if let Some(t) = line.strip_prefix(".SS ") {
            cur_ss = Some(t.trim_matches('"').to_string());
            if cur_sh == "COMMANDS" {
                ss.entry(t.trim_matches('"').to_string()).or_insert_with(String::new);
            }
        } else {
            sh.entry(cur_sh.clone()).or_insert_with(String::new).push_str(&format!("{line}\n"));
            if let (Some(s), "COMMANDS") = (&cur_ss, cur_sh.as_str()) {
                ss.get_mut(s).unwrap().push_str(&format!("{line}\n"));
            }
        }
    }
    (sh, ss)
}

#[test]
fn smsotp_man_page_names_every_command_and_option_and_nothing_else() {
    let cli = cli();
    assert!(cli.commands.contains_key("check") && cli.commands.contains_key("backup-codes generate"), "{:?}", cli.commands.keys());
    let page = fs::read_to_string(repo().join("packaging/man/smsotp.8")).unwrap();
    let (sh, ss) = sections(&page);

    let documented: BTreeSet<&String> = ss.keys().collect();
    let existing: BTreeSet<&String> = cli.commands.keys().collect();
    assert_eq!(documented, existing, "COMMANDS subsections of smsotp(8) vs the commands of smsotp --help");

    let synopsis = &sh["SYNOPSIS"];
    let synopsis_words = words(&synopsis.replace('-', "_"));
    for (command, (options, arguments)) in &cli.commands {
        let text = &ss[command];
        for word in command.split(' ') {
            assert!(synopsis_words.contains(&word.replace('-', "_")), "SYNOPSIS lacks {word}");
        }
        for opt in options.difference(&cli.global) {
            assert!(text.contains(opt.as_str()), "smsotp(8) {command} does not describe {opt}");
            assert!(synopsis.contains(opt.as_str()), "SYNOPSIS lacks {command} {opt}");
        }
        for arg in arguments {
            assert!(text.contains(arg.as_str()), "smsotp(8) {command} does not name its argument {arg}");
        }
    }
    for opt in &cli.global {
        assert!(sh["OPTIONS"].contains(opt.as_str()), "OPTIONS of smsotp(8) lacks {opt}");
    }

    let all_options: BTreeSet<String> =
        cli.commands.values().flat_map(|(o, _)| o.iter().cloned()).chain(cli.global.iter().cloned()).collect();
    let text = untroff(&page);
    for token in text.split(|c: char| c.is_whitespace() || "()[]|,\"".contains(c)) {
        let token = token.trim_end_matches(['.', ';', ':']);
        if token.starts_with("--") && token.len() > 2 {
            assert!(all_options.contains(token), "smsotp(8) names {token}, which smsotp does not have");
        }
    }
    for token in sh["OPTIONS"].split(|c: char| c.is_whitespace() || c == ',') {
        if token.len() == 2 && token.starts_with('-') {
            assert!(all_options.contains(token), "smsotp(8) OPTIONS names {token}, which smsotp does not have");
        }
    }
}
