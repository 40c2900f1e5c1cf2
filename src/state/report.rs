//! What `smsotp report` gathers from the state store: per user, the lock, the
//! sends of the last hour and the backup codes left; per connector, the SMS of
//! the last hour and day. The command formats it; delivery failures join when
//! delivery reports are recorded (`Report::delivery_failures`).

use std::collections::BTreeMap;
use std::path::Path;

use super::sent::{self, SentCounts};
use super::{FileStore, UserState, decode};
use crate::auth::StoreError;

/// One user's figures at the time of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserFigures {
    /// The account name (or the state file's stem, for a name that was hashed).
    pub user: String,
    pub locked_for: Option<u64>,
    pub failures_in_window: u64,
    pub sends_in_last_hour: u64,
    pub backup_codes: u64,
    /// The user was issued backup codes at some time (Redis knows; files do not).
    pub codes_issued: Option<bool>,
}

/// Everything a report says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub users: Vec<UserFigures>,
    /// None: the backend does not count per connector (yet).
    pub sent: Option<BTreeMap<String, SentCounts>>,
    /// State that could not be read: (what, why).
    pub unreadable: Vec<(String, String)>,
    /// Delivery failures per connector in the last day, once delivery reports
    /// are recorded (issue 14): None until then.
    pub delivery_failures: Option<BTreeMap<String, u64>>,
}

/// The user name a `u-` stem stands for; None for a hashed (`h-`) stem.
pub fn user_of_stem(stem: &str) -> Option<String> {
    let escaped = stem.strip_prefix("u-")?;
    let bytes = escaped.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = escaped.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The file backend's report: every user file under `[state] dir`, read under
/// its lock, and the per-connector ledger.
pub fn file_report(store: &FileStore, dir: &Path, now: u64, lockout_window: u64) -> Result<Report, StoreError> {
    let mut report = Report::default();
    let entries = std::fs::read_dir(dir).map_err(|e| StoreError::Io(format!("{}: {e}", dir.display())))?;
    let mut stems: Vec<String> = entries
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.strip_suffix(".json")).map(str::to_string))
        // a user's stem has no '.' (escaped): u-alice.numbers.json is not a state file
        .filter(|s| (s.starts_with("u-") || s.starts_with("h-")) && !s.contains('.'))
        .collect();
    stems.sort();
    for stem in stems {
        let state: Result<UserState, String> = match user_of_stem(&stem) {
            Some(user) => store.read(&user, now).map_err(|e| e.to_string()),
            // a hashed name: read the file as it is
            None => std::fs::read(dir.join(format!("{stem}.json")))
                .map_err(|e| e.to_string())
                .and_then(|b| decode(&b).map_err(|e| format!("{e:?}"))),
        };
        match state {
            Ok(s) => report.users.push(UserFigures {
                user: user_of_stem(&stem).unwrap_or(stem),
                locked_for: s.locked_until(now).map(|t| t - now),
                failures_in_window: s.failures.iter().filter(|&&t| t.saturating_add(lockout_window) > now).count() as u64,
                sends_in_last_hour: s.sends_in_last_hour(now) as u64,
                backup_codes: s.backup_codes.len() as u64,
                codes_issued: None,
            }),
            Err(why) => report.unreadable.push((stem, why)),
        }
    }
    match sent::read_counts(dir, now) {
        Ok((counts, bad)) => {
            report.sent = Some(counts);
            if bad > 0 {
                report.unreadable.push(("sent.counts".into(), format!("{bad} lines that are not `connector<TAB>time`")));
            }
        }
        Err(e) => report.unreadable.push(("sent.counts".into(), e.to_string())),
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stems_map_back_to_names() {
        for name in ["alice", "j.doe@example.org", "ünïcode", "a b%c"] {
            assert_eq!(user_of_stem(&super::super::file_stem(name)).as_deref(), Some(name));
        }
        assert_eq!(user_of_stem("h-0123abcd"), None);
        assert_eq!(user_of_stem("u-bad%zz"), None);
        assert_eq!(user_of_stem("u-cut%4"), None);
    }
}
