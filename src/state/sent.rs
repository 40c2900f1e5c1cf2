//! How many SMS each connector took, for `smsotp report`: per connector, counts
//! in 5-minute buckets over the last 24 hours, in `[state] dir`/sent.json (file
//! backend). Small by construction: at most 288 buckets per connector, and
//! connectors that sent nothing for a day drop out.
//!
//! Recording is best effort: a login never fails because its SMS could not be
//! counted (the caller logs why).

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::StateDir;
use crate::auth::StoreError;

pub const BUCKET: u64 = 300;
pub const KEPT: u64 = 86_400;
/// Longest connector name kept (names come from the config).
const MAX_NAME: usize = 64;
/// Most connectors kept; a config has a handful.
const MAX_CONNECTORS: usize = 64;

/// connector -> (bucket start, Unix seconds) -> SMS taken.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SentLedger {
    pub connectors: BTreeMap<String, BTreeMap<u64, u64>>,
}

/// SMS one connector took in the last hour and the last 24 hours.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SentCounts {
    pub last_hour: u64,
    pub last_day: u64,
}

impl SentLedger {
    pub fn record(&mut self, connector: &str, now: u64) {
        let name: String = connector.chars().filter(|c| !c.is_control()).take(MAX_NAME).collect();
        self.forget_before(now);
        if !self.connectors.contains_key(&name) && self.connectors.len() >= MAX_CONNECTORS {
            return;
        }
        let buckets = self.connectors.entry(name).or_default();
        let n = buckets.entry(now - now % BUCKET).or_default();
        *n = n.saturating_add(1);
        // buckets from a clock that stepped back and forth: never more than a day's worth
        while buckets.len() > (KEPT / BUCKET) as usize + 1 {
            buckets.pop_first();
        }
    }

    fn forget_before(&mut self, now: u64) {
        let oldest = now.saturating_sub(KEPT);
        for buckets in self.connectors.values_mut() {
            buckets.retain(|start, _| start.saturating_add(BUCKET) > oldest);
        }
        self.connectors.retain(|_, b| !b.is_empty());
    }

    /// Counts per connector at `now`; the last hour is counted in whole buckets
    /// (so it may reach up to 5 minutes further back).
    pub fn counts(&self, now: u64) -> BTreeMap<String, SentCounts> {
        let hour = now.saturating_sub(3600);
        let day = now.saturating_sub(KEPT);
        self.connectors
            .iter()
            .map(|(name, buckets)| {
                let mut c = SentCounts::default();
                for (start, n) in buckets.iter().filter(|(s, _)| **s <= now) {
                    if start.saturating_add(BUCKET) > day {
                        c.last_day = c.last_day.saturating_add(*n);
                    }
                    if start.saturating_add(BUCKET) > hour {
                        c.last_hour = c.last_hour.saturating_add(*n);
                    }
                }
                (name.clone(), c)
            })
            .collect()
    }
}

fn ledger_path(dir: &Path) -> PathBuf {
    dir.join("sent.json")
}

fn io(what: &Path, e: std::io::Error) -> StoreError {
    StoreError::Io(format!("{}: {e}", what.display()))
}

/// Count one SMS taken by `connector` at `now`, under the ledger's own lock.
pub fn record(dir: &Path, connector: &str, now: u64) -> Result<(), StoreError> {
    StateDir::open(dir)?;
    let lock_path = dir.join("sent.lock");
    let lock = OpenOptions::new().create(true).truncate(false).write(true).mode(0o600).open(&lock_path).map_err(|e| io(&lock_path, e))?;
    lock.lock().map_err(|e| io(&lock_path, e))?;
    // a ledger that cannot be read starts afresh: it only feeds a report
    let mut ledger = read_ledger(dir).unwrap_or_default();
    ledger.record(connector, now);
    let text = serde_json::to_vec(&ledger).map_err(|e| StoreError::Io(e.to_string()))?;
    let path = ledger_path(dir);
    // one name, under the lock: a writer killed midway leaves a file the next one replaces
    let temp = dir.join("sent.json.tmp");
    let written = (|| {
        let mut f = OpenOptions::new().create(true).truncate(true).write(true).mode(0o600).open(&temp)?;
        f.write_all(&text)?;
        f.sync_all()?;
        fs::rename(&temp, &path)?;
        File::open(dir)?.sync_all()
    })();
    if written.is_err() {
        let _ = fs::remove_file(&temp);
    }
    written.map_err(|e| io(&path, e))
}

/// sent.json's bytes.
pub fn decode_ledger(bytes: &[u8]) -> Result<SentLedger, serde_json::Error> {
    serde_json::from_slice(bytes)
}

/// The ledger as stored; empty when there is none yet.
pub fn read_ledger(dir: &Path) -> Result<SentLedger, StoreError> {
    let path = ledger_path(dir);
    match fs::read(&path) {
        Ok(bytes) if bytes.len() <= 1 << 20 => decode_ledger(&bytes).map_err(|e| StoreError::Corrupt(format!("{}: {e}", path.display()))),
        Ok(_) => Err(StoreError::Corrupt(format!("{}: too large", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(SentLedger::default()),
        Err(e) => Err(io(&path, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_connector_over_the_hour_and_the_day() {
        let now = 1_700_000_000 - 1_700_000_000 % BUCKET + 120;
        let mut l = SentLedger::default();
        l.record("twilio", now - 2 * 3600);
        l.record("twilio", now - 60);
        l.record("twilio", now);
        l.record("spool", now - 23 * 3600);
        l.record("spool", now - 25 * 3600);
        let c = l.counts(now);
        assert_eq!(c["twilio"], SentCounts { last_hour: 2, last_day: 3 });
        assert_eq!(c["spool"], SentCounts { last_hour: 0, last_day: 1 });
        // a day later the old buckets are gone when the next SMS is counted
        l.record("kannel", now + KEPT + BUCKET);
        assert_eq!(l.connectors.keys().collect::<Vec<_>>(), ["kannel"]);
        assert!(l.connectors.values().all(|b| b.len() <= (KEPT / BUCKET) as usize + 1));
    }

    #[test]
    fn hostile_names_and_many_connectors_stay_small() {
        let mut l = SentLedger::default();
        for i in 0..200 {
            l.record(&format!("c{i}\n{}", "x".repeat(500)), 1_000_000);
        }
        assert_eq!(l.connectors.len(), MAX_CONNECTORS);
        assert!(l.connectors.keys().all(|k| k.chars().count() <= MAX_NAME && !k.contains('\n')));
    }
}
