//! `[messages]` through real libpam: a login in German with the shipped
//! conf/messages/de.toml shows only texts from that file; `smsotp check` shows
//! the effective texts and refuses an unknown placeholder, an unknown key and
//! an include file anyone may write.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::{PAM_MAXTRIES, PAM_SUCCESS, Reply, Setup, Stack, smsotp, text};

/// The texts of conf/messages/`lang`.toml, as the user sees them for alice
/// (masked number, the counts the logins below reach).
fn shipped(lang: &str) -> (String, Vec<String>) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("conf/messages/{lang}.toml"));
    let text = fs::read_to_string(&path).unwrap();
    let table: toml::Table = toml::from_str(&text).unwrap();
    let texts = table["messages"]
        .as_table()
        .unwrap()
        .values()
        .map(|v| {
            v.as_str()
                .unwrap()
                .replace("{phone}", "+*********67")
                .replace("{remaining}", "1")
                .replace("{user}", common::USER)
                .replace("{service}", "smsotp-probe")
        })
        .collect();
    (text, texts)
}

fn german_setup() -> Setup {
    let s = Setup::new("");
    let (text, _) = shipped("de");
    let de = s.path("de.toml");
    common::write_private(&de, &text);
    let config = s.config_text();
    s.rewrite_config(&format!("[messages]\ninclude = \"{}\"\n\n{config}", de.display()));
    s
}

#[test]
fn a_login_in_german_sees_only_texts_of_de_toml() {
    require!(Root, PamWrapper);
    let s = german_setup();
    let (_, german) = shipped("de");
    let codes = common::backup_codes(&s, common::USER, 2);

    // a wrong code, a request for a new one, the right one
    let o = s.login(Stack::Probe, &[text("000000"), text(""), Reply::Code]);
    assert_eq!(o.rc, PAM_SUCCESS, "{o:#?}");
    // wrong codes to the end
    let wrong = s.login(Stack::Probe, &[text("000000"), text("000001"), text("000002")]);
    assert_eq!(wrong.rc, PAM_MAXTRIES, "{wrong:#?}");
    // a backup code, one left
    let backup = s.login(Stack::Probe, &[text(&codes[0])]);
    assert_eq!(backup.rc, PAM_SUCCESS, "{backup:#?}");

    let mut seen = Vec::new();
    for outcome in [&o, &wrong, &backup] {
        for (_, m) in &outcome.messages {
            assert!(german.contains(m), "{m:?} is not a text of de.toml: {:#?}", outcome.messages);
            seen.push(m.clone());
        }
    }
    // the logins showed what they should, in German
    for expected in [
        "SMS-Code an +*********67 gesendet: ",
        "Falscher Code.",
        "Ein neuer Code wurde gesendet.",
        "Zu viele falsche Codes.",
        "Noch 1 Backup-Code übrig.",
    ] {
        assert!(seen.iter().any(|m| m == expected), "{expected:?} was not shown: {seen:#?}");
    }
}

#[test]
fn smsotp_check_shows_the_effective_texts_and_refuses_bad_ones() {
    require!(Root);
    let s = german_setup();
    let (rc, out) = smsotp(&s, &["check"]);
    assert_eq!(rc, 0, "{out}");
    assert!(out.contains("#   wrong = \"Falscher Code.\""), "{out}");
    assert!(out.contains("#   enrol_code_prompt = \"Registrierungscode: \""), "{out}");

    // the configuration's own key wins over the included one
    let config = s.config_text();
    s.rewrite_config(&config.replacen("[messages]\n", "[messages]\nwrong = \"Nein.\"\n", 1));
    let (rc, out) = smsotp(&s, &["check"]);
    assert_eq!(rc, 0, "{out}");
    assert!(out.contains("#   wrong = \"Nein.\"") && out.contains("#   expired = \"Der Code ist abgelaufen.\""), "{out}");

    // an unknown placeholder, in the config or in the included file
    s.rewrite_config(&config.replacen("[messages]\n", "[messages]\nwrong = \"Falsch: {code}\"\n", 1));
    let (rc, out) = smsotp(&s, &["check"]);
    assert_eq!(rc, 1, "{out}");
    assert!(out.contains("messages.wrong") && out.contains("unknown placeholder {code}"), "{out}");
    s.rewrite_config(&config);
    let de = s.path("de.toml");
    let (text, _) = shipped("de");
    common::write_private(&de, &text.replace("Falscher Code.", "Falscher Code {seconds}."));
    let (rc, out) = smsotp(&s, &["check"]);
    assert_eq!(rc, 1, "{out}");
    assert!(out.contains("de.toml") && out.contains("unknown placeholder {seconds}"), "{out}");

    // an unknown key
    common::write_private(&de, &text.replace("wrong = ", "wrnog = "));
    let (rc, out) = smsotp(&s, &["check"]);
    assert_eq!(rc, 1, "{out}");
    assert!(out.contains("wrnog"), "{out}");

    // a translation anyone may change is refused like the config
    common::write_private(&de, &text);
    fs::set_permissions(&de, fs::Permissions::from_mode(0o666)).unwrap();
    let (rc, out) = smsotp(&s, &["check"]);
    assert_eq!(rc, 1, "{out}");
    assert!(out.contains("de.toml") && out.contains("insecure"), "{out}");

    // and a login with such a file gets the generic message and PAM_SERVICE_ERR
    let o = s.login(Stack::Probe, &[]);
    assert_eq!(o.rc, common::PAM_SERVICE_ERR, "{o:#?}");
}
