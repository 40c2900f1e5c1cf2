//! State files under `[state].dir`: one JSON file per user, read and rewritten
//! under an flock on a separate lock file, never through a symlink.
//!
//! A user's first state file is created atomically (temp file, fsync, rename,
//! fsync of the directory). Every later write changes the file in place,
//! behind a redo record: the new state, with a sequence number and the state it
//! replaces, goes to the lock file or to `<stem>.redo` (whichever does not hold
//! the newest record), padded to whole pages so that its file keeps its size,
//! and is fdatasynced (the write is durable from then on: a flush of one data
//! page), then the state file is rewritten without a flush of its own, and the
//! record stays. A read under the lock checks the newest record against the
//! file by content (a digest only when they differ) and leaves what it saw to
//! the write that follows, which reads nothing again. A writer killed (or a machine
//! stopped) anywhere leaves its record torn (the state file was not touched
//! yet, and the previous record still stands for it) or whole; the next
//! reader, under the same lock, writes the newest whole record through when
//! the state file still holds the state it replaced or a torn write of it,
//! and drops the records when the file was changed since by another hand. One flush per write, no inode allocated and
//! no directory changed: a rename-based rewrite costs an inode allocation and
//! free per write, which ext4 makes slow when inodes were freed recently (it
//! skips them), and a second flush (of the directory).

use std::cell::RefCell;
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
    /// What the last read or write under this lock left: the newest redo
    /// record's sequence number and the state file's bytes, so that the write
    /// that follows a read reads neither again.
    seen: RefCell<Option<Seen>>,
}

struct Seen {
    /// 0 when no record stands.
    seq: u64,
    current: Vec<u8>,
}

/// The first line of a redo record: the payload's length and SHA-256 (so that
/// a record torn by a crash is never taken for a state), then the SHA-256 of
/// the state file it replaces. Version 1 records (the state file was flushed
/// before they were dropped; no digest of the old state) are still finished.
const REDO_MAGIC: &str = "smsotp-redo 2";
const REDO_MAGIC_V1: &str = "smsotp-redo 1";
/// Records alternate between the lock file (even sequence numbers) and
/// `<stem>.redo` (odd ones), so a new record never overwrites the newest whole
/// one, which may stand for a state file that is not flushed yet. Each is
/// written at offset 0: a caller's small RLIMIT_FSIZE (sudo's caller sets it)
/// must not make a write fail.
const REDO_SUFFIX: &str = ".redo";
/// Longest header line of a record.
const MAX_HEADER: usize = 256;

