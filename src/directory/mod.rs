//! Phone lookup adapters behind `auth::Directory`, built from `[[directory]]`.

mod enrolled;
mod file;
mod ldap;
mod ldif;

pub use enrolled::EnrolledDirectory;
pub use file::{FileDirectory, MapEntry};
pub use ldap::{LdapDirectory, LdapProblem, LdapSession, filter_problem as ldap_filter_problem};
pub use ldif::{Entry, Found, LdifDirectory, read_entries, read_entry_bytes};

use crate::auth::{Directory, DirectoryError, PhoneRecord};
use crate::config::{Config, DirectoryConfig};
use crate::phone::Phone;
use crate::state::SharedNumbers;

/// The one way every directory turns the value it found into its answer: the
/// number normalised as everywhere, or a refusal that says where it stands
/// (a line, an entry), never the value.
pub(crate) fn phone_record(
    raw: &str,
    default_country_code: &str,
    source: String,
    place: Option<String>,
    dn: Option<String>,
) -> Result<PhoneRecord, DirectoryError> {
    match Phone::normalise(raw, default_country_code) {
        Ok(phone) => Ok(PhoneRecord { phone, source, dn }),
        Err(e) => {
            let source_name = match place {
                Some(place) => format!("{source} {place}"),
                None => source,
            };
            Err(DirectoryError::Refused { source_name, reason: e.to_string() })
        }
    }
}

/// The configured directories, in order.
pub fn build(config: &Config) -> Vec<Box<dyn Directory>> {
    build_with(config, &SharedNumbers::new(crate::state::numbers::open(config)))
}

/// The configured directories, an `enrolled` one reading `numbers`.
pub fn build_with(config: &Config, numbers: &SharedNumbers) -> Vec<Box<dyn Directory>> {
    let cc = config.phone.default_country_code.clone();
    config
        .directories
        .iter()
        .map(|d| -> Box<dyn Directory> {
            match d {
                DirectoryConfig::File(f) => Box::new(FileDirectory::new(f.path.clone(), cc.clone())),
                DirectoryConfig::Ldif(l) => Box::new(LdifDirectory::new(l, cc.clone())),
                DirectoryConfig::Ldap(l) => Box::new(LdapDirectory::new(l, cc.clone())),
                DirectoryConfig::Enrolled(_) => Box::new(EnrolledDirectory::new(numbers.clone())),
            }
        })
        .collect()
}
