//! The Redis backend against a real redis-server (TLS, ACL user, AOF): the
//! record rules, replayed against both backends; logins through real libpam on
//! several "hosts" sharing one server; outages; no thread.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::redis::{
    ADMIN_PASSWORD, ADMIN_USER, MASTER_NAME, PAM_PASSWORD, PAM_USER, Redis, SENTINEL_CLIENT_PASSWORD, SENTINEL_CLIENT_USER, Sentinel,
};
use common::*;
use pam_smsotp::auth::{BackupUse, SendAllowance, Store};
use pam_smsotp::config::{Config, Secret, StateBackend};
use pam_smsotp::state::{FileStore, RedisStore, backup};

const T: u64 = 1_700_000_000;

fn at(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// A config with the limits of record.rs's tests, for `redis` (or the file backend).
fn rules_config(redis: Option<&Redis>, dir: &Path) -> Config {
    let mut text = format!(
        "[limits]\nmax_sends_per_hour = 3\nresend_cooldown = 30\nlockout_failures = 3\nlockout_window = 100\nlockout_duration = 500\n\
         max_sends_per_hour_total = 5\n[policy]\ngrace = 600\n[state]\ndir = \"{}\"\n",
        dir.join("state").display()
    );
    if let Some(r) = redis {
        text = text.replace("[state]\n", "[state]\nbackend = \"redis\"\n");
        text.push_str(&format!("[state.redis]\nurl = \"{}\"\nusername = \"{PAM_USER}\"\nca_file = \"{}\"\n", r.url(), r.pki.ca.display()));
    }
    let mut c = Config::parse(&text).unwrap();
    c.state.redis.password = Some(Secret::new(PAM_PASSWORD.into()));
    c
}

fn redis_store(r: &Redis, dir: &Path) -> RedisStore {
    let mut s = RedisStore::new(&rules_config(Some(r), dir));
    s.use_callers_clock();
    s
}

/// Add backup codes for `user` as an administrator would (the module's ACL user cannot).
fn add_codes_redis(r: &Redis, user: &str, codes: &[&str]) {
    for c in codes {
        let h = backup::hash(c).unwrap();
        r.cli(&["SADD", &format!("smsotp:{{u-{user}}}:backup"), &h]);
    }
}

/// The expectations of state/record.rs's tests, through the `Store` port;
/// users are fresh per rule. `add_codes` stores backup codes for a user.
fn the_rules(store: &mut dyn Store, add_codes: &dyn Fn(&str, &[&str])) {
    // failures inside the window lock for the duration
    let u = "r-lock";
    assert!(!store.record_failure(u, at(T)).unwrap());
    assert!(!store.record_failure(u, at(T + 50)).unwrap());
    assert!(store.record_failure(u, at(T + 99)).unwrap(), "the third failure within 100 s locks");
    assert_eq!(store.locked_until(u, at(T + 99)).unwrap(), Some(at(T + 599)));
    assert_eq!(store.locked_until(u, at(T + 598)).unwrap(), Some(at(T + 599)));
    assert_eq!(store.locked_until(u, at(T + 599)).unwrap(), None, "the lock lifts at the end of the duration");
    assert!(!store.record_failure(u, at(T + 599)).unwrap(), "counting starts over after a lock");

    // failures that fall out of the window do not count
    let u = "r-window";
    store.record_failure(u, at(T)).unwrap();
    store.record_failure(u, at(T + 1)).unwrap();
    assert!(!store.record_failure(u, at(T + 100)).unwrap());
    assert!(store.record_failure(u, at(T + 100)).unwrap());

    // a success resets the count, never lifts a lock, and a locked user gets nothing
    let u = "r-success";
    store.record_failure(u, at(T)).unwrap();
    store.record_failure(u, at(T)).unwrap();
    assert!(store.record_success(u, None, at(T + 1)).unwrap());
    assert!(!store.record_failure(u, at(T + 2)).unwrap());
    assert!(!store.record_failure(u, at(T + 2)).unwrap());
    assert!(store.record_failure(u, at(T + 2)).unwrap());
    assert!(!store.record_success(u, Some("x"), at(T + 3)).unwrap(), "refused while locked");
    assert!(!store.grace_active(u, "x", at(T + 4)).unwrap(), "no grace opened");
    assert_eq!(store.reserve_send(u, at(T + 3)).unwrap(), SendAllowance::Locked);
    assert!(store.record_failure(u, at(T + 4)).unwrap(), "a failure while locked says locked");
    assert_eq!(store.locked_until(u, at(T + 4)).unwrap(), Some(at(T + 502)), "and does not extend it");
    assert!(store.record_success(u, None, at(T + 502)).unwrap(), "after the lock, success as usual");

    // cooldown between two codes; a refused send is not recorded
    let u = "r-cool";
    assert_eq!(store.reserve_send(u, at(T)).unwrap(), SendAllowance::Allowed);
    assert_eq!(store.reserve_send(u, at(T + 1)).unwrap(), SendAllowance::Cooldown(29));
    assert_eq!(store.peek_send(u, at(T + 29)).unwrap(), SendAllowance::Cooldown(1));
    assert_eq!(store.reserve_send(u, at(T + 29)).unwrap(), SendAllowance::Cooldown(1));
    assert_eq!(store.peek_send(u, at(T + 30)).unwrap(), SendAllowance::Allowed);
    assert_eq!(store.reserve_send(u, at(T + 30)).unwrap(), SendAllowance::Allowed, "the peek recorded nothing");

    // the hourly cap is a sliding window (this user's sends also fill the total cap of 5)
    let u = "r-cap";
    for i in 0..3 {
        assert_eq!(store.reserve_send(u, at(T + i * 30)).unwrap(), SendAllowance::Allowed);
    }
    assert_eq!(store.reserve_send(u, at(T + 90)).unwrap(), SendAllowance::HourlyCap);
    assert_eq!(store.reserve_send(u, at(T + 3599)).unwrap(), SendAllowance::HourlyCap, "the first send is 3599 s old");
    // 2 + 3 sends in the last hour: the store's total is reached for everyone
    assert_eq!(store.reserve_send("r-other", at(T + 100)).unwrap(), SendAllowance::TotalCap);
    assert_eq!(store.reserve_send("r-other", at(T + 120)).unwrap(), SendAllowance::TotalCap, "a refused send is not counted");
    assert_eq!(store.reserve_send(u, at(T + 3600)).unwrap(), SendAllowance::Allowed, "the first send left the window");
    assert_eq!(store.reserve_send(u, at(T + 3630)).unwrap(), SendAllowance::Allowed);
    assert_eq!(store.reserve_send(u, at(T + 3660)).unwrap(), SendAllowance::Allowed);
    assert_eq!(store.reserve_send(u, at(T + 3690)).unwrap(), SendAllowance::HourlyCap);

    // grace per origin until it expires; the oldest origins are forgotten first
    let u = "r-grace";
    assert!(store.record_success(u, Some("192.0.2.1"), at(T)).unwrap());
    assert!(store.grace_active(u, "192.0.2.1", at(T + 599)).unwrap());
    assert!(!store.grace_active(u, "192.0.2.1", at(T + 600)).unwrap());
    assert!(!store.grace_active(u, "192.0.2.2", at(T + 1)).unwrap());
    for i in 0..40 {
        store.record_success(u, Some(&format!("10.0.0.{i}")), at(T + 20 + i)).unwrap();
    }
    assert!(store.grace_active(u, "10.0.0.39", at(T + 61)).unwrap());
    assert!(store.grace_active(u, "10.0.0.8", at(T + 61)).unwrap(), "32 origins are kept");
    assert!(!store.grace_active(u, "10.0.0.7", at(T + 61)).unwrap(), "the oldest origins are forgotten");

    // a backup code works once, never while locked, and is not consumed then
    let u = "r-backup";
    add_codes(u, &["abcd-efgh", "jkmn-pqrs"]);
    assert_eq!(store.use_backup_code(u, "ABCD EFGH", at(T)).unwrap(), BackupUse::Used { remaining: 1 });
    assert_eq!(store.use_backup_code(u, "abcd-efgh", at(T)).unwrap(), BackupUse::NoMatch, "used once already");
    assert_eq!(store.use_backup_code(u, "2222-2222", at(T)).unwrap(), BackupUse::NoMatch);
    assert_eq!(store.use_backup_code(u, "123456", at(T)).unwrap(), BackupUse::NoMatch);
    for _ in 0..3 {
        store.record_failure(u, at(T + 1)).unwrap();
    }
    assert_eq!(store.use_backup_code(u, "jkmn-pqrs", at(T + 2)).unwrap(), BackupUse::Locked);
    assert_eq!(store.use_backup_code(u, "jkmn-pqrs", at(T + 501)).unwrap(), BackupUse::Used { remaining: 0 }, "kept while locked");
}

#[test]
fn the_record_rules_hold_on_both_backends() {
    require!(Root, Redis);
    let r = Redis::start();
    let dir = test_dir();
    let config = rules_config(None, dir.path());
    let mut file = FileStore::open(&config).unwrap();
    let file_codes = |user: &str, codes: &[&str]| {
        let hashes: Vec<String> = codes.iter().map(|c| backup::hash(c).unwrap()).collect();
        FileStore::open(&config).unwrap().update(user, T, |s| s.backup_codes.extend(hashes)).unwrap();
    };
    the_rules(&mut file, &file_codes);
    let mut redis = redis_store(&r, dir.path());
    the_rules(&mut redis, &|user: &str, codes: &[&str]| add_codes_redis(&r, user, codes));
    // every key stayed under the prefix, one user's in one hash slot
    let keys = r.cli(&["--scan"]);
    assert!(!keys.trim().is_empty());
    for k in keys.lines() {
        assert!(k.starts_with("smsotp:{u-r-") || k == "smsotp:{total}:sends", "{k}");
    }
}

/// A lock or grace stored beyond its configured length (a server clock stepped
/// back, or a hostile writer) is cut to it; a value that is no number is a
/// failure, never "not locked".
#[test]
fn stored_times_never_lengthen_anything_and_garbage_fails() {
    require!(Root, Redis);
    let r = Redis::start();
    let dir = test_dir();
    let mut store = redis_store(&r, dir.path());
    r.cli(&["SET", "smsotp:{u-far}:lock", "99999999999999999"]);
    assert_eq!(store.locked_until("far", at(T)).unwrap(), Some(at(T + 500)));
    assert_eq!(store.locked_until("far", at(T + 500)).unwrap(), None, "written back as now + duration");
    r.cli(&["ZADD", "smsotp:{u-far}:grace", "99999999999999999", "o"]);
    assert!(store.grace_active("far", "o", at(T)).unwrap(), "first seen at T: cut to T + 600");
    assert!(store.grace_active("far", "o", at(T + 599)).unwrap());
    assert!(!store.grace_active("far", "o", at(T + 600)).unwrap());
    r.cli(&["ZADD", "smsotp:{u-ahead}:sends", "99999999999999999", "n"]);
    assert_eq!(store.reserve_send("ahead", at(T)).unwrap(), SendAllowance::Cooldown(30));
    assert_eq!(store.reserve_send("ahead", at(T + 30)).unwrap(), SendAllowance::Allowed, "a future send counts as now");
    r.cli(&["ZADD", "smsotp:{u-ahead}:fail", "99999999999999999", "a", "99999999999999998", "b"]);
    assert!(store.record_failure("ahead", at(T + 40)).unwrap(), "two stored failures and this one lock");
    assert_eq!(store.locked_until("ahead", at(T + 40)).unwrap(), Some(at(T + 540)));
    r.cli(&["SET", "smsotp:{u-junk}:lock", "not a time"]);
    assert!(store.locked_until("junk", at(T)).is_err());
    assert!(store.record_failure("anyone", at(T)).is_err(), "the store stays failed for the rest of the login");
}

/// The module's ACL user reaches only its prefix and cannot mint backup codes.
#[test]
fn the_module_user_is_limited_to_its_prefix_and_commands() {
    require!(Root, Redis);
    let r = Redis::start();
    let as_pam = |args: &[&str]| {
        let out = std::process::Command::new("/usr/bin/redis-cli")
            .args(["-h", "127.0.0.1", "-p", &r.port.to_string(), "--user", PAM_USER, "--pass", PAM_PASSWORD, "--no-auth-warning"])
            .args(args)
            .env_clear()
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(as_pam(&["SADD", "smsotp:{u-alice}:backup", "x"]).contains("NOPERM"));
    assert!(as_pam(&["GET", "other:key"]).contains("NOPERM"));
    assert!(as_pam(&["EVAL", "return 1", "0"]).contains("NOPERM"));
    assert!(as_pam(&["FLUSHALL"]).contains("NOPERM"));
    assert!(as_pam(&["KEYS", "*"]).contains("NOPERM"));
    assert!(!as_pam(&["ZCARD", "smsotp:{u-alice}:fail"]).contains("NOPERM"));
    let _ = (ADMIN_USER, ADMIN_PASSWORD);
}

#[test]
fn many_concurrent_consumers_of_one_backup_code_succeed_once() {
    require!(Root, Redis);
    let r = Redis::start();
    let dir = test_dir();
    add_codes_redis(&r, "racer", &["abcd-efgh"]);
    let wins = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..40 {
            scope.spawn(|| {
                let mut s = RedisStore::new(&rules_config(Some(&r), dir.path()));
                match s.use_backup_code("racer", "abcd-efgh", at(T)).unwrap() {
                    BackupUse::Used { remaining: 0 } => {
                        wins.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                    BackupUse::NoMatch => {}
                    other => panic!("{other:?}"),
                }
            });
        }
    });
    assert_eq!(wins.into_inner(), 1);
}

// ---------------------------------------------------------------------------
// Logins through real libpam

/// One simulated host: its own config, spool and state dir, the shared Redis.
fn host(r: &Redis, extra: &str, on_failure: &str, redis_extra: &str) -> Setup {
    let s = Setup::new(extra);
    let phones = std::fs::read_to_string(&s.phones).unwrap();
    write_private(&s.phones, &format!("{phones}dave +15557654321\n"));
    let section = r.section(s.dir.path(), redis_extra);
    let text = s.config_text().replace("[state]\n", &format!("[state]\nbackend = \"redis\"\non_failure = \"{on_failure}\"\n"));
    s.rewrite_config(&format!("{text}\n{section}"));
    let parsed = Config::load(&s.config).unwrap();
    assert_eq!(parsed.state.backend, StateBackend::Redis);
    s
}

const LOCK_LIMITS: &str = "[otp]\nmax_attempts = 1\n[limits]\nlockout_failures = 4\nlockout_window = 600\nlockout_duration = 600\nresend_cooldown = 0\nmax_sends_per_hour = 100\n";

#[test]
fn failures_on_two_hosts_lock_the_user_on_both() {
    require!(Root, PamWrapper, Redis);
    let r = Redis::start();
    let (a, b) = (host(&r, LOCK_LIMITS, "unavailable", ""), host(&r, LOCK_LIMITS, "unavailable", ""));
    for h in [&a, &b, &a] {
        let out = h.login(Stack::Probe, &[text("000000")]);
        assert_eq!(out.rc, PAM_MAXTRIES, "{out:?}");
    }
    let out = b.login(Stack::Probe, &[text("000000")]);
    assert_eq!(out.rc, PAM_AUTH_ERR, "the fourth failure, on b, locks: {out:?}");
    let sent = a.spool_texts().len();
    let out = a.login(Stack::Probe, &[Reply::Code]);
    assert_eq!(out.rc, PAM_AUTH_ERR, "locked on a too: {out:?}");
    assert_eq!(a.spool_texts().len(), sent, "no SMS while locked");
    assert!(!a.state.join("u-alice.json").exists() && !b.state.join("u-alice.json").exists(), "nothing in the local files");
    assert!(r.cli(&["PTTL", "smsotp:{u-alice}:lock"]).trim().parse::<i64>().unwrap() > 590_000);
    assert_no_secrets(&format!("{}{}", out.log, r.log()), &[], &[PAM_PASSWORD]);
}

#[test]
fn the_hourly_caps_count_every_host() {
    require!(Root, PamWrapper, Redis);
    let r = Redis::start();
    let limits = "[limits]\nresend_cooldown = 0\nmax_sends_per_hour = 3\nmax_sends_per_hour_total = 5\n";
    let (a, b) = (host(&r, limits, "unavailable", ""), host(&r, limits, "unavailable", ""));
    for h in [&a, &b, &a] {
        assert_eq!(h.login(Stack::Probe, &[Reply::Code]).rc, PAM_SUCCESS);
    }
    let out = b.login(Stack::Probe, &[Reply::Code]);
    assert_ne!(out.rc, PAM_SUCCESS, "alice's fourth SMS in the hour, on b: {out:?}");
    assert_eq!(a.spool_texts().len() + b.spool_texts().len(), 3);
    // bob: two more SMS reach the fleet's total of 5
    for h in [&b, &a] {
        assert_eq!(h.login_as("bob", Stack::Probe, &[Reply::Code], &[], |s| s.spool_texts()).rc, PAM_SUCCESS);
    }
    let out = b.login_as("dave", Stack::Probe, &[Reply::Code], &[], |s| s.spool_texts());
    assert_ne!(out.rc, PAM_SUCCESS);
    assert!(out.log.contains("total of 5 SMS per hour"), "{}", out.log);
    assert_eq!(a.spool_texts().len() + b.spool_texts().len(), 5);
}

#[test]
fn a_backup_code_used_on_one_host_is_refused_on_every_other() {
    require!(Root, PamWrapper, Redis);
    let r = Redis::start();
    let (a, b) = (host(&r, "", "unavailable", ""), host(&r, "", "unavailable", ""));
    add_codes_redis(&r, USER, &["abcd-efgh", "jkmn-pqrs"]);
    let out = a.login(Stack::PasswordThenSms, &[Reply::Password, text("abcd-efgh")]);
    assert_eq!(out.rc, PAM_SUCCESS, "{out:?}");
    let out = b.login(Stack::Probe, &[text("abcd-efgh"), text("abcd-efgh"), text("abcd-efgh")]);
    assert_eq!(out.rc, PAM_MAXTRIES, "used on a already: {out:?}");
    assert_eq!(b.login(Stack::Probe, &[text("jkmn-pqrs")]).rc, PAM_SUCCESS);
    assert_eq!(r.cli(&["SCARD", "smsotp:{u-alice}:backup"]).trim(), "0");
}

#[test]
fn grace_on_one_host_does_not_open_another_origin() {
    require!(Root, PamWrapper, Redis);
    let r = Redis::start();
    let extra = "[policy]\ngrace = 600\n";
    let (a, b) = (host(&r, extra, "unavailable", ""), host(&r, extra, "unavailable", ""));
    let out = a.login_as(USER, Stack::Probe, &[Reply::Code], &["--rhost", "192.0.2.7"], |s| s.spool_texts());
    assert_eq!(out.rc, PAM_SUCCESS, "{out:?}");
    let out = b.login_as(USER, Stack::Probe, &[], &["--rhost", "192.0.2.7"], |s| s.spool_texts());
    assert_eq!(out.rc, IGNORED, "the same origin is in grace on b too: {out:?}");
    let out = b.login_as(USER, Stack::Probe, &[Reply::Code], &["--rhost", "192.0.2.8"], |s| s.spool_texts());
    assert_eq!(out.rc, PAM_SUCCESS, "another origin is asked: {out:?}");
    assert_eq!(out.prompts().len(), 1);
}

/// 400 logins at once over 4 hosts, each host a process tree with a host name
/// of its own (a UTS namespace): alice's logins all answer with her one backup
/// code, bob's all answer wrong, and each worker's own user answers with the
/// right code. Exactly one of alice's gets in, every right code is accepted,
/// and every failure and every SMS is counted once, none lost between hosts.
#[test]
fn parallel_logins_over_four_hosts_use_one_backup_code_once() {
    require!(Root, PamWrapper, Redis, Programs(&["unshare", "hostname"]));
    let r = Redis::start();
    let config = "[otp]\nmax_attempts = 1\n[limits]\nlockout_failures = 1000\nresend_cooldown = 0\nmax_sends_per_hour = 1000\n";
    const WORKERS: usize = 16;
    let hosts: Vec<Setup> = (0..4)
        .map(|n| {
            let mut h = host(&r, config, "unavailable", "timeout = 10\n");
            let phones = std::fs::read_to_string(&h.phones).unwrap();
            let own: String = (0..WORKERS).map(|w| format!("worker{w} +1555300{w:04}\n")).collect();
            write_private(&h.phones, &format!("{phones}{own}"));
            h.prefix = ["unshare", "--uts", "sh", "-c", &format!("hostname fleet-host{n} && exec \"$@\""), "sh"]
                .iter()
                .map(|a| a.to_string())
                .collect();
            h
        })
        .collect();
    add_codes_redis(&r, USER, &["abcd-efgh"]);
    let results = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for worker in 0..WORKERS {
            let (hosts, results) = (&hosts, &results);
            scope.spawn(move || {
                let own = format!("worker{worker}");
                for i in 0..25 {
                    let h = &hosts[(worker + i) % 4];
                    let out = match (worker + i) % 3 {
                        0 => h.login_as(USER, Stack::Probe, &[text("abcd-efgh")], &[], |s| s.spool_texts()),
                        1 => h.login_as("bob", Stack::Probe, &[text("000000")], &[], |s| s.spool_texts()),
                        _ => h.login_as(&own, Stack::Probe, &[Reply::Code], &[], |s| {
                            s.spool_texts().into_iter().filter(|t| t.contains(&format!(" for {own}@"))).collect()
                        }),
                    };
                    let who = match (worker + i) % 3 {
                        0 => "alice",
                        1 => "bob",
                        _ => "own",
                    };
                    results.lock().unwrap().push((who, out.rc));
                }
            });
        }
    });
    let results = results.into_inner().unwrap();
    assert_eq!(results.len(), 400);
    let of = |who: &str| -> Vec<i32> { results.iter().filter(|(u, _)| *u == who).map(|(_, rc)| *rc).collect() };
    let (alice, bob, own) = (of("alice"), of("bob"), of("own"));
    assert_eq!(alice.iter().filter(|&&rc| rc == PAM_SUCCESS).count(), 1, "{alice:?}");
    assert!(alice.iter().all(|&rc| rc == PAM_SUCCESS || rc == PAM_MAXTRIES), "{alice:?}");
    assert!(bob.iter().all(|&rc| rc == PAM_MAXTRIES), "{bob:?}");
    assert!(own.iter().all(|&rc| rc == PAM_SUCCESS), "every right code is accepted: {own:?}");
    assert_eq!(r.cli(&["ZCARD", "smsotp:{u-bob}:fail"]).trim(), bob.len().to_string(), "every wrong answer counted");
    assert_eq!(r.cli(&["ZCARD", "smsotp:{u-bob}:sends"]).trim(), bob.len().to_string(), "every SMS reserved");
    let texts: Vec<String> = hosts.iter().flat_map(|h| h.spool_texts()).collect();
    assert_eq!(texts.len(), results.len(), "one SMS per login, counted once");
    for (n, h) in hosts.iter().enumerate() {
        assert!(h.spool_texts().iter().all(|t| t.contains(&format!("@fleet-host{n}"))), "each host has its own name");
    }
}