impl StateDir {
    /// The directory, created 0700 if missing; refused unless it is a real
    /// directory owned by root and not writable by group or others.
    pub fn open(dir: &Path) -> Result<StateDir, StoreError> {
        let insecure = |why: String| StoreError::InsecureDirectory(dir.display().to_string(), why);
        let meta = match std::fs::symlink_metadata(dir) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(|e| insecure(format!("cannot create it: {e}")))?;
                std::fs::symlink_metadata(dir)
            }
            other => other,
        };
        let meta = meta.map_err(|e| insecure(e.to_string()))?;
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
        // a redo record must not vanish with the name of a new lock file
        let file = match self.open_or_create(&path, 0, true) {
            Ok(Some(f)) => f,
            Ok(None) => return Err(io(&path, std::io::ErrorKind::NotFound.into())),
            Err(e) => return Err(io(&path, e)),
        };
        let started = Instant::now();
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(UserLock { file, seen: RefCell::new(None) }),
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
        let path = self.path(user, ".json");
        // what an earlier step under this lock saw is stale once a read fails
        lock.seen.borrow_mut().take();
        let seen = self.finish_interrupted_write(user, lock)?;
        let decoded = seen.as_ref().map_or(Ok(UserState::default()), |s| record::decode(&s.current));
        *lock.seen.borrow_mut() = seen;
        decoded.map_err(|e| match e {
            DecodeError::NewerVersion(version) => StoreError::NewerFormat { path: path.display().to_string(), version },
            DecodeError::Malformed(why) => StoreError::Corrupt(format!("{}: {why}", path.display())),
        })
    }

    /// The user's state as the file holds it, read without the lock and
    /// without finishing an interrupted write; None when the file is not a
    /// plain state file of ours or does not decode (a write in progress may
    /// tear it), so that the caller takes the locked path. No file: the default.
    pub fn peek(&self, user: &str) -> Option<UserState> {
        let path = self.path(user, ".json");
        let file = match OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK).open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Some(UserState::default()),
            Err(_) => return None,
        };
        record::decode(&read_state_file(&file).ok()??).ok()
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
        match OpenOptions::new().read(true).write(true).custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK).open(&path) {
            Ok(file) => {
                let meta = file.metadata().map_err(|e| io(&path, e))?;
                // in place only into a plain file of our own; anything else is replaced
                if meta.is_file() && meta.nlink() == 1 {
                    return self.write_in_place(user, &path, &file, meta.mode(), &text, lock);
                }
                self.replace(user, &path, &text, lock)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => self.replace(user, &path, &text, lock),
            // a symlink (ELOOP), a directory (EISDIR) or a FIFO (ENXIO) where the state should be
            Err(e) if matches!(e.raw_os_error(), Some(libc::ELOOP | libc::EISDIR | libc::ENXIO)) => self.replace(user, &path, &text, lock),
            Err(e) => Err(io(&path, e)),
        }
    }

    /// The redo record, durable; then the state file, which the record stands
    /// for until the next write (so the file needs no flush of its own).
    fn write_in_place(&self, user: &str, path: &Path, file: &File, mode: u32, text: &[u8], lock: &UserLock) -> Result<(), StoreError> {
        let lock_path = path.with_extension("lock");
        let seen = lock.seen.borrow_mut().take();
        let (newest, current) = match seen {
            Some(seen) => (seen.seq, seen.current),
            // a write with no read before it under this lock
            None => {
                let mut current = Vec::new();
                file.take(MAX_STATE_BYTES + 1).read_to_end(&mut current).map_err(|e| io(path, e))?;
                let redo = self.open_redo(user, false).map_err(|e| io(&lock_path, e))?;
                let newest = newest_record(&lock.file, redo.as_ref()).map_err(|e| io(&lock_path, e))?;
                (newest.map_or(0, |r| r.seq), current)
            }
        };
        let seq = newest.saturating_add(1);
        let record = redo_record(seq, text, &current);
        let target = if seq % 2 == 0 { None } else { self.open_redo(user, true).map_err(|e| io(&lock_path, e))? };
        put_record(target.as_ref().unwrap_or(&lock.file), &record).map_err(|e| io(&lock_path, e))?;
        let result = (|| {
            if mode & 0o7777 != 0o600 {
                file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
            }
            file.write_all_at(text, 0)?;
            file.set_len(text.len() as u64)
        })();
        result.map_err(|e| io(path, e))?;
        *lock.seen.borrow_mut() = Some(Seen { seq, current: text.to_vec() });
        Ok(())
    }

    /// Bring the state file in line with the newest whole redo record, and
    /// return its bytes with the newest record's number (None: there is no
    /// state file). The record is written
    /// through when the file still holds the state it replaced (or a torn
    /// write); the records are dropped when the file was changed since by
    /// another hand, or when there is no state file to go to (one removed by
    /// hand is not brought back). A torn record is never taken for a state:
    /// its digest is checked whenever the file is not already what it says.
    fn finish_interrupted_write(&self, user: &str, lock: &UserLock) -> Result<Option<Seen>, StoreError> {
        let lock_path = self.path(user, ".lock");
        let path = self.path(user, ".json");
        let redo = self.open_redo(user, false).map_err(|e| io(&lock_path, e))?;
        let drop_records = || {
            let dropped = lock.file.set_len(0).and_then(|()| redo.as_ref().map_or(Ok(()), |r| r.set_len(0)));
            dropped.map_err(|e| io(&lock_path, e))
        };
        let not_a_state_file = || StoreError::Corrupt(format!("{} is not a state file", path.display()));
        // O_NONBLOCK: a FIFO in the file's place must not hang the login
        let file =
            match OpenOptions::new().read(true).write(true).custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK).open(&path)
            {
                Ok(file) => file,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    drop_records()?;
                    return Ok(None);
                }
                Err(e) if e.raw_os_error() == Some(libc::EISDIR) => {
                    drop_records()?;
                    return Err(not_a_state_file());
                }
                Err(e) => return Err(io(&path, e)),
            };
        let Some(current) = read_state_file(&file).map_err(|e| StoreError::Corrupt(format!("{}: {e}", path.display())))? else {
            drop_records()?;
            return Err(not_a_state_file());
        };
        let seen = |seq: u64, current: Vec<u8>| Ok(Some(Seen { seq, current }));
        // the common case: the newest record is what the file holds
        if let Some(seq) = newest_record_matching(&lock.file, redo.as_ref(), &current).map_err(|e| io(&lock_path, e))? {
            return seen(seq, current);
        }
        let Some(newest) = newest_record(&lock.file, redo.as_ref()).map_err(|e| io(&lock_path, e))? else {
            let leftover = lock.file.metadata().map_err(|e| io(&lock_path, e))?.len() > 0
                || redo.as_ref().is_some_and(|r| r.metadata().is_ok_and(|m| m.len() > 0));
            if leftover {
                drop_records()?;
            }
            return seen(0, current);
        };
        if current == newest.payload {
            return seen(newest.seq, current);
        }
        let unfinished = match &newest.replaced {
            Some(old) => torn_between(&current, old, &newest.payload),
            None => true,
        };
        if unfinished {
            // flushed here, so that the records may go
            put(&file, &newest.payload).map_err(|e| io(&path, e))?;
            drop_records()?;
            return seen(0, newest.payload);
        }
        drop_records()?;
        seen(0, current)
    }

    /// `path` read-write (never through a symlink), created 0600 when missing
    /// and `create` says so, with the directory flushed so that the new name
    /// lasts; None when it is missing and not to be created.
    fn open_or_create(&self, path: &Path, flags: libc::c_int, create: bool) -> std::io::Result<Option<File>> {
        let open = |create: bool| {
            OpenOptions::new()
                .read(true)
                .write(true)
                .create(create)
                .truncate(false)
                .mode(0o600)
                .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | flags)
                .open(path)
        };
        match open(false) {
            Ok(f) => Ok(Some(f)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !create => Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let f = open(true)?;
                self.sync_dir()?;
                Ok(Some(f))
            }
            Err(e) => Err(e),
        }
    }

    /// `<stem>.redo`, the second file of redo records; created (and its name
    /// made durable) only when `create` says so.
    fn open_redo(&self, user: &str, create: bool) -> std::io::Result<Option<File>> {
        let path = self.path(user, REDO_SUFFIX);
        let Some(file) = self.open_or_create(&path, libc::O_NONBLOCK, create)? else { return Ok(None) };
        if !file.metadata()?.is_file() {
            return Err(std::io::Error::other(format!("{} is not a plain file", path.display())));
        }
        Ok(Some(file))
    }

    /// A user's first state file (or one that is not a plain file): a new
    /// file, fsynced, renamed into place, then the directory fsynced. The
    /// temporary file has one name per user: only the lock holder writes it,
    /// and one left by a killed writer is simply overwritten.
    fn replace(&self, user: &str, path: &Path, text: &[u8], lock: &UserLock) -> Result<(), StoreError> {
        let temp = self.dir.join(format!(".{}.tmp", stem(user)));
        let result = replace_file(&self.dir, &temp, path, text);
        // a record of the file this one replaced must not be written over it
        let result = result.and_then(|()| lock.file.set_len(0)).and_then(|()| match self.open_redo(user, false)? {
            Some(redo) => redo.set_len(0),
            None => Ok(()),
        });
        if let Err(e) = result {
            *lock.seen.borrow_mut() = None;
            return Err(io(path, e));
        }
        *lock.seen.borrow_mut() = Some(Seen { seq: 0, current: text.to_vec() });
        Ok(())
    }

    fn sync_dir(&self) -> std::io::Result<()> {
        File::open(&self.dir)?.sync_all()
    }
}

