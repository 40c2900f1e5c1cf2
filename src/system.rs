//! The real clock and account database behind the flow's traits.

use std::ffi::CString;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use nix::unistd::{Group, User, getgrouplist};

use crate::auth::{Accounts, Clock};

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Duration {
        SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default()
    }

    fn monotonic(&self) -> Duration {
        static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
        START.get_or_init(Instant::now).elapsed()
    }
}

/// Group membership from NSS (files, sssd, LDAP...): primary and supplementary.
pub struct NssAccounts;

impl Accounts for NssAccounts {
    fn canonical_name(&self, user: &str) -> Result<Option<String>, String> {
        match User::from_name(user) {
            Ok(found) => Ok(found.map(|u| u.name)),
            // getpwnam's "not found" comes back as one of these from some NSS modules
            Err(nix::errno::Errno::ENOENT | nix::errno::Errno::ESRCH | nix::errno::Errno::EBADF | nix::errno::Errno::EPERM) => Ok(None),
            Err(e) => Err(format!("passwd lookup failed: {e}")),
        }
    }

    fn in_any_group(&self, user: &str, groups: &[String]) -> Result<bool, String> {
        let account =
            User::from_name(user).map_err(|e| format!("passwd lookup failed: {e}"))?.ok_or_else(|| "no such user in passwd".to_string())?;
        let name = CString::new(user).map_err(|_| "user name contains NUL".to_string())?;
        let gids = getgrouplist(&name, account.gid).map_err(|e| format!("group list failed: {e}"))?;
        for group in groups {
            if let Some(g) = Group::from_name(group).map_err(|e| format!("group lookup failed: {e}"))?
                && gids.contains(&g.gid)
            {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

/// This machine's short host name, for the {host} placeholder.
pub fn hostname() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .map(|h| h.split('.').next().unwrap_or("").to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// Network file systems by their statfs(2) magic number: flock is not reliable
/// on them across hosts.
const NETWORK_FILE_SYSTEMS: &[(u64, &str)] = &[
    (0x6969, "NFS"),
    (0x517b, "SMB"),
    (0xff53_4d42, "CIFS"),
    (0xfe53_4d42, "SMB2"),
    (0x00c3_6400, "CephFS"),
    (0x0102_1997, "9P"),
    (0x6573_5546, "a FUSE file system"),
    (0x5346_414f, "AFS"),
    (0x0116_1970, "GFS2"),
    (0x7461_636f, "OCFS2"),
    (0x0bd0_0bd0, "Lustre"),
];

fn network_kind(magic: u64) -> Option<&'static str> {
    NETWORK_FILE_SYSTEMS.iter().find(|(m, _)| *m == magic).map(|(_, name)| *name)
}

/// The kind of network file system `dir` (or its nearest existing parent) is
/// on, if it is one.
pub fn network_file_system(dir: &std::path::Path) -> Option<&'static str> {
    let existing = dir.ancestors().find(|p| p.exists())?;
    let fs = nix::sys::statfs::statfs(existing).ok()?;
    network_kind(fs.filesystem_type().0 as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_file_systems_are_told_apart() {
        assert_eq!(network_kind(0x6969), Some("NFS"));
        assert_eq!(network_kind(0xff53_4d42), Some("CIFS"));
        assert_eq!(network_kind(0xef53), None, "ext4");
        assert_eq!(network_kind(0x0102_1994), None, "tmpfs");
        assert_eq!(network_file_system(std::path::Path::new("/proc/nonexistent/dir")), None, "procfs, via its parent");
    }
}
