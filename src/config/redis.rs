//! `[state.redis]`: where the fleet's shared state lives (`[state] backend = "redis"`).

use std::net::IpAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::directories::absolute;
use super::{ConfigError, Invalid, Secret, range, read_secret};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedisConfig {
    #[serde(serialize_with = "super::redacted::url")]
    pub url: String,
    pub sentinels: Vec<String>,
    pub master_name: String,
    pub username: String,
    pub password_file: Option<PathBuf>,
    pub admin_username: String,
    pub admin_password_file: Option<PathBuf>,
    pub sentinel_username: String,
    pub sentinel_password_file: Option<PathBuf>,
    pub ca_file: Option<PathBuf>,
    pub key_prefix: String,
    pub timeout: u64,
    pub wait_replicas: u32,
    #[serde(skip)]
    pub password: Option<Secret>,
    #[serde(skip)]
    pub sentinel_password: Option<Secret>,
}

impl Default for RedisConfig {
    fn default() -> Self {
        RedisConfig {
            url: String::new(),
            sentinels: Vec::new(),
            master_name: "smsotp".into(),
            username: String::new(),
            password_file: None,
            admin_username: String::new(),
            admin_password_file: None,
            sentinel_username: String::new(),
            sentinel_password_file: None,
            ca_file: None,
            key_prefix: "smsotp:".into(),
            timeout: 2,
            wait_replicas: 0,
            password: None,
            sentinel_password: None,
        }
    }
}

/// A parsed `redis://` or `rediss://` address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisAddress {
    pub tls: bool,
    /// Without brackets for IPv6.
    pub host: String,
    pub port: u16,
    pub db: u32,
}

