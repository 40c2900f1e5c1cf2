//! State files under `[state].dir`: one JSON file per user, read and rewritten
//! under an flock on a separate lock file, never through a symlink.
//!
//! A user's first state file is created atomically (temp file, fsync, rename,
//! fsync of the directory). Every later write changes the file in place,
//! behind a redo record kept in the lock file: the new state goes to the lock
//! file and is fdatasynced before a byte of the state file changes, then the
//! state file is rewritten and fdatasynced, then the redo record is dropped. A
//! writer killed (or a machine stopped) anywhere in between leaves either the
//! old state and no valid redo record, or a valid redo record that the next
//! reader, under the same lock, writes through. So a write is durable once the
//! redo record is, and no write allocates an inode or changes the directory:
//! a rename-based rewrite costs an inode allocation and free per write, which
//! ext4 makes slow when inodes were freed recently (it skips them), and a
//! second flush (of the directory).

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, FileExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use super::StoreError;
use super::record::{self, DecodeError, UserState};

const LOCK_WAIT: Duration = Duration::from_secs(10);
const MAX_STATE_BYTES: u64 = 1024 * 1024;

pub struct StateDir {
    dir: PathBuf,
}

/// A held lock on one user's state; released when dropped (or if the process
/// dies). The lock file also holds the redo record of a write in progress.
pub struct UserLock {
    file: File,
}

/// The first line of a redo record: its length and SHA-256, so that a record
/// torn by a crash is never taken for a state.
const REDO_MAGIC: &str = "smsotp-redo 1";

impl StateDir {
    /// The directory, created 0700 if missing; refused unless it is a real
    /// directory owned by root and not writable by group or others.
    pub fn open(dir: &Path) -> Result<StateDir, StoreError> {
        let insecure = |why: String| StoreError::InsecureDirectory(dir.display().to_string(), why);
        if !dir.exists() {
            DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(|e| insecure(format!("cannot create it: {e}")))?;
        }
        let meta = std::fs::symlink_metadata(dir).map_err(|e| insecure(e.to_string()))?;
        if !meta.file_type().is_dir() {
            return Err(insecure("not a directory (a symlink is not accepted)".into()));
        }
        if meta.uid() != 0 {
            return Err(insecure(format!("owned by uid {}, not root", meta.uid())));
        }
        if meta.mode() & 0o022 != 0 {
            return Err(insecure(format!("mode {:04o} lets group or others write it", meta.mode() & 0o7777)));
        }
        Ok(StateDir { dir: dir.to_path_buf() })
    }

    fn path(&self, user: &str, suffix: &str) -> PathBuf {
        self.dir.join(format!("{}{suffix}", stem(user)))
    }

