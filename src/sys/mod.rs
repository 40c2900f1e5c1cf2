//! Small safe wrappers over what std does not offer: starting a child as another
//! user with a clean slate, and signal dispositions around the module's work.
//! With src/pam the only home of `unsafe`.

pub mod child;
pub mod signals;
pub mod syslog;