// ---------------------------------------------------------------------------
// Outages: each gives the configured on_failure within the timeout

fn assert_unavailable_within(h: &Setup, limit: Duration, why: &str) -> Outcome {
    let sent = h.spool_texts().len();
    let started = Instant::now();
    let out = h.login(Stack::Probe, &[Reply::Code]);
    assert_eq!(out.rc, PAM_AUTHINFO_UNAVAIL, "{why}: {out:?}");
    assert!(started.elapsed() < limit, "{why}: took {:?}", started.elapsed());
    assert_eq!(h.spool_texts().len(), sent, "{why}: no SMS without the store");
    out
}

#[test]
fn a_stopped_or_frozen_server_is_on_failure_within_the_timeout() {
    require!(Root, PamWrapper, Redis);
    let mut r = Redis::start();
    let h = host(&r, "", "unavailable", "timeout = 1\n");
    r.signal("STOP");
    let out = assert_unavailable_within(&h, Duration::from_secs(4), "frozen");
    assert!(out.log.contains("timed out"), "{}", out.log);
    r.signal("CONT");
    assert_eq!(h.login(Stack::Probe, &[Reply::Code]).rc, PAM_SUCCESS, "back");
    r.stop();
    let out = assert_unavailable_within(&h, Duration::from_secs(3), "stopped");
    assert!(out.log.contains("unreachable"), "{}", out.log);
    let deny = host(&r, "", "deny", "timeout = 1\n");
    assert_eq!(deny.login(Stack::Probe, &[Reply::Code]).rc, PAM_AUTH_ERR);
}

