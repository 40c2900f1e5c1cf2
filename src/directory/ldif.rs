//! `type = "ldif"`: an LDIF export (RFC 2849) of the directory, read as a
//! stream of entries; only the user attribute and the phone attributes are kept.

use std::path::PathBuf;
use std::time::Duration;

use base64::Engine;

use super::file::{Warnings, numbered_lines, printable, read_source};
use crate::auth::{Directory, DirectoryError, PhoneRecord};
use crate::config::LdifConfig;
use crate::log::Log;

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

/// What the reader finds, in the order of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    Entry(Entry),
    /// An entry that cannot be used as a whole: why (with the line at fault),
    /// and what of it could be read, so that a lookup can tell whose it was.
    Malformed {
        entry: Entry,
        why: String,
    },
    /// A sloppy place in the file that costs no entry (a missing blank line).
    Warning {
        line: usize,
        why: String,
    },
}

/// Read every entry of `text`, keeping the attributes in `wanted` (lower case).
/// A malformed entry is handed to `on_error` with its first line and skipped;
/// so is a warning, with its line.
pub fn read_entries(text: &str, wanted: &[String], mut on_entry: impl FnMut(Entry), mut on_error: impl FnMut(usize, String)) {
    read_entry_bytes(text.as_bytes(), wanted, |found| match found {
        Found::Entry(e) => on_entry(e),
        Found::Malformed { entry, why } => on_error(entry.line, why),
        Found::Warning { line, why } => on_error(line, why),
    })
}

/// The entry being read and the first problem found in it.
struct Building {
    entry: Entry,
    problem: Option<String>,
}

impl Building {
    fn fail(&mut self, line: usize, why: &str) {
        self.problem.get_or_insert_with(|| if line == self.entry.line { why.to_string() } else { format!("line {line}: {why}") });
    }

    fn finish(self) -> Found {
        match self.problem {
            None => Found::Entry(self.entry),
            Some(why) => Found::Malformed { entry: self.entry, why },
        }
    }
}

/// Read the entries of an LDIF file as bytes: each logical line (a line and
/// its continuations) is decoded on its own, so bytes that are not UTF-8 cost
/// their entry only. A `dn:` line always starts a new entry, and a line of
/// nothing but spaces and tabs ends one, so no entry takes another's attributes.
pub fn read_entry_bytes(bytes: &[u8], wanted: &[String], mut found: impl FnMut(Found)) {
    let mut building: Option<Building> = None;
    let mut logical: Vec<u8> = Vec::new();
    let mut logical_line = 0;
    let mut in_comment = false;
    for (lineno, line) in numbered_lines(bytes) {
        let blank = line.iter().all(|b| matches!(b, b' ' | b'\t' | b'\r'));
        if let (false, Some(rest)) = (blank, line.strip_prefix(b" ")) {
            if in_comment {
                continue;
            }
            if logical.is_empty() {
                // RFC 2849 continues a line; with none before, it is not data
                found(Found::Warning { line: lineno, why: "a continued line with no line before it; skipped".into() });
                continue;
            }
            logical.extend_from_slice(rest);
            continue;
        }
        take_logical_line(&logical, logical_line, wanted, &mut building, &mut found);
        logical.clear();
        in_comment = line.starts_with(b"#");
        if blank {
            if let Some(b) = building.take() {
                found(b.finish());
            }
        } else if !in_comment {
            logical.extend_from_slice(line);
            logical_line = lineno;
        }
    }
    take_logical_line(&logical, logical_line, wanted, &mut building, &mut found);
    if let Some(b) = building.take() {
        found(b.finish());
    }
}

