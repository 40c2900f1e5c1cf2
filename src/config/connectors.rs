//! `[[connector]]` entries: how an SMS leaves the machine.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::checks::{http_url, no_nul, printable, proxy_url};
use super::directories::absolute;
use super::pattern::SuccessRegex;
use super::redacted;
use super::{ConfigError, Invalid, Secret, range, read_secret};

fn default_timeout() -> u64 {
    10
}

fn default_command_user() -> String {
    "root".into()
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
// A handful of these live for one login; boxing the large variant would buy nothing.
#[allow(clippy::large_enum_variant)]
pub enum ConnectorConfig {
    Http(HttpConfig),
    Spool(SpoolConfig),
    Command(CommandConfig),
    Twilio(TwilioConfig),
    Vonage(VonageConfig),
    Plivo(PlivoConfig),
    Clickatell(ClickatellConfig),
    #[serde(rename = "bulksms")]
    BulkSms(BulkSmsConfig),
    #[serde(rename = "messagebird")]
    MessageBird(MessageBirdConfig),
    Sinch(SinchConfig),
    Telnyx(TelnyxConfig),
    Infobip(InfobipConfig),
    Kannel(KannelConfig),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    Get,
    #[default]
    Post,
    Put,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum BodyType {
    /// Parameters in the query string, no body.
    None,
    #[default]
    Form,
    Json,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum HttpAuth {
    /// A struct variant, not a unit one: serde ignores extra keys beside the tag of a unit variant.
    None {},
    Basic {
        username: String,
        #[serde(default)]
        password: Option<Secret>,
        #[serde(default)]
        password_file: Option<PathBuf>,
    },
    Bearer {
        #[serde(default)]
        token: Option<Secret>,
        #[serde(default)]
        token_file: Option<PathBuf>,
    },
}

impl Default for HttpAuth {
    fn default() -> Self {
        HttpAuth::None {}
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SuccessJson {
    pub pointer: String,
    pub equals: String,
}

fn default_success_status() -> Vec<u16> {
    vec![200, 201, 202]
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(serialize_with = "redacted::url")]
    pub url: String,
    #[serde(default)]
    pub method: HttpMethod,
    #[serde(default)]
    pub content_type: BodyType,
    #[serde(default)]
    pub to_param: Option<String>,
    #[serde(default)]
    pub body_param: Option<String>,
    #[serde(default)]
    pub from_param: Option<String>,
    #[serde(default)]
    pub from: Option<String>,
    #[serde(default, serialize_with = "redacted::values")]
    pub params: BTreeMap<String, String>,
    #[serde(default, serialize_with = "redacted::values")]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub auth: HttpAuth,
    #[serde(default, serialize_with = "redacted::opt_whole")]
    pub body_template: Option<String>,
    #[serde(default = "default_success_status")]
    pub success_status: Vec<u16>,
    #[serde(default)]
    pub success_json: Option<SuccessJson>,
    #[serde(default)]
    pub success_regex: Option<SuccessRegex>,
    #[serde(default)]
    pub message_id: Option<String>,
    #[serde(default = "default_timeout")]
    pub timeout: u64,
    #[serde(default, serialize_with = "redacted::opt_url")]
    pub proxy: Option<String>,
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

/// Shows what `smsotp check` shows: no credential in URLs, params, headers or body.
impl std::fmt::Debug for HttpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        redacted::debug("HttpConfig", self, f)
    }
}

impl HttpConfig {
    pub fn is_template_mode(&self) -> bool {
        self.body_template.is_some() || self.url.contains("{{") || self.url.contains("$ctx.")
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpoolConfig {
    #[serde(default)]
    pub name: Option<String>,
    pub path: PathBuf,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandConfig {
    #[serde(default)]
    pub name: Option<String>,
    pub argv: Vec<String>,
    /// The account the program runs as (every uid and gid, and its groups).
    #[serde(default = "default_command_user")]
    pub user: String,
    #[serde(default = "default_timeout")]
    pub timeout: u64,
}

/// The keys every provider preset shares, borrowed for the sender.
#[derive(Debug, Clone, Copy)]
pub struct PresetCommon<'a> {
    pub base_url: Option<&'a str>,
    pub from: Option<&'a str>,
    pub timeout: u64,
    pub proxy: Option<&'a str>,
    pub ca_file: Option<&'a std::path::Path>,
}

macro_rules! preset {
    ($name:ident { $( $field:ident : $ty:ty ),* $(,)? } secrets { $( $secret:ident / $secret_file:ident ),* $(,)? }) => {
        #[derive(Clone, Serialize, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            #[serde(default)]
            pub name: Option<String>,
            #[serde(default, serialize_with = "redacted::opt_url")]
            pub base_url: Option<String>,
            #[serde(default)]
            pub from: Option<String>,
            #[serde(default = "default_timeout")]
            pub timeout: u64,
            #[serde(default, serialize_with = "redacted::opt_url")]
            pub proxy: Option<String>,
            #[serde(default)]
            pub ca_file: Option<PathBuf>,
            /// The provider's key for signed delivery reports (smsotp-dlrd).
            #[serde(default)]
            pub dlr_signing_key_file: Option<PathBuf>,
            #[serde(skip)]
            pub dlr_signing_key: Option<Secret>,
            $( pub $field: $ty, )*
            $(
                #[serde(default)]
                pub $secret: Option<Secret>,
                #[serde(default)]
                pub $secret_file: Option<PathBuf>,
            )*
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                redacted::debug(stringify!($name), self, f)
            }
        }

        impl $name {
            fn validate_secrets(&self, key: &str) -> Result<(), Invalid> {
                $( one_secret(key, stringify!($secret), &self.$secret, &self.$secret_file)?; )*
                $( printable(&format!("{key}.{}", stringify!($field)), self.$field.field_text().unwrap_or(""))?; )*
                printable(&format!("{key}.from"), self.from.as_deref().unwrap_or(""))
            }

            fn load_secrets(&mut self, key: &str) -> Result<(), ConfigError> {
                if let Some(path) = &self.dlr_signing_key_file {
                    self.dlr_signing_key = Some(file_secret(&format!("{key}.dlr_signing_key_file"), path)?);
                }
                $(
                    if let Some(path) = &self.$secret_file {
                        self.$secret = Some(file_secret(&format!("{key}.{}_file", stringify!($secret)), path)?);
                    }
                )*
                Ok(())
            }

            pub fn common(&self) -> PresetCommon<'_> {
                PresetCommon {
                    base_url: self.base_url.as_deref(),
                    from: self.from.as_deref(),
                    timeout: self.timeout,
                    proxy: self.proxy.as_deref(),
                    ca_file: self.ca_file.as_deref(),
                }
            }
        }
    };
}

preset!(TwilioConfig { account_sid: String, messaging_service_sid: Option<String> } secrets { auth_token / auth_token_file });
preset!(VonageConfig { api_key: String } secrets { api_secret / api_secret_file });
preset!(PlivoConfig { auth_id: String } secrets { auth_token / auth_token_file });
preset!(ClickatellConfig { } secrets { api_key / api_key_file });
preset!(BulkSmsConfig { username: String } secrets { password / password_file });
preset!(MessageBirdConfig { } secrets { access_key / access_key_file });
preset!(SinchConfig { service_plan_id: String, region: Option<String> } secrets { api_token / api_token_file });
preset!(TelnyxConfig { messaging_profile_id: Option<String> } secrets { api_key / api_key_file });
preset!(InfobipConfig { } secrets { api_key / api_key_file });
preset!(KannelConfig { username: String, smsc: Option<String> } secrets { password / password_file });

/// Match every provider preset with one arm (`$c` bound to its config), the
/// other connector types with the rest.
macro_rules! with_preset {
    ($value:expr, $c:ident => $preset:expr, $other:pat => $rest:expr) => {
        match $value {
            ConnectorConfig::Twilio($c) => $preset,
            ConnectorConfig::Vonage($c) => $preset,
            ConnectorConfig::Plivo($c) => $preset,
            ConnectorConfig::Clickatell($c) => $preset,
            ConnectorConfig::BulkSms($c) => $preset,
            ConnectorConfig::MessageBird($c) => $preset,
            ConnectorConfig::Sinch($c) => $preset,
            ConnectorConfig::Telnyx($c) => $preset,
            ConnectorConfig::Infobip($c) => $preset,
            ConnectorConfig::Kannel($c) => $preset,
            $other => $rest,
        }
    };
}

/// A preset's own field as text: `String` or `Option<String>`.
trait FieldText {
    fn field_text(&self) -> Option<&str>;
}

impl FieldText for String {
    fn field_text(&self) -> Option<&str> {
        Some(self)
    }
}

impl FieldText for Option<String> {
    fn field_text(&self) -> Option<&str> {
        self.as_deref()
    }
}

fn one_secret(key: &str, field: &str, inline: &Option<Secret>, file: &Option<PathBuf>) -> Result<(), Invalid> {
    match (inline, file) {
        (Some(_), Some(_)) => Err(Invalid::new(format!("{key}.{field}"), format!("set {field} or {field}_file, not both"))),
        (None, None) => Err(Invalid::new(format!("{key}.{field}"), format!("{field} or {field}_file is required"))),
        (None, Some(p)) => absolute(&format!("{key}.{field}_file"), p),
        (Some(s), None) => printable(&format!("{key}.{field}"), s.expose()),
    }
}

/// A secret read from its file, refused if it holds a control character (a
/// second line, a NUL): such a credential can never be sent.
fn file_secret(key: &str, path: &std::path::Path) -> Result<Secret, ConfigError> {
    let secret = read_secret(path)?;
    printable(key, secret.expose()).map_err(|i| ConfigError::Invalid { path: path.into(), key: i.key, message: i.message })?;
    Ok(secret)
}

impl ConnectorConfig {
    /// The provider's key for signed delivery reports, when configured and read.
    pub fn dlr_signing_key(&self) -> Option<&Secret> {
        with_preset!(self, c => c.dlr_signing_key.as_ref(), _ => None)
    }

    pub fn kind(&self) -> &'static str {
        match self {
            ConnectorConfig::Http(_) => "http",
            ConnectorConfig::Spool(_) => "spool",
            ConnectorConfig::Command(_) => "command",
            ConnectorConfig::Twilio(_) => "twilio",
            ConnectorConfig::Vonage(_) => "vonage",
            ConnectorConfig::Plivo(_) => "plivo",
            ConnectorConfig::Clickatell(_) => "clickatell",
            ConnectorConfig::BulkSms(_) => "bulksms",
            ConnectorConfig::MessageBird(_) => "messagebird",
            ConnectorConfig::Sinch(_) => "sinch",
            ConnectorConfig::Telnyx(_) => "telnyx",
            ConnectorConfig::Infobip(_) => "infobip",
            ConnectorConfig::Kannel(_) => "kannel",
        }
    }

    pub fn name(&self) -> Option<&str> {
        with_preset!(self, c => c.name.as_deref(), other => match other {
            ConnectorConfig::Http(c) => c.name.as_deref(),
            ConnectorConfig::Spool(c) => c.name.as_deref(),
            ConnectorConfig::Command(c) => c.name.as_deref(),
            _ => None,
        })
    }

    /// The name used in logs: the configured name, else `type#index`.
    pub fn display_name(&self, index: usize) -> String {
        match self.name() {
            Some(n) => n.to_string(),
            None => format!("{}#{}", self.kind(), index + 1),
        }
    }

    fn preset_common(&self) -> Option<PresetCommon<'_>> {
        with_preset!(self, c => Some(c.common()), _ => None)
    }

    pub(super) fn validate(&self, key: &str) -> Result<(), Invalid> {
        let k = |s: &str| format!("{key}.{s}");
        if let Some(n) = self.name()
            && (n.is_empty() || n.len() > 64 || n.chars().any(|c| c.is_control()))
        {
            return Err(Invalid::new(k("name"), "must be 1-64 printable characters"));
        }
        with_preset!(self, c => c.validate_secrets(key)?, _ => ());
        if let Some(common) = self.preset_common() {
            range(&k("timeout"), common.timeout, 1, 120)?;
            if let Some(url) = common.base_url {
                http_url(&k("base_url"), url)?;
            }
            if let Some(p) = common.proxy {
                proxy_url(&k("proxy"), p)?;
            }
            if let Some(p) = common.ca_file {
                absolute(&k("ca_file"), p)?;
            }
        }
        if let Some(p) = with_preset!(self, c => c.dlr_signing_key_file.as_deref(), _ => None) {
            absolute(&k("dlr_signing_key_file"), p)?;
            if !["twilio", "telnyx", "messagebird"].contains(&self.kind()) {
                return Err(Invalid::new(k("dlr_signing_key_file"), "only twilio, telnyx and messagebird sign their reports"));
            }
        }
        match self {
            ConnectorConfig::Http(h) => validate_http(key, h),
            ConnectorConfig::Spool(s) => absolute(&k("path"), &s.path),
            ConnectorConfig::Command(c) => {
                range(&k("timeout"), c.timeout, 1, 120)?;
                c.argv.iter().try_for_each(|a| no_nul(&k("argv"), a))?;
                match c.argv.first() {
                    Some(p) if p.starts_with('/') => Ok(()),
                    Some(_) => Err(Invalid::new(k("argv"), "the program must be an absolute path")),
                    None => Err(Invalid::new(k("argv"), "must name a program")),
                }
            }
            ConnectorConfig::Twilio(c) => {
                if c.from.is_none() && c.messaging_service_sid.is_none() {
                    return Err(Invalid::new(k("from"), "twilio needs from or messaging_service_sid"));
                }
                Ok(())
            }
            ConnectorConfig::Vonage(c) => required(&k("from"), &c.from),
            ConnectorConfig::Plivo(c) => required(&k("from"), &c.from),
            ConnectorConfig::Clickatell(_) | ConnectorConfig::BulkSms(_) => Ok(()),
            ConnectorConfig::MessageBird(c) => required(&k("from"), &c.from),
            ConnectorConfig::Sinch(c) => {
                if let Some(r) = &c.region
                    && !["us", "eu", "au", "br", "ca"].contains(&r.as_str())
                {
                    return Err(Invalid::new(k("region"), "one of us, eu, au, br, ca"));
                }
                required(&k("from"), &c.from)
            }
            ConnectorConfig::Telnyx(c) => {
                if c.from.is_none() && c.messaging_profile_id.is_none() {
                    return Err(Invalid::new(k("from"), "telnyx needs from or messaging_profile_id"));
                }
                Ok(())
            }
            ConnectorConfig::Infobip(c) => required(&k("base_url"), &c.base_url),
            ConnectorConfig::Kannel(c) => required(&k("base_url"), &c.base_url),
        }
    }

    pub(super) fn load_secrets(&mut self, key: &str) -> Result<(), ConfigError> {
        with_preset!(self, c => c.load_secrets(key), other => match other {
            ConnectorConfig::Http(h) => match &mut h.auth {
                HttpAuth::Basic { password, password_file: Some(p), .. } => {
                    *password = Some(file_secret(&format!("{key}.auth.password_file"), p)?);
                    Ok(())
                }
                HttpAuth::Bearer { token, token_file: Some(p) } => {
                    *token = Some(file_secret(&format!("{key}.auth.token_file"), p)?);
                    Ok(())
                }
                _ => Ok(()),
            },
            _ => Ok(()),
        })
    }
}

