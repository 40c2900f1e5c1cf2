//! `type = "file"`: a root-owned map of `user  number` lines.
//!
//! Also the byte-level reading the LDIF reader shares: a source is read as
//! bytes and decoded line by line, so one line in another encoding costs that
//! line, not the whole source.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::auth::{Directory, DirectoryError, PhoneRecord};
use crate::config::read_secure_bytes;
use crate::log::Log;
use crate::phone::{Phone, PhoneError};

/// Problems reported one by one in one lookup before they are only counted.
const MAX_WARNINGS: usize = 10;

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// The source's bytes, from a file as trustworthy as a secret.
pub(super) fn read_source(path: &Path) -> Result<Vec<u8>, String> {
    read_secure_bytes(path).map_err(|e| e.to_string())
}

/// The lines of `bytes` with their numbers (from 1), without "\n" or "\r\n",
/// and without a UTF-8 byte order mark at the very start.
pub(super) fn numbered_lines(bytes: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    let bytes = bytes.strip_prefix(UTF8_BOM).unwrap_or(bytes);
    let bytes = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    let count = if bytes.is_empty() { 0 } else { usize::MAX };
    bytes.split(|&b| b == b'\n').take(count).enumerate().map(|(i, line)| (i + 1, line.strip_suffix(b"\r").unwrap_or(line)))
}

/// A source's name as a log line may show it: no control characters.
pub(super) fn printable(text: &str) -> String {
    text.chars().map(|c| if c.is_control() { '?' } else { c }).collect()
}

/// Warnings of one source in one lookup: the first few one by one, then a count.
/// `why` texts are the reader's own words and line numbers, never file content.
pub(super) struct Warnings<'a> {
    source: String,
    log: &'a dyn Log,
    count: usize,
}

impl<'a> Warnings<'a> {
    pub(super) fn new(source: String, log: &'a dyn Log) -> Self {
        Warnings { source, log, count: 0 }
    }

    pub(super) fn warn(&mut self, line: usize, why: &str) {
        self.count += 1;
        if self.count <= MAX_WARNINGS {
            self.log.warn(&format!("{} line {line}: {why}", self.source));
        }
    }
}

impl Drop for Warnings<'_> {
    fn drop(&mut self) {
        if self.count > MAX_WARNINGS {
            self.log.warn(&format!("{}: {} more problems of this kind not shown", self.source, self.count - MAX_WARNINGS));
        }
    }
}

pub struct FileDirectory {
    path: PathBuf,
    default_country_code: String,
}

/// One well-formed line of the map, for `smsotp check`.
#[derive(Debug)]
pub struct MapEntry {
    pub line: usize,
    pub user: String,
    pub number: Result<Phone, PhoneError>,
}

impl FileDirectory {
    pub fn new(path: PathBuf, default_country_code: String) -> Self {
        FileDirectory { path, default_country_code }
    }

    /// Every `user  number` line of the map, and how many lines were malformed.
    pub fn entries(&self) -> Result<(Vec<MapEntry>, usize), String> {
        let bytes = read_source(&self.path)?;
        let mut entries = Vec::new();
        let mut malformed = 0;
        for (line, raw) in numbered_lines(&bytes) {
            let content = raw.split(|&b| b == b'#').next().unwrap_or(b"");
            match std::str::from_utf8(content).ok().map(parse_line) {
                Some(None) => {}
                Some(Some(Ok((user, number)))) => {
                    entries.push(MapEntry { line, user: user.to_string(), number: Phone::normalise(number, &self.default_country_code) })
                }
                _ => malformed += 1,
            }
        }
        Ok((entries, malformed))
    }

