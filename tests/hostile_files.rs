//! Phone maps and LDIF exports as they come from the real world: byte order
//! marks, Latin-1 bytes, CRLF line ends, spaces on separator lines, missing
//! separators, trailing spaces, "(0)" numbers. Each user gets exactly their own
//! number or a clear refusal, never another user's; each damaged line or entry
//! is reported once, and no log line carries a number, raw bytes or control
//! characters. Built as real root-owned files and read through the library's
//! own directory types; one case goes through real libpam.

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use pam_smsotp::auth::DirectoryError;
use pam_smsotp::config::Config;
use pam_smsotp::log::MemoryLog;

use common::*;

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// A private file; the module trusts only root-owned files, so the tests that
/// write one need root.
fn write_root_file(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().uid(), 0, "{name}: root-owned");
    path
}

/// What one lookup gave: the number, None, or the refusal's text; and the log.
#[derive(Debug)]
struct Lookup {
    found: Result<Option<String>, String>,
    log: Vec<String>,
}

impl Lookup {
    fn number(&self) -> Option<&str> {
        self.found.as_ref().ok().and_then(|n| n.as_deref())
    }
    fn refused(&self) -> Option<&str> {
        self.found.as_ref().err().map(String::as_str)
    }
}

/// Look `user` up in the one directory `directory` (TOML) names, as the module
/// does; the file at `path` is named in the log as "<file>".
fn lookup(directory: &str, path: &Path, default_country_code: &str, user: &str) -> Lookup {
    let text = format!("[phone]\ndefault_country_code = \"{default_country_code}\"\n\n{directory}");
    let config = Config::parse(&text).unwrap();
    let dirs = pam_smsotp::directory::build(&config);
    assert_eq!(dirs.len(), 1);
    let log = MemoryLog::default();
    let found = match dirs[0].lookup(user, Duration::from_secs(5), &log) {
        Ok(record) => Ok(record.map(|r| r.phone.e164().to_string())),
        Err(e @ DirectoryError::Refused { .. }) => Err(e.to_string()),
        Err(e) => panic!("{user}: the source failed as a whole: {e}"),
    };
    let path = path.display().to_string();
    let found = found.map_err(|refusal| refusal.replace(&path, "<file>"));
    let lookup = Lookup { found, log: log.lines().iter().map(|l| l.replace(&path, "<file>")).collect() };
    assert_clean_log(&lookup.log);
    if let Err(refusal) = &lookup.found {
        assert_clean_log(std::slice::from_ref(refusal));
    }
    lookup
}

fn file_directory(path: &Path) -> String {
    format!("[[directory]]\ntype = \"file\"\npath = \"{}\"\n", path.display())
}

fn ldif_directory(path: &Path) -> String {
    format!("[[directory]]\ntype = \"ldif\"\npath = \"{}\"\nphone_attributes = [\"mobile\", \"telephoneNumber\"]\n", path.display())
}

/// No log line (nor refusal) carries a run of 5 digits (a number or part of
/// one), a replacement character (raw bytes decoded lossily) or a control character.
fn assert_clean_log(lines: &[String]) {
    for line in lines {
        assert!(!line.chars().any(char::is_control), "a control character reached the log: {line:?}");
        assert!(!line.contains('\u{FFFD}') && !line.contains('ü') && !line.contains('é'), "raw bytes reached the log: {line:?}");
        let digits = line.as_bytes().windows(5).any(|w| w.iter().all(u8::is_ascii_digit));
        assert!(!digits, "a number (or part of one) reached the log: {line:?}");
    }
}

fn count_containing(log: &[String], needle: &str) -> usize {
    log.iter().filter(|l| l.contains(needle)).count()
}

