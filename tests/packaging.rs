//! Packaging documentation: the man pages rendered with warnings as errors,
//! and the documentation checked against the code: every configuration key the
//! parser accepts is in pam_smsotp.toml(5) and in conf/pam_smsotp.toml and
//! nothing else is, and every `smsotp` command and option is in smsotp(8) and
//! nothing else is. The packages themselves (built from source by
//! dpkg-buildpackage and rpmbuild) are tested in tests/source_packages.rs.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;

use pam_smsotp::config::keys;

const PRESETS: &[&str] = &["twilio", "vonage", "plivo", "clickatell", "bulksms", "messagebird", "sinch", "telnyx", "infobip", "kannel"];

// ---------------------------------------------------------------------------
// helpers

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn run(cmd: &mut Command) -> Output {
    let shown = format!("{cmd:?}");
    let out = cmd.output().unwrap_or_else(|e| panic!("{shown}: {e}"));
    if !out.status.success() {
        panic!("{shown} failed ({}):\n{}\n{}", out.status, String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    }
    out
}

fn stdout(cmd: &mut Command) -> String {
    String::from_utf8(run(cmd).stdout).unwrap()
}

// ---------------------------------------------------------------------------
// man pages

const PAGES: &[&str] =
    &["packaging/man/pam_smsotp.8", "packaging/man/pam_smsotp.toml.5", "packaging/man/smsotp.8", "packaging/man/smsotp-dlrd.8"];

fn man_warnings(page: &Path) -> (String, String) {
    let out = Command::new("man")
        .args(["--warnings", "-l"])
        .arg(page)
        .env("MANWIDTH", "80")
        .env("LC_ALL", "C.UTF-8")
        .env("MAN_KEEP_FORMATTING", "")
        .env("PAGER", "cat")
        .output()
        .unwrap();
    assert!(out.status.success(), "man -l {}: {}", page.display(), String::from_utf8_lossy(&out.stderr));
    (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn man_pages_render_without_warnings() {
    require!(Programs(&["man", "groff"]));
    for page in PAGES {
        let (text, warnings) = man_warnings(&repo().join(page));
        assert!(warnings.trim().is_empty(), "man --warnings -l {page}:\n{warnings}");
        assert!(text.contains("NAME") && text.contains("SEE ALSO"), "{page}");
    }
}

// ---------------------------------------------------------------------------
// the configuration keys: parser <-> pam_smsotp.toml(5) <-> conf/pam_smsotp.toml

fn parser_keys() -> BTreeSet<String> {
    keys::all().unwrap_or_else(|e| panic!("config::keys: {e}")).into_iter().collect()
}

/// Entries of pam_smsotp.toml(5): a `.TP`/`.TQ` tag `.B KEY` or `.BR KEY ...`
/// under a `.\" keys: TABLE...` comment counts as KEY of each TABLE.
fn man_page_keys(page: &str) -> BTreeSet<String> {
    let mut scopes: Vec<String> = Vec::new();
    let mut tag_next = false;
    let mut out = BTreeSet::new();
    for line in page.lines() {
        if let Some(rest) = line.strip_prefix(".\\\" keys:") {
            scopes = rest.split_whitespace().map(str::to_string).collect();
            continue;
        }
        if line == ".TP" || line == ".TQ" {
            tag_next = true;
            continue;
        }
        if tag_next {
            tag_next = false;
            let tag = line.strip_prefix(".BR ").or_else(|| line.strip_prefix(".B "));
            if let (Some(tag), false) = (tag, scopes.is_empty()) {
                let key = tag.split_whitespace().next().unwrap().trim_matches('"');
                for s in &scopes {
                    out.insert(format!("{s}.{key}"));
                }
            }
        }
    }
    out
}

#[test]
fn every_config_key_is_in_the_man_page_and_every_documented_key_exists() {
    let keys = parser_keys();
    let page = fs::read_to_string(repo().join("packaging/man/pam_smsotp.toml.5")).unwrap();
    let documented = man_page_keys(&page);
    let undocumented: Vec<_> = keys.difference(&documented).collect();
    let unknown: Vec<_> = documented.difference(&keys).collect();
    assert!(
        undocumented.is_empty() && unknown.is_empty(),
        "keys the parser accepts but pam_smsotp.toml(5) does not describe: {undocumented:#?}\n\
         keys pam_smsotp.toml(5) describes but the parser rejects: {unknown:#?}"
    );
}

/// `key = value` lines of the annotated config, commented out or not, as
/// dotted paths: `[section]` keys, `[[array]]` keys resolved by the entry's
/// `type`, and the keys of inline tables (`auth = { type = "bearer", ... }`).
fn conf_keys(text: &str) -> BTreeSet<String> {
    fn key_of(line: &str) -> Option<(&str, &str)> {
        let (k, v) = line.split_once('=')?;
        let k = k.trim();
        (!k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')).then_some((k, v.trim()))
    }
    /// `"x"   # comment` -> x
    fn string_value(v: &str) -> String {
        match v.strip_prefix('"') {
            Some(rest) => rest.split('"').next().unwrap_or("").to_string(),
            None => v.split('#').next().unwrap_or("").trim().to_string(),
        }
    }
    fn inline_keys(v: &str) -> Vec<(String, String)> {
        let inner = v.trim().strip_prefix('{').and_then(|s| s.split('}').next()).unwrap_or("");
        inner
            .split(',')
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.trim().to_string(), v.trim().trim_matches('"').to_string()))
            .filter(|(k, _)| k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
            .collect()
    }
    let mut out = BTreeSet::new();
    let mut section = String::new();
    let mut array = false;
    let mut entry: Vec<(String, String)> = Vec::new();
    let flush = |section: &str, entry: &mut Vec<(String, String)>, out: &mut BTreeSet<String>| {
        if entry.is_empty() {
            return;
        }
        let kind = entry.iter().find(|(k, _)| k == "type").map(|(_, v)| string_value(v));
        for (k, v) in entry.drain(..) {
            match &kind {
                _ if k == "type" => {
                    out.insert(format!("{section}.type"));
                }
                Some(kind) => {
                    out.insert(format!("{section}.{kind}.{k}"));
                    if k == "auth" || k == "success_json" {
                        let inline = inline_keys(&v);
                        let sub = inline.iter().find(|(k, _)| k == "type").map(|(_, v)| v.clone());
                        for (ik, _) in &inline {
                            match (&sub, ik.as_str()) {
                                (_, "type") => out.insert(format!("{section}.{kind}.{k}.type")),
                                (Some(sub), _) => out.insert(format!("{section}.{kind}.{k}.{sub}.{ik}")),
                                (None, _) => out.insert(format!("{section}.{kind}.{k}.{ik}")),
                            };
                        }
                    }
                }
                None => {
                    out.insert(format!("{section}.?.{k}"));
                }
            }
        }
    };
    for raw in text.lines() {
        let line = raw.trim_start_matches(|c: char| c == '#' || c.is_whitespace());
        if let Some(name) = line.strip_prefix("[[").and_then(|l| l.split("]]").next()) {
            flush(&section, &mut entry, &mut out);
            section = name.trim().to_string();
            array = true;
        } else if let Some(name) = line
            .strip_prefix('[')
            .and_then(|l| l.split(']').next())
            // `[state.redis]`: a table inside a section
            .filter(|n| n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.') && !n.is_empty())
        {
            flush(&section, &mut entry, &mut out);
            section = name.to_string();
            array = false;
        } else if let Some((k, v)) = key_of(line) {
            if section.is_empty() {
                continue;
            }
            if array {
                entry.push((k.to_string(), v.to_string()));
            } else {
                out.insert(format!("{section}.{k}"));
            }
        }
    }
    flush(&section, &mut entry, &mut out);
    out
}

fn words(text: &str) -> BTreeSet<String> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).filter(|w| !w.is_empty()).map(str::to_string).collect()
}

#[test]
fn every_config_key_is_in_the_annotated_config_and_every_key_there_exists() {
    let keys = parser_keys();
    let text = fs::read_to_string(repo().join("conf/pam_smsotp.toml")).unwrap();
    let written = conf_keys(&text);
    // every `key = ...` line in the file, commented out or not, is a real key where it stands
    let unknown: Vec<_> =
        written.iter().filter(|k| !keys.contains(*k) && !keys::FREE_FORM.iter().any(|f| k.starts_with(&format!("{f}.")))).collect();
    assert!(unknown.is_empty(), "conf/pam_smsotp.toml shows keys the parser rejects there: {unknown:#?}");
    // every key the parser accepts is shown: as a `key = ...` line where it
    // belongs, or, for the provider presets and the auth variants, which the
    // file lists in prose ("twilio: account_sid, auth_token | auth_token_file"),
    // by name next to its type's name
    let vocabulary = words(&text);
    let mut absent = Vec::new();
    for key in &keys {
        if written.contains(key) {
            continue;
        }
        let parts: Vec<&str> = key.split('.').collect();
        let listed_in_prose = (parts.len() >= 3 && PRESETS.contains(&parts[1]) || key.starts_with("connector.http.auth."))
            && parts[1..].iter().all(|p| vocabulary.contains(*p));
        if !listed_in_prose {
            absent.push(key);
        }
    }
    assert!(absent.is_empty(), "keys the parser accepts that conf/pam_smsotp.toml does not show: {absent:#?}");
}

// ---------------------------------------------------------------------------
// smsotp(8) <-> the command line

struct Cli {
    /// leaf command path ("backup-codes generate") -> its options and arguments
    commands: BTreeMap<String, (BTreeSet<String>, BTreeSet<String>)>,
    global: BTreeSet<String>,
}

fn help(args: &[&str]) -> String {
    stdout(Command::new(env!("CARGO_BIN_EXE_smsotp")).args(args).arg("--help").env_clear())
}

/// The lines of a `--help` block ("Commands:", "Options:", "Arguments:").
fn block<'a>(text: &'a str, title: &str) -> Vec<&'a str> {
    text.lines().skip_while(|l| *l != title).skip(1).take_while(|l| !l.trim().is_empty()).collect()
}