#[test]
fn a_wrong_password_an_untrusted_certificate_or_a_replica_is_refused() {
    require!(Root, PamWrapper, Redis);
    let r = Redis::start();
    let wrong = host(&r, "", "unavailable", "");
    write_private(&wrong.dir.path().join("redis-password"), "not-the-password\n");
    let out = assert_unavailable_within(&wrong, Duration::from_secs(3), "wrong password");
    assert!(out.log.contains("refused the credentials"), "{}", out.log);
    assert_no_secrets(&out.log, &[], &["not-the-password", PAM_PASSWORD]);

    let untrusted = host(&r, "", "unavailable", "");
    let text = untrusted.config_text().replace(&r.pki.ca.display().to_string(), &r.pki.other_ca.display().to_string());
    untrusted.rewrite_config(&text);
    let out = assert_unavailable_within(&untrusted, Duration::from_secs(3), "untrusted certificate");
    assert!(out.log.contains("TLS"), "{}", out.log);

    let replica = Redis::replica_of(&r);
    let to_replica = host(&replica, "", "unavailable", "");
    let out = assert_unavailable_within(&to_replica, Duration::from_secs(3), "a replica");
    assert!(out.log.contains("is not a primary"), "{}", out.log);
}

/// degrade: an SMS code is still required, limits hold on this host, backup codes are refused.
#[test]
fn degrade_keeps_per_host_limits_and_refuses_backup_codes() {
    require!(Root, PamWrapper, Redis);
    let mut r = Redis::start();
    let h = host(&r, LOCK_LIMITS, "degrade", "timeout = 1\n");
    add_codes_redis(&r, USER, &["abcd-efgh"]);
    r.stop();
    let out = h.login(Stack::Probe, &[text("abcd-efgh")]);
    assert_ne!(out.rc, PAM_SUCCESS, "no backup code while degraded: {out:?}");
    assert!(out.log.contains("degrade"), "{}", out.log);
    let out = h.login(Stack::Probe, &[Reply::Code]);
    assert_eq!(out.rc, PAM_SUCCESS, "an SMS code still works: {out:?}");
    for _ in 0..4 {
        h.login(Stack::Probe, &[text("000000")]);
    }
    let out = h.login(Stack::Probe, &[Reply::Code]);
    assert_eq!(out.rc, PAM_AUTH_ERR, "locked on this host by its own files: {out:?}");
    assert!(h.state.join("u-alice.json").exists());
}