/// Put `text` at `path` atomically and durably: written to `temp` (0600
/// whatever the caller's umask, never through a symlink), fsynced, renamed
/// over `path`, then `dir` fsynced. `temp` is removed when a step fails.
pub(super) fn replace_file(dir: &Path, temp: &Path, path: &Path, text: &[u8]) -> std::io::Result<()> {
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(temp)?;
        // the caller's umask (0777 under a hostile sudo) must not decide the mode
        f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        f.write_all(text)?;
        f.sync_all()?;
        std::fs::rename(temp, path)?;
        File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(temp);
    }
    result
}

/// The whole of an open state file; None when it is not a plain file or is
/// larger than a state can be.
fn read_state_file(file: &File) -> std::io::Result<Option<Vec<u8>>> {
    let meta = file.metadata()?;
    if !meta.is_file() || meta.len() > MAX_STATE_BYTES {
        return Ok(None);
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize + 1);
    file.take(MAX_STATE_BYTES + 1).read_to_end(&mut bytes)?;
    Ok(Some(bytes))
}

/// Make `file` hold exactly `bytes`, durably (data and size; not times).
fn put(file: &File, bytes: &[u8]) -> std::io::Result<()> {
    file.write_all_at(bytes, 0)?;
    file.set_len(bytes.len() as u64)?;
    file.sync_data()
}

