//! The number's life inside a login: the pin check before the first code
//! (`[phone] on_change`), pinning after a right code, and the enrolment
//! dialogue for a user without a number (`[policy] unenrolled = "enrol"`):
//! enrolment code, then number, then the SMS code sent to it.

use std::convert::Infallible;
use std::time::Duration;

use super::{DenyReason, Flow, Outcome, Step, finish};
use crate::audit::Reason;
use crate::auth::ports::{ChangeNotifier, EnrolCode, NumberVia, Numbers, PhoneRecord, StoreError, StoredNumber, UserNumbers};
use crate::config::OnNumberChange;
use crate::config::messages::MessagesConfig;
use crate::log::Log;
use crate::phone::Phone;
use crate::state::enrol_code;

/// What the flow needs for numbers, beside `Deps`.
pub struct NumberDeps<'a> {
    pub numbers: &'a mut dyn Numbers,
    pub notifier: &'a dyn ChangeNotifier,
}

/// No numbers store: no pins, no enrolment codes, nothing kept.
pub struct NoNumbers;

impl Numbers for NoNumbers {
    fn numbers(&mut self, _: &str) -> Result<UserNumbers, StoreError> {
        Ok(UserNumbers::default())
    }
    fn set_enrolled(&mut self, _: &str, _: Option<&StoredNumber>) -> Result<(), StoreError> {
        Ok(())
    }
    fn set_pinned(&mut self, _: &str, _: Option<&StoredNumber>) -> Result<(), StoreError> {
        Ok(())
    }
    fn set_enrol_code(&mut self, _: &str, _: Option<&EnrolCode>) -> Result<(), StoreError> {
        Ok(())
    }
    fn redeem_enrol_code(&mut self, _: &str, _: &str, _: &StoredNumber) -> Result<bool, StoreError> {
        Ok(false)
    }
}

pub struct NoNotifier;

impl ChangeNotifier for NoNotifier {
    fn number_changed(&self, _: &str, _: &str, _: &str, _: Duration, _: &dyn Log) {}
}

/// The pin as the login found it.
pub(super) enum Pin {
    /// Not read (or the store failed under `on_failure = "degrade"`): nothing is written.
    Unknown,
    Known(Option<StoredNumber>),
}

/// The longest answer looked at as a number; no real number is near it.
const MAX_NUMBER_ANSWER: usize = 40;
/// Numbers asked for before the login ends.
const NUMBER_TRIES: u32 = 3;

