//! `type = "ldif"`: an LDIF export (RFC 2849) of the directory, read as a
//! stream of entries; only the user attribute and the phone attributes are kept.

use std::path::PathBuf;
use std::time::Duration;

use base64::Engine;

use crate::auth::{Directory, DirectoryError, PhoneRecord};
use crate::config::{LdifConfig, read_secure_file};
use crate::log::Log;
use crate::phone::Phone;

/// Malformed entries reported one by one before they are only counted.
const MAX_WARNINGS: usize = 10;

pub struct LdifDirectory {
    path: PathBuf,
    user_attribute: String,
    phone_attributes: Vec<String>,
    default_country_code: String,
}

/// One entry with the attributes asked for (names in lower case, without options).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub line: usize,
    pub dn: String,
    pub attrs: Vec<(String, String)>,
}

impl Entry {
    fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.attrs.iter().filter(move |(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// Read every entry of `text`, keeping the attributes in `wanted` (lower case).
/// A malformed entry is handed to `on_error` with its first line and skipped.
pub fn read_entries(text: &str, wanted: &[String], mut on_entry: impl FnMut(Entry), mut on_error: impl FnMut(usize, String)) {
    let mut entry: Option<Result<Entry, String>> = None;
    let mut entry_line = 0;
    let mut logical = String::new();
    let mut logical_line = 0;
    let mut in_comment = false;

    let finish_line = |logical: &mut String, line: usize, entry: &mut Option<Result<Entry, String>>, entry_line: &mut usize| {
        if logical.is_empty() {
            return;
        }
        // most lines are attributes nobody asked for: skip them without allocating
        if matches!(entry, Some(Ok(_))) {
            let name = logical.split([':', ';']).next().unwrap_or("").trim();
            if logical.contains(':') && !wanted.iter().any(|w| w.eq_ignore_ascii_case(name)) {
                logical.clear();
                return;
            }
        }
        let parsed = parse_line(logical);
        logical.clear();
        match entry {
            None => {
                *entry_line = line;
                *entry = Some(match parsed {
                    Ok((name, value)) if name == "dn" => Ok(Entry { line, dn: value, attrs: Vec::new() }),
                    Ok((name, _)) if name == "version" => return,
                    Ok((name, _)) => Err(format!("an entry starts with {name:?} instead of dn")),
                    Err(e) => Err(e),
                });
            }
            Some(Ok(e)) => match parsed {
                Ok((name, value)) if wanted.contains(&name) => e.attrs.push((name, value)),
                Ok(_) => {}
                Err(why) => *entry = Some(Err(format!("line {line}: {why}"))),
            },
            Some(Err(_)) => {}
        }
    };

    for (index, raw) in text.split('\n').enumerate() {
        let lineno = index + 1;
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if let Some(rest) = line.strip_prefix(' ') {
            if !in_comment {
                logical.push_str(rest);
            }
            continue;
        }
        finish_line(&mut logical, logical_line, &mut entry, &mut entry_line);
        in_comment = line.starts_with('#');
        if in_comment {
            continue;
        }
        if line.is_empty() {
            match entry.take() {
                Some(Ok(e)) => on_entry(e),
                Some(Err(why)) => on_error(entry_line, why),
                None => {}
            }
            continue;
        }
        logical.push_str(line);
        logical_line = lineno;
    }
    finish_line(&mut logical, logical_line, &mut entry, &mut entry_line);
    match entry.take() {
        Some(Ok(e)) => on_entry(e),
        Some(Err(why)) => on_error(entry_line, why),
        None => {}
    }
}

/// "name: value", "name:: base64" (or "name:< url", not supported). The name is
/// returned in lower case without options ("mobile;lang-de" is "mobile").
fn parse_line(line: &str) -> Result<(String, String), String> {
    let (name, rest) = line.split_once(':').ok_or_else(|| "a line without ':'".to_string())?;
    let name = name.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.') {
        return Err(format!("{name:?} is not an attribute name"));
    }
    if let Some(encoded) = rest.strip_prefix(':') {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .map_err(|_| format!("the base64 value of {name} does not decode"))?;
        let text = String::from_utf8(bytes).map_err(|_| format!("the value of {name} is not UTF-8"))?;
        return Ok((name, text));
    }
    if rest.starts_with('<') {
        return Err(format!("{name} refers to a URL, which is not supported"));
    }
    Ok((name, rest.trim_start_matches(' ').to_string()))
}

impl LdifDirectory {
    pub fn new(config: &LdifConfig, default_country_code: String) -> Self {
        LdifDirectory {
            path: config.path.clone(),
            user_attribute: config.user_attribute.to_ascii_lowercase(),
            phone_attributes: config.phone_attributes.iter().map(|a| a.to_ascii_lowercase()).collect(),
            default_country_code,
        }
    }
}

impl Directory for LdifDirectory {
    fn describe(&self) -> String {
        format!("ldif {}", self.path.display())
    }

    fn lookup(&self, user: &str, _remaining: Duration, log: &dyn Log) -> Result<Option<PhoneRecord>, DirectoryError> {
        let text = read_secure_file(&self.path)
            .map_err(|e| DirectoryError::Unavailable { source_name: self.describe(), reason: e.to_string() })?;
        let mut wanted = self.phone_attributes.clone();
        wanted.push(self.user_attribute.clone());
        let mut matches: Vec<Entry> = Vec::new();
        let mut bad = 0usize;
        read_entries(
            &text,
            &wanted,
            |e| {
                if e.values(&self.user_attribute).any(|v| v.eq_ignore_ascii_case(user)) {
                    matches.push(e);
                }
            },
            |line, why| {
                bad += 1;
                if bad <= MAX_WARNINGS {
                    log.warn(&format!("{} line {line}: {why}; entry skipped", self.describe()));
                }
            },
        );
        if bad > MAX_WARNINGS {
            log.warn(&format!("{}: {} more malformed entries skipped", self.describe(), bad - MAX_WARNINGS));
        }
        let entry = match matches.len() {
            0 => return Ok(None),
            1 => matches.remove(0),
            n => {
                let lines: Vec<String> = matches.iter().map(|e| e.line.to_string()).collect();
                return Err(DirectoryError::Refused {
                    source_name: self.describe(),
                    reason: format!("{n} entries match the user (lines {}); refusing to guess", lines.join(", ")),
                });
            }
        };
        let raw = self.phone_attributes.iter().find_map(|a| entry.values(a).next());
        match raw {
            None => Ok(None),
            Some(raw) => match Phone::normalise(raw, &self.default_country_code) {
                Ok(phone) => Ok(Some(PhoneRecord { phone, source: self.describe(), dn: Some(entry.dn) })),
                Err(e) => {
                    Err(DirectoryError::Refused { source_name: format!("{} line {}", self.describe(), entry.line), reason: e.to_string() })
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(text: &str) -> (Vec<Entry>, Vec<(usize, String)>) {
        let wanted: Vec<String> = ["uid", "mobile", "telephonenumber", "cn"].iter().map(|s| s.to_string()).collect();
        let mut entries = Vec::new();
        let mut errors = Vec::new();
        read_entries(text, &wanted, |e| entries.push(e), |l, w| errors.push((l, w)));
        (entries, errors)
    }

    #[test]
    fn entries_comments_continuations_and_base64() {
        let text = "version: 1\n\
# a comment\n\
#  folded comment line\n\
dn: uid=alice,ou=people,dc=example,dc=org\n\
uid: alice\n\
mobile: +1 555\n 123 4567\n\
description: ignored\n\
\n\
dn:: dWlkPWrDvHJnZW4sb3U9cGVvcGxlLGRjPWV4YW1wbGUsZGM9b3Jn\n\
uid: jürgen\n\
cn:: SsO8cmdlbiBNw7xsbGVy\n\
telephoneNumber: +49 171 2345678\r\n\
mobile;lang-de: 0171 9999999\n\
\n\
\n\
dn: uid=bob,ou=people,dc=example,dc=org\n\
uid: bob\n";
        let (entries, errors) = all(text);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(entries.len(), 3);
        assert_eq!(entries[0].dn, "uid=alice,ou=people,dc=example,dc=org");
        assert_eq!(entries[0].line, 4);
        assert_eq!(entries[0].values("mobile").collect::<Vec<_>>(), vec!["+1 555123 4567"]);
        assert_eq!(entries[1].dn, "uid=jürgen,ou=people,dc=example,dc=org");
        assert_eq!(entries[1].values("cn").next(), Some("Jürgen Müller"));
        assert_eq!(entries[1].values("telephonenumber").next(), Some("+49 171 2345678"));
        assert_eq!(entries[1].values("mobile").next(), Some("0171 9999999"));
        assert_eq!(entries[2].values("uid").next(), Some("bob"));
    }

    #[test]
    fn broken_entries_are_reported_with_their_line_and_skipped() {
        let text = "dn: uid=a,dc=x\nuid: a\nmobile: +15551234567\n\n\
uid: nodn\nmobile: +15550000000\n\n\
dn: uid=b,dc=x\nthis line has no colon\nuid: b\n\n\
dn: uid=c,dc=x\nmobile:: !!!notbase64\n\n\
dn: uid=d,dc=x\nmobile:< file:///etc/shadow\n\n\
dn: uid=e,dc=x\nuid: e\n";
        let (entries, errors) = all(text);
        assert_eq!(entries.iter().map(|e| e.dn.as_str()).collect::<Vec<_>>(), vec!["uid=a,dc=x", "uid=e,dc=x"]);
        let lines: Vec<usize> = errors.iter().map(|(l, _)| *l).collect();
        assert_eq!(lines, vec![5, 8, 12, 15]);
        assert!(errors[0].1.contains("instead of dn"));
        assert!(errors[1].1.contains("without ':'"));
        assert!(errors[2].1.contains("base64"));
        assert!(errors[3].1.contains("URL"));
    }

    #[test]
    fn garbage_never_panics() {
        for text in ["", "\n\n\n", ":", "::", " leading continuation", "dn", "dn:\n \n \n", "\u{0}\u{1}:\u{2}", "dn: x\n:: \n", "#\n #\n"] {
            let _ = all(text);
        }
    }
}