/// One complete logical line: a `dn:` that starts an entry, or an attribute of
/// the entry being read.
fn take_logical_line(logical: &[u8], line: usize, wanted: &[String], building: &mut Option<Building>, found: &mut impl FnMut(Found)) {
    if logical.is_empty() {
        return;
    }
    let name = logical.split(|&b| b == b':' || b == b';').next().unwrap_or(b"").trim_ascii();
    let has_colon = logical.contains(&b':');
    if has_colon && name.eq_ignore_ascii_case(b"dn") {
        if let Some(previous) = building.take() {
            found(previous.finish());
            found(Found::Warning { line, why: "a new entry (dn) starts without a blank line before it".into() });
        }
        let mut b = Building { entry: Entry { line, dn: String::new(), attrs: Vec::new() }, problem: None };
        match std::str::from_utf8(logical).map_err(|_| "not UTF-8".to_string()).and_then(parse_line) {
            Ok((_, dn)) => b.entry.dn = dn,
            Err(why) => b.fail(line, &why),
        }
        *building = Some(b);
        return;
    }
    let b = match building {
        Some(b) => b,
        None if has_colon && name.eq_ignore_ascii_case(b"version") => return,
        None => {
            let mut b = Building { entry: Entry { line, dn: String::new(), attrs: Vec::new() }, problem: None };
            b.fail(line, "an entry starts with an attribute instead of dn");
            building.insert(b)
        }
    };
    let decoded = match std::str::from_utf8(logical) {
        Ok(text) => text,
        Err(_) => return b.fail(line, "not UTF-8"),
    };
    // most lines are attributes nobody asked for: they are checked, not kept
    let wanted_name = std::str::from_utf8(name).ok().and_then(|n| wanted.iter().find(|w| w.eq_ignore_ascii_case(n)));
    if has_colon && wanted_name.is_none() {
        return;
    }
    match parse_line(decoded) {
        Ok((name, value)) => b.entry.attrs.push((name, value)),
        Err(why) => b.fail(line, &why),
    }
}

/// "name: value", "name:: base64" (or "name:< url", not supported). The name is
/// returned in lower case without options ("mobile;lang-de" is "mobile"); a
/// plain value without the spaces (and tabs, CRs) around it. Reasons never
/// quote the line: it may hold a number.
fn parse_line(line: &str) -> Result<(String, String), String> {
    let (name, rest) = line.split_once(':').ok_or_else(|| "a line without ':'".to_string())?;
    let name = name.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.') {
        return Err("not an attribute name before ':'".into());
    }
    if let Some(encoded) = rest.strip_prefix(':') {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .map_err(|_| "a base64 value that does not decode".to_string())?;
        let text = String::from_utf8(bytes).map_err(|_| "a base64 value that is not UTF-8".to_string())?;
        return Ok((name, text));
    }
    if rest.starts_with('<') {
        return Err("a value that refers to a URL, which is not supported".into());
    }
    Ok((name, rest.trim_matches([' ', '\t', '\r']).to_string()))
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

    fn is_users(&self, entry: &Entry, user: &str) -> bool {
        entry.values(&self.user_attribute).any(|v| v.eq_ignore_ascii_case(user))
    }

    /// A malformed entry whose readable part, or whose DN's first RDN
    /// ("uid=alice,..."), names the user.
    fn may_be_users(&self, entry: &Entry, user: &str) -> bool {
        let rdn = entry.dn.split(',').next().and_then(|rdn| rdn.split_once('='));
        let by_dn = rdn
            .is_some_and(|(attr, value)| attr.trim().eq_ignore_ascii_case(&self.user_attribute) && value.trim().eq_ignore_ascii_case(user));
        by_dn || self.is_users(entry, user)
    }

    /// The user's entry in `bytes`: exactly one readable entry, or a refusal
    /// when entries are ambiguous or the user's own entry is damaged.
    fn find(&self, bytes: &[u8], user: &str, warnings: &mut Warnings) -> Result<Option<Entry>, DirectoryError> {
        let mut wanted = self.phone_attributes.clone();
        wanted.push(self.user_attribute.clone());
        let mut matches: Vec<Entry> = Vec::new();
        let mut damaged: Vec<usize> = Vec::new();
        read_entry_bytes(bytes, &wanted, |found| match found {
            Found::Entry(e) if self.is_users(&e, user) => matches.push(e),
            Found::Entry(_) => {}
            Found::Malformed { entry, why } => {
                if self.may_be_users(&entry, user) {
                    damaged.push(entry.line);
                }
                warnings.warn(entry.line, &format!("{why}; entry skipped"));
            }
            Found::Warning { line, why } => warnings.warn(line, &why),
        });
        let refuse = |reason: String| Err(DirectoryError::Refused { source_name: self.describe(), reason });
        if let Some(line) = damaged.first() {
            return refuse(format!("the user's entry at line {line} is malformed; refusing to guess"));
        }
        match matches.len() {
            0 => Ok(None),
            1 => Ok(matches.pop()),
            n => {
                let lines: Vec<String> = matches.iter().map(|e| e.line.to_string()).collect();
                refuse(format!("{n} entries match the user (lines {}); refusing to guess", lines.join(", ")))
            }
        }
    }
}

