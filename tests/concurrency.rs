//! 240 logins in parallel processes over five users, mixing right and wrong
//! answers and one backup code shared by many: afterwards every counter equals
//! what was done, the shared backup code worked exactly once, and every state
//! file parses.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use common::*;

const LOGINS_PER_USER: usize = 48;
const WORKERS: usize = 8;

#[derive(Clone, Copy, Debug)]
enum Role {
    /// Always a wrong answer: each login counts one failure.
    Wrong,
    /// The right code for this login (found by its sequence tag).
    Right,
    /// The one backup code every login of this user tries.
    SharedBackup,
}

#[test]
fn parallel_logins_lose_no_update() {
    require!(Root, PamWrapper);
    let users = [("wally", Role::Wrong), ("wendy", Role::Wrong), ("rita", Role::Right), ("rob", Role::Right), ("bea", Role::SharedBackup)];
    let s = Setup::new(
        "[otp]\nmax_attempts = 1\nprompt = \"Code [{seq}]: \"\n\
         [limits]\nlockout_failures = 10000\nlockout_window = 3600\nmax_sends_per_hour = 1000\nresend_cooldown = 0\n",
    );
    // the SMS carries the tag the prompt shows, so each login finds its own code
    s.rewrite_config(&s.config_text().replace("Code {code} for {user}@{host}", "Code {code} for {user} [{seq}]"));
    let mut phones = String::new();
    for (i, (u, _)) in users.iter().enumerate() {
        phones.push_str(&format!("{u} +1555000{i:04}\n"));
    }
    std::fs::write(&s.phones, phones).unwrap();
    let backup = backup_codes(&s, "bea", 3).remove(0);

    let jobs: Vec<(&str, Role)> = (0..LOGINS_PER_USER).flat_map(|_| users.iter().copied()).collect();
    let jobs = Arc::new(Mutex::new(jobs));
    let results: Arc<Mutex<Vec<(String, i32)>>> = Arc::new(Mutex::new(Vec::new()));
    let setup = Arc::new(s);
    let mut workers = Vec::new();
    for _ in 0..WORKERS {
        let (jobs, results, setup, backup) = (jobs.clone(), results.clone(), setup.clone(), backup.clone());
        workers.push(std::thread::spawn(move || {
            loop {
                let Some((user, role)) = jobs.lock().unwrap().pop() else { break };
                let answer = match role {
                    Role::Wrong => text("000000"),
                    Role::SharedBackup => text(&backup),
                    Role::Right => Reply::TaggedCode,
                };
                let out = setup.login_as(user, Stack::Probe, &[answer], &[], |s| s.spool_texts());
                results.lock().unwrap().push((user.to_string(), out.rc));
            }
        }));
    }
    for w in workers {
        w.join().unwrap();
    }
    let s = Arc::try_unwrap(setup).ok().expect("setup");
    let results = results.lock().unwrap().clone();
    assert_eq!(results.len(), LOGINS_PER_USER * users.len());

    let mut by_user: HashMap<String, Vec<i32>> = HashMap::new();
    for (u, rc) in &results {
        by_user.entry(u.clone()).or_default().push(*rc);
    }
    let spool = s.spool_texts();
    for (user, role) in users {
        let state = s.state_json(user);
        let rcs = &by_user[user];
        let sms = spool.iter().filter(|t| t.contains(&format!(" for {user} "))).count();
        assert!(rcs.iter().all(|&rc| rc == PAM_SUCCESS || rc == PAM_MAXTRIES), "{user}: {rcs:?}");
        assert_eq!(sms, LOGINS_PER_USER, "{user}: one SMS per login");
        assert_eq!(state["sends"].as_array().unwrap().len(), LOGINS_PER_USER, "{user}: every send counted");
        match role {
            Role::Wrong => {
                assert!(rcs.iter().all(|&rc| rc == PAM_MAXTRIES), "{user}: {rcs:?}");
                assert_eq!(state["failures"].as_array().unwrap().len(), LOGINS_PER_USER, "{user}: a failure was lost");
            }
            Role::SharedBackup => {
                assert_eq!(
                    rcs.iter().filter(|&&rc| rc == PAM_SUCCESS).count(),
                    1,
                    "{user}: the shared backup code must work exactly once: {rcs:?}"
                );
                assert_eq!(state["backup_codes"].as_array().unwrap().len(), 2, "{user}: exactly one code consumed");
                // failures after the one success are still counted (a success clears earlier ones)
                let failures = state["failures"].as_array().unwrap().len();
                assert!(failures < LOGINS_PER_USER, "{user}: {failures}");
            }
            Role::Right => {
                let ok = rcs.iter().filter(|&&rc| rc == PAM_SUCCESS).count();
                // two concurrent logins of one user may show the same 2-letter tag; nearly all pass
                assert!(ok >= LOGINS_PER_USER * 9 / 10, "{user}: only {ok} of {LOGINS_PER_USER} right answers passed: {rcs:?}");
                assert!(rcs.iter().all(|&rc| rc == PAM_SUCCESS || rc == PAM_MAXTRIES), "{user}: {rcs:?}");
            }
        }
    }
    // no temp file left behind, every file in the directory is a user's state, lock or redo record
    for entry in std::fs::read_dir(&s.state).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        // (sent.counts: the per-connector SMS counts of `smsotp report`)
        assert!(
            name.ends_with(".json") || name.ends_with(".lock") || name.ends_with(".redo") || name == "sent.counts",
            "left over: {name}"
        );
    }
}

