//! The source packages, built the way distributions build them: `make dist`
//! (scripts/dist.sh) writes the source and vendor tarballs from HEAD; the
//! Debian packages are built by `dpkg-buildpackage -us -uc -b` in the unpacked
//! tarballs, and the SRPM and RPMs by `rpmbuild -ba` on the tarballs, both in
//! a network namespace of their own that has only a loopback interface (so
//! every crate must come from vendor/). Then: file lists, modes, conffiles and
//! config marks; lintian with every override explained; the .debs installed,
//! upgraded, removed and purged in a throw-away root with the maintainer
//! scripts (sysusers, tmpfiles, systemd enablement all honour DPKG_ROOT),
//! `smsotp check` and the autopkgtest (a real libpam login) run against that
//! root; the SELinux module compiled with the reference policy's devel
//! Makefile and loaded into a policy store of its own with every module of
//! selinux-policy-default, where sesearch and matchpathcon show its rules and
//! labels; the smsotp-dlrd unit's sandbox as systemd scores it.
//!
//! Nothing here writes to the host's /etc, /usr or /var. Each build runs once
//! per test process (the deb and the rpm builds each take minutes).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

mod common;

use pam_smsotp::config::Config;

const VERSION: &str = env!("CARGO_PKG_VERSION");

// ---------------------------------------------------------------------------
// helpers

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// This test process's own directory; those of finished runs are removed.
fn base() -> &'static Path {
    static BASE: OnceLock<PathBuf> = OnceLock::new();
    BASE.get_or_init(|| {
        let parent = Path::new(env!("CARGO_TARGET_TMPDIR")).join("source_packages");
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

fn try_run(cmd: &mut Command) -> Result<Output, String> {
    let shown = format!("{cmd:?}");
    let out = cmd.output().map_err(|e| format!("{shown}: {e}"))?;
    if out.status.success() {
        Ok(out)
    } else {
        Err(format!(
            "{shown} failed ({}):\n{}\n{}",
            out.status,
            tail(&String::from_utf8_lossy(&out.stdout), 60),
            tail(&String::from_utf8_lossy(&out.stderr), 60)
        ))
    }
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// The example files the packages must carry: whatever conf/ holds.
fn conf_examples(sub: &str) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(repo().join("conf").join(sub))
        .map(|entries| entries.flatten().filter(|e| e.path().is_file()).map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    names.sort();
    names
}

/// Runs `script` under sh in a new network namespace whose only interface is
/// loopback (brought up: unit tests talk to themselves), after checking that
/// there is no other interface: nothing in the build can reach a registry.
fn offline(script: &str, dir: &Path) -> Command {
    let guarded = format!(
        "set -e; ip link set lo up; links=$(ip -o link show | wc -l); \
         [ \"$links\" -eq 1 ] || {{ echo \"network namespace has $links interfaces\" >&2; exit 97; }}; {script}"
    );
    let mut cmd = Command::new("unshare");
    cmd.args(["--net", "sh", "-c", &guarded]).current_dir(dir);
    cmd
}

// ---------------------------------------------------------------------------
// building, once per test process

struct Dist {
    source: PathBuf,
    vendor: PathBuf,
}

/// `scripts/dist.sh` (make dist) into this process's directory.
fn dist() -> &'static Dist {
    static DIST: OnceLock<Result<Dist, String>> = OnceLock::new();
    let made = DIST.get_or_init(|| {
        let dir = scratch("dist");
        let out = try_run(Command::new(repo().join("scripts/dist.sh")).env("DIST_DIR", &dir).current_dir(repo()))?;
        let paths: Vec<PathBuf> = String::from_utf8_lossy(&out.stdout).lines().map(|l| repo().join(l.trim())).collect();
        let want = [dir.join(format!("pam_smsotp-{VERSION}.tar.gz")), dir.join(format!("pam_smsotp-{VERSION}-vendor.tar.gz"))];
        if paths != want || !want.iter().all(|p| p.is_file()) {
            return Err(format!("dist.sh printed {paths:?}, expected {want:?}"));
        }
        let [source, vendor] = want;
        Ok(Dist { source, vendor })
    });
    made.as_ref().unwrap_or_else(|e| panic!("make dist: {e}"))
}

/// Unpacks the source tarball into `dir` and the vendor tarball inside it.
fn unpack(dir: &Path) -> PathBuf {
    let d = dist();
    run(Command::new("tar").arg("-xzf").arg(&d.source).arg("-C").arg(dir));
    let tree = dir.join(format!("pam_smsotp-{VERSION}"));
    run(Command::new("tar").arg("-xzf").arg(&d.vendor).arg("-C").arg(&tree));
    tree
}

struct DebBuild {
    pam: PathBuf,
    dlrd: PathBuf,
    changes: PathBuf,
}

/// `dpkg-buildpackage -us -uc -b` offline in the unpacked tarballs. `-d`: the
/// Build-Depends name Debian's cargo and rustc >= 1.89, which Debian 12 does
/// not have; the rustup toolchain on PATH builds instead. nocheck: the unit
/// tests run in the RPM's %check on the same sources (one release test build
/// per run is enough for the time budget).
fn debs() -> &'static DebBuild {
    static DEBS: OnceLock<Result<DebBuild, String>> = OnceLock::new();
    let built = DEBS.get_or_init(|| {
        let dir = scratch("deb");
        let tree = unpack(&dir);
        try_run(offline("exec dpkg-buildpackage -us -uc -b -d", &tree).env("DEB_BUILD_OPTIONS", "nocheck"))?;
        let arch = stdout(Command::new("dpkg-architecture").arg("-qDEB_HOST_ARCH")).trim().to_string();
        let at = |name: &str| dir.join(name);
        let build = DebBuild {
            pam: at(&format!("pam-smsotp_{VERSION}-1_{arch}.deb")),
            dlrd: at(&format!("smsotp-dlrd_{VERSION}-1_{arch}.deb")),
            changes: at(&format!("pam-smsotp_{VERSION}-1_{arch}.changes")),
        };
        for p in [&build.pam, &build.dlrd, &build.changes] {
            if !p.is_file() {
                return Err(format!("dpkg-buildpackage made no {}", p.display()));
            }
        }
        Ok(build)
    });
    built.as_ref().unwrap_or_else(|e| panic!("dpkg-buildpackage: {e}"))
}

struct RpmBuild {
    srpm: PathBuf,
    main: PathBuf,
    dlrd: PathBuf,
    selinux: PathBuf,
    /// rpmbuild's output
    log: String,
}

/// `rpmbuild -ba` offline on the two tarballs, with the spec the source
/// tarball carries. --nodeps: Debian's rpm database does not know the build
/// dependencies (the spec's fallbacks stand in for Fedora's macro packages).
fn rpms() -> &'static RpmBuild {
    static RPMS: OnceLock<Result<RpmBuild, String>> = OnceLock::new();
    let built = RPMS.get_or_init(|| {
        let top = scratch("rpmbuild");
        for d in ["BUILD", "BUILDROOT", "RPMS", "SRPMS", "SPECS", "SOURCES"] {
            fs::create_dir_all(top.join(d)).unwrap();
        }
        let d = dist();
        for t in [&d.source, &d.vendor] {
            fs::copy(t, top.join("SOURCES").join(t.file_name().unwrap())).unwrap();
        }
        let spec =
            try_run(Command::new("tar").arg("-xzOf").arg(&d.source).arg(format!("pam_smsotp-{VERSION}/packaging/rpm/pam_smsotp.spec")))?
                .stdout;
        fs::write(top.join("SPECS/pam_smsotp.spec"), spec).unwrap();
        let script = format!("exec rpmbuild -ba --nodeps --define '_topdir {}' SPECS/pam_smsotp.spec", top.display());
        let out = try_run(&mut offline(&script, &top))?;
        let log = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        let arch = stdout(Command::new("rpm").args(["--eval", "%{_arch}"])).trim().to_string();
        let build = RpmBuild {
            srpm: top.join(format!("SRPMS/pam_smsotp-{VERSION}-1.src.rpm")),
            main: top.join(format!("RPMS/{arch}/pam_smsotp-{VERSION}-1.{arch}.rpm")),
            dlrd: top.join(format!("RPMS/{arch}/pam_smsotp-dlrd-{VERSION}-1.{arch}.rpm")),
            selinux: top.join(format!("RPMS/noarch/pam_smsotp-selinux-{VERSION}-1.noarch.rpm")),
            log,
        };
        for p in [&build.srpm, &build.main, &build.dlrd, &build.selinux] {
            if !p.is_file() {
                return Err(format!("rpmbuild made no {}", p.display()));
            }
        }
        Ok(build)
    });
    built.as_ref().unwrap_or_else(|e| panic!("rpmbuild: {e}"))
}