    /// Wait (up to 10 s) for the user's lock.
    pub fn lock(&self, user: &str) -> Result<UserLock, StoreError> {
        let path = self.path(user, ".lock");
        let open = |create: bool| {
            OpenOptions::new()
                .read(true)
                .write(true)
                .create(create)
                .truncate(false)
                .mode(0o600)
                .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
                .open(&path)
        };
        let file = match open(false) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let f = open(true).map_err(|e| io(&path, e))?;
                // a redo record must not vanish with the name of a new lock file
                self.sync_dir().map_err(|e| io(&path, e))?;
                f
            }
            Err(e) => return Err(io(&path, e)),
        };
        let started = Instant::now();
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(UserLock { file }),
                Err(std::fs::TryLockError::WouldBlock) if started.elapsed() < LOCK_WAIT => std::thread::sleep(Duration::from_millis(5)),
                Err(std::fs::TryLockError::WouldBlock) => {
                    return Err(StoreError::Io(format!("{}: still locked after {LOCK_WAIT:?}", path.display())));
                }
                Err(std::fs::TryLockError::Error(e)) => return Err(io(&path, e)),
            }
        }
    }

    /// The user's state (the default when there is none yet). A file that does
    /// not parse is an error, never an empty state. A redo record left by a
    /// writer that died is written through first.
    pub fn read(&self, user: &str, lock: &UserLock) -> Result<UserState, StoreError> {
        self.finish_interrupted_write(user, lock)?;
        let path = self.path(user, ".json");
        let mut file = match OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC).open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(UserState::default()),
            Err(e) => return Err(io(&path, e)),
        };
        let meta = file.metadata().map_err(|e| io(&path, e))?;
        if !meta.is_file() || meta.len() > MAX_STATE_BYTES {
            return Err(StoreError::Corrupt(format!("{} is not a state file", path.display())));
        }
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(|e| StoreError::Corrupt(format!("{}: {e}", path.display())))?;
        record::decode(&bytes).map_err(|e| match e {
            DecodeError::NewerVersion(version) => StoreError::NewerFormat { path: path.display().to_string(), version },
            DecodeError::Malformed(why) => StoreError::Corrupt(format!("{}: {why}", path.display())),
        })
    }

    /// The trustworthy backup codes of a state file that does not decode.
    pub fn salvage_backup_codes(&self, user: &str, _lock: &UserLock) -> Result<Vec<String>, StoreError> {
        let path = self.path(user, ".json");
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io(&path, e)),
        };
        record::salvage_backup_codes(&bytes).ok_or_else(|| StoreError::NewerFormat { path: path.display().to_string(), version: 0 })
    }

    /// Store the user's state durably: on return it survives a crash of the
    /// process or of the machine, and a crash before leaves the old state or
    /// the new one, never a mix.
    pub fn write(&self, user: &str, state: &UserState, lock: &UserLock) -> Result<(), StoreError> {
        let path = self.path(user, ".json");
        let text = serde_json::to_vec(state).map_err(|e| StoreError::Io(e.to_string()))?;
        // O_NONBLOCK: a FIFO in the file's place must not hang the login
        match OpenOptions::new().write(true).custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK).open(&path) {
            Ok(file) => {
                let meta = file.metadata().map_err(|e| io(&path, e))?;
                // in place only into a plain file of our own; anything else is replaced
                if meta.is_file() && meta.nlink() == 1 {
                    return self.write_in_place(&path, &file, meta.mode(), &text, lock);
                }
                self.replace(user, &path, &text)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => self.replace(user, &path, &text),
            // a symlink (ELOOP), a directory (EISDIR) or a FIFO (ENXIO) where the state should be
            Err(e) if matches!(e.raw_os_error(), Some(libc::ELOOP | libc::EISDIR | libc::ENXIO)) => self.replace(user, &path, &text),
            Err(e) => Err(io(&path, e)),
        }
    }

    /// The redo record, durable; then the state file; then the record dropped.
    fn write_in_place(&self, path: &Path, file: &File, mode: u32, text: &[u8], lock: &UserLock) -> Result<(), StoreError> {
        let lock_path = path.with_extension("lock");
        let mut record = format!("{REDO_MAGIC} {} {}\n", text.len(), hex_sha256(text)).into_bytes();
        record.extend_from_slice(text);
        put(&lock.file, &record).map_err(|e| io(&lock_path, e))?;
        let result = (|| {
            if mode & 0o7777 != 0o600 {
                file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
            }
            put(file, text)
        })();
        result.map_err(|e| io(path, e))?;
        // The state file is durable now. Should this truncation be lost, the
        // record still equals the file and the next reader just drops it.
        let _ = lock.file.set_len(0);
        Ok(())
    }

    /// Write a redo record left by a writer that died into the state file, or
    /// drop it when it is torn (that writer never touched the state file) or
    /// has no state file to go to (one removed by hand is not brought back).
    fn finish_interrupted_write(&self, user: &str, lock: &UserLock) -> Result<(), StoreError> {
        let lock_path = self.path(user, ".lock");
        let len = lock.file.metadata().map_err(|e| io(&lock_path, e))?.len();
        if len == 0 {
            return Ok(());
        }
        let mut record = vec![0; usize::try_from(len.min(MAX_STATE_BYTES + 200)).unwrap_or(0)];
        lock.file.read_exact_at(&mut record, 0).map_err(|e| io(&lock_path, e))?;
        if let Some(text) = redo_payload(&record) {
            let path = self.path(user, ".json");
            match OpenOptions::new().read(true).write(true).custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK).open(&path)
            {
                Ok(mut file) if file.metadata().is_ok_and(|m| m.is_file()) => {
                    let mut current = Vec::new();
                    file.read_to_end(&mut current).map_err(|e| io(&path, e))?;
                    if current != text {
                        put(&file, text).map_err(|e| io(&path, e))?;
                    }
                }
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io(&path, e)),
            }
        }
        lock.file.set_len(0).map_err(|e| io(&lock_path, e))
    }

    /// A user's first state file (or one that is not a plain file): a new
    /// file, fsynced, renamed into place, then the directory fsynced. The
    /// temporary file has one name per user: only the lock holder writes it,
    /// and one left by a killed writer is simply overwritten.
    fn replace(&self, user: &str, path: &Path, text: &[u8]) -> Result<(), StoreError> {
        let temp = self.dir.join(format!(".{}.tmp", stem(user)));
        let result = (|| {
            let mut f = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
                .open(&temp)?;
            // the caller's umask (0777 under a hostile sudo) must not decide the mode
            f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
            f.write_all(text)?;
            f.sync_all()?;
            std::fs::rename(&temp, path)?;
            self.sync_dir()
        })();
        if let Err(e) = result {
            let _ = std::fs::remove_file(&temp);
            return Err(io(path, e));
        }
        Ok(())
    }

    fn sync_dir(&self) -> std::io::Result<()> {
        File::open(&self.dir)?.sync_all()
    }
}

