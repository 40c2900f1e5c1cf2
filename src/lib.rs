//! pam_smsotp: an SMS one-time password as the second factor of Linux logins.
//!
//! `pam` (libpam) and `sys` (process and signal primitives) are the only modules
//! with `unsafe`; `auth` is the login flow over traits;
//! the rest are adapters (directories, connectors, state) and their configuration.

pub mod audit;
pub mod auth;
pub mod config;
pub mod connector;
pub mod directory;
pub mod dlr;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod hex;
pub mod log;
pub mod message;
pub mod net;
pub mod notify;
pub mod otp;
// libpam's C interface: every unsafe block says why it is sound
#[allow(unsafe_code)]
pub mod pam;
pub mod phone;
pub mod state;
pub mod wiring;
// process and signal primitives std does not offer: every unsafe block says why it is sound
#[allow(unsafe_code)]
pub mod sys;
pub mod system;
pub mod trust;
