//! `[[directory]]` entries: where a user's mobile number is found.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{ConfigError, Invalid, Secret, range, read_secret};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum DirectoryConfig {
    File(FileDirectoryConfig),
    Ldif(LdifConfig),
    Ldap(LdapConfig),
    /// Numbers set with `smsotp phone set` or by enrolment, kept in the state store.
    Enrolled(EnrolledDirectoryConfig),
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrolledDirectoryConfig {}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileDirectoryConfig {
    pub path: PathBuf,
}

fn default_user_attribute() -> String {
    "uid".into()
}
fn default_ldif_phone_attributes() -> Vec<String> {
    vec!["mobile".into(), "telephoneNumber".into()]
}
fn default_ldap_phone_attributes() -> Vec<String> {
    vec!["mobile".into()]
}
fn default_filter() -> String {
    "(uid={user})".into()
}
fn default_ldap_timeout() -> u64 {
    5
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LdifConfig {
    pub path: PathBuf,
    #[serde(default = "default_user_attribute")]
    pub user_attribute: String,
    #[serde(default = "default_ldif_phone_attributes")]
    pub phone_attributes: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LdapConfig {
    #[serde(serialize_with = "super::redacted::url")]
    pub url: String,
    pub base_dn: String,
    #[serde(default = "default_filter")]
    pub filter: String,
    #[serde(default = "default_ldap_phone_attributes")]
    pub phone_attributes: Vec<String>,
    #[serde(default)]
    pub bind_dn: Option<String>,
    #[serde(default)]
    pub bind_password_file: Option<PathBuf>,
    #[serde(default)]
    pub starttls: bool,
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    #[serde(default = "default_ldap_timeout")]
    pub timeout: u64,
    #[serde(skip)]
    pub bind_password: Option<Secret>,
}

impl DirectoryConfig {
    pub fn kind(&self) -> &'static str {
        match self {
            DirectoryConfig::File(_) => "file",
            DirectoryConfig::Ldif(_) => "ldif",
            DirectoryConfig::Ldap(_) => "ldap",
            DirectoryConfig::Enrolled(_) => "enrolled",
        }
    }

    pub(super) fn validate(&self, key: &str) -> Result<(), Invalid> {
        match self {
            DirectoryConfig::File(f) => absolute(&format!("{key}.path"), &f.path),
            DirectoryConfig::Ldif(l) => {
                absolute(&format!("{key}.path"), &l.path)?;
                attribute_name(&format!("{key}.user_attribute"), &l.user_attribute)?;
                attributes(&format!("{key}.phone_attributes"), &l.phone_attributes)
            }
            DirectoryConfig::Ldap(l) => {
                let k = |s: &str| format!("{key}.{s}");
                let scheme_ok = l.url.starts_with("ldap://") || l.url.starts_with("ldaps://");
                if !scheme_ok {
                    return Err(Invalid::new(k("url"), "must start with ldap:// or ldaps://"));
                }
                if l.starttls && l.url.starts_with("ldaps://") {
                    return Err(Invalid::new(k("starttls"), "ldaps:// is already TLS; starttls goes with ldap://"));
                }
                if l.base_dn.trim().is_empty() {
                    return Err(Invalid::new(k("base_dn"), "must not be empty"));
                }
                if !l.filter.contains("{user}") || !l.filter.starts_with('(') {
                    return Err(Invalid::new(k("filter"), "must be an LDAP filter in parentheses containing {user}"));
                }
                attributes(&k("phone_attributes"), &l.phone_attributes)?;
                if l.bind_password_file.is_some() && l.bind_dn.is_none() {
                    return Err(Invalid::new(k("bind_password_file"), "needs bind_dn"));
                }
                if let Some(p) = &l.bind_password_file {
                    absolute(&k("bind_password_file"), p)?;
                }
                if let Some(p) = &l.ca_file {
                    absolute(&k("ca_file"), p)?;
                }
                range(&k("timeout"), l.timeout, 1, 60)
            }
            DirectoryConfig::Enrolled(_) => Ok(()),
        }
    }

    pub(super) fn load_secrets(&mut self) -> Result<(), ConfigError> {
        if let DirectoryConfig::Ldap(l) = self
            && let Some(path) = &l.bind_password_file
        {
            l.bind_password = Some(read_secret(path)?);
        }
        Ok(())
    }
}

pub(super) fn absolute(key: &str, path: &std::path::Path) -> Result<(), Invalid> {
    if !path.is_absolute() {
        return Err(Invalid::new(key, "must be an absolute path"));
    }
    Ok(())
}

fn attribute_name(key: &str, name: &str) -> Result<(), Invalid> {
    let ok = !name.is_empty()
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b';')
        && name.as_bytes()[0].is_ascii_alphabetic();
    if !ok {
        return Err(Invalid::new(key, format!("{name:?} is not an attribute name")));
    }
    Ok(())
}

fn attributes(key: &str, names: &[String]) -> Result<(), Invalid> {
    if names.is_empty() {
        return Err(Invalid::new(key, "needs at least one attribute"));
    }
    names.iter().try_for_each(|n| attribute_name(key, n))
}