fn options_of(text: &str) -> BTreeSet<String> {
    block(text, "Options:")
        .iter()
        .flat_map(|l| l.split_whitespace().take_while(|w| w.starts_with('-')).map(|w| w.trim_end_matches(',').to_string()))
        .collect()
}

fn cli() -> Cli {
    fn walk(path: &[String], out: &mut BTreeMap<String, (BTreeSet<String>, BTreeSet<String>)>) {
        let args: Vec<&str> = path.iter().map(String::as_str).collect();
        let text = help(&args);
        let subs: Vec<String> = block(&text, "Commands:")
            .iter()
            .filter_map(|l| l.split_whitespace().next())
            .filter(|c| *c != "help")
            .map(str::to_string)
            .collect();
        if subs.is_empty() {
            let arguments = block(&text, "Arguments:")
                .iter()
                .filter_map(|l| l.split_whitespace().next())
                .map(|a| a.trim_matches(|c| c == '<' || c == '>' || c == '[' || c == ']' || c == '.').to_string())
                .collect();
            out.insert(path.join(" "), (options_of(&text), arguments));
        } else {
            for s in subs {
                let mut p = path.to_vec();
                p.push(s);
                walk(&p, out);
            }
        }
    }
    let mut commands = BTreeMap::new();
    walk(&[], &mut commands);
    Cli { commands, global: options_of(&help(&[])) }
}

