//! syslog(3) for the programs beside the module: `smsotp-dlrd`'s lines and the
//! `smsotp` command's audit lines (`event=admin ...`). The module itself logs
//! through pam_syslog.

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

/// Send one line at LOG_NOTICE (or LOG_WARNING when `warning`) to LOG_AUTHPRIV
/// as `smsotp[PID]`. Control characters become '?'; nothing else is changed.
pub fn authpriv(line: &str, warning: bool) {
    let Ok(text) = CString::new(crate::log::printable(line)) else { return };
    let priority = libc::LOG_AUTHPRIV | if warning { libc::LOG_WARNING } else { libc::LOG_NOTICE };
    // SAFETY: openlog keeps the ident pointer until closelog: a 'static C
    // string literal outlives both. syslog gets "%s" with one NUL-terminated
    // string, matching its variadic arguments. closelog takes nothing.
    unsafe {
        libc::openlog(c"smsotp".as_ptr(), libc::LOG_PID, libc::LOG_AUTHPRIV);
        libc::syslog(priority, c"%s".as_ptr(), text.as_ptr());
        libc::closelog();
    }
}
