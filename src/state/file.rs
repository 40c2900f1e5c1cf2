//! State files under `[state].dir`: one JSON file per user, read and rewritten
//! under an flock on a separate lock file, replaced atomically (temp file,
//! fsync, rename, fsync of the directory), never through a symlink.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use super::StoreError;
use super::record::{self, DecodeError, UserState};

const LOCK_WAIT: Duration = Duration::from_secs(10);
const MAX_STATE_BYTES: u64 = 1024 * 1024;

pub struct StateDir {
    dir: PathBuf,
}

/// A held lock on one user's state; released when dropped (or if the process dies).
pub struct UserLock {
    _file: File,
}

impl StateDir {
    /// The directory, created 0700 if missing; refused unless it is a real
    /// directory owned by root and not writable by group or others.
    pub fn open(dir: &Path) -> Result<StateDir, StoreError> {
        let insecure = |why: String| StoreError::InsecureDirectory(dir.display().to_string(), why);
        if !dir.exists() {
            DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(|e| insecure(format!("cannot create it: {e}")))?;
        }
        let meta = std::fs::symlink_metadata(dir).map_err(|e| insecure(e.to_string()))?;
        if !meta.file_type().is_dir() {
            return Err(insecure("not a directory (a symlink is not accepted)".into()));
        }
        if meta.uid() != 0 {
            return Err(insecure(format!("owned by uid {}, not root", meta.uid())));
        }
        if meta.mode() & 0o022 != 0 {
            return Err(insecure(format!("mode {:04o} lets group or others write it", meta.mode() & 0o7777)));
        }
        Ok(StateDir { dir: dir.to_path_buf() })
    }

    fn path(&self, user: &str, suffix: &str) -> PathBuf {
        self.dir.join(format!("{}{suffix}", stem(user)))
    }

    /// Wait (up to 10 s) for the user's lock.
    pub fn lock(&self, user: &str) -> Result<UserLock, StoreError> {
        let path = self.path(user, ".lock");
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&path)
            .map_err(|e| io(&path, e))?;
        let started = Instant::now();
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(UserLock { _file: file }),
                Err(std::fs::TryLockError::WouldBlock) if started.elapsed() < LOCK_WAIT => std::thread::sleep(Duration::from_millis(5)),
                Err(std::fs::TryLockError::WouldBlock) => {
                    return Err(StoreError::Io(format!("{}: still locked after {LOCK_WAIT:?}", path.display())));
                }
                Err(std::fs::TryLockError::Error(e)) => return Err(io(&path, e)),
            }
        }
    }

    /// The user's state (the default when there is none yet). A file that does
    /// not parse is an error, never an empty state.
    pub fn read(&self, user: &str, _lock: &UserLock) -> Result<UserState, StoreError> {
        let path = self.path(user, ".json");
        let mut file = match OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC).open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(UserState::default()),
            Err(e) => return Err(io(&path, e)),
        };
        let meta = file.metadata().map_err(|e| io(&path, e))?;
        if !meta.is_file() || meta.len() > MAX_STATE_BYTES {
            return Err(StoreError::Corrupt(format!("{} is not a state file", path.display())));
        }
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(|e| StoreError::Corrupt(format!("{}: {e}", path.display())))?;
        record::decode(&bytes).map_err(|e| match e {
            DecodeError::NewerVersion(version) => StoreError::NewerFormat { path: path.display().to_string(), version },
            DecodeError::Malformed(why) => StoreError::Corrupt(format!("{}: {why}", path.display())),
        })
    }

    /// The trustworthy backup codes of a state file that does not decode.
    pub fn salvage_backup_codes(&self, user: &str, _lock: &UserLock) -> Result<Vec<String>, StoreError> {
        let path = self.path(user, ".json");
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io(&path, e)),
        };
        record::salvage_backup_codes(&bytes).ok_or_else(|| StoreError::NewerFormat { path: path.display().to_string(), version: 0 })
    }

    /// Replace the user's state: a new file, fsynced, renamed over the old one,
    /// then the directory fsynced, so a crash leaves the old or the new state.
    /// The temporary file has one name per user: only the lock holder writes
    /// it, and one left by a killed writer is simply overwritten.
    pub fn write(&self, user: &str, state: &UserState, _lock: &UserLock) -> Result<(), StoreError> {
        let path = self.path(user, ".json");
        let temp = self.dir.join(format!(".{}.tmp", stem(user)));
        let text = serde_json::to_vec(state).map_err(|e| StoreError::Io(e.to_string()))?;
        let result = (|| {
            let mut f = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
                .open(&temp)?;
            // the caller's umask (0777 under a hostile sudo) must not decide the mode
            f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
            f.write_all(&text)?;
            f.sync_all()?;
            std::fs::rename(&temp, &path)?;
            File::open(&self.dir)?.sync_all()
        })();
        if let Err(e) = result {
            let _ = std::fs::remove_file(&temp);
            return Err(io(&path, e));
        }
        Ok(())
    }
}

fn io(path: &Path, e: std::io::Error) -> StoreError {
    StoreError::Io(format!("{}: {e}", path.display()))
}

/// The key of the store-wide record (the hourly count of every user's SMS): no
/// user name holds a NUL, and its file name "total" is no user's ("u-", "h-").
pub const TOTAL: &str = "\0total";

fn stem(key: &str) -> String {
    if key == TOTAL { "total".into() } else { file_stem(key) }
}

/// A file name for any user name: "u-" and the name with everything but
/// letters, digits, '_' and '-' percent-escaped (so no '/', no '..', no NUL);
/// names that would be long become "h-" and a SHA-256.
pub fn file_stem(user: &str) -> String {
    let mut escaped = String::with_capacity(user.len() + 2);
    escaped.push_str("u-");
    for b in user.bytes() {
        if b.is_ascii_alphanumeric() || b == b'_' || b == b'-' {
            escaped.push(b as char);
        } else {
            escaped.push_str(&format!("%{b:02X}"));
        }
    }
    if escaped.len() <= 120 {
        return escaped;
    }
    let digest = Sha256::digest(user.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("h-{hex}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_maps_to_one_plain_file_name() {
        for (user, stem) in [
            ("alice", "u-alice"),
            ("j.doe@example.org", "u-j%2Edoe%40example%2Eorg"),
            ("../../etc/passwd", "u-%2E%2E%2F%2E%2E%2Fetc%2Fpasswd"),
            ("..", "u-%2E%2E"),
            ("a b", "u-a%20b"),
            ("DOMAIN\\bob", "u-DOMAIN%5Cbob"),
            ("élise", "u-%C3%A9lise"),
        ] {
            assert_eq!(file_stem(user), stem);
        }
        let long = file_stem(&"x".repeat(300));
        assert!(long.starts_with("h-") && long.len() == 66, "{long}");
        assert_ne!(file_stem(&"x".repeat(300)), file_stem(&"x".repeat(301)));
        for user in ["a/b", "..", "", "x\u{0}y", &"/".repeat(200)] {
            let stem = file_stem(user);
            assert!(!stem.contains('/') && !stem.contains('\0') && stem != ".." && stem.len() < 255, "{stem}");
        }
    }
}
