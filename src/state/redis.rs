//! The fleet's store: the rules of record.rs as Lua scripts in Redis or Valkey
//! (`[state] backend = "redis"`), so every host naming the same server shares
//! one lockout, one pair of hourly caps, one grace list and one set of backup
//! codes. One connection per store, opened on the first call (a skipped user
//! never connects) and dropped at the first failure: the login then meets
//! `[state] on_failure` at once, without waiting for a dead server again.

mod admin;
pub mod conn;
pub mod delivery;
mod numbers;
mod report;
pub mod resp;
mod scripts;

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::auth::{BackupUse, SendAllowance, Store, StoreError};
use crate::config::{Config, LimitsConfig, RedisAddress, RedisConfig, parse_redis_address};
use crate::state::{backup, file_stem};
pub use admin::{RedisStatus, ServerFacts};
use conn::{ConnError, Credentials, RedisConn};
use resp::{Script, Value};

/// Origins remembered for grace, as in record.rs.
const MAX_GRACE_ORIGINS: u64 = 32;

/// The scripts, each hashed once per store.
struct Scripts {
    locked: Script,
    grace: Script,
    reserve_send: Script,
    record_failure: Script,
    record_success: Script,
    use_backup: Script,
}

impl Scripts {
    fn new() -> Scripts {
        Scripts {
            locked: Script::new(scripts::LOCKED),
            grace: Script::new(scripts::GRACE),
            reserve_send: Script::new(scripts::RESERVE_SEND),
            record_failure: Script::new(scripts::RECORD_FAILURE),
            record_success: Script::new(scripts::RECORD_SUCCESS),
            use_backup: Script::new(scripts::USE_BACKUP),
        }
    }
}

pub struct RedisStore {
    config: RedisConfig,
    limits: LimitsConfig,
    grace: u64,
    /// The store gives up on everything after this (the login's budget).
    until: Instant,
    conn: Option<RedisConn>,
    /// The failure that ended the connection: later calls answer with it at once.
    failed: Option<StoreError>,
    scripts: Scripts,
    /// Tests: the scripts use the caller's `now` instead of the server's TIME.
    callers_clock: bool,
}

fn store_error(e: ConnError) -> StoreError {
    StoreError::Io(e.to_string())
}

impl RedisStore {
    /// A store for one login (nothing is contacted yet).
    pub fn new(config: &Config) -> RedisStore {
        RedisStore {
            config: config.state.redis.clone(),
            limits: config.limits.clone(),
            grace: config.policy.grace,
            until: Instant::now() + Duration::from_secs(config.limits.login_budget),
            conn: None,
            failed: None,
            scripts: Scripts::new(),
            callers_clock: false,
        }
    }

    /// Tests only: run the rules at the `now` the flow passes, so the vectors of
    /// record.rs can be replayed against a real server.
    #[cfg(any(test, feature = "test-support"))]
    pub fn use_callers_clock(&mut self) {
        self.callers_clock = true;
    }