/// The load run of bench/load.sh (ignored in the suite): LOGINS logins from
/// CLIENTS parallel clients against one state directory, each client logging
/// in as its own user, right codes first, then wrong ones. Every right code is
/// accepted, every wrong one refused, each counter exact, no file left behind;
/// the login times' percentiles are printed for BENCHMARKS.md.
#[test]
#[ignore = "a load run for bench/load.sh"]
fn load_many_clients() {
    require!(Root, PamWrapper);
    let env = |k: &str, d: usize| std::env::var(k).ok().and_then(|v| v.parse().ok()).unwrap_or(d);
    let (clients, logins) = (env("SMSOTP_LOAD_CLIENTS", 50), env("SMSOTP_LOAD_LOGINS", 2000));
    let per_client = logins / clients;
    let s = Setup::new(
        "[otp]\nmax_attempts = 1\n[limits]\nlockout_failures = 10000\nlockout_window = 3600\nmax_sends_per_hour = 1000\nresend_cooldown = 0\n",
    );
    s.rewrite_config(&s.config_text().replace("Code {code} for {user}@{host}", "Code {code} for {user} ."));
    let phones: String = (0..clients).map(|c| format!("load{c} +1555200{c:04}\n")).collect();
    std::fs::write(&s.phones, phones).unwrap();
    let setup = Arc::new(s);
    let started = std::time::Instant::now();
    let workers: Vec<_> = (0..clients)
        .map(|c| {
            let setup = setup.clone();
            std::thread::spawn(move || {
                let user = format!("load{c}");
                let mut results = Vec::new();
                for i in 0..per_client {
                    let right = i < per_client / 2;
                    let texts = |s: &Setup| s.spool_texts().into_iter().filter(|t| t.contains(&format!(" for {user} ."))).collect();
                    let answer = if right { Reply::Code } else { text("000000") };
                    let out = setup.login_as(&user, Stack::Probe, &[answer], &[], texts);
                    results.push((right, out.rc, out.elapsed));
                }
                (user, results)
            })
        })
        .collect();
    let mut times = Vec::new();
    for w in workers {
        let (user, results) = w.join().unwrap();
        let state = setup.state_json(&user);
        for (right, rc, _) in &results {
            assert_eq!(*rc, if *right { PAM_SUCCESS } else { PAM_MAXTRIES }, "{user}");
        }
        assert_eq!(state["sends"].as_array().unwrap().len(), per_client, "{user}: every send counted");
        assert_eq!(state["failures"].as_array().unwrap().len(), per_client - per_client / 2, "{user}: every failure counted");
        times.extend(results.iter().map(|r| r.2));
    }
    let total = started.elapsed();
    let stray: Vec<_> = std::fs::read_dir(&setup.state)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !(n.ends_with(".json") || n.ends_with(".lock")))
        .collect();
    assert!(stray.is_empty(), "no file left behind: {stray:?}");
    times.sort();
    let pct = |p: usize| times[(times.len() * p / 100).min(times.len() - 1)].as_secs_f64() * 1000.0;
    eprintln!(
        "load logins={} clients={clients} wall_s={:.1} p50_ms={:.1} p90_ms={:.1} p99_ms={:.1} max_ms={:.1}",
        times.len(),
        total.as_secs_f64(),
        pct(50),
        pct(90),
        pct(99),
        times.last().unwrap().as_secs_f64() * 1000.0
    );
}
