//! The TOML configuration contract of DESIGN.md: schema, defaults, validation and
//! the ownership/permission checks on the file and every `*_file` secret.

mod checks;
mod connectors;
pub mod delivery;
mod directories;
mod files;
#[cfg(any(test, feature = "test-support"))]
pub mod keys;
pub mod messages;
mod nesting;
mod pattern;
mod placeholders;
mod redacted;
mod redis;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

pub use connectors::{
    BodyType, BulkSmsConfig, ClickatellConfig, CommandConfig, ConnectorConfig, HttpAuth, HttpConfig, HttpMethod, InfobipConfig,
    KannelConfig, MessageBirdConfig, PlivoConfig, PresetCommon, SinchConfig, SpoolConfig, SuccessJson, TelnyxConfig, TwilioConfig,
    VonageConfig,
};
pub use delivery::{DeliveryConfig, DlrKey};
pub use directories::{DirectoryConfig, EnrolledDirectoryConfig, FileDirectoryConfig, LdapConfig, LdifConfig};
pub use files::{Secret, check_secure_file, read_secret, read_secure_bytes, read_secure_file};
pub use messages::MessagesConfig;
pub use pattern::SuccessRegex;
pub use placeholders::{MESSAGE_PLACEHOLDERS, MessageField, PROMPT_PLACEHOLDERS, Piece, PromptField, check_placeholders, pieces};
pub use redacted::redacted_url;
pub use redis::{RedisAddress, RedisConfig, parse_address as parse_redis_address};

pub const DEFAULT_CONFIG_PATH: &str = "/etc/security/pam_smsotp.toml";
pub const DEFAULT_PHONE_MAP: &str = "/etc/security/pam_smsotp.phones";
pub const DEFAULT_SPOOL_PATH: &str = "/var/spool/pam_smsotp/outbox.jsonl";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {reason}")]
    Unreadable { path: PathBuf, reason: String },
    #[error("{path} is insecure: {reason}")]
    Insecure { path: PathBuf, reason: String },
    #[error("{path}: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error("{path}: {key}: {message}")]
    Invalid { path: PathBuf, key: String, message: String },
}

/// Validation problems before the file name is known; `Config::load` adds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub key: String,
    pub message: String,
}