    /// The connection, opened and checked on first use. The key prefix and
    /// server settings are the operator's; what the rules need is checked here.
    fn conn(&mut self) -> Result<&mut RedisConn, StoreError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        if self.conn.is_none() {
            match self.open() {
                Ok(c) => self.conn = Some(c),
                Err(e) => {
                    let e = store_error(e);
                    self.failed = Some(e.clone());
                    return Err(e);
                }
            }
        }
        self.conn.as_mut().ok_or_else(|| StoreError::Io("no connection".into()))
    }

    fn open(&self) -> Result<RedisConn, ConnError> {
        let timeout = Duration::from_secs(self.config.timeout);
        let tls_config = || -> Result<Arc<rustls::ClientConfig>, ConnError> {
            crate::trust::client_config(self.config.ca_file.as_deref()).map_err(|e| ConnError::Tls("redis".into(), e.0))
        };
        if self.config.sentinels.is_empty() {
            let address = parse_redis_address(&self.config.url, 6379).map_err(|e| ConnError::Protocol("redis url".into(), e))?;
            let tls = if address.tls { Some(tls_config()?) } else { None };
            let credentials = Credentials { username: &self.config.username, password: self.config.password.as_ref() };
            let mut conn = RedisConn::open(&address, tls.as_ref(), &credentials, timeout, self.until)?;
            conn.require_primary()?;
            return Ok(conn);
        }
        let tls = tls_config()?;
        let mut last = ConnError::Unreachable("sentinels".into(), "none configured".into());
        for sentinel in &self.config.sentinels {
            match self.via_sentinel(sentinel, &tls, timeout) {
                Ok(conn) => return Ok(conn),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// Ask one sentinel for the primary, then connect to it with the sentinel's scheme.
    fn via_sentinel(&self, url: &str, tls: &Arc<rustls::ClientConfig>, timeout: Duration) -> Result<RedisConn, ConnError> {
        let address = parse_redis_address(url, 26379).map_err(|e| ConnError::Protocol("sentinel url".into(), e))?;
        let credentials = Credentials { username: &self.config.sentinel_username, password: self.config.sentinel_password.as_ref() };
        let mut sentinel = RedisConn::open(&address, Some(tls), &credentials, timeout, self.until)?;
        let reply = sentinel.command(resp::cmd("SENTINEL").arg("GET-MASTER-ADDR-BY-NAME").arg(&self.config.master_name))?;
        let (host, port) = match &reply {
            Value::Array(items) => match &items[..] {
                [Value::BulkString(h), Value::BulkString(p)] => {
                    let host = String::from_utf8_lossy(h).into_owned();
                    let port = std::str::from_utf8(p).ok().and_then(|p| p.parse::<u16>().ok());
                    match port {
                        Some(port) if !host.is_empty() && host.len() < 256 => (host, port),
                        _ => return Err(sentinel.unexpected("SENTINEL GET-MASTER-ADDR-BY-NAME", &reply)),
                    }
                }
                _ => return Err(sentinel.unexpected("SENTINEL GET-MASTER-ADDR-BY-NAME", &reply)),
            },
            Value::Nil => return Err(ConnError::Protocol(sentinel.name().into(), "does not know master_name".into())),
            _ => return Err(sentinel.unexpected("SENTINEL GET-MASTER-ADDR-BY-NAME", &reply)),
        };
        drop(sentinel);
        let primary = RedisAddress { tls: address.tls, host, port, db: 0 };
        let db = parse_redis_address(&self.config.url, 6379).map(|a| a.db).unwrap_or(0);
        let primary = RedisAddress { db, ..primary };
        let credentials = Credentials { username: &self.config.username, password: self.config.password.as_ref() };
        let mut conn = RedisConn::open(&primary, Some(tls), &credentials, timeout, self.until)?;
        conn.require_primary()?;
        Ok(conn)
    }

    fn key(&self, user: &str, kind: &str) -> String {
        self.stem_key(&file_stem(user), kind)
    }

    /// A key by the user's escaped name (a state file's stem).
    fn stem_key(&self, stem: &str, kind: &str) -> String {
        format!("{}{{{stem}}}:{kind}", self.config.key_prefix)
    }

    /// Where one connector's SMS are counted: `prefix{c-NAME}:sent`.
    fn connector_key(&self, connector: &str) -> String {
        let stem = file_stem(connector);
        format!("{}{{c-{}}}:sent", self.config.key_prefix, &stem[2..])
    }

    fn total_key(&self) -> String {
        format!("{}{{total}}:sends", self.config.key_prefix)
    }

    /// The time argument of every script: '' (the server's TIME), or the caller's in tests.
    fn now_arg(&self, now: Duration) -> String {
        if self.callers_clock { now.as_millis().to_string() } else { String::new() }
    }

    /// Run a script and read its answer with `read`; any failure ends the connection for this store.
    fn run<T>(
        &mut self,
        pick: impl Fn(&Scripts) -> &Script,
        keys: &[String],
        args: &[String],
        read: impl Fn(&Value) -> Option<T>,
    ) -> Result<T, StoreError> {
        self.conn()?;
        let Some(conn) = self.conn.as_mut() else { return Err(StoreError::Io("no connection".into())) };
        let result = conn.run_script(pick(&self.scripts), keys, args);
        let result = result.and_then(|v| read(&v).ok_or_else(|| conn.unexpected("a script", &v)));
        result.map_err(|e| self.fail(e))
    }

    fn fail(&mut self, e: ConnError) -> StoreError {
        let e = store_error(e);
        self.conn = None;
        self.failed = Some(e.clone());
        e
    }

    /// After a change that a failover must not undo: WAIT for `wait_replicas`
    /// (within the timeout). The number acknowledged.
    fn wait_for_replicas(&mut self) -> Result<u32, StoreError> {
        let wanted = self.config.wait_replicas;
        if wanted == 0 {
            return Ok(0);
        }
        let ms = self.config.timeout.saturating_mul(1000).saturating_sub(100).max(100);
        let conn = self.conn()?;
        let reply = conn.command(resp::cmd("WAIT").arg(wanted).arg(ms));
        match reply {
            Ok(Value::Int(n)) => Ok(u32::try_from(n).unwrap_or(0)),
            Ok(other) => {
                let e = conn.unexpected("WAIT", &other);
                Err(self.fail(e))
            }
            Err(e) => Err(self.fail(e)),
        }
    }

    fn ms(&self, seconds: u64) -> String {
        seconds.saturating_mul(1000).to_string()
    }

    fn nonce() -> Result<String, StoreError> {
        let mut bytes = [0u8; 12];
        getrandom::fill(&mut bytes).map_err(|e| StoreError::Io(format!("no randomness: {e}")))?;
        Ok(crate::hex::lower(&bytes))
    }

    fn send_allowance(&mut self, user: &str, now: Duration, record: bool) -> Result<SendAllowance, StoreError> {
        let keys = [self.key(user, "lock"), self.key(user, "sends"), self.total_key()];
        let l = &self.limits;
        let args = [
            self.ms(l.lockout_duration),
            self.ms(l.resend_cooldown),
            l.max_sends_per_hour.to_string(),
            l.max_sends_per_hour_total.to_string(),
            Self::nonce()?,
            if record { "1" } else { "0" }.to_string(),
            self.now_arg(now),
        ];
        let reply = self.run(|s| &s.reserve_send, &keys, &args, Value::integers)?;
        match reply[..] {
            [0, _] => Ok(SendAllowance::Allowed),
            [1, ms] if ms > 0 => Ok(SendAllowance::Cooldown((ms as u64).div_ceil(1000))),
            [2, _] => Ok(SendAllowance::HourlyCap),
            [3, _] => Ok(SendAllowance::Locked),
            [4, _] => Ok(SendAllowance::TotalCap),
            _ => Err(self.fail(ConnError::Protocol("redis".into(), format!("unexpected send allowance {reply:?}")))),
        }
    }

    /// The backup-code hashes stored for `user` (for matching on this host: argon2 is slow).
    pub fn backup_hashes(&mut self, user: &str) -> Result<Vec<String>, StoreError> {
        let key = self.key(user, "backup");
        let conn = self.conn()?;
        let reply = conn.command(resp::cmd("SMEMBERS").arg(&key));
        match reply {
            // a member that is not text is skipped, never the whole set
            Ok(Value::Array(items)) => Ok(items
                .into_iter()
                .filter_map(|v| match v {
                    Value::BulkString(b) => String::from_utf8(b).ok(),
                    _ => None,
                })
                .collect()),
            Ok(other) => {
                let e = conn.unexpected("SMEMBERS", &other);
                Err(self.fail(e))
            }
            Err(e) => Err(self.fail(e)),
        }
    }
}

impl Store for RedisStore {
    fn locked_until(&mut self, user: &str, now: Duration) -> Result<Option<Duration>, StoreError> {
        let keys = [self.key(user, "lock")];
        let args = [self.ms(self.limits.lockout_duration), self.now_arg(now)];
        let left = self.run(|s| &s.locked, &keys, &args, Value::integer)?;
        Ok((left > 0).then(|| now + Duration::from_millis(left as u64)))
    }

    fn grace_active(&mut self, user: &str, key: &str, now: Duration) -> Result<bool, StoreError> {
        let keys = [self.key(user, "grace")];
        let args = [key.to_string(), self.ms(self.grace), self.now_arg(now)];
        let open = self.run(|s| &s.grace, &keys, &args, Value::integer)?;
        Ok(open == 1)
    }

    fn reserve_send(&mut self, user: &str, now: Duration) -> Result<SendAllowance, StoreError> {
        self.send_allowance(user, now, true)
    }

    fn peek_send(&mut self, user: &str, now: Duration) -> Result<SendAllowance, StoreError> {
        self.send_allowance(user, now, false)
    }

    fn record_failure(&mut self, user: &str, now: Duration) -> Result<bool, StoreError> {
        let keys = [self.key(user, "lock"), self.key(user, "fail")];
        let l = &self.limits;
        let args =
            [l.lockout_failures.to_string(), self.ms(l.lockout_window), self.ms(l.lockout_duration), Self::nonce()?, self.now_arg(now)];
        let locked = self.run(|s| &s.record_failure, &keys, &args, Value::integer)?;
        if locked == 1 {
            // a lock undone by a failover would give the attacker another round
            self.wait_for_replicas()?;
        }
        Ok(locked == 1)
    }

    fn record_success(&mut self, user: &str, key: Option<&str>, now: Duration) -> Result<bool, StoreError> {
        let keys = [self.key(user, "lock"), self.key(user, "fail"), self.key(user, "grace")];
        let args = [
            key.unwrap_or("").to_string(),
            self.ms(self.grace),
            MAX_GRACE_ORIGINS.to_string(),
            self.ms(self.limits.lockout_duration),
            self.now_arg(now),
        ];
        let done = self.run(|s| &s.record_success, &keys, &args, Value::integer)?;
        Ok(done == 1)
    }

    fn use_backup_code(&mut self, user: &str, answer: &str, now: Duration) -> Result<BackupUse, StoreError> {
        if backup::normalise(answer).is_none() {
            return Ok(BackupUse::NoMatch);
        }
        let hashes = self.backup_hashes(user)?;
        let Some(i) = backup::find(answer, &hashes) else { return Ok(BackupUse::NoMatch) };
        let keys = [self.key(user, "lock"), self.key(user, "backup")];
        let args = [hashes[i].clone(), self.ms(self.limits.lockout_duration), self.now_arg(now)];
        let left = self.run(|s| &s.use_backup, &keys, &args, Value::integer)?;
        match left {
            -2 => Ok(BackupUse::Locked),
            // another login took that very code first
            -1 => Ok(BackupUse::NoMatch),
            n if n >= 0 => {
                let acknowledged = self.wait_for_replicas()?;
                if acknowledged < self.config.wait_replicas {
                    // consumed, but a failover could bring it back: not accepted
                    return Err(self.fail(ConnError::Protocol(
                        "redis".into(),
                        format!("only {acknowledged} of {} replicas acknowledged a used backup code", self.config.wait_replicas),
                    )));
                }
                Ok(BackupUse::Used { remaining: n as usize })
            }
            _ => Err(self.fail(ConnError::Protocol("redis".into(), format!("unexpected backup answer {left}")))),
        }
    }

    fn record_sent(&mut self, connector: &str, now: Duration) -> Result<(), StoreError> {
        let keys = [self.connector_key(connector)];
        let args = [std::process::id().to_string(), self.now_arg(now)];
        self.eval(scripts::RECORD_SENT, &keys, &args).map(|_| ())
    }
}
