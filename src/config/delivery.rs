//! `[delivery]`: delivery reports. Off while `callback_url` is empty; on, every
//! connector asks its provider for a report at `callback_url`, and `smsotp-dlrd`
//! receives them on `listen`.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::directories::absolute;
use super::{ConfigError, Invalid, checks, range, read_secure_bytes};

/// Vonage accepts at most this many characters in a message's `callback`.
pub const VONAGE_CALLBACK_MAX: usize = 100;
/// What a report URL adds to `callback_url`: "/", the connector name, "/", the token.
pub fn report_url_len(callback_url: &str, connector_name: &str) -> usize {
    callback_url.trim_end_matches('/').len() + 2 + path_segment(connector_name).len() + TOKEN_CHARS
}
/// The length of a per-message token (see `dlr::token`).
pub const TOKEN_CHARS: usize = 20;
/// The shortest HMAC key `secret_file` may hold.
pub const MIN_SECRET_BYTES: usize = 16;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeliveryConfig {
    #[serde(serialize_with = "super::redacted::url")]
    pub callback_url: String,
    pub secret_file: PathBuf,
    pub listen: String,
    pub user: String,
    pub reports_dir: PathBuf,
    pub token_ttl: u64,
    pub demote_after: u32,
    pub demote_for: u64,
    /// The HMAC key read from `secret_file` when reports are on.
    #[serde(skip)]
    pub secret: Option<DlrKey>,
}

/// The token key: raw bytes, never printed, zeroed on drop.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct DlrKey(Zeroizing<Vec<u8>>);

impl DlrKey {
    pub fn new(bytes: Vec<u8>) -> Self {
        DlrKey(Zeroizing::new(bytes))
    }
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for DlrKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            callback_url: String::new(),
            secret_file: PathBuf::from("/etc/security/pam_smsotp.dlr"),
            listen: "127.0.0.1:8089".into(),
            user: "smsotp-dlr".into(),
            reports_dir: PathBuf::from("/var/lib/pam_smsotp-dlr"),
            token_ttl: 172_800,
            demote_after: 3,
            demote_for: 600,
            secret: None,
        }
    }
}

impl DeliveryConfig {
    /// Reports are asked for.
    pub fn enabled(&self) -> bool {
        !self.callback_url.is_empty()
    }

    /// `connector_names`: (name, is a Vonage preset), for Vonage's URL limit.
    pub fn validate(&self, connectors: &[(String, bool)]) -> Result<(), Invalid> {
        if self.enabled() {
            checks::http_url("delivery.callback_url", &self.callback_url)?;
            if self.callback_url.contains(['?', '#']) {
                return Err(Invalid::new("delivery.callback_url", "must have no query or fragment (the token is added as path segments)"));
            }
            for (name, vonage) in connectors {
                let len = report_url_len(&self.callback_url, name);
                if *vonage && len > VONAGE_CALLBACK_MAX {
                    return Err(Invalid::new(
                        "delivery.callback_url",
                        format!("with connector {name:?} the report URL has {len} characters; Vonage takes at most {VONAGE_CALLBACK_MAX}"),
                    ));
                }
            }
        }
        absolute("delivery.secret_file", &self.secret_file)?;
        absolute("delivery.reports_dir", &self.reports_dir)?;
        if self.listen.parse::<SocketAddr>().is_err() {
            return Err(Invalid::new("delivery.listen", "must be an address and port, e.g. \"127.0.0.1:8089\" or \"[::1]:8089\""));
        }
        let user_ok = !self.user.is_empty()
            && self.user.len() <= 32
            && self.user.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
            && !self.user.starts_with('-');
        if !user_ok {
            return Err(Invalid::new("delivery.user", "must be a user name (letters, digits, '_', '-', '.')"));
        }
        if self.user == "root" {
            return Err(Invalid::new("delivery.user", "must not be root: smsotp-dlrd drops its privileges to this account"));
        }
        range("delivery.token_ttl", self.token_ttl, 60, 30 * 86_400)?;
        range("delivery.demote_after", u64::from(self.demote_after), 0, 1000)?;
        range("delivery.demote_for", self.demote_for, 0, 7 * 86_400)?;
        Ok(())
    }

    /// Read the token key when reports are on (same ownership checks as the config).
    pub fn load_secrets(&mut self) -> Result<(), ConfigError> {
        if !self.enabled() {
            return Ok(());
        }
        let bytes = Zeroizing::new(read_secure_bytes(&self.secret_file)?);
        let trimmed = bytes.trim_ascii();
        if trimmed.len() < MIN_SECRET_BYTES {
            return Err(ConfigError::Unreadable {
                path: self.secret_file.clone(),
                reason: format!("holds fewer than {MIN_SECRET_BYTES} bytes; make one with `head -c 32 /dev/urandom | base64`"),
            });
        }
        self.secret = Some(DlrKey::new(trimmed.to_vec()));
        Ok(())
    }
}

