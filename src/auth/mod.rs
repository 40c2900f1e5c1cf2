//! The login flow: plain Rust over small traits, with no libpam, network or clock
//! of its own. src/pam turns the `Outcome` into a PAM return code.

use std::convert::Infallible;
use std::time::Duration;

use zeroize::Zeroizing;

use crate::audit::{AuthEvent, AuthResult, Reason};
use crate::config::messages::{MessagesConfig, defaults};
use crate::config::{Config, DirectoryFailurePolicy, Secret, SendFailurePolicy, StoreFailurePolicy, UnenrolledPolicy};
use crate::log::Log;
use crate::message::{self, MessageValues, PromptValues};
use crate::otp::Code;
use crate::phone::Phone;

mod enrol;
mod outcome;
mod ports;

pub use enrol::{NoNotifier, NoNumbers, NumberDeps};
pub use outcome::{DenyReason, Outcome, SkipReason, UnavailableReason};
pub use ports::{
    Accounts, BackupUse, Clock, ConversationError, DeliveryLog, Directory, DirectoryError, Login, PhoneRecord, Prompter, Receipt,
    SendAllowance, SendFailed, Sender, Sms, Store, StoreError,
};
pub use ports::{ChangeNotifier, EnrolCode, NumberVia, Numbers, StoredNumber, UserNumbers};

// The default texts; `[messages]` may replace each (src/config/messages.rs).
pub const MSG_WRONG: &str = defaults::WRONG;
pub const MSG_TOO_MANY: &str = defaults::TOO_MANY;
pub const MSG_EXPIRED: &str = defaults::EXPIRED;
pub const MSG_LOCKED: &str = defaults::LOCKED;
pub const MSG_SEND_FAILED: &str = defaults::SEND_FAILED;
pub const MSG_NO_RESEND: &str = defaults::NO_RESEND;
pub const MSG_NEW_CODE: &str = defaults::NEW_CODE;
pub const MSG_BACKUP_ONLY_PROMPT: &str = defaults::BACKUP_ONLY_PROMPT;
pub const MSG_NO_SMS_NOW: &str = defaults::NO_SMS_NOW;
pub const MSG_NO_BACKUP_NOW: &str = defaults::NO_BACKUP_NOW;

pub struct Deps<'a> {
    pub prompter: &'a mut dyn Prompter,
    pub directories: &'a [Box<dyn Directory + 'a>],
    pub sender: &'a dyn Sender,
    pub store: &'a mut dyn Store,
    pub clock: &'a dyn Clock,
    pub accounts: &'a dyn Accounts,
    pub log: &'a dyn Log,
}

/// Run one login to its end, without a numbers store (no pinning, no enrolment).
pub fn authenticate(config: &Config, login: &Login, deps: Deps<'_>) -> Outcome {
    let numbers = NumberDeps { numbers: &mut NoNumbers, notifier: &NoNotifier };
    authenticate_with_numbers(config, login, deps, numbers)
}

/// Run one login to its end, with the numbers store: pinning (`[phone]
/// on_change`) and the enrolment dialogue (`unenrolled = "enrol"`).
pub fn authenticate_with_numbers(config: &Config, login: &Login, deps: Deps<'_>, numbers: NumberDeps<'_>) -> Outcome {
    let started = deps.clock.monotonic();
    // One identity per account: every spelling the name service accepts for a
    // user shares that user's lookups, locks, limits, grace and backup codes.
    let login = match deps.accounts.canonical_name(&login.user) {
        Ok(Some(name)) if name != login.user => {
            deps.log.info(&format!("user {}: known to the name service as {name}", login.user));
            Login { user: name, ..login.clone() }
        }
        Ok(_) => login.clone(),
        Err(e) => {
            deps.log.error(&format!("user {}: the name service cannot say who this is ({e})", login.user));
            let outcome = Outcome::Unavailable(UnavailableReason::Accounts);
            let mut event = AuthEvent::new(&outcome, login);
            event.duration = deps.clock.monotonic().saturating_sub(started);
            log_event(deps.log, &event);
            return outcome;
        }
    };
    let deadline = started.saturating_add(Duration::from_secs(config.limits.login_budget));
    let mut flow = Flow {
        config,
        login: &login,
        deps,
        deadline,
        degraded: false,
        numbers,
        pin: enrol::Pin::Unknown,
        enrolling: None,
        trail: Trail::default(),
    };
    let outcome = flow.run();
    flow.log_outcome(&outcome);
    let mut event = AuthEvent::new(&outcome, &login);
    if let Some(reason) = flow.trail.reason {
        event.reason = reason;
    }
    event.seq = flow.trail.seq.take();
    event.connector = flow.trail.connector.take();
    event.attempts = flow.trail.attempts;
    event.duration = flow.deps.clock.monotonic().saturating_sub(started);
    log_event(flow.deps.log, &event);
    outcome
}

