//! Starting a pam_wrapper client safely beside others.
//!
//! pam_wrapper (1.1.x) copies the test's service files into `/tmp/pam.X` when
//! the client starts, choosing X by lstat-then-mkdir and going on when mkdir
//! fails: two clients starting at once can end up in one directory and read
//! each other's service files, that is, each other's module configuration and
//! state directory (a kill storm in one test then counted logins of another).
//! So every client start, from any test of any test binary, takes one lock,
//! held until the client says it runs (pam_wrapper's constructor is done by
//! then: tests/support/pamclient.py appends a byte to the file
//! `PAMCLIENT_READY` first thing, under whatever uid it runs) or has ended.

use std::fs::OpenOptions;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::Once;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

/// Shared by every checkout and test binary on the machine: pam_wrapper's
/// directories are machine-wide too.
const LOCK: &str = "/tmp/.smsotp-tests.pam_wrapper.lock";
/// A directory left without a readable pid (its client was killed between
/// mkdir and writing the pid, or while removing the directory at exit) is
/// never cleaned by pam_wrapper, which gives up once all 62 names are taken.
const ABANDONED_AFTER: Duration = Duration::from_secs(600);
const START_WAIT: Duration = Duration::from_secs(10);

/// Spawn `cmd` (tests/support/pamclient.py under pam_wrapper, possibly behind
/// prefixes) once no other client is starting; returns when the client runs,
/// or has ended, or 10 s passed.
pub fn spawn(cmd: &mut Command) -> Child {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let ready = super::test_base().join(format!("pamclient-ready.{}.{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed)));
    std::fs::write(&ready, "").expect("the client's ready file");
    std::fs::set_permissions(&ready, std::fs::Permissions::from_mode(0o666)).expect("chmod the ready file");
    cmd.env("PAMCLIENT_READY", &ready);
    let lock = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        // the fixed name in /tmp must not follow a planted symlink
        .custom_flags(libc::O_NOFOLLOW)
        .open(LOCK)
        .expect("the pam_wrapper start lock");
    lock.lock().expect("flock the pam_wrapper start lock");
    static CLEAN: Once = Once::new();
    CLEAN.call_once(remove_abandoned_directories);
    let mut child = cmd.spawn().expect("start the pam_wrapper client");
    let started = Instant::now();
    let said_ready = || std::fs::metadata(&ready).is_ok_and(|m| m.len() > 0);
    while started.elapsed() < START_WAIT && !said_ready() && child.try_wait().ok().flatten().is_none() {
        std::thread::sleep(Duration::from_micros(300));
    }
    drop(lock);
    let _ = std::fs::remove_file(&ready);
    child
}

fn directories() -> impl Iterator<Item = PathBuf> {
    ('0'..='9').chain('A'..='Z').chain('a'..='z').map(|c| PathBuf::from(format!("/tmp/pam.{c}")))
}

fn remove_abandoned_directories() {
    for dir in directories() {
        if abandoned(&dir) {
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
}

fn abandoned(dir: &Path) -> bool {
    let Ok(meta) = std::fs::symlink_metadata(dir) else { return false };
    let old = meta.modified().ok().and_then(|m| SystemTime::now().duration_since(m).ok()).is_some_and(|age| age > ABANDONED_AFTER);
    let pid = std::fs::read_to_string(dir.join("pid")).ok().and_then(|p| p.trim().parse::<u32>().ok());
    meta.is_dir() && old && pid.is_none()
}
