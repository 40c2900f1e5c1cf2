//! `[state] on_failure = "degrade"` with a shared store: while the shared store
//! fails, this host's own files keep the lockout, the send limits and grace
//! (weaker: per host), and backup codes are refused (a use could not be
//! recorded fleet-wide, and the local copy may hold codes used elsewhere).

use std::time::Duration;

use crate::auth::{BackupUse, SendAllowance, Store, StoreError};
use crate::log::Log;
use crate::state::FileStore;

pub struct LocalFallback<'a, S: Store> {
    shared: S,
    local: FileStore,
    log: &'a dyn Log,
    /// The shared store failed during this login: the local one answers from now on.
    down: bool,
}

impl<'a, S: Store> LocalFallback<'a, S> {
    pub fn new(shared: S, local: FileStore, log: &'a dyn Log) -> Self {
        LocalFallback { shared, local, log, down: false }
    }

    /// The shared store's answer, or (once it failed) the local one's.
    fn either<T>(
        &mut self,
        user: &str,
        shared: impl FnOnce(&mut S) -> Result<T, StoreError>,
        local: impl FnOnce(&mut FileStore) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        if !self.down {
            match shared(&mut self.shared) {
                Ok(v) => return Ok(v),
                Err(e) => {
                    self.log.critical(&format!(
                        "user {user}: the shared state store failed: {e}; on_failure = degrade: an SMS code is still \
                         required, backup codes are refused, limits hold on this host only"
                    ));
                    self.down = true;
                }
            }
        }
        local(&mut self.local)
    }
}

impl<S: Store> Store for LocalFallback<'_, S> {
    fn locked_until(&mut self, user: &str, now: Duration) -> Result<Option<Duration>, StoreError> {
        self.either(user, |s| s.locked_until(user, now), |l| l.locked_until(user, now))
    }

    fn grace_active(&mut self, user: &str, key: &str, now: Duration) -> Result<bool, StoreError> {
        // grace is never opened on the strength of this host's memory alone
        self.either(user, |s| s.grace_active(user, key, now), |_| Ok(false))
    }

    fn reserve_send(&mut self, user: &str, now: Duration) -> Result<SendAllowance, StoreError> {
        self.either(user, |s| s.reserve_send(user, now), |l| l.reserve_send(user, now))
    }

    fn peek_send(&mut self, user: &str, now: Duration) -> Result<SendAllowance, StoreError> {
        self.either(user, |s| s.peek_send(user, now), |l| l.peek_send(user, now))
    }

    fn record_failure(&mut self, user: &str, now: Duration) -> Result<bool, StoreError> {
        self.either(user, |s| s.record_failure(user, now), |l| l.record_failure(user, now))
    }

    fn record_success(&mut self, user: &str, key: Option<&str>, now: Duration) -> Result<bool, StoreError> {
        self.either(user, |s| s.record_success(user, key, now), |l| l.record_success(user, None, now))
    }

    fn record_sent(&mut self, connector: &str, now: Duration) -> Result<(), StoreError> {
        // counted where the store of record is; while it is down, on this host
        if self.down { self.local.record_sent(connector, now) } else { self.shared.record_sent(connector, now) }
    }

    fn use_backup_code(&mut self, user: &str, answer: &str, now: Duration) -> Result<BackupUse, StoreError> {
        self.either(user, |s| s.use_backup_code(user, answer, now), |_| Ok(BackupUse::Refused))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::log::MemoryLog;
    use crate::state::FailedStore;

    fn local(dir: &std::path::Path) -> FileStore {
        let mut c = Config::default();
        c.state.dir = dir.join("state");
        c.limits.lockout_failures = 2;
        FileStore::open(&c).unwrap()
    }

    #[test]
    fn a_failing_shared_store_hands_over_to_the_local_files() {
        let tmp = tempfile::tempdir().unwrap();
        let log = MemoryLog::default();
        let failing = FailedStore(StoreError::Io("redis 127.0.0.1:1: timed out".into()));
        let mut store = LocalFallback::new(failing, local(tmp.path()), &log);
        let now = Duration::from_secs(1_700_000_000);
        assert!(!store.record_failure("alice", now).unwrap());
        assert!(store.record_failure("alice", now).unwrap(), "the local lockout counts");
        assert!(store.locked_until("alice", now).unwrap().is_some());
        assert_eq!(store.reserve_send("alice", now).unwrap(), SendAllowance::Locked);
        assert_eq!(store.use_backup_code("alice", "abcd-efgh", now).unwrap(), BackupUse::Refused);
        assert!(!store.grace_active("alice", "k", now).unwrap());
        let lines = log.0.borrow();
        assert_eq!(lines.len(), 1, "logged once: {lines:?}");
        assert_eq!(lines[0].0, crate::log::Level::Critical);
        assert!(lines[0].1.contains("degrade") && lines[0].1.contains("timed out"), "{lines:?}");
    }

    #[test]
    fn a_working_shared_store_is_the_only_one_used() {
        let tmp = tempfile::tempdir().unwrap();
        let log = MemoryLog::default();
        std::fs::create_dir(tmp.path().join("shared")).unwrap();
        let shared = local(&tmp.path().join("shared"));
        let mut store = LocalFallback::new(shared, local(tmp.path()), &log);
        let now = Duration::from_secs(1_700_000_000);
        store.record_failure("bob", now).unwrap();
        assert!(store.record_failure("bob", now).unwrap());
        assert!(local(tmp.path()).locked_until("bob", now).unwrap().is_none(), "nothing written locally");
        assert!(local(&tmp.path().join("shared")).locked_until("bob", now).unwrap().is_some());
        assert!(log.lines().is_empty());
    }
}
