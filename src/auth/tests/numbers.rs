//! The number's life in the flow, against the strict fakes of tests.rs:
//! enrolment with a code, pinning and `[phone] on_change`.

use std::cell::RefCell;
use std::collections::HashMap;

use super::*;
use crate::auth::{ChangeNotifier, EnrolCode, NumberDeps, NumberVia, Numbers, StoredNumber, UserNumbers};
use crate::config::{OnNumberChange, UnenrolledPolicy};
use crate::state::enrol_code;

const ENROL_PROMPT: &str = "Enrolment code: ";
const NUMBER_PROMPT: &str = "Mobile number for SMS codes: ";
const NEW: &str = "+4915112345678";
const NOW: u64 = 1_700_000_000;

#[derive(Default)]
struct FakeNumbers {
    users: HashMap<String, UserNumbers>,
    broken: bool,
    /// Another login used the enrolment code while this one waited for the SMS code.
    code_taken_meanwhile: bool,
    writes: usize,
}

impl FakeNumbers {
    fn check(&self) -> Result<(), StoreError> {
        if self.broken { Err(StoreError::Io("disk on fire".into())) } else { Ok(()) }
    }
    fn of(&self, user: &str) -> UserNumbers {
        self.users.get(user).cloned().unwrap_or_default()
    }
}

impl Numbers for FakeNumbers {
    fn numbers(&mut self, user: &str) -> Result<UserNumbers, StoreError> {
        self.check()?;
        Ok(self.of(user))
    }
    fn set_enrolled(&mut self, user: &str, number: Option<&StoredNumber>) -> Result<(), StoreError> {
        self.check()?;
        self.writes += 1;
        self.users.entry(user.into()).or_default().enrolled = number.cloned();
        Ok(())
    }
    fn set_pinned(&mut self, user: &str, number: Option<&StoredNumber>) -> Result<(), StoreError> {
        self.check()?;
        self.writes += 1;
        self.users.entry(user.into()).or_default().pinned = number.cloned();
        Ok(())
    }
    fn set_enrol_code(&mut self, user: &str, code: Option<&EnrolCode>) -> Result<(), StoreError> {
        self.check()?;
        self.users.entry(user.into()).or_default().enrol_code = code.cloned();
        Ok(())
    }
    fn redeem_enrol_code(&mut self, user: &str, hash: &str, number: &StoredNumber) -> Result<bool, StoreError> {
        self.check()?;
        if self.code_taken_meanwhile {
            self.users.entry(user.into()).or_default().enrol_code = None;
        }
        let entry = self.users.entry(user.into()).or_default();
        if entry.enrol_code.as_ref().is_none_or(|c| c.hash != hash) {
            return Ok(false);
        }
        self.writes += 1;
        entry.enrol_code = None;
        entry.enrolled = Some(number.clone());
        entry.pinned = Some(number.clone());
        Ok(true)
    }
}

#[derive(Default)]
struct FakeNotifier(RefCell<Vec<(String, String, String)>>);

impl ChangeNotifier for FakeNotifier {
    fn number_changed(&self, user: &str, old: &str, new: &str, _: Duration, _: &dyn Log) {
        self.0.borrow_mut().push((user.into(), old.into(), new.into()));
    }
}

fn run(case: Case, numbers: &mut FakeNumbers, notifier: &FakeNotifier) -> Result_ {
    let shared = Rc::new(Shared::default());
    shared.now.set(Duration::from_secs(NOW));
    let mut prompter = FakePrompter::new(case.script, shared.clone());
    prompter.messages = case.messages.map(VecDeque::from);
    let dirs: Vec<Box<dyn Directory>> = vec![Box::new(FakeDirectory(case.directory))];
    let sender = FakeSender { shared: shared.clone(), fail: Cell::new(case.sender_failures), fail_after_first: case.fail_after_first };
    let mut store = case.store;
    let clock = FakeClock(shared.clone());
    let accounts = FakeAccounts(case.groups);
    let log = MemoryLog::default();
    let outcome = authenticate_with_numbers(
        &case.config,
        &case.login,
        Deps {
            prompter: &mut prompter,
            directories: &dirs,
            sender: &sender,
            store: &mut store,
            clock: &clock,
            accounts: &accounts,
            log: &log,
        },
        NumberDeps { numbers, notifier },
    );
    Result_ { outcome, shared, store, log }
}

/// alice has no number anywhere and `unenrolled = "enrol"`.
fn unenrolled(script: Vec<Say>) -> Case {
    let mut case = Case::new(script);
    case.directory = DirAnswer::Map(HashMap::new());
    case.config.policy.unenrolled = UnenrolledPolicy::Enrol;
    case.config.phone.allowed_prefixes = vec!["+49".into()];
    case
}

