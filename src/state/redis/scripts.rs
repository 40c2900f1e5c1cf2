//! The rules of state/record.rs as Lua scripts, one atomic round trip each, on
//! the server's clock (the last ARGV is '' in production; tests pass a time).
//! Times are milliseconds. Every stored time is taken as at most now plus its
//! configured length, so a server clock stepped back never lengthens anything.

macro_rules! script {
    ($body:expr) => {
        concat!(
            r#"
local function now_ms(arg)
  if arg ~= nil and arg ~= '' then return tonumber(arg) end
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function num(v, what)
  local n = tonumber(v)
  if n == nil then error('smsotp: ' .. what .. ' holds no number') end
  return n
end
-- ms left of the lock at KEYS[1] (0: none); a lock beyond now + dur is cut to it
local function lock_left(key, dur, now)
  local raw = redis.call('GET', key)
  if not raw then return 0 end
  local v = num(raw, 'the lock')
  if v > now + dur then
    v = now + dur
    redis.call('SET', key, v, 'PX', dur)
  end
  if v > now then return v - now end
  return 0
end
-- members of the sorted set at key scored above limit are scored limit (written back)
local function clamp_scores(key, limit)
  for _, m in ipairs(redis.call('ZRANGEBYSCORE', key, '(' .. limit, '+inf')) do
    redis.call('ZADD', key, limit, m)
  end
end
"#,
            $body
        )
    };
}

/// KEYS lock; ARGV dur, now → ms left.
pub const LOCKED: &str = script!(
    r#"
return lock_left(KEYS[1], num(ARGV[1], 'dur'), now_ms(ARGV[2]))
"#
);

/// KEYS grace; ARGV origin, grace, now → 1 while open.
pub const GRACE: &str = script!(
    r#"
local now = now_ms(ARGV[3])
clamp_scores(KEYS[1], now + num(ARGV[2], 'grace'))
local s = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not s then return 0 end
if num(s, 'grace') > now then return 1 end
return 0
"#
);

/// KEYS lock, sends, total; ARGV dur, cooldown, cap, total_cap, nonce, record, now
/// → {0,0} allowed, {1,ms} cooldown, {2,0} hourly cap, {3,0} locked, {4,0} total cap.
pub const RESERVE_SEND: &str = script!(
    r#"
local now = now_ms(ARGV[7])
local hour = 3600000
if lock_left(KEYS[1], num(ARGV[1], 'dur'), now) > 0 then return {3, 0} end
clamp_scores(KEYS[2], now)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - hour)
local last = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')
if last[2] then
  local ready = num(last[2], 'a send') + num(ARGV[2], 'cooldown')
  if ready > now then return {1, ready - now} end
end
if redis.call('ZCARD', KEYS[2]) >= num(ARGV[3], 'cap') then return {2, 0} end
local total_cap = num(ARGV[4], 'total cap')
if total_cap > 0 then
  clamp_scores(KEYS[3], now)
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - hour)
  if redis.call('ZCARD', KEYS[3]) >= total_cap then return {4, 0} end
end
if ARGV[6] == '1' then
  redis.call('ZADD', KEYS[2], now, ARGV[5])
  redis.call('PEXPIRE', KEYS[2], hour)
  if total_cap > 0 then
    redis.call('ZADD', KEYS[3], now, ARGV[5])
    redis.call('PEXPIRE', KEYS[3], hour)
  end
end
return {0, 0}
"#
);

/// KEYS lock, fail; ARGV max, window, dur, nonce, now → 1 when locked now.
pub const RECORD_FAILURE: &str = script!(
    r#"
local now = now_ms(ARGV[5])
local max, window, dur = num(ARGV[1], 'max'), num(ARGV[2], 'window'), num(ARGV[3], 'dur')
if lock_left(KEYS[1], dur, now) > 0 then return 1 end
clamp_scores(KEYS[2], now)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - window)
redis.call('ZADD', KEYS[2], now, ARGV[4])
if max > 0 and redis.call('ZCARD', KEYS[2]) >= max then
  redis.call('DEL', KEYS[2])
  redis.call('SET', KEYS[1], now + dur, 'PX', dur)
  return 1
end
redis.call('PEXPIRE', KEYS[2], window)
return 0
"#
);

/// KEYS lock, fail, grace; ARGV origin ('' = none), grace, max origins, dur, now
/// → 0 (nothing changed) while locked, else 1.
pub const RECORD_SUCCESS: &str = script!(
    r#"
local now = now_ms(ARGV[5])
local grace, max = num(ARGV[2], 'grace'), num(ARGV[3], 'max')
if lock_left(KEYS[1], num(ARGV[4], 'dur'), now) > 0 then return 0 end
redis.call('DEL', KEYS[2], KEYS[1])
clamp_scores(KEYS[3], now + grace)
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
if ARGV[1] ~= '' and grace > 0 then
  redis.call('ZADD', KEYS[3], now + grace, ARGV[1])
  local n = redis.call('ZCARD', KEYS[3])
  if n > max then redis.call('ZPOPMIN', KEYS[3], n - max) end
end
local top = redis.call('ZRANGE', KEYS[3], -1, -1, 'WITHSCORES')
if top[2] then
  redis.call('PEXPIRE', KEYS[3], math.max(1, num(top[2], 'grace') - now))
end
return 1
"#
);

