//! kill -9 at any moment of a login, hundreds of times over: every state file
//! is either the old or the new one, nothing is double-counted, a lock is never
//! lifted, a consumed backup code never comes back, and no temporary file
//! outlives the next write.

mod common;

use std::io::{Read, Write};
use std::process::Stdio;
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

/// One login that answers `answers` (one per prompt), killed with SIGKILL after
/// `kill_after` if it has not ended by then.
fn login_killed(s: &Setup, answers: &[String], kill_after: Duration) -> Seen {
    let mut cmd = s.client_command(USER, Stack::Probe, &[]);
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::null());
    let mut child = cmd.spawn().unwrap();
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
        let seen = login_killed(&s, &wrong, Duration::from_micros(20_000 + random.below(60_000)));
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
        let seen = login_killed(&s, std::slice::from_ref(&code), Duration::from_micros(20_000 + random.below(80_000)));
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
        login_killed(&s, &["000000".to_string()], Duration::from_micros(15_000 + random.below(60_000)));
    }
    assert!(status(&s).contains("locked: yes"), "still locked");
    assert_eq!(s.login(Stack::Probe, &[Reply::Code]).rc, PAM_AUTH_ERR);
}