// ---------------------------------------------------------------------------
// generated files

#[test]
fn generated_copyright_and_spec_lines_match_cargo_lock() {
    require!(Programs(&["cargo", "python3", "bash", "awk", "diff"]));
    let copyright = stdout(Command::new("python3").arg(repo().join("packaging/debian-copyright.py")));
    let committed = fs::read_to_string(repo().join("debian/copyright")).unwrap();
    assert!(copyright.trim_end() == committed.trim_end(), "debian/copyright is stale: run make generated");
    // every crate of the lock file has its paragraph, under the versioned name cargo vendor gives it
    let lock = fs::read_to_string(repo().join("Cargo.lock")).unwrap();
    let mut crates = 0;
    for pkg in lock.split("[[package]]").skip(1) {
        let field = |k: &str| pkg.lines().find_map(|l| l.strip_prefix(&format!("{k} = \""))).map(|v| v.trim_end_matches('"').to_string());
        if pkg.contains("source = ") {
            let (name, version) = (field("name").unwrap(), field("version").unwrap());
            assert!(committed.contains(&format!("Files: vendor/{name}-{version}/*\n")), "{name} {version} has no paragraph");
            crates += 1;
        }
    }
    assert!(crates > 50, "{crates}");
    // every licence named has its own paragraph
    let named: BTreeSet<String> = committed
        .lines()
        .filter_map(|l| l.strip_prefix("License: "))
        .flat_map(|l| {
            l.replace(',', "").split(" or ").flat_map(|p| p.split(" and ").map(str::to_string).collect::<Vec<_>>()).collect::<Vec<_>>()
        })
        .collect();
    for name in &named {
        assert!(committed.contains(&format!("\nLicense: {name}\n ")), "no text for licence {name}");
    }
    run(Command::new(repo().join("packaging/rpm/update-spec.sh")).arg("--check"));
}

// ---------------------------------------------------------------------------
// the Debian packages

/// `dpkg-deb -c`: path -> (mode string, owner).
fn deb_listing(deb: &Path) -> BTreeMap<String, (String, String)> {
    stdout(Command::new("dpkg-deb").arg("-c").arg(deb))
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let path = f[5..].join(" ");
            let path = path.trim_start_matches('.').trim_end_matches('/').to_string();
            (if path.is_empty() { "/".into() } else { path }, (f[0].to_string(), f[1].to_string()))
        })
        .collect()
}

const DEB_TOOLS: &[&str] = &["dpkg-buildpackage", "dh", "dpkg-deb", "dpkg-architecture", "git", "tar", "unshare", "ip", "cargo", "make"];