/// The audit line that ends every login (see src/audit.rs), at a level that
/// says how it went; src/pam writes the same line for logins that end before
/// the flow starts.
pub fn log_event(log: &dyn Log, event: &AuthEvent) {
    let line = event.line();
    match event.result {
        AuthResult::Success | AuthResult::BackupCode | AuthResult::Skipped => log.notice(&line),
        AuthResult::Denied | AuthResult::MaxTries | AuthResult::ConvError => log.warn(&line),
        AuthResult::Unavailable | AuthResult::Error => log.error(&line),
    }
}

/// What the audit event needs to know beyond the outcome.
#[derive(Default)]
struct Trail {
    /// A finer reason than the outcome's default (see `audit::classify`).
    reason: Option<Reason>,
    seq: Option<String>,
    connector: Option<String>,
    attempts: u32,
}

enum Mode {
    /// An SMS code is outstanding.
    Sms(Code),
    /// No SMS could be sent: only a backup code is accepted.
    BackupOnly,
}

struct Flow<'a, 'd, 'n> {
    config: &'a Config,
    login: &'a Login,
    deps: Deps<'d>,
    deadline: Duration,
    /// The store failed and `on_failure = "degrade"` let the login go on.
    degraded: bool,
    numbers: NumberDeps<'n>,
    /// The user's pinned number, as read before the first code.
    pin: enrol::Pin,
    /// The hash of the enrolment code this login redeems once its SMS code is right.
    enrolling: Option<String>,
    trail: Trail,
}

/// One step of the flow. Every way a login ends, success included, leaves
/// through the error side (`finish`): the flow has one exit channel.
type Step<T> = Result<T, Outcome>;

fn finish<T>(outcome: Outcome) -> Step<T> {
    Err(outcome)
}