/// The connection (resolution, TLS, AUTH, scripts) stays on the calling thread,
/// and a hostile environment (SSL_CERT_FILE, REDIS_URL, proxies) changes nothing.
#[test]
fn a_redis_login_creates_no_thread_and_reads_no_environment() {
    require!(Root, PamWrapper, Redis, Programs(&["strace"]));
    let r = Redis::start();
    let mut h = host(&r, "", "unavailable", "");
    h.env = vec![
        ("SSL_CERT_FILE".into(), r.pki.other_ca.display().to_string()),
        ("SSL_CERT_DIR".into(), "/nonexistent".into()),
        ("REDIS_URL".into(), "redis://127.0.0.1:1".into()),
        ("ALL_PROXY".into(), "http://127.0.0.1:1".into()),
    ];
    let trace = h.path("clone.trace");
    h.prefix = vec![
        "/usr/bin/strace".into(),
        "-f".into(),
        "-qq".into(),
        "-e".into(),
        "trace=clone,clone3,fork,vfork,openat".into(),
        "-o".into(),
        trace.display().to_string(),
    ];
    let out = h.login(Stack::Probe, &[Reply::Code]);
    assert_eq!(out.rc, PAM_SUCCESS, "{out:?}");
    let calls = std::fs::read_to_string(&trace).unwrap();
    let syscall = |l: &str| l.split_whitespace().nth(1).and_then(|c| c.split('(').next()).unwrap_or("").to_string();
    let threads: Vec<&str> = calls.lines().filter(|l| ["clone", "clone3", "fork", "vfork"].contains(&syscall(l).as_str())).collect();
    assert!(threads.is_empty(), "the Redis backend created threads or processes:\n{}", threads.join("\n"));
    assert!(calls.contains(&r.pki.ca.display().to_string()), "our ca_file is read");
    assert!(!calls.contains(&r.pki.other_ca.display().to_string()), "SSL_CERT_FILE is not");
    assert!(!calls.contains("/etc/ssl/certs/\""), "no certificate directory is scanned");
}