#[test]
fn debs_build_offline_from_the_dist_tarballs_with_their_files_modes_and_conffiles() {
    require!(Root, Programs(DEB_TOOLS));
    let build = debs();
    let security = format!("/usr/lib/{}/security", common::arch::multiarch());

    let files = deb_listing(&build.pam);
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
        ("/usr/share/doc/pam-smsotp/README.md.gz".into(), "-rw-r--r--"),
        ("/usr/share/doc/pam-smsotp/changelog.Debian.gz".into(), "-rw-r--r--"),
        ("/usr/share/doc/pam-smsotp/examples/pam_smsotp.toml".into(), "-rw-r--r--"),
        ("/usr/share/doc/pam-smsotp/examples/pam_smsotp.phones".into(), "-rw-r--r--"),
        ("/usr/share/lintian/overrides/pam-smsotp".into(), "-rw-r--r--"),
    ];
    for (path, want) in &expect {
        let (m, _) = files.get(path).unwrap_or_else(|| panic!("{path} is not in pam-smsotp: {:#?}", files.keys()));
        assert_eq!(m, want, "{path}");
    }
    for (sub, names) in [("pam.d", conf_examples("pam.d")), ("sshd_config.d", conf_examples("sshd_config.d"))] {
        for n in names {
            let path = format!("/usr/share/doc/pam-smsotp/examples/{sub}/{n}");
            assert!(files.contains_key(&path), "conf/{sub}/{n} is not packaged as {path}");
        }
    }
    assert!(!files.keys().any(|p| p.contains("smsotp-dlrd")), "the daemon is its own package");

    let dlrd = deb_listing(&build.dlrd);
    for (path, want) in [
        ("/usr/sbin/smsotp-dlrd", "-rwxr-xr-x"),
        ("/lib/systemd/system/smsotp-dlrd.service", "-rw-r--r--"),
        ("/usr/lib/sysusers.d/smsotp-dlrd.conf", "-rw-r--r--"),
        ("/usr/lib/tmpfiles.d/smsotp-dlrd.conf", "-rw-r--r--"),
        ("/usr/share/man/man8/smsotp-dlrd.8.gz", "-rw-r--r--"),
        ("/usr/share/doc/smsotp-dlrd/copyright", "-rw-r--r--"),
    ] {
        let (m, _) = dlrd.get(path).unwrap_or_else(|| panic!("{path} is not in smsotp-dlrd: {:#?}", dlrd.keys()));
        assert_eq!(m, want, "{path}");
    }
    for (path, (m, owner)) in files.iter().chain(dlrd.iter()) {
        assert_eq!(owner, "root/root", "{path}");
        if m.starts_with('d') {
            assert_eq!(m, "drwxr-xr-x", "{path}");
        }
        assert!(!path.starts_with("/var"), "{path}: state belongs to postinst and tmpfiles.d");
    }

    let field = |deb: &Path, f: &str| stdout(Command::new("dpkg-deb").arg("-f").arg(deb).arg(f)).trim().to_string();
    let conffiles = stdout(Command::new("dpkg-deb").arg("-I").arg(&build.pam).arg("conffiles"));
    assert_eq!(
        conffiles.lines().map(str::trim).collect::<BTreeSet<_>>(),
        BTreeSet::from(["/etc/security/pam_smsotp.toml", "/etc/security/pam_smsotp.phones"])
    );
    let depends = field(&build.pam, "Depends");
    for dep in ["libc6 (>=", "libpam0g (>=", "libgcc-s1", "libpam-runtime", "ca-certificates"] {
        assert!(depends.contains(dep), "Depends lacks {dep}: {depends}");
    }
    assert!(field(&build.dlrd, "Depends").contains(&format!("pam-smsotp (= {VERSION}-1)")));

    // maintainer scripts: the profile is never enabled by installing, and is
    // taken out of the stack before the module leaves the disk; the daemon's
    // user, directory and unit come from debhelper's snippets
    let script = |deb: &Path, name: &str| stdout(Command::new("dpkg-deb").arg("-I").arg(deb).arg(name));
    let code = |text: &str| text.lines().filter(|l| !l.trim_start().starts_with('#')).collect::<Vec<_>>().join("\n");
    assert!(!code(&script(&build.pam, "postinst")).contains("--enable"), "postinst must not enable the profile");
    assert!(code(&script(&build.pam, "prerm")).contains("pam-auth-update --package --remove smsotp"));
    let dlrd_postinst = code(&script(&build.dlrd, "postinst"));
    for snippet in ["systemd-sysusers", "smsotp-dlrd.conf", "systemd-tmpfiles", "deb-systemd-helper", "smsotp-dlrd.service"] {
        assert!(dlrd_postinst.contains(snippet), "smsotp-dlrd postinst lacks {snippet}:\n{dlrd_postinst}");
    }
    let sysusers_at = dlrd_postinst.find("systemd-sysusers").unwrap();
    let tmpfiles_at = dlrd_postinst.find("systemd-tmpfiles").unwrap();
    assert!(sysusers_at < tmpfiles_at, "the user must exist before tmpfiles chowns its directory");

    // the module exports PAM's entry points and is stripped
    let root = scratch("deb-contents");
    run(Command::new("dpkg-deb").arg("-x").arg(&build.pam).arg(&root));
    let module = root.join(format!("{}/pam_smsotp.so", security.trim_start_matches('/')));
    let symbols = stdout(Command::new("nm").arg("-D").arg("--defined-only").arg(&module));
    for sym in ["pam_sm_authenticate", "pam_sm_setcred"] {
        assert!(symbols.lines().any(|l| l.ends_with(&format!(" {sym}"))), "{sym} not exported");
    }
    assert!(stdout(Command::new("file").arg(&module)).contains(", stripped"));
    check_pam_auth_update_profile(&fs::read_to_string(root.join("usr/share/pam-configs/smsotp")).unwrap());
    let tmpfiles = fs::read_to_string(root.join("usr/lib/tmpfiles.d/pam_smsotp.conf")).unwrap();
    let entries: Vec<&str> = tmpfiles.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()).collect();
    assert_eq!(entries, ["d /var/lib/pam_smsotp 0700 root root -"]);
    let copyright = fs::read_to_string(root.join("usr/share/doc/pam-smsotp/copyright")).unwrap();
    assert_eq!(copyright, fs::read_to_string(repo().join("debian/copyright")).unwrap());
}

