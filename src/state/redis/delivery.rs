//! Delivery records in Redis, for a fleet: one `smsotp-dlrd` serves every host
//! that names the same server. Plain commands the module's ACL user already
//! has (GET, SET, DEL, ZADD, ZRANGEBYSCORE, ZREMRANGEBYSCORE), keys under
//! `key_prefix`: `dlr:sent:<id>`, `dlr:report:<id>`, `dlr:connector:<name>`,
//! and the sorted set `dlr:sent` (message ids by the time they were sent).

use super::resp::{self, Value};

use super::RedisStore;
use crate::config::Config;
use crate::dlr::MessageId;
use crate::dlr::health::Health;
use crate::dlr::record::{Report, Sent};
use crate::dlr::store::{ReportStore, ReportStoreError};

/// A record larger than this is not one of ours.
const MAX_RECORD_BYTES: usize = 4096;

pub struct RedisReports {
    store: RedisStore,
    prefix: String,
    ttl: u64,
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

impl RedisReports {
    /// Nothing is contacted until the first call; the connection lives as long
    /// as `[limits] login_budget` allows (make one per request in a daemon).
    pub fn new(config: &Config) -> RedisReports {
        RedisReports {
            store: RedisStore::new(config),
            prefix: format!("{}dlr:", config.state.redis.key_prefix),
            ttl: config.delivery.token_ttl,
        }
    }

    fn run(&mut self, cmd: &resp::Cmd) -> Result<Value, ReportStoreError> {
        let conn = self.store.conn().map_err(|e| ReportStoreError(e.to_string()))?;
        match conn.command(cmd) {
            Ok(v) => Ok(v),
            Err(e) => Err(ReportStoreError(self.store.fail(e).to_string())),
        }
    }

    fn get<T: for<'de> serde::Deserialize<'de>>(&mut self, key: String) -> Result<Option<T>, ReportStoreError> {
        match self.run(resp::cmd("GET").arg(&key))? {
            Value::Nil => Ok(None),
            Value::BulkString(bytes) if bytes.len() <= MAX_RECORD_BYTES => {
                serde_json::from_slice(&bytes).map(Some).map_err(|_| ReportStoreError(format!("{key}: not a record")))
            }
            _ => Err(ReportStoreError(format!("{key}: not a record"))),
        }
    }

    fn set<T: serde::Serialize>(&mut self, key: String, value: &T, ttl: u64) -> Result<(), ReportStoreError> {
        let json = serde_json::to_string(value).map_err(|e| ReportStoreError(e.to_string()))?;
        self.run(resp::cmd("SET").arg(key).arg(json).arg("EX").arg(ttl.max(1)))?;
        Ok(())
    }
}

impl ReportStore for RedisReports {
    fn put_sent(&mut self, sent: &Sent) -> Result<(), ReportStoreError> {
        self.set(format!("{}sent:{}", self.prefix, sent.id), sent, self.ttl)?;
        let index = format!("{}sent", self.prefix);
        self.run(resp::cmd("ZADD").arg(&index).arg(sent.sent).arg(&sent.id))?;
        self.run(resp::cmd("ZREMRANGEBYSCORE").arg(&index).arg("-inf").arg(now().saturating_sub(self.ttl)))?;
        Ok(())
    }

    fn forget_sent(&mut self, id: &MessageId) -> Result<(), ReportStoreError> {
        self.run(resp::cmd("DEL").arg(format!("{}sent:{}", self.prefix, id.as_text())))?;
        Ok(())
    }

    fn sent(&mut self, id: &MessageId) -> Result<Option<Sent>, ReportStoreError> {
        let sent: Option<Sent> = self.get(format!("{}sent:{}", self.prefix, id.as_text()))?;
        Ok(sent.filter(|s| s.id == id.as_text()))
    }

    fn report(&mut self, id: &MessageId) -> Result<Option<Report>, ReportStoreError> {
        let report: Option<Report> = self.get(format!("{}report:{}", self.prefix, id.as_text()))?;
        Ok(report.filter(|r| r.id == id.as_text()))
    }

    fn put_report(&mut self, report: &Report) -> Result<(), ReportStoreError> {
        self.set(format!("{}report:{}", self.prefix, report.id), report, self.ttl)
    }

    fn health(&mut self, connector: &str) -> Result<Health, ReportStoreError> {
        Ok(self.get(format!("{}connector:{connector}", self.prefix))?.unwrap_or_default())
    }

    fn put_health(&mut self, connector: &str, health: &Health) -> Result<(), ReportStoreError> {
        self.set(format!("{}connector:{connector}", self.prefix), health, 30 * 86_400)
    }

    fn list(&mut self, since: u64) -> Result<Vec<(Sent, Option<Report>)>, ReportStoreError> {
        let ids = match self.run(resp::cmd("ZRANGEBYSCORE").arg(format!("{}sent", self.prefix)).arg(since).arg("+inf"))? {
            Value::Array(items) => items,
            other => return Err(ReportStoreError(format!("unexpected reply {other:?}"))),
        };
        let mut out = Vec::new();
        for item in ids {
            let Value::BulkString(bytes) = item else { continue };
            let Some(id) = std::str::from_utf8(&bytes).ok().and_then(MessageId::parse) else { continue };
            if let Some(sent) = self.sent(&id)? {
                let report = self.report(&id)?;
                out.push((sent, report));
            }
        }
        out.sort_by(|a, b| b.0.sent.cmp(&a.0.sent).then_with(|| b.0.id.cmp(&a.0.id)));
        Ok(out)
    }
}
