//! The file backend of `Numbers`: one JSON file per user under `[state] dir`
//! ("<stem>.numbers.json"), changed under an flock on "<stem>.numbers.lock"
//! and replaced whole: temp file, fsync, rename, fsync of the directory. A
//! writer killed at any moment leaves the old file or the new one; its temp
//! file (one name per user, written only by the lock holder) is overwritten
//! by the next write.

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use std::cell::RefCell;
use std::rc::Rc;

use super::{RedisStore, StateDir, file_stem};
use crate::auth::{EnrolCode, Numbers, StoreError, StoredNumber, UserNumbers};
use crate::config::{Config, StateBackend};

const LOCK_WAIT: Duration = Duration::from_secs(10);
const MAX_BYTES: u64 = 64 * 1024;
const VERSION: u64 = 1;
const SUFFIX: &str = ".numbers.json";

/// The file: a version, then what `UserNumbers` holds (written out rather than
/// flattened: serde's flatten buffers every field and costs code in the module).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct OnDisk {
    version: u64,
    #[serde(default)]
    enrolled: Option<StoredNumber>,
    #[serde(default)]
    pinned: Option<StoredNumber>,
    #[serde(default)]
    enrol_code: Option<EnrolCode>,
}

impl OnDisk {
    fn of(numbers: &UserNumbers) -> OnDisk {
        OnDisk {
            version: VERSION,
            enrolled: numbers.enrolled.clone(),
            pinned: numbers.pinned.clone(),
            enrol_code: numbers.enrol_code.clone(),
        }
    }
}

/// Only the version, read first so that a newer format is told apart from a damaged file.
#[derive(Deserialize)]
struct VersionOnly {
    version: Option<u64>,
}

/// Users (unescaped from their file stems) and what each holds, or why it cannot be read.
pub type Listing = Vec<(String, Result<UserNumbers, String>)>;

pub struct FileNumbers {
    dir: PathBuf,
}

/// The flock, held as long as the file is open.
struct Held {
    _file: File,
}

impl FileNumbers {
    pub fn open(config: &Config) -> Result<FileNumbers, StoreError> {
        Self::at(&config.state.dir)
    }

    pub fn at(dir: &Path) -> Result<FileNumbers, StoreError> {
        // the same checks (root-owned, 0700-ish, no symlink) as the login state
        StateDir::open(dir)?;
        Ok(FileNumbers { dir: dir.to_path_buf() })
    }

    fn path(&self, user: &str, suffix: &str) -> PathBuf {
        self.dir.join(format!("{}{suffix}", file_stem(user)))
    }

    fn lock(&self, user: &str) -> Result<Held, StoreError> {
        let path = self.path(user, ".numbers.lock");
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK)
            .open(&path)
            .map_err(|e| io(&path, e))?;
        let started = Instant::now();
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(Held { _file: file }),
                Err(std::fs::TryLockError::WouldBlock) if started.elapsed() < LOCK_WAIT => std::thread::sleep(Duration::from_millis(5)),
                Err(std::fs::TryLockError::WouldBlock) => {
                    return Err(StoreError::Io(format!("{}: still locked after {LOCK_WAIT:?}", path.display())));
                }
                Err(std::fs::TryLockError::Error(e)) => return Err(io(&path, e)),
            }
        }
    }

    fn read(&self, user: &str, _held: &Held) -> Result<UserNumbers, StoreError> {
        let path = self.path(user, SUFFIX);
        let mut file = match OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK).open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(UserNumbers::default()),
            Err(e) => return Err(io(&path, e)),
        };
        let meta = file.metadata().map_err(|e| io(&path, e))?;
        if !meta.is_file() || meta.len() > MAX_BYTES {
            return Err(StoreError::Corrupt(format!("{} is not a numbers file", path.display())));
        }
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(|e| io(&path, e))?;
        decode(&bytes).map_err(|e| match e {
            Decode::Newer(version) => StoreError::NewerFormat { path: path.display().to_string(), version },
            Decode::Malformed(why) => StoreError::Corrupt(format!("{}: {why}", path.display())),
        })
    }

    fn write(&self, user: &str, numbers: &UserNumbers, _held: &Held) -> Result<(), StoreError> {
        let path = self.path(user, SUFFIX);
        let text = serde_json::to_vec(&OnDisk::of(numbers)).map_err(|e| StoreError::Io(e.to_string()))?;
        let temp = self.dir.join(format!(".{}.numbers.tmp", file_stem(user)));
        super::file::replace_file(&self.dir, &temp, &path, &text).map_err(|e| io(&path, e))
    }

    fn update<T>(&self, user: &str, change: impl FnOnce(&mut UserNumbers) -> T) -> Result<T, StoreError> {
        let held = self.lock(user)?;
        let before = self.read(user, &held)?;
        let mut after = before.clone();
        let out = change(&mut after);
        if after != before {
            self.write(user, &after, &held)?;
        }
        Ok(out)
    }

    /// Every user with a numbers file (by file stem, unescaped where it is
    /// plain) and what it holds; files that do not decode are listed as errors.
    pub fn list(&self) -> Result<Listing, StoreError> {
        let entries = std::fs::read_dir(&self.dir).map_err(|e| io(&self.dir, e))?;
        let mut out = Vec::new();
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(stem) = name.strip_suffix(SUFFIX) else { continue };
            if stem.starts_with('.') {
                continue;
            }
            let user = unescape(stem);
            let bytes = std::fs::read(entry.path()).map_err(|e| e.to_string());
            let numbers = bytes.and_then(|b| {
                decode(&b).map_err(|e| match e {
                    Decode::Newer(v) => format!("state format version {v}"),
                    Decode::Malformed(why) => why,
                })
            });
            out.push((user, numbers));
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }
}