// ---------------------------------------------------------------------------
// Sentinel: a primary and a replica over TLS, three sentinels

fn sentinel_cluster() -> (Redis, Redis, Vec<Sentinel>) {
    sentinel_cluster_with(false)
}

fn sentinel_cluster_with(acl: bool) -> (Redis, Redis, Vec<Sentinel>) {
    let primary = Redis::start_tls_primary();
    let replica = Redis::tls_replica_of(&primary);
    let sentinels: Vec<Sentinel> = (0..3).map(|_| Sentinel::start_with(&primary, acl)).collect();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !sentinels.iter().all(|s| s.log().contains("+slave ") && s.log().matches("+sentinel ").count() >= 2) {
        assert!(Instant::now() < deadline, "the sentinels did not find each other and the replica: {}", sentinels[0].log());
        std::thread::sleep(Duration::from_millis(100));
    }
    (primary, replica, sentinels)
}

/// A host that finds the primary through `sentinels` (listed in this order).
fn sentinel_host(primary: &Redis, sentinels: &[String], extra: &str, redis_extra: &str) -> Setup {
    let s = host(primary, extra, "unavailable", redis_extra);
    let list: Vec<String> = sentinels.iter().map(|u| format!("\"{u}\"")).collect();
    let text = s.config_text().replace(
        &format!("url = \"{}\"\n", primary.url()),
        &format!("sentinels = [{}]\nmaster_name = \"{MASTER_NAME}\"\n", list.join(", ")),
    );
    s.rewrite_config(&text);
    assert!(Config::load(&s.config).unwrap().state.redis.url.is_empty());
    s
}

