//! The ports of the login flow: everything it asks of the world, as traits, and
//! the data that crosses them. Adapters (src/pam, src/directory, src/connector,
//! src/state, src/system) implement them; tests fake them.

use std::time::Duration;

use zeroize::Zeroizing;

use crate::config::Secret;
use crate::log::Log;
use crate::phone::Phone;

/// The user interface of one login: the PAM conversation, or a fake in tests.
pub trait Prompter {
    /// Ask and wait for an answer; `echo` shows what is typed.
    fn prompt(&mut self, text: &str, echo: bool) -> Result<Zeroizing<String>, ConversationError>;
    fn error(&mut self, text: &str) -> Result<(), ConversationError>;
    fn info(&mut self, text: &str) -> Result<(), ConversationError>;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the conversation with the user failed")]
pub struct ConversationError;

/// Where a number was found.
#[derive(Debug, Clone)]
pub struct PhoneRecord {
    pub phone: Phone,
    /// e.g. "file /etc/security/pam_smsotp.phones"
    pub source: String,
    /// The LDAP entry, for `smsotp lookup`.
    pub dn: Option<String>,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum DirectoryError {
    #[error("{source_name} is unavailable: {reason}")]
    Unavailable { source_name: String, reason: String },
    #[error("{source_name} refused the entry: {reason}")]
    Refused { source_name: String, reason: String },
}

/// One phone source (file, LDIF, LDAP). `remaining` is what is left of the login's budget.
pub trait Directory {
    fn describe(&self) -> String;
    fn lookup(&self, user: &str, remaining: Duration, log: &dyn Log) -> Result<Option<PhoneRecord>, DirectoryError>;
}

pub struct Sms<'a> {
    pub to: &'a Phone,
    pub text: &'a str,
    /// The code inside `text`, so that connectors can keep it out of their logs.
    pub code: &'a str,
    /// The code's tag, shown in the SMS and the prompt.
    pub seq: &'a str,
    /// When the code stops working, in Unix seconds.
    pub expires: u64,
    /// The account the code is for.
    pub user: &'a str,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    pub connector: String,
    pub message_id: Option<String>,
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("no connector accepted the message")]
pub struct SendFailed;

/// Delivers one SMS through the configured connectors, logging each failure.
pub trait Sender {
    fn send(&self, sms: &Sms<'_>, remaining: Duration, log: &dyn Log) -> Result<Receipt, SendFailed>;
    /// The last message this sender sent in this login was reported
    /// undelivered: the report's reason. The next `send` then starts with the
    /// connector after the one that failed.
    fn undelivered(&self) -> Option<String> {
        None
    }
}

pub trait Clock {
    /// Wall time: seconds since the Unix epoch, with sub-second precision. For
    /// what is stored; it may step.
    fn now(&self) -> Duration;
    /// Time that never steps, from an arbitrary start: for the code in hand and
    /// the login's budget.
    fn monotonic(&self) -> Duration;
}

pub trait Accounts {
    /// The account's own spelling of its name (getpwnam's pw_name): Ok(None)
    /// when the name service does not know the user, Err when it cannot answer.
    fn canonical_name(&self, user: &str) -> Result<Option<String>, String>;

    /// Is `user` a member (primary or supplementary) of any of `groups`?
    fn in_any_group(&self, user: &str, groups: &[String]) -> Result<bool, String>;
}

/// Who is logging in, from where, through what.
#[derive(Debug, Clone, Default)]
pub struct Login {
    /// The account's canonical name (the name service's spelling).
    pub user: String,
    pub service: String,
    pub rhost: Option<String>,
    pub tty: Option<String>,
    /// The real uid of the process running PAM: under su and sudo, the caller.
    pub caller_uid: u32,
    /// The password a previous module of the stack took (PAM_AUTHTOK), if any.
    pub password: Option<Secret>,
    /// This machine's name, for the {host} placeholder.
    pub host: String,
}

impl Login {
    /// What grace is bound to: the service and the remote host, or, without a
    /// remote host, the service, the terminal and the calling user (so that
    /// another user on a recycled terminal is asked). None: no grace.
    pub fn grace_key(&self) -> Option<String> {
        let nonempty = |s: &Option<String>| s.clone().filter(|s| !s.is_empty());
        match (nonempty(&self.rhost), nonempty(&self.tty)) {
            (Some(rhost), _) => Some(format!("service={:?} rhost={rhost:?}", self.service)),
            (None, Some(tty)) => Some(format!("service={:?} tty={tty:?} uid={}", self.service, self.caller_uid)),
            (None, None) => None,
        }
    }
}

// ---------------------------------------------------------------------------
// The state store

#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("state directory {0} is insecure: {1}")]
    InsecureDirectory(String, String),
    #[error("state for the user is unreadable: {0}")]
    Corrupt(String),
    #[error("state I/O failed: {0}")]
    Io(String),
    #[error("{path} is in state format version {version}, newer than this module understands; refusing to use or change it")]
    NewerFormat { path: String, version: u64 },
}

/// Whether another SMS may go to the user now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendAllowance {
    Allowed,
    /// Too soon after the previous code; seconds to wait.
    Cooldown(u64),
    /// `max_sends_per_hour` reached.
    HourlyCap,
    /// The user is locked out (perhaps by another login meanwhile).
    Locked,
    /// `max_sends_per_hour_total` reached: no SMS to anyone of the store.
    TotalCap,
}

