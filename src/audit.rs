//! Audit events: one `key=value` line per login (`event=auth`) and per state
//! change made by `smsotp` (`event=admin`), in a stable form that fail2ban, a
//! SIEM or grep can read. pam_smsotp(8) lists every field and value.
//!
//! The vocabulary is closed: `result` and `reason` are enums here, and the
//! keys come out in a fixed order. Values from outside (user, rhost, tty...)
//! lose their control characters and are quoted when they hold a space, a
//! quote, a backslash or `=`, so no value can forge another key.

use std::time::Duration;

use crate::auth::{DenyReason, Login, Outcome, SkipReason, UnavailableReason};

/// How a login ended, in the words of the event line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthResult {
    Success,
    BackupCode,
    Skipped,
    Denied,
    MaxTries,
    Unavailable,
    Error,
    ConvError,
}

impl AuthResult {
    pub const ALL: &'static [AuthResult] = &[
        AuthResult::Success,
        AuthResult::BackupCode,
        AuthResult::Skipped,
        AuthResult::Denied,
        AuthResult::MaxTries,
        AuthResult::Unavailable,
        AuthResult::Error,
        AuthResult::ConvError,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AuthResult::Success => "success",
            AuthResult::BackupCode => "backup_code",
            AuthResult::Skipped => "skipped",
            AuthResult::Denied => "denied",
            AuthResult::MaxTries => "maxtries",
            AuthResult::Unavailable => "unavailable",
            AuthResult::Error => "error",
            AuthResult::ConvError => "conv_error",
        }
    }
}

/// Why a login ended so. One list for every result; pam_smsotp(8) says which
/// reasons go with which result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// success: the SMS code was right.
    SmsCode,
    /// backup_code: a backup code was right (and is spent).
    BackupCode,
    /// success: the enrolment dialogue stored a number and its code was right.
    Enrolled,
    /// maxtries: the attempts ran out on wrong answers.
    WrongCode,
    /// maxtries: the attempts ran out on empty answers (no new code could be sent).
    NoCode,
    /// denied: the user was locked out when the login began (or by another login meanwhile).
    Locked,
    /// denied: this login's wrong answer reached the lockout.
    Lockout,
    /// denied: the code expired and no resend was left.
    Expired,
    /// denied: the answer was the login's password.
    PasswordAsCode,
    /// denied (policy.unenrolled = "deny") or skipped (= "ignore"): no number for the user.
    NoPhone,
    /// denied: the directory entry is not a usable number.
    BadNumber,
    /// denied: the number is outside [phone] allowed_prefixes.
    PrefixRefused,
    /// denied: the number changed since it was last verified ([phone] on_change = "deny").
    NumberChanged,
    /// denied: a wrong enrolment code.
    EnrolCodeWrong,
    /// denied: the send limits allow no SMS now and there are no backup codes to fall back on.
    SendLimited,
    /// denied or unavailable: every connector failed.
    SendFailed,
    /// denied or unavailable: the state store failed.
    StoreFailed,
    /// denied or unavailable: a directory failed.
    DirectoryFailed,
    /// unavailable: the name service could not say who the user is.
    AccountsFailed,
    /// skipped: the user is in [policy] skip_groups.
    SkipGroup,
    /// skipped: the user is in none of [policy] only_groups.
    NotInOnlyGroups,
    /// skipped: PAM_RHOST is in [policy] trusted_networks.
    TrustedNetwork,
    /// skipped: a recent success from the same place.
    Grace,
    /// skipped: the stack does not run as root.
    NotRoot,
    /// error: the configuration (or a file it names, or a module argument) is refused.
    BadConfig,
    /// error: the state directory has unsafe ownership or permissions.
    InsecureState,
    /// error: PAM_USER is missing, empty, too long or not text.
    BadUser,
    /// error: something that should not happen (e.g. no random numbers).
    Internal,
    /// conv_error: the conversation failed (Ctrl-C, no terminal).
    ConvFailed,
}

