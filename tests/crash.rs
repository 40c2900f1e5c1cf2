//! kill -9 at any moment of a login, hundreds of times over: every state file
//! is either the old or the new one, nothing is double-counted, a lock is never
//! lifted, a consumed backup code never comes back, and no temporary file
//! outlives the next write.

mod common;

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::*;

/// A small xorshift, seeded from the clock (printed, so a failure can be replayed).
struct Random(u64);

impl Random {
    fn new() -> Random {
        let seed = std::env::var("SMSOTP_CRASH_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64 | 1);
        eprintln!("crash storm seed: SMSOTP_CRASH_SEED={seed}");
        Random(seed)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// What the client had shown when it ended or was killed.
#[derive(Default, Debug)]
struct Seen {
    prompts: usize,
    errors: Vec<String>,
    rc: Option<i64>,
}

/// One login that answers `answers` (one per prompt), killed with SIGKILL
/// `kill_after` after the client started running, if it has not ended by then.
fn login_killed(s: &Setup, answers: &[String], kill_after: Duration) -> Seen {
    let mut cmd = s.client_command(USER, Stack::Probe, &[]);
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::null());
    let mut child = common::wrapper::spawn(&mut cmd);
    let mut stdin = child.stdin.take().unwrap();
    for a in answers {
        writeln!(stdin, "{}", serde_json::json!({ "answer": a })).unwrap();
    }
    drop(stdin);
    let started = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if started.elapsed() >= kill_after {
            let _ = child.kill();
            let _ = child.wait();
            break;
        }
        std::thread::sleep(Duration::from_micros(500));
    }
    let mut out = String::new();
    let _ = child.stdout.take().unwrap().read_to_string(&mut out);
    let mut seen = Seen::default();
    for line in out.lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else { continue };
        match (v["style"].as_i64(), v["rc"].as_i64()) {
            (Some(1 | 2), _) => seen.prompts += 1,
            (Some(3), _) => seen.errors.push(v["msg"].as_str().unwrap_or("").to_string()),
            (_, Some(rc)) => seen.rc = Some(rc),
            _ => {}
        }
    }
    seen
}

fn status(s: &Setup) -> String {
    let (rc, text) = smsotp(s, &["status", USER]);
    assert_eq!(rc, 0, "every kill left a readable state: {text}");
    text
}

fn number_after(text: &str, label: &str) -> usize {
    text.lines()
        .find_map(|l| l.strip_prefix(label))
        .and_then(|r| r.trim().split(' ').next()?.parse().ok())
        .unwrap_or_else(|| panic!("{label}: {text}"))
}

fn temp_files(s: &Setup) -> Vec<String> {
    std::fs::read_dir(&s.state)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp"))
        .collect()
}

