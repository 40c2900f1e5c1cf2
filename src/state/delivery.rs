//! `DeliveryLog` over the file backend: the reports and connector records
//! `smsotp-dlrd` writes in `[delivery] reports_dir`, read without following
//! symlinks and bounded in size (the directory belongs to the daemon's user).

use std::path::PathBuf;

use crate::auth::DeliveryLog;
use crate::config::Config;
use crate::dlr::MessageId;
use crate::dlr::health::read_health;
use crate::dlr::record::{DeliveryState, read_report};

pub struct FileDeliveryLog {
    dir: PathBuf,
}

impl FileDeliveryLog {
    /// None while reports are off.
    pub fn from_config(config: &Config) -> Option<FileDeliveryLog> {
        config.delivery.enabled().then(|| FileDeliveryLog { dir: config.delivery.reports_dir.clone() })
    }
}

impl DeliveryLog for FileDeliveryLog {
    fn report(&self, id: &str) -> Option<(DeliveryState, String)> {
        let id = MessageId::parse(id)?;
        read_report(&self.dir, &id).ok().flatten().map(|r| (r.state, r.reason))
    }

    fn demoted(&self, name: &str, now: u64) -> bool {
        read_health(&self.dir, name).is_ok_and(|h| h.is_demoted(now))
    }
}