impl Flow<'_, '_, '_> {
    /// Compare the directories' number with the pinned one; `on_change` decides.
    pub(super) fn check_pin(&mut self, record: &PhoneRecord) -> Step<()> {
        let user = self.login.user.clone();
        if self.degraded {
            // the store is failing already: do not wait for it again
            if self.config.phone.on_change == OnNumberChange::Deny {
                return finish(Outcome::Denied(DenyReason::StoreFailed));
            }
            return Ok(());
        }
        let pinned = match self.numbers.numbers.numbers(&user) {
            Ok(n) => n.pinned,
            Err(e) => {
                self.store_failed(e, ())?;
                if self.config.phone.on_change == OnNumberChange::Deny {
                    // the pin cannot be checked: a changed number must not pass unseen
                    return finish(Outcome::Denied(DenyReason::StoreFailed));
                }
                return Ok(());
            }
        };
        let changed = pinned.as_ref().is_some_and(|pin| pin.phone != record.phone.e164());
        self.pin = Pin::Known(pinned.clone());
        let (Some(pin), true) = (pinned, changed) else { return Ok(()) };
        let old = pin.phone().map(|p| p.masked()).unwrap_or_else(|| "(unreadable)".into());
        let new = record.phone.masked();
        let what = format!("user {user}: the number from {} ({new}) is not the last verified one ({old})", record.source);
        match self.config.phone.on_change {
            OnNumberChange::Allow => {
                self.deps.log.info(&format!("{what}; on_change = allow: using it"));
                Ok(())
            }
            OnNumberChange::Notify => {
                self.deps.log.warn(&format!("{what}; on_change = notify: using it"));
                self.numbers.notifier.number_changed(&user, &old, &new, self.remaining(), self.deps.log);
                Ok(())
            }
            OnNumberChange::Deny => {
                self.deps.log.warn(&format!("{what}; on_change = deny: refused until `smsotp phone accept {user}`"));
                finish(Outcome::Denied(DenyReason::NumberChanged))
            }
        }
    }

    /// A code sent to `phone` was typed back: pin the number, or store the
    /// enrolled one and use up the enrolment code.
    pub(super) fn verified(&mut self, phone: &Phone) -> Step<()> {
        let user = self.login.user.clone();
        let number = StoredNumber {
            phone: phone.e164().into(),
            at: self.deps.clock.now().as_secs(),
            via: if self.enrolling.is_some() { NumberVia::Enrolment } else { NumberVia::Login },
            verified: true,
            by: self.login.service.clone(),
        };
        if let Some(hash) = self.enrolling.take() {
            return match self.numbers.numbers.redeem_enrol_code(&user, &hash, &number) {
                Ok(true) => {
                    let from = self.login.rhost.as_deref().map(|h| format!(" from {h}")).unwrap_or_default();
                    self.deps.log.notice(&format!("user {user}{from}: number {} enrolled with an enrolment code", phone.masked()));
                    self.trail.reason = Some(Reason::Enrolled);
                    let text = self.text(MessagesConfig::enrolled, &[]);
                    // the number is stored: a notice that cannot be shown changes nothing
                    let _ = self.say_info(&text);
                    Ok(())
                }
                Ok(false) => {
                    self.deps.log.warn(&format!("user {user}: the enrolment code was used, revoked or replaced meanwhile"));
                    finish(Outcome::Denied(DenyReason::Unenrolled))
                }
                Err(e) => {
                    self.store_failed(e, ())?;
                    finish(Outcome::Denied(DenyReason::StoreFailed))
                }
            };
        }
        let Pin::Known(pinned) = &self.pin else { return Ok(()) };
        if pinned.as_ref().is_some_and(|p| p.phone == number.phone) {
            return Ok(());
        }
        if let Err(e) = self.numbers.numbers.set_pinned(&user, Some(&number)) {
            // the code was right: the login stands, the pin stays as it was
            self.deps.log.error(&format!("user {user}: the verified number could not be pinned: {e}"));
        } else {
            self.deps.log.info(&format!("user {user}: number {} pinned as verified", phone.masked()));
        }
        Ok(())
    }

    /// No directory has a number: enrolment code, number, SMS code.
    pub(super) fn enrol(&mut self) -> Step<Infallible> {
        let user = self.login.user.clone();
        if self.degraded {
            self.deps.log.error(&format!("user {user}: no enrolment while the state store is failing"));
            return finish(Outcome::Denied(DenyReason::StoreFailed));
        }
        let now = self.deps.clock.now().as_secs();
        let pending = match self.numbers.numbers.numbers(&user) {
            Ok(n) => n.enrol_code.filter(|c| c.expires > now),
            Err(e) => {
                self.store_failed(e, ())?;
                return finish(Outcome::Denied(DenyReason::StoreFailed));
            }
        };
        let hash = self.ask_enrol_code(&user, pending)?;
        let phone = self.ask_number(&user)?;
        self.enrolling = Some(hash);
        let mode = self.first_code(&phone)?;
        self.challenge(&phone, mode)
    }

    /// The enrolment code, until it is right; the hash of the code it matched.
    fn ask_enrol_code(&mut self, user: &str, pending: Option<EnrolCode>) -> Step<String> {
        let mut wrong = 0u32;
        loop {
            let prompt = self.text(MessagesConfig::enrol_code_prompt, &[]);
            let raw = self.deps.prompter.prompt(&prompt, false).map_err(|_| Outcome::ConversationFailed)?;
            let answer = raw.trim();
            if answer.is_empty() {
                self.deps.log.notice(&format!("user {user}: no number, and no enrolment code given"));
                return finish(Outcome::Denied(DenyReason::Unenrolled));
            }
            if self.is_password(raw.as_str()) {
                self.deps.log.warn(&format!("user {user}: the answer to the enrolment code prompt was the login's password"));
                return finish(Outcome::Denied(DenyReason::PasswordAsCode));
            }
            let why = match &pending {
                _ if enrol_code::normalise(answer).is_none() => "not an enrolment code",
                None => "none is pending (never issued, expired, revoked or used)",
                Some(code) if enrol_code::matches(answer, &code.hash) => {
                    // what went wrong before no longer names the login's end
                    self.trail.reason = None;
                    return Ok(code.hash.clone());
                }
                Some(_) => "it does not match",
            };
            self.deps.log.notice(&format!("user {user}: wrong enrolment code: {why}"));
            wrong += 1;
            self.trail.reason = Some(Reason::EnrolCodeWrong);
            let now = self.deps.clock.now();
            if self.store_or(false, |s| s.record_failure(user, now))? {
                self.trail.reason = Some(Reason::Lockout);
                self.deps.log.warn(&format!("user {user}: locked out after too many failed verifications"));
                self.say_error(&self.text(MessagesConfig::locked, &[]))?;
                return finish(Outcome::Denied(DenyReason::LockedOut));
            }
            let text = self.text(MessagesConfig::enrol_code_wrong, &[]);
            self.say_error(&text)?;
            if wrong >= self.config.otp.max_attempts {
                return finish(Outcome::MaxTries);
            }
        }
    }

    /// The number to enrol, normalised and inside `allowed_prefixes`.
    fn ask_number(&mut self, user: &str) -> Step<Phone> {
        let mut last = DenyReason::BadNumber;
        for _ in 0..NUMBER_TRIES {
            let prompt = self.text(MessagesConfig::enrol_phone_prompt, &[]);
            let raw = self.deps.prompter.prompt(&prompt, true).map_err(|_| Outcome::ConversationFailed)?;
            let typed = raw.trim();
            if typed.is_empty() {
                self.deps.log.notice(&format!("user {user}: enrolment ended without a number"));
                return finish(Outcome::Denied(DenyReason::Unenrolled));
            }
            let parsed = if typed.len() > MAX_NUMBER_ANSWER || typed.chars().any(char::is_control) {
                Err("too long or with control characters".to_string())
            } else {
                Phone::normalise(typed, &self.config.phone.default_country_code).map_err(|e| e.to_string())
            };
            match parsed {
                Ok(phone) if phone.has_prefix_in(&self.config.phone.allowed_prefixes) => return Ok(phone),
                Ok(phone) => {
                    last = DenyReason::PrefixNotAllowed;
                    self.deps.log.warn(&format!(
                        "user {user}: the number {} offered for enrolment is outside [phone] allowed_prefixes; no SMS sent",
                        phone.masked()
                    ));
                }
                Err(why) => {
                    last = DenyReason::BadNumber;
                    self.deps.log.notice(&format!("user {user}: the number offered for enrolment is refused: {why}"));
                }
            }
            let text = self.text(MessagesConfig::enrol_phone_refused, &[]);
            self.say_error(&text)?;
        }
        finish(Outcome::Denied(last))
    }
}