#[test]
fn a_kill_storm_neither_loses_nor_double_counts_anything() {
    require!(Root, PamWrapper);
    let mut random = Random::new();
    let s = Setup::new(
        "[otp]\nmax_attempts = 3\nmax_resends = 0\n[limits]\nlockout_failures = 10000\nlockout_window = 86400\n\
         resend_cooldown = 0\nmax_sends_per_hour = 1000\n",
    );
    let wrong: Vec<String> = ["000000", "000001", "000002"].iter().map(|s| s.to_string()).collect();

    // 1. failures and sends, counted from what each client saw before it died
    let (mut started, mut prompted, mut answered, mut told_wrong) = (0, 0, 0, 0);
    for _ in 0..150 {
        let seen = login_killed(&s, &wrong, Duration::from_micros(random.below(60_000)));
        started += 1;
        prompted += usize::from(seen.prompts > 0);
        answered += seen.prompts;
        told_wrong += seen.errors.iter().filter(|e| *e == "Wrong code." || *e == "Too many wrong codes.").count();
    }
    let st = status(&s);
    let failures = number_after(&st, "failures in the last 86400 s:");
    let sends = number_after(&st, "codes sent in the last hour:");
    assert!(told_wrong <= failures && failures <= answered, "{told_wrong} <= {failures} <= {answered}: {st}");
    assert!(prompted <= sends && sends <= started, "{prompted} <= {sends} <= {started}: {st}");
    assert!(told_wrong > 0 && prompted < started, "the storm both let logins finish and killed some before the prompt");

    // 2. backup codes: one consumed is never usable again, killed or not
    let codes = backup_codes(&s, USER, 12);
    assert_eq!(codes.len(), 12);
    let mut reported_used = Vec::new();
    for i in 0..120 {
        let code = codes[i % codes.len()].clone();
        let seen = login_killed(&s, std::slice::from_ref(&code), Duration::from_micros(random.below(80_000)));
        if seen.rc == Some(0) {
            assert!(!reported_used.contains(&code), "backup code {} accepted twice", i % codes.len());
            reported_used.push(code);
        }
    }
    let left = number_after(&status(&s), "backup codes left:");
    let mut usable = 0;
    for code in &codes {
        let out = s.login(Stack::Probe, &[text(code)]);
        if out.rc == PAM_SUCCESS {
            usable += 1;
            assert!(!reported_used.contains(code), "a code reported used worked again");
        }
    }
    assert_eq!(usable, left, "exactly the codes the file keeps still work");
    assert!(temp_files(&s).is_empty(), "the last writes left no temporary file: {:?}", temp_files(&s));

    // 3. a lock is never lifted by logins killed around it
    let s = Setup::new("[otp]\nmax_attempts = 1\n[limits]\nlockout_failures = 2\nlockout_duration = 900\nresend_cooldown = 0\n");
    for _ in 0..2 {
        s.login(Stack::Probe, &[text("000000")]);
    }
    assert!(status(&s).contains("locked: yes"));
    for _ in 0..60 {
        login_killed(&s, &["000000".to_string()], Duration::from_micros(random.below(60_000)));
    }
    assert!(status(&s).contains("locked: yes"), "still locked");
    assert_eq!(s.login(Stack::Probe, &[Reply::Code]).rc, PAM_AUTH_ERR);
}

/// The syscalls of a state write: the redo record (pwrite64, fdatasync) and the
/// in-place rewrite (pwrite64, ftruncate), a first state file (fsync, rename).
const WRITE_STEPS: [&str; 5] = ["pwrite64", "ftruncate", "fdatasync", "fsync", "rename"];

/// What `smsotp status` says about alice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Counts {
    failures: usize,
    sends: usize,
    locked: bool,
    backup_left: usize,
}

fn counts(s: &Setup) -> Counts {
    let st = status(s);
    Counts {
        failures: number_after(&st, "failures in the last 86400 s:"),
        sends: number_after(&st, "codes sent in the last hour:"),
        locked: st.contains("locked: yes"),
        backup_left: number_after(&st, "backup codes left:"),
    }
}

fn generate_backup_codes(s: &Setup, n: usize) -> Vec<String> {
    let out = Command::new(smsotp_path())
        .arg("--config")
        .arg(&s.config)
        .args(["backup-codes", "generate", USER, "--count", &n.to_string()])
        .env_clear()
        .output()
        .unwrap();
    let codes: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().split_once(".  "))
        .map(|(_, c)| c.trim().to_string())
        .collect();
    assert_eq!(codes.len(), n);
    codes
}

/// One login per (syscall of a write, n), killed by SIGKILL (strace's syscall
/// fault injection) as its n-th call of that syscall begins, until a login
/// gets past every call. `answers` gives each login's answers; `check` sees the
/// counts before and after each login and what the client saw. Returns the
/// number of logins killed.
fn kill_at_each_write_step(
    s: &mut Setup,
    mut answers: impl FnMut() -> Vec<String>,
    mut check: impl FnMut(&Setup, Counts, Counts, &Seen),
) -> usize {
    let mut killed = 0;
    for syscall in WRITE_STEPS {
        for n in 1.. {
            let before = counts(s);
            let sent_before = s.spool_texts().len();
            let trace = format!("trace={syscall}");
            let inject = format!("inject={syscall}:signal=KILL:when={n}");
            s.prefix = ["strace", "-f", "-qq", "-o", "/dev/null", "-e", &trace, "-e", &inject].map(String::from).to_vec();
            let seen = login_killed(s, &answers(), Duration::from_secs(30));
            s.prefix.clear();
            let after = counts(s);
            // what must survive was durable before the user saw what followed
            // (a login may send two: the code, and another after an empty answer)
            let went_out = s.spool_texts().len() - sent_before;
            let reserved = after.sends.saturating_sub(before.sends);
            assert!(went_out <= reserved && reserved <= went_out + 1, "{syscall} #{n}: {went_out} SMS went out, {reserved} reserved");
            assert!(after.sends >= before.sends, "{syscall} #{n}: a reserved send was lost");
            assert!(!before.locked || after.locked, "{syscall} #{n}: a lock was lifted");
            check(s, before, after, &seen);
            if seen.rc.is_some() {
                break;
            }
            killed += 1;
        }
    }
    assert!(temp_files(s).is_empty(), "no temporary file outlives the next write: {:?}", temp_files(s));
    killed
}

