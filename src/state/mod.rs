//! Per-user persistent state behind the `Store` trait: lockout, send limits,
//! grace and backup codes. The login flow only talks to the trait.

use std::time::Duration;

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
    fn send_allowance(&mut self, user: &str, now: Duration) -> Result<SendAllowance, StoreError>;
    fn record_send(&mut self, user: &str, now: Duration) -> Result<(), StoreError>;
    /// Count a wrong answer; returns true when this failure locks the user.
    fn record_failure(&mut self, user: &str, now: Duration) -> Result<bool, StoreError>;
    fn record_success(&mut self, user: &str, origin: Option<&str>, now: Duration) -> Result<(), StoreError>;
    /// Consume a matching backup code; `Some(remaining)` when one matched.
    fn use_backup_code(&mut self, user: &str, answer: &str) -> Result<Option<usize>, StoreError>;
}

/// Keeps nothing between logins: no lockout, no cross-login limits, no backup
/// codes. Used until a persistent store is configured in.
pub struct NoStore;

impl Store for NoStore {
    fn locked_until(&mut self, _: &str, _: Duration) -> Result<Option<Duration>, StoreError> {
        Ok(None)
    }
    fn grace_active(&mut self, _: &str, _: &str, _: Duration) -> Result<bool, StoreError> {
        Ok(false)
    }
    fn send_allowance(&mut self, _: &str, _: Duration) -> Result<SendAllowance, StoreError> {
        Ok(SendAllowance::Allowed)
    }
    fn record_send(&mut self, _: &str, _: Duration) -> Result<(), StoreError> {
        Ok(())
    }
    fn record_failure(&mut self, _: &str, _: Duration) -> Result<bool, StoreError> {
        Ok(false)
    }
    fn record_success(&mut self, _: &str, _: Option<&str>, _: Duration) -> Result<(), StoreError> {
        Ok(())
    }
    fn use_backup_code(&mut self, _: &str, _: &str) -> Result<Option<usize>, StoreError> {
        Ok(None)
    }
}