#[test]
fn sentinels_find_the_primary_and_logins_continue_after_a_failover() {
    require!(Root, PamWrapper, Redis);
    let (primary, replica, sentinels) = sentinel_cluster();
    // the first sentinel is down: the next is asked
    let mut urls = vec![format!("rediss://127.0.0.1:{}", common::gateway::closed_port())];
    urls.extend(sentinels.iter().map(Sentinel::url));
    let h = sentinel_host(&primary, &urls, "[otp]\nmax_attempts = 1\n", "wait_replicas = 1\ntimeout = 1\n");
    add_codes_redis(&primary, USER, &["abcd-efgh", "jkmn-pqrs"]);
    let out = h.login(Stack::Probe, &[text("abcd-efgh")]);
    assert_eq!(out.rc, PAM_SUCCESS, "through the sentinels, WAIT acknowledged by the replica: {out:?}");
    assert_eq!(replica.cli(&["SCARD", "smsotp:{u-alice}:backup"]).trim(), "1", "the replica has the consumption");

    // killed, not shut down: no chance to hand over
    primary.signal("KILL");
    let started = Instant::now();
    let mut during = Vec::new();
    loop {
        let t = Instant::now();
        let out = h.login(Stack::Probe, &[Reply::Code]);
        assert!(t.elapsed() < Duration::from_secs(8), "a login during the failover took {:?}", t.elapsed());
        during.push(out.rc);
        if out.rc == PAM_SUCCESS {
            break;
        }
        assert_eq!(out.rc, PAM_AUTHINFO_UNAVAIL, "while no primary is known: {out:?}");
        assert!(started.elapsed() < Duration::from_secs(40), "no login after the failover: {during:?}\n{}", sentinels[1].log());
        std::thread::sleep(Duration::from_millis(300));
    }
    assert!(replica.cli(&["ROLE"]).starts_with("master"), "the replica was promoted");
    let out = h.login(Stack::Probe, &[text("abcd-efgh")]);
    assert_eq!(out.rc, PAM_MAXTRIES, "a backup code used before the failover stays used: {out:?}");
    // the new primary has no replica left: a backup code is consumed but not
    // accepted, since a second failover could bring it back
    let out = h.login(Stack::Probe, &[text("jkmn-pqrs")]);
    assert_eq!(out.rc, PAM_AUTHINFO_UNAVAIL, "{out:?}");
    assert!(out.log.contains("only 0 of 1 replicas acknowledged"), "{}", out.log);
    assert_eq!(replica.cli(&["SCARD", "smsotp:{u-alice}:backup"]).trim(), "0", "and it stays consumed");
}

#[test]
fn sentinels_that_do_not_know_the_name_or_are_down_are_on_failure() {
    require!(Root, PamWrapper, Redis);
    let (primary, _replica, sentinels) = sentinel_cluster();
    let urls: Vec<String> = sentinels.iter().map(Sentinel::url).collect();
    let h = sentinel_host(&primary, &urls, "", "");
    let text = h.config_text().replace(&format!("master_name = \"{MASTER_NAME}\""), "master_name = \"other\"");
    h.rewrite_config(&text);
    let out = assert_unavailable_within(&h, Duration::from_secs(4), "unknown master_name");
    assert!(out.log.contains("does not know master_name"), "{}", out.log);
    let down = vec![
        format!("rediss://127.0.0.1:{}", common::gateway::closed_port()),
        format!("rediss://127.0.0.1:{}", common::gateway::closed_port()),
    ];
    let h = sentinel_host(&primary, &down, "", "");
    assert_unavailable_within(&h, Duration::from_secs(3), "no sentinel");
}

#[test]
fn a_failed_over_primary_that_comes_back_is_never_written_to() {
    require!(Root, PamWrapper, Redis);
    let (primary, replica, sentinels) = sentinel_cluster();
    let urls: Vec<String> = sentinels.iter().map(Sentinel::url).collect();
    let h = sentinel_host(&primary, &urls, "[otp]\nmax_attempts = 1\n", "timeout = 1\n");
    // frozen (a partition, a stalled VM): the sentinels fail it over
    primary.signal("STOP");
    let started = Instant::now();
    while h.login(Stack::Probe, &[Reply::Code]).rc != PAM_SUCCESS {
        assert!(started.elapsed() < Duration::from_secs(40), "no failover: {}", sentinels[0].log());
        std::thread::sleep(Duration::from_millis(300));
    }
    // back with its old data, and for a while it still says it is the primary
    primary.signal("CONT");
    let fail_key = "smsotp:{u-alice}:fail";
    let before: u64 = replica.cli(&["ZCARD", fail_key]).trim().parse().unwrap_or(0);
    for _ in 0..5 {
        assert_eq!(h.login(Stack::Probe, &[text("000000")]).rc, PAM_MAXTRIES);
    }
    let after: u64 = replica.cli(&["ZCARD", fail_key]).trim().parse().unwrap();
    assert_eq!(after, before + 5, "every failure went to the promoted replica");
    assert_eq!(primary.cli(&["PING"]).trim(), "PONG", "the old primary was there to be taken");
    // scripts reach a replica as their effects (should the sentinels have
    // demoted it already): an EVALSHA counted here came from a client
    let stats = primary.cli(&["INFO", "commandstats"]);
    assert!(!stats.contains("cmdstat_evalsha"), "a login ran a script on the stale primary: {stats}");
}

#[test]
fn sentinels_that_require_credentials_answer_only_the_configured_user() {
    require!(Root, PamWrapper, Redis);
    let (primary, _replica, sentinels) = sentinel_cluster_with(true);
    let urls: Vec<String> = sentinels.iter().map(Sentinel::url).collect();
    let with = |password: &str| {
        let h = sentinel_host(&primary, &urls, "", "");
        let file = h.dir.path().join("sentinel-password");
        common::write_private(&file, &format!("{password}\n"));
        let text = h.config_text().replace(
            &format!("master_name = \"{MASTER_NAME}\"\n"),
            &format!(
                "master_name = \"{MASTER_NAME}\"\nsentinel_username = \"{SENTINEL_CLIENT_USER}\"\nsentinel_password_file = \"{}\"\n",
                file.display()
            ),
        );
        h.rewrite_config(&text);
        h
    };
    let h = with(SENTINEL_CLIENT_PASSWORD);
    assert_eq!(h.login(Stack::Probe, &[Reply::Code]).rc, PAM_SUCCESS, "the sentinel user finds the primary");
    let out = assert_unavailable_within(&with("not-the-password"), Duration::from_secs(4), "a wrong sentinel password");
    assert!(out.log.contains("refused the credentials"), "{}", out.log);
    assert!(!out.log.contains("not-the-password"), "no secret in the log: {}", out.log);
    let out = assert_unavailable_within(&sentinel_host(&primary, &urls, "", ""), Duration::from_secs(4), "no sentinel credentials");
    assert!(out.log.contains("NOAUTH"), "the sentinel's refusal is logged: {}", out.log);
}

// ---------------------------------------------------------------------------
// smsotp on the Redis backend

