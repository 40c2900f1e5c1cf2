//! Phone lookup adapters behind `auth::Directory`, built from `[[directory]]`.

mod file;
mod ldap;
mod ldif;

pub use file::{FileDirectory, MapEntry};
pub use ldap::{LdapDirectory, LdapProblem, LdapSession, filter_problem as ldap_filter_problem};
pub use ldif::{Entry, Found, LdifDirectory, read_entries, read_entry_bytes};

use crate::auth::Directory;
use crate::config::{Config, DirectoryConfig};

/// The configured directories, in order.
pub fn build(config: &Config) -> Vec<Box<dyn Directory>> {
    let cc = config.phone.default_country_code.clone();
    config
        .directories
        .iter()
        .map(|d| -> Box<dyn Directory> {
            match d {
                DirectoryConfig::File(f) => Box::new(FileDirectory::new(f.path.clone(), cc.clone())),
                DirectoryConfig::Ldif(l) => Box::new(LdifDirectory::new(l, cc.clone())),
                DirectoryConfig::Ldap(l) => Box::new(LdapDirectory::new(l, cc.clone())),
            }
        })
        .collect()
}