/// A store holding an enrolment code for alice, expiring `ttl` seconds after NOW.
fn with_code(code: &str, ttl: i64) -> FakeNumbers {
    let mut n = FakeNumbers::default();
    let c = EnrolCode {
        hash: enrol_code::hash(code).unwrap(),
        expires: NOW.saturating_add_signed(ttl),
        issued_at: NOW - 10,
        by: "root".into(),
    };
    n.users.insert("alice".into(), UserNumbers { enrol_code: Some(c), ..UserNumbers::default() });
    n
}

const CODE: &str = "ENR-K7WQ-3MRD-9XTP-2HBA";

#[test]
fn a_valid_enrolment_code_then_a_number_then_its_sms_code_enrol_the_number() {
    let mut numbers = with_code(CODE, 3600);
    let mut case = unenrolled(vec![Say::Text("enr-k7wq-3mrd-9xtp-2hba"), Say::Text("+49 151 1234 5678"), Say::Code]);
    case.messages = Some(vec![Shown::Info("Your number is enrolled.".into())]);
    let r = run(case, &mut numbers, &FakeNotifier::default());
    assert_eq!(r.outcome, Outcome::Success);
    assert_eq!(r.shared.sent.borrow().iter().map(|m| m.0.clone()).collect::<Vec<_>>(), [NEW]);
    let prompts = r.shared.prompts.borrow().clone();
    assert_eq!(&prompts[..2], [ENROL_PROMPT, NUMBER_PROMPT]);
    let alice = numbers.of("alice");
    let enrolled = alice.enrolled.unwrap();
    assert_eq!((enrolled.phone.as_str(), enrolled.via, enrolled.verified), (NEW, NumberVia::Enrolment, true));
    assert_eq!(alice.pinned.unwrap().phone, NEW);
    assert!(alice.enrol_code.is_none(), "used up");
    assert!(r.log.lines().iter().any(|l| l.contains("enrolled with an enrolment code")));
    for line in r.log.lines() {
        assert!(!line.contains("15112345678") && !line.contains("K7WQ"), "{line}");
    }
    r.no_secrets_logged();
}

#[test]
fn a_wrong_enrolment_code_asks_no_number_sends_nothing_and_counts_towards_the_lockout() {
    let mut numbers = with_code(CODE, 3600);
    let wrong = "ENR-2222-2222-2222-2222";
    let r = run(unenrolled(vec![Say::Text(wrong), Say::Text("123456"), Say::Text(wrong)]), &mut numbers, &FakeNotifier::default());
    assert_eq!(r.outcome, Outcome::MaxTries);
    assert_eq!(r.sent(), 0);
    assert_eq!(r.shared.prompts.borrow().clone(), [ENROL_PROMPT; 3], "no number asked");
    assert_eq!(r.errors(), ["Wrong enrolment code."; 3]);
    assert_eq!(r.store.failures, 3, "wrong codes (also of the wrong shape) are failures");
    assert!(numbers.of("alice").enrol_code.is_some(), "still pending");
}

#[test]
fn an_expired_or_absent_code_is_wrong_even_when_typed_right() {
    for mut numbers in [with_code(CODE, -1), with_code(CODE, 0), FakeNumbers::default()] {
        let r = run(unenrolled(vec![Say::Text(CODE), Say::Text(CODE), Say::Text(CODE)]), &mut numbers, &FakeNotifier::default());
        assert_eq!(r.outcome, Outcome::MaxTries);
        assert_eq!(r.sent(), 0);
        assert_eq!(r.store.failures, 3);
        assert!(numbers.of("alice").enrolled.is_none());
    }
}

#[test]
fn wrong_enrolment_codes_reach_the_lockout() {
    let mut numbers = with_code(CODE, 3600);
    let mut case = unenrolled(vec![Say::Text("ENR-2222-2222-2222-2222"), Say::Text("ENR-3333-3333-3333-3333")]);
    case.store.lock_after = Some(2);
    let r = run(case, &mut numbers, &FakeNotifier::default());
    assert_eq!(r.outcome, Outcome::Denied(DenyReason::LockedOut));
    assert_eq!(r.errors(), ["Wrong enrolment code.", MSG_LOCKED]);
    assert_eq!(r.sent(), 0);
}

#[test]
fn an_empty_answer_or_the_password_ends_the_dialogue_without_a_failure() {
    let mut numbers = with_code(CODE, 3600);
    let r = run(unenrolled(vec![Say::Text("  ")]), &mut numbers, &FakeNotifier::default());
    assert_eq!(r.outcome, Outcome::Denied(DenyReason::Unenrolled));
    assert_eq!(r.store.failures, 0);
    let r = run(unenrolled(vec![Say::Text("Hunter2-pw")]), &mut numbers, &FakeNotifier::default());
    assert_eq!(r.outcome, Outcome::Denied(DenyReason::PasswordAsCode));
    assert_eq!((r.store.failures, r.sent()), (0, 0));
}

