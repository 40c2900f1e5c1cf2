//! `smsotp report` on the Redis backend: every user with keys under
//! `key_prefix` (found with SCAN), each read with the status script.

use super::resp::{self, Value};

use super::conn::ConnError;
use super::{RedisStore, scripts};
use crate::auth::StoreError;
use crate::state::report::{Report, UserFigures, user_of_stem};
use crate::state::sent::SentCounts;

/// Most users a report reads; beyond, it says so.
const MAX_USERS: usize = 100_000;

impl RedisStore {
    pub fn report(&mut self) -> Result<Report, StoreError> {
        let mut report = Report::default();
        let all = self.stems()?;
        let mut sent = std::collections::BTreeMap::new();
        for stem in all.iter().filter(|s| s.starts_with("c-")) {
            let key = self.stem_key(stem, "sent");
            let reply = self.eval(scripts::SENT_COUNTS, &[key], &[String::new()])?;
            match reply.integers().as_deref() {
                Some(&[h, d]) if h >= 0 && d >= 0 => {
                    let name = user_of_stem(&format!("u-{}", &stem[2..])).unwrap_or_else(|| stem.clone());
                    sent.insert(name, SentCounts { last_hour: h as u64, last_day: d as u64 });
                }
                _ => report.unreadable.push((stem.clone(), format!("unexpected counts {reply:?}"))),
            }
        }
        report.sent = Some(sent);
        let stems: Vec<String> = all.into_iter().filter(|s| s.starts_with("u-") || s.starts_with("h-")).collect();
        for stem in stems {
            let keys = ["lock", "fail", "sends", "backup"].map(|k| self.stem_key(&stem, k));
            let args = [self.ms(self.limits.lockout_window), self.ms(self.limits.lockout_duration), String::new()];
            let reply = self.eval(scripts::STATUS, &keys, &args)?;
            let issued = matches!(self.simple(resp::cmd("EXISTS").arg(self.stem_key(&stem, "codes-issued")))?, Value::Int(1));
            match reply.integers().as_deref() {
                Some(&[f, l, s, b]) if f >= 0 && l >= 0 && s >= 0 && b >= 0 => report.users.push(UserFigures {
                    user: user_of_stem(&stem).unwrap_or(stem),
                    locked_for: (l > 0).then(|| (l as u64).div_ceil(1000)),
                    failures_in_window: f as u64,
                    sends_in_last_hour: s as u64,
                    backup_codes: b as u64,
                    codes_issued: Some(issued),
                }),
                _ => report.unreadable.push((stem, format!("unexpected status {reply:?}"))),
            }
        }
        Ok(report)
    }

    /// The stems (`u-alice`, `c-spool`) of every key under the prefix.
    fn stems(&mut self) -> Result<Vec<String>, StoreError> {
        let prefix = self.config.key_prefix.clone();
        let pattern = format!("{}{{*}}:*", glob_escape(&prefix));
        let mut stems = std::collections::BTreeSet::new();
        let mut cursor = "0".to_string();
        loop {
            let reply = self.simple(resp::cmd("SCAN").arg(&cursor).arg("MATCH").arg(&pattern).arg("COUNT").arg(1000))?;
            let Some((next, keys)) = scan_reply(&reply) else {
                return Err(self.fail(ConnError::Protocol("redis".into(), format!("unexpected SCAN answer {reply:?}"))));
            };
            for key in keys {
                let stem = key.strip_prefix(&prefix).and_then(|k| k.strip_prefix('{')).and_then(|k| k.split_once("}:")).map(|(s, _)| s);
                if let Some(s) = stem {
                    stems.insert(s.to_string());
                }
            }
            if next == "0" || stems.len() >= MAX_USERS {
                break;
            }
            cursor = next;
        }
        Ok(stems.into_iter().collect())
    }
}

/// SCAN's answer: the next cursor and the keys (a key that is not text is skipped).
fn scan_reply(reply: &Value) -> Option<(String, Vec<String>)> {
    let Value::Array(parts) = reply else { return None };
    let [Value::BulkString(cursor), Value::Array(keys)] = &parts[..] else { return None };
    let keys = keys
        .iter()
        .filter_map(|k| match k {
            Value::BulkString(b) => String::from_utf8(b.clone()).ok(),
            _ => None,
        })
        .collect();
    Some((String::from_utf8(cursor.clone()).ok()?, keys))
}

/// `prefix` matched literally by a SCAN pattern.
fn glob_escape(prefix: &str) -> String {
    let mut out = String::new();
    for c in prefix.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