impl Reason {
    pub const ALL: &'static [Reason] = &[
        Reason::SmsCode,
        Reason::BackupCode,
        Reason::Enrolled,
        Reason::WrongCode,
        Reason::NoCode,
        Reason::Locked,
        Reason::Lockout,
        Reason::Expired,
        Reason::PasswordAsCode,
        Reason::NoPhone,
        Reason::BadNumber,
        Reason::PrefixRefused,
        Reason::NumberChanged,
        Reason::EnrolCodeWrong,
        Reason::SendLimited,
        Reason::SendFailed,
        Reason::StoreFailed,
        Reason::DirectoryFailed,
        Reason::AccountsFailed,
        Reason::SkipGroup,
        Reason::NotInOnlyGroups,
        Reason::TrustedNetwork,
        Reason::Grace,
        Reason::NotRoot,
        Reason::BadConfig,
        Reason::InsecureState,
        Reason::BadUser,
        Reason::Internal,
        Reason::ConvFailed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Reason::SmsCode => "sms_code",
            Reason::BackupCode => "backup_code",
            Reason::Enrolled => "enrolled",
            Reason::WrongCode => "wrong_code",
            Reason::NoCode => "no_code",
            Reason::Locked => "locked",
            Reason::Lockout => "lockout",
            Reason::Expired => "expired",
            Reason::PasswordAsCode => "password_as_code",
            Reason::NoPhone => "no_phone",
            Reason::BadNumber => "bad_number",
            Reason::PrefixRefused => "prefix_refused",
            Reason::NumberChanged => "number_changed",
            Reason::EnrolCodeWrong => "enrol_code_wrong",
            Reason::SendLimited => "send_limited",
            Reason::SendFailed => "send_failed",
            Reason::StoreFailed => "store_failed",
            Reason::DirectoryFailed => "directory_failed",
            Reason::AccountsFailed => "accounts_failed",
            Reason::SkipGroup => "skip_group",
            Reason::NotInOnlyGroups => "not_in_only_groups",
            Reason::TrustedNetwork => "trusted_network",
            Reason::Grace => "grace",
            Reason::NotRoot => "not_root",
            Reason::BadConfig => "bad_config",
            Reason::InsecureState => "insecure_state",
            Reason::BadUser => "bad_user",
            Reason::Internal => "internal",
            Reason::ConvFailed => "conv_failed",
        }
    }
}

/// The result and the default reason of an outcome. The flow may know a
/// finer reason (lockout now rather than locked before, send limits rather
/// than failed connectors) and say so with `AuthEvent::reason`.
pub fn classify(outcome: &Outcome) -> (AuthResult, Reason) {
    match outcome {
        Outcome::Success => (AuthResult::Success, Reason::SmsCode),
        Outcome::SuccessWithBackupCode { .. } => (AuthResult::BackupCode, Reason::BackupCode),
        Outcome::Skipped(reason) => (
            AuthResult::Skipped,
            match reason {
                SkipReason::NotRoot => Reason::NotRoot,
                SkipReason::SkipGroup => Reason::SkipGroup,
                SkipReason::NotInOnlyGroups => Reason::NotInOnlyGroups,
                SkipReason::TrustedNetwork => Reason::TrustedNetwork,
                SkipReason::Grace => Reason::Grace,
                SkipReason::Unenrolled => Reason::NoPhone,
            },
        ),
        Outcome::Denied(reason) => (
            AuthResult::Denied,
            match reason {
                DenyReason::Unenrolled => Reason::NoPhone,
                DenyReason::LockedOut => Reason::Locked,
                DenyReason::Expired => Reason::Expired,
                DenyReason::SendFailed => Reason::SendFailed,
                DenyReason::DirectoryFailed => Reason::DirectoryFailed,
                DenyReason::BadNumber => Reason::BadNumber,
                DenyReason::PasswordAsCode => Reason::PasswordAsCode,
                DenyReason::StoreFailed => Reason::StoreFailed,
                DenyReason::PrefixNotAllowed => Reason::PrefixRefused,
                DenyReason::NumberChanged => Reason::NumberChanged,
            },
        ),
        Outcome::MaxTries => (AuthResult::MaxTries, Reason::WrongCode),
        Outcome::Unavailable(reason) => (
            AuthResult::Unavailable,
            match reason {
                UnavailableReason::Directory => Reason::DirectoryFailed,
                UnavailableReason::Send => Reason::SendFailed,
                UnavailableReason::Store => Reason::StoreFailed,
                UnavailableReason::Accounts => Reason::AccountsFailed,
            },
        ),
        Outcome::ServiceError(_) => (AuthResult::Error, Reason::Internal),
        Outcome::ConversationFailed => (AuthResult::ConvError, Reason::ConvFailed),
        Outcome::UnusableUser => (AuthResult::Error, Reason::BadUser),
    }
}

