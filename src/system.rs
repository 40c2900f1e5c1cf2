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