fn smsotp(s: &Setup, args: &[&str]) -> (i32, String) {
    let out = std::process::Command::new(smsotp_path()).arg("--config").arg(&s.config).args(args).env_clear().output().unwrap();
    (out.status.code().unwrap_or(-1), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

fn printed_codes(out: &str) -> Vec<String> {
    out.lines().filter_map(|l| l.trim().split_once(".  ")).map(|(_, c)| c.trim().to_string()).collect()
}

#[test]
fn smsotp_status_unlock_and_backup_codes_act_on_every_host() {
    require!(Root, PamWrapper, Redis);
    let r = Redis::start();
    let a = host(&r, LOCK_LIMITS, "unavailable", "");
    let b = host(&r, LOCK_LIMITS, "unavailable", "");
    b.rewrite_config(&format!("{}{}", b.config_text(), r.admin_lines(b.dir.path())));
    // the module's ACL user cannot mint codes: a without an admin user fails
    let (rc, out) = smsotp(&a, &["backup-codes", "generate", USER, "--count", "3"]);
    assert_eq!(rc, 1, "{out}");
    assert!(out.contains("can't run this command"), "{out}");
    let (rc, out) = smsotp(&b, &["backup-codes", "generate", USER, "--count", "3"]);
    assert_eq!(rc, 0, "{out}");
    let codes = printed_codes(&out);
    assert_eq!(codes.len(), 3, "{out}");
    assert_eq!(a.login(Stack::Probe, &[text(&codes[0])]).rc, PAM_SUCCESS, "made on b, used on a");
    let (rc, out) = smsotp(&a, &["backup-codes", "status", USER]);
    assert_eq!((rc, out.contains("2 backup codes left")), (0, true), "{out}");
    for h in [&a, &b, &a, &b] {
        h.login(Stack::Probe, &[text("000000")]);
    }
    let (rc, out) = smsotp(&b, &["status", USER]);
    assert_eq!(rc, 0, "{out}");
    assert!(out.contains("backend: redis (redis 127.0.0.1:"), "{out}");
    assert!(out.contains("locked: yes, for another 6"), "{out}");
    assert!(out.contains("codes sent in the last hour: 5 of 100"), "{out}");
    assert!(out.contains("backup codes left: 2"), "{out}");
    let (rc, out) = smsotp(&a, &["unlock", USER]);
    assert_eq!(rc, 0, "{out}");
    assert_eq!(b.login(Stack::Probe, &[Reply::Code]).rc, PAM_SUCCESS, "unlocked on a, so on b");
    assert_eq!(smsotp(&a, &["backup-codes", "revoke", USER]).0, 0);
    assert_eq!(b.login(Stack::Probe, &[text(&codes[1])]).rc, PAM_MAXTRIES, "revoked everywhere");
}

#[test]
fn smsotp_check_reports_the_server_and_runs_every_script() {
    require!(Root, PamWrapper, Redis);
    let r = Redis::start();
    let h = host(&r, "", "unavailable", "");
    let (rc, out) = smsotp(&h, &["check"]);
    assert_eq!(rc, 0, "{out}");
    assert!(out.contains("is a primary, version unknown"), "the module's user may not run INFO: {out}");
    assert!(out.contains("every script ran as the module's user"), "{out}");
    assert!(!out.contains(PAM_PASSWORD), "{out}");
    assert_eq!(r.cli(&["--scan"]).trim(), "", "the check keys are gone");
    // with a user that may run INFO, and a server that would evict
    let h = host(&r, "", "unavailable", "");
    let config = h.config_text().replace(&format!("username = \"{PAM_USER}\""), &format!("username = \"{}\"", common::redis::SMSOTP_ADMIN));
    h.rewrite_config(&config);
    write_private(&h.dir.path().join("redis-password"), &format!("{}\n", common::redis::SMSOTP_ADMIN_PASSWORD));
    r.cli(&["CONFIG", "SET", "maxmemory-policy", "allkeys-lru"]);
    let (rc, out) = smsotp(&h, &["check"]);
    assert_eq!(rc, 0, "{out}");
    assert!(out.contains("version 7.") || out.contains("version 8."), "{out}");
    assert!(out.contains("appendonly yes"), "{out}");
    assert!(out.contains("warning: redis maxmemory-policy allkeys-lru"), "{out}");
    // a replica fails the check
    let replica = Redis::replica_of(&r);
    let h = host(&replica, "", "unavailable", "");
    let (rc, out) = smsotp(&h, &["check"]);
    assert_eq!(rc, 1, "{out}");
    assert!(out.contains("is not a primary"), "{out}");
}

#[test]
fn state_migrate_copies_a_host_in_without_lowering_or_reviving_anything() {
    require!(Root, PamWrapper, Redis);
    let r = Redis::start();
    // a host on the file backend: failures, a lock for bob, backup codes for alice
    let h = Setup::new(LOCK_LIMITS);
    for _ in 0..4 {
        h.login_as("bob", Stack::Probe, &[text("000000")], &[], |s| s.spool_texts());
    }
    h.login(Stack::Probe, &[text("000000")]);
    let (rc, out) = smsotp(&h, &["backup-codes", "generate", USER, "--count", "2"]);
    assert_eq!(rc, 0, "{out}");
    let codes = printed_codes(&out);
    // the same host moves to Redis
    let admin = r.admin_lines(h.dir.path());
    let config = h.config_text().replace("[state]\n", "[state]\nbackend = \"redis\"\n");
    h.rewrite_config(&format!("{config}\n{}", r.section(h.dir.path(), &admin)));
    for round in 0..2 {
        let (rc, out) = smsotp(&h, &["state", "migrate"]);
        assert_eq!(rc, 0, "{out}");
        assert!(out.contains("2 users copied"), "{out}");
        assert_eq!(r.cli(&["ZCARD", "smsotp:{u-alice}:fail"]).trim(), "1", "round {round}: counted once");
        assert_eq!(r.cli(&["ZCARD", "smsotp:{u-alice}:sends"]).trim(), "1", "round {round}");
        assert_eq!(r.cli(&["SCARD", "smsotp:{u-alice}:backup"]).trim(), "2", "round {round}");
    }
    let out = h.login_as("bob", Stack::Probe, &[Reply::Code], &[], |s| s.spool_texts());
    assert_eq!(out.rc, PAM_AUTH_ERR, "bob's lock came along: {out:?}");
    assert_eq!(h.login(Stack::Probe, &[text(&codes[0])]).rc, PAM_SUCCESS);
    let (rc, out) = smsotp(&h, &["state", "migrate"]);
    assert_eq!(rc, 0, "{out}");
    assert_eq!(r.cli(&["SCARD", "smsotp:{u-alice}:backup"]).trim(), "1", "a used code never comes back");
    assert_eq!(h.login(Stack::Probe, &[text(&codes[0])]).rc, PAM_MAXTRIES);
}

// ---------------------------------------------------------------------------
// A hostile server: whatever it sends is a store failure within the timeout

/// A loopback listener that answers every connection's first read with `reply`
/// (then keeps the socket open for `hold`).
fn hostile_server(reply: Vec<u8>, hold: Duration) -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        if let Ok((mut stream, _)) = listener.accept() {
            let mut buf = [0u8; 1024];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(&reply);
            std::thread::sleep(hold);
        }
    });
    port
}