/// A connector name as one URL path segment (unreserved characters stay).
pub fn path_segment(name: &str) -> String {
    percent_encoding::utf8_percent_encode(name, SEGMENT).to_string()
}

const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use crate::config::Config;

    fn parse(delivery: &str, connectors: &str) -> Result<Config, String> {
        Config::parse(&format!("[delivery]\n{delivery}\n{connectors}")).map_err(|e| e.to_string())
    }

    #[test]
    fn reports_are_off_by_default_and_on_with_a_callback_url() {
        let c = Config::parse("").unwrap();
        assert!(!c.delivery.enabled());
        assert_eq!(c.delivery.listen, "127.0.0.1:8089");
        let c = parse("callback_url = \"https://dlr.example.org/dlr\"", "").unwrap();
        assert!(c.delivery.enabled());
    }

    #[test]
    fn bad_values_are_refused_by_key() {
        for (text, key) in [
            ("callback_url = \"ftp://x/\"", "delivery.callback_url"),
            ("callback_url = \"https://x/dlr?a=1\"", "delivery.callback_url"),
            ("listen = \"localhost\"", "delivery.listen"),
            ("user = \"root\"", "delivery.user"),
            ("user = \"a b\"", "delivery.user"),
            ("reports_dir = \"relative\"", "delivery.reports_dir"),
            ("token_ttl = 1", "delivery.token_ttl"),
            ("demote_for = 99999999", "delivery.demote_for"),
            ("nope = 1", "nope"),
        ] {
            let e = parse(text, "").unwrap_err();
            assert!(e.contains(key), "{text}: {e}");
        }
    }

    #[test]
    fn a_vonage_report_url_over_100_characters_is_refused() {
        let vonage = "[[connector]]\nname = \"v\"\ntype = \"vonage\"\napi_key = \"k\"\napi_secret = \"s\"\nfrom = \"ACME\"\n";
        let long = format!("callback_url = \"https://dlr.example.org/{}\"", "a".repeat(60));
        let e = parse(&long, vonage).unwrap_err();
        assert!(e.contains("Vonage takes at most 100"), "{e}");
        let short = "callback_url = \"https://dlr.example.org/d\"";
        parse(short, vonage).unwrap();
        // other providers take longer URLs
        parse(&long, "").unwrap();
    }

    #[test]
    fn only_providers_that_sign_their_reports_take_a_signing_key() {
        let entry =
            |kind: &str, extra: &str| format!("[[connector]]\ntype = \"{kind}\"\n{extra}dlr_signing_key_file = \"/etc/security/k\"\n");
        parse("", &entry("twilio", "account_sid = \"A\"\nauth_token = \"t\"\nfrom = \"+1555\"\n")).unwrap();
        parse("", &entry("messagebird", "access_key = \"k\"\nfrom = \"A\"\n")).unwrap();
        let e = parse("", &entry("vonage", "api_key = \"k\"\napi_secret = \"s\"\nfrom = \"A\"\n")).unwrap_err();
        assert!(e.contains("dlr_signing_key_file") && e.contains("only twilio, telnyx and messagebird"), "{e}");
        let e =
            parse("", &entry("twilio", "account_sid = \"A\"\nauth_token = \"t\"\nfrom = \"+1555\"\n").replace("/etc/security/k", "rel"))
                .unwrap_err();
        assert!(e.contains("absolute"), "{e}");
    }

    #[test]
    fn the_key_is_read_only_when_reports_are_on_and_must_be_long_enough() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("dlr.key");
        std::fs::write(&key, "short\n").unwrap();
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o640)).unwrap();
        let mut c = parse(&format!("secret_file = {key:?}"), "").unwrap();
        c.delivery.load_secrets().unwrap();
        assert!(c.delivery.secret.is_none());
        let mut c = parse(&format!("callback_url = \"https://d.example/x\"\nsecret_file = {key:?}"), "").unwrap();
        let e = c.delivery.load_secrets().unwrap_err().to_string();
        assert!(e.contains("fewer than 16 bytes"), "{e}");
        std::fs::write(&key, "0123456789abcdefXYZ\n").unwrap();
        c.delivery.load_secrets().unwrap();
        assert_eq!(c.delivery.secret.as_ref().map(|k| k.expose().len()), Some(19));
        assert_eq!(format!("{:?}", c.delivery.secret), "Some([redacted])");
    }
}