/// The user name of a file stem ("u-" + escaped name); a hashed stem stays as it is.
pub(crate) fn unescape(stem: &str) -> String {
    let Some(escaped) = stem.strip_prefix("u-") else { return stem.to_string() };
    percent_encoding::percent_decode_str(escaped).decode_utf8_lossy().into_owned()
}

/// The decoder of a numbers file, for the fuzz target: what it holds, or why not.
#[cfg(feature = "fuzzing")]
pub fn decode_numbers(bytes: &[u8]) -> Result<UserNumbers, String> {
    decode(bytes).map_err(|e| match e {
        Decode::Newer(v) => format!("version {v}"),
        Decode::Malformed(why) => why,
    })
}

/// A numbers file's bytes for `numbers`, as a write makes them (for the fuzz target).
#[cfg(feature = "fuzzing")]
pub fn encode_numbers(numbers: &UserNumbers) -> Vec<u8> {
    serde_json::to_vec(&OnDisk::of(numbers)).unwrap_or_default()
}

enum Decode {
    Newer(u64),
    Malformed(String),
}

fn decode(bytes: &[u8]) -> Result<UserNumbers, Decode> {
    let version: VersionOnly = serde_json::from_slice(bytes).map_err(|e| Decode::Malformed(e.to_string()))?;
    match version.version {
        Some(VERSION) => {}
        Some(v) if v > VERSION => return Err(Decode::Newer(v)),
        _ => return Err(Decode::Malformed("no known version".into())),
    }
    let on_disk: OnDisk = serde_json::from_slice(bytes).map_err(|e| Decode::Malformed(e.to_string()))?;
    Ok(UserNumbers { enrolled: on_disk.enrolled, pinned: on_disk.pinned, enrol_code: on_disk.enrol_code })
}

fn io(path: &Path, e: std::io::Error) -> StoreError {
    StoreError::Io(format!("{}: {e}", path.display()))
}

impl Numbers for FileNumbers {
    fn numbers(&mut self, user: &str) -> Result<UserNumbers, StoreError> {
        let held = self.lock(user)?;
        self.read(user, &held)
    }

    fn set_enrolled(&mut self, user: &str, number: Option<&StoredNumber>) -> Result<(), StoreError> {
        self.update(user, |n| n.enrolled = number.cloned())
    }

    fn set_pinned(&mut self, user: &str, number: Option<&StoredNumber>) -> Result<(), StoreError> {
        self.update(user, |n| n.pinned = number.cloned())
    }

    fn set_enrol_code(&mut self, user: &str, code: Option<&EnrolCode>) -> Result<(), StoreError> {
        self.update(user, |n| n.enrol_code = code.cloned())
    }

    fn redeem_enrol_code(&mut self, user: &str, hash: &str, number: &StoredNumber) -> Result<bool, StoreError> {
        self.update(user, |n| {
            if n.enrol_code.as_ref().is_none_or(|c| c.hash != hash) {
                return false;
            }
            n.enrol_code = None;
            n.enrolled = Some(number.clone());
            n.pinned = Some(number.clone());
            true
        })
    }
}

