//! What `smsotp` does on the Redis backend: status, unlock, backup codes, the
//! server's settings, and copying a host's state files in.

use std::time::Duration;

use super::resp::{self, Cmd, Script, Value};

use super::conn::ConnError;
use super::{RedisStore, scripts};
use crate::auth::StoreError;
use crate::config::{Config, ConfigError};
use crate::state::UserState;

/// A user's state as the shared store holds it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisStatus {
    pub failures_in_window: u64,
    pub locked_for: Option<Duration>,
    pub sends_in_last_hour: u64,
    pub backup_codes: u64,
}

/// What `smsotp check` reports of the server.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerFacts {
    pub server: String,
    /// From INFO; None when the ACL user may not run it.
    pub version: Option<String>,
    pub aof_enabled: Option<bool>,
    pub maxmemory_policy: Option<String>,
}

impl RedisStore {
    /// A store that logs in as `[state.redis] admin_username` (else the module's
    /// user), for what creates codes.
    pub fn admin(config: &Config) -> Result<RedisStore, ConfigError> {
        let mut store = RedisStore::new(config);
        let (username, password) = config.state.redis.admin_credentials()?;
        store.config.username = username;
        store.config.password = password;
        Ok(store)
    }

    /// Which server answered (after the first call).
    pub fn server_name(&self) -> Option<String> {
        self.conn.as_ref().map(|c| c.name().to_string())
    }

    pub(super) fn eval(&mut self, script: &'static str, keys: &[String], args: &[String]) -> Result<Value, StoreError> {
        self.conn()?;
        let Some(conn) = self.conn.as_mut() else { return Err(StoreError::Io("no connection".into())) };
        let result = conn.run_script(&Script::new(script), keys, args);
        result.map_err(|e| self.fail(e))
    }

    pub(super) fn simple(&mut self, cmd: &Cmd) -> Result<Value, StoreError> {
        let conn = self.conn()?;
        let result = conn.command(cmd);
        result.map_err(|e| self.fail(e))
    }

    pub fn status(&mut self, user: &str) -> Result<RedisStatus, StoreError> {
        let keys = [self.key(user, "lock"), self.key(user, "fail"), self.key(user, "sends"), self.key(user, "backup")];
        let args = [self.ms(self.limits.lockout_window), self.ms(self.limits.lockout_duration), String::new()];
        let reply = self.eval(scripts::STATUS, &keys, &args)?;
        match reply.integers().as_deref() {
            Some(&[f, l, s, b]) if f >= 0 && l >= 0 && s >= 0 && b >= 0 => Ok(RedisStatus {
                failures_in_window: f as u64,
                locked_for: (l > 0).then(|| Duration::from_millis(l as u64)),
                sends_in_last_hour: s as u64,
                backup_codes: b as u64,
            }),
            _ => Err(self.fail(ConnError::Protocol("redis".into(), format!("unexpected status {reply:?}")))),
        }
    }

    /// Lift the lock and forget the failures, fleet-wide.
    pub fn unlock(&mut self, user: &str) -> Result<(), StoreError> {
        let (lock, fail) = (self.key(user, "lock"), self.key(user, "fail"));
        self.simple(resp::cmd("DEL").arg(&lock).arg(&fail)).map(|_| ())
    }

    /// Replace the user's backup codes with these hashes.
    pub fn set_backup_codes(&mut self, user: &str, hashes: &[String]) -> Result<u64, StoreError> {
        let keys = [self.key(user, "backup"), self.key(user, "codes-issued")];
        let reply = self.eval(scripts::SET_CODES, &keys, hashes)?;
        match reply {
            Value::Int(n) if n as usize == hashes.len() => Ok(n as u64),
            other => Err(self.fail(ConnError::Protocol("redis".into(), format!("unexpected answer {other:?}")))),
        }
    }

    pub fn backup_count(&mut self, user: &str) -> Result<u64, StoreError> {
        match self.simple(resp::cmd("SCARD").arg(self.key(user, "backup")))? {
            Value::Int(n) if n >= 0 => Ok(n as u64),
            other => Err(self.fail(ConnError::Protocol("redis".into(), format!("unexpected answer {other:?}")))),
        }
    }

