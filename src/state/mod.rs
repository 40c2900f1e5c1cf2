//! Per-user persistent state behind the `Store` trait: lockout, send limits,
//! grace and backup codes. The login flow only talks to the trait.

pub mod backup;
mod file;
pub(crate) mod record;

use std::time::Duration;

pub use file::{StateDir, file_stem};
pub use record::{Grace, UserState};

use crate::config::{Config, LimitsConfig};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("state directory {0} is insecure: {1}")]
    InsecureDirectory(String, String),
    #[error("state for the user is unreadable: {0}")]
    Corrupt(String),
    #[error("state I/O failed: {0}")]
    Io(String),
    #[error(
        "{path} is in state format version {version}, newer than this module's {}; refusing to use or change it",
        record::FORMAT_VERSION
    )]
    NewerFormat { path: String, version: u64 },
}

/// Whether another SMS may go to the user now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendAllowance {
    Allowed,
    /// Too soon after the previous code; seconds to wait.
    Cooldown(u64),
    /// `max_sends_per_hour` reached.
    HourlyCap,
    /// The user is locked out (perhaps by another login meanwhile).
    Locked,
}

/// What a typed answer did as a backup code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackupUse {
    /// Not a backup code of the user's (or not one at all).
    NoMatch,
    /// A code matched, but the user is locked out: it was not consumed.
    Locked,
    /// Consumed; this many are left.
    Used { remaining: usize },
}

pub trait Store {
    /// `Some(until)` while the user is locked out.
    fn locked_until(&mut self, user: &str, now: Duration) -> Result<Option<Duration>, StoreError>;
    /// A recent success with the same grace key (see `auth::Login::grace_key`).
    fn grace_active(&mut self, user: &str, key: &str, now: Duration) -> Result<bool, StoreError>;
    /// Check the lock and the send limits and, when a code may go out, record it
    /// in the same step.
    fn reserve_send(&mut self, user: &str, now: Duration) -> Result<SendAllowance, StoreError>;
    /// Count a wrong answer; true when the user is locked now (by this failure,
    /// or by another login meanwhile).
    fn record_failure(&mut self, user: &str, now: Duration) -> Result<bool, StoreError>;
    /// Clear the failures and open grace for `key`; false (and nothing changed)
    /// when the user is locked out.
    fn record_success(&mut self, user: &str, key: Option<&str>, now: Duration) -> Result<bool, StoreError>;
    /// Consume a matching backup code unless the user is locked out.
    fn use_backup_code(&mut self, user: &str, answer: &str, now: Duration) -> Result<BackupUse, StoreError>;
}

/// The store of record: one file per user under `[state].dir`.
pub struct FileStore {
    dir: StateDir,
    limits: LimitsConfig,
    grace: u64,
}

impl FileStore {
    pub fn open(config: &Config) -> Result<FileStore, StoreError> {
        Ok(FileStore { dir: StateDir::open(&config.state.dir)?, limits: config.limits.clone(), grace: config.policy.grace })
    }

    /// Read the user's state under the lock, with its times made safe for
    /// `now`, let `change` alter it, and write it back when it changed.
    pub fn update<T>(&self, user: &str, now: u64, change: impl FnOnce(&mut UserState) -> T) -> Result<T, StoreError> {
        let lock = self.dir.lock(user)?;
        let before = self.dir.read(user, &lock)?;
        let mut state = before.clone();
        state.clamp(now, &self.limits, self.grace);
        let out = change(&mut state);
        if state != before {
            self.dir.write(user, &state, &lock)?;
        }
        Ok(out)
    }

    /// The user's state as it stands at `now`.
    pub fn read(&self, user: &str, now: u64) -> Result<UserState, StoreError> {
        let lock = self.dir.lock(user)?;
        let mut state = self.dir.read(user, &lock)?;
        state.clamp(now, &self.limits, self.grace);
        Ok(state)
    }

    /// Replace the state whatever it holds now (for `smsotp unlock` on a corrupt file).
    pub fn reset(&self, user: &str, state: &UserState) -> Result<(), StoreError> {
        let lock = self.dir.lock(user)?;
        self.dir.write(user, state, &lock)
    }

    /// The backup codes that can still be trusted in a damaged state file.
    pub fn salvage_backup_codes(&self, user: &str) -> Result<Vec<String>, StoreError> {
        let lock = self.dir.lock(user)?;
        self.dir.salvage_backup_codes(user, &lock)
    }
}

fn secs(d: Duration) -> u64 {
    d.as_secs()
}

impl Store for FileStore {
    fn locked_until(&mut self, user: &str, now: Duration) -> Result<Option<Duration>, StoreError> {
        Ok(self.read(user, secs(now))?.locked_until(secs(now)).map(Duration::from_secs))
    }

    fn grace_active(&mut self, user: &str, key: &str, now: Duration) -> Result<bool, StoreError> {
        Ok(self.read(user, secs(now))?.grace_active(key, secs(now)))
    }

    fn reserve_send(&mut self, user: &str, now: Duration) -> Result<SendAllowance, StoreError> {
        let limits = self.limits.clone();
        self.update(user, secs(now), |s| s.reserve_send(secs(now), &limits))
    }

    fn record_failure(&mut self, user: &str, now: Duration) -> Result<bool, StoreError> {
        let limits = self.limits.clone();
        self.update(user, secs(now), |s| s.record_failure(secs(now), &limits))
    }

    fn record_success(&mut self, user: &str, key: Option<&str>, now: Duration) -> Result<bool, StoreError> {
        let grace = self.grace;
        self.update(user, secs(now), |s| s.record_success(key, secs(now), grace))
    }

    fn use_backup_code(&mut self, user: &str, answer: &str, now: Duration) -> Result<BackupUse, StoreError> {
        if backup::normalise(answer).is_none() {
            return Ok(BackupUse::NoMatch);
        }
        // Hashing is slow: match outside the lock, then consume under it only if
        // that very hash is still there, so a code works once however many race.
        let hashes = self.read(user, secs(now))?.backup_codes;
        let Some(i) = backup::find(answer, &hashes) else { return Ok(BackupUse::NoMatch) };
        let matched = &hashes[i];
        self.update(user, secs(now), |s| {
            if s.locked_until(secs(now)).is_some() {
                return BackupUse::Locked;
            }
            match s.backup_codes.iter().position(|h| h == matched) {
                Some(j) => {
                    s.backup_codes.remove(j);
                    BackupUse::Used { remaining: s.backup_codes.len() }
                }
                None => BackupUse::NoMatch,
            }
        })
    }
}