/// What a typed answer did as a backup code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackupUse {
    /// Not a backup code of the user's (or not one at all).
    NoMatch,
    /// A code matched, but the user is locked out: it was not consumed.
    Locked,
    /// Consumed; this many are left.
    Used { remaining: usize },
    /// The store could not tell (it is failing): not accepted, not a wrong answer.
    Refused,
}

pub trait Store {
    /// `Some(until)` while the user is locked out.
    fn locked_until(&mut self, user: &str, now: Duration) -> Result<Option<Duration>, StoreError>;
    /// A recent success with the same grace key (see `auth::Login::grace_key`).
    fn grace_active(&mut self, user: &str, key: &str, now: Duration) -> Result<bool, StoreError>;
    /// Check the lock and the send limits and, when a code may go out, record it
    /// in the same step.
    fn reserve_send(&mut self, user: &str, now: Duration) -> Result<SendAllowance, StoreError>;
    /// Count a wrong answer; true when the user is locked now (by this failure,
    /// or by another login meanwhile).
    fn record_failure(&mut self, user: &str, now: Duration) -> Result<bool, StoreError>;
    /// Clear the failures and open grace for `key`; false (and nothing changed)
    /// when the user is locked out.
    fn record_success(&mut self, user: &str, key: Option<&str>, now: Duration) -> Result<bool, StoreError>;
    /// What `reserve_send` would answer, without recording anything (for a
    /// store that can be read but not written).
    fn peek_send(&mut self, user: &str, now: Duration) -> Result<SendAllowance, StoreError>;
    /// Consume a matching backup code unless the user is locked out.
    fn use_backup_code(&mut self, user: &str, answer: &str, now: Duration) -> Result<BackupUse, StoreError>;
    /// Count one SMS `connector` took, for `smsotp report`. Best effort: the
    /// flow logs a failure and goes on; a store that keeps no counts does nothing.
    fn record_sent(&mut self, _connector: &str, _now: Duration) -> Result<(), StoreError> {
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Delivery reports (issue 14): kept apart from `Store`

/// What the delivery reports say, as far as the login needs it. Reports are
/// advice for routing only: they never grant access, unlock or change a number.
pub trait DeliveryLog {
    /// The latest report on message `id` (a report token's message id): its
    /// state and one-word reason, if a report came.
    fn report(&self, id: &str) -> Option<(crate::dlr::record::DeliveryState, String)>;
    /// Whether connector `name` is demoted (tried last) at `now`, Unix seconds.
    fn demoted(&self, name: &str, now: u64) -> bool;
}

// Numbers: enrolled, pinned (last verified), and enrolment codes

/// How a stored number got there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NumberVia {
    /// `smsotp phone set` (with or without --verify).
    Admin,
    /// Redeemed with an enrolment code at login.
    Enrolment,
    /// A successful login with a code sent to it.
    Login,
    /// `smsotp phone accept`.
    Accept,
}

/// A number kept in the state store, with where it came from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StoredNumber {
    /// E.164, as `Phone::e164`.
    pub phone: String,
    /// Unix seconds.
    pub at: u64,
    pub via: NumberVia,
    /// Whether a code sent to it was typed back.
    pub verified: bool,
    /// Who set it: an admin's name, or the service of the login.
    pub by: String,
}

impl StoredNumber {
    /// The number, checked again (the store is bytes from outside).
    pub fn phone(&self) -> Option<Phone> {
        Phone::normalise(&self.phone, "").ok().filter(|p| p.e164() == self.phone)
    }
}

/// A pending enrolment code: its argon2id hash and when it stops working.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EnrolCode {
    pub hash: String,
    /// Unix seconds.
    pub expires: u64,
    pub issued_at: u64,
    pub by: String,
}

/// Everything the store holds about one user's numbers.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct UserNumbers {
    pub enrolled: Option<StoredNumber>,
    pub pinned: Option<StoredNumber>,
    pub enrol_code: Option<EnrolCode>,
}

/// The store's half of a number's life (file or Redis), beside `Store`.
pub trait Numbers {
    fn numbers(&mut self, user: &str) -> Result<UserNumbers, StoreError>;
    fn set_enrolled(&mut self, user: &str, number: Option<&StoredNumber>) -> Result<(), StoreError>;
    fn set_pinned(&mut self, user: &str, number: Option<&StoredNumber>) -> Result<(), StoreError>;
    fn set_enrol_code(&mut self, user: &str, code: Option<&EnrolCode>) -> Result<(), StoreError>;
    /// In one step: when the user's enrolment code is still the one hashed as
    /// `hash`, drop it and store `number` as enrolled and pinned. False (and
    /// nothing changed) when it is gone (used by another login, revoked, replaced).
    fn redeem_enrol_code(&mut self, user: &str, hash: &str, number: &StoredNumber) -> Result<bool, StoreError>;
}

/// Tells someone that a user's number changed (`[phone] notify_command`).
pub trait ChangeNotifier {
    /// `old` and `new` are masked numbers.
    fn number_changed(&self, user: &str, old: &str, new: &str, remaining: Duration, log: &dyn Log);
}
