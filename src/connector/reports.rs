//! The chain's side of delivery reports: a token and URL for each message a
//! connector can ask a report for, and the sent record the receiver needs.

use std::cell::RefCell;
use std::time::{SystemTime, UNIX_EPOCH};

use super::Named;
use crate::auth::Sms;
use crate::config::Config;
use crate::dlr::record::Sent;
use crate::dlr::store::ReportStore;
use crate::dlr::{ReportRequest, Reporting};
use crate::log::Log;

/// Connector types whose provider cannot be asked for a report.
const NO_REPORTS: &[&str] = &["command", "spool"];

pub struct Reports {
    reporting: Reporting,
    store: RefCell<Box<dyn ReportStore + Send>>,
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

impl Reports {
    pub fn from_config(config: &Config) -> Option<Reports> {
        let reporting = Reporting::from_config(config)?;
        Some(Reports { reporting, store: RefCell::new(crate::state::delivery::report_store(config)) })
    }

    /// A report URL for a message through `named`, if it can carry one.
    pub fn request(&self, named: &Named, log: &dyn Log) -> Option<ReportRequest> {
        if NO_REPORTS.contains(&named.kind) {
            return None;
        }
        match self.reporting.request(&named.name, now()) {
            Ok(r) => Some(r),
            Err(e) => {
                log.warn(&format!("connector {}: no delivery report asked: {e}", named.name));
                None
            }
        }
    }

    /// Tell the receiver what the message is, before it goes; false (no report
    /// is asked then) when that cannot be written: it costs the report, not the login.
    pub fn record_sent(&self, named: &Named, report: &ReportRequest, sms: &Sms<'_>, log: &dyn Log) -> bool {
        let sent_at = now();
        let sent = Sent {
            id: report.id.as_text(),
            user: sms.user.to_string(),
            seq: sms.seq.to_string(),
            connector: named.name.clone(),
            kind: named.kind.to_string(),
            to: sms.to.masked(),
            sent: sent_at,
            expires: sent_at.saturating_add(self.reporting.token_ttl()),
        };
        match self.store.borrow_mut().put_sent(&sent) {
            Ok(()) => true,
            Err(e) => {
                log.warn(&format!("connector {}: no delivery report asked: {e}", named.name));
                false
            }
        }
    }

    /// The message did not go: its record goes too (best effort).
    pub fn forget_sent(&self, report: &ReportRequest) {
        let _ = self.store.borrow_mut().forget_sent(&report.id);
    }
}
