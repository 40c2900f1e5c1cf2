//! Where sent records, reports and connector records live: files in
//! `[delivery] reports_dir` (`FileReports`), or Redis under `[state.redis]
//! key_prefix` for a fleet (`state::redis::RedisReports`).

use std::path::PathBuf;

use super::MessageId;
use super::health::{Health, read_health, write_health};
use super::record::{self, Report, SENT_SUFFIX, Sent};

#[derive(Debug, Clone, thiserror::Error)]
#[error("delivery records: {0}")]
pub struct ReportStoreError(pub String);

pub trait ReportStore {
    /// Record a message about to go with a report asked for (the module).
    fn put_sent(&mut self, sent: &Sent) -> Result<(), ReportStoreError>;
    /// The message did not go.
    fn forget_sent(&mut self, id: &MessageId) -> Result<(), ReportStoreError>;
    fn sent(&mut self, id: &MessageId) -> Result<Option<Sent>, ReportStoreError>;
    fn report(&mut self, id: &MessageId) -> Result<Option<Report>, ReportStoreError>;
    /// Record a report (the daemon; it decides whether one may be replaced).
    fn put_report(&mut self, report: &Report) -> Result<(), ReportStoreError>;
    fn health(&mut self, connector: &str) -> Result<Health, ReportStoreError>;
    fn put_health(&mut self, connector: &str, health: &Health) -> Result<(), ReportStoreError>;
    /// Messages sent at or after `since` (Unix seconds), with their reports, newest first.
    fn list(&mut self, since: u64) -> Result<Vec<(Sent, Option<Report>)>, ReportStoreError>;
}

fn err(e: impl std::fmt::Display) -> ReportStoreError {
    ReportStoreError(e.to_string())
}

pub struct FileReports {
    pub dir: PathBuf,
}

impl ReportStore for FileReports {
    fn put_sent(&mut self, sent: &Sent) -> Result<(), ReportStoreError> {
        record::write_sent(&self.dir, sent).map_err(err)
    }
    fn forget_sent(&mut self, id: &MessageId) -> Result<(), ReportStoreError> {
        record::remove(&self.dir, &format!("{}{SENT_SUFFIX}", id.as_text())).map_err(err)
    }
    fn sent(&mut self, id: &MessageId) -> Result<Option<Sent>, ReportStoreError> {
        record::read_sent(&self.dir, id).map_err(err)
    }
    fn report(&mut self, id: &MessageId) -> Result<Option<Report>, ReportStoreError> {
        record::read_report(&self.dir, id).map_err(err)
    }
    fn put_report(&mut self, report: &Report) -> Result<(), ReportStoreError> {
        record::write_report(&self.dir, report).map_err(err)
    }
    fn health(&mut self, connector: &str) -> Result<Health, ReportStoreError> {
        read_health(&self.dir, connector).map_err(err)
    }
    fn put_health(&mut self, connector: &str, health: &Health) -> Result<(), ReportStoreError> {
        write_health(&self.dir, connector, health).map_err(err)
    }
    fn list(&mut self, since: u64) -> Result<Vec<(Sent, Option<Report>)>, ReportStoreError> {
        Ok(record::list(&self.dir).map_err(err)?.into_iter().filter(|(s, _)| s.sent >= since).collect())
    }
}