    /// The user's number in the map `bytes`. The whole map is read: a user
    /// listed twice with different numbers, or whose line cannot be read, is
    /// refused rather than guessed.
    fn find(&self, bytes: &[u8], user: &str, warnings: &mut Warnings) -> Result<Option<(usize, String)>, DirectoryError> {
        let mut numbers: Vec<(usize, Result<Phone, PhoneError>)> = Vec::new();
        let mut first_raw: Option<(usize, String)> = None;
        let mut damaged: Vec<usize> = Vec::new();
        for (lineno, raw) in numbered_lines(bytes) {
            // a comment is never decoded: its bytes cannot harm the data before it
            let content = raw.split(|&b| b == b'#').next().unwrap_or(b"");
            let line = match std::str::from_utf8(content) {
                Ok(line) => line,
                Err(_) => {
                    if first_field(content) == user.as_bytes() {
                        damaged.push(lineno);
                    }
                    warnings.warn(lineno, "not UTF-8; line skipped");
                    continue;
                }
            };
            match parse_line(line) {
                None => {}
                Some(Err(why)) => {
                    if first_field(content) == user.as_bytes() {
                        damaged.push(lineno);
                    }
                    warnings.warn(lineno, &format!("{why}; line skipped"));
                }
                Some(Ok((name, number))) if name == user => {
                    numbers.push((lineno, Phone::normalise(number, &self.default_country_code)));
                    first_raw.get_or_insert((lineno, number.to_string()));
                }
                Some(Ok(_)) => {}
            }
        }
        let refuse = |reason: String| Err(DirectoryError::Refused { source_name: self.describe(), reason });
        if let Some(line) = damaged.first() {
            return refuse(format!("the user's line {line} cannot be read; refusing to guess"));
        }
        if let Some((line, Err(e))) = numbers.iter().find(|(_, n)| n.is_err()) {
            return refuse(format!("line {line}: {e}"));
        }
        let phones: Vec<&Phone> = numbers.iter().filter_map(|(_, n)| n.as_ref().ok()).collect();
        match phones.split_first() {
            None => Ok(None),
            Some((first, rest)) if rest.iter().all(|p| p == first) => Ok(first_raw),
            Some(_) => {
                let lines: Vec<String> = numbers.iter().map(|(l, _)| l.to_string()).collect();
                refuse(format!("the user is on lines {} with different numbers; refusing to guess", lines.join(", ")))
            }
        }
    }
}

/// The first white-space separated field of a line's content.
fn first_field(content: &[u8]) -> &[u8] {
    content.split(|b| b.is_ascii_whitespace()).find(|f| !f.is_empty()).unwrap_or(b"")
}

/// One meaningful line of the map: the user and the raw number text.
fn parse_line(line: &str) -> Option<Result<(&str, &str), &'static str>> {
    let content = line.split('#').next().unwrap_or("").trim();
    if content.is_empty() {
        return None;
    }
    let mut split = content.splitn(2, char::is_whitespace);
    let user = split.next().unwrap_or("");
    match split.next().map(str::trim) {
        Some(number) if !number.is_empty() => Some(Ok((user, number))),
        _ => Some(Err("expected 'user  number'")),
    }
}

impl Directory for FileDirectory {
    fn describe(&self) -> String {
        format!("file {}", printable(&self.path.display().to_string()))
    }