impl Invalid {
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Invalid { key: key.into(), message: message.into() }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub otp: OtpConfig,
    pub message: MessageConfig,
    pub policy: PolicyConfig,
    pub phone: PhoneConfig,
    pub limits: LimitsConfig,
    pub state: StateConfig,
    pub backup_codes: BackupCodesConfig,
    pub delivery: DeliveryConfig,
    pub enrol: EnrolConfig,
    pub messages: MessagesConfig,
    #[serde(rename = "directory")]
    pub directories: Vec<DirectoryConfig>,
    #[serde(rename = "connector")]
    pub connectors: Vec<ConnectorConfig>,
    /// No `[[connector]]` was written: the spool default is in use.
    #[serde(skip)]
    pub connectors_defaulted: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Charset {
    Digits,
    Alphanumeric,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OtpConfig {
    pub length: u32,
    pub charset: Charset,
    pub ttl: u64,
    pub max_attempts: u32,
    pub max_resends: u32,
    pub prompt: String,
    pub echo: bool,
}

impl Default for OtpConfig {
    fn default() -> Self {
        OtpConfig {
            length: 6,
            charset: Charset::Digits,
            ttl: 300,
            max_attempts: 3,
            max_resends: 1,
            prompt: "SMS code sent to {phone}: ".into(),
            echo: false,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MessageConfig {
    pub template: String,
}

impl Default for MessageConfig {
    fn default() -> Self {
        MessageConfig { template: "{code} is your login code for {host}. It expires in {ttl_minutes} min.".into() }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum UnenrolledPolicy {
    #[default]
    Deny,
    Ignore,
    /// Ask for an enrolment code from `smsotp enrol issue`, then a number, then the SMS code sent to it.
    Enrol,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SendFailurePolicy {
    #[default]
    Unavailable,
    Deny,
    BackupOnly,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum DirectoryFailurePolicy {
    #[default]
    Unavailable,
    Deny,
    Next,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyConfig {
    pub unenrolled: UnenrolledPolicy,
    pub on_send_failure: SendFailurePolicy,
    pub on_directory_failure: DirectoryFailurePolicy,
    pub skip_groups: Vec<String>,
    pub only_groups: Vec<String>,
    #[serde(deserialize_with = "networks", serialize_with = "networks_out")]
    pub trusted_networks: Vec<IpNet>,
    pub grace: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct PhoneConfig {
    pub default_country_code: String,
    /// E.164 prefixes ("+49"); no SMS goes to a number outside them. Empty: any.
    pub allowed_prefixes: Vec<String>,
    /// What a number from the directories that differs from the last verified one gets.
    pub on_change: OnNumberChange,
    /// argv run when a number changes (`notify`); empty: only the log line.
    pub notify_command: Vec<String>,
}

/// `[phone] on_change`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum OnNumberChange {
    /// Use the new number; it is pinned after the next successful login.
    #[default]
    Allow,
    /// As allow, and log at warning and run `notify_command`.
    Notify,
    /// PAM_AUTH_ERR until `smsotp phone accept USER`.
    Deny,
}

/// `[enrol]`: enrolment codes (`policy.unenrolled = "enrol"`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EnrolConfig {
    /// Seconds an enrolment code from `smsotp enrol issue` works, unless `--ttl` says otherwise.
    pub code_ttl: u64,
}

impl Default for EnrolConfig {
    fn default() -> Self {
        EnrolConfig { code_ttl: 86_400 }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    pub max_sends_per_hour: u32,
    pub resend_cooldown: u64,
    pub lockout_failures: u32,
    pub lockout_window: u64,
    pub lockout_duration: u64,
    /// Seconds for all directory lookups and SMS sends of one login together.
    pub login_budget: u64,
    /// SMS of every user of the store together in a sliding hour; 0 = no cap.
    pub max_sends_per_hour_total: u32,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_sends_per_hour: 5,
            resend_cooldown: 30,
            lockout_failures: 10,
            lockout_window: 900,
            lockout_duration: 900,
            login_budget: 30,
            max_sends_per_hour_total: 0,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StateConfig {
    pub backend: StateBackend,
    pub dir: PathBuf,
    pub on_failure: StoreFailurePolicy,
    pub redis: RedisConfig,
}

impl Default for StateConfig {
    fn default() -> Self {
        StateConfig {
            backend: StateBackend::default(),
            dir: PathBuf::from("/var/lib/pam_smsotp"),
            on_failure: StoreFailurePolicy::default(),
            redis: RedisConfig::default(),
        }
    }
}

/// Where the state store of record lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum StateBackend {
    /// One file per user under `[state] dir`: this host only.
    #[default]
    File,
    /// `[state.redis]`: shared by every host that names it.
    Redis,
}

/// What a login gets when the state store cannot be read or written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum StoreFailurePolicy {
    /// PAM_AUTHINFO_UNAVAIL.
    #[default]
    Unavailable,
    /// PAM_AUTH_ERR.
    Deny,
    /// SMS codes still required, backup codes refused, limits kept where the store can be read.
    Degrade,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BackupCodesConfig {
    pub enabled: bool,
}

impl Default for BackupCodesConfig {
    fn default() -> Self {
        BackupCodesConfig { enabled: true }
    }
}

impl Config {
    /// Read, check ownership and mode, parse and validate the file at `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = read_secure_file(path)?;
        let mut config = Config::parse(&text).map_err(|e| match e {
            ParseError::Syntax(message) => ConfigError::Syntax { path: path.into(), message },
            ParseError::Invalid(Invalid { key, message }) => ConfigError::Invalid { path: path.into(), key, message },
        })?;
        config.messages.load_include()?;
        config.load_secrets()?;
        Ok(config)
    }

    /// Parse and validate TOML text; secrets in `*_file` keys are not read yet.
    /// A UTF-8 byte order mark at the very start (Windows editors write one) is
    /// not part of the document.
    pub fn parse(text: &str) -> Result<Config, ParseError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut config = Config::decode(text)?;
        config.apply_defaults();
        config.validate().map_err(ParseError::Invalid)?;
        Ok(config)
    }

    /// TOML text as a `Config`, nothing checked or filled in yet. The one TOML
    /// decoder of the module (the configuration and translation files).
    fn decode(text: &str) -> Result<Config, ParseError> {
        if nesting::deepest(text) > nesting::MAX_NESTING {
            return Err(ParseError::Syntax(format!("arrays or inline tables nested deeper than {}", nesting::MAX_NESTING)));
        }
        basic_toml::from_str(text).map_err(|e| ParseError::Syntax(describe_toml_error(text, &e)))
    }

    fn apply_defaults(&mut self) {
        if self.directories.is_empty() {
            self.directories.push(DirectoryConfig::File(FileDirectoryConfig { path: PathBuf::from(DEFAULT_PHONE_MAP) }));
        }
        if self.connectors.is_empty() {
            self.connectors_defaulted = true;
            self.connectors.push(ConnectorConfig::Spool(SpoolConfig { name: None, path: PathBuf::from(DEFAULT_SPOOL_PATH) }));
        }
    }

    pub fn validate(&self) -> Result<(), Invalid> {
        let otp = &self.otp;
        range("otp.length", otp.length as u64, 4, 10)?;
        range("otp.ttl", otp.ttl, 10, 86_400)?;
        range("otp.max_attempts", otp.max_attempts as u64, 1, 20)?;
        range("otp.max_resends", otp.max_resends as u64, 0, 10)?;
        checks::no_nul("otp.prompt", &otp.prompt)?;
        checks::no_nul("message.template", &self.message.template)?;
        check_placeholders("otp.prompt", &otp.prompt, PROMPT_PLACEHOLDERS)?;
        check_placeholders("message.template", &self.message.template, MESSAGE_PLACEHOLDERS)?;
        self.messages.validate()?;
        if !self.message.template.contains("{code}") {
            return Err(Invalid::new("message.template", "must contain {code}"));
        }
        for (key, groups) in [("policy.skip_groups", &self.policy.skip_groups), ("policy.only_groups", &self.policy.only_groups)] {
            if groups.iter().any(|g| g.is_empty() || g.contains('\0')) {
                return Err(Invalid::new(key, "group names must be non-empty"));
            }
        }
        range("policy.grace", self.policy.grace, 0, 30 * 86_400)?;
        if self.policy.on_send_failure == SendFailurePolicy::BackupOnly && !self.backup_codes.enabled {
            // the user would be asked for a code that can never be right
            return Err(Invalid::new("policy.on_send_failure", "\"backup_only\" needs [backup_codes] enabled = true"));
        }
        let cc = &self.phone.default_country_code;
        if !cc.is_empty() {
            let digits = cc.strip_prefix('+').unwrap_or("");
            if digits.is_empty() || digits.len() > 4 || !digits.bytes().all(|b| b.is_ascii_digit()) || digits.starts_with('0') {
                return Err(Invalid::new("phone.default_country_code", "must be empty or '+' followed by 1-4 digits, e.g. \"+49\""));
            }
        }
        let l = &self.limits;
        range("limits.max_sends_per_hour", l.max_sends_per_hour as u64, 1, 1000)?;
        range("limits.resend_cooldown", l.resend_cooldown, 0, 3600)?;
        range("limits.lockout_failures", l.lockout_failures as u64, 0, 10_000)?;
        range("limits.lockout_window", l.lockout_window, 1, 30 * 86_400)?;
        range("limits.lockout_duration", l.lockout_duration, 1, 30 * 86_400)?;
        range("limits.login_budget", l.login_budget, 1, 600)?;
        range("limits.max_sends_per_hour_total", u64::from(l.max_sends_per_hour_total), 0, 20_000)?;
        for prefix in &self.phone.allowed_prefixes {
            let digits = prefix.strip_prefix('+').unwrap_or("");
            if digits.is_empty() || digits.len() > 15 || !digits.bytes().all(|b| b.is_ascii_digit()) || digits.starts_with('0') {
                return Err(Invalid::new("phone.allowed_prefixes", "each prefix must be '+' followed by digits, e.g. \"+49\""));
            }
        }
        if let Some(program) = self.phone.notify_command.first()
            && !program.starts_with('/')
        {
            return Err(Invalid::new("phone.notify_command", "the program must be an absolute path"));
        }
        if self.phone.notify_command.iter().any(|a| a.contains('\0')) {
            return Err(Invalid::new("phone.notify_command", "must not contain NUL"));
        }
        range("enrol.code_ttl", self.enrol.code_ttl, 60, 90 * 86_400)?;
        if !self.state.dir.is_absolute() {
            return Err(Invalid::new("state.dir", "must be an absolute path"));
        }
        self.state.redis.validate(self.state.backend == StateBackend::Redis)?;
        for (i, d) in self.directories.iter().enumerate() {
            d.validate(&format!("directory[{i}]"))?;
        }
        let report_names: Vec<(String, bool)> =
            self.connectors.iter().enumerate().map(|(i, c)| (c.display_name(i), matches!(c, ConnectorConfig::Vonage(_)))).collect();
        self.delivery.validate(&report_names)?;
        let mut names = BTreeMap::new();
        for (i, c) in self.connectors.iter().enumerate() {
            c.validate(&format!("connector[{i}]"))?;
            let name = c.display_name(i);
            if names.insert(name.clone(), i).is_some() {
                return Err(Invalid::new(format!("connector[{i}].name"), format!("duplicate connector name {name:?}")));
            }
        }
        Ok(())
    }

    /// Read every `*_file` secret, with the same ownership checks as the config.
    pub fn load_secrets(&mut self) -> Result<(), ConfigError> {
        if self.state.backend == StateBackend::Redis {
            self.state.redis.load_secrets()?;
        }
        for d in &mut self.directories {
            d.load_secrets()?;
        }
        for (i, c) in self.connectors.iter_mut().enumerate() {
            c.load_secrets(&format!("connector[{i}]"))?;
        }
        self.delivery.load_secrets()?;
        Ok(())
    }
}

#[derive(Debug)]
pub enum ParseError {
    Syntax(String),
    Invalid(Invalid),
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ParseError::Syntax(m) => f.write_str(m),
            ParseError::Invalid(i) => write!(f, "{}: {}", i.key, i.message),
        }
    }
}

fn networks_out<S: serde::Serializer>(nets: &[IpNet], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(nets.iter().map(|n| n.to_string()))
}

/// CIDRs, or bare addresses meaning a single host.
fn networks<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<IpNet>, D::Error> {
    let items = Vec::<String>::deserialize(d)?;
    items
        .iter()
        .map(|s| {
            s.parse::<IpNet>()
                .or_else(|_| s.parse::<std::net::IpAddr>().map(IpNet::from))
                .map_err(|_| serde::de::Error::custom(format!("{s:?} is not a CIDR network such as 10.0.0.0/8")))
        })
        .collect()
}

pub(crate) fn range(key: &str, value: u64, min: u64, max: u64) -> Result<(), Invalid> {
    if value < min || value > max {
        return Err(Invalid::new(key, format!("{value} is out of range {min}..={max}")));
    }
    Ok(())
}

/// One line naming the line and the key: toml reports an unknown key inside an
/// `[[array]]` table at the table's header, and a wrong type without the key.
fn describe_toml_error(text: &str, e: &basic_toml::Error) -> String {
    let shown = e.to_string();
    // the parser's own " for key `a.b`" and " at line N column M" are said below, once
    let message = shown.split(" for key `").next().unwrap_or(&shown);
    let message = message.split(" at line ").next().unwrap_or(message).trim().to_string();
    let first_line = e.line_col().map_or(0, |(line, _)| line).min(text.lines().count().saturating_sub(1));
    let key_at = |line: &str| -> Option<String> {
        let (k, _) = line.split_once('=')?;
        let k = k.trim().trim_matches('"');
        (!k.is_empty() && !k.starts_with('[') && !k.starts_with('#')).then(|| k.to_string())
    };
    let mut lineno = first_line;
    let mut key = text.lines().nth(first_line).and_then(key_at);
    if let Some(unknown) = message.strip_prefix("unknown field `").and_then(|m| m.split('`').next()) {
        if let Some((n, _)) = text.lines().enumerate().skip(first_line).find(|(_, l)| key_at(l).as_deref() == Some(unknown)) {
            lineno = n;
        }
        key = Some(unknown.to_string());
    }
    match key {
        Some(k) => format!("line {}: key `{k}`: {}", lineno + 1, one_line(&message)),
        None => format!("line {}: {}", lineno + 1, one_line(&message)),
    }
}

/// toml's messages span several lines with a source excerpt; syslog wants one.
fn one_line(message: &str) -> String {
    let mut out = Vec::new();
    for line in message.lines() {
        let t = line.trim();
        if t.is_empty() || t.starts_with('|') || t.chars().all(|c| c == '^' || c == ' ') {
            continue;
        }
        // lines like "3 | key = 1" are the excerpt
        if t.split_once('|').is_some_and(|(n, _)| n.trim().chars().all(|c| c.is_ascii_digit()) && !n.trim().is_empty()) {
            continue;
        }
        out.push(t.to_string());
    }
    out.join(": ")
}

#[cfg(test)]
mod tests;