/// Make `file` hold exactly `bytes`, durably (data and size; not times).
fn put(file: &File, bytes: &[u8]) -> std::io::Result<()> {
    file.write_all_at(bytes, 0)?;
    file.set_len(bytes.len() as u64)?;
    file.sync_data()
}

/// The state a redo record carries, if the record is whole.
fn redo_payload(record: &[u8]) -> Option<&[u8]> {
    let newline = record.iter().position(|&b| b == b'\n')?;
    let header = std::str::from_utf8(&record[..newline]).ok()?;
    let rest = header.strip_prefix(REDO_MAGIC)?.strip_prefix(' ')?;
    let (len, digest) = rest.split_once(' ')?;
    let payload = &record[newline + 1..];
    (len.parse::<usize>().ok()? == payload.len() && hex_sha256(payload) == digest).then_some(payload)
}

fn hex_sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

fn io(path: &Path, e: std::io::Error) -> StoreError {
    StoreError::Io(format!("{}: {e}", path.display()))
}

/// The key of the store-wide record (the hourly count of every user's SMS): no
/// user name holds a NUL, and its file name "total" is no user's ("u-", "h-").
pub const TOTAL: &str = "\0total";

fn stem(key: &str) -> String {
    if key == TOTAL { "total".into() } else { file_stem(key) }
}