impl Flow<'_, '_, '_> {
    fn run(&mut self) -> Outcome {
        match self.try_run() {
            Err(outcome) => outcome,
            Ok(never) => match never {},
        }
    }

    fn try_run(&mut self) -> Step<Infallible> {
        if let Some(reason) = self.skip_reason() {
            return finish(Outcome::Skipped(reason));
        }
        let user = &self.login.user;
        let now = self.deps.clock.now();
        if let Some(until) = self.store_or(None, |s| s.locked_until(user, now))? {
            let secs = until.saturating_sub(now).as_secs();
            self.deps.log.notice(&format!("user {user}: locked out for another {secs}s"));
            self.say_error(&self.text(MessagesConfig::locked, &[]))?;
            return finish(Outcome::Denied(DenyReason::LockedOut));
        }
        if self.config.policy.grace > 0
            && let Some(key) = self.login.grace_key()
            && self.store_or(false, |s| s.grace_active(user, &key, now))?
        {
            return finish(Outcome::Skipped(SkipReason::Grace));
        }
        let record = match self.find_phone()? {
            Some(r) => r,
            None => {
                return finish(match self.config.policy.unenrolled {
                    UnenrolledPolicy::Deny => Outcome::Denied(DenyReason::Unenrolled),
                    UnenrolledPolicy::Ignore => Outcome::Skipped(SkipReason::Unenrolled),
                    UnenrolledPolicy::Enrol => return self.enrol(),
                });
            }
        };
        self.deps.log.debug(&format!("user {user}: number {} from {}", record.phone.masked(), record.source));
        if !record.phone.has_prefix_in(&self.config.phone.allowed_prefixes) {
            self.deps.log.warn(&format!(
                "user {user}: the number {} from {} is outside [phone] allowed_prefixes; no SMS sent",
                record.phone.masked(),
                record.source
            ));
            return finish(Outcome::Denied(DenyReason::PrefixNotAllowed));
        }
        self.check_pin(&record)?;
        let mode = self.first_code(&record.phone)?;
        self.challenge(&record.phone, mode)
    }

    fn skip_reason(&self) -> Option<SkipReason> {
        let policy = &self.config.policy;
        let user = &self.login.user;
        if !policy.only_groups.is_empty() {
            match self.deps.accounts.in_any_group(user, &policy.only_groups) {
                Ok(false) => return Some(SkipReason::NotInOnlyGroups),
                Ok(true) => {}
                // Not knowing the groups must never waive the code.
                Err(e) => self.deps.log.warn(&format!("user {user}: group lookup failed ({e}); asking for a code")),
            }
        }
        if !policy.skip_groups.is_empty() {
            match self.deps.accounts.in_any_group(user, &policy.skip_groups) {
                Ok(true) => return Some(SkipReason::SkipGroup),
                Ok(false) => {}
                Err(e) => self.deps.log.warn(&format!("user {user}: group lookup failed ({e}); asking for a code")),
            }
        }
        if !policy.trusted_networks.is_empty()
            && let Some(ip) = self.login.rhost.as_deref().and_then(|h| h.parse::<std::net::IpAddr>().ok())
            && policy.trusted_networks.iter().any(|net| net.contains(&ip))
        {
            return Some(SkipReason::TrustedNetwork);
        }
        None
    }

    fn remaining(&self) -> Duration {
        self.deadline.saturating_sub(self.deps.clock.monotonic())
    }

    fn find_phone(&mut self) -> Step<Option<PhoneRecord>> {
        let user = &self.login.user;
        let mut failed = false;
        for dir in self.deps.directories {
            match dir.lookup(user, self.remaining(), self.deps.log) {
                Ok(Some(record)) => return Ok(Some(record)),
                Ok(None) => continue,
                Err(e @ DirectoryError::Refused { .. }) => {
                    self.deps.log.error(&format!("user {user}: {e}"));
                    return Err(Outcome::Denied(DenyReason::BadNumber));
                }
                Err(e) => {
                    self.deps.log.error(&format!("user {user}: {e}"));
                    match self.config.policy.on_directory_failure {
                        DirectoryFailurePolicy::Unavailable => {
                            return Err(Outcome::Unavailable(UnavailableReason::Directory));
                        }
                        DirectoryFailurePolicy::Deny => return Err(Outcome::Denied(DenyReason::DirectoryFailed)),
                        DirectoryFailurePolicy::Next => failed = true,
                    }
                }
            }
        }
        if failed {
            // A source that failed may have held the number: never treat it as "no phone".
            return Err(Outcome::Unavailable(UnavailableReason::Directory));
        }
        self.deps.log.notice(&format!("user {user}: no mobile number in any directory"));
        Ok(None)
    }

    /// Send the first code, or fall back as the policy and the limits say.
    fn first_code(&mut self, phone: &Phone) -> Step<Mode> {
        match self.send_code(phone)? {
            Ok(code) => Ok(Mode::Sms(code)),
            Err(why) => self.without_sms(why, None),
        }
    }

    /// The one decision for when no SMS could go out. With a code in hand (the
    /// user asked for another), the user is told why and keeps it. Without one
    /// (the first code, or after expiry): over a limit, only backup codes (if
    /// there are any); when every connector failed, `on_send_failure` decides.
    fn without_sms(&mut self, why: NotSent, in_hand: Option<Mode>) -> Step<Mode> {
        if let Some(mode) = in_hand {
            let text = match why {
                NotSent::Limited(text) => text,
                NotSent::Failed => self.text(MessagesConfig::no_resend, &[]),
            };
            self.say_error(&text)?;
            return Ok(mode);
        }
        match why {
            NotSent::Limited(text) => {
                self.say_error(&text)?;
                // a backup code proves nothing about the number being enrolled
                if self.config.backup_codes.enabled && self.enrolling.is_none() {
                    Ok(Mode::BackupOnly)
                } else {
                    self.trail.reason = Some(Reason::SendLimited);
                    finish(Outcome::Denied(DenyReason::SendFailed))
                }
            }
            NotSent::Failed => match self.config.policy.on_send_failure {
                SendFailurePolicy::BackupOnly if self.enrolling.is_none() => Ok(Mode::BackupOnly),
                SendFailurePolicy::BackupOnly => {
                    self.say_error(MSG_SEND_FAILED)?;
                    finish(Outcome::Denied(DenyReason::SendFailed))
                }
                SendFailurePolicy::Unavailable => {
                    self.say_error(&self.text(MessagesConfig::send_failed, &[]))?;
                    finish(Outcome::Unavailable(UnavailableReason::Send))
                }
                SendFailurePolicy::Deny => {
                    self.say_error(&self.text(MessagesConfig::send_failed, &[]))?;
                    finish(Outcome::Denied(DenyReason::SendFailed))
                }
            },
        }
    }

    /// Generate, record and deliver one code. The outer error ends the login.
    fn send_code(&mut self, phone: &Phone) -> Step<Result<Code, NotSent>> {
        let user = &self.login.user;
        let now = self.deps.clock.now();
        let reserved = match self.deps.store.reserve_send(user, now) {
            Ok(allowance) => allowance,
            // degrade: the limits still hold as far as the store can be read
            Err(e) => {
                let fallback = self.deps.store.peek_send(user, now).unwrap_or(SendAllowance::Allowed);
                self.store_failed(e, fallback)?
            }
        };
        match reserved {
            SendAllowance::Allowed => {}
            SendAllowance::Cooldown(secs) => {
                self.deps.log.notice(&format!("user {user}: no SMS sent, cooldown has {secs}s left"));
                return Ok(Err(NotSent::Limited(self.text(MessagesConfig::cooldown, &[("seconds", &secs.to_string())]))));
            }
            SendAllowance::HourlyCap => {
                self.deps.log.warn(&format!("user {user}: no SMS sent, hourly send limit reached"));
                return Ok(Err(NotSent::Limited(self.text(MessagesConfig::hourly_cap, &[]))));
            }
            SendAllowance::Locked => return finish(self.locked_meanwhile()),
            SendAllowance::TotalCap => {
                self.deps.log.warn(&format!(
                    "user {user}: no SMS sent: the store's total of {} SMS per hour is reached; only backup codes are accepted",
                    self.config.limits.max_sends_per_hour_total
                ));
                return Ok(Err(NotSent::Limited(self.text(MessagesConfig::no_sms_now, &[]))));
            }
        }
        let otp = &self.config.otp;
        let code = Code::generate(otp.length, otp.charset, self.deps.clock.monotonic(), Duration::from_secs(otp.ttl))
            .map_err(|e| Outcome::ServiceError(e.to_string()))?;
        let text = Zeroizing::new(self.render_message(&code));
        let sms = Sms {
            to: phone,
            text: &text,
            code: code.expose(),
            seq: &code.seq,
            expires: now.saturating_add(Duration::from_secs(otp.ttl)).as_secs(),
            user,
        };
        match self.deps.sender.send(&sms, self.remaining(), self.deps.log) {
            Ok(receipt) => {
                let id = receipt.message_id.map(|id| format!(", message id {id}")).unwrap_or_default();
                self.deps.log.info(&format!("user {user}: code {} sent to {} via {}{id}", code.seq, phone.masked(), receipt.connector));
                if let Err(e) = self.deps.store.record_sent(&receipt.connector, now) {
                    self.deps.log.warn(&format!("the SMS via {} could not be counted for `smsotp report`: {e}", receipt.connector));
                }
                self.trail.seq = Some(code.seq.clone());
                self.trail.connector = Some(receipt.connector);
                Ok(Ok(code))
            }
            Err(SendFailed) => {
                self.deps.log.error(&format!("user {user}: every connector failed; no code was sent"));
                Ok(Err(NotSent::Failed))
            }
        }
    }

    fn render_message(&self, code: &Code) -> String {
        let values = MessageValues {
            code: code.expose(),
            user: &self.login.user,
            host: &self.login.host,
            service: &self.login.service,
            ttl_seconds: self.config.otp.ttl,
            seq: &code.seq,
        };
        message::render_message(&self.config.message.template, &values)
    }

    fn render_prompt(&self, phone: &Phone, code: &Code) -> String {
        let masked = phone.masked();
        let values = PromptValues { masked_phone: &masked, seq: &code.seq, service: &self.login.service, user: &self.login.user };
        message::render_prompt(self.config.messages.prompt_or(&self.config.otp.prompt), &values)
    }

    /// Ask until a code is right, the attempts run out, or nothing more can be sent.
    fn challenge(&mut self, phone: &Phone, mut mode: Mode) -> Step<Infallible> {
        let user = self.login.user.clone();
        let mut wrong = 0u32;
        // wrong answers that were guesses (not empty, not a refused backup code)
        let mut guesses = 0u32;
        let mut resends = 0u32;
        loop {
            let prompt = match &mode {
                Mode::Sms(code) => self.render_prompt(phone, code),
                Mode::BackupOnly => self.text(MessagesConfig::backup_only_prompt, &[]),
            };
            let raw = self.deps.prompter.prompt(&prompt, self.config.otp.echo).map_err(|_| Outcome::ConversationFailed)?;
            self.trail.attempts += 1;
            let answer = raw.trim();
            let now = self.deps.clock.now();

            if answer.is_empty() {
                // "send me a (new) code": the old one stops working once a new one is out
                if resends < self.config.otp.max_resends {
                    resends += 1;
                    if let Some(reason) = self.deps.sender.undelivered() {
                        self.deps.log.notice(&format!("user {user}: the last SMS was reported undelivered ({reason})"));
                        self.say_info(&self.text(MessagesConfig::undelivered, &[]))?;
                    }
                    match self.send_code(phone)? {
                        Ok(new_code) => {
                            self.say_info(&self.text(MessagesConfig::new_code, &[]))?;
                            mode = Mode::Sms(new_code);
                            continue;
                        }
                        Err(why) => mode = self.without_sms(why, Some(mode))?,
                    }
                } else {
                    self.say_error(&self.text(MessagesConfig::no_resend, &[]))?;
                }
                // an empty answer uses up an attempt but is no guess: it does not count towards lockout
                wrong += 1;
                if wrong >= self.config.otp.max_attempts {
                    if guesses == 0 {
                        self.trail.reason = Some(Reason::NoCode);
                    }
                    self.say_error(&self.text(MessagesConfig::too_many, &[]))?;
                    return finish(Outcome::MaxTries);
                }
                continue;
            }

            if let Mode::Sms(code) = &mode {
                if code.is_expired(self.deps.clock.monotonic()) {
                    self.deps.log.notice(&format!("user {user}: code {} expired", code.seq));
                    self.say_error(&self.text(MessagesConfig::expired, &[]))?;
                    if resends >= self.config.otp.max_resends {
                        return finish(Outcome::Denied(DenyReason::Expired));
                    }
                    resends += 1;
                    mode = self.resend(phone)?;
                    continue;
                }
                if code.matches(answer) {
                    let key = self.login.grace_key();
                    if !self.store_or(true, |s| s.record_success(&user, key.as_deref(), now))? {
                        return finish(self.locked_meanwhile());
                    }
                    self.verified(phone)?;
                    return finish(Outcome::Success);
                }
            }
            if self.is_password(raw.as_str()) {
                self.deps.log.warn(&format!(
                    "user {user}: the answer was the login's password (a client that answers every prompt with it?); \
                     ending the login without counting a failure or sending more SMS"
                ));
                return finish(Outcome::Denied(DenyReason::PasswordAsCode));
            }
            let backup_use =
                if !self.config.backup_codes.enabled || self.enrolling.is_some() || crate::state::backup::normalise(answer).is_none() {
                    BackupUse::NoMatch
                } else if self.degraded {
                    // its use could not be recorded: it would work again
                    BackupUse::Refused
                } else {
                    self.store_or(BackupUse::Refused, |s| s.use_backup_code(&user, answer, now))?
                };
            {
                match backup_use {
                    BackupUse::NoMatch => {}
                    BackupUse::Refused => {
                        self.deps.log.warn(&format!("user {user}: a backup code was refused: the state store is failing"));
                        wrong += 1;
                        if wrong >= self.config.otp.max_attempts {
                            if guesses == 0 {
                                self.trail.reason = Some(Reason::StoreFailed);
                            }
                            self.say_error(&self.text(MessagesConfig::too_many, &[]))?;
                            return finish(Outcome::MaxTries);
                        }
                        self.say_error(&self.text(MessagesConfig::no_backup_now, &[]))?;
                        continue;
                    }
                    BackupUse::Locked => return finish(self.locked_meanwhile()),
                    BackupUse::Used { remaining } => {
                        let key = self.login.grace_key();
                        // the code is spent: this login succeeds even if the store
                        // could not open grace or the notice cannot be shown
                        let _ = self.deps.store.record_success(&user, key.as_deref(), now);
                        if remaining <= 2 {
                            let pick = if remaining == 1 { MessagesConfig::backup_code_left } else { MessagesConfig::backup_codes_left };
                            let _ = self.say_info(&self.text(pick, &[("remaining", &remaining.to_string())]));
                        }
                        return finish(Outcome::SuccessWithBackupCode { remaining });
                    }
                }
            }
            wrong += 1;
            guesses += 1;
            if self.store_or(false, |s| s.record_failure(&user, now))? {
                self.trail.reason = Some(Reason::Lockout);
                self.deps.log.warn(&format!("user {user}: locked out after too many failed verifications"));
                self.say_error(&self.text(MessagesConfig::locked, &[]))?;
                return finish(Outcome::Denied(DenyReason::LockedOut));
            }
            if wrong >= self.config.otp.max_attempts {
                self.say_error(&self.text(MessagesConfig::too_many, &[]))?;
                return finish(Outcome::MaxTries);
            }
            self.say_error(&self.text(MessagesConfig::wrong, &[]))?;
        }
    }

    /// After expiry: a new code if the limits allow, else as `without_sms` says.
    fn resend(&mut self, phone: &Phone) -> Step<Mode> {
        match self.send_code(phone)? {
            Ok(code) => {
                self.say_info(&self.text(MessagesConfig::new_code, &[]))?;
                Ok(Mode::Sms(code))
            }
            Err(why) => self.without_sms(why, None),
        }
    }

    /// Is `answer` this login's password (as typed, or trimmed)? Constant time.
    fn is_password(&self, answer: &str) -> bool {
        let Some(password) = self.login.password.as_ref().map(Secret::expose).filter(|p| !p.is_empty()) else { return false };
        crate::otp::constant_time_eq(answer.as_bytes(), password.as_bytes())
            | crate::otp::constant_time_eq(answer.trim().as_bytes(), password.trim().as_bytes())
    }

    /// Another login locked the user while this one waited: its code counts for nothing.
    fn locked_meanwhile(&mut self) -> Outcome {
        self.deps.log.warn(&format!("user {}: locked out by another login while this one waited", self.login.user));
        if self.say_error(&self.text(MessagesConfig::locked, &[])).is_err() {
            return Outcome::ConversationFailed;
        }
        Outcome::Denied(DenyReason::LockedOut)
    }

    /// A text of `[messages]`, with {user}, {service} and `values` filled in.
    fn text(&self, pick: fn(&MessagesConfig) -> &str, values: &[(&str, &str)]) -> String {
        let common = [("user", self.login.user.as_str()), ("service", self.login.service.as_str())];
        let all: Vec<(&str, &str)> = common.iter().chain(values).copied().collect();
        crate::config::messages::render(pick(&self.config.messages), &all)
    }

    fn say_error(&mut self, text: &str) -> Step<()> {
        self.deps.prompter.error(text).map_err(|_| Outcome::ConversationFailed)
    }

    fn say_info(&mut self, text: &str) -> Step<()> {
        self.deps.prompter.info(text).map_err(|_| Outcome::ConversationFailed)
    }

    /// Run a store operation. A store that fails ends the login as `[state]
    /// on_failure` says; under "degrade" the login goes on with `fallback`.
    fn store_or<T>(&mut self, fallback: T, op: impl FnOnce(&mut dyn Store) -> Result<T, StoreError>) -> Step<T> {
        match op(self.deps.store) {
            Ok(v) => Ok(v),
            Err(e) => self.store_failed(e, fallback),
        }
    }

    fn store_failed<T>(&mut self, e: StoreError, fallback: T) -> Step<T> {
        let user = &self.login.user;
        if let StoreError::InsecureDirectory(..) = e {
            // unsafe permissions are a configuration error, whatever on_failure says
            self.deps.log.error(&format!("user {user}: {e}"));
            self.trail.reason = Some(Reason::InsecureState);
            return Err(Outcome::ServiceError(e.to_string()));
        }
        match self.config.state.on_failure {
            StoreFailurePolicy::Unavailable => {
                self.deps.log.critical(&format!("user {user}: the state store failed: {e}"));
                Err(Outcome::Unavailable(UnavailableReason::Store))
            }
            StoreFailurePolicy::Deny => {
                self.deps.log.critical(&format!("user {user}: the state store failed: {e}"));
                Err(Outcome::Denied(DenyReason::StoreFailed))
            }
            StoreFailurePolicy::Degrade => {
                if !self.degraded {
                    self.deps.log.critical(&format!(
                        "user {user}: the state store failed: {e}; on_failure = degrade: an SMS code is still required, \
                         backup codes are refused, limits hold only as far as the store can be read"
                    ));
                }
                self.degraded = true;
                Ok(fallback)
            }
        }
    }

    fn log_outcome(&self, outcome: &Outcome) {
        let user = &self.login.user;
        let from = self.login.rhost.as_deref().map(|h| format!(" from {h}")).unwrap_or_default();
        let log = self.deps.log;
        match outcome {
            Outcome::Success => log.notice(&format!("user {user}{from}: verified by SMS code")),
            Outcome::SuccessWithBackupCode { remaining } => {
                log.notice(&format!("user {user}{from}: verified by backup code, {remaining} left"))
            }
            Outcome::Skipped(reason) => log.info(&format!("user {user}{from}: not asked for a code ({reason:?})")),
            Outcome::Denied(reason) => log.warn(&format!("user {user}{from}: denied ({reason:?})")),
            Outcome::MaxTries => log.warn(&format!("user {user}{from}: denied, too many wrong codes")),
            Outcome::Unavailable(reason) => log.error(&format!("user {user}{from}: {reason:?} unavailable")),
            Outcome::ServiceError(e) => log.error(&format!("user {user}{from}: service error: {e}")),
            Outcome::ConversationFailed => log.warn(&format!("user {user}{from}: conversation ended")),
            Outcome::UnusableUser => log.error("refusing an unusable user name"),
        }
    }
}

enum NotSent {
    /// Limits forbid another SMS now; what to tell the user.
    Limited(String),
    /// Every connector failed.
    Failed,
}

#[cfg(test)]
mod tests;
