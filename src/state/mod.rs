//! Per-user persistent state behind the `Store` trait: lockout, send limits,
//! grace and backup codes. The login flow only talks to the trait.

pub mod backup;
mod file;
mod record;

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
}

/// Whether another SMS may go to the user now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendAllowance {
    Allowed,
    /// Too soon after the previous code; seconds to wait.
    Cooldown(u64),
    /// `max_sends_per_hour` reached.
    HourlyCap,
}

pub trait Store {
    /// `Some(until)` while the user is locked out.
    fn locked_until(&mut self, user: &str, now: Duration) -> Result<Option<Duration>, StoreError>;
    /// A recent success from the same origin (PAM_RHOST or tty) within `grace`.
    fn grace_active(&mut self, user: &str, origin: &str, now: Duration) -> Result<bool, StoreError>;
    /// Check the send limits and, when a code may go out, record it in the same step.
    fn reserve_send(&mut self, user: &str, now: Duration) -> Result<SendAllowance, StoreError>;
    /// Count a wrong answer; returns true when this failure locks the user.
    fn record_failure(&mut self, user: &str, now: Duration) -> Result<bool, StoreError>;
    fn record_success(&mut self, user: &str, origin: Option<&str>, now: Duration) -> Result<(), StoreError>;
    /// Consume a matching backup code; `Some(remaining)` when one matched.
    fn use_backup_code(&mut self, user: &str, answer: &str) -> Result<Option<usize>, StoreError>;
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

    /// Read the user's state under the lock, let `change` alter it, and write it
    /// back when it changed.
    pub fn update<T>(&self, user: &str, change: impl FnOnce(&mut UserState) -> T) -> Result<T, StoreError> {
        let lock = self.dir.lock(user)?;
        let mut state = self.dir.read(user, &lock)?;
        let before = state.clone();
        let out = change(&mut state);
        if state != before {
            self.dir.write(user, &state, &lock)?;
        }
        Ok(out)
    }

    pub fn read(&self, user: &str) -> Result<UserState, StoreError> {
        let lock = self.dir.lock(user)?;
        self.dir.read(user, &lock)
    }

    /// Replace the state whatever it holds now (for `smsotp unlock` on a corrupt file).
    pub fn reset(&self, user: &str, state: &UserState) -> Result<(), StoreError> {
        let lock = self.dir.lock(user)?;
        self.dir.write(user, state, &lock)
    }
}

fn secs(d: Duration) -> u64 {
    d.as_secs()
}

impl Store for FileStore {
    fn locked_until(&mut self, user: &str, now: Duration) -> Result<Option<Duration>, StoreError> {
        Ok(self.read(user)?.locked_until(secs(now)).map(Duration::from_secs))
    }

    fn grace_active(&mut self, user: &str, origin: &str, now: Duration) -> Result<bool, StoreError> {
        Ok(self.read(user)?.grace_active(origin, secs(now)))
    }

    fn reserve_send(&mut self, user: &str, now: Duration) -> Result<SendAllowance, StoreError> {
        let limits = self.limits.clone();
        self.update(user, |s| s.reserve_send(secs(now), &limits))
    }

    fn record_failure(&mut self, user: &str, now: Duration) -> Result<bool, StoreError> {
        let limits = self.limits.clone();
        self.update(user, |s| s.record_failure(secs(now), &limits))
    }

    fn record_success(&mut self, user: &str, origin: Option<&str>, now: Duration) -> Result<(), StoreError> {
        let grace = self.grace;
        self.update(user, |s| s.record_success(origin, secs(now), grace))
    }

    fn use_backup_code(&mut self, user: &str, answer: &str) -> Result<Option<usize>, StoreError> {
        if backup::normalise(answer).is_none() {
            return Ok(None);
        }
        // Hashing is slow: match outside the lock, then consume under it only if
        // that very hash is still there, so a code works once however many race.
        let hashes = self.read(user)?.backup_codes;
        let Some(i) = backup::find(answer, &hashes) else { return Ok(None) };
        let matched = &hashes[i];
        self.update(user, |s| {
            let j = s.backup_codes.iter().position(|h| h == matched)?;
            s.backup_codes.remove(j);
            Some(s.backup_codes.len())
        })
    }
}