/// A file name for any user name: "u-" and the name with everything but
/// letters, digits, '_' and '-' percent-escaped (so no '/', no '..', no NUL);
/// names that would be long become "h-" and a SHA-256.
pub fn file_stem(user: &str) -> String {
    let mut escaped = String::with_capacity(user.len() + 2);
    escaped.push_str("u-");
    for b in user.bytes() {
        if b.is_ascii_alphanumeric() || b == b'_' || b == b'-' {
            escaped.push(b as char);
        } else {
            escaped.push_str(&format!("%{b:02X}"));
        }
    }
    if escaped.len() <= 120 {
        return escaped;
    }
    format!("h-{}", hex_sha256(user.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_maps_to_one_plain_file_name() {
        for (user, stem) in [
            ("alice", "u-alice"),
            ("j.doe@example.org", "u-j%2Edoe%40example%2Eorg"),
            ("../../etc/passwd", "u-%2E%2E%2F%2E%2E%2Fetc%2Fpasswd"),
            ("..", "u-%2E%2E"),
            ("a b", "u-a%20b"),
            ("DOMAIN\\bob", "u-DOMAIN%5Cbob"),
            ("élise", "u-%C3%A9lise"),
        ] {
            assert_eq!(file_stem(user), stem);
        }
        let long = file_stem(&"x".repeat(300));
        assert!(long.starts_with("h-") && long.len() == 66, "{long}");
        assert_ne!(file_stem(&"x".repeat(300)), file_stem(&"x".repeat(301)));
        for user in ["a/b", "..", "", "x\u{0}y", &"/".repeat(200)] {
            let stem = file_stem(user);
            assert!(!stem.contains('/') && !stem.contains('\0') && stem != ".." && stem.len() < 255, "{stem}");
        }
    }

    /// A state directory of its own (the checks want it owned by root).
    fn dir() -> Option<(tempfile::TempDir, StateDir)> {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("SKIPPED: state::file redo tests: the state directory must be owned by root");
            return None;
        }
        let t = tempfile::tempdir().unwrap();
        std::fs::set_permissions(t.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        let d = StateDir::open(t.path()).unwrap();
        Some((t, d))
    }

    fn state(failures: usize) -> UserState {
        UserState { failures: vec![1_700_000_000; failures], sends: vec![1_700_000_001], ..UserState::default() }
    }

    fn record_for(state: &UserState) -> Vec<u8> {
        let text = serde_json::to_vec(state).unwrap();
        let mut record = format!("{REDO_MAGIC} {} {}\n", text.len(), hex_sha256(&text)).into_bytes();
        record.extend_from_slice(&text);
        record
    }

    fn names(t: &tempfile::TempDir) -> Vec<String> {
        let mut n: Vec<String> = std::fs::read_dir(t.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        n.sort();
        n
    }

    #[test]
    fn rewrites_keep_the_inode_and_leave_no_record_or_temporary_file() {
        let Some((t, d)) = dir() else { return };
        let json = t.path().join("u-alice.json");
        {
            let lock = d.lock("alice").unwrap();
            d.write("alice", &state(1), &lock).unwrap();
        }
        let inode = std::fs::metadata(&json).unwrap().ino();
        for n in 2..6 {
            let lock = d.lock("alice").unwrap();
            d.write("alice", &state(n), &lock).unwrap();
            assert_eq!(d.read("alice", &lock).unwrap(), state(n));
        }
        assert_eq!(std::fs::metadata(&json).unwrap().ino(), inode, "written in place");
        assert_eq!(std::fs::metadata(t.path().join("u-alice.lock")).unwrap().len(), 0, "no redo record left");
        assert_eq!(names(&t), ["u-alice.json", "u-alice.lock"]);
        // shorter than before: no old tail left behind
        let lock = d.lock("alice").unwrap();
        d.write("alice", &UserState::default(), &lock).unwrap();
        assert_eq!(serde_json::from_slice::<UserState>(&std::fs::read(&json).unwrap()).unwrap(), UserState::default());
    }

    #[test]
    fn a_writer_killed_after_its_redo_record_is_finished_by_the_next_reader() {
        let Some((t, d)) = dir() else { return };
        let json = t.path().join("u-alice.json");
        let lock_path = t.path().join("u-alice.lock");
        let old = serde_json::to_vec(&state(1)).unwrap();
        let new = serde_json::to_vec(&state(7)).unwrap();
        // killed before the state file changed, while it was half written
        // (new bytes over an old tail), and before the record was dropped
        let torn: Vec<u8> = new[..new.len() / 2].iter().chain(&old[new.len() / 2..]).copied().collect();
        for json_bytes in [old.clone(), torn, new.clone()] {
            std::fs::write(&json, &json_bytes).unwrap();
            std::fs::write(&lock_path, record_for(&state(7))).unwrap();
            let lock = d.lock("alice").unwrap();
            assert_eq!(d.read("alice", &lock).unwrap(), state(7), "the recorded write is not lost");
            drop(lock);
            assert_eq!(std::fs::read(&json).unwrap(), new);
            assert_eq!(std::fs::metadata(&lock_path).unwrap().len(), 0);
        }
    }

    #[test]
    fn a_torn_or_foreign_redo_record_is_never_taken_for_a_state() {
        let Some((t, d)) = dir() else { return };
        let json = t.path().join("u-alice.json");
        let lock_path = t.path().join("u-alice.lock");
        let old = serde_json::to_vec(&state(1)).unwrap();
        let record = record_for(&state(7));
        let mut wrong_digest = record.clone();
        let last = wrong_digest.len() - 2;
        wrong_digest[last] ^= 1;
        for bad in [record[..record.len() - 1].to_vec(), record[..10].to_vec(), wrong_digest, b"garbage".to_vec()] {
            std::fs::write(&json, &old).unwrap();
            std::fs::write(&lock_path, &bad).unwrap();
            let lock = d.lock("alice").unwrap();
            assert_eq!(d.read("alice", &lock).unwrap(), state(1), "{}", String::from_utf8_lossy(&bad));
            assert_eq!(std::fs::metadata(&lock_path).unwrap().len(), 0);
        }
        // a state file removed by hand is not brought back by an old record
        std::fs::remove_file(&json).unwrap();
        std::fs::write(&lock_path, &record).unwrap();
        let lock = d.lock("alice").unwrap();
        assert_eq!(d.read("alice", &lock).unwrap(), UserState::default());
        assert!(!json.exists());
    }

    #[test]
    fn what_is_not_a_plain_file_of_ours_is_replaced_not_written_through() {
        let Some((t, d)) = dir() else { return };
        let json = t.path().join("u-alice.json");
        let elsewhere = t.path().join("elsewhere");
        std::fs::write(&elsewhere, b"keep").unwrap();
        std::fs::hard_link(&elsewhere, &json).unwrap();
        let lock = d.lock("alice").unwrap();
        d.write("alice", &state(2), &lock).unwrap();
        assert_eq!(std::fs::read(&elsewhere).unwrap(), b"keep", "a second link is not written through");
        assert_eq!(d.read("alice", &lock).unwrap(), state(2));
        std::fs::remove_file(&json).unwrap();
        std::os::unix::fs::symlink(&elsewhere, &json).unwrap();
        d.write("alice", &state(3), &lock).unwrap();
        assert_eq!(std::fs::read(&elsewhere).unwrap(), b"keep", "nor a symlink followed");
        assert_eq!(d.read("alice", &lock).unwrap(), state(3));
        std::fs::remove_file(&json).unwrap();
        nix::unistd::mkfifo(&json, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        d.write("alice", &state(4), &lock).unwrap();
        assert_eq!(d.read("alice", &lock).unwrap(), state(4), "a FIFO neither hangs nor stays");
        std::fs::set_permissions(&json, std::fs::Permissions::from_mode(0o644)).unwrap();
        d.write("alice", &state(5), &lock).unwrap();
        assert_eq!(std::fs::metadata(&json).unwrap().mode() & 0o7777, 0o600, "the mode is put back");
    }
}