/// Write a redo record durably at the start of its file, padded to whole
/// pages and never truncating: a flush of data alone, with no size change to
/// write (the header says where the record ends). The padding stops at the
/// caller's RLIMIT_FSIZE: a limit that holds the record must not fail it.
fn put_record(file: &File, record: &[u8]) -> std::io::Result<()> {
    const PAGE: usize = 4096;
    let limit = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_FSIZE)
        .map_or(usize::MAX, |(soft, _)| usize::try_from(soft).unwrap_or(usize::MAX));
    let len = (record.len().div_ceil(PAGE) * PAGE).min(limit.max(record.len()));
    let mut padded = Vec::with_capacity(len);
    padded.extend_from_slice(record);
    padded.resize(len, 0);
    file.write_all_at(&padded, 0)?;
    file.sync_data()
}

/// The sequence number of the newest record (by its header) when that
/// record's payload is exactly `current`: the state file already holds it,
/// whether or not the record is whole, so its digest need not be checked.
fn newest_record_matching(lock: &File, redo: Option<&File>, current: &[u8]) -> std::io::Result<Option<u64>> {
    let mut newest: Option<(u64, &File, u64, usize)> = None;
    for (file, odd) in [(Some(lock), false), (redo, true)] {
        let Some(file) = file else { continue };
        if let Some((header, body_at)) = read_header(file)?
            && header.seq % 2 == u64::from(odd)
            && newest.is_none_or(|(seq, ..)| header.seq > seq)
        {
            newest = Some((header.seq, file, body_at, header.len));
        }
    }
    let Some((seq, file, body_at, len)) = newest else { return Ok(None) };
    if len != current.len() {
        return Ok(None);
    }
    let mut payload = vec![0; len];
    match file.read_exact_at(&mut payload, body_at) {
        Ok(()) => Ok((payload == current).then_some(seq)),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(None),
        Err(e) => Err(e),
    }
}

/// A whole redo record: its sequence number, the state it carries, and the
/// state it replaced (none in a version 1 record).
#[derive(Debug)]
struct Redo {
    seq: u64,
    payload: Vec<u8>,
    replaced: Option<Vec<u8>>,
}

/// `smsotp-redo 2 SEQ LEN OLD_LEN DIGEST`, then the new state and the old one;
/// the digest covers both.
fn redo_record(seq: u64, new: &[u8], old: &[u8]) -> Vec<u8> {
    let mut body = Vec::with_capacity(new.len() + old.len());
    body.extend_from_slice(new);
    body.extend_from_slice(old);
    let mut record = format!("{REDO_MAGIC} {seq} {} {} {}\n", new.len(), old.len(), hex_sha256(&body)).into_bytes();
    record.extend_from_slice(&body);
    record
}

/// Whether `current` is what an unfinished in-place rewrite of `old` with `new`
/// can leave: every byte from one or the other, no longer than the longer.
fn torn_between(current: &[u8], old: &[u8], new: &[u8]) -> bool {
    current.len() <= old.len().max(new.len()) && current.iter().enumerate().all(|(i, b)| old.get(i) == Some(b) || new.get(i) == Some(b))
}

/// The whole record with the highest sequence number in the lock file or the redo file.
fn newest_record(lock: &File, redo: Option<&File>) -> std::io::Result<Option<Redo>> {
    let mut newest: Option<Redo> = None;
    for (file, odd) in [(Some(lock), false), (redo, true)] {
        let Some(file) = file else { continue };
        if let Some(r) = read_record(file)?
            && r.seq % 2 == u64::from(odd)
            && newest.as_ref().is_none_or(|n| r.seq > n.seq)
        {
            newest = Some(r);
        }
    }
    Ok(newest)
}