/// Plain text of troff source: escapes that matter here undone.
fn untroff(s: &str) -> String {
    s.replace("\\-", "-")
        .replace("\\(dq", "\"")
        .replace("\\fB", "")
        .replace("\\fI", "")
        .replace("\\fR", "")
        .replace("\\fP", "")
        .replace("\\c", "")
}

/// The page's sections (.SH) and, within COMMANDS, subsections (.SS).
fn sections(page: &str) -> (BTreeMap<String, String>, BTreeMap<String, String>) {
    let mut sh = BTreeMap::new();
    let mut ss = BTreeMap::new();
    let (mut cur_sh, mut cur_ss) = (String::new(), None::<String>);
    for line in page.lines() {
        let line = untroff(line);
        if let Some(t) = line.strip_prefix(".SH ") {
            cur_sh = t.trim_matches('"').to_string();
            cur_ss = None;
        } else if let Some(t) = line.strip_prefix(".SS ") {
            cur_ss = Some(t.trim_matches('"').to_string());
            if cur_sh == "COMMANDS" {
                ss.entry(t.trim_matches('"').to_string()).or_insert_with(String::new);
            }
        } else {
            sh.entry(cur_sh.clone()).or_insert_with(String::new).push_str(&format!("{line}\n"));
            if let (Some(s), "COMMANDS") = (&cur_ss, cur_sh.as_str()) {
                ss.get_mut(s).unwrap().push_str(&format!("{line}\n"));
            }
        }
    }
    (sh, ss)
}