#[test]
fn numbers_outside_the_prefixes_or_hostile_get_no_sms_and_keep_the_code() {
    let long = "1".repeat(10_000);
    let long: &'static str = Box::leak(long.into_boxed_str());
    for (typed, reason) in [
        (["+1 555 123 4567", "+43 660 1234567", "+7 912 345 67 89"], DenyReason::PrefixNotAllowed),
        (["+49 151 1234\u{0}5678", "+49 151 1234\u{1b}[2J5678", "+49 151 CALL-ME"], DenyReason::BadNumber),
        ([long, "+4915112345678901234567890", "\u{202e}+4915112345678"], DenyReason::BadNumber),
    ] {
        let mut numbers = with_code(CODE, 3600);
        let script = vec![Say::Text(CODE), Say::Text(typed[0]), Say::Text(typed[1]), Say::Text(typed[2])];
        let r = run(unenrolled(script), &mut numbers, &FakeNotifier::default());
        assert_eq!(r.outcome, Outcome::Denied(reason), "{typed:?}");
        assert_eq!(r.sent(), 0, "{typed:?}");
        assert_eq!(r.errors(), ["This number cannot receive codes."; 3]);
        let alice = numbers.of("alice");
        assert!(alice.enrolled.is_none() && alice.enrol_code.is_some(), "nothing stored, the code stays");
        for line in r.log.lines() {
            assert!(!line.contains("1234567") && !line.contains('\u{1b}') && line.len() < 400, "{line:?}");
        }
    }
}

#[test]
fn wrong_sms_codes_reach_the_lockout_and_store_nothing() {
    let mut numbers = with_code(CODE, 3600);
    let mut case = unenrolled(vec![Say::Text(CODE), Say::Text(NEW), Say::Text("000000"), Say::Text("111111")]);
    case.store.lock_after = Some(2);
    let r = run(case, &mut numbers, &FakeNotifier::default());
    assert_eq!(r.outcome, Outcome::Denied(DenyReason::LockedOut));
    assert_eq!(r.sent(), 1);
    let alice = numbers.of("alice");
    assert!(alice.enrolled.is_none() && alice.pinned.is_none());
    assert!(alice.enrol_code.is_some(), "only a stored number uses the code up");
}

#[test]
fn a_backup_code_does_not_enrol_a_number() {
    let mut numbers = with_code(CODE, 3600);
    let mut case = unenrolled(vec![Say::Text(CODE), Say::Text(NEW), Say::Text("ABCD-EFGH"), Say::Code]);
    case.store.backup = vec!["ABCD-EFGH".into()];
    let r = run(case, &mut numbers, &FakeNotifier::default());
    assert_eq!(r.outcome, Outcome::Success, "the SMS code after it enrols");
    assert_eq!(r.store.backup, ["ABCD-EFGH"], "not consumed");
    assert_eq!(r.store.failures, 1);
}

#[test]
fn over_the_send_limit_enrolment_ends_without_backup_codes() {
    let mut numbers = with_code(CODE, 3600);
    let mut case = unenrolled(vec![Say::Text(CODE), Say::Text(NEW)]);
    case.store.allowance = Some(SendAllowance::HourlyCap);
    case.store.backup = vec!["ABCD-EFGH".into()];
    let r = run(case, &mut numbers, &FakeNotifier::default());
    assert_eq!(r.outcome, Outcome::Denied(DenyReason::SendFailed));
    assert_eq!(r.sent(), 0);
    assert!(numbers.of("alice").enrol_code.is_some());
}

#[test]
fn a_code_used_by_another_login_meanwhile_enrols_nothing() {
    let mut numbers = with_code(CODE, 3600);
    numbers.code_taken_meanwhile = true;
    let r = run(unenrolled(vec![Say::Text(CODE), Say::Text(NEW), Say::Code]), &mut numbers, &FakeNotifier::default());
    assert_eq!(r.outcome, Outcome::Denied(DenyReason::Unenrolled));
    assert!(numbers.of("alice").enrolled.is_none());
}

#[test]
fn a_failing_numbers_store_enrols_nobody() {
    let mut numbers = with_code(CODE, 3600);
    numbers.broken = true;
    let r = run(unenrolled(vec![]), &mut numbers, &FakeNotifier::default());
    assert_eq!(r.outcome, Outcome::Unavailable(UnavailableReason::Store));
    let mut case = unenrolled(vec![]);
    case.config.state.on_failure = StoreFailurePolicy::Degrade;
    let r = run(case, &mut numbers, &FakeNotifier::default());
    assert_eq!(r.outcome, Outcome::Denied(DenyReason::StoreFailed));
    assert_eq!(r.sent(), 0);
}

