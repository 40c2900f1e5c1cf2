//! `type = "enrolled"`: the numbers kept in the state store, set by
//! `smsotp phone set` or by enrolment with a code.

use std::time::Duration;

use crate::auth::{Directory, DirectoryError, Numbers, PhoneRecord};
use crate::log::Log;
use crate::state::SharedNumbers;

pub const SOURCE: &str = "enrolled numbers";

pub struct EnrolledDirectory {
    numbers: SharedNumbers,
}

impl EnrolledDirectory {
    pub fn new(numbers: SharedNumbers) -> EnrolledDirectory {
        EnrolledDirectory { numbers }
    }
}

impl Directory for EnrolledDirectory {
    fn describe(&self) -> String {
        SOURCE.into()
    }

    fn lookup(&self, user: &str, _remaining: Duration, _log: &dyn Log) -> Result<Option<PhoneRecord>, DirectoryError> {
        let stored = self
            .numbers
            .clone()
            .numbers(user)
            .map_err(|e| DirectoryError::Unavailable { source_name: SOURCE.into(), reason: e.to_string() })?;
        let Some(number) = stored.enrolled else { return Ok(None) };
        match number.phone() {
            Some(phone) => Ok(Some(PhoneRecord { phone, source: SOURCE.into(), dn: None })),
            None => Err(DirectoryError::Refused { source_name: SOURCE.into(), reason: "the stored number is not a valid number".into() }),
        }
    }
}