/// The header of the record in `file` and where its body starts, if the
/// header parses (the record may still be torn).
fn read_header(file: &File) -> std::io::Result<Option<(RedoHeader, u64)>> {
    let available = file.metadata()?.len();
    if available == 0 {
        return Ok(None);
    }
    let mut head = vec![0; MAX_HEADER.min(usize::try_from(available).unwrap_or(MAX_HEADER))];
    file.read_exact_at(&mut head, 0)?;
    let Some(newline) = head.iter().position(|&b| b == b'\n') else { return Ok(None) };
    let Some(header) = std::str::from_utf8(&head[..newline]).ok().and_then(RedoHeader::parse) else { return Ok(None) };
    let body_len = header.len.saturating_add(header.old_len.unwrap_or(0));
    if body_len as u64 > 2 * MAX_STATE_BYTES {
        return Ok(None);
    }
    Ok(Some((header, newline as u64 + 1)))
}

/// The record in `file`, if it is whole.
fn read_record(file: &File) -> std::io::Result<Option<Redo>> {
    let Some((header, body_at)) = read_header(file)? else { return Ok(None) };
    let body_len = header.len.saturating_add(header.old_len.unwrap_or(0));
    if body_at + body_len as u64 > file.metadata()?.len() {
        return Ok(None);
    }
    let mut body = vec![0; body_len];
    file.read_exact_at(&mut body, body_at)?;
    if hex_sha256(&body) != header.digest {
        return Ok(None);
    }
    let replaced = header.old_len.map(|_| body.split_off(header.len));
    Ok(Some(Redo { seq: header.seq, payload: body, replaced }))
}

struct RedoHeader {
    seq: u64,
    len: usize,
    old_len: Option<usize>,
    digest: String,
}

impl RedoHeader {
    /// `smsotp-redo 2 SEQ LEN OLD_LEN DIGEST`, or `smsotp-redo 1 LEN DIGEST` (sequence 0, no old state).
    fn parse(line: &str) -> Option<RedoHeader> {
        let digest = |s: &str| (s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())).then(|| s.to_string());
        if let Some(rest) = line.strip_prefix(REDO_MAGIC).and_then(|r| r.strip_prefix(' ')) {
            let [seq, len, old_len, d] = rest.split(' ').collect::<Vec<_>>()[..] else { return None };
            return Some(RedoHeader {
                seq: seq.parse().ok()?,
                len: len.parse().ok()?,
                old_len: Some(old_len.parse().ok()?),
                digest: digest(d)?,
            });
        }
        let rest = line.strip_prefix(REDO_MAGIC_V1)?.strip_prefix(' ')?;
        let [len, d] = rest.split(' ').collect::<Vec<_>>()[..] else { return None };
        Some(RedoHeader { seq: 0, len: len.parse().ok()?, old_len: None, digest: digest(d)? })
    }
}

