//! What the module and `smsotp-dlrd` share through `[delivery] reports_dir`
//! (file backend): `<id>.sent`, written by the module when a connector took a
//! message, and `<id>.report`, written by the daemon when a valid report came.
//!
//! The directory belongs to the daemon's unprivileged user. Everything here
//! works on a descriptor of the directory opened without following a symlink,
//! creates with O_EXCL|O_NOFOLLOW and renames within that descriptor, so the
//! daemon's user cannot point a root writer elsewhere; reads are bounded.

use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::path::Path;

use nix::fcntl::{OFlag, open, openat, renameat};
use nix::sys::stat::Mode;
use serde::{Deserialize, Serialize};

use super::MessageId;

const MAX_RECORD_BYTES: u64 = 4096;
pub const SENT_SUFFIX: &str = ".sent";
pub const REPORT_SUFFIX: &str = ".report";

/// The normalised delivery state of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Queued, accepted, sent, buffered: not final.
    Pending,
    /// Final: the provider says it reached the handset (some carriers: handed on).
    Delivered,
    /// Final: undelivered, rejected, expired, blocked.
    Failed,
    /// The provider cannot tell, or sent a word this build does not know.
    Unknown,
}

impl DeliveryState {
    pub fn word(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Failed => "failed",
            DeliveryState::Unknown => "unknown",
        }
    }

    pub fn is_final(self) -> bool {
        matches!(self, DeliveryState::Delivered | DeliveryState::Failed)
    }
}

/// A message a connector took, with a report asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sent {
    pub id: String,
    pub user: String,
    pub seq: String,
    pub connector: String,
    /// The connector's type ("kannel", "twilio", "http"...): how its reports read.
    pub kind: String,
    /// The number, masked.
    pub to: String,
    pub sent: u64,
    pub expires: u64,
}

/// The latest report on a message that the daemon accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    pub id: String,
    pub state: DeliveryState,
    /// One word: "delivered", "undeliv_001", "rejected"... (no spaces, ≤ 64 characters).
    pub reason: String,
    /// The provider's own status word, as sent (cleaned, ≤ 64 characters).
    pub provider_status: String,
    pub at: u64,
    pub connector: String,
    pub user: String,
    pub seq: String,
    pub to: String,
}

impl Report {
    /// Whether a later report may replace this one: a final state is never
    /// overwritten, an intermediate one is (reports arrive out of order).
    pub fn may_be_replaced(&self) -> bool {
        !self.state.is_final()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("{0}: {1}")]
    Io(String, String),
    #[error("{0}: not a record")]
    Corrupt(String),
}

fn open_dir(dir: &Path) -> Result<OwnedFd, RecordError> {
    open(dir, OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC | OFlag::O_RDONLY, Mode::empty())
        .map_err(|e| RecordError::Io(dir.display().to_string(), e.to_string()))
}

/// Write `bytes` as `name` in `dir`, atomically: a fresh temporary file
/// (O_EXCL, mode 0644 whatever the umask), fsync, rename, fsync of the directory.
pub fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), RecordError> {
    let at = |e: nix::Error| RecordError::Io(format!("{}/{name}", dir.display()), e.to_string());
    let dirfd = open_dir(dir)?;
    let mut nonce = [0u8; 6];
    getrandom::fill(&mut nonce).map_err(|e| RecordError::Io(dir.display().to_string(), e.to_string()))?;
    let temp = format!(".{name}.{}.tmp", crate::hex::lower(&nonce));
    let flags = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let fd = openat(&dirfd, temp.as_str(), flags, Mode::from_bits_truncate(0o644)).map_err(at)?;
    let result = (|| {
        nix::sys::stat::fchmod(&fd, Mode::from_bits_truncate(0o644))?;
        let mut file = std::fs::File::from(fd);
        file.write_all(bytes).map_err(from_io)?;
        file.sync_all().map_err(from_io)?;
        renameat(&dirfd, temp.as_str(), &dirfd, name)?;
        nix::unistd::fsync(&dirfd)
    })();
    if let Err(e) = result {
        let _ = nix::unistd::unlinkat(&dirfd, temp.as_str(), nix::unistd::UnlinkatFlags::NoRemoveDir);
        return Err(at(e));
    }
    Ok(())
}

/// Remove `name` from `dir` (through the directory's descriptor).
pub fn remove(dir: &Path, name: &str) -> Result<(), RecordError> {
    let dirfd = open_dir(dir)?;
    nix::unistd::unlinkat(&dirfd, name, nix::unistd::UnlinkatFlags::NoRemoveDir)
        .map_err(|e| RecordError::Io(format!("{}/{name}", dir.display()), e.to_string()))
}

fn from_io(e: std::io::Error) -> nix::Error {
    nix::Error::from_raw(e.raw_os_error().unwrap_or(libc::EIO))
}

/// Read `name` in `dir` (no symlink, at most 4 KiB); Ok(None) when absent.
pub fn read_bounded(dir: &Path, name: &str) -> Result<Option<Vec<u8>>, RecordError> {
    let path = || format!("{}/{name}", dir.display());
    let dirfd = open_dir(dir)?;
    let fd = match openat(&dirfd, name, OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC | OFlag::O_NONBLOCK, Mode::empty()) {
        Ok(fd) => fd,
        Err(nix::Error::ENOENT) => return Ok(None),
        Err(e) => return Err(RecordError::Io(path(), e.to_string())),
    };
    let file = std::fs::File::from(fd);
    let meta = file.metadata().map_err(|e| RecordError::Io(path(), e.to_string()))?;
    if !meta.is_file() {
        return Err(RecordError::Corrupt(path()));
    }
    let mut bytes = Vec::new();
    file.take(MAX_RECORD_BYTES + 1).read_to_end(&mut bytes).map_err(|e| RecordError::Io(path(), e.to_string()))?;
    if bytes.len() as u64 > MAX_RECORD_BYTES {
        return Err(RecordError::Corrupt(path()));
    }
    Ok(Some(bytes))
}