    pub fn revoke_backup_codes(&mut self, user: &str) -> Result<(), StoreError> {
        self.simple(resp::cmd("DEL").arg(self.key(user, "backup"))).map(|_| ())
    }

    /// Copy one host's state file (by its stem, the escaped user name the keys
    /// use too) in, never lowering a count, shortening a lock or adding codes
    /// after codes were issued or migrated in Redis. Running it again changes nothing.
    pub fn migrate(&mut self, stem: &str, state: &UserState) -> Result<(), StoreError> {
        let keys = ["lock", "fail", "sends", "grace", "backup", "codes-issued"].map(|k| self.stem_key(stem, k));
        let ms = |s: u64| s.saturating_mul(1000).to_string();
        let mut args = vec![ms(state.locked_until.unwrap_or(0))];
        for times in [&state.failures, &state.sends] {
            args.push(times.len().to_string());
            args.extend(times.iter().map(|&t| ms(t)));
        }
        args.push(state.grace.len().to_string());
        for g in &state.grace {
            args.push(g.origin.clone());
            args.push(ms(g.until));
        }
        args.push(state.backup_codes.len().to_string());
        args.extend(state.backup_codes.iter().cloned());
        args.push(self.ms(self.limits.lockout_window));
        args.push(String::new());
        match self.eval(scripts::MIGRATE, &keys, &args)? {
            Value::Int(1) => Ok(()),
            other => Err(self.fail(ConnError::Protocol("redis".into(), format!("unexpected answer {other:?}")))),
        }
    }

    /// Role (a primary, or the connection fails), version, persistence and eviction.
    pub fn server_facts(&mut self) -> Result<ServerFacts, StoreError> {
        self.conn()?;
        let mut facts = ServerFacts { server: self.server_name().unwrap_or_default(), ..ServerFacts::default() };
        // INFO may be outside the ACL user's commands: then the facts stay unknown
        let Ok(Value::BulkString(info)) = self.conn()?.command(resp::cmd("INFO").arg("server").arg("persistence").arg("memory")) else {
            return Ok(facts);
        };
        for line in String::from_utf8_lossy(&info).lines() {
            let Some((k, v)) = line.trim().split_once(':') else { continue };
            let v = super::conn::printable(v);
            match k {
                "redis_version" | "valkey_version" if facts.version.is_none() => facts.version = Some(v),
                "aof_enabled" => facts.aof_enabled = Some(v == "1"),
                "maxmemory_policy" => facts.maxmemory_policy = Some(v),
                _ => {}
            }
        }
        Ok(facts)
    }
}

/// The user `smsotp check` runs every script for: no account can be named so.
const CHECK_USER: &str = "\0check";

impl RedisStore {
    /// Run every rule's script once on a check user's keys (and remove them),
    /// as the module's ACL user: what a login needs works. Sends are only
    /// peeked at, so the fleet's total is not touched.
    pub fn self_test(&mut self) -> Result<(), StoreError> {
        use crate::auth::Store;
        let now = Duration::from_secs(0);
        let user = CHECK_USER;
        let result = (|| {
            self.locked_until(user, now)?;
            self.grace_active(user, "check", now)?;
            self.peek_send(user, now)?;
            self.record_failure(user, now)?;
            self.unlock(user)?;
            self.record_success(user, Some("check"), now)?;
            self.status(user)?;
            self.backup_hashes(user)?;
            let keys = [self.key(user, "lock"), self.key(user, "backup")];
            let args = ["$argon2id$check".to_string(), self.ms(self.limits.lockout_duration), String::new()];
            self.run(|s| &s.use_backup, &keys, &args, Value::integer)?;
            Ok(())
        })();
        let keys: Vec<String> = ["lock", "fail", "grace", "sends", "backup"].iter().map(|k| self.key(user, k)).collect();
        let cleaned = self.simple(resp::cmd("DEL").arg(&keys)).map(|_| ());
        result.and(cleaned)
    }
}