#[test]
fn smsotp_man_page_names_every_command_and_option_and_nothing_else() {
    let cli = cli();
    assert!(cli.commands.contains_key("check") && cli.commands.contains_key("backup-codes generate"), "{:?}", cli.commands.keys());
    let page = fs::read_to_string(repo().join("packaging/man/smsotp.8")).unwrap();
    let (sh, ss) = sections(&page);

    let documented: BTreeSet<&String> = ss.keys().collect();
    let existing: BTreeSet<&String> = cli.commands.keys().collect();
    assert_eq!(documented, existing, "COMMANDS subsections of smsotp(8) vs the commands of smsotp --help");

    let synopsis = &sh["SYNOPSIS"];
    let synopsis_words = words(&synopsis.replace('-', "_"));
    for (command, (options, arguments)) in &cli.commands {
        let text = &ss[command];
        for word in command.split(' ') {
            assert!(synopsis_words.contains(&word.replace('-', "_")), "SYNOPSIS lacks {word}");
        }
        for opt in options.difference(&cli.global) {
            assert!(text.contains(opt.as_str()), "smsotp(8) {command} does not describe {opt}");
            assert!(synopsis.contains(opt.as_str()), "SYNOPSIS lacks {command} {opt}");
        }
        for arg in arguments {
            assert!(text.contains(arg.as_str()), "smsotp(8) {command} does not name its argument {arg}");
        }
    }
    for opt in &cli.global {
        assert!(sh["OPTIONS"].contains(opt.as_str()), "OPTIONS of smsotp(8) lacks {opt}");
    }

    let all_options: BTreeSet<String> =
        cli.commands.values().flat_map(|(o, _)| o.iter().cloned()).chain(cli.global.iter().cloned()).collect();
    let text = untroff(&page);
    for token in text.split(|c: char| c.is_whitespace() || "()[]|,\"".contains(c)) {
        let token = token.trim_end_matches(['.', ';', ':']);
        if token.starts_with("--") && token.len() > 2 {
            assert!(all_options.contains(token), "smsotp(8) names {token}, which smsotp does not have");
        }
    }
    for token in sh["OPTIONS"].split(|c: char| c.is_whitespace() || c == ',') {
        if token.len() == 2 && token.starts_with('-') {
            assert!(all_options.contains(token), "smsotp(8) OPTIONS names {token}, which smsotp does not have");
        }
    }
}
