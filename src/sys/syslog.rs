//! syslog(3) for the daemon (`smsotp-dlrd`); the module logs through pam_syslog.

use std::ffi::{CStr, CString};

/// openlog(3) with `ident`, LOG_PID, on `facility` (e.g. libc::LOG_AUTHPRIV).
pub fn open(ident: &'static CStr, facility: libc::c_int) {
    // SAFETY: ident is 'static, so the pointer openlog keeps stays valid for the
    // life of the process; the other arguments are plain integers.
    unsafe { libc::openlog(ident.as_ptr(), libc::LOG_PID | libc::LOG_NDELAY, facility) };
}

/// One line at `priority` (LOG_INFO, LOG_WARNING...), control characters removed.
pub fn line(priority: libc::c_int, message: &str) {
    let Ok(text) = CString::new(crate::log::printable(message)) else { return };
    // SAFETY: "%s" with one NUL-terminated string matches the variadic argument given.
    unsafe { libc::syslog(priority, c"%s".as_ptr(), text.as_ptr()) };
}