#[test]
fn a_kill_at_each_step_of_each_write_loses_nothing_that_must_survive() {
    require!(Root, PamWrapper, Programs(&["strace"]));
    let config = "[otp]\nmax_attempts = ATTEMPTS\nmax_resends = 0\n[limits]\nlockout_failures = LOCK\nlockout_window = 86400\n\
                  lockout_duration = 900\nresend_cooldown = 0\nmax_sends_per_hour = 1000\n";
    let wrong = || vec!["000000".to_string()];

    // 1. a reserved send and a counted failure: counted once or not at all, never undone
    let mut s = Setup::new(&config.replace("ATTEMPTS", "1").replace("LOCK", "10000"));
    s.login(Stack::Probe, &[text("000000")]);
    let killed = kill_at_each_write_step(&mut s, wrong, |_, before, after, seen| {
        assert!(after.sends <= before.sends + 1, "{before:?} -> {after:?}");
        assert!(after.failures == before.failures || after.failures == before.failures + 1, "{before:?} -> {after:?}");
        if seen.rc.is_some() {
            assert_eq!(after.failures, before.failures + 1, "the failure the user was told of is counted");
        }
    });
    // two writes a login, each two pwrite64s, an ftruncate and an fdatasync: 8
    assert!(killed >= 6, "the kills landed inside both writes of a login: {killed}");

    // 2. the failure that locks: a lock, once written, holds and refuses
    let mut s = Setup::new(&config.replace("ATTEMPTS", "1").replace("LOCK", "2"));
    let mut locks = 0;
    kill_at_each_write_step(&mut s, wrong, |s, before, after, seen| {
        if seen.rc.is_some() && before.failures == 1 {
            assert!(after.locked, "the user was told of the lock, so it holds");
        }
        if after.locked {
            locks += 1;
            assert_eq!(s.login(Stack::Probe, &[Reply::Code]).rc, PAM_AUTH_ERR, "locked means refused");
            let out = Command::new(smsotp_path()).arg("--config").arg(&s.config).args(["unlock", USER]).env_clear().output().unwrap();
            assert!(out.status.success());
        }
    });
    assert!(locks >= 2, "kills landed after the locking write: {locks}");

    // 3. a backup code after two wrong answers: consumption durable, the
    // success record (clearing those failures) allowed to be lost, nothing else
    let mut s = Setup::new(&config.replace("ATTEMPTS", "3").replace("LOCK", "10000"));
    let codes = generate_backup_codes(&s, 40);
    let next = std::cell::Cell::new(0);
    let mut lost_successes = 0;
    kill_at_each_write_step(
        &mut s,
        || vec!["000000".to_string(), "000001".to_string(), codes[next.get()].clone()],
        |s, before, after, seen| {
            assert!(!after.locked);
            let consumed = after.backup_left + 1 == before.backup_left;
            assert!(consumed || after.backup_left == before.backup_left, "{before:?} -> {after:?}");
            if seen.rc == Some(0) {
                assert!(consumed, "a code that logged in is consumed");
            }
            if consumed {
                assert_ne!(s.login(Stack::Probe, &[text(&codes[next.get()])]).rc, PAM_SUCCESS, "a consumed code works again");
                next.set(next.get() + 1);
                if after.failures == 0 {
                    return;
                }
                // the success record was lost: the two failures stay, no more and no fewer
                lost_successes += 1;
                assert_eq!(after.failures, before.failures + 2, "{before:?} -> {after:?}");
            } else {
                assert!(after.failures <= before.failures + 2, "{before:?} -> {after:?}");
            }
        },
    );
    assert!(next.get() >= 3, "codes were consumed under the kills: {}", next.get());
    assert!(lost_successes >= 1, "a kill landed between the consumption and the success record");
}
