//! Files the module trusts: the config, secrets, the phone map. Each must be a
//! regular file owned by root and not writable by group or others; the checks run
//! on the opened descriptor so a swap between check and read cannot slip through.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use zeroize::Zeroizing;

use super::ConfigError;

const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// A secret value from the config or a `*_file`; never printed, zeroed on drop.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    pub fn new(value: String) -> Self {
        Secret(Zeroizing::new(value))
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Printed configurations show that a secret is set, never its value.
impl serde::Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("[redacted]")
    }
}

impl<'de> serde::Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret::new)
    }
}

pub fn check_secure_file(path: &Path, file: &File) -> Result<(), ConfigError> {
    checked_size(path, file).map(|_| ())
}

/// `check_secure_file`, giving the file's size.
fn checked_size(path: &Path, file: &File) -> Result<u64, ConfigError> {
    let meta = file.metadata().map_err(|e| unreadable(path, &e))?;
    if !meta.is_file() {
        return Err(insecure_file(path, "not a regular file"));
    }
    if meta.uid() != 0 {
        return Err(insecure_file(path, &format!("owned by uid {}, not root", meta.uid())));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(insecure_file(path, &format!("mode {:04o} lets group or others write it", meta.mode() & 0o7777)));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(insecure_file(path, "larger than 64 MiB"));
    }
    Ok(meta.len())
}

/// Open `path`, check it is trustworthy on the opened descriptor, and read its
/// bytes (the size is checked again while reading: the file may grow).
pub fn read_secure_bytes(path: &Path) -> Result<Vec<u8>, ConfigError> {
    let file = File::open(path).map_err(|e| unreadable(path, &e))?;
    let size = checked_size(path, &file)?;
    // room for the whole file and the read that finds its end: two reads, not one per doubling
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0).saturating_add(1));
    file.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes).map_err(|e| unreadable(path, &e))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(insecure_file(path, "larger than 64 MiB"));
    }
    Ok(bytes)
}

/// As `read_secure_bytes`, as UTF-8.
pub fn read_secure_file(path: &Path) -> Result<String, ConfigError> {
    String::from_utf8(read_secure_bytes(path)?).map_err(|_| ConfigError::Unreadable { path: path.into(), reason: "not UTF-8".into() })
}

/// A secret file holds one value; surrounding white space (the final newline) is dropped.
pub fn read_secret(path: &Path) -> Result<Secret, ConfigError> {
    let text = Zeroizing::new(read_secure_file(path)?);
    let value = text.trim();
    if value.is_empty() {
        return Err(ConfigError::Unreadable { path: path.into(), reason: "the file is empty".into() });
    }
    Ok(Secret::new(value.to_string()))
}

fn unreadable(path: &Path, e: &std::io::Error) -> ConfigError {
    ConfigError::Unreadable { path: path.into(), reason: e.to_string() }
}

fn insecure_file(path: &Path, reason: &str) -> ConfigError {
    ConfigError::Insecure { path: path.into(), reason: reason.into() }
}
