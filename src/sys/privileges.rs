//! Dropping root for good: what `smsotp-dlrd` does once it has read its
//! configuration and bound its socket.

use nix::unistd::{Gid, Uid, setgroups, setresgid, setresuid};

use super::child::Identity;

#[derive(Debug, thiserror::Error)]
pub enum DropError {
    #[error("{step} failed: {reason}")]
    Failed { step: &'static str, reason: String },
    #[error("root could be regained after dropping privileges")]
    NotDropped,
}

/// Become `identity`: its supplementary groups, then real, effective and saved
/// gid, then uid (in that order: after setuid the others are no longer allowed).
pub fn drop_to(identity: &Identity) -> Result<(), DropError> {
    let fail = |step: &'static str| move |e: nix::Error| DropError::Failed { step, reason: e.to_string() };
    let groups: Vec<Gid> = identity.groups.iter().copied().map(Gid::from_raw).collect();
    setgroups(&groups).map_err(fail("setgroups"))?;
    let gid = Gid::from_raw(identity.gid);
    setresgid(gid, gid, gid).map_err(fail("setresgid"))?;
    let uid = Uid::from_raw(identity.uid);
    setresuid(uid, uid, uid).map_err(fail("setresuid"))?;
    if identity.uid != 0 && nix::unistd::setuid(Uid::from_raw(0)).is_ok() {
        return Err(DropError::NotDropped);
    }
    Ok(())
}
