//! The state decoder on any bytes, and the lockout, send-limit and grace rules
//! over whatever it accepts, at times from 0 to u64::MAX.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pam_smsotp::config::LimitsConfig;
use pam_smsotp::fuzzing::{decode, salvage_backup_codes};

fuzz_target!(|bytes: &[u8]| {
    let salvaged = salvage_backup_codes(bytes);
    let Ok(state) = decode(bytes) else { return };
    assert_eq!(salvaged.as_ref(), Some(&state.backup_codes), "a decodable state keeps all its backup codes");
    let encoded = serde_json::to_vec(&state).expect("a state encodes");
    assert_eq!(decode(&encoded).as_ref(), Ok(&state), "a state survives a round trip");

    let limits = LimitsConfig::default();
    for now in [0, 1, 1_700_000_000, u64::MAX - 1, u64::MAX] {
        let mut s = state.clone();
        s.clamp(now, &limits, 600);
        assert!(s.failures.iter().chain(&s.sends).all(|&t| t <= now));
        assert!(s.locked_until.is_none_or(|t| t <= now.saturating_add(limits.lockout_duration)));
        assert!(s.grace.iter().all(|g| g.until <= now.saturating_add(600)));
        let _ = (s.failures_in_window(now, &limits), s.sends_in_last_hour(now), s.grace_active("ssh", now));
        let locked = s.locked_until(now).is_some();
        let _ = s.reserve_send(now, &limits);
        let locked_now = s.record_failure(now, &limits);
        assert!(!locked || locked_now, "a failure never lifts a lock");
        if s.record_success(Some("ssh"), now, 600) {
            assert!(s.locked_until(now).is_none());
        } else {
            assert!(s.locked_until(now).is_some(), "only a lock refuses a success");
        }
    }
});
