//! `[messages]`: every text the user sees, by key, with today's English as the
//! default. A text may use `{user}` and `{service}`, and the placeholders its
//! key lists; each is one line (sshd and sudo show one). `include` names a
//! translation (conf/messages/*.toml: a `[messages]` table), read with the
//! same ownership checks as the configuration; keys written in the
//! configuration itself win over the included ones.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::placeholders::{Piece, check_placeholders, pieces};
use super::{ConfigError, Invalid};

/// Read as a table of strings (the decoder the module already has for
/// `params` and `headers`, where a struct of its own would add one), then
/// checked key by key: an unknown key is an error naming every known one.
impl<'de> Deserialize<'de> for MessagesConfig {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let table = std::collections::BTreeMap::<String, String>::deserialize(d)?;
        let mut messages = MessagesConfig::default();
        for (key, value) in table {
            if !messages.put(&key, value) {
                return Err(serde::de::Error::unknown_field(&key, FIELDS));
            }
        }
        Ok(messages)
    }
}

/// Placeholders every text may use.
pub const COMMON_PLACEHOLDERS: &[&str] = &["user", "service"];

/// Longest text, in bytes (libpam's PAM_MAX_MSG_SIZE is 512).
pub const MAX_TEXT_BYTES: usize = 400;

macro_rules! messages {
    ($( $(#[$doc:meta])* $key:ident / $konst:ident = $default:literal, [$($ph:literal),*] ;)*) => {
        /// The defaults, for code and tests that name a text.
        pub mod defaults {
            $( pub const $konst: &str = $default; )*
        }

        /// Every key: (name, default, its own placeholders besides the common ones).
        pub const MESSAGE_KEYS: &[(&str, &str, &[&str])] = &[ $( (stringify!($key), $default, &[$($ph),*]), )* ];

        /// Every key `[messages]` takes, for the parser's "expected one of" answer.
        pub const FIELDS: &[&str] = &["include", $( stringify!($key), )*];

        #[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
        pub struct MessagesConfig {
            /// A translation file (a `[messages]` table) under the same checks as the config.
            #[serde(skip_serializing_if = "Option::is_none")]
            pub include: Option<PathBuf>,
            $( $(#[$doc])* #[serde(skip_serializing_if = "Option::is_none")] pub $key: Option<String>, )*
        }

        impl MessagesConfig {
            $( $(#[$doc])* pub fn $key(&self) -> &str { self.$key.as_deref().unwrap_or($default) } )*

            /// The text set for `name` (None: the default applies, or no such key).
            fn set(&self, name: &str) -> Option<&str> {
                match name {
                    $( stringify!($key) => self.$key.as_deref(), )*
                    _ => None,
                }
            }

            /// Set `name` from the file; false for a key that does not exist.
            fn put(&mut self, name: &str, value: String) -> bool {
                match name {
                    "include" => self.include = Some(PathBuf::from(value)),
                    $( stringify!($key) => self.$key = Some(value), )*
                    _ => return false,
                }
                true
            }

            /// Take every text this table does not set from `other`.
            fn fill_from(&mut self, other: MessagesConfig) {
                $( if self.$key.is_none() { self.$key = other.$key; } )*
            }
        }
    };
}

messages! {
    /// The code prompt; when unset, `[otp] prompt` is used.
    prompt / PROMPT = "SMS code sent to {phone}: ", ["phone", "seq"];
    wrong / WRONG = "Wrong code.", [];
    too_many / TOO_MANY = "Too many wrong codes.", [];
    expired / EXPIRED = "Code expired.", [];
    locked / LOCKED = "Too many failed verifications; try again later.", [];
    send_failed / SEND_FAILED = "The SMS code could not be sent; try again later.", [];
    no_resend / NO_RESEND = "No new code can be sent now.", [];
    new_code / NEW_CODE = "A new code was sent.", [];
    cooldown / COOLDOWN = "A code was sent moments ago; another can be sent in {seconds} s.", ["seconds"];
    hourly_cap / HOURLY_CAP = "Too many SMS codes were sent in the last hour.", [];
    no_sms_now / NO_SMS_NOW = "No SMS can be sent now.", [];
    backup_only_prompt / BACKUP_ONLY_PROMPT = "No SMS can be sent now. Backup code: ", [];
    no_backup_now / NO_BACKUP_NOW = "Backup codes cannot be used now; use the SMS code.", [];
    /// After a backup code, when exactly one is left.
    backup_code_left / BACKUP_CODE_LEFT = "{remaining} backup code left.", ["remaining"];
    /// After a backup code, when none or two are left.
    backup_codes_left / BACKUP_CODES_LEFT = "{remaining} backup codes left.", ["remaining"];
    enrol_code_prompt / ENROL_CODE_PROMPT = "Enrolment code: ", [];
    enrol_phone_prompt / ENROL_PHONE_PROMPT = "Mobile number for SMS codes: ", [];
    enrol_code_wrong / ENROL_CODE_WRONG = "Wrong enrolment code.", [];
    enrol_phone_refused / ENROL_PHONE_REFUSED = "This number cannot receive codes.", [];
    enrolled / ENROLLED = "Your number is enrolled.", [];
    /// On an empty answer, when the code in hand was reported undelivered.
    undelivered / UNDELIVERED = "The last SMS could not be delivered; the new code goes another way.", [];
}

impl MessagesConfig {
    /// Each text: known placeholders only, one line, not empty, not too long.
    pub fn validate(&self) -> Result<(), Invalid> {
        for (name, _, own) in MESSAGE_KEYS {
            let Some(text) = self.set(name) else { continue };
            let key = format!("messages.{name}");
            if text.trim().is_empty() {
                return Err(Invalid::new(key, "must not be empty"));
            }
            if text.chars().any(char::is_control) {
                return Err(Invalid::new(key, "must be one line without control characters (sshd and sudo show one line)"));
            }
            if text.len() > MAX_TEXT_BYTES {
                return Err(Invalid::new(key, format!("is {} bytes; at most {MAX_TEXT_BYTES}", text.len())));
            }
            let known: Vec<(&str, ())> = own.iter().chain(COMMON_PLACEHOLDERS).map(|n| (*n, ())).collect();
            check_placeholders(&key, text, &known)?;
        }
        Ok(())
    }

    /// Read `include` (checked like the config file) and take from it every
    /// text the configuration does not set itself.
    pub fn load_include(&mut self) -> Result<(), ConfigError> {
        let Some(path) = self.include.clone() else { return Ok(()) };
        let text = super::read_secure_file(&path)?;
        let included = parse_translation(&text).map_err(|e| match e {
            super::ParseError::Syntax(message) => ConfigError::Syntax { path: path.clone(), message },
            super::ParseError::Invalid(Invalid { key, message }) => ConfigError::Invalid { path: path.clone(), key, message },
        })?;
        self.fill_from(included);
        Ok(())
    }

    /// Every text as the user will see it, (key, text), in the order of MESSAGE_KEYS.
    pub fn effective(&self, otp_prompt: &str) -> Vec<(&'static str, String)> {
        MESSAGE_KEYS
            .iter()
            .map(|(name, default, _)| {
                let text = match (*name, self.set(name)) {
                    (_, Some(t)) => t.to_string(),
                    ("prompt", None) => otp_prompt.to_string(),
                    (_, None) => default.to_string(),
                };
                (*name, text)
            })
            .collect()
    }

    /// The code prompt's template: `[messages] prompt` when set, else `[otp] prompt`.
    pub fn prompt_or<'a>(&'a self, otp_prompt: &'a str) -> &'a str {
        self.prompt.as_deref().unwrap_or(otp_prompt)
    }
}

/// A translation file's text: a `[messages]` table, checked like the config's.
/// Read with the configuration's own parser (one TOML decoder in the module,
/// not two), after making sure the file holds nothing but that table.
pub fn parse_translation(text: &str) -> Result<MessagesConfig, super::ParseError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut seen_table = false;
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let header = line.split('#').next().unwrap_or("").trim();
        if header.starts_with('[') {
            if header != "[messages]" {
                return Err(super::ParseError::Syntax(format!("line {}: a translation file holds only a [messages] table", n + 1)));
            }
            seen_table = true;
        } else if !seen_table {
            return Err(super::ParseError::Syntax(format!("line {}: a translation file starts with [messages]", n + 1)));
        }
    }
    let config = super::Config::decode(text)?;
    let messages = config.messages;
    if messages.include.is_some() {
        return Err(super::ParseError::Invalid(Invalid::new("messages.include", "a translation file cannot include another")));
    }
    messages.validate().map_err(super::ParseError::Invalid)?;
    Ok(messages)
}

/// `template` with `{name}` replaced from `values`; a name without a value
/// stays as written (the validator lets none through).
pub fn render(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for piece in pieces(template) {
        match piece {
            Piece::Text(t) => out.push_str(t),
            Piece::Placeholder(name) => match values.iter().find(|(n, _)| *n == name) {
                Some((_, v)) => out.push_str(v),
                None => {
                    out.push('{');
                    out.push_str(name);
                    out.push('}');
                }
            },
            Piece::Unclosed => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn parse(text: &str) -> Result<MessagesConfig, super::super::ParseError> {
        parse_translation(text)
    }

    #[test]
    fn defaults_and_overrides() {
        let m = MessagesConfig::default();
        assert_eq!(m.wrong(), "Wrong code.");
        assert_eq!(m.enrol_code_prompt(), "Enrolment code: ");
        assert_eq!(m.prompt_or("Code: "), "Code: ");
        let m = parse("[messages]\nwrong = \"Falscher Code.\"\nprompt = \"Code an {phone}: \"\n").unwrap();
        assert_eq!(m.wrong(), "Falscher Code.");
        assert_eq!(m.too_many(), "Too many wrong codes.");
        assert_eq!(m.prompt_or("Code: "), "Code an {phone}: ");
    }

    #[test]
    fn unknown_keys_placeholders_and_multi_line_texts_are_refused() {
        assert!(matches!(parse("[messages]\nwrongg = \"x\"\n"), Err(super::super::ParseError::Syntax(m)) if m.contains("wrongg")));
        let e = parse("[messages]\nwrong = \"Wrong {code}\"\n").err().unwrap();
        assert!(matches!(&e, super::super::ParseError::Invalid(i) if i.key == "messages.wrong" && i.message.contains("{code}")), "{e}");
        // a placeholder of another text is unknown here
        assert!(parse("[messages]\nwrong = \"{remaining} left\"\n").is_err());
        assert!(parse("[messages]\nbackup_code_left = \"{remaining} left for {user} on {service}\"\n").is_ok());
        assert!(parse("[messages]\nwrong = \"two\\nlines\"\n").is_err());
        assert!(parse("[messages]\nwrong = \"bell\\u0007\"\n").is_err());
        assert!(parse("[messages]\nwrong = \"  \"\n").is_err());
        assert!(parse(&format!("[messages]\nwrong = \"{}\"\n", "x".repeat(401))).is_err());
        assert!(parse("[messages]\ninclude = \"/etc/x\"\n").is_err(), "no nested includes");
        assert!(parse("wrong = \"x\"\n").is_err(), "a translation is a [messages] table");
    }

    #[test]
    fn rendering() {
        assert_eq!(
            render("{remaining} backup codes left for {user}.", &[("remaining", "2"), ("user", "bob")]),
            "2 backup codes left for bob."
        );
        assert_eq!(render("no {such}", &[]), "no {such}");
    }

    #[test]
    fn the_shipped_translations_set_every_text_with_valid_placeholders() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("conf/messages");
        for lang in ["de", "fr", "es"] {
            let path = dir.join(format!("{lang}.toml"));
            let text = std::fs::read_to_string(&path).unwrap();
            let m = parse(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            for (name, default, own) in MESSAGE_KEYS {
                let t = m.set(name).unwrap_or_else(|| panic!("{lang}: {name} is not translated"));
                assert_ne!(t, *default, "{lang}: {name} is the English default");
                for ph in *own {
                    // the number and the count are what the user needs to read
                    if matches!(*ph, "phone" | "remaining" | "seconds") {
                        assert!(t.contains(&format!("{{{ph}}}")), "{lang}: {name} lost {{{ph}}}");
                    }
                }
            }
        }
    }
}
