//! One user's persistent state and the rules over it, as pure functions of the
//! time: lockout, send limits, grace. Stored as JSON by `file::FileStore`.

use serde::{Deserialize, Serialize};

use crate::config::LimitsConfig;
use crate::state::SendAllowance;

pub const FORMAT_VERSION: u32 = 1;
const HOUR: u64 = 3600;
/// Origins remembered for grace; the oldest is forgotten first.
const MAX_GRACE_ORIGINS: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserState {
    pub version: u32,
    /// Times (Unix seconds) of wrong answers inside the lockout window.
    pub failures: Vec<u64>,
    pub locked_until: Option<u64>,
    /// Times of codes sent in the last hour.
    pub sends: Vec<u64>,
    pub grace: Vec<Grace>,
    /// argon2id hashes (PHC strings) of the unused backup codes.
    pub backup_codes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grace {
    pub origin: String,
    pub until: u64,
}

impl Default for UserState {
    fn default() -> Self {
        UserState {
            version: FORMAT_VERSION,
            failures: Vec::new(),
            locked_until: None,
            sends: Vec::new(),
            grace: Vec::new(),
            backup_codes: Vec::new(),
        }
    }
}

/// Why stored bytes are not a usable state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// Written by a newer module: refused rather than half understood.
    NewerVersion(u64),
    Malformed(String),
}

/// Decode a stored state. A newer format version, an unknown field, a backup-code
/// hash with argon2 parameters other than the module's own: all refused.
pub fn decode(bytes: &[u8]) -> Result<UserState, DecodeError> {
    // the version alone first (other fields skipped unbuilt), so that a newer
    // format is told apart from a malformed one
    #[derive(Deserialize)]
    struct Version {
        version: Option<serde_json::Value>,
    }
    let Version { version } = serde_json::from_slice(bytes).map_err(|e| DecodeError::Malformed(e.to_string()))?;
    match version.as_ref().and_then(serde_json::Value::as_u64) {
        Some(v) if v > u64::from(FORMAT_VERSION) => return Err(DecodeError::NewerVersion(v)),
        Some(v) if v == u64::from(FORMAT_VERSION) => {}
        _ => return Err(DecodeError::Malformed("no known format version".into())),
    }
    let state: UserState = serde_json::from_slice(bytes).map_err(|e| DecodeError::Malformed(e.to_string()))?;
    if let Some(why) = state.backup_codes.iter().find_map(|h| crate::state::backup::check_hash(h).err()) {
        return Err(DecodeError::Malformed(format!("a backup code hash is not the module's own ({why})")));
    }
    Ok(state)
}

/// From a state that does not decode, the backup-code hashes that can still be
/// trusted (for `smsotp unlock`, which must not throw them away). None for a
/// newer format, which must not be touched.
pub fn salvage_backup_codes(bytes: &[u8]) -> Option<Vec<String>> {
    let value: serde_json::Value = serde_json::from_slice(bytes).ok().unwrap_or_default();
    if value.get("version").and_then(serde_json::Value::as_u64).is_some_and(|v| v > u64::from(FORMAT_VERSION)) {
        return None;
    }
    let codes = value.get("backup_codes").and_then(serde_json::Value::as_array).map(Vec::as_slice).unwrap_or_default();
    Some(
        codes
            .iter()
            .filter_map(serde_json::Value::as_str)
            .filter(|h| crate::state::backup::check_hash(h).is_ok())
            .map(str::to_string)
            .collect(),
    )
}

impl UserState {
    /// Make stored times safe to use at `now`: an event cannot lie in the future,
    /// and nothing lasts longer than its configured length from now. A wall
    /// clock stepped back, or a hostile file, never lengthens a lock, cooldown,
    /// window or grace.
    pub fn clamp(&mut self, now: u64, limits: &LimitsConfig, grace_seconds: u64) {
        for t in self.failures.iter_mut().chain(self.sends.iter_mut()) {
            *t = (*t).min(now);
        }
        if let Some(until) = &mut self.locked_until {
            *until = (*until).min(now.saturating_add(limits.lockout_duration));
        }
        for g in &mut self.grace {
            g.until = g.until.min(now.saturating_add(grace_seconds));
        }
    }