fn read_json<T: for<'de> Deserialize<'de>>(dir: &Path, name: &str) -> Result<Option<T>, RecordError> {
    match read_bounded(dir, name)? {
        None => Ok(None),
        Some(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|_| RecordError::Corrupt(format!("{}/{name}", dir.display()))),
    }
}

fn to_json<T: Serialize>(value: &T) -> Vec<u8> {
    let mut bytes = serde_json::to_vec(value).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

pub fn write_sent(dir: &Path, sent: &Sent) -> Result<(), RecordError> {
    write_atomic(dir, &format!("{}{SENT_SUFFIX}", sent.id), &to_json(sent))
}

pub fn read_sent(dir: &Path, id: &MessageId) -> Result<Option<Sent>, RecordError> {
    let sent: Option<Sent> = read_json(dir, &format!("{}{SENT_SUFFIX}", id.as_text()))?;
    Ok(sent.filter(|s| s.id == id.as_text()))
}

pub fn write_report(dir: &Path, report: &Report) -> Result<(), RecordError> {
    write_atomic(dir, &format!("{}{REPORT_SUFFIX}", report.id), &to_json(report))
}

pub fn read_report(dir: &Path, id: &MessageId) -> Result<Option<Report>, RecordError> {
    let report: Option<Report> = read_json(dir, &format!("{}{REPORT_SUFFIX}", id.as_text()))?;
    Ok(report.filter(|r| r.id == id.as_text()))
}

/// Every message with a sent record in `dir`, with its report if one came,
/// newest first. Unreadable entries are skipped.
pub fn list(dir: &Path) -> Result<Vec<(Sent, Option<Report>)>, RecordError> {
    let entries = std::fs::read_dir(dir).map_err(|e| RecordError::Io(dir.display().to_string(), e.to_string()))?;
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(id) = name.to_str().and_then(|n| n.strip_suffix(SENT_SUFFIX)).and_then(MessageId::parse) else {
            continue;
        };
        if let Ok(Some(sent)) = read_sent(dir, &id) {
            let report = read_report(dir, &id).ok().flatten();
            out.push((sent, report));
        }
    }
    out.sort_by(|a, b| b.0.sent.cmp(&a.0.sent).then_with(|| b.0.id.cmp(&a.0.id)));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sent(id: &MessageId, at: u64) -> Sent {
        Sent {
            id: id.as_text(),
            user: "alice".into(),
            seq: "AB".into(),
            connector: "kannel".into(),
            kind: "kannel".into(),
            to: "+*********67".into(),
            sent: at,
            expires: at + 100,
        }
    }

    fn report(id: &MessageId, state: DeliveryState) -> Report {
        Report {
            id: id.as_text(),
            state,
            reason: "x".into(),
            provider_status: "x".into(),
            at: 5,
            connector: "kannel".into(),
            user: "alice".into(),
            seq: "AB".into(),
            to: "+*67".into(),
        }
    }

    #[test]
    fn records_round_trip_and_list_newest_first() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (MessageId::random().unwrap(), MessageId::random().unwrap());
        write_sent(dir.path(), &sent(&a, 10)).unwrap();
        write_sent(dir.path(), &sent(&b, 20)).unwrap();
        write_report(dir.path(), &report(&a, DeliveryState::Failed)).unwrap();
        assert_eq!(read_sent(dir.path(), &a).unwrap(), Some(sent(&a, 10)));
        let all = list(dir.path()).unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].0.id, b.as_text());
        assert_eq!(all[1].1.as_ref().map(|r| r.state), Some(DeliveryState::Failed));
        // no temporary file is left behind
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 3);
    }

    #[test]
    fn symlinks_and_huge_files_are_not_read_and_a_symlinked_dir_is_not_written() {
        let dir = tempfile::tempdir().unwrap();
        let id = MessageId::random().unwrap();
        std::os::unix::fs::symlink("/etc/passwd", dir.path().join(format!("{}{SENT_SUFFIX}", id.as_text()))).unwrap();
        assert!(read_sent(dir.path(), &id).is_err());
        let big = MessageId::random().unwrap();
        std::fs::write(dir.path().join(format!("{}{SENT_SUFFIX}", big.as_text())), vec![b' '; 10_000]).unwrap();
        assert!(read_sent(dir.path(), &big).is_err());
        let elsewhere = tempfile::tempdir().unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(elsewhere.path(), &link).unwrap();
        assert!(write_sent(&link, &sent(&id, 1)).is_err());
        assert_eq!(std::fs::read_dir(elsewhere.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_final_state_is_never_overwritten() {
        let id = MessageId::random().unwrap();
        assert!(report(&id, DeliveryState::Pending).may_be_replaced());
        assert!(report(&id, DeliveryState::Unknown).may_be_replaced());
        assert!(!report(&id, DeliveryState::Delivered).may_be_replaced());
        assert!(!report(&id, DeliveryState::Failed).may_be_replaced());
    }
}