#[test]
fn hostile_replies_are_failures_never_panics_or_hangs() {
    let mut deep = Vec::new();
    for _ in 0..100 {
        deep.extend_from_slice(b"*1\r\n");
    }
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("a 4 GiB bulk string", b"$4294967296\r\n".to_vec()),
        ("an array of 2^62 elements", b"*4611686018427387904\r\n".to_vec()),
        ("deep nesting", deep),
        ("a line that never ends", vec![b'+'; 300 * 1024]),
        ("not RESP", b"HTTP/1.1 200 OK\r\n\r\n".to_vec()),
        ("a RESP3 map", b"%1\r\n+a\r\n+b\r\n".to_vec()),
        ("the wrong role shape", b"*1\r\n:1\r\n".to_vec()),
        ("a replica", b"*5\r\n$5\r\nslave\r\n$9\r\n127.0.0.1\r\n:6379\r\n$9\r\nconnected\r\n:1\r\n".to_vec()),
        ("silence", Vec::new()),
        ("a cut reply", b"$10\r\nabc".to_vec()),
    ];
    for (what, reply) in cases {
        let port = hostile_server(reply, Duration::from_secs(5));
        let config =
            Config::parse(&format!("[state]\nbackend = \"redis\"\n[state.redis]\nurl = \"redis://127.0.0.1:{port}\"\ntimeout = 1\n"))
                .unwrap();
        let mut store = RedisStore::new(&config);
        let started = Instant::now();
        let result = store.locked_until("alice", at(T));
        assert!(result.is_err(), "{what}: {result:?}");
        assert!(started.elapsed() < Duration::from_millis(1500), "{what}: took {:?}", started.elapsed());
        let message = format!("{:?}", result.unwrap_err());
        assert!(message.len() < 600 && !message.chars().any(|c| c.is_control()), "{what}: {message}");
    }
}

/// `wait_replicas`: a lock and a used backup code reach the replica before the
/// answer; a used code fewer replicas acknowledged is refused and stays used.
#[test]
fn wait_replicas_holds_locks_and_used_codes_until_replicated() {
    require!(Root, Redis);
    let r = Redis::start();
    let replica = Redis::replica_of(&r);
    let dir = test_dir();
    let mut config = rules_config(Some(&r), dir.path());
    config.state.redis.wait_replicas = 1;
    let mut store = RedisStore::new(&config);
    for _ in 0..2 {
        assert!(!store.record_failure("w", at(T)).unwrap());
    }
    assert!(store.record_failure("w", at(T)).unwrap());
    assert_ne!(replica.cli(&["GET", "smsotp:{u-w}:lock"]).trim(), "", "the lock is on the replica when the answer comes");
    add_codes_redis(&r, "w2", &["abcd-efgh", "jkmn-pqrs"]);
    assert_eq!(store.use_backup_code("w2", "abcd-efgh", at(T)).unwrap(), BackupUse::Used { remaining: 1 });
    assert_eq!(replica.cli(&["SCARD", "smsotp:{u-w2}:backup"]).trim(), "1");
    config.state.redis.wait_replicas = 2;
    let mut store = RedisStore::new(&config);
    let started = Instant::now();
    let refused = store.use_backup_code("w2", "jkmn-pqrs", at(T));
    assert!(format!("{refused:?}").contains("only 1 of 2 replicas"), "{refused:?}");
    assert!(started.elapsed() < Duration::from_secs(3), "WAIT is bounded by the timeout: {:?}", started.elapsed());
    assert_eq!(r.cli(&["SCARD", "smsotp:{u-w2}:backup"]).trim(), "0", "consumed all the same");
}

/// `smsotp report` on the shared store, filled by logins on two hosts: the
/// locked user, the user at the cap, backup codes running low, as the admin user.
#[test]
fn smsotp_report_reads_the_shared_store() {
    require!(Root, PamWrapper, Redis);
    let r = Redis::start();
    let limits = "[otp]\nmax_attempts = 1\n[limits]\nlockout_failures = 2\nlockout_window = 600\nlockout_duration = 600\nresend_cooldown = 0\nmax_sends_per_hour = 2\n";
    let a = host(&r, limits, "unavailable", "");
    let b = host(&r, limits, "unavailable", "");
    b.rewrite_config(&format!("{}{}", b.config_text(), r.admin_lines(b.dir.path())));
    // dave: one success on each host, at the cap of 2
    assert_eq!(a.login_as("dave", Stack::Probe, &[Reply::Code], &[], |s| s.spool_texts()).rc, PAM_SUCCESS);
    assert_eq!(b.login_as("dave", Stack::Probe, &[Reply::Code], &[], |s| s.spool_texts()).rc, PAM_SUCCESS);
    // alice: a wrong code on each host locks her; she had 3 backup codes, used one
    let (rc, out) = smsotp(&b, &["backup-codes", "generate", USER, "--count", "3"]);
    assert_eq!(rc, 0, "{out}");
    let codes = printed_codes(&out);
    assert_eq!(a.login(Stack::Probe, &[text(&codes[0])]).rc, PAM_SUCCESS);
    assert_eq!(smsotp(&b, &["backup-codes", "revoke", USER]).0, 0);
    a.login(Stack::Probe, &[text("000000")]);
    b.login(Stack::Probe, &[text("000000")]);

    let (rc, out) = smsotp(&b, &["report"]);
    assert_eq!(rc, 0, "{out}");
    assert!(out.contains("state: redis (redis 127.0.0.1:"), "{out}");
    assert!(out.contains("users locked now: 1\n  alice: for another 6"), "{out}");
    // alice's two logins sent an SMS each too
    assert!(
        out.contains("users at their send cap (2 SMS per hour): 2\n  alice: 2 SMS in the last hour\n  dave: 2 SMS in the last hour"),
        "{out}"
    );
    // revoked after codes were issued: none left is low too
    assert!(out.contains("backup codes running low (2 or fewer left): 1\n  alice: 0 left"), "{out}");
    // both hosts' spool connectors, counted in the shared store
    assert!(out.contains("SMS per connector (last hour / last 24 hours):\n  spool: 4 / 4\n"), "{out}");
    // the module's ACL user may not SCAN: a host without an admin user says so
    let (rc, out) = smsotp(&a, &["report"]);
    assert_eq!(rc, 1, "{out}");
}