/// A numbers store that could not be opened: every call says why.
pub struct FailedNumbers(pub StoreError);

impl Numbers for FailedNumbers {
    fn numbers(&mut self, _: &str) -> Result<UserNumbers, StoreError> {
        Err(self.0.clone())
    }
    fn set_enrolled(&mut self, _: &str, _: Option<&StoredNumber>) -> Result<(), StoreError> {
        Err(self.0.clone())
    }
    fn set_pinned(&mut self, _: &str, _: Option<&StoredNumber>) -> Result<(), StoreError> {
        Err(self.0.clone())
    }
    fn set_enrol_code(&mut self, _: &str, _: Option<&EnrolCode>) -> Result<(), StoreError> {
        Err(self.0.clone())
    }
    fn redeem_enrol_code(&mut self, _: &str, _: &str, _: &StoredNumber) -> Result<bool, StoreError> {
        Err(self.0.clone())
    }
}

/// One numbers store used by the login flow and the `enrolled` directory
/// together (one Redis connection, not two).
#[derive(Clone)]
pub struct SharedNumbers(Rc<RefCell<Box<dyn Numbers>>>);

impl SharedNumbers {
    pub fn new(numbers: Box<dyn Numbers>) -> SharedNumbers {
        SharedNumbers(Rc::new(RefCell::new(numbers)))
    }

    fn with<T>(&self, op: impl FnOnce(&mut dyn Numbers) -> Result<T, StoreError>) -> Result<T, StoreError> {
        match self.0.try_borrow_mut() {
            Ok(mut n) => op(n.as_mut()),
            Err(_) => Err(StoreError::Io("the numbers store is busy".into())),
        }
    }
}

impl Numbers for SharedNumbers {
    fn numbers(&mut self, user: &str) -> Result<UserNumbers, StoreError> {
        self.with(|n| n.numbers(user))
    }
    fn set_enrolled(&mut self, user: &str, number: Option<&StoredNumber>) -> Result<(), StoreError> {
        self.with(|n| n.set_enrolled(user, number))
    }
    fn set_pinned(&mut self, user: &str, number: Option<&StoredNumber>) -> Result<(), StoreError> {
        self.with(|n| n.set_pinned(user, number))
    }
    fn set_enrol_code(&mut self, user: &str, code: Option<&EnrolCode>) -> Result<(), StoreError> {
        self.with(|n| n.set_enrol_code(user, code))
    }
    fn redeem_enrol_code(&mut self, user: &str, hash: &str, number: &StoredNumber) -> Result<bool, StoreError> {
        self.with(|n| n.redeem_enrol_code(user, hash, number))
    }
}

