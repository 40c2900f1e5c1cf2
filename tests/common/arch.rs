//! Where this machine keeps its libraries and PAM modules, asked of the
//! system once: Debian's multiarch triple (x86_64-linux-gnu, aarch64-linux-gnu...).

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

/// The multiarch triple: `dpkg-architecture -qDEB_HOST_MULTIARCH`, else
/// `gcc -print-multiarch`, else the triple the compiler targets.
pub fn multiarch() -> &'static str {
    static TRIPLE: OnceLock<String> = OnceLock::new();
    TRIPLE.get_or_init(|| {
        let asked = |program: &str, args: &[&str]| -> Option<String> {
            let out = Command::new(program).args(args).output().ok()?;
            let text = String::from_utf8(out.stdout).ok()?.trim().to_string();
            (out.status.success() && !text.is_empty()).then_some(text)
        };
        asked("dpkg-architecture", &["-qDEB_HOST_MULTIARCH"])
            .or_else(|| asked("gcc", &["-print-multiarch"]))
            .or_else(|| asked("cc", &["-dumpmachine"]))
            .unwrap_or_else(|| format!("{}-linux-gnu", std::env::consts::ARCH))
    })
}

/// /usr/lib/<triple>: libpam_wrapper.so lives here.
pub fn lib_dir() -> PathBuf {
    PathBuf::from("/usr/lib").join(multiarch())
}

/// The PAM modules of the system (pam_permit, pam_deny, pam_debug...).
pub fn security_dir() -> PathBuf {
    lib_dir().join("security")
}

/// pam_wrapper's own modules (pam_matrix...).
pub fn pam_wrapper_modules() -> PathBuf {
    lib_dir().join("pam_wrapper")
}