#[test]
fn debs_are_lintian_clean_or_every_tag_is_explained() {
    require!(Root, Programs(&["lintian"]), Programs(DEB_TOOLS));
    let build = debs();
    let out = Command::new("lintian")
        .args(["--info", "--pedantic", "--display-experimental", "--tag-display-limit", "0"])
        .arg(&build.changes)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    eprintln!("lintian:\n{text}");
    // an override whose string a dependency update took away is reported as
    // unused-override (info): shown above, to be deleted, but not a defect
    let bad: Vec<&str> =
        text.lines().filter(|l| !l.starts_with("N:") && !l.trim().is_empty() && !l.contains(" unused-override ")).collect();
    assert!(bad.is_empty(), "lintian tags neither fixed nor overridden:\n{}", bad.join("\n"));
    assert!(out.status.success(), "lintian failed: {text}\n{}", String::from_utf8_lossy(&out.stderr));
    // every override has a comment above it and its tag is in the notes
    let notes = fs::read_to_string(repo().join("debian/lintian-notes.md")).unwrap();
    for pkg in ["pam-smsotp", "smsotp-dlrd"] {
        let overrides = fs::read_to_string(repo().join(format!("debian/{pkg}.lintian-overrides"))).unwrap();
        let lines: Vec<&str> = overrides.lines().collect();
        for (i, line) in lines.iter().enumerate().filter(|(_, l)| l.starts_with(&format!("{pkg}:"))) {
            let tag = line.split_whitespace().nth(1).unwrap();
            assert!(notes.contains(tag), "override {tag} is not explained in debian/lintian-notes.md");
            let above = lines[..i].iter().rev().find(|l| !l.starts_with(&format!("{pkg}:")));
            assert!(above.is_some_and(|l| l.starts_with('#')), "override {line:?} has no comment above it");
        }
    }
}

/// A root that dpkg can install into: its own empty database.
fn dpkg_root(name: &str) -> PathBuf {
    let root = scratch(name);
    for d in ["var/lib/dpkg/info", "var/lib/dpkg/updates", "var/lib/dpkg/triggers", "var/log", "var/spool", "etc"] {
        fs::create_dir_all(root.join(d)).unwrap();
    }
    fs::write(root.join("var/lib/dpkg/status"), "").unwrap();
    fs::write(root.join("var/lib/dpkg/available"), "").unwrap();
    root
}

fn dpkg(root: &Path, args: &[&str], debs: &[&Path]) -> Output {
    let mut cmd = Command::new("dpkg");
    cmd.arg(format!("--root={}", root.display()))
        // the maintainer scripts and debhelper's snippets honour DPKG_ROOT
        .arg("--force-script-chrootless")
        // libc6, libpam0g... are the host's, not in this empty root
        .arg("--force-depends")
        .arg("--log=/dev/null")
        .args(args)
        .args(debs)
        // no systemd manager to talk to for this root
        .env("SYSTEMD_OFFLINE", "1");
    run(&mut cmd)
}

/// What of the host a package install could touch: it must not change.
fn host_fingerprint() -> Vec<Option<Vec<u8>>> {
    let status = Command::new("dpkg-query").args(["-W", "-f=${Status}", "pam-smsotp", "smsotp-dlrd"]).output().map(|o| o.stdout).ok();
    let mut out: Vec<Option<Vec<u8>>> = ["/etc/pam.d/common-auth", "/etc/passwd", "/etc/group"].iter().map(|p| fs::read(p).ok()).collect();
    out.push(status);
    for p in ["/var/lib/pam_smsotp", "/var/lib/pam_smsotp-dlr", "/etc/systemd/system/multi-user.target.wants/smsotp-dlrd.service"] {
        out.push(Path::new(p).symlink_metadata().ok().map(|_| p.as_bytes().to_vec()));
    }
    out
}

#[test]
fn debs_install_in_a_throwaway_root_and_the_autopkgtest_logs_in_there() {
    require!(Root, PamWrapper, Programs(&["pamtester", "dpkg", "systemd-sysusers", "systemd-tmpfiles"]), Programs(DEB_TOOLS));
    let build = debs();
    let host_before = host_fingerprint();
    let root = dpkg_root("deb-root");
    let at = |p: &str| root.join(p.trim_start_matches('/'));

    dpkg(&root, &["--install"], &[&build.pam, &build.dlrd]);
    let config = at("/etc/security/pam_smsotp.toml");
    let state = at("/var/lib/pam_smsotp");
    assert_eq!(mode(&config), 0o600);
    assert_eq!((mode(&state), fs::metadata(&state).unwrap().uid()), (0o700, 0), "the state directory");

    // the daemon's user (sysusers), its directory (tmpfiles) and its unit (enabled, not started)
    let passwd = fs::read_to_string(at("/etc/passwd")).unwrap();
    let user = passwd.lines().find(|l| l.starts_with("smsotp-dlr:")).unwrap_or_else(|| panic!("no smsotp-dlr user:\n{passwd}"));
    let f: Vec<&str> = user.split(':').collect();
    let uid: u32 = f[2].parse().unwrap();
    assert!(uid > 0 && uid < 1000, "a system uid: {user}");
    assert_eq!((f[5], f[6]), ("/var/lib/pam_smsotp-dlr", "/usr/sbin/nologin"), "{user}");
    let reports = at("/var/lib/pam_smsotp-dlr");
    assert_eq!((mode(&reports), fs::metadata(&reports).unwrap().uid()), (0o700, uid), "the reports directory");
    let wants = at("/etc/systemd/system/multi-user.target.wants/smsotp-dlrd.service");
    assert_eq!(fs::read_link(&wants).unwrap(), Path::new("/lib/systemd/system/smsotp-dlrd.service"));

    installed_smsotp_check(&root);

    // the autopkgtest, run against this root: a real libpam login with the installed module
    let test = Command::new(repo().join("debian/tests/pam-login"))
        .env("SMSOTP_TEST_ROOT", &root)
        .env("AUTOPKGTEST_TMP", scratch("autopkgtest-tmp"))
        .output()
        .unwrap();
    let shown = format!("{}{}", String::from_utf8_lossy(&test.stdout), String::from_utf8_lossy(&test.stderr));
    assert!(test.status.success(), "debian/tests/pam-login failed:\n{shown}");
    assert!(shown.contains("successfully authenticated") && shown.contains("== ok"), "{shown}");

    // an administrator's change survives a reinstall
    let mut text = fs::read_to_string(&config).unwrap();
    text.push_str("\n# changed by the administrator\n");
    fs::write(&config, &text).unwrap();
    fs::write(state.join("alice"), "state").unwrap();
    fs::write(reports.join("report"), "delivered").unwrap();
    dpkg(&root, &["--install"], &[&build.pam, &build.dlrd]);
    assert_eq!(fs::read_to_string(&config).unwrap(), text, "the conffile was overwritten");
    assert!(state.join("alice").exists() && reports.join("report").exists(), "an upgrade keeps the state");

    // remove: programs and unit gone, configuration and state stay
    dpkg(&root, &["--remove", "smsotp-dlrd", "pam-smsotp"], &[]);
    assert!(!at("/usr/sbin/smsotp").exists() && !at("/usr/sbin/smsotp-dlrd").exists());
    assert!(!at("/lib/systemd/system/smsotp-dlrd.service").exists());
    assert!(config.exists() && state.join("alice").exists() && reports.join("report").exists());

    // purge: configuration, state, reports and the default spool go
    fs::create_dir_all(at("/var/spool/pam_smsotp")).unwrap();
    fs::write(at("/var/spool/pam_smsotp/outbox.jsonl"), "{}\n").unwrap();
    dpkg(&root, &["--purge", "smsotp-dlrd", "pam-smsotp"], &[]);
    assert!(!config.exists() && !at("/etc/security/pam_smsotp.phones").exists(), "purge removes the conffiles");
    assert!(!state.exists() && !reports.exists(), "purge removes the state and the reports");
    assert!(!at("/var/spool/pam_smsotp").exists(), "purge removes the default spool");
    assert!(!wants.exists(), "purge removes the unit's enablement");

    assert!(host_fingerprint() == host_before, "the host's PAM config, users, state or dpkg database changed");
}