fn required(key: &str, value: &Option<String>) -> Result<(), Invalid> {
    match value {
        Some(v) if !v.trim().is_empty() => Ok(()),
        _ => Err(Invalid::new(key, "is required")),
    }
}

fn validate_http(key: &str, h: &HttpConfig) -> Result<(), Invalid> {
    let k = |s: &str| format!("{key}.{s}");
    http_url(&k("url"), &h.url)?;
    range(&k("timeout"), h.timeout, 1, 120)?;
    if let Some(p) = &h.proxy {
        proxy_url(&k("proxy"), p)?;
    }
    if let Some(p) = &h.ca_file {
        absolute(&k("ca_file"), p)?;
    }
    if h.is_template_mode() {
        for (field, value) in [("to_param", &h.to_param), ("body_param", &h.body_param), ("from_param", &h.from_param)] {
            if value.is_some() {
                return Err(Invalid::new(k(field), "is for simple mode; with body_template use {{to}}, {{text}}, {{from}}, {{dlr_url}}"));
            }
        }
        if h.body_template.is_some() && h.method == HttpMethod::Get {
            return Err(Invalid::new(k("body_template"), "a GET request has no body; put the placeholders in url"));
        }
        if h.body_template.is_some() && h.content_type == BodyType::None {
            return Err(Invalid::new(k("content_type"), "body_template needs content_type form or json"));
        }
        let whole = format!("{}{}", h.url, h.body_template.as_deref().unwrap_or(""));
        let has_to = ["{{to}}", "{{mobile}}", "$ctx.num"].iter().any(|p| whole.contains(p));
        let has_text = ["{{text}}", "{{body}}", "$ctx.msg"].iter().any(|p| whole.contains(p));
        if !has_to || !has_text {
            return Err(Invalid::new(k("body_template"), "the request must carry {{to}} and {{text}} (or their aliases)"));
        }
    } else {
        required(&k("to_param"), &h.to_param)?;
        required(&k("body_param"), &h.body_param)?;
        if h.from_param.is_some() != h.from.is_some() {
            return Err(Invalid::new(k("from_param"), "from_param and from go together"));
        }
    }
    if h.success_status.is_empty() || h.success_status.iter().any(|s| !(100..=599).contains(s)) {
        return Err(Invalid::new(k("success_status"), "a list of HTTP status codes 100-599"));
    }
    if let Some(j) = &h.success_json {
        json_pointer(&k("success_json.pointer"), &j.pointer)?;
    }
    if let Some(problem) = h.success_regex.as_ref().and_then(SuccessRegex::problem) {
        return Err(Invalid::new(k("success_regex"), problem));
    }
    if let Some(p) = &h.message_id {
        json_pointer(&k("message_id"), p)?;
    }
    for (name, value) in &h.headers {
        let name_ok = !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b));
        if !name_ok {
            return Err(Invalid::new(k("headers"), format!("bad header name {name:?}")));
        }
        printable(&k("headers"), value).map_err(|i| Invalid::new(i.key, format!("header {name:?}: {}", i.message)))?;
    }
    for (name, value) in &h.params {
        printable(&k("params"), name)?;
        printable(&k("params"), value).map_err(|i| Invalid::new(i.key, format!("parameter {name:?}: {}", i.message)))?;
    }
    printable(&k("from"), h.from.as_deref().unwrap_or(""))?;
    match &h.auth {
        HttpAuth::None {} => Ok(()),
        HttpAuth::Basic { username, password, password_file } => {
            if username.is_empty() || username.contains(':') {
                return Err(Invalid::new(k("auth.username"), "must be non-empty and contain no ':'"));
            }
            printable(&k("auth.username"), username)?;
            one_secret(&k("auth"), "password", password, password_file)
        }
        HttpAuth::Bearer { token, token_file } => one_secret(&k("auth"), "token", token, token_file),
    }
}

fn json_pointer(key: &str, p: &str) -> Result<(), Invalid> {
    if !p.is_empty() && !p.starts_with('/') {
        return Err(Invalid::new(key, "a JSON pointer starts with '/', e.g. \"/messages/0/status\""));
    }
    Ok(())
}
