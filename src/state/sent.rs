//! How many SMS each connector took, for `smsotp report` (file backend): the
//! module appends one line `connector<TAB>unix time` per SMS to
//! `[state] dir`/sent.counts; past ROTATE_AT bytes the file becomes
//! sent.counts.old (the one before it is dropped), so the two together stay
//! small and hold at least the last day at any sane rate. `smsotp report`
//! reads both.
//!
//! An append is one write(2) of a short line (atomic with O_APPEND), with no
//! lock, no fsync and no rename in the common case: counting stays off the
//! login's critical path, and a count lost to a crash or to two hosts rotating
//! at once only makes the report a little low. Recording is best effort: the
//! flow logs a failure and the login goes on.

use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use super::StateDir;
use crate::auth::StoreError;

/// Size at which sent.counts is rotated (about 20 000 SMS).
pub const ROTATE_AT: u64 = 512 * 1024;
pub const DAY: u64 = 86_400;
/// Longest connector name written (names come from the config).
const MAX_NAME: usize = 64;

const CURRENT: &str = "sent.counts";
const OLD: &str = "sent.counts.old";

/// SMS one connector took in the last hour and the last 24 hours.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SentCounts {
    pub last_hour: u64,
    pub last_day: u64,
}

/// Count one SMS taken by `connector` at `now`.
pub fn record(dir: &Path, connector: &str, now: u64) -> Result<(), StoreError> {
    StateDir::open(dir)?;
    let path = dir.join(CURRENT);
    let io = |e: std::io::Error| StoreError::Io(format!("{}: {e}", path.display()));
    if fs::symlink_metadata(&path).is_ok_and(|m| m.len() >= ROTATE_AT) {
        fs::rename(&path, dir.join(OLD)).map_err(io)?;
    }
    let name: String = connector.chars().filter(|c| !c.is_control()).take(MAX_NAME).collect();
    let mut file = OpenOptions::new().create(true).append(true).mode(0o600).custom_flags(libc::O_NOFOLLOW).open(&path).map_err(io)?;
    file.write_all(format!("{name}\t{now}\n").as_bytes()).map_err(io)
}

/// Counts per connector at `now` from the lines of sent.counts.old and
/// sent.counts; lines that cannot be read are skipped and counted.
pub fn read_counts(dir: &Path, now: u64) -> Result<(BTreeMap<String, SentCounts>, usize), StoreError> {
    let mut counts = BTreeMap::new();
    let mut bad = 0;
    for name in [OLD, CURRENT] {
        let path = dir.join(name);
        match fs::read(&path) {
            Ok(bytes) => bad += count_lines(&bytes, now, &mut counts),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(StoreError::Io(format!("{}: {e}", path.display()))),
        }
    }
    Ok((counts, bad))
}

/// Add the SMS of `bytes` (lines `connector<TAB>time`) to `counts`; returns the
/// number of lines that could not be read.
pub fn count_lines(bytes: &[u8], now: u64, counts: &mut BTreeMap<String, SentCounts>) -> usize {
    let mut bad = 0;
    for line in bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        let parsed =
            std::str::from_utf8(line).ok().and_then(|l| l.rsplit_once('\t')).and_then(|(name, t)| Some((name, t.parse::<u64>().ok()?)));
        let Some((name, time)) = parsed.filter(|(n, _)| !n.is_empty() && !n.chars().any(char::is_control)) else {
            bad += 1;
            continue;
        };
        // a time from the future (a clock stepped back) counts as now
        let age = now.saturating_sub(time);
        if age >= DAY {
            continue;
        }
        if !counts.contains_key(name) && counts.len() >= 1000 {
            bad += 1;
            continue;
        }
        let c: &mut SentCounts = counts.entry(name.to_string()).or_default();
        c.last_day = c.last_day.saturating_add(1);
        if age < 3600 {
            c.last_hour = c.last_hour.saturating_add(1);
        }
    }
    bad
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_connector_over_the_hour_and_the_day() {
        let now = 1_700_000_000;
        let lines = format!(
            "twilio\t{}\ntwilio\t{}\ntwilio\t{now}\nspool\t{}\nspool\t{}\nfuture\t{}\n",
            now - 2 * 3600,
            now - 60,
            now - 23 * 3600,
            now - 25 * 3600,
            now + 50
        );
        let mut c = BTreeMap::new();
        assert_eq!(count_lines(lines.as_bytes(), now, &mut c), 0);
        assert_eq!(c["twilio"], SentCounts { last_hour: 2, last_day: 3 });
        assert_eq!(c["spool"], SentCounts { last_hour: 0, last_day: 1 });
        assert_eq!(c["future"], SentCounts { last_hour: 1, last_day: 1 });
    }

    #[test]
    fn garbage_lines_are_skipped_and_counted() {
        let mut c = BTreeMap::new();
        let bad = count_lines(b"spool\nspool\tx\n\t5\n\xff\t1\nsp\x01ool\t1\nok\t1700000000\n", 1_700_000_000, &mut c);
        assert_eq!(bad, 5);
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn appends_then_rotates_and_reads_both_files() {
        let Ok(t) = tempfile::tempdir() else { return };
        if !nix::unistd::geteuid().is_root() {
            return; // the state directory must be root's
        }
        let dir = t.path().join("state");
        let now = 1_700_000_000;
        record(&dir, "spool\nforged\t1", now).unwrap();
        record(&dir, "spool", now).unwrap();
        let text = fs::read_to_string(dir.join(CURRENT)).unwrap();
        assert_eq!(text, format!("spoolforged1\t{now}\nspool\t{now}\n"), "names lose control characters");
        // past the size, the file moves to .old and counting goes on in a new one
        fs::write(dir.join(CURRENT), "x".repeat(ROTATE_AT as usize)).unwrap();
        record(&dir, "kannel", now).unwrap();
        assert_eq!(fs::read_to_string(dir.join(CURRENT)).unwrap(), format!("kannel\t{now}\n"));
        let (counts, bad) = read_counts(&dir, now).unwrap();
        assert_eq!((counts.len(), bad), (1, 1), "{counts:?}");
    }
}