/// The one line that ends a login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthEvent {
    pub result: AuthResult,
    pub reason: Reason,
    pub user: String,
    pub service: String,
    pub rhost: Option<String>,
    pub tty: Option<String>,
    /// The tag of the last code sent.
    pub seq: Option<String>,
    /// The connector that took the last code.
    pub connector: Option<String>,
    /// Answers typed at the code prompt (empty ones included).
    pub attempts: u32,
    pub duration: Duration,
}

impl AuthEvent {
    /// An event for `login` ending with `outcome`, nothing sent, nothing asked.
    pub fn new(outcome: &Outcome, login: &Login) -> AuthEvent {
        let (result, reason) = classify(outcome);
        AuthEvent {
            result,
            reason,
            user: login.user.clone(),
            service: login.service.clone(),
            rhost: login.rhost.clone(),
            tty: login.tty.clone(),
            seq: None,
            connector: None,
            attempts: 0,
            duration: Duration::ZERO,
        }
    }

    pub fn line(&self) -> String {
        let attempts = self.attempts.to_string();
        let duration_ms = self.duration.as_millis().to_string();
        let mut fields: Vec<(&str, &str)> = vec![
            ("event", "auth"),
            ("result", self.result.as_str()),
            ("reason", self.reason.as_str()),
            ("user", &self.user),
            ("service", &self.service),
        ];
        for (key, value) in [("rhost", &self.rhost), ("tty", &self.tty), ("seq", &self.seq), ("connector", &self.connector)] {
            if let Some(v) = value {
                fields.push((key, v));
            }
        }
        fields.push(("attempts", &attempts));
        fields.push(("duration_ms", &duration_ms));
        encode(&fields)
    }
}

/// The actions of `smsotp` that change state, as `event=admin action=...`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminAction {
    Unlock,
    BackupCodesGenerate,
    BackupCodesRevoke,
    PhoneSet,
    PhoneRemove,
    PhoneAccept,
    EnrolIssue,
    EnrolRevoke,
    StateMigrate,
}

impl AdminAction {
    pub const ALL: &'static [AdminAction] = &[
        AdminAction::Unlock,
        AdminAction::BackupCodesGenerate,
        AdminAction::BackupCodesRevoke,
        AdminAction::PhoneSet,
        AdminAction::PhoneRemove,
        AdminAction::PhoneAccept,
        AdminAction::EnrolIssue,
        AdminAction::EnrolRevoke,
        AdminAction::StateMigrate,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AdminAction::Unlock => "unlock",
            AdminAction::BackupCodesGenerate => "backup_codes_generate",
            AdminAction::BackupCodesRevoke => "backup_codes_revoke",
            AdminAction::PhoneSet => "phone_set",
            AdminAction::PhoneRemove => "phone_remove",
            AdminAction::PhoneAccept => "phone_accept",
            AdminAction::EnrolIssue => "enrol_issue",
            AdminAction::EnrolRevoke => "enrol_revoke",
            AdminAction::StateMigrate => "state_migrate",
        }
    }
}

/// `event=admin action=... user=... result=ok|failed [by=...] [extra...]`.
/// `extra` is for counts and masked numbers only (`count=10`, `phone=+*****67`):
/// never a code, a secret or a full number.
pub fn admin_line(action: AdminAction, user: &str, ok: bool, by: Option<&str>, extra: &[(&str, &str)]) -> String {
    let mut fields: Vec<(&str, &str)> =
        vec![("event", "admin"), ("action", action.as_str()), ("user", user), ("result", if ok { "ok" } else { "failed" })];
    if let Some(by) = by {
        fields.push(("by", by));
    }
    fields.extend_from_slice(extra);
    encode(&fields)
}

