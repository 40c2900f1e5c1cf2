//! The delivery records of the configured backend, and `DeliveryLog` over them:
//! files in `[delivery] reports_dir` (read without following symlinks, bounded;
//! the directory belongs to the daemon's user), or Redis for a fleet.

use std::cell::RefCell;

use crate::auth::DeliveryLog;
use crate::config::{Config, StateBackend};
use crate::dlr::MessageId;
use crate::dlr::record::DeliveryState;
use crate::dlr::store::{FileReports, ReportStore};
use crate::state::redis::delivery::RedisReports;

/// Where this configuration keeps delivery records.
pub fn report_store(config: &Config) -> Box<dyn ReportStore + Send> {
    match config.state.backend {
        StateBackend::File => Box::new(FileReports { dir: config.delivery.reports_dir.clone() }),
        StateBackend::Redis => Box::new(RedisReports::new(config)),
    }
}

pub struct StoredDeliveryLog {
    store: RefCell<Box<dyn ReportStore + Send>>,
}

impl StoredDeliveryLog {
    /// None while reports are off.
    pub fn from_config(config: &Config) -> Option<StoredDeliveryLog> {
        config.delivery.enabled().then(|| StoredDeliveryLog { store: RefCell::new(report_store(config)) })
    }
}

impl DeliveryLog for StoredDeliveryLog {
    fn report(&self, id: &str) -> Option<(DeliveryState, String)> {
        let id = MessageId::parse(id)?;
        self.store.borrow_mut().report(&id).ok().flatten().map(|r| (r.state, r.reason))
    }

    fn demoted(&self, name: &str, now: u64) -> bool {
        self.store.borrow_mut().health(name).is_ok_and(|h| h.is_demoted(now))
    }
}
