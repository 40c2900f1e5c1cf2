//! The PAM module: links the pam_smsotp library, whose `pam` module defines
//! the `pam_sm_*` entry points libpam looks up.

pub use smsotp::pam::SmsOtp;