/// A phone map with every kind of damage; each user's answer and the warnings.
#[test]
fn phone_map_from_a_hostile_editor() {
    require!(Root);
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = BOM.to_vec();
    bytes.extend_from_slice(
        b"alice  +49 (0)171 2345678   \r\n\
          \x20  \t \r\n\
          bob\t+44 7700 900123\t\r\n\
          j\xFCrgen +49 171 1111111\r\n\
          carol +49 171 2222222   # caf\xE9 owner\r\n\
          dave +49 171 3333333\r\n\
          dave +49 171 4444444\r\n\
          erin +49 171 5555555\n\
          erin 0171 555 5555\n\
          frank +49 171 6\xFC666666\n\
          gina 0171 7777777 \n\
          \n",
    );
    let path = write_root_file(dir.path(), "phones", &bytes);
    let source = file_directory(&path);
    let get = |user: &str| lookup(&source, &path, "+49", user);

    // a BOM before the first name, the trunk zero in parentheses, trailing spaces, CRLF
    let alice = get("alice");
    assert_eq!(alice.number(), Some("+491712345678"), "{alice:?}");
    // a line of spaces and a tab is blank, not an error
    assert_eq!(count_containing(&alice.log, "line 2"), 0, "{alice:?}");
    // the Latin-1 line is reported once, by its number, and skipped
    assert_eq!(count_containing(&alice.log, "line 4: not UTF-8"), 1, "{alice:?}");
    assert_eq!(count_containing(&alice.log, "line 10: not UTF-8"), 1, "{alice:?}");
    assert_eq!(alice.log.len(), 2, "{alice:?}");

    assert_eq!(get("bob").number(), Some("+447700900123"));
    // Latin-1 in a comment does not touch the data before it
    assert_eq!(get("carol").number(), Some("+491712222222"));
    // a user listed twice with different numbers: ambiguous, refused
    let dave = get("dave");
    assert!(dave.refused().is_some_and(|r| r.contains("lines 6, 7")), "{dave:?}");
    // twice with the same number (written two ways): fine
    assert_eq!(get("erin").number(), Some("+491715555555"));
    // the user's own line cannot be decoded: a refusal, not "no number"
    let frank = get("frank");
    assert!(frank.refused().is_some_and(|r| r.contains("line 10")), "{frank:?}");
    assert_eq!(get("gina").number(), Some("+491717777777"));
    // nobody inherits the undecodable line, and the UTF-8 spelling finds nothing
    assert_eq!(get("jürgen").found, Ok(None));
    assert_eq!(get("j").found, Ok(None));
    assert_eq!(get("mallory").found, Ok(None));
}

#[test]
fn phone_map_warnings_are_capped_per_lookup() {
    require!(Root);
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = Vec::new();
    for i in 0..25 {
        bytes.extend_from_slice(format!("user{i}").as_bytes());
        bytes.extend_from_slice(b"\xFC +49 171 1234567\n");
    }
    bytes.extend_from_slice(b"bob +44 7700 900123\n");
    let path = write_root_file(dir.path(), "phones", &bytes);
    let bob = lookup(&file_directory(&path), &path, "", "bob");
    assert_eq!(bob.number(), Some("+447700900123"));
    assert_eq!(bob.log.len(), 11, "{bob:?}");
    assert_eq!(count_containing(&bob.log, "not UTF-8"), 10, "{bob:?}");
    assert!(bob.log[10].contains("15 more"), "{bob:?}");
}

