//! Phone lookup adapters behind `auth::Directory`, built from `[[directory]]`.

mod file;

use std::time::Duration;

pub use file::FileDirectory;

use crate::auth::{Directory, DirectoryError, PhoneRecord};
use crate::config::{Config, DirectoryConfig};
use crate::log::Log;

/// The configured directories, in order.
pub fn build(config: &Config) -> Vec<Box<dyn Directory>> {
    let cc = config.phone.default_country_code.clone();
    config
        .directories
        .iter()
        .map(|d| -> Box<dyn Directory> {
            match d {
                DirectoryConfig::File(f) => Box::new(FileDirectory::new(f.path.clone(), cc.clone())),
                other => Box::new(NotAvailable(other.kind())),
            }
        })
        .collect()
}

/// A directory type this build cannot query yet: every lookup is a failure,
/// so `on_directory_failure` decides, and no user is mistaken for unenrolled.
struct NotAvailable(&'static str);

impl Directory for NotAvailable {
    fn describe(&self) -> String {
        format!("{} directory", self.0)
    }
    fn lookup(&self, _: &str, _: Duration, _: &dyn Log) -> Result<Option<PhoneRecord>, DirectoryError> {
        Err(DirectoryError::Unavailable {
            source_name: self.describe(),
            reason: "this directory type is not supported by this build".into(),
        })
    }
}
