//! What several fuzz targets share: a private file for the directories (which
//! read only files), a log that drops everything, and checks of the invariants.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use pam_smsotp::auth::Directory;
use pam_smsotp::config::Config;
use pam_smsotp::log::{Level, Log};

/// A root-owned 0600 file holding one input, removed again on drop. The
/// directories read only files that are root-owned, so run these targets as root.
pub struct TempFile {
    pub path: PathBuf,
}

impl TempFile {
    pub fn new(target: &str, content: &[u8]) -> TempFile {
        let path = std::env::temp_dir().join(format!("pam_smsotp-fuzz-{target}-{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path).expect("temp file");
        file.write_all(content).expect("temp file");
        TempFile { path }
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The directory of `type = kind` reading `path`, built as the module builds it.
pub fn directory(kind: &str, path: &std::path::Path) -> Box<dyn Directory> {
    let toml = format!("[phone]\ndefault_country_code = \"+49\"\n[[directory]]\ntype = \"{kind}\"\npath = \"{}\"\n", path.display());
    let config = Config::parse(&toml).expect("the fuzz directory config is valid");
    pam_smsotp::directory::build(&config).remove(0)
}

pub struct Quiet;

impl Log for Quiet {
    fn log(&self, _: Level, _: &str) {}
}

/// What every number the module uses looks like: '+' and 8 to 15 digits, no leading 0.
pub fn assert_e164(number: &str) {
    let digits = number.strip_prefix('+').unwrap_or_else(|| panic!("no '+': {number:?}"));
    assert!((8..=15).contains(&digits.len()), "{number:?}");
    assert!(digits.bytes().all(|b| b.is_ascii_digit()), "{number:?}");
    assert!(!digits.starts_with('0'), "{number:?}");
}

/// The first line of `data` as text (a user name; "alice" when it is not
/// UTF-8) and the bytes after it.
pub fn split_first_line(data: &[u8]) -> (&str, &[u8]) {
    let (first, rest) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    (std::str::from_utf8(first).unwrap_or("alice"), rest)
}