/// An LDIF export with a BOM, CRLF, a missing separator, a separator of
/// spaces, a trailing space in a user name, Latin-1 bytes and "(0)" numbers.
#[test]
fn ldif_export_from_a_hostile_exporter() {
    require!(Root);
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = BOM.to_vec();
    bytes.extend_from_slice(
        b"version: 1\r\n\
          \r\n\
          dn: uid=alice,ou=people,dc=example,dc=org\r\n\
          uid: alice \r\n\
          mobile: +49 (0)171 2345678\t\r\n\
          dn: uid=bob,ou=people,dc=example,dc=org\r\n\
          uid: bob\r\n\
          mobile: +44 7700 900123\r\n\
          \x20  \t\r\n\
          dn: uid=carol,ou=people,dc=example,dc=org\r\n\
          uid: carol\r\n\
          cn: Carol Caf\xE9\r\n\
          mobile: +49 171 2222222\r\n\
          \r\n\
          dn: uid=dave,ou=people,dc=example,dc=org\n\
          cn: M\xFCller\n\
          uid: dave\n\
          mobile: +49 171 3333333\n\
          \x20\n\
          dn: uid=erin,ou=people,dc=example,dc=org\n\
          uid: erin\n\
          mobile: +49 171\n\
          \x20 5555555\n\
          \n\
          dn: uid=gina,ou=people,dc=example,dc=org\n\
          uid: gina\n\
          dn: uid=hank,ou=people,dc=example,dc=org\n\
          uid: hank\n\
          mobile: +41 (0)79 123 45 67\n\
          \n\
          dn: uid=j\xFCrgen,ou=people,dc=example,dc=org\n\
          uid: ivan\n\
          mobile: +49 171 9999999\n",
    );
    let path = write_root_file(dir.path(), "people.ldif", &bytes);
    let source = ldif_directory(&path);
    let get = |user: &str| lookup(&source, &path, "+49", user);

    // the BOM before "version", a trailing space after the name, "(0)", CRLF
    let alice = get("alice");
    assert_eq!(alice.number(), Some("+491712345678"), "{alice:?}");
    // bob's dn without a blank line before it: bob's own entry, reported once
    let bob = get("bob");
    assert_eq!(bob.number(), Some("+447700900123"), "{bob:?}");
    assert_eq!(count_containing(&bob.log, "line 6"), 1, "{bob:?}");
    // a Latin-1 value in the user's entry: the entry is reported, the user refused
    let carol = get("carol");
    assert!(carol.refused().is_some_and(|r| r.contains("line 10")), "{carol:?}");
    assert_eq!(count_containing(&carol.log, "line 10: line 12: not UTF-8"), 1, "{carol:?}");
    // also when the bad bytes come before the user attribute
    let dave = get("dave");
    assert!(dave.refused().is_some_and(|r| r.contains("line 15")), "{dave:?}");
    // a separator of one space is a separator; a folded value still folds
    assert_eq!(get("erin").number(), Some("+491715555555"));
    // gina has no number and must not take hank's, which follows without a blank line
    assert_eq!(get("gina").found, Ok(None));
    assert_eq!(get("hank").number(), Some("+41791234567"));
    // an entry whose dn cannot be decoded is skipped as a whole
    let ivan = get("ivan");
    assert!(ivan.refused().is_some(), "ivan's entry is damaged: {ivan:?}");
    assert_eq!(count_containing(&ivan.log, "line 31"), 1, "{ivan:?}");
    assert_eq!(get("mallory").found, Ok(None));
    // every lookup reports each damaged place exactly once
    for user in ["alice", "mallory"] {
        let l = get(user);
        assert_eq!(l.log.len(), 5, "{l:?}");
        for line in ["line 6", "line 10", "line 15", "line 27", "line 31"] {
            assert_eq!(count_containing(&l.log, line), 1, "{line}: {l:?}");
        }
    }
}