    pub fn locked_until(&self, now: u64) -> Option<u64> {
        self.locked_until.filter(|&t| t > now)
    }

    pub fn failures_in_window(&self, now: u64, limits: &LimitsConfig) -> usize {
        self.failures.iter().filter(|&&t| t.saturating_add(limits.lockout_window) > now).count()
    }

    pub fn sends_in_last_hour(&self, now: u64) -> usize {
        self.sends.iter().filter(|&&t| t.saturating_add(HOUR) > now).count()
    }

    /// Count a wrong answer; true when the user is locked now, by this failure
    /// or by another login while this one waited.
    pub fn record_failure(&mut self, now: u64, limits: &LimitsConfig) -> bool {
        if self.locked_until(now).is_some() {
            return true;
        }
        self.failures.retain(|&t| t.saturating_add(limits.lockout_window) > now);
        self.failures.push(now);
        if limits.lockout_failures > 0 && self.failures.len() >= limits.lockout_failures as usize {
            self.locked_until = Some(now.saturating_add(limits.lockout_duration));
            self.failures.clear();
            return true;
        }
        false
    }

    /// May a code go out now? When it may, the send is recorded at once, so
    /// that two logins cannot both take the last one. A locked user gets none.
    pub fn reserve_send(&mut self, now: u64, limits: &LimitsConfig) -> SendAllowance {
        if self.locked_until(now).is_some() {
            return SendAllowance::Locked;
        }
        self.sends.retain(|&t| t.saturating_add(HOUR) > now);
        if let Some(&last) = self.sends.iter().max() {
            let ready = last.saturating_add(limits.resend_cooldown);
            if ready > now {
                return SendAllowance::Cooldown(ready - now);
            }
        }
        if self.sends.len() >= limits.max_sends_per_hour as usize {
            return SendAllowance::HourlyCap;
        }
        self.sends.push(now);
        SendAllowance::Allowed
    }

    /// A success clears the failures and opens grace for `origin`; it never
    /// lifts a lock (one set by another login while this one waited refuses it:
    /// false, and nothing changes).
    pub fn record_success(&mut self, origin: Option<&str>, now: u64, grace_seconds: u64) -> bool {
        if self.locked_until(now).is_some() {
            return false;
        }
        self.failures.clear();
        self.locked_until = None;
        self.grace.retain(|g| g.until > now);
        if let (Some(origin), true) = (origin, grace_seconds > 0) {
            self.grace.retain(|g| g.origin != origin);
            self.grace.push(Grace { origin: origin.to_string(), until: now.saturating_add(grace_seconds) });
            if self.grace.len() > MAX_GRACE_ORIGINS {
                self.grace.remove(0);
            }
        }
        true
    }

    pub fn grace_active(&self, origin: &str, now: u64) -> bool {
        self.grace.iter().any(|g| g.origin == origin && g.until > now)
    }