/// The installed `smsotp check` on a copy of the installed configuration whose
/// paths point into `root`; parsed first so that no host path reaches it.
fn installed_smsotp_check(root: &Path) {
    let r = root.display().to_string();
    let mut text = fs::read_to_string(root.join("etc/security/pam_smsotp.toml")).unwrap();
    for p in ["/etc/security/pam_smsotp.phones", "/var/lib/pam_smsotp", "/var/spool/pam_smsotp/"] {
        text = text.replace(&format!("\"{p}"), &format!("\"{r}{p}"));
    }
    if !text.contains(&format!("dir = \"{r}/var/lib/pam_smsotp\"")) {
        text.push_str(&format!("\n[state]\ndir = \"{r}/var/lib/pam_smsotp\"\n"));
    }
    let parsed = Config::parse(&text).unwrap_or_else(|e| panic!("the installed configuration does not parse: {e}"));
    assert!(parsed.state.dir.starts_with(root), "{}", parsed.state.dir.display());
    let copy = root.join("etc/security/pam_smsotp.check.toml");
    fs::write(&copy, &text).unwrap();
    run(Command::new("chmod").arg("600").arg(&copy));
    let out = Command::new(root.join("usr/sbin/smsotp")).arg("--config").arg(&copy).arg("check").env_clear().output().unwrap();
    let shown = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "installed smsotp check failed:\n{shown}");
    assert!(shown.contains(&format!("state: {r}/var/lib/pam_smsotp is usable")), "{shown}");
    assert_eq!(stdout(Command::new(root.join("usr/sbin/smsotp")).arg("--version")).trim(), format!("smsotp {VERSION}"));
    fs::remove_file(&copy).unwrap();
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
    require!(Root, Programs(&["mount", "pam-auth-update"]), Programs(DEB_TOOLS), DebianPam);
    let root = scratch("pam-auth-update");
    run(Command::new("dpkg-deb").arg("-x").arg(&debs().pam).arg(root.join("pkg")));
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
fn installed_man_pages_render_without_warnings_and_carry_the_version() {
    require!(Root, Programs(&["man", "groff"]), Programs(DEB_TOOLS));
    let root = scratch("deb-man");
    run(Command::new("dpkg-deb").arg("-x").arg(&debs().pam).arg(&root));
    run(Command::new("dpkg-deb").arg("-x").arg(&debs().dlrd).arg(&root));
    for page in [
        "usr/share/man/man8/pam_smsotp.8.gz",
        "usr/share/man/man8/smsotp.8.gz",
        "usr/share/man/man5/pam_smsotp.toml.5.gz",
        "usr/share/man/man8/smsotp-dlrd.8.gz",
    ] {
        let (text, warnings) = man_warnings(&root.join(page));
        assert!(warnings.trim().is_empty(), "{page}:\n{warnings}");
        assert!(text.contains(&format!("pam_smsotp {VERSION}")), "{page} does not carry the version");
        assert!(!text.contains("@VERSION@"), "{page}");
    }
}

// ---------------------------------------------------------------------------
// the SRPM and the RPMs

/// `rpm` with a database of this test's own.
fn rpm_cmd() -> Command {
    let db = base().join("rpm-query-db");
    fs::create_dir_all(&db).unwrap();
    let mut cmd = Command::new("rpm");
    cmd.arg("--dbpath").arg(db);
    cmd
}

/// path -> (mode string, user, group), from the package's header.
fn rpm_listing(rpm: &Path) -> BTreeMap<String, (String, String, String)> {
    stdout(rpm_cmd().args(["-qp", "--qf", "[%{FILEMODES:perms} %{FILEUSERNAME} %{FILEGROUPNAME} %{FILENAMES}\n]"]).arg(rpm))
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.splitn(4, ' ').collect();
            (f[3].to_string(), (f[0].to_string(), f[1].to_string(), f[2].to_string()))
        })
        .collect()
}

fn rpm_query(rpm: &Path, args: &[&str]) -> String {
    stdout(rpm_cmd().arg("-qp").args(args).arg(rpm))
}

const RPM_TOOLS: &[&str] = &["rpmbuild", "rpm", "bzip2", "checkmodule", "semodule_package", "git", "tar", "unshare", "ip", "cargo", "make"];

