//! Per-user persistent state behind the `Store` trait: lockout, send limits,
//! grace and backup codes. The login flow only talks to the trait.

pub mod backup;
pub mod delivery;
pub mod enrol_code;
mod fallback;
mod file;
pub mod numbers;
pub(crate) mod record;
pub mod redis;
pub mod report;
pub mod sent;

use std::time::Duration;

pub use fallback::LocalFallback;
pub use file::{StateDir, TOTAL, file_stem};
pub use numbers::{FailedNumbers, FileNumbers, SharedNumbers};
pub use record::{DecodeError, Grace, UserState, decode};
pub use redis::RedisStore;

use crate::auth::{BackupUse, SendAllowance, Store, StoreError};
use crate::config::{Config, LimitsConfig};

/// A store that could not be opened: every operation reports why, so that the
/// login meets the failure where `[state] on_failure` decides (after the skip
/// rules, which need no store).
pub struct FailedStore(pub StoreError);

impl Store for FailedStore {
    fn locked_until(&mut self, _: &str, _: Duration) -> Result<Option<Duration>, StoreError> {
        Err(self.0.clone())
    }
    fn grace_active(&mut self, _: &str, _: &str, _: Duration) -> Result<bool, StoreError> {
        Err(self.0.clone())
    }
    fn reserve_send(&mut self, _: &str, _: Duration) -> Result<SendAllowance, StoreError> {
        Err(self.0.clone())
    }
    fn peek_send(&mut self, _: &str, _: Duration) -> Result<SendAllowance, StoreError> {
        Err(self.0.clone())
    }
    fn record_failure(&mut self, _: &str, _: Duration) -> Result<bool, StoreError> {
        Err(self.0.clone())
    }
    fn record_success(&mut self, _: &str, _: Option<&str>, _: Duration) -> Result<bool, StoreError> {
        Err(self.0.clone())
    }
    fn use_backup_code(&mut self, _: &str, _: &str, _: Duration) -> Result<BackupUse, StoreError> {
        Err(self.0.clone())
    }
}

/// The store of record: one file per user under `[state].dir`.
pub struct FileStore {
    dir: StateDir,
    /// `[state] dir`, where sent.counts counts SMS per connector.
    path: std::path::PathBuf,
    limits: LimitsConfig,
    grace: u64,
}

impl FileStore {
    pub fn open(config: &Config) -> Result<FileStore, StoreError> {
        Ok(FileStore {
            dir: StateDir::open(&config.state.dir)?,
            path: config.state.dir.clone(),
            limits: config.limits.clone(),
            grace: config.policy.grace,
        })
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

    /// The user's state as it stands at `now`. Times from the future are
    /// written back as now (when the store can be written), so that a lock or a
    /// grace ends at most one configured length after the step is first seen.
    pub fn read(&self, user: &str, now: u64) -> Result<UserState, StoreError> {
        let lock = self.dir.lock(user)?;
        let stored = self.dir.read(user, &lock)?;
        let mut state = stored.clone();
        state.clamp(now, &self.limits, self.grace);
        if state != stored {
            let _ = self.dir.write(user, &state, &lock);
        }
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
        let now = secs(now);
        let lock = self.dir.lock(user)?;
        let before = self.dir.read(user, &lock)?;
        let mut state = before.clone();
        state.clamp(now, &self.limits, self.grace);
        let allowance = state.reserve_send(now, &self.limits);
        if allowance == SendAllowance::Allowed && self.limits.max_sends_per_hour_total > 0 {
            // the store-wide count, under its own lock, taken only while a user's is held
            let total_lock = self.dir.lock(TOTAL)?;
            let mut total = self.dir.read(TOTAL, &total_lock)?;
            total.clamp(now, &self.limits, 0);
            let cap = LimitsConfig { max_sends_per_hour: self.limits.max_sends_per_hour_total, resend_cooldown: 0, ..self.limits.clone() };
            if total.reserve_send(now, &cap) != SendAllowance::Allowed {
                return Ok(SendAllowance::TotalCap);
            }
            self.dir.write(TOTAL, &total, &total_lock)?;
        }
        if state != before {
            self.dir.write(user, &state, &lock)?;
        }
        Ok(allowance)
    }

    fn peek_send(&mut self, user: &str, now: Duration) -> Result<SendAllowance, StoreError> {
        let mut state = self.read(user, secs(now))?;
        Ok(state.reserve_send(secs(now), &self.limits))
    }

    fn record_failure(&mut self, user: &str, now: Duration) -> Result<bool, StoreError> {
        let limits = self.limits.clone();
        self.update(user, secs(now), |s| s.record_failure(secs(now), &limits))
    }

    fn record_success(&mut self, user: &str, key: Option<&str>, now: Duration) -> Result<bool, StoreError> {
        let grace = self.grace;
        self.update(user, secs(now), |s| s.record_success(key, secs(now), grace))
    }

    fn record_sent(&mut self, connector: &str, now: Duration) -> Result<(), StoreError> {
        sent::record(&self.path, connector, secs(now))
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
