//! pam_syslog(3): lines read `pam_smsotp(sshd:auth): ...` in the auth log, and
//! the host program's own openlog() is left alone.

use std::ffi::CString;
use std::os::raw::{c_char, c_int};

use pam::module::PamHandle;

use crate::log::{Level, Log};

#[link(name = "pam")]
unsafe extern "C" {
    fn pam_syslog(pamh: *const PamHandle, priority: c_int, fmt: *const c_char, ...);
}

pub struct PamLog<'a> {
    pamh: &'a PamHandle,
    debug: bool,
}

impl<'a> PamLog<'a> {
    pub fn new(pamh: &'a PamHandle, debug: bool) -> Self {
        PamLog { pamh, debug }
    }
}

impl Log for PamLog<'_> {
    fn log(&self, level: Level, message: &str) {
        if level == Level::Debug && !self.debug {
            return;
        }
        let priority = match level {
            Level::Critical => libc::LOG_CRIT,
            Level::Error => libc::LOG_ERR,
            Level::Warning => libc::LOG_WARNING,
            Level::Notice => libc::LOG_NOTICE,
            Level::Info => libc::LOG_INFO,
            Level::Debug => libc::LOG_DEBUG,
        };
        let Ok(text) = CString::new(crate::log::printable(message)) else { return };
        // SAFETY: pamh is the live handle of this call; "%s" with one NUL-terminated
        // string matches the variadic arguments given.
        unsafe { pam_syslog(self.pamh, priority, c"%s".as_ptr(), text.as_ptr()) };
    }
}
