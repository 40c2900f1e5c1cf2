//! How many SMS each connector took, for `smsotp report`: per connector, counts
//! in 5-minute buckets over the last 24 hours, in `[state] dir`/sent.counts (file
//! backend): lines `connector<TAB>bucket start<TAB>count` (a plain format of
//! our own keeps a JSON decoder for this shape out of the module). Small by construction: at most 288 buckets per connector, and
//! connectors that sent nothing for a day drop out.
//!
//! Recording is best effort: a login never fails because its SMS could not be
//! counted (the caller logs why).

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::StateDir;
use crate::auth::StoreError;

pub const BUCKET: u64 = 300;
pub const KEPT: u64 = 86_400;
/// Longest connector name kept (names come from the config).
const MAX_NAME: usize = 64;
/// Most connectors kept; a config has a handful.
const MAX_CONNECTORS: usize = 64;

/// connector -> (bucket start, Unix seconds) -> SMS taken.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
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
    dir.join("sent.counts")
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
    let text = ledger.encode();
    let path = ledger_path(dir);
    // one name, under the lock: a writer killed midway leaves a file the next one replaces
    let temp = dir.join("sent.counts.tmp");
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

impl SentLedger {
    /// The file's text: one line per connector and bucket.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = String::new();
        for (name, buckets) in &self.connectors {
            for (start, n) in buckets {
                out.push_str(&format!("{name}\t{start}\t{n}\n"));
            }
        }
        out.into_bytes()
    }
}

/// sent.counts's bytes. A line that cannot be read is an error: the caller
/// starts afresh (the counts only feed a report).
pub fn decode_ledger(bytes: &[u8]) -> Result<SentLedger, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "not UTF-8".to_string())?;
    let mut ledger = SentLedger::default();
    for (i, line) in text.lines().enumerate() {
        let mut fields = line.rsplitn(3, '\t');
        let (Some(n), Some(start), Some(name)) = (fields.next(), fields.next(), fields.next()) else {
            return Err(format!("line {}: not `connector<TAB>start<TAB>count`", i + 1));
        };
        let (Ok(start), Ok(n)) = (start.parse::<u64>(), n.parse::<u64>()) else {
            return Err(format!("line {}: not numbers", i + 1));
        };
        if name.is_empty() || name.chars().any(char::is_control) || name.chars().count() > MAX_NAME {
            return Err(format!("line {}: not a connector name", i + 1));
        }
        if !ledger.connectors.contains_key(name) && ledger.connectors.len() >= MAX_CONNECTORS {
            return Err(format!("line {}: too many connectors", i + 1));
        }
        let buckets = ledger.connectors.entry(name.to_string()).or_default();
        if buckets.len() > (KEPT / BUCKET) as usize {
            return Err(format!("line {}: too many buckets", i + 1));
        }
        let slot = buckets.entry(start).or_default();
        *slot = slot.saturating_add(n);
    }
    Ok(ledger)
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
    fn the_file_format_round_trips_and_refuses_garbage() {
        let mut l = SentLedger::default();
        l.record("spool", 1_000_000);
        l.record("a name with spaces", 1_000_000);
        l.record("a name with spaces", 1_000_400);
        assert_eq!(decode_ledger(&l.encode()).unwrap(), l);
        assert_eq!(decode_ledger(b"").unwrap(), SentLedger::default());
        for bad in [&b"spool\t1\n"[..], b"spool\tx\t1\n", b"\t5\t1\n", b"\xff\t1\t1\n", b"sp\x01ool\t1\t1\n"] {
            assert!(decode_ledger(bad).is_err(), "{bad:?}");
        }
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