/// Parse a server address; credentials in the URL are refused (they belong in
/// `password_file`), and so is plain text to anything but a loopback address.
pub fn parse_address(url: &str, default_port: u16) -> Result<RedisAddress, String> {
    let parsed: ureq::http::Uri = url.parse().map_err(|e| format!("not a URL: {e}"))?;
    let tls = match parsed.scheme_str() {
        Some("rediss" | "valkeys") => true,
        Some("redis" | "valkey") => false,
        Some(other) => return Err(format!("scheme {other}:// is not redis:// or rediss://")),
        None => return Err("not a URL: no scheme".into()),
    };
    let authority = parsed.authority().map(|a| a.as_str()).unwrap_or("");
    if authority.contains('@') {
        return Err("credentials do not go in the URL; use username and password_file".into());
    }
    if parsed.query().is_some() || url.contains('#') {
        return Err("the URL takes no query or fragment".into());
    }
    let host = parsed.host().filter(|h| !h.is_empty()).ok_or("the URL has no host")?;
    let host = host.trim_start_matches('[').trim_end_matches(']').to_string();
    let port = parsed.port_u16().unwrap_or(default_port);
    let path = parsed.path().trim_start_matches('/');
    let db = if path.is_empty() { 0 } else { path.parse::<u32>().map_err(|_| format!("{path:?} is not a database number"))? };
    if !tls && !is_loopback(&host) {
        return Err("redis:// sends the password and the state in the clear: only to a loopback address; use rediss://".into());
    }
    Ok(RedisAddress { tls, host, port, db })
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost") || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

impl RedisConfig {
    pub(super) fn validate(&self, active: bool) -> Result<(), Invalid> {
        let k = |s: &str| format!("state.redis.{s}");
        if active && self.url.is_empty() && self.sentinels.is_empty() {
            return Err(Invalid::new(k("url"), "backend = \"redis\" needs url or sentinels"));
        }
        if !self.url.is_empty() {
            parse_address(&self.url, 6379).map_err(|e| Invalid::new(k("url"), e))?;
        }
        for s in &self.sentinels {
            parse_address(s, 26379).map_err(|e| Invalid::new(k("sentinels"), e))?;
        }
        if !self.sentinels.is_empty() {
            let tls: Vec<bool> = self.sentinels.iter().filter_map(|s| parse_address(s, 26379).ok()).map(|a| a.tls).collect();
            if tls.iter().any(|&t| t != tls[0]) {
                return Err(Invalid::new(k("sentinels"), "all sentinels use the same scheme (it is also the primary's)"));
            }
            // the primary a sentinel names is reached with the sentinels' scheme
            if !tls[0] {
                return Err(Invalid::new(k("sentinels"), "sentinels hand out addresses that may not be loopback: use rediss://"));
            }
        }
        let name_ok = |s: &str| s.bytes().all(|b| b.is_ascii_graphic());
        if self.master_name.is_empty() || !name_ok(&self.master_name) {
            return Err(Invalid::new(k("master_name"), "must be a non-empty name without spaces"));
        }
        for (key, user) in
            [("username", &self.username), ("admin_username", &self.admin_username), ("sentinel_username", &self.sentinel_username)]
        {
            if !name_ok(user) {
                return Err(Invalid::new(k(key), "must be an ACL user name without spaces"));
            }
        }
        for (key, path) in [
            ("password_file", &self.password_file),
            ("admin_password_file", &self.admin_password_file),
            ("sentinel_password_file", &self.sentinel_password_file),
            ("ca_file", &self.ca_file),
        ] {
            if let Some(p) = path {
                absolute(&k(key), p)?;
            }
        }
        let prefix_ok = !self.key_prefix.is_empty()
            && self.key_prefix.len() <= 64
            && self.key_prefix.bytes().all(|b| b.is_ascii_graphic() && !matches!(b, b'{' | b'}' | b'*' | b'?' | b'[' | b']' | b'\\'));
        if !prefix_ok {
            return Err(Invalid::new(
                k("key_prefix"),
                "1 to 64 printable characters, none of {}*?[]\\ (they mean something to ACL patterns)",
            ));
        }
        range(&k("timeout"), self.timeout, 1, 60)?;
        range(&k("wait_replicas"), u64::from(self.wait_replicas), 0, 16)
    }

    /// The module's secrets (the admin password is read only by `smsotp`).
    pub(super) fn load_secrets(&mut self) -> Result<(), ConfigError> {
        if let Some(p) = &self.password_file {
            self.password = Some(read_secret(p)?);
        }
        if let Some(p) = &self.sentinel_password_file {
            self.sentinel_password = Some(read_secret(p)?);
        }
        Ok(())
    }

    /// `smsotp`'s credentials for what creates codes or numbers: the admin user
    /// when one is configured, else the module's.
    pub fn admin_credentials(&self) -> Result<(String, Option<Secret>), ConfigError> {
        if self.admin_username.is_empty() && self.admin_password_file.is_none() {
            return Ok((self.username.clone(), self.password.clone()));
        }
        let password = self.admin_password_file.as_deref().map(read_secret).transpose()?;
        Ok((self.admin_username.clone(), password))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_only_to_loopback() {
        for ok in ["redis://127.0.0.1:6379/0", "redis://[::1]:7000", "redis://localhost", "redis://127.9.9.9/3"] {
            assert!(parse_address(ok, 6379).is_ok(), "{ok}");
        }
        for bad in ["redis://10.0.0.1", "redis://redis.example.org", "redis://[::ffff:10.0.0.1]", "redis://127.0.0.1.nip.io"] {
            assert!(parse_address(bad, 6379).unwrap_err().contains("loopback"), "{bad}");
        }
        assert_eq!(
            parse_address("rediss://r.example.org/2", 6379).unwrap(),
            RedisAddress { tls: true, host: "r.example.org".into(), port: 6379, db: 2 }
        );
        for bad in ["http://127.0.0.1", "rediss://u:p@h", "rediss://h/x", "rediss://h?a=b", "rediss:///0", "nonsense"] {
            assert!(parse_address(bad, 6379).is_err(), "{bad}");
        }
    }

    #[test]
    fn validation_names_the_key() {
        let base = RedisConfig { url: "rediss://r.example.org".into(), ..RedisConfig::default() };
        assert!(base.validate(true).is_ok());
        let cases: Vec<(RedisConfig, &str)> = vec![
            (RedisConfig::default(), "url"),
            (RedisConfig { url: "redis://192.0.2.1".into(), ..base.clone() }, "url"),
            (RedisConfig { key_prefix: "".into(), ..base.clone() }, "key_prefix"),
            (RedisConfig { key_prefix: "a*".into(), ..base.clone() }, "key_prefix"),
            (RedisConfig { timeout: 0, ..base.clone() }, "timeout"),
            (RedisConfig { wait_replicas: 17, ..base.clone() }, "wait_replicas"),
            (RedisConfig { password_file: Some("rel".into()), ..base.clone() }, "password_file"),
            (RedisConfig { username: "a b".into(), ..base.clone() }, "username"),
            (RedisConfig { sentinels: vec!["redis://127.0.0.1:26379".into()], ..base.clone() }, "sentinels"),
            (RedisConfig { sentinels: vec!["rediss://a".into(), "redis://127.0.0.1".into()], ..base.clone() }, "sentinels"),
        ];
        for (c, key) in cases {
            let e = c.validate(true).unwrap_err();
            assert_eq!(e.key, format!("state.redis.{key}"), "{c:?}");
        }
        assert!(RedisConfig::default().validate(false).is_ok(), "unused by the file backend");
    }
}