#[test]
fn rpmbuild_ba_gives_an_srpm_and_rpms_with_their_files_modes_and_scriptlets() {
    require!(Root, Programs(RPM_TOOLS));
    assert!(Path::new("/usr/share/selinux/devel/Makefile").is_file(), "selinux-policy-dev is missing");
    let build = rpms();

    // the SRPM carries the spec and both tarballs
    let srpm = rpm_listing(&build.srpm);
    for name in ["pam_smsotp.spec".to_string(), format!("pam_smsotp-{VERSION}.tar.gz"), format!("pam_smsotp-{VERSION}-vendor.tar.gz")] {
        assert!(srpm.contains_key(&name), "{name} not in the SRPM: {:#?}", srpm.keys());
    }

    let check = |rpm: &Path, expect: &[(&str, &str, &str)]| {
        let files = rpm_listing(rpm);
        for (path, want, owner) in expect {
            let (m, u, g) = files.get(*path).unwrap_or_else(|| panic!("{path} is not in {}: {:#?}", rpm.display(), files.keys()));
            assert_eq!((m.as_str(), u.as_str(), g.as_str()), (*want, *owner, *owner), "{path}");
        }
        files
    };
    let main = check(
        &build.main,
        &[
            ("/usr/lib64/security/pam_smsotp.so", "-rw-r--r--", "root"),
            ("/usr/sbin/smsotp", "-rwxr-xr-x", "root"),
            ("/etc/security/pam_smsotp.toml", "-rw-------", "root"),
            ("/etc/security/pam_smsotp.phones", "-rw-------", "root"),
            ("/usr/lib/tmpfiles.d/pam_smsotp.conf", "-rw-r--r--", "root"),
            ("/var/lib/pam_smsotp", "drwx------", "root"),
            ("/usr/share/man/man8/pam_smsotp.8.gz", "-rw-r--r--", "root"),
            ("/usr/share/man/man8/smsotp.8.gz", "-rw-r--r--", "root"),
            ("/usr/share/man/man5/pam_smsotp.toml.5.gz", "-rw-r--r--", "root"),
            ("/usr/share/doc/pam_smsotp/copyright", "-rw-r--r--", "root"),
            ("/usr/share/doc/pam_smsotp/examples/pam_smsotp.toml", "-rw-r--r--", "root"),
        ],
    );
    for n in conf_examples("pam.d") {
        assert!(main.contains_key(&format!("/usr/share/doc/pam_smsotp/examples/pam.d/{n}")), "conf/pam.d/{n}");
    }
    assert!(!main.keys().any(|p| p.contains("pam-configs") || p.contains("dlrd") || p.contains("selinux")), "{:#?}", main.keys());
    check(
        &build.dlrd,
        &[
            ("/usr/sbin/smsotp-dlrd", "-rwxr-xr-x", "root"),
            ("/usr/lib/systemd/system/smsotp-dlrd.service", "-rw-r--r--", "root"),
            ("/usr/lib/sysusers.d/smsotp-dlrd.conf", "-rw-r--r--", "root"),
            ("/usr/lib/tmpfiles.d/smsotp-dlrd.conf", "-rw-r--r--", "root"),
            ("/var/lib/pam_smsotp-dlr", "drwx------", "smsotp-dlr"),
            ("/usr/share/man/man8/smsotp-dlrd.8.gz", "-rw-r--r--", "root"),
        ],
    );
    check(
        &build.selinux,
        &[
            ("/usr/share/selinux/packages/targeted/pam_smsotp.pp.bz2", "-rw-r--r--", "root"),
            ("/usr/share/selinux/devel/include/distributed/pam_smsotp.if", "-rw-r--r--", "root"),
        ],
    );

    // %config(noreplace) on both files in /etc, and nothing else is config
    let flags = rpm_query(&build.main, &["--qf", "[%{FILEFLAGS:fflags} %{FILENAMES}\n]"]);
    let config: BTreeMap<&str, &str> =
        flags.lines().filter_map(|l| l.split_once(' ').map(|(f, p)| (p, f))).filter(|(_, f)| f.contains('c')).collect();
    assert_eq!(config, BTreeMap::from([("/etc/security/pam_smsotp.phones", "cn"), ("/etc/security/pam_smsotp.toml", "cn")]), "{flags}");

    // licence, bundled crates, dependencies
    let license = rpm_query(&build.main, &["--qf", "%{LICENSE}"]);
    assert!(license.starts_with("MIT AND ") && license.contains("Apache-2.0"), "{license}");
    let provides = rpm_query(&build.main, &["--provides"]);
    let bundled: Vec<&str> = provides.lines().filter(|l| l.starts_with("bundled(crate(")).collect();
    for name in ["rustls", "ureq", "ring", "serde", "toml", "pam-bindings"] {
        assert!(bundled.iter().any(|l| l.starts_with(&format!("bundled(crate({name})) = "))), "no bundled({name}): {provides}");
    }
    let requires = rpm_query(&build.main, &["--requires"]);
    for r in ["pam", "ca-certificates", "libpam.so.0()(64bit)", "libc.so.6()(64bit)"] {
        assert!(requires.lines().any(|l| l.trim() == r), "Requires lacks {r}: {requires}");
    }
    assert!(rpm_query(&build.dlrd, &["--requires"]).contains(&format!("pam_smsotp(x86-64) = {VERSION}-1")));

    // scriptlets: systemd for the daemon, its user before its files, the policy module and labels
    let scripts = rpm_query(&build.dlrd, &["--scripts"]);
    for s in [
        "useradd -r -g smsotp-dlr",
        "systemctl --no-reload preset smsotp-dlrd.service",
        "disable --now smsotp-dlrd.service",
        "try-restart smsotp-dlrd.service",
    ] {
        assert!(scripts.contains(s), "dlrd scriptlets lack {s:?}:\n{scripts}");
    }
    let scripts = rpm_query(&build.selinux, &["--scripts"]);
    for s in [
        "semodule -n -s targeted -X 200 -i /usr/share/selinux/packages/targeted/pam_smsotp.pp.bz2",
        "-r pam_smsotp",
        "restorecon -R",
        "semanage port -a -t smsotp_dlrd_port_t -p tcp 8089",
    ] {
        assert!(scripts.contains(s), "selinux scriptlets lack {s:?}:\n{scripts}");
    }

    // %check ran the unit tests, and they passed
    let log = &build.log;
    assert!(log.contains("cargo test --offline --release --locked --lib"), "no %check:\n{}", tail(log, 40));
    let passed =
        log.lines().find(|l| l.starts_with("test result: ok.")).unwrap_or_else(|| panic!("no unit test result:\n{}", tail(log, 40)));
    let count: u32 = passed.split_whitespace().nth(3).and_then(|n| n.parse().ok()).unwrap_or(0);
    assert!(count > 100, "{passed}");

    // install, change the configuration, upgrade, erase: in a throw-away root
    // (--noscripts: the root has no shell for the scriptlets to run in)
    let root = scratch("rpm-root");
    let at = |p: &str| root.join(p.trim_start_matches('/'));
    let rpm_in = |args: &[&str]| {
        run(Command::new("rpm").arg("--root").arg(&root).args(["--dbpath", "/var/lib/rpm", "--nodeps", "--noscripts"]).args(args))
    };
    let (main_rpm, dlrd_rpm) = (build.main.to_str().unwrap(), build.dlrd.to_str().unwrap());
    rpm_in(&["-i", main_rpm, dlrd_rpm]);
    let config = at("/etc/security/pam_smsotp.toml");
    assert_eq!(mode(&config), 0o600);
    assert_eq!(mode(&at("/var/lib/pam_smsotp")), 0o700);
    assert!(at("/usr/lib64/security/pam_smsotp.so").is_file());
    let mut text = fs::read_to_string(&config).unwrap();
    text.push_str("\n# changed by the administrator\n");
    fs::write(&config, &text).unwrap();
    rpm_in(&["-U", "--replacepkgs", main_rpm, dlrd_rpm]);
    assert_eq!(fs::read_to_string(&config).unwrap(), text, "noreplace: the changed configuration stays");
    rpm_in(&["-e", "pam_smsotp-dlrd", "pam_smsotp"]);
    assert!(!at("/usr/sbin/smsotp").exists());
    assert!(at("/etc/security/pam_smsotp.toml.rpmsave").exists(), "erase keeps a changed configuration as .rpmsave");
}

