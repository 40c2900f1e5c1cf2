//! The libpam edge (with src/sys one of the two homes of `unsafe`): entry points, items,
//! conversation, pam_syslog. Everything else is plain Rust in `auth`.

mod args;
mod codes;
mod conv;
mod syslog;

use std::ffi::CStr;
use std::panic::{self, AssertUnwindSafe};
use std::time::Instant;

use pam::constants::{PAM_SILENT, PamFlag, PamResultCode};
use pam::conv::Conv;
use pam::items::{AuthTok, RHost, Service, Tty};
use pam::module::{PamHandle, PamHooks};

pub use args::{ArgError, ModuleArgs, parse as parse_args};
pub use codes::pam_code;

use crate::audit::{AuthEvent, Reason};
use crate::auth::{Login, Outcome, Prompter, SkipReason};
use crate::config::{Config, Secret};
use crate::log::Log;
use conv::PamPrompter;
use syslog::PamLog;

const MAX_USER_LEN: usize = 256;
const MSG_CONFIG: &str = "SMS verification is misconfigured; ask your administrator.";

pub struct SmsOtp;
pam::pam_hooks!(SmsOtp);

impl PamHooks for SmsOtp {
    fn sm_authenticate(pamh: &mut PamHandle, args: Vec<&CStr>, flags: PamFlag) -> PamResultCode {
        let _write_signals = crate::sys::signals::BlockedWriteSignals::block();
        quietly(|| authenticate(pamh, &args, flags))
    }

    /// The module sets no credentials, but must not make the stack fail.
    fn sm_setcred(_: &mut PamHandle, _: Vec<&CStr>, _: PamFlag) -> PamResultCode {
        PamResultCode::PAM_SUCCESS
    }
}

/// Run `f` with a panic hook that prints nothing to the host's stderr, restoring
/// the host's hook afterwards; a panic becomes PAM_SERVICE_ERR, never success.
fn quietly(f: impl FnOnce() -> PamResultCode) -> PamResultCode {
    let host_hook = panic::take_hook();
    panic::set_hook(Box::new(|_| {}));
    let result = panic::catch_unwind(AssertUnwindSafe(f));
    panic::set_hook(host_hook);
    result.unwrap_or(PamResultCode::PAM_SERVICE_ERR)
}