/// `key=value` pairs joined by single spaces, in the order given.
pub fn encode(fields: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (i, (key, value)) in fields.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(key);
        out.push('=');
        push_value(&mut out, value);
    }
    out
}

/// A value as is when it is a plain word, else in double quotes with `"` and
/// `\` escaped by a backslash; control characters are dropped either way.
fn push_value(out: &mut String, value: &str) {
    let clean: String = value.chars().filter(|c| !c.is_control()).collect();
    let plain = !clean.is_empty() && !clean.chars().any(|c| c.is_whitespace() || matches!(c, '"' | '\\' | '='));
    if plain {
        out.push_str(&clean);
        return;
    }
    out.push('"');
    for c in clean.chars() {
        if matches!(c, '"' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

/// Log one admin action through syslog(3) (ident `smsotp`, LOG_AUTHPRIV), and
/// return the line. For the state-changing commands of `smsotp`; `by` is the
/// account that ran the command.
pub fn log_admin(action: AdminAction, user: &str, ok: bool, extra: &[(&str, &str)]) -> String {
    let by = nix::unistd::User::from_uid(nix::unistd::getuid()).ok().flatten().map(|u| u.name);
    let line = admin_line(action, user, ok, by.as_deref(), extra);
    crate::sys::syslog::authpriv(&line, !ok);
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_quoted_only_when_needed_and_lose_control_characters() {
        let line = encode(&[("a", "plain"), ("b", "two words"), ("c", "x=y"), ("d", "q\"uo\\te"), ("e", ""), ("f", "li\nne\u{1b}[2J")]);
        assert_eq!(line, r#"a=plain b="two words" c="x=y" d="q\"uo\\te" e="" f=line[2J"#);
        // a hostile user name cannot add a key of its own
        let line = encode(&[("user", "x rhost=203.0.113.9"), ("rhost", "192.0.2.7")]);
        assert_eq!(line, r#"user="x rhost=203.0.113.9" rhost=192.0.2.7"#);
        // Unicode white space counts as white space
        assert_eq!(encode(&[("u", "a\u{a0}b")]), "u=\"a\u{a0}b\"");
    }

    #[test]
    fn an_auth_line_has_its_keys_in_a_fixed_order() {
        let login = Login { user: "alice".into(), service: "sshd".into(), rhost: Some("192.0.2.7".into()), ..Login::default() };
        let mut e = AuthEvent::new(&Outcome::MaxTries, &login);
        e.seq = Some("WA".into());
        e.connector = Some("twilio".into());
        e.attempts = 3;
        e.duration = Duration::from_millis(8412);
        assert_eq!(
            e.line(),
            "event=auth result=maxtries reason=wrong_code user=alice service=sshd rhost=192.0.2.7 seq=WA connector=twilio attempts=3 duration_ms=8412"
        );
        let e = AuthEvent::new(&Outcome::Skipped(SkipReason::Grace), &Login { tty: Some("/dev/pts/1".into()), ..login });
        assert_eq!(
            e.line(),
            "event=auth result=skipped reason=grace user=alice service=sshd rhost=192.0.2.7 tty=/dev/pts/1 attempts=0 duration_ms=0"
        );
    }

    #[test]
    fn the_vocabulary_is_unique_snake_case() {
        let words: Vec<&str> = Reason::ALL.iter().map(|r| r.as_str()).collect();
        let results: Vec<&str> = AuthResult::ALL.iter().map(|r| r.as_str()).collect();
        let actions: Vec<&str> = AdminAction::ALL.iter().map(|r| r.as_str()).collect();
        for list in [&words, &results, &actions] {
            let mut sorted = list.to_vec();
            sorted.sort_unstable();
            sorted.dedup();
            assert_eq!(sorted.len(), list.len(), "{list:?}");
            assert!(list.iter().all(|w| w.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')), "{list:?}");
        }
    }

    #[test]
    fn admin_lines() {
        assert_eq!(
            admin_line(AdminAction::BackupCodesGenerate, "bob smith", true, Some("root"), &[("count", "10")]),
            "event=admin action=backup_codes_generate user=\"bob smith\" result=ok by=root count=10"
        );
        assert_eq!(admin_line(AdminAction::Unlock, "alice", false, None, &[]), "event=admin action=unlock user=alice result=failed");
    }
}