// ---------------------------------------------------------------------------
// SELinux

/// The domains that run PAM in Debian's reference policy: sshd, console
/// login, and su and sudo in each role's domain.
const PAM_DOMAINS: &[&str] =
    &["sshd_t", "local_login_t", "staff_su_t", "sysadm_su_t", "user_su_t", "staff_sudo_t", "sysadm_sudo_t", "user_sudo_t"];

#[test]
fn selinux_module_builds_loads_and_grants_each_pam_domain_what_the_module_needs() {
    require!(Root, Programs(&["make", "checkmodule", "semodule_package", "semodule", "sesearch", "matchpathcon", "m4"]));
    let modules = Path::new("/usr/share/selinux/default");
    assert!(Path::new("/usr/share/selinux/devel/Makefile").is_file(), "selinux-policy-dev is missing");
    assert!(modules.join("base.pp.bz2").is_file(), "selinux-policy-default is missing");

    // the module, with the devel Makefile, from a copy of packaging/selinux
    let dir = scratch("selinux");
    let src = dir.join("src");
    fs::create_dir_all(&src).unwrap();
    for ext in ["te", "fc", "if"] {
        fs::copy(repo().join(format!("packaging/selinux/pam_smsotp.{ext}")), src.join(format!("pam_smsotp.{ext}"))).unwrap();
    }
    run(Command::new("make").args(["-f", "/usr/share/selinux/devel/Makefile", "pam_smsotp.pp"]).current_dir(&src));

    // a policy store of its own under dir/root: every module of
    // selinux-policy-default, then ours; semodule builds the kernel policy
    let root = dir.join("root");
    fs::create_dir_all(root.join("var/lib/selinux")).unwrap();
    fs::create_dir_all(root.join("etc/selinux/default")).unwrap();
    let mut all: Vec<PathBuf> =
        fs::read_dir(modules).unwrap().flatten().map(|e| e.path()).filter(|p| p.to_string_lossy().ends_with(".pp.bz2")).collect();
    all.sort_by_key(|p| !p.ends_with("base.pp.bz2"));
    // one transaction (semodule builds the policy once per call: about a minute)
    let pp = src.join("pam_smsotp.pp");
    run(Command::new("semodule").arg("-p").arg(&root).args(["-s", "default", "-n", "-X", "100", "-i"]).args(&all).arg(&pp));
    let listed = stdout(Command::new("semodule").arg("-p").arg(&root).args(["-s", "default", "-l"]));
    assert!(listed.lines().any(|l| l.trim() == "pam_smsotp"), "{listed}");
    let policy = fs::read_dir(root.join("etc/selinux/default/policy")).unwrap().flatten().map(|e| e.path()).next().unwrap();

    let rules = |source: &str, target: &str, class: &str| -> String {
        stdout(Command::new("sesearch").args(["-A", "-s", source, "-t", target, "-c", class]).arg(&policy))
    };
    // an explicit rule for the domain and the type: the reference policy's own
    // grants go through attributes (port_type, sudodomain), ours name both
    let explicit = |source: &str, target: &str, class: &str, perms: &[&str]| {
        let text = rules(source, target, class);
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("allow {source} {target}:{class} ")))
            .unwrap_or_else(|| panic!("no allow {source} {target}:{class}:\n{text}"));
        for p in perms {
            assert!(
                line.contains(&format!(" {p} ")) || line.contains(&format!(" {p};")) || line.contains(&format!("{{ {p} ")),
                "{line}: lacks {p}"
            );
        }
    };
    for d in PAM_DOMAINS {
        for port in ["http_port_t", "http_cache_port_t", "ldap_port_t", "redis_port_t"] {
            explicit(d, port, "tcp_socket", &["name_connect"]);
        }
        explicit(d, "pam_smsotp_conf_t", "file", &["read", "open"]);
        explicit(d, "pam_smsotp_secret_t", "file", &["read", "open"]);
        explicit(d, "pam_smsotp_var_lib_t", "file", &["create", "write", "rename", "unlink", "lock"]);
        explicit(d, "pam_smsotp_var_lib_t", "dir", &["add_name", "remove_name", "write"]);
        explicit(d, "pam_smsotp_spool_t", "file", &["create", "append"]);
        explicit(d, "smsotp_dlrd_var_lib_t", "file", &["read"]);
        // reading is all: the reports are the daemon's to write
        let reports = rules(d, "smsotp_dlrd_var_lib_t", "file");
        assert!(!reports.contains(" write") && !reports.contains(" create"), "{reports}");
    }
    // the daemon: its own domain entered from init through its exec type, its port, its reports
    explicit("smsotp_dlrd_t", "smsotp_dlrd_port_t", "tcp_socket", &["name_bind"]);
    explicit("smsotp_dlrd_t", "smsotp_dlrd_var_lib_t", "file", &["create", "write"]);
    explicit("smsotp_dlrd_t", "smsotp_dlrd_t", "capability", &["net_bind_service", "setuid", "setgid"]);
    explicit("smsotp_dlrd_t", "smsotp_dlrd_exec_t", "file", &["entrypoint"]);
    let transitions = stdout(Command::new("sesearch").args(["-T", "-s", "init_t", "-t", "smsotp_dlrd_exec_t"]).arg(&policy));
    assert!(transitions.contains("type_transition init_t smsotp_dlrd_exec_t:process smsotp_dlrd_t;"), "{transitions}");
    let secret = rules("smsotp_dlrd_t", "pam_smsotp_var_lib_t", "file");
    assert!(
        secret.trim().is_empty() || !secret.contains("smsotp_dlrd_t pam_smsotp_var_lib_t"),
        "the daemon has no business in the state: {secret}"
    );

    // the labels of the packaged paths, from the store's file_contexts
    let contexts = root.join("etc/selinux/default/contexts/files/file_contexts");
    for (path, label) in [
        ("/etc/security/pam_smsotp.toml", "pam_smsotp_conf_t"),
        ("/etc/security/pam_smsotp.phones", "pam_smsotp_conf_t"),
        ("/etc/security/pam_smsotp.dlr", "pam_smsotp_secret_t"),
        ("/etc/security/pam_smsotp.ldap", "pam_smsotp_secret_t"),
        ("/etc/security/pam_smsotp.redis", "pam_smsotp_secret_t"),
        ("/etc/security/pam_smsotp.d/twilio", "pam_smsotp_secret_t"),
        ("/var/lib/pam_smsotp", "pam_smsotp_var_lib_t"),
        ("/var/lib/pam_smsotp/alice", "pam_smsotp_var_lib_t"),
        ("/var/lib/pam_smsotp-dlr", "smsotp_dlrd_var_lib_t"),
        ("/var/spool/pam_smsotp/outbox.jsonl", "pam_smsotp_spool_t"),
        ("/usr/sbin/smsotp-dlrd", "smsotp_dlrd_exec_t"),
        ("/etc/security/limits.conf", "etc_t"),
    ] {
        let out = stdout(Command::new("matchpathcon").arg("-f").arg(&contexts).arg(path));
        assert!(out.contains(&format!(":object_r:{label}:")), "{path}: {out}");
    }
    // the paths those labels are for are the ones the packages and the annotated config use
    let conf = fs::read_to_string(repo().join("conf/pam_smsotp.toml")).unwrap();
    for p in ["\"/var/lib/pam_smsotp\"", "\"/var/spool/pam_smsotp/outbox.jsonl\"", "\"/etc/security/pam_smsotp.phones\""] {
        assert!(conf.contains(p), "conf/pam_smsotp.toml no longer uses {p}: relabel in packaging/selinux/pam_smsotp.fc");
    }
    let tmpfiles = fs::read_to_string(repo().join("packaging/tmpfiles.d/smsotp-dlrd.conf")).unwrap();
    assert!(tmpfiles.contains("d /var/lib/pam_smsotp-dlr 0700 smsotp-dlr smsotp-dlr 3d"), "old reports are cleaned: {tmpfiles}");
}

