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

    /// The user's state as it stands at `now`, for a decision that a locked
    /// step makes again (the flow's early lock check: the send reservation,
    /// a failure, a backup code and a success each check the lock under the
    /// user's lock). Read without the lock when the file decodes and holds no
    /// time from the future; otherwise as `read` does (which finishes an
    /// interrupted write and writes clamped times back).
    pub fn glance(&self, user: &str, now: u64) -> Result<UserState, StoreError> {
        if let Some(stored) = self.dir.peek(user) {
            let mut state = stored.clone();
            state.clamp(now, &self.limits, self.grace);
            if state == stored {
                return Ok(state);
            }
        }
        self.read(user, now)
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
        Ok(self.glance(user, secs(now))?.locked_until(secs(now)).map(Duration::from_secs))
    }

    /// Under the lock: grace lets a login in without a code, so it is never
    /// decided on a glance, and a locked user has none (the early lock check
    /// is a glance).
    fn grace_active(&mut self, user: &str, key: &str, now: Duration) -> Result<bool, StoreError> {
        let state = self.read(user, secs(now))?;
        Ok(state.grace_active(key, secs(now)) && state.locked_until(secs(now)).is_none())
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    const NOW: u64 = 1_800_000_000;

    /// A file store of its own, locking after two failures for 900 s, with
    /// grace; None (and a visible reason) unless root owns what it creates.
    fn store() -> Option<(tempfile::TempDir, FileStore)> {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("SKIPPED: state glance tests: the state directory must be owned by root");
            return None;
        }
        let t = tempfile::tempdir().unwrap();
        let mut c = Config::default();
        c.state.dir = t.path().join("state");
        c.limits.lockout_failures = 2;
        c.limits.lockout_duration = 900;
        c.policy.grace = 600;
        let s = FileStore::open(&c).unwrap();
        Some((t, s))
    }

    fn at(secs: u64) -> Duration {
        Duration::from_secs(secs)
    }

    #[test]
    fn the_early_lock_check_does_not_wait_for_the_lock_and_sees_a_lock() {
        let Some((_t, mut s)) = store() else { return };
        assert!(s.record_success("alice", Some("sshd/192.0.2.7"), at(NOW)).unwrap());
        assert!(s.grace_active("alice", "sshd/192.0.2.7", at(NOW)).unwrap());
        for _ in 0..2 {
            s.record_failure("alice", at(NOW)).unwrap();
        }
        let held = s.dir.lock("alice").unwrap();
        let started = Instant::now();
        assert_eq!(s.locked_until("alice", at(NOW + 1)).unwrap(), Some(at(NOW + 900)));
        assert!(started.elapsed() < Duration::from_secs(5), "a glance waited for the user's lock");
        drop(held);
        // grace is never granted on a glance (the lock check is one): under the
        // lock, and not to a locked user
        assert!(!s.grace_active("alice", "sshd/192.0.2.7", at(NOW + 3)).unwrap());
    }

    #[test]
    fn a_glance_that_meets_a_time_from_the_future_writes_the_clamped_time_back() {
        let Some((_t, mut s)) = store() else { return };
        for _ in 0..2 {
            s.record_failure("alice", at(NOW + 10 * 365 * 86_400)).unwrap();
        }
        // the clock stepped back ten years: the lock ends 900 s after it is first seen
        assert_eq!(s.locked_until("alice", at(NOW)).unwrap(), Some(at(NOW + 900)));
        assert_eq!(s.dir.peek("alice").unwrap().locked_until, Some(NOW + 900), "written back");
        assert_eq!(s.locked_until("alice", at(NOW + 901)).unwrap(), None, "and it ends");
    }

    #[test]
    fn a_state_file_that_does_not_decode_takes_the_locked_path_and_is_an_error() {
        let Some((t, mut s)) = store() else { return };
        s.record_failure("alice", at(NOW)).unwrap();
        let path = t.path().join("state/u-alice.json");
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
        assert!(s.dir.peek("alice").is_none());
        assert!(matches!(s.locked_until("alice", at(NOW)), Err(StoreError::Corrupt(_))));
    }
}