fn hex_sha256(bytes: &[u8]) -> String {
    crate::hex::lower(&Sha256::digest(bytes))
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

    /// A version 2 record of `state`, replacing `replaced`.
    fn record_for(seq: u64, state: &UserState, replaced: &[u8]) -> Vec<u8> {
        redo_record(seq, &serde_json::to_vec(state).unwrap(), replaced)
    }

    /// A record in the lock file (`odd` false) or in the redo file beside it.
    fn plant_record(lock_path: &Path, odd: bool, record: &[u8]) {
        let path = if odd { lock_path.with_extension("redo") } else { lock_path.to_path_buf() };
        std::fs::write(path, record).unwrap();
    }

    fn names(t: &tempfile::TempDir) -> Vec<String> {
        let mut n: Vec<String> = std::fs::read_dir(t.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        n.sort();
        n
    }

    #[test]
    fn rewrites_keep_the_inode_and_leave_the_newest_record_beside_the_file() {
        let Some((t, d)) = dir() else { return };
        let json = t.path().join("u-alice.json");
        let lock_path = t.path().join("u-alice.lock");
        {
            let lock = d.lock("alice").unwrap();
            d.write("alice", &state(1), &lock).unwrap();
        }
        let inode = std::fs::metadata(&json).unwrap().ino();
        for n in 2..6 {
            let lock = d.lock("alice").unwrap();
            d.write("alice", &state(n), &lock).unwrap();
            assert_eq!(d.read("alice", &lock).unwrap(), state(n));
            let redo = d.open_redo("alice", false).unwrap().expect("a redo file after the second write");
            let newest = newest_record(&lock.file, Some(&redo)).unwrap().expect("the write's record");
            assert_eq!(newest.payload, std::fs::read(&json).unwrap(), "the record stands for the file");
            assert_eq!(newest.seq, n as u64 - 1);
            // the previous write's record is still whole in the other file
            let other = if newest.seq % 2 == 1 { &lock.file } else { &redo };
            assert_eq!(read_record(other).unwrap().map(|r| r.seq), (n > 2).then(|| n as u64 - 2));
        }
        assert_eq!(std::fs::metadata(&json).unwrap().ino(), inode, "written in place");
        assert_eq!(names(&t), ["u-alice.json", "u-alice.lock", "u-alice.redo"]);
        // shorter than before: no old tail left behind
        let lock = d.lock("alice").unwrap();
        d.write("alice", &UserState::default(), &lock).unwrap();
        assert_eq!(serde_json::from_slice::<UserState>(&std::fs::read(&json).unwrap()).unwrap(), UserState::default());
        assert!(std::fs::metadata(&lock_path).unwrap().len() > 0);
    }

    #[test]
    fn records_fill_whole_pages_so_that_a_flush_changes_no_file_size() {
        let Some((t, d)) = dir() else { return };
        let lock_path = t.path().join("u-alice.lock");
        let sizes = || [std::fs::metadata(&lock_path).unwrap().len(), std::fs::metadata(lock_path.with_extension("redo")).unwrap().len()];
        let mut before = None;
        for n in 1..8 {
            let lock = d.lock("alice").unwrap();
            let _ = d.read("alice", &lock).unwrap();
            d.write("alice", &state(n), &lock).unwrap();
            drop(lock);
            if n < 3 {
                continue;
            }
            let now = sizes();
            assert!(now.iter().all(|len| len % 4096 == 0 && *len > 0), "{now:?}");
            if let Some(before) = before {
                assert_eq!(now, before, "state {n}: the record files kept their size");
            }
            before = Some(now);
            let lock = d.lock("alice").unwrap();
            assert_eq!(d.read("alice", &lock).unwrap(), state(n));
        }
    }

    #[test]
    fn a_record_the_file_already_holds_is_kept_without_its_digest_and_numbers_the_next() {
        let Some((t, d)) = dir() else { return };
        let json = t.path().join("u-alice.json");
        let lock_path = t.path().join("u-alice.lock");
        let old = serde_json::to_vec(&state(1)).unwrap();
        let new = serde_json::to_vec(&state(2)).unwrap();
        std::fs::write(&json, &new).unwrap();
        // whole payload, torn tail (the old state): the file holds what it carries
        let record = record_for(7, &state(2), &old);
        plant_record(&lock_path, true, &record[..record.len() - 4]);
        let lock = d.lock("alice").unwrap();
        assert_eq!(d.read("alice", &lock).unwrap(), state(2));
        assert!(std::fs::metadata(lock_path.with_extension("redo")).unwrap().len() > 0, "left alone");
        d.write("alice", &state(3), &lock).unwrap();
        drop(lock);
        let lock = d.lock("alice").unwrap();
        let newest = newest_record(&lock.file, d.open_redo("alice", false).unwrap().as_ref()).unwrap().unwrap();
        assert_eq!((newest.seq, newest.payload), (8, serde_json::to_vec(&state(3)).unwrap()), "numbered after the one seen");
        assert_eq!(d.read("alice", &lock).unwrap(), state(3));
    }

    #[test]
    fn the_newest_whole_record_is_written_through_when_the_file_did_not_get_it() {
        let Some((t, d)) = dir() else { return };
        let json = t.path().join("u-alice.json");
        let lock_path = t.path().join("u-alice.lock");
        let old = serde_json::to_vec(&state(1)).unwrap();
        let new = serde_json::to_vec(&state(7)).unwrap();
        // the machine stopped before the state file got the write, while it was
        // half written (new bytes over an old tail), or after
        let torn: Vec<u8> = new[..new.len() / 2].iter().chain(&old[new.len() / 2..]).copied().collect();
        for (json_bytes, applied) in [(old.clone(), true), (torn, true), (new.clone(), false)] {
            std::fs::write(&json, &json_bytes).unwrap();
            let _ = std::fs::remove_file(&lock_path);
            plant_record(&lock_path, true, &record_for(5, &state(7), &old));
            let lock = d.lock("alice").unwrap();
            assert_eq!(d.read("alice", &lock).unwrap(), state(7), "the recorded write is not lost");
            drop(lock);
            assert_eq!(std::fs::read(&json).unwrap(), new);
            let left = std::fs::metadata(&lock_path).unwrap().len() + std::fs::metadata(lock_path.with_extension("redo")).unwrap().len();
            assert_eq!(left == 0, applied, "a record written through (and flushed) goes; one that matches stays");
        }
        // the newest record torn (its writer died in it): the previous one stands
        std::fs::write(&json, &old).unwrap();
        let _ = std::fs::remove_file(&lock_path);
        plant_record(&lock_path, true, &record_for(5, &state(7), &old));
        let newer = record_for(6, &state(9), &new);
        plant_record(&lock_path, false, &newer[..newer.len() - 3]);
        let lock = d.lock("alice").unwrap();
        assert_eq!(d.read("alice", &lock).unwrap(), state(7));
        drop(lock);
        // a version 1 record (left by an older module) is still finished
        std::fs::write(&json, &old).unwrap();
        let mut v1 = format!("{REDO_MAGIC_V1} {} {}\n", new.len(), hex_sha256(&new)).into_bytes();
        v1.extend_from_slice(&new);
        std::fs::write(&lock_path, &v1).unwrap();
        let lock = d.lock("alice").unwrap();
        assert_eq!(d.read("alice", &lock).unwrap(), state(7));
        assert_eq!(std::fs::metadata(&lock_path).unwrap().len(), 0);
    }

    #[test]
    fn a_state_file_changed_by_another_hand_is_not_overwritten_by_an_old_record() {
        let Some((t, d)) = dir() else { return };
        let json = t.path().join("u-alice.json");
        let lock_path = t.path().join("u-alice.lock");
        let old = serde_json::to_vec(&state(1)).unwrap();
        std::fs::write(&json, serde_json::to_vec(&state(3)).unwrap()).unwrap();
        plant_record(&lock_path, true, &record_for(5, &state(7), &old));
        let lock = d.lock("alice").unwrap();
        assert_eq!(d.read("alice", &lock).unwrap(), state(3), "the edit stands");
        assert_eq!(std::fs::metadata(&lock_path).unwrap().len(), 0, "and the stale record is gone");
        assert_eq!(std::fs::metadata(lock_path.with_extension("redo")).unwrap().len(), 0);
    }

    #[test]
    fn a_torn_or_foreign_redo_record_is_never_taken_for_a_state() {
        let Some((t, d)) = dir() else { return };
        let json = t.path().join("u-alice.json");
        let lock_path = t.path().join("u-alice.lock");
        let old = serde_json::to_vec(&state(1)).unwrap();
        let record = record_for(1, &state(7), &old);
        let mut wrong_digest = record.clone();
        let last = wrong_digest.len() - 2;
        wrong_digest[last] ^= 1;
        // an even sequence number belongs in the lock file, not the redo file
        let seq_zero_in_slot_one = record_for(0, &state(7), &old);
        for (odd, bad) in [
            (false, record[..record.len() - 1].to_vec()),
            (false, record[..10].to_vec()),
            (false, wrong_digest),
            (false, b"garbage".to_vec()),
            (true, seq_zero_in_slot_one),
            (false, record.iter().copied().chain(std::iter::repeat_n(b'x', 300)).map(|b| if b == b'\n' { b' ' } else { b }).collect()),
        ] {
            std::fs::write(&json, &old).unwrap();
            let _ = std::fs::remove_file(&lock_path);
            let _ = std::fs::remove_file(lock_path.with_extension("redo"));
            plant_record(&lock_path, odd, &bad);
            let lock = d.lock("alice").unwrap();
            assert_eq!(d.read("alice", &lock).unwrap(), state(1), "{}", String::from_utf8_lossy(&bad[..bad.len().min(80)]));
            assert_eq!(std::fs::metadata(&lock_path).unwrap().len(), 0);
            assert!(std::fs::metadata(lock_path.with_extension("redo")).map_or(true, |m| m.len() == 0));
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