// ---------------------------------------------------------------------------
// the smsotp-dlrd unit

#[test]
fn dlrd_unit_is_sandboxed() {
    require!(Programs(&["systemd-analyze"]));
    let unit = repo().join("packaging/systemd/smsotp-dlrd.service");
    let text = fs::read_to_string(&unit).unwrap();
    let values =
        |key: &str| -> Vec<String> { text.lines().filter_map(|l| l.strip_prefix(&format!("{key}="))).map(str::to_string).collect() };
    let words = |key: &str| -> BTreeSet<String> { values(key).iter().flat_map(|v| v.split_whitespace().map(str::to_string)).collect() };
    assert_eq!(words("CapabilityBoundingSet"), ["CAP_NET_BIND_SERVICE", "CAP_SETGID", "CAP_SETUID"].map(String::from).into());
    assert_eq!(words("RestrictAddressFamilies"), ["AF_INET", "AF_INET6", "AF_UNIX"].map(String::from).into());
    assert_eq!(values("ReadWritePaths"), ["/var/lib/pam_smsotp-dlr"]);
    for (k, v) in [
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("NoNewPrivileges", "yes"),
        ("SystemCallFilter", "@system-service"),
        ("ExecStart", "/usr/sbin/smsotp-dlrd --config /etc/security/pam_smsotp.toml"),
        ("ConditionPathExists", "/etc/security/pam_smsotp.dlr"),
    ] {
        assert_eq!(values(k), [v], "{k}");
    }
    assert!(values("User").is_empty(), "started as root: it drops to [delivery] user itself after binding");
    // systemd's own score of the sandbox (0 = locked down, 10 = exposed)
    let out = Command::new("systemd-analyze").args(["security", "--offline=true", "--no-pager"]).arg(&unit).output().unwrap();
    let shown = String::from_utf8_lossy(&out.stdout);
    let score: f64 = shown
        .lines()
        .find_map(|l| l.split("exposure level for smsotp-dlrd.service: ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no score:\n{shown}{}", String::from_utf8_lossy(&out.stderr)));
    assert!(score <= 3.0, "exposure {score}:\n{shown}");
}