/// KEYS lock, backup; ARGV hash, dur, now → -2 locked (not consumed), -1 gone, else codes left.
pub const USE_BACKUP: &str = script!(
    r#"
local now = now_ms(ARGV[3])
if lock_left(KEYS[1], num(ARGV[2], 'dur'), now) > 0 then return -2 end
if redis.call('SREM', KEYS[2], ARGV[1]) == 1 then return redis.call('SCARD', KEYS[2]) end
return -1
"#
);

/// KEYS lock, fail, sends, backup; ARGV window, dur, now
/// → {failures in the window, ms of lock left, sends in the last hour, backup codes}.
/// Changes nothing (but a lock beyond its length, cut as everywhere).
pub const STATUS: &str = script!(
    r#"
local now = now_ms(ARGV[3])
local left = lock_left(KEYS[1], num(ARGV[2], 'dur'), now)
local fails = #redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. (now - num(ARGV[1], 'window')), '+inf')
local sends = #redis.call('ZRANGEBYSCORE', KEYS[3], '(' .. (now - 3600000), '+inf')
return {fails, left, sends, redis.call('SCARD', KEYS[4])}
"#
);

/// KEYS backup, issued; ARGV the new hashes → how many are stored. Replaces
/// the set and marks the user's codes as issued in Redis (so a migration
/// never adds a host's old codes after these).
pub const SET_CODES: &str = script!(
    r#"
redis.call('DEL', KEYS[1])
for i = 1, #ARGV do redis.call('SADD', KEYS[1], ARGV[i]) end
redis.call('SET', KEYS[2], '1')
return redis.call('SCARD', KEYS[1])
"#
);

/// KEYS lock, fail, sends, grace, backup, issued; ARGV lock-until, then counts
/// and members: nf, failure times…, ns, send times…, ng, (origin, until)…,
/// nb, hashes…, now → 1. Copies one host's state in without lowering
/// anything: a lock only lengthens, times are added (a ZSET member per time),
/// and backup codes only when none were ever issued or migrated for the user.
pub const MIGRATE: &str = script!(
    r#"
local now = now_ms(ARGV[#ARGV])
local hour = 3600000
local lock = num(ARGV[1], 'lock')
if lock > now then
  local current = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
  if lock > current then redis.call('SET', KEYS[1], lock, 'PX', lock - now) end
end
local i = 2
local function times(key, ttl)
  local n = num(ARGV[i], 'count'); i = i + 1
  for _ = 1, n do
    local t = num(ARGV[i], 'time'); i = i + 1
    redis.call('ZADD', key, math.min(t, now), 'migrated:' .. t)
  end
  if n > 0 then redis.call('PEXPIRE', key, ttl) end
end
times(KEYS[2], num(ARGV[#ARGV - 1], 'window'))
times(KEYS[3], hour)
local ng = num(ARGV[i], 'count'); i = i + 1
for _ = 1, ng do
  local origin, untl = ARGV[i], num(ARGV[i + 1], 'until'); i = i + 2
  if untl > now then
    local old = tonumber(redis.call('ZSCORE', KEYS[4], origin) or '0') or 0
    if untl > old then redis.call('ZADD', KEYS[4], untl, origin) end
    redis.call('PEXPIRE', KEYS[4], math.max(redis.call('PTTL', KEYS[4]), untl - now))
  end
end
local nb = num(ARGV[i], 'count'); i = i + 1
if redis.call('EXISTS', KEYS[6]) == 0 then
  for _ = 1, nb do redis.call('SADD', KEYS[5], ARGV[i]); i = i + 1 end
  redis.call('SET', KEYS[6], '1')
end
return 1
"#
);

/// KEYS sent (one connector's); ARGV member suffix, now → how many in the last
/// day. One member per SMS scored by its time; older than a day removed.
pub const RECORD_SENT: &str = script!(
    r#"
local now = now_ms(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - 86400000)
redis.call('ZADD', KEYS[1], now, now .. ':' .. ARGV[1] .. ':' .. redis.call('ZCARD', KEYS[1]))
redis.call('PEXPIRE', KEYS[1], 90000000)
return redis.call('ZCARD', KEYS[1])
"#
);

/// KEYS sent; ARGV now → {in the last hour, in the last day}.
pub const SENT_COUNTS: &str = script!(
    r#"
local now = now_ms(ARGV[1])
local hour = #redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. (now - 3600000), '+inf')
local day = #redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. (now - 86400000), '+inf')
return {hour, day}
"#
);
