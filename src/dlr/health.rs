//! Demotion: a connector whose last `demote_after` final reports all said
//! failed is tried last for `demote_for` seconds. The daemon keeps one small
//! record per connector (`<reports_dir>/<name>.connector`); the module reads it
//! when it orders its connectors.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::record::{DeliveryState, RecordError, read_bounded, write_atomic};

pub const HEALTH_SUFFIX: &str = ".connector";

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// Final reports in a row that said failed.
    pub consecutive_failed: u32,
    /// Unix seconds until which the connector is tried last (0: not demoted).
    pub demoted_until: u64,
}

impl Health {
    /// After a final report at `now`: the new record, and whether this report
    /// demoted the connector (for the log).
    pub fn after(self, state: DeliveryState, now: u64, demote_after: u32, demote_for: u64) -> (Health, bool) {
        match state {
            DeliveryState::Delivered => (Health { consecutive_failed: 0, ..self }, false),
            DeliveryState::Failed => {
                let failed = self.consecutive_failed.saturating_add(1);
                if demote_after > 0 && failed >= demote_after && !self.is_demoted(now) {
                    (Health { consecutive_failed: 0, demoted_until: now.saturating_add(demote_for) }, true)
                } else {
                    (Health { consecutive_failed: failed, ..self }, false)
                }
            }
            DeliveryState::Pending | DeliveryState::Unknown => (self, false),
        }
    }

    pub fn is_demoted(&self, now: u64) -> bool {
        now < self.demoted_until
    }
}

fn file_name(connector: &str) -> String {
    format!("{}{HEALTH_SUFFIX}", crate::config::delivery::path_segment(connector))
}

pub fn read_health(dir: &Path, connector: &str) -> Result<Health, RecordError> {
    match read_bounded(dir, &file_name(connector))? {
        None => Ok(Health::default()),
        Some(bytes) => {
            serde_json::from_slice(&bytes).map_err(|_| RecordError::Corrupt(format!("{}/{}", dir.display(), file_name(connector))))
        }
    }
}

pub fn write_health(dir: &Path, connector: &str, health: &Health) -> Result<(), RecordError> {
    let mut bytes = serde_json::to_vec(health).unwrap_or_default();
    bytes.push(b'\n');
    write_atomic(dir, &file_name(connector), &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The clock is the `now` passed in: a fake one, stepped by hand.
    #[test]
    fn three_failures_in_a_row_demote_for_demote_for_seconds_then_it_ends() {
        let mut h = Health::default();
        let mut clock = 1_000u64;
        let mut demoted_now = false;
        for state in [DeliveryState::Failed, DeliveryState::Failed, DeliveryState::Delivered, DeliveryState::Failed, DeliveryState::Failed]
        {
            (h, demoted_now) = h.after(state, clock, 3, 600);
            clock += 1;
        }
        assert!(!demoted_now && !h.is_demoted(clock), "a delivery in between resets the count: {h:?}");
        (h, demoted_now) = h.after(DeliveryState::Pending, clock, 3, 600);
        assert!(!demoted_now && h.consecutive_failed == 2, "an intermediate report changes nothing");
        (h, demoted_now) = h.after(DeliveryState::Failed, clock, 3, 600);
        assert!(demoted_now && h.is_demoted(clock));
        assert!(h.is_demoted(clock + 599));
        assert!(!h.is_demoted(clock + 600), "the demotion ends after demote_for");
        // failures while demoted do not extend it or log again
        let (again, logged) = h.after(DeliveryState::Failed, clock + 10, 3, 600);
        assert!(!logged && again.demoted_until == h.demoted_until);
        // demote_after = 0: never
        let (never, logged) = Health { consecutive_failed: 99, demoted_until: 0 }.after(DeliveryState::Failed, clock, 0, 600);
        assert!(!logged && !never.is_demoted(clock));
    }

    #[test]
    fn records_round_trip_and_a_missing_one_is_healthy() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read_health(dir.path(), "gw one").unwrap(), Health::default());
        let h = Health { consecutive_failed: 2, demoted_until: 77 };
        write_health(dir.path(), "gw one", &h).unwrap();
        assert_eq!(read_health(dir.path(), "gw one").unwrap(), h);
        assert!(dir.path().join("gw%20one.connector").exists());
    }
}
