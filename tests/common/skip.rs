//! Skipping, visibly: a test that this machine cannot run says why on a line
//! `SKIPPED: <test>: <reason>` (scripts/test.sh counts those lines) and returns.
//!
//! ```ignore
//! require!(Root, PamWrapper, Programs(&["strace"]));
//! ```

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use super::arch;

/// One thing a test needs from the machine.
#[derive(Clone, Copy, Debug)]
pub enum Need {
    /// The module and `smsotp` trust only root-owned files; some tests also
    /// change uid, bind-mount over /etc or install packages into a scratch root.
    Root,
    /// pam_wrapper and its pam_matrix module (Debian package libpam-wrapper).
    PamWrapper,
    /// Every program named, on PATH or in the usual bin and sbin directories.
    Programs(&'static [&'static str]),
    /// A private mount namespace in which /run can be replaced (unshare -m).
    PrivateMounts,
    /// OpenLDAP's slapd and slapadd with the inetOrgPerson schema.
    Slapd,
    /// Kannel's bearerbox and smsbox with the fake SMSC from kannel-extras.
    Kannel,
    /// redis-server, redis-sentinel and redis-cli.
    Redis,
    /// Debian's PAM configuration (pam-auth-update works on common-auth).
    DebianPam,
}

impl Need {
    /// Why the machine does not meet this need, if it does not.
    pub fn unmet(self) -> Option<String> {
        match self {
            Need::Root => (!is_root()).then(|| "needs root (root-owned config files, other uids, private mounts)".to_string()),
            Need::PamWrapper => {
                if !arch::lib_dir().join("libpam_wrapper.so").exists() {
                    return Some("needs pam_wrapper (Debian package libpam-wrapper)".into());
                }
                (!arch::pam_wrapper_modules().join("pam_matrix.so").exists()).then(|| "needs pam_matrix.so from libpam-wrapper".to_string())
            }
            Need::Programs(programs) => programs.iter().find(|p| !on_path(p)).map(|p| format!("needs the program `{p}`")),
            Need::PrivateMounts => {
                (!private_mounts_work()).then(|| "cannot make a private mount namespace (unshare -m and mount failed)".to_string())
            }
            Need::Slapd => super::slapd::available(),
            Need::Kannel => super::kannel::available(),
            Need::Redis => super::redis::available(),
            Need::DebianPam => (!Path::new("/etc/pam.d/common-auth").exists() || !Path::new("/var/cache/debconf").is_dir())
                .then(|| "needs a Debian PAM configuration (/etc/pam.d/common-auth, debconf)".to_string()),
        }
    }
}

/// The first need the machine does not meet, and why.
pub fn first_unmet(needs: &[Need]) -> Option<String> {
    needs.iter().find_map(|n| n.unmet())
}

/// The line scripts/test.sh counts.
pub fn report(test: &str, why: &str) {
    eprintln!("SKIPPED: {test}: {why}");
}

/// The test's name from the path of a function declared inside it
/// ("logins::sshd_wrong_code_is_refused::here" gives "sshd_wrong_code_is_refused").
pub fn test_name_from(path: &'static str) -> &'static str {
    let path = path.trim_end_matches("::here");
    let path = path.trim_end_matches("::{{closure}}");
    path.split_once("::").map_or(path, |(_crate, rest)| rest)
}

pub fn is_root() -> bool {
    nix::unistd::Uid::effective().is_root()
}

/// Whether `program` is on PATH or in one of the usual bin and sbin
/// directories (a test run without root's PATH still finds sshd).
pub fn on_path(program: &str) -> bool {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let usual = ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"].map(std::path::PathBuf::from);
    std::env::split_paths(&path).chain(usual).any(|d| d.join(program).is_file())
}

fn private_mounts_work() -> bool {
    static WORKS: OnceLock<bool> = OnceLock::new();
    *WORKS.get_or_init(|| {
        Command::new("unshare")
            .args(["-m", "--propagation", "private", "sh", "-c", "mount -t tmpfs tmpfs /run"])
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    })
}

/// The name of the test this is expanded in, as libtest shows it.
#[macro_export]
macro_rules! test_name {
    () => {{
        fn here() {}
        $crate::common::skip::test_name_from(std::any::type_name_of_val(&here))
    }};
}

/// Ends the test, visibly, unless the machine meets every need (each a
/// [`Need`] variant, checked in order; the first unmet one is the reason).
#[macro_export]
macro_rules! require {
    ($($need:ident $(($($arg:tt)*))?),+ $(,)?) => {
        if let Some(why) = $crate::common::skip::first_unmet(&[$($crate::common::skip::Need::$need $(($($arg)*))?),+]) {
            $crate::common::skip::report($crate::test_name!(), &why);
            return;
        }
    };
}