fn pinned(phone: &str) -> FakeNumbers {
    let mut n = FakeNumbers::default();
    let number = StoredNumber { phone: phone.into(), at: 1, via: NumberVia::Login, verified: true, by: "sshd".into() };
    n.users.insert("alice".into(), UserNumbers { pinned: Some(number), ..UserNumbers::default() });
    n
}

#[test]
fn the_first_verified_number_is_pinned_and_an_unchanged_one_is_not_rewritten() {
    let mut numbers = FakeNumbers::default();
    let r = run(Case::new(vec![Say::Code]), &mut numbers, &FakeNotifier::default());
    assert_eq!(r.outcome, Outcome::Success);
    let pin = numbers.of("alice").pinned.unwrap();
    assert_eq!((pin.phone.as_str(), pin.via, pin.by.as_str()), (PHONE, NumberVia::Login, "sshd"));
    assert_eq!(numbers.writes, 1);
    let r = run(Case::new(vec![Say::Code]), &mut numbers, &FakeNotifier::default());
    assert_eq!(r.outcome, Outcome::Success);
    assert_eq!(numbers.writes, 1, "the same number: nothing written");
    // a wrong code pins nothing
    let mut numbers = FakeNumbers::default();
    let r = run(Case::new(vec![Say::Text("1"), Say::Text("2"), Say::Text("3")]), &mut numbers, &FakeNotifier::default());
    assert_eq!(r.outcome, Outcome::MaxTries);
    assert!(numbers.of("alice").pinned.is_none());
    // nor does a backup code
    let mut case = Case::new(vec![Say::Text("ABCD-EFGH")]);
    case.store.backup = vec!["ABCD-EFGH".into()];
    let r = run(case, &mut numbers, &FakeNotifier::default());
    assert_eq!(r.outcome, Outcome::SuccessWithBackupCode { remaining: 0 });
    assert!(numbers.of("alice").pinned.is_none());
}

#[test]
fn a_changed_number_is_allowed_notified_or_denied_as_on_change_says() {
    let old = "+4915100000099";
    // allow: used, and pinned after the success
    let mut numbers = pinned(old);
    let notifier = FakeNotifier::default();
    let r = run(Case::new(vec![Say::Code]), &mut numbers, &notifier);
    assert_eq!(r.outcome, Outcome::Success);
    assert_eq!(numbers.of("alice").pinned.unwrap().phone, PHONE);
    assert!(notifier.0.borrow().is_empty());

    // notify: used, logged at warning, the notifier told with masked numbers
    let mut numbers = pinned(old);
    let mut case = Case::new(vec![Say::Code]);
    case.config.phone.on_change = OnNumberChange::Notify;
    let r = run(case, &mut numbers, &notifier);
    assert_eq!(r.outcome, Outcome::Success);
    assert_eq!(notifier.0.borrow().clone(), [("alice".to_string(), "+***********99".to_string(), "+*********67".to_string())]);
    assert!(r.log.0.borrow().iter().any(|(level, l)| *level == crate::log::Level::Warning && l.contains("not the last verified")));
    assert_eq!(numbers.of("alice").pinned.unwrap().phone, PHONE);

    // deny: no SMS, PAM_AUTH_ERR, a log line; the pin stays
    let mut numbers = pinned(old);
    let mut case = Case::new(vec![]);
    case.config.phone.on_change = OnNumberChange::Deny;
    let r = run(case, &mut numbers, &notifier);
    assert_eq!(r.outcome, Outcome::Denied(DenyReason::NumberChanged));
    assert_eq!(r.sent(), 0);
    assert!(r.log.lines().iter().any(|l| l.contains("smsotp phone accept alice")));
    assert_eq!(numbers.of("alice").pinned.unwrap().phone, old);
    r.no_secrets_logged();

    // deny, with the same number pinned: a normal login
    let mut numbers = pinned(PHONE);
    let mut case = Case::new(vec![Say::Code]);
    case.config.phone.on_change = OnNumberChange::Deny;
    assert_eq!(run(case, &mut numbers, &notifier).outcome, Outcome::Success);
}

#[test]
fn deny_fails_closed_when_the_pin_cannot_be_read() {
    let mut numbers = pinned("+4915100000099");
    numbers.broken = true;
    let mut case = Case::new(vec![]);
    case.config.phone.on_change = OnNumberChange::Deny;
    case.config.state.on_failure = StoreFailurePolicy::Degrade;
    let r = run(case, &mut numbers, &FakeNotifier::default());
    assert_eq!(r.outcome, Outcome::Denied(DenyReason::StoreFailed));
    assert_eq!(r.sent(), 0);
}