    pub fn unlock(&mut self) {
        self.failures.clear();
        self.locked_until = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> LimitsConfig {
        LimitsConfig {
            max_sends_per_hour: 3,
            resend_cooldown: 30,
            lockout_failures: 3,
            lockout_window: 100,
            lockout_duration: 500,
            login_budget: 30,
            max_sends_per_hour_total: 0,
        }
    }

    const T: u64 = 1_700_000_000;

    #[test]
    fn failures_inside_the_window_lock_for_the_duration() {
        let l = limits();
        let mut s = UserState::default();
        assert!(!s.record_failure(T, &l));
        assert!(!s.record_failure(T + 50, &l));
        assert!(s.record_failure(T + 99, &l), "the third failure within 100 s locks");
        assert_eq!(s.locked_until(T + 99), Some(T + 599));
        assert_eq!(s.locked_until(T + 598), Some(T + 599));
        assert_eq!(s.locked_until(T + 599), None, "the lock lifts at the end of the duration");
        assert_eq!(s.failures_in_window(T + 599, &l), 0, "counting starts over after a lock");
    }

    #[test]
    fn failures_that_fall_out_of_the_window_do_not_count() {
        let l = limits();
        let mut s = UserState::default();
        s.record_failure(T, &l);
        s.record_failure(T + 1, &l);
        // T is out of the window at T + 100, T + 1 still in
        assert!(!s.record_failure(T + 100, &l));
        assert_eq!(s.failures_in_window(T + 100, &l), 2);
        assert!(s.record_failure(T + 100, &l));
    }

    #[test]
    fn lockout_zero_means_never() {
        let mut l = limits();
        l.lockout_failures = 0;
        let mut s = UserState::default();
        for i in 0..100 {
            assert!(!s.record_failure(T + i, &l));
        }
        assert_eq!(s.locked_until(T + 100), None);
    }

    #[test]
    fn a_success_resets_the_count() {
        let l = limits();
        let mut s = UserState::default();
        s.record_failure(T, &l);
        s.record_failure(T, &l);
        s.record_success(None, T + 1, 0);
        assert!(!s.record_failure(T + 2, &l));
        assert!(!s.record_failure(T + 2, &l));
    }

    #[test]
    fn cooldown_between_two_codes() {
        let l = limits();
        let mut s = UserState::default();
        assert_eq!(s.reserve_send(T, &l), SendAllowance::Allowed);
        assert_eq!(s.reserve_send(T + 1, &l), SendAllowance::Cooldown(29));
        assert_eq!(s.reserve_send(T + 29, &l), SendAllowance::Cooldown(1));
        assert_eq!(s.reserve_send(T + 30, &l), SendAllowance::Allowed);
        assert_eq!(s.sends_in_last_hour(T + 30), 2);
    }

    #[test]
    fn hourly_cap_is_a_sliding_window() {
        let l = limits();
        let mut s = UserState::default();
        for i in 0..3 {
            assert_eq!(s.reserve_send(T + i * 30, &l), SendAllowance::Allowed);
        }
        assert_eq!(s.reserve_send(T + 90, &l), SendAllowance::HourlyCap);
        assert_eq!(s.reserve_send(T + 3599, &l), SendAllowance::HourlyCap, "the first send is 3599 s old");
        assert_eq!(s.reserve_send(T + 3600, &l), SendAllowance::Allowed, "the first send left the window");
        assert_eq!(s.reserve_send(T + 3630, &l), SendAllowance::Allowed);
        assert_eq!(s.reserve_send(T + 3660, &l), SendAllowance::Allowed);
        assert_eq!(s.reserve_send(T + 3690, &l), SendAllowance::HourlyCap);
    }

    #[test]
    fn a_refused_send_is_not_recorded() {
        let l = limits();
        let mut s = UserState::default();
        s.reserve_send(T, &l);
        s.reserve_send(T + 1, &l);
        assert_eq!(s.sends, vec![T]);
    }

    #[test]
    fn grace_per_origin_until_it_expires() {
        let mut s = UserState::default();
        s.record_success(Some("192.0.2.1"), T, 600);
        assert!(s.grace_active("192.0.2.1", T + 599));
        assert!(!s.grace_active("192.0.2.1", T + 600));
        assert!(!s.grace_active("192.0.2.2", T + 1));
        s.record_success(Some("192.0.2.1"), T + 10, 0);
        assert!(s.grace_active("192.0.2.1", T + 11), "grace 0 opens nothing new but keeps what is open");
        for i in 0..40 {
            s.record_success(Some(&format!("10.0.0.{i}")), T + 20, 600);
        }
        assert_eq!(s.grace.len(), MAX_GRACE_ORIGINS);
        assert!(s.grace_active("10.0.0.39", T + 21));
        assert!(!s.grace_active("10.0.0.0", T + 21), "the oldest origins are forgotten");
    }

    #[test]
    fn unlock_clears_lock_and_failures() {
        let l = limits();
        let mut s = UserState::default();
        for _ in 0..3 {
            s.record_failure(T, &l);
        }
        assert!(s.locked_until(T).is_some());
        s.unlock();
        assert_eq!(s.locked_until(T), None);
        assert_eq!(s.failures_in_window(T, &l), 0);
    }

    #[test]
    fn the_stored_form_is_strict_json() {
        let s = UserState { failures: vec![1, 2], backup_codes: vec!["$argon2id$x".into()], ..UserState::default() };
        let text = serde_json::to_string(&s).unwrap();
        assert_eq!(serde_json::from_str::<UserState>(&text).unwrap(), s);
        assert!(serde_json::from_str::<UserState>(&text[..text.len() - 3]).is_err(), "truncated");
        assert!(serde_json::from_str::<UserState>(r#"{"version":1}"#).is_err(), "fields missing");
    }

    #[test]
    fn a_success_never_lifts_a_lock() {
        let l = limits();
        let mut s = UserState::default();
        for _ in 0..3 {
            s.record_failure(T, &l);
        }
        assert!(!s.record_success(Some("x"), T + 1, 600), "refused while locked");
        assert_eq!(s.locked_until(T + 1), Some(T + 500));
        assert!(s.grace.is_empty(), "no grace opened");
        assert_eq!(s.reserve_send(T + 1, &l), SendAllowance::Locked);
        assert!(s.record_failure(T + 2, &l), "a failure while locked says locked");
        assert_eq!(s.locked_until(T + 2), Some(T + 500), "and does not extend it");
        assert!(s.record_success(None, T + 500, 0), "after the lock, success as usual");
    }

    #[test]
    fn times_from_the_future_or_the_integer_limits_never_lengthen_anything() {
        let l = limits();
        let mut s = UserState {
            failures: vec![u64::MAX, T + 10_000],
            locked_until: Some(u64::MAX),
            sends: vec![u64::MAX - 1],
            grace: vec![Grace { origin: "o".into(), until: u64::MAX }],
            ..UserState::default()
        };
        s.clamp(T, &l, 600);
        assert_eq!(s.locked_until(T), Some(T + l.lockout_duration), "a lock lasts at most its duration from now");
        assert_eq!(s.failures, vec![T, T]);
        assert_eq!(s.sends, vec![T]);
        assert!(s.grace_active("o", T + 599) && !s.grace_active("o", T + 600));
        assert_eq!(s.reserve_send(T + 1, &l), SendAllowance::Locked);
        // the rules themselves saturate on whatever they are given
        let mut raw = UserState { failures: vec![u64::MAX], sends: vec![u64::MAX], ..UserState::default() };
        let _ = raw.failures_in_window(u64::MAX, &l);
        let _ = raw.sends_in_last_hour(u64::MAX);
        let _ = raw.reserve_send(u64::MAX, &l);
        let _ = raw.record_failure(u64::MAX, &l);
        let _ = raw.record_success(Some("o"), u64::MAX, u64::MAX);
    }

    #[test]
    fn decoding_refuses_newer_versions_and_foreign_hashes() {
        let good = serde_json::to_vec(&UserState::default()).unwrap();
        assert_eq!(decode(&good).unwrap(), UserState::default());
        let newer = br#"{"version":7,"failures":[],"locked_until":null,"sends":[],"grace":[],"backup_codes":[],"new":1}"#;
        assert_eq!(decode(newer), Err(DecodeError::NewerVersion(7)));
        assert_eq!(salvage_backup_codes(newer), None, "a newer file is not touched");
        let huge_m = "$argon2id$v=19$m=4194304,t=1,p=1$c2FsdHNhbHRzYWx0$YWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWE";
        let text = format!(r#"{{"version":1,"failures":[],"locked_until":null,"sends":[],"grace":[],"backup_codes":["{huge_m}"]}}"#);
        assert!(matches!(decode(text.as_bytes()), Err(DecodeError::Malformed(why)) if why.contains("not the module's own")));
        for bad in [&b""[..], b"{", b"[]", b"null", br#"{"version":"1"}"#, br#"{"version":1}"#, br#"{"version":-1}"#] {
            assert!(matches!(decode(bad), Err(DecodeError::Malformed(_))), "{}", String::from_utf8_lossy(bad));
        }
    }
}