    fn lookup(&self, user: &str, _remaining: Duration, log: &dyn Log) -> Result<Option<PhoneRecord>, DirectoryError> {
        let bytes = read_source(&self.path).map_err(|reason| DirectoryError::Unavailable { source_name: self.describe(), reason })?;
        let mut warnings = Warnings::new(self.describe(), log);
        let Some((line, raw)) = self.find(&bytes, user, &mut warnings)? else { return Ok(None) };
        super::phone_record(&raw, &self.default_country_code, self.describe(), Some(format!("line {line}")), None).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::MemoryLog;

    #[test]
    fn lines_parse_with_comments_and_spaces() {
        assert_eq!(parse_line("alice  +1 555 123 4567  # desk"), Some(Ok(("alice", "+1 555 123 4567"))));
        assert_eq!(parse_line("\tbob\t+44 7700 900123\t "), Some(Ok(("bob", "+44 7700 900123"))));
        assert_eq!(parse_line("# just a comment"), None);
        assert_eq!(parse_line("   "), None);
        assert_eq!(parse_line(" \t \r"), None);
        assert!(matches!(parse_line("carol"), Some(Err(_))));
        assert!(matches!(parse_line("carol   # no number"), Some(Err(_))));
    }

    #[test]
    fn lines_are_numbered_without_their_ends_or_a_bom() {
        let lines: Vec<(usize, &[u8])> = numbered_lines(b"\xEF\xBB\xBFa\r\nb\n\r\n\nc\r\r\n").collect();
        assert_eq!(lines, vec![(1, &b"a"[..]), (2, b"b"), (3, b""), (4, b""), (5, b"c\r")]);
        assert_eq!(numbered_lines(b"").count(), 0);
        assert_eq!(numbered_lines(b"x").collect::<Vec<_>>(), vec![(1, &b"x"[..])]);
    }

    fn find(map: &[u8], user: &str) -> (Result<Option<String>, String>, Vec<String>) {
        let dir = FileDirectory::new("/map".into(), "+49".into());
        let log = MemoryLog::default();
        let found = {
            let mut warnings = Warnings::new(dir.describe(), &log);
            dir.find(map, user, &mut warnings)
                .map(|found| found.and_then(|(_, raw)| Phone::normalise(&raw, "+49").ok()).map(|p| p.e164().to_string()))
                .map_err(|e| e.to_string())
        };
        (found, log.lines())
    }

    #[test]
    fn each_user_gets_their_own_number_from_a_damaged_map() {
        let map = b"\xEF\xBB\xBFalice +49 (0)171 1111111  \r\n  \t\r\nj\xFCrgen +49 171 2222222\nbob 0171 3333333 # B\xE4r\n";
        assert_eq!(find(map, "alice").0, Ok(Some("+491711111111".into())));
        assert_eq!(find(map, "bob").0, Ok(Some("+491713333333".into())));
        assert_eq!(find(map, "jürgen").0, Ok(None));
        let (_, log) = find(map, "alice");
        assert_eq!(log, vec!["file /map line 3: not UTF-8; line skipped"]);
    }

    #[test]
    fn a_user_listed_twice_is_refused_unless_the_numbers_agree() {
        let (found, _) = find(b"bob +49 171 1\nalice +49 171 1111111\nalice +49 171 1111112\n", "alice");
        assert!(found.as_ref().is_err_and(|e| e.contains("lines 2, 3") && e.contains("refusing")), "{found:?}");
        assert!(!found.unwrap_err().contains("111111"));
        let (found, _) = find(b"alice +49 171 1111111\nalice 0171 111 1111\n", "alice");
        assert_eq!(found, Ok(Some("+491711111111".into())));
        // a bad number anywhere for the user is refused, even after a good one
        let (found, _) = find(b"alice +49 171 1111111\nalice +49 171 x\n", "alice");
        assert!(found.is_err_and(|e| e.contains("line 2")));
    }

    #[test]
    fn the_users_own_damaged_line_is_a_refusal_not_a_missing_number() {
        for map in [&b"alice +49 171 \xFC111111\nbob +49 171 2222222\n"[..], b"alice\nbob +49 171 2222222\n"] {
            let (found, _) = find(map, "alice");
            assert!(found.is_err_and(|e| e.contains("line 1")), "{map:?}");
            assert_eq!(find(map, "bob").0, Ok(Some("+491712222222".into())));
        }
    }

    #[test]
    fn warnings_are_capped_and_carry_no_content() {
        let mut map = Vec::new();
        for _ in 0..12 {
            map.extend_from_slice(b"x\xFC\x1b[31m +49 171 1234567\n");
        }
        map.extend_from_slice(b"nonumber\n");
        let log = MemoryLog::default();
        let dir = FileDirectory::new("/map\n".into(), String::new());
        {
            let mut warnings = Warnings::new(dir.describe(), &log);
            assert_eq!(dir.find(&map, "bob", &mut warnings).unwrap(), None);
        }
        let lines = log.lines();
        assert_eq!(lines.len(), 11, "{lines:?}");
        assert_eq!(lines[0], "file /map? line 1: not UTF-8; line skipped");
        assert_eq!(lines[10], "file /map?: 3 more problems of this kind not shown");
        assert!(lines.iter().all(|l| !l.chars().any(char::is_control) && !l.contains("1234567")));
    }
}