impl Directory for LdifDirectory {
    fn describe(&self) -> String {
        format!("ldif {}", printable(&self.path.display().to_string()))
    }

    fn lookup(&self, user: &str, _remaining: Duration, log: &dyn Log) -> Result<Option<PhoneRecord>, DirectoryError> {
        let bytes = read_source(&self.path).map_err(|reason| DirectoryError::Unavailable { source_name: self.describe(), reason })?;
        let entry = {
            let mut warnings = Warnings::new(self.describe(), log);
            self.find(&bytes, user, &mut warnings)?
        };
        let Some(entry) = entry else { return Ok(None) };
        let raw = self.phone_attributes.iter().find_map(|a| entry.values(a).next());
        match raw {
            None => Ok(None),
            Some(raw) => super::phone_record(
                raw,
                &self.default_country_code,
                self.describe(),
                Some(format!("line {}", entry.line)),
                Some(entry.dn.clone()),
            )
            .map(Some),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::MemoryLog;

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

    fn found(bytes: &[u8]) -> Vec<Found> {
        let wanted: Vec<String> = ["uid", "mobile", "cn"].iter().map(|s| s.to_string()).collect();
        let mut all = Vec::new();
        read_entry_bytes(bytes, &wanted, |f| all.push(f));
        all
    }

    fn entry(line: usize, dn: &str, attrs: &[(&str, &str)]) -> Entry {
        Entry { line, dn: dn.into(), attrs: attrs.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect() }
    }

    #[test]
    fn a_dn_line_always_starts_a_new_entry() {
        let got = found(b"dn: uid=a\nuid: a\ndn: uid=b\nuid: b\nmobile: +15550000002\nDn:: dWlkPWM=\nuid: c\n");
        assert_eq!(
            got,
            vec![
                Found::Entry(entry(1, "uid=a", &[("uid", "a")])),
                Found::Warning { line: 3, why: "a new entry (dn) starts without a blank line before it".into() },
                Found::Entry(entry(3, "uid=b", &[("uid", "b"), ("mobile", "+15550000002")])),
                Found::Warning { line: 6, why: "a new entry (dn) starts without a blank line before it".into() },
                Found::Entry(entry(6, "uid=c", &[("uid", "c")])),
            ]
        );
    }

    #[test]
    fn a_line_of_spaces_and_tabs_ends_an_entry() {
        // as a continuation, the line would hand the next attribute to the entry before it
        let got = found(b"dn: uid=a\nuid: a\n \t \nmobile: +15550000002\n\ndn: uid=b\nuid: b\n \n");
        assert_eq!(got.len(), 3, "{got:?}");
        assert_eq!(got[0], Found::Entry(entry(1, "uid=a", &[("uid", "a")])));
        assert!(matches!(&got[1], Found::Malformed { entry, why } if entry.line == 4 && why.contains("instead of dn")), "{got:?}");
        assert_eq!(got[2], Found::Entry(entry(6, "uid=b", &[("uid", "b")])));
    }

    #[test]
    fn crlf_a_bom_and_white_space_around_values() {
        let got = found(b"\xEF\xBB\xBFversion: 1\r\n\r\ndn: uid=a \r\nuid:a\t\r\nmobile:  +1 555\r\n 123 4567 \r\n");
        assert_eq!(got, vec![Found::Entry(entry(3, "uid=a", &[("uid", "a"), ("mobile", "+1 555123 4567")]))]);
    }

    #[test]
    fn bytes_that_are_not_utf8_cost_their_entry_only() {
        // a character folded across two lines is still one character
        let text = b"dn: uid=j\xC3\n \xBCrgen\nuid: j\xC3\xBCrgen\ncn: J\xFCrgen\n\ndn: uid=b\nuid: b\ndescription: caf\xE9\n\ndn: uid=c\nuid: c\n";
        let got = found(text);
        assert_eq!(got.len(), 3, "{got:?}");
        match &got[0] {
            Found::Malformed { entry: e, why } => {
                assert_eq!((e.line, e.dn.as_str(), why.as_str()), (1, "uid=jürgen", "line 4: not UTF-8"));
                assert_eq!(e.values("uid").next(), Some("jürgen"), "what could be read is kept");
            }
            other => panic!("{other:?}"),
        }
        // also in an attribute nobody asked for
        assert!(matches!(&got[1], Found::Malformed { entry, why } if entry.line == 6 && why == "line 8: not UTF-8"), "{got:?}");
        assert_eq!(got[2], Found::Entry(entry(10, "uid=c", &[("uid", "c")])));
    }

    #[test]
    fn reasons_quote_nothing_from_the_file() {
        let text = b"4915551234567: x\n\ndn: uid=a\n+4915551234567\n\ndn: uid=b\nmobile:: +4915551234567\n\ndn: uid=c\n+49155;x: 1\nmobile: +4915551234567\n";
        let (_, errors) = all(std::str::from_utf8(text).unwrap());
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(errors.iter().all(|(_, why)| !why.contains("5551234")), "{errors:?}");
    }

    fn directory() -> LdifDirectory {
        let config = LdifConfig { path: "/x.ldif".into(), user_attribute: "uid".into(), phone_attributes: vec!["mobile".into()] };
        LdifDirectory::new(&config, String::new())
    }

    fn find(bytes: &[u8], user: &str) -> (Result<Option<String>, String>, Vec<String>) {
        let dir = directory();
        let log = MemoryLog::default();
        let found = {
            let mut warnings = Warnings::new(dir.describe(), &log);
            dir.find(bytes, user, &mut warnings).map(|e| e.map(|e| e.dn)).map_err(|e| e.to_string())
        };
        (found, log.lines())
    }

    #[test]
    fn the_users_damaged_entry_is_a_refusal() {
        let text = b"dn: uid=a\nuid: a\ncn: \xFC\n\ndn: uid=b,dc=x\ncn: \xFC\n\ndn: uid=c\nuid: c\n";
        // known by the user attribute that could be read, or by the DN
        for user in ["a", "B"] {
            let (got, _) = find(text, user);
            assert!(got.as_ref().is_err_and(|e| e.contains("malformed; refusing")), "{user}: {got:?}");
        }
        let (got, log) = find(text, "c");
        assert_eq!(got, Ok(Some("uid=c".into())));
        assert_eq!(
            log,
            vec!["ldif /x.ldif line 1: line 3: not UTF-8; entry skipped", "ldif /x.ldif line 5: line 6: not UTF-8; entry skipped"]
        );
    }

    #[test]
    fn warnings_are_capped_per_lookup() {
        let mut text = Vec::new();
        for i in 0..14 {
            text.extend_from_slice(format!("dn: uid=u{i}\nuid: u{i}\ncn: ").as_bytes());
            text.extend_from_slice(b"\xFC\n\n");
        }
        let (got, log) = find(&text, "nobody");
        assert_eq!(got, Ok(None));
        assert_eq!(log.len(), 11, "{log:?}");
        assert_eq!(log[10], "ldif /x.ldif: 4 more problems of this kind not shown");
    }

    #[test]
    fn garbage_never_panics() {
        for text in ["", "\n\n\n", ":", "::", " leading continuation", "dn", "dn:\n \n \n", "\u{0}\u{1}:\u{2}", "dn: x\n:: \n", "#\n #\n"] {
            let _ = all(text);
        }
    }

    #[test]
    fn a_continuation_with_no_line_before_it_is_not_data() {
        let (entries, errors) = all(" dn: uid=alice,dc=x\nuid: alice\nmobile: +15551234567\n");
        assert!(entries.is_empty(), "{entries:?}");
        assert_eq!(errors.first().map(|e| e.0), Some(1), "{errors:?}");
        let (entries, _) = all("dn: uid=bob,dc=x\nuid: bob\n\n mobile: +15550000000\n");
        assert_eq!(entries.len(), 1);
        assert!(entries[0].values("mobile").next().is_none(), "after a blank line it continues nothing");
    }
}