/// The configured backend's numbers, as the module's user (Redis: contacted on first use).
pub fn open(config: &Config) -> Box<dyn Numbers> {
    match config.state.backend {
        StateBackend::File => match FileNumbers::open(config) {
            Ok(n) => Box::new(n),
            Err(e) => Box::new(FailedNumbers(e)),
        },
        StateBackend::Redis => Box::new(RedisStore::new(config)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::NumberVia;
    use std::os::unix::fs::PermissionsExt;

    pub(crate) fn dir() -> Option<(tempfile::TempDir, FileNumbers)> {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("SKIPPED: state::numbers tests: the state directory must be owned by root");
            return None;
        }
        let t = tempfile::tempdir().unwrap();
        std::fs::set_permissions(t.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        let n = FileNumbers::at(t.path()).unwrap();
        Some((t, n))
    }

    fn number(phone: &str) -> StoredNumber {
        StoredNumber { phone: phone.into(), at: 1, via: NumberVia::Admin, verified: true, by: "root".into() }
    }

    #[test]
    fn numbers_round_trip_and_are_kept_apart_per_user() {
        let Some((_t, mut n)) = dir() else { return };
        assert_eq!(n.numbers("alice").unwrap(), UserNumbers::default());
        n.set_enrolled("alice", Some(&number("+4915112345678"))).unwrap();
        n.set_pinned("alice", Some(&number("+4915100000000"))).unwrap();
        n.set_enrolled("alice.numbers", Some(&number("+4915199999999"))).unwrap();
        let a = n.numbers("alice").unwrap();
        assert_eq!(a.enrolled.unwrap().phone, "+4915112345678");
        assert_eq!(a.pinned.unwrap().phone, "+4915100000000");
        assert_eq!(n.numbers("alice.numbers").unwrap().enrolled.unwrap().phone, "+4915199999999");
        n.set_enrolled("alice", None).unwrap();
        assert!(n.numbers("alice").unwrap().enrolled.is_none());
        let users: Vec<String> = n.list().unwrap().into_iter().map(|(u, _)| u).collect();
        assert_eq!(users, ["alice", "alice.numbers"]);
    }

    #[test]
    fn an_enrolment_code_is_redeemed_once() {
        let Some((_t, mut n)) = dir() else { return };
        let code = EnrolCode { hash: "h1".into(), expires: 10, issued_at: 1, by: "root".into() };
        n.set_enrol_code("bob", Some(&code)).unwrap();
        assert!(!n.redeem_enrol_code("bob", "h2", &number("+4915112345678")).unwrap(), "another hash");
        assert!(n.numbers("bob").unwrap().enrolled.is_none());
        assert!(n.redeem_enrol_code("bob", "h1", &number("+4915112345678")).unwrap());
        assert!(!n.redeem_enrol_code("bob", "h1", &number("+4915100000000")).unwrap(), "used up");
        let b = n.numbers("bob").unwrap();
        assert_eq!((b.enrolled.unwrap().phone, b.pinned.unwrap().phone), ("+4915112345678".into(), "+4915112345678".into()));
        assert!(b.enrol_code.is_none());
    }

    #[test]
    fn garbage_newer_and_foreign_files_are_errors_not_empty() {
        let Some((t, mut n)) = dir() else { return };
        let path = t.path().join("u-carol.numbers.json");
        std::fs::write(&path, b"{\"version\":1,\"enrolled\":{\"phone\":1}}").unwrap();
        assert!(matches!(n.numbers("carol"), Err(StoreError::Corrupt(_))));
        assert!(n.set_pinned("carol", None).is_err(), "never overwritten blindly");
        std::fs::write(&path, b"{\"version\":9}").unwrap();
        assert!(matches!(n.numbers("carol"), Err(StoreError::NewerFormat { version: 9, .. })));
        std::fs::remove_file(&path).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", &path).unwrap();
        assert!(n.numbers("carol").is_err(), "no symlink followed");
        std::fs::remove_file(&path).unwrap();
        std::fs::write(&path, vec![b' '; 100_000]).unwrap();
        assert!(matches!(n.numbers("carol"), Err(StoreError::Corrupt(_))));
    }

    /// A writer killed at any point leaves the old file or the new one: this
    /// test binary, started again as a writer that loops, is SIGKILLed at
    /// moments spread over its writes, then the file is read.
    #[test]
    fn kill_9_during_writes_leaves_old_or_new() {
        if let Some(dir) = std::env::var_os("SMSOTP_NUMBERS_WRITER_DIR") {
            let mut n = FileNumbers::at(Path::new(&dir)).unwrap();
            for i in 0u64.. {
                let _ = n.set_enrolled("dave", Some(&number(&format!("+49151{:08}", i % 100_000_000))));
            }
        }
        let Some((t, mut n)) = dir() else { return };
        n.set_enrolled("dave", Some(&number("+4915100000000"))).unwrap();
        for round in 0..20u64 {
            let mut child = std::process::Command::new(std::env::current_exe().unwrap())
                .args(["--exact", "state::numbers::tests::kill_9_during_writes_leaves_old_or_new", "--nocapture"])
                .env("SMSOTP_NUMBERS_WRITER_DIR", t.path())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap();
            std::thread::sleep(Duration::from_millis(20 + round * 7));
            child.kill().unwrap();
            child.wait().unwrap();
            let got = n.numbers("dave").unwrap().enrolled.unwrap();
            assert!(got.phone().is_some(), "round {round}: {got:?}");
        }
        assert_ne!(n.numbers("dave").unwrap().enrolled.unwrap().phone, "+4915100000000", "the writers got to write");
        // a stray temp file is overwritten by the next write and renamed away
        n.set_enrolled("dave", Some(&number("+4915112345678"))).unwrap();
        assert_eq!(n.numbers("dave").unwrap().enrolled.unwrap().phone, "+4915112345678");
        assert!(!t.path().join(".u-dave.numbers.tmp").exists());
    }
}
