//! The Redis backend of `Numbers`: per user `<prefix>{<stem>}:enrolled`,
//! `:pinned` (JSON of a StoredNumber) and `:enrol` (JSON of an EnrolCode,
//! expiring with it). The module's ACL user needs only GET, SET, DEL, ZADD and
//! EVALSHA for them; `smsotp phone list` reads the index `<prefix>{numbers}:enrolled`
//! (a sorted set of stems), in which a removed user's stem may linger.

use std::time::Duration;

use super::resp::{self, Script, Value};

use super::RedisStore;
use crate::auth::{EnrolCode, Numbers, StoreError, StoredNumber, UserNumbers};
use crate::state::file_stem;
use crate::state::numbers::Listing;

/// KEYS enrolled, pinned, enrol → their three values ('' for none).
const READ: &str = r#"
return {redis.call('GET', KEYS[1]) or '', redis.call('GET', KEYS[2]) or '', redis.call('GET', KEYS[3]) or ''}
"#;

/// KEYS enrol, enrolled, pinned; ARGV hash, number → 1 when the code was still
/// the one hashed so (it is dropped and the number stored twice), else 0.
const REDEEM: &str = r#"
local raw = redis.call('GET', KEYS[1])
if not raw then return 0 end
local ok, code = pcall(cjson.decode, raw)
if not ok or type(code) ~= 'table' or code.hash ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('SET', KEYS[2], ARGV[2])
redis.call('SET', KEYS[3], ARGV[2])
return 1
"#;

/// The largest value taken from the server for one of these keys.
const MAX_VALUE: usize = 64 * 1024;

impl RedisStore {
    fn numbers_index(&self) -> String {
        format!("{}{{numbers}}:enrolled", self.config.key_prefix)
    }

    fn eval_numbers(&mut self, script: &'static str, keys: &[String], args: &[String]) -> Result<Value, StoreError> {
        self.conn()?;
        let Some(conn) = self.conn.as_mut() else { return Err(StoreError::Io("no connection".into())) };
        let result = conn.run_script(&Script::new(script), keys, args);
        result.map_err(|e| self.fail(e))
    }

    fn numbers_command(&mut self, cmd: &resp::Cmd) -> Result<Value, StoreError> {
        let conn = self.conn()?;
        let result = conn.command(cmd);
        result.map_err(|e| self.fail(e))
    }

    fn put(&mut self, key: &str, value: Option<String>, ttl: Option<Duration>) -> Result<(), StoreError> {
        let name = if value.is_some() { "SET" } else { "DEL" };
        let cmd = match (value, ttl) {
            (None, _) => resp::cmd("DEL").arg(key).clone(),
            (Some(v), None) => resp::cmd("SET").arg(key).arg(v).clone(),
            (Some(v), Some(ttl)) => resp::cmd("SET").arg(key).arg(v).arg("PX").arg(ttl.as_millis().max(1) as u64).clone(),
        };
        match self.numbers_command(&cmd)? {
            Value::Okay | Value::Int(_) => Ok(()),
            other => Err(StoreError::Io(format!("redis: unexpected answer {other:?} to {name}"))),
        }
    }

    fn index(&mut self, user: &str) -> Result<(), StoreError> {
        let index = self.numbers_index();
        self.numbers_command(resp::cmd("ZADD").arg(index).arg(0).arg(file_stem(user)))?;
        Ok(())
    }

    /// Users named in the index (by stem) and their numbers, for `smsotp phone list`.
    pub fn list_numbers(&mut self) -> Result<Listing, StoreError> {
        let index = self.numbers_index();
        let stems = match self.numbers_command(resp::cmd("ZRANGE").arg(index).arg(0).arg(-1))? {
            Value::Array(items) => items
                .into_iter()
                .filter_map(|v| match v {
                    Value::BulkString(b) => String::from_utf8(b).ok(),
                    _ => None,
                })
                .collect::<Vec<_>>(),
            other => return Err(StoreError::Corrupt(format!("redis: unexpected answer {other:?} to ZRANGE"))),
        };
        let mut out = Vec::new();
        for stem in stems {
            let keys = [self.stem_key(&stem, "enrolled"), self.stem_key(&stem, "pinned"), self.stem_key(&stem, "enrol")];
            let reply = self.eval_numbers(READ, &keys, &[])?;
            let numbers = decode_three(&reply).map_err(|e| e.to_string());
            if numbers.as_ref().is_ok_and(|n| n.enrolled.is_none()) {
                continue;
            }
            out.push((crate::state::numbers::unescape(&stem), numbers));
        }
        Ok(out)
    }
}

fn json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Io(e.to_string()))
}

fn field<T: serde::de::DeserializeOwned>(value: &Value, what: &str) -> Result<Option<T>, StoreError> {
    match value {
        Value::BulkString(b) if b.is_empty() => Ok(None),
        Value::BulkString(b) if b.len() <= MAX_VALUE => {
            serde_json::from_slice(b).map(Some).map_err(|e| StoreError::Corrupt(format!("redis: the {what} key: {e}")))
        }
        Value::Nil => Ok(None),
        _ => Err(StoreError::Corrupt(format!("redis: the {what} key holds no number record"))),
    }
}

fn decode_three(reply: &Value) -> Result<UserNumbers, StoreError> {
    match reply {
        Value::Array(items) if items.len() == 3 => Ok(UserNumbers {
            enrolled: field(&items[0], "enrolled")?,
            pinned: field(&items[1], "pinned")?,
            enrol_code: field(&items[2], "enrol")?,
        }),
        _ => Err(StoreError::Corrupt("redis: unexpected answer to the numbers script".into())),
    }
}

impl Numbers for RedisStore {
    fn numbers(&mut self, user: &str) -> Result<UserNumbers, StoreError> {
        let keys = [self.key(user, "enrolled"), self.key(user, "pinned"), self.key(user, "enrol")];
        let reply = self.eval_numbers(READ, &keys, &[])?;
        decode_three(&reply)
    }

    fn set_enrolled(&mut self, user: &str, number: Option<&StoredNumber>) -> Result<(), StoreError> {
        let key = self.key(user, "enrolled");
        let value = number.map(json).transpose()?;
        let added = value.is_some();
        self.put(&key, value, None)?;
        if added { self.index(user) } else { Ok(()) }
    }

    fn set_pinned(&mut self, user: &str, number: Option<&StoredNumber>) -> Result<(), StoreError> {
        let key = self.key(user, "pinned");
        let value = number.map(json).transpose()?;
        self.put(&key, value, None)
    }

    fn set_enrol_code(&mut self, user: &str, code: Option<&EnrolCode>) -> Result<(), StoreError> {
        let key = self.key(user, "enrol");
        let value = code.map(json).transpose()?;
        // the key goes with the code, on the server's clock; the stored expiry still rules
        let ttl = code.map(|c| Duration::from_secs(c.expires.saturating_sub(c.issued_at).max(1)));
        self.put(&key, value, ttl)
    }

    fn redeem_enrol_code(&mut self, user: &str, hash: &str, number: &StoredNumber) -> Result<bool, StoreError> {
        let keys = [self.key(user, "enrol"), self.key(user, "enrolled"), self.key(user, "pinned")];
        let args = [hash.to_string(), json(number)?];
        let done = match self.eval_numbers(REDEEM, &keys, &args)? {
            Value::Int(n) => n == 1,
            other => return Err(StoreError::Corrupt(format!("redis: unexpected answer {other:?} to the redeem script"))),
        };
        if done {
            // only `phone list` reads the index: a failure here costs nothing else
            let _ = self.index(user);
        }
        Ok(done)
    }
}
