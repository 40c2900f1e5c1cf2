//! `type = "file"`: a root-owned map of `user  number` lines.

use std::path::PathBuf;
use std::time::Duration;

use crate::auth::{Directory, DirectoryError, PhoneRecord};
use crate::config::read_secure_file;
use crate::log::Log;
use crate::phone::Phone;

pub struct FileDirectory {
    path: PathBuf,
    default_country_code: String,
}

impl FileDirectory {
    pub fn new(path: PathBuf, default_country_code: String) -> Self {
        FileDirectory { path, default_country_code }
    }
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
        format!("file {}", self.path.display())
    }

    fn lookup(&self, user: &str, _remaining: Duration, log: &dyn Log) -> Result<Option<PhoneRecord>, DirectoryError> {
        let text = read_secure_file(&self.path)
            .map_err(|e| DirectoryError::Unavailable { source_name: self.describe(), reason: e.to_string() })?;
        for (index, line) in text.lines().enumerate() {
            let lineno = index + 1;
            match parse_line(line) {
                None => {}
                Some(Err(why)) => log.warn(&format!("{} line {lineno}: {why}; line skipped", self.describe())),
                Some(Ok((name, number))) if name == user => {
                    return match Phone::normalise(number, &self.default_country_code) {
                        Ok(phone) => Ok(Some(PhoneRecord { phone, source: self.describe(), dn: None })),
                        Err(e) => Err(DirectoryError::Refused {
                            source_name: format!("{} line {lineno}", self.describe()),
                            reason: e.to_string(),
                        }),
                    };
                }
                Some(Ok(_)) => {}
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_parse_with_comments_and_spaces() {
        assert_eq!(parse_line("alice  +1 555 123 4567  # desk"), Some(Ok(("alice", "+1 555 123 4567"))));
        assert_eq!(parse_line("\tbob\t+44 7700 900123"), Some(Ok(("bob", "+44 7700 900123"))));
        assert_eq!(parse_line("# just a comment"), None);
        assert_eq!(parse_line("   "), None);
        assert!(matches!(parse_line("carol"), Some(Err(_))));
        assert!(matches!(parse_line("carol   # no number"), Some(Err(_))));
    }
}