fn authenticate(pamh: &mut PamHandle, args: &[&CStr], flags: PamFlag) -> PamResultCode {
    // how the tests prove that the built module catches a panic (it unwinds
    // with the unwinder linked into the module); never in a release build
    #[cfg(feature = "test-support")]
    if args.iter().any(|a| a.to_bytes() == b"test_panic") {
        panic!("test_panic with a secret 135790");
    }
    let started = Instant::now();
    let parsed = parse_args(args.iter().map(|a| a.to_bytes()));
    let debug = parsed.as_ref().map(|a| a.debug).unwrap_or(false);
    let user = pamh.get_user(None);
    let pamh: &PamHandle = pamh;
    let log = PamLog::new(pamh, debug);
    let conv = pamh.get_item::<Conv>().ok().flatten();
    let mut prompter = PamPrompter::new(conv, flags & PAM_SILENT != 0);
    // who and where, for the audit line of a login that ends before the flow
    let early = Login {
        user: user.as_ref().map(|u| u.chars().take(MAX_USER_LEN).collect()).unwrap_or_default(),
        service: item_text::<Service>(pamh).unwrap_or_default(),
        rhost: item_text::<RHost>(pamh),
        tty: item_text::<Tty>(pamh),
        ..Login::default()
    };
    let end = |outcome: Outcome, reason: Option<Reason>| {
        let mut event = AuthEvent::new(&outcome, &early);
        if let Some(reason) = reason {
            event.reason = reason;
        }
        event.duration = started.elapsed();
        crate::auth::log_event(&log, &event);
        pam_code(&outcome)
    };

    let args = match parsed {
        Ok(a) => a,
        Err(e) => {
            log.error(&format!("bad module arguments: {e}"));
            let _ = prompter.error(MSG_CONFIG);
            return end(Outcome::ServiceError(e.to_string()), Some(Reason::BadConfig));
        }
    };
    // A screen locker or a desktop keyring runs the stack as the user: it can
    // read neither the config nor the state, and must not fail the stack.
    let euid = nix::unistd::geteuid();
    if !euid.is_root() {
        log.notice(&format!("not running as root (euid {euid}): the module steps aside (PAM_IGNORE)"));
        return end(Outcome::Skipped(SkipReason::NotRoot), None);
    }
    let user = match user {
        Ok(u) if valid_user(&u) => u,
        Ok(_) => {
            log.error("refusing a user name that is empty, too long or has control characters");
            return end(Outcome::UnusableUser, None);
        }
        Err(PamResultCode::PAM_CONV_ERR) => return end(Outcome::ConversationFailed, None),
        Err(code) => {
            // includes a name that is not UTF-8
            log.error(&format!("cannot get a usable user name (PAM error {code:?})"));
            return end(Outcome::UnusableUser, None);
        }
    };
    let config = match Config::load(&args.config) {
        Ok(c) => c,
        Err(e) => {
            log.error(&format!("{e}"));
            let _ = prompter.error(MSG_CONFIG);
            return end(Outcome::ServiceError(e.to_string()), Some(Reason::BadConfig));
        }
    };
    let login = Login {
        user,
        service: early.service.clone(),
        rhost: early.rhost.clone(),
        tty: early.tty.clone(),
        caller_uid: nix::unistd::getuid().as_raw(),
        password: pamh
            .get_item::<AuthTok>()
            .ok()
            .flatten()
            .and_then(|t| std::str::from_utf8(t.as_bytes()).ok().map(|p| Secret::new(p.to_string()))),
        host: crate::system::hostname(),
    };
    let outcome = crate::wiring::run_login(&config, &login, &mut prompter, &log);
    pam_code(&outcome)
}

fn valid_user(user: &str) -> bool {
    !user.is_empty() && user.len() <= MAX_USER_LEN && !user.chars().any(char::is_control)
}

/// A string item as UTF-8 text; missing, empty or not UTF-8 gives None (so a strange
/// PAM_RHOST can never match a trusted network).
fn item_text<'a, T>(pamh: &'a PamHandle) -> Option<String>
where
    T: pam::items::Item<'a> + std::ops::Deref<Target = &'a CStr>,
{
    let item = pamh.get_item::<T>().ok().flatten()?;
    // login(1) sets PAM_RHOST to "": no host is no host
    item.to_str().ok().filter(|s| !s.is_empty()).map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    static HOST_HOOK_CALLS: AtomicUsize = AtomicUsize::new(0);

    #[test]
    fn a_panic_is_silent_never_success_and_the_host_hook_comes_back() {
        panic::set_hook(Box::new(|_| {
            HOST_HOOK_CALLS.fetch_add(1, Ordering::SeqCst);
        }));
        let code = quietly(|| panic!("boom with a secret 123456"));
        assert_eq!(code, PamResultCode::PAM_SERVICE_ERR);
        assert_eq!(HOST_HOOK_CALLS.load(Ordering::SeqCst), 0, "the host's hook must not see our panic");
        let _ = panic::catch_unwind(|| panic!("the host's own panic"));
        assert_eq!(HOST_HOOK_CALLS.load(Ordering::SeqCst), 1, "the host's hook is restored");
        let _ = panic::take_hook();
        assert_eq!(quietly(|| PamResultCode::PAM_AUTH_ERR), PamResultCode::PAM_AUTH_ERR);
    }

    #[test]
    fn user_names_that_are_refused() {
        assert!(valid_user("alice"));
        assert!(valid_user("j.doe@example.org"));
        assert!(!valid_user(""));
        assert!(!valid_user("al\nice"));
        assert!(!valid_user(&"a".repeat(257)));
    }
}