/// Without a separator, the second entry is the user's: each user still gets
/// their own number, whichever of the two attributes each entry has.
#[test]
fn ldif_missing_separator_never_swaps_numbers() {
    require!(Root);
    let dir = tempfile::tempdir().unwrap();
    let cases: &[&[u8]] = &[
        b"dn: uid=alice,dc=x\nuid: alice\nmobile: +15550000001\ndn: uid=bob,dc=x\nuid: bob\nmobile: +15550000002\n",
        b"dn: uid=alice,dc=x\nmobile: +15550000001\nuid: alice\ndn: uid=bob,dc=x\nmobile: +15550000002\nuid: bob\n",
        b"dn: uid=alice,dc=x\nuid: alice\ntelephoneNumber: +15550000001\ndn: uid=bob,dc=x\nuid: bob\nmobile: +15550000002\n",
        b"dn: uid=alice,dc=x\nuid: alice\n  \ndn: uid=bob,dc=x\nuid: bob\nmobile: +15550000002\n",
        b"dn: uid=alice,dc=x\nuid: alice\n\t\ndn: uid=bob,dc=x\nuid: bob\nmobile: +15550000002\n",
        b"dn: uid=alice,dc=x\nuid: alice\nDN: uid=bob,dc=x\nuid: bob\nmobile: +15550000002\n",
    ];
    for (i, bytes) in cases.iter().enumerate() {
        let path = write_root_file(dir.path(), &format!("case{i}.ldif"), bytes);
        let source = ldif_directory(&path);
        let alice = lookup(&source, &path, "", "alice");
        let bob = lookup(&source, &path, "", "bob");
        let text = String::from_utf8_lossy(bytes);
        assert_eq!(bob.number(), Some("+15550000002"), "case {i}:\n{text}\n{bob:?}");
        match alice.number() {
            None => assert!(!text.contains("+15550000001"), "case {i}: alice lost her own number\n{text}\n{alice:?}"),
            Some(n) => assert_eq!(n, "+15550000001", "case {i}: alice got another number\n{text}"),
        }
    }
}

/// Bob's entry follows alice's without a blank line: through real libpam,
/// bob's code goes to bob's number and alice's to alice's.
#[test]
fn ldif_without_separator_through_real_libpam() {
    require!(Root, PamWrapper);
    let s = Setup::new("");
    let export = s.path("people.ldif");
    let mut bytes = BOM.to_vec();
    bytes.extend_from_slice(
        b"version: 1\r\n\r\n\
          dn: uid=alice,ou=people,dc=example,dc=org\r\n\
          uid: alice\r\n\
          mobile: +1 555 123 4567 \r\n\
          dn: uid=bob,ou=people,dc=example,dc=org\r\n\
          uid: bob\r\n\
          mobile: +44 (0)7700 900123\r\n\
          \x20 \r\n\
          dn: uid=carol,ou=people,dc=example,dc=org\r\n\
          uid: carol\r\n\
          cn: Carol Caf\xE9\r\n\
          mobile: +1 555 000 0003\r\n",
    );
    std::fs::write(&export, bytes).unwrap();
    std::fs::set_permissions(&export, std::fs::Permissions::from_mode(0o600)).unwrap();
    let text = s.config_text();
    let start = text.find("[[directory]]").unwrap();
    let end = start + text[start..].find("\n\n").unwrap();
    s.rewrite_config(&text.replace(&text[start..end], &format!("[[directory]]\ntype = \"ldif\"\npath = \"{}\"", export.display())));

    let out = s.login_as("bob", Stack::Probe, &[Reply::Code], &[], |s| s.spool_texts());
    assert_eq!(out.rc, PAM_SUCCESS, "{out:?}");
    assert_eq!(s.spool_numbers(), vec!["+447700900123"]);
    assert!(out.log.contains("line 6:"), "the missing separator is reported: {}", out.log);
    let out = s.login_as("alice", Stack::Probe, &[Reply::Code], &[], |s| s.spool_texts());
    assert_eq!(out.rc, PAM_SUCCESS, "{out:?}");
    assert_eq!(s.spool_numbers(), vec!["+447700900123", PHONE]);
    // carol's entry holds Latin-1 bytes: refused, no SMS, the entry reported by line
    let out = s.login_as("carol", Stack::Probe, &[Reply::Code], &[], |s| s.spool_texts());
    assert_eq!(out.rc, PAM_AUTH_ERR, "{out:?}");
    assert_eq!(s.spool_numbers().len(), 2);
    assert!(out.log.contains("line 10: line 12: not UTF-8"), "{}", out.log);
    assert!(!out.log.contains("5550000003"), "{}", out.log);
}
