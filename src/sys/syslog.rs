//! syslog(3) for the `smsotp` command's audit lines (`event=admin ...`): ident
//! `smsotp`, facility LOG_AUTHPRIV, beside the module's own pam_syslog lines.

use std::ffi::CString;

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
