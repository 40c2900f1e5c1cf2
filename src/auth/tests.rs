//! The flow against fakes: one test (or more) per row of DESIGN.md's table.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;
use std::time::Duration;

use zeroize::Zeroizing;

use super::*;
use crate::auth::{BackupUse, SendAllowance, StoreError};
use crate::config::{Config, StoreFailurePolicy};
use crate::log::MemoryLog;

const PHONE: &str = "+15551234567";

#[derive(Clone, Debug)]
enum Say {
    /// The newest code that was sent.
    Code,
    /// The newest code with spaces and a newline around it.
    PaddedCode,
    /// The code sent n-th (0 = first).
    CodeNumber(usize),
    Text(&'static str),
    /// Let time pass, then take the next step.
    Wait(u64),
    /// The conversation breaks (Ctrl-C, no tty): the way to end a script
    /// whose login must end in a failed conversation.
    Hangup,
    /// The next info message cannot be shown.
    FailInfo,
    /// The wall clock steps (an admin or NTP sets it); monotonic time does not.
    StepWallClock(i64),
}

#[derive(Default)]
struct Shared {
    sent: RefCell<Vec<(String, String)>>,
    now: Cell<Duration>,
    mono: Cell<Duration>,
    prompts: RefCell<Vec<String>>,
    errors: RefCell<Vec<String>>,
    infos: RefCell<Vec<String>>,
}

/// A message the flow shows besides its prompts.
#[derive(Clone, Debug, PartialEq)]
enum Shown {
    Error(String),
    Info(String),
}

/// The user at the other end, strict like kanidm's PAM test double: it answers
/// prompts from the script and nothing else. A prompt after the script's last
/// step, or a message the test did not declare (when it declares them), fails
/// the test; so does a script (or a declared message) left over at the end.
struct FakePrompter {
    script: VecDeque<Say>,
    shared: Rc<Shared>,
    /// When the test declares them: every error and info message, in order.
    messages: Option<VecDeque<Shown>>,
}

impl FakePrompter {
    fn new(script: Vec<Say>, shared: Rc<Shared>) -> FakePrompter {
        FakePrompter { script: script.into(), shared, messages: None }
    }

    fn shown(&mut self, message: Shown) {
        if let Some(expected) = &mut self.messages {
            match expected.pop_front() {
                Some(next) if next == message => {}
                next => panic!("unexpected message {message:?}; the test expected {next:?} next"),
            }
        }
    }
}

impl Prompter for FakePrompter {
    fn prompt(&mut self, text: &str, _echo: bool) -> Result<Zeroizing<String>, ConversationError> {
        self.shared.prompts.borrow_mut().push(text.to_string());
        loop {
            let Some(step) = self.script.pop_front() else {
                panic!("unexpected prompt {text:?}: the script has no step left (end it with Say::Hangup for a failed conversation)");
            };
            let sent = self.shared.sent.borrow();
            return match step {
                Say::Wait(s) => {
                    self.shared.now.set(self.shared.now.get() + Duration::from_secs(s));
                    self.shared.mono.set(self.shared.mono.get() + Duration::from_secs(s));
                    drop(sent);
                    continue;
                }
                Say::StepWallClock(s) => {
                    let stepped = self.shared.now.get().as_secs().saturating_add_signed(s);
                    self.shared.now.set(Duration::from_secs(stepped));
                    drop(sent);
                    continue;
                }
                Say::Code => Ok(Zeroizing::new(sent.last().map(|m| m.1.clone()).unwrap_or_default())),
                Say::PaddedCode => Ok(Zeroizing::new(format!("  {} \n", sent.last().map(|m| m.1.clone()).unwrap_or_default()))),
                Say::CodeNumber(n) => Ok(Zeroizing::new(sent[n].1.clone())),
                Say::Text(t) => Ok(Zeroizing::new(t.to_string())),
                Say::Hangup => Err(ConversationError),
                Say::FailInfo => panic!("unexpected prompt {text:?}: the script's next step was an info message that fails"),
            };
        }
    }
    fn error(&mut self, text: &str) -> Result<(), ConversationError> {
        self.shared.errors.borrow_mut().push(text.to_string());
        self.shown(Shown::Error(text.to_string()));
        Ok(())
    }
    fn info(&mut self, text: &str) -> Result<(), ConversationError> {
        if matches!(self.script.front(), Some(Say::FailInfo)) {
            self.script.pop_front();
            return Err(ConversationError);
        }
        self.shared.infos.borrow_mut().push(text.to_string());
        self.shown(Shown::Info(text.to_string()));
        Ok(())
    }
}

impl Drop for FakePrompter {
    fn drop(&mut self) {
        if std::thread::panicking() {
            return;
        }
        assert!(self.script.is_empty(), "the script was not used up; left over: {:?}", self.script);
        if let Some(expected) = &self.messages {
            assert!(expected.is_empty(), "expected messages never shown: {expected:?}");
        }
    }
}

struct FakeClock(Rc<Shared>);
impl Clock for FakeClock {
    fn now(&self) -> Duration {
        self.0.now.get()
    }
    fn monotonic(&self) -> Duration {
        self.0.mono.get()
    }
}

enum DirAnswer {
    Map(HashMap<String, String>),
    Down,
}

struct FakeDirectory(DirAnswer);
impl Directory for FakeDirectory {
    fn describe(&self) -> String {
        "fake".into()
    }
    fn lookup(&self, user: &str, _: Duration, _: &dyn Log) -> Result<Option<PhoneRecord>, DirectoryError> {
        match &self.0 {
            DirAnswer::Down => Err(DirectoryError::Unavailable { source_name: "fake".into(), reason: "down".into() }),
            DirAnswer::Map(m) => match m.get(user) {
                None => Ok(None),
                Some(raw) => match Phone::normalise(raw, "") {
                    Ok(phone) => Ok(Some(PhoneRecord { phone, source: "fake".into(), dn: None })),
                    Err(e) => Err(DirectoryError::Refused { source_name: "fake".into(), reason: e.to_string() }),
                },
            },
        }
    }
}

struct FakeSender {
    shared: Rc<Shared>,
    fail: Cell<usize>,
    /// Every send after the first fails.
    fail_after_first: bool,
}
impl Sender for FakeSender {
    fn send(&self, sms: &Sms<'_>, _: Duration, _: &dyn Log) -> Result<Receipt, SendFailed> {
        if self.fail_after_first && !self.shared.sent.borrow().is_empty() {
            return Err(SendFailed);
        }
        if self.fail.get() > 0 {
            self.fail.set(self.fail.get() - 1);
            return Err(SendFailed);
        }
        self.shared.sent.borrow_mut().push((sms.to.e164().to_string(), sms.text.to_string()));
        Ok(Receipt { connector: "fake".into(), message_id: None })
    }
}

#[derive(Default)]
struct FakeStore {
    locked: bool,
    allowance: Option<SendAllowance>,
    backup: Vec<String>,
    failures: usize,
    successes: usize,
    lock_after: Option<usize>,
    grace: bool,
    /// Every operation fails (an unreadable directory).
    broken: bool,
    /// Reads work, writes fail (a full or read-only file system).
    read_only: bool,
    /// Another login locks the user right after this one's first lock check.
    locked_by_another: bool,
    /// The user and key of every grace check and success, in order.
    grace_keys: Vec<(String, Option<String>)>,
    /// Connectors of the SMS counted for `smsotp report`; None: counting fails.
    sent: Option<Vec<String>>,
}
impl FakeStore {
    fn fail_read(&self) -> Result<(), StoreError> {
        if self.broken { Err(StoreError::Corrupt("truncated".into())) } else { Ok(()) }
    }
    fn fail_write(&self) -> Result<(), StoreError> {
        self.fail_read()?;
        if self.read_only { Err(StoreError::Io("No space left on device".into())) } else { Ok(()) }
    }
}
impl Store for FakeStore {
    fn locked_until(&mut self, _: &str, now: Duration) -> Result<Option<Duration>, StoreError> {
        self.fail_read()?;
        let locked = self.locked;
        self.locked |= self.locked_by_another;
        Ok(locked.then_some(now + Duration::from_secs(60)))
    }
    fn grace_active(&mut self, user: &str, key: &str, _: Duration) -> Result<bool, StoreError> {
        self.fail_read()?;
        self.grace_keys.push((user.into(), Some(key.into())));
        Ok(self.grace)
    }
    fn reserve_send(&mut self, user: &str, now: Duration) -> Result<SendAllowance, StoreError> {
        self.fail_write()?;
        self.peek_send(user, now)
    }
    fn peek_send(&mut self, _: &str, _: Duration) -> Result<SendAllowance, StoreError> {
        self.fail_read()?;
        Ok(self.allowance.unwrap_or(SendAllowance::Allowed))
    }
    fn record_failure(&mut self, _: &str, _: Duration) -> Result<bool, StoreError> {
        self.fail_write()?;
        self.failures += 1;
        Ok(self.locked || self.lock_after.is_some_and(|n| self.failures >= n))
    }
    fn record_success(&mut self, user: &str, key: Option<&str>, _: Duration) -> Result<bool, StoreError> {
        self.fail_write()?;
        self.grace_keys.push((user.into(), key.map(str::to_string)));
        if self.locked {
            return Ok(false);
        }
        self.successes += 1;
        Ok(true)
    }
    fn record_sent(&mut self, connector: &str, _: Duration) -> Result<(), StoreError> {
        match &mut self.sent {
            Some(list) => {
                list.push(connector.to_string());
                Ok(())
            }
            None => Err(StoreError::Io("No space left on device".into())),
        }
    }
    fn use_backup_code(&mut self, _: &str, answer: &str, _: Duration) -> Result<BackupUse, StoreError> {
        self.fail_write()?;
        match self.backup.iter().position(|c| c == answer) {
            Some(_) if self.locked => Ok(BackupUse::Locked),
            Some(i) => {
                self.backup.remove(i);
                Ok(BackupUse::Used { remaining: self.backup.len() })
            }
            None => Ok(BackupUse::NoMatch),
        }
    }
}

struct FakeAccounts(HashMap<&'static str, Vec<&'static str>>);
impl Accounts for FakeAccounts {
    fn canonical_name(&self, user: &str) -> Result<Option<String>, String> {
        // a name service that folds case and drops a realm, as sssd can
        let folded = user.split('@').next().unwrap_or(user).to_lowercase();
        Ok(self.0.keys().find(|k| **k == folded).map(|k| k.to_string()))
    }

    fn in_any_group(&self, user: &str, groups: &[String]) -> Result<bool, String> {
        match self.0.get(user) {
            None => Err("no such user".into()),
            Some(gs) => Ok(groups.iter().any(|g| gs.contains(&g.as_str()))),
        }
    }
}

struct Case {
    config: Config,
    login: Login,
    script: Vec<Say>,
    directory: DirAnswer,
    sender_failures: usize,
    fail_after_first: bool,
    store: FakeStore,
    groups: HashMap<&'static str, Vec<&'static str>>,
    /// When set, the login must show exactly these error and info messages.
    messages: Option<Vec<Shown>>,
}

struct Result_ {
    outcome: Outcome,
    shared: Rc<Shared>,
    store: FakeStore,
    log: MemoryLog,
}

impl Case {
    fn new(script: Vec<Say>) -> Case {
        let mut config = Config::parse("[message]\ntemplate = \"{code}\"\n").unwrap();
        config.otp.prompt = "Code [{seq}] for {phone}: ".into();
        Case {
            config,
            login: Login {
                user: "alice".into(),
                service: "sshd".into(),
                rhost: Some("192.0.2.7".into()),
                tty: None,
                caller_uid: 0,
                password: Some(crate::config::Secret::new("Hunter2-pw".into())),
                host: "box".into(),
            },
            script,
            directory: DirAnswer::Map(HashMap::from([("alice".to_string(), PHONE.to_string())])),
            sender_failures: 0,
            fail_after_first: false,
            store: FakeStore::default(),
            groups: HashMap::from([("alice", vec!["alice", "staff"])]),
            messages: None,
        }
    }

    fn run(self) -> Result_ {
        let shared = Rc::new(Shared::default());
        shared.now.set(Duration::from_secs(1_700_000_000));
        let mut prompter = FakePrompter::new(self.script, shared.clone());
        prompter.messages = self.messages.map(VecDeque::from);
        let dirs: Vec<Box<dyn Directory>> = vec![Box::new(FakeDirectory(self.directory))];
        let sender = FakeSender { shared: shared.clone(), fail: Cell::new(self.sender_failures), fail_after_first: self.fail_after_first };
        let mut store = self.store;
        let clock = FakeClock(shared.clone());
        let accounts = FakeAccounts(self.groups);
        let log = MemoryLog::default();
        let outcome = authenticate(
            &self.config,
            &self.login,
            Deps {
                prompter: &mut prompter,
                directories: &dirs,
                sender: &sender,
                store: &mut store,
                clock: &clock,
                accounts: &accounts,
                log: &log,
            },
        );
        Result_ { outcome, shared, store, log }
    }
}

impl Result_ {
    fn sent(&self) -> usize {
        self.shared.sent.borrow().len()
    }
    fn errors(&self) -> Vec<String> {
        self.shared.errors.borrow().clone()
    }
    fn no_secrets_logged(&self) {
        for line in self.log.lines() {
            assert!(!line.contains("5551234567"), "full number in log: {line}");
            for (_, code) in self.shared.sent.borrow().iter() {
                assert!(!line.contains(code.as_str()), "code in log: {line}");
            }
        }
    }
}

#[test]
fn right_code_succeeds() {
    let r = Case::new(vec![Say::Code]).run();
    assert_eq!(r.outcome, Outcome::Success);
    assert_eq!(r.sent(), 1);
    let (to, text) = r.shared.sent.borrow()[0].clone();
    assert_eq!(to, PHONE);
    assert_eq!(text.len(), 6);
    let prompt = r.shared.prompts.borrow()[0].clone();
    assert!(prompt.contains("+*********67"), "{prompt}");
    assert!(!prompt.contains("555"), "{prompt}");
    assert_eq!(r.store.successes, 1);
    r.no_secrets_logged();
}

#[test]
fn answers_are_trimmed() {
    let r = Case::new(vec![Say::PaddedCode]).run();
    assert_eq!(r.outcome, Outcome::Success);
}

#[test]
fn wrong_then_right_says_wrong_code_once() {
    let r = Case::new(vec![Say::Text("000000x"), Say::Code]).run();
    assert_eq!(r.outcome, Outcome::Success);
    assert_eq!(r.errors(), vec![MSG_WRONG.to_string()]);
    assert_eq!(r.store.failures, 1);
    assert_eq!(r.shared.prompts.borrow().len(), 2);
}

#[test]
fn attempts_used_up_is_maxtries() {
    let r = Case::new(vec![Say::Text("1"), Say::Text("2"), Say::Text("3")]).run();
    assert_eq!(r.outcome, Outcome::MaxTries);
    assert_eq!(r.errors(), vec![MSG_WRONG, MSG_WRONG, MSG_TOO_MANY]);
    assert_eq!(r.shared.prompts.borrow().len(), 3);
    r.no_secrets_logged();
}

#[test]
fn expired_code_is_refused_and_a_new_one_sent() {
    let r = Case::new(vec![Say::Wait(301), Say::Code, Say::Code]).run();
    assert_eq!(r.outcome, Outcome::Success);
    assert_eq!(r.sent(), 2);
    assert_eq!(r.errors(), vec![MSG_EXPIRED]);
}

#[test]
fn expired_code_without_resends_left_is_auth_err() {
    let mut case = Case::new(vec![Say::Wait(300), Say::Code]);
    case.config.otp.max_resends = 0;
    let r = case.run();
    assert_eq!(r.outcome, Outcome::Denied(DenyReason::Expired));
    assert_eq!(r.sent(), 1);
    assert_eq!(r.errors(), vec![MSG_EXPIRED]);
}

#[test]
fn code_just_before_expiry_still_works() {
    let r = Case::new(vec![Say::Wait(299), Say::Code]).run();
    assert_eq!(r.outcome, Outcome::Success);
}

#[test]
fn empty_answer_sends_a_new_code_and_voids_the_old() {
    let r = Case::new(vec![Say::Text(""), Say::CodeNumber(0), Say::Code]).run();
    assert_eq!(r.sent(), 2);
    assert_eq!(r.outcome, Outcome::Success);
    assert_eq!(r.errors(), vec![MSG_WRONG], "the first code must no longer work");
    assert_eq!(r.shared.infos.borrow().clone(), vec![MSG_NEW_CODE]);
    let prompts = r.shared.prompts.borrow();
    assert_ne!(prompts[0], prompts[1], "a new code has a new sequence tag");
}

#[test]
fn empty_answer_beyond_max_resends_sends_nothing() {
    let r = Case::new(vec![Say::Text(""), Say::Text(""), Say::Text(""), Say::Code]).run();
    // one resend allowed: first empty resends, second is refused and uses an attempt, third too
    assert_eq!(r.sent(), 2);
    assert_eq!(r.outcome, Outcome::Success);
    assert!(r.errors().contains(&MSG_NO_RESEND.to_string()));
    assert_eq!(r.store.failures, 0, "empty answers are not guesses");
}

#[test]
fn empty_answers_alone_end_in_maxtries() {
    let mut case = Case::new(vec![Say::Text(""); 3]);
    case.config.otp.max_resends = 0;
    let r = case.run();
    assert_eq!(r.outcome, Outcome::MaxTries);
    assert_eq!(r.sent(), 1);
}

#[test]
fn unenrolled_user_denied_or_ignored_by_policy() {
    let mut case = Case::new(vec![]);
    case.login.user = "mallory".into();
    let r = case.run();
    assert_eq!(r.outcome, Outcome::Denied(DenyReason::Unenrolled));
    assert_eq!(r.sent(), 0);

    let mut case = Case::new(vec![]);
    case.login.user = "mallory".into();
    case.config.policy.unenrolled = UnenrolledPolicy::Ignore;
    let r = case.run();
    assert_eq!(r.outcome, Outcome::Skipped(SkipReason::Unenrolled));
}

#[test]
fn a_bad_number_in_the_directory_is_denied_even_when_unenrolled_is_ignore() {
    let mut case = Case::new(vec![]);
    case.directory = DirAnswer::Map(HashMap::from([("alice".to_string(), "12345".to_string())]));
    case.config.policy.unenrolled = UnenrolledPolicy::Ignore;
    let r = case.run();
    assert_eq!(r.outcome, Outcome::Denied(DenyReason::BadNumber));
    assert_eq!(r.sent(), 0);
}

#[test]
fn skip_groups_only_groups_and_trusted_networks_ignore() {
    let mut case = Case::new(vec![]);
    case.config.policy.skip_groups = vec!["staff".into()];
    assert_eq!(case.run().outcome, Outcome::Skipped(SkipReason::SkipGroup));

    let mut case = Case::new(vec![]);
    case.config.policy.only_groups = vec!["admins".into()];
    assert_eq!(case.run().outcome, Outcome::Skipped(SkipReason::NotInOnlyGroups));

    let mut case = Case::new(vec![Say::Code]);
    case.config.policy.only_groups = vec!["staff".into()];
    assert_eq!(case.run().outcome, Outcome::Success);

    let mut case = Case::new(vec![]);
    case.config.policy.trusted_networks = vec!["192.0.2.0/24".parse().unwrap()];
    assert_eq!(case.run().outcome, Outcome::Skipped(SkipReason::TrustedNetwork));

    let mut case = Case::new(vec![Say::Code]);
    case.config.policy.trusted_networks = vec!["198.51.100.0/24".parse().unwrap()];
    assert_eq!(case.run().outcome, Outcome::Success);
}

#[test]
fn hostnames_and_missing_rhost_never_count_as_trusted() {
    for rhost in [Some("trusted.example.org"), None, Some("")] {
        let mut case = Case::new(vec![Say::Code]);
        case.login.rhost = rhost.map(str::to_string);
        case.config.policy.trusted_networks = vec!["0.0.0.0/0".parse().unwrap()];
        assert_eq!(case.run().outcome, Outcome::Success, "{rhost:?}");
    }
}

#[test]
fn failing_group_lookup_never_waives_the_code() {
    let mut case = Case::new(vec![Say::Code]);
    case.groups.clear();
    case.config.policy.skip_groups = vec!["staff".into()];
    case.config.policy.only_groups = vec!["staff".into()];
    let r = case.run();
    assert_eq!(r.outcome, Outcome::Success);
    assert_eq!(r.sent(), 1);
}

#[test]
fn locked_out_user_gets_no_sms() {
    let mut case = Case::new(vec![]);
    case.store.locked = true;
    let r = case.run();
    assert_eq!(r.outcome, Outcome::Denied(DenyReason::LockedOut));
    assert_eq!(r.sent(), 0);
    assert_eq!(r.errors(), vec![MSG_LOCKED]);
}

#[test]
fn a_failure_that_locks_ends_the_login() {
    let mut case = Case::new(vec![Say::Text("1"), Say::Text("2")]);
    case.store.lock_after = Some(2);
    let r = case.run();
    assert_eq!(r.outcome, Outcome::Denied(DenyReason::LockedOut));
    assert_eq!(r.errors().last().map(String::as_str), Some(MSG_LOCKED));
}

#[test]
fn grace_skips_with_ignore() {
    let mut case = Case::new(vec![]);
    case.config.policy.grace = 600;
    case.store.grace = true;
    let r = case.run();
    assert_eq!(r.outcome, Outcome::Skipped(SkipReason::Grace));
    assert_eq!(r.sent(), 0);
}

#[test]
fn directory_failure_follows_policy() {
    let mut case = Case::new(vec![]);
    case.directory = DirAnswer::Down;
    assert_eq!(case.run().outcome, Outcome::Unavailable(UnavailableReason::Directory));

    let mut case = Case::new(vec![]);
    case.directory = DirAnswer::Down;
    case.config.policy.on_directory_failure = DirectoryFailurePolicy::Deny;
    assert_eq!(case.run().outcome, Outcome::Denied(DenyReason::DirectoryFailed));

    // next, with nothing after it: an outage never looks like "no phone"
    let mut case = Case::new(vec![]);
    case.directory = DirAnswer::Down;
    case.config.policy.on_directory_failure = DirectoryFailurePolicy::Next;
    case.config.policy.unenrolled = UnenrolledPolicy::Ignore;
    assert_eq!(case.run().outcome, Outcome::Unavailable(UnavailableReason::Directory));
}

#[test]
fn send_failure_follows_policy() {
    let mut case = Case::new(vec![]);
    case.sender_failures = 1;
    let r = case.run();
    assert_eq!(r.outcome, Outcome::Unavailable(UnavailableReason::Send));
    assert_eq!(r.errors(), vec![MSG_SEND_FAILED]);

    let mut case = Case::new(vec![]);
    case.sender_failures = 1;
    case.config.policy.on_send_failure = SendFailurePolicy::Deny;
    assert_eq!(case.run().outcome, Outcome::Denied(DenyReason::SendFailed));
}

#[test]
fn backup_only_prompts_and_accepts_only_a_backup_code() {
    let mut case = Case::new(vec![Say::Text("123456"), Say::Text("ABCD-EFGH")]);
    case.sender_failures = 1;
    case.config.policy.on_send_failure = SendFailurePolicy::BackupOnly;
    case.store.backup = vec!["ABCD-EFGH".into(), "JKLM-NPQR".into()];
    let r = case.run();
    assert_eq!(r.outcome, Outcome::SuccessWithBackupCode { remaining: 1 });
    assert_eq!(r.shared.prompts.borrow()[0], MSG_BACKUP_ONLY_PROMPT);
    assert_eq!(r.errors(), vec![MSG_WRONG]);
    assert_eq!(r.shared.infos.borrow().clone(), vec!["1 backup code left.".to_string()]);

    let mut case = Case::new(vec![Say::Text("x"), Say::Text("y"), Say::Text("z")]);
    case.sender_failures = 1;
    case.config.policy.on_send_failure = SendFailurePolicy::BackupOnly;
    assert_eq!(case.run().outcome, Outcome::MaxTries);
}

#[test]
fn backup_code_accepted_in_place_of_the_sms_code() {
    let mut case = Case::new(vec![Say::Text("ABCD-EFGH")]);
    case.store.backup = vec!["ABCD-EFGH".into()];
    assert_eq!(case.run().outcome, Outcome::SuccessWithBackupCode { remaining: 0 });

    let mut case = Case::new(vec![Say::Text("ABCD-EFGH"), Say::Hangup]);
    case.store.backup = vec!["ABCD-EFGH".into()];
    case.config.backup_codes.enabled = false;
    assert_eq!(case.run().outcome, Outcome::ConversationFailed, "disabled backup codes are wrong answers");
}

#[test]
fn over_the_send_limit_only_backup_codes_work() {
    let mut case = Case::new(vec![Say::Text("ABCD-EFGH")]);
    case.store.allowance = Some(SendAllowance::HourlyCap);
    case.store.backup = vec!["ABCD-EFGH".into()];
    let r = case.run();
    assert_eq!(r.sent(), 0);
    assert_eq!(r.shared.prompts.borrow()[0], MSG_BACKUP_ONLY_PROMPT);
    assert_eq!(r.outcome, Outcome::SuccessWithBackupCode { remaining: 0 });
}

#[test]
fn conversation_failure_is_conv_err() {
    let r = Case::new(vec![Say::Hangup]).run();
    assert_eq!(r.outcome, Outcome::ConversationFailed);
    let r = Case::new(vec![Say::Text("1"), Say::Hangup]).run();
    assert_eq!(r.outcome, Outcome::ConversationFailed);
}

#[test]
fn a_broken_store_follows_on_failure_and_is_never_success() {
    let mut case = Case::new(vec![]);
    case.store.broken = true;
    let r = case.run();
    assert_eq!(r.outcome, Outcome::Unavailable(UnavailableReason::Store), "the default: unavailable");
    assert_eq!(r.sent(), 0);
    assert!(r.log.0.borrow().iter().any(|(level, _)| *level == crate::log::Level::Critical));

    let mut case = Case::new(vec![]);
    case.store.read_only = true;
    case.config.state.on_failure = StoreFailurePolicy::Deny;
    let r = case.run();
    assert_eq!(r.outcome, Outcome::Denied(DenyReason::StoreFailed));
    assert_eq!(r.sent(), 0);
}

#[test]
fn degrade_still_asks_for_the_sms_code_and_refuses_backup_codes() {
    for (broken, read_only) in [(true, false), (false, true)] {
        let mut case = Case::new(vec![Say::Text("000000"), Say::Code]);
        case.store.broken = broken;
        case.store.read_only = read_only;
        case.config.state.on_failure = StoreFailurePolicy::Degrade;
        let r = case.run();
        assert_eq!(r.outcome, Outcome::Success, "a right SMS code: broken={broken}");
        assert_eq!(r.sent(), 1);
        assert_eq!(r.errors(), vec![MSG_WRONG]);
        let critical = r.log.0.borrow().iter().filter(|(level, _)| *level == crate::log::Level::Critical).count();
        assert_eq!(critical, 1, "logged at LOG_CRIT once per login");

        let mut case = Case::new(vec![Say::Text("ABCD-EFGH"), Say::Text("ABCD-EFGH"), Say::Text("ABCD-EFGH")]);
        case.store.broken = broken;
        case.store.read_only = read_only;
        case.store.backup = vec!["ABCD-EFGH".into()];
        case.config.state.on_failure = StoreFailurePolicy::Degrade;
        let r = case.run();
        assert_eq!(r.outcome, Outcome::MaxTries, "a backup code is never accepted when its use cannot be recorded");
        assert!(r.errors().contains(&MSG_NO_BACKUP_NOW.to_string()), "{:?}", r.errors());
    }
    // limits still hold where the store can be read
    let mut case = Case::new(vec![]);
    case.store.read_only = true;
    case.store.locked = true;
    case.config.state.on_failure = StoreFailurePolicy::Degrade;
    assert_eq!(case.run().outcome, Outcome::Denied(DenyReason::LockedOut));
    let mut case = Case::new(vec![]);
    case.store.read_only = true;
    case.store.allowance = Some(SendAllowance::HourlyCap);
    case.config.state.on_failure = StoreFailurePolicy::Degrade;
    case.config.backup_codes.enabled = false;
    let r = case.run();
    assert_eq!(r.sent(), 0, "the hourly cap read from the store holds");
}

#[test]
fn skip_rules_need_no_store() {
    let mut case = Case::new(vec![]);
    case.store.broken = true;
    case.config.policy.skip_groups = vec!["staff".into()];
    assert_eq!(case.run().outcome, Outcome::Skipped(SkipReason::SkipGroup));
}

#[test]
fn numbers_outside_the_allowed_prefixes_get_no_sms() {
    let mut case = Case::new(vec![]);
    case.config.phone.allowed_prefixes = vec!["+49".into(), "+43".into()];
    let r = case.run();
    assert_eq!(r.outcome, Outcome::Denied(DenyReason::PrefixNotAllowed));
    assert_eq!(r.sent(), 0);
    assert!(r.log.lines().iter().any(|l| l.contains("outside [phone] allowed_prefixes")));
    let mut case = Case::new(vec![Say::Code]);
    case.config.phone.allowed_prefixes = vec!["+1555".into()];
    assert_eq!(case.run().outcome, Outcome::Success);
}

#[test]
fn over_the_total_cap_only_backup_codes_work() {
    let mut case = Case::new(vec![Say::Text("ABCD-EFGH")]);
    case.store.allowance = Some(SendAllowance::TotalCap);
    case.store.backup = vec!["ABCD-EFGH".into()];
    let r = case.run();
    assert_eq!(r.outcome, Outcome::SuccessWithBackupCode { remaining: 0 });
    assert_eq!(r.sent(), 0);
    assert_eq!(r.shared.prompts.borrow()[0], MSG_BACKUP_ONLY_PROMPT);
    assert_eq!(r.log.lines().iter().filter(|l| l.contains("total of")).count(), 1, "said once");
}

#[test]
fn message_template_gets_every_placeholder() {
    let mut case = Case::new(vec![Say::Text("nope"), Say::Hangup]);
    case.config.message.template = "{code}|{user}|{host}|{service}|{ttl_minutes}|{seq}".into();
    case.config.otp.ttl = 90;
    let r = case.run();
    let text = r.shared.sent.borrow()[0].1.clone();
    let parts: Vec<&str> = text.split('|').collect();
    assert_eq!(parts[0].len(), 6);
    assert_eq!(&parts[1..5], &["alice", "box", "sshd", "2"]);
    assert!(r.shared.prompts.borrow()[0].contains(&format!("[{}]", parts[5])));
}

#[test]
fn the_time_budget_is_what_connectors_get() {
    struct BudgetSender(Cell<Duration>);
    impl Sender for BudgetSender {
        fn send(&self, _: &Sms<'_>, remaining: Duration, _: &dyn Log) -> Result<Receipt, SendFailed> {
            self.0.set(remaining);
            Err(SendFailed)
        }
    }
    let config = Config::parse("[limits]\nlogin_budget = 12\n").unwrap();
    let shared = Rc::new(Shared::default());
    let mut prompter = FakePrompter::new(vec![], shared.clone());
    let dirs: Vec<Box<dyn Directory>> =
        vec![Box::new(FakeDirectory(DirAnswer::Map(HashMap::from([("alice".to_string(), PHONE.to_string())]))))];
    let sender = BudgetSender(Cell::new(Duration::ZERO));
    let log = MemoryLog::default();
    let login = Login { user: "alice".into(), ..Login::default() };
    let outcome = authenticate(
        &config,
        &login,
        Deps {
            prompter: &mut prompter,
            directories: &dirs,
            sender: &sender,
            store: &mut FakeStore::default(),
            clock: &FakeClock(shared.clone()),
            accounts: &FakeAccounts(HashMap::new()),
            log: &log,
        },
    );
    assert_eq!(outcome, Outcome::Unavailable(UnavailableReason::Send));
    assert_eq!(sender.0.get(), Duration::from_secs(12));
}

#[test]
fn a_lock_set_while_this_login_waits_refuses_its_right_code() {
    let mut case = Case::new(vec![Say::Code]);
    case.store.locked_by_another = true;
    let r = case.run();
    assert_eq!(r.outcome, Outcome::Denied(DenyReason::LockedOut));
    assert_eq!(r.store.successes, 0, "the success is not recorded and lifts nothing");
    assert_eq!(r.errors(), vec![MSG_LOCKED]);
}

#[test]
fn a_lock_set_while_this_login_waits_keeps_the_backup_code() {
    let mut case = Case::new(vec![Say::Text("ABCD-EFGH")]);
    case.store.locked_by_another = true;
    case.store.backup = vec!["ABCD-EFGH".into()];
    let r = case.run();
    assert_eq!(r.outcome, Outcome::Denied(DenyReason::LockedOut));
    assert_eq!(r.store.backup, vec!["ABCD-EFGH".to_string()], "not consumed");
}

#[test]
fn a_wrong_answer_after_another_login_locked_the_user_ends_the_login() {
    let mut case = Case::new(vec![Say::Text("000000")]);
    case.store.locked_by_another = true;
    let r = case.run();
    assert_eq!(r.outcome, Outcome::Denied(DenyReason::LockedOut));
    assert_eq!(r.shared.prompts.borrow().len(), 1, "no second guess");
}

#[test]
fn a_backup_code_counts_even_when_its_notice_cannot_be_shown() {
    let mut case = Case::new(vec![Say::Text("ABCD-EFGH")]);
    case.store.backup = vec!["ABCD-EFGH".into(), "JKLM-NPQR".into()];
    case.script.push(Say::FailInfo);
    let r = case.run();
    assert_eq!(r.outcome, Outcome::SuccessWithBackupCode { remaining: 1 });
}

#[test]
fn grace_is_keyed_by_service_and_remote_host() {
    let mut case = Case::new(vec![Say::Code]);
    case.config.policy.grace = 600;
    let r = case.run();
    let key = r#"service="sshd" rhost="192.0.2.7""#.to_string();
    assert_eq!(r.store.grace_keys, vec![("alice".to_string(), Some(key.clone())), ("alice".to_string(), Some(key))]);
}

#[test]
fn without_a_remote_host_grace_is_keyed_by_terminal_and_calling_user() {
    let mut case = Case::new(vec![Say::Code]);
    case.config.policy.grace = 600;
    case.login = Login { service: "su".into(), rhost: None, tty: Some("/dev/pts/3".into()), caller_uid: 1001, ..case.login };
    let r = case.run();
    let key = r#"service="su" tty="/dev/pts/3" uid=1001"#.to_string();
    assert_eq!(r.store.grace_keys[0], ("alice".to_string(), Some(key)));
    let other = Login { caller_uid: 1002, ..Login { rhost: None, tty: Some("/dev/pts/3".into()), ..Login::default() } };
    assert_ne!(other.grace_key(), Login { caller_uid: 1001, ..other.clone() }.grace_key(), "another caller, another key");

    let mut case = Case::new(vec![Say::Code]);
    case.config.policy.grace = 600;
    case.login = Login { rhost: None, tty: None, ..case.login };
    let r = case.run();
    assert_eq!(r.store.grace_keys, vec![("alice".to_string(), None)], "no origin: no grace check, none opened");
}

#[test]
fn every_spelling_of_a_name_is_the_canonical_account() {
    for spelling in ["ALICE", "Alice", "alice@EXAMPLE.ORG"] {
        let mut case = Case::new(vec![Say::Code]);
        case.config.policy.grace = 600;
        case.login.user = spelling.into();
        let r = case.run();
        assert_eq!(r.outcome, Outcome::Success, "{spelling}");
        assert_eq!(r.shared.sent.borrow()[0].0, PHONE, "{spelling}: alice's number");
        assert!(r.store.grace_keys.iter().all(|(user, _)| user == "alice"), "{spelling}: {:?}", r.store.grace_keys);
    }
    // a lock on alice holds for every spelling, and nothing is sent
    let mut case = Case::new(vec![]);
    case.login.user = "ALICE".into();
    case.store.locked = true;
    let r = case.run();
    assert_eq!(r.outcome, Outcome::Denied(DenyReason::LockedOut));
    assert_eq!(r.sent(), 0);
    // a name the name service does not know is kept as given
    let mut case = Case::new(vec![]);
    case.login.user = "mallory".into();
    assert_eq!(case.run().outcome, Outcome::Denied(DenyReason::Unenrolled));
}

#[test]
fn the_code_in_hand_runs_on_a_monotonic_clock() {
    // the wall clock jumps a day ahead while the user types: the code still works
    let r = Case::new(vec![Say::StepWallClock(86_400), Say::Code]).run();
    assert_eq!(r.outcome, Outcome::Success);
    // stepped back an hour: the code still expires after its ttl
    let mut case = Case::new(vec![Say::StepWallClock(-3600), Say::Wait(301), Say::Code]);
    case.config.otp.ttl = 300;
    case.config.otp.max_resends = 0;
    assert_eq!(case.run().outcome, Outcome::Denied(DenyReason::Expired));
}

#[test]
fn the_password_as_an_answer_ends_the_login_without_a_failure_or_more_sms() {
    let mut case = Case::new(vec![Say::Text("Hunter2-pw")]);
    case.config.otp.max_resends = 3;
    let r = case.run();
    assert_eq!(r.outcome, Outcome::Denied(DenyReason::PasswordAsCode));
    assert_eq!(r.store.failures, 0, "not a code guess");
    assert_eq!(r.sent(), 1, "no further SMS");
    assert_eq!(r.shared.prompts.borrow().len(), 1, "ended at once");
    assert!(r.log.lines().iter().any(|l| l.contains("the answer was the login's password")), "{:?}", r.log.lines());
    assert!(!r.log.lines().iter().any(|l| l.contains("Hunter2")), "the password is never logged");
    // the right code still wins, and without a password nothing changes
    let mut case = Case::new(vec![Say::Text("000000"), Say::Code]);
    case.login.password = None;
    assert_eq!(case.run().outcome, Outcome::Success);
}

#[test]
fn no_sms_after_expiry_is_decided_like_the_first_code() {
    // every connector fails at the resend after expiry: on_send_failure decides
    let mut case = Case::new(vec![Say::Wait(301), Say::Code]);
    case.config.otp.ttl = 300;
    case.fail_after_first = true;
    let r = case.run();
    assert_eq!(r.outcome, Outcome::Unavailable(UnavailableReason::Send));
    assert_eq!(r.errors(), vec![MSG_EXPIRED, MSG_SEND_FAILED]);

    let mut case = Case::new(vec![Say::Wait(301), Say::Code, Say::Text("ABCD-EFGH")]);
    case.config.otp.ttl = 300;
    case.fail_after_first = true;
    case.config.policy.on_send_failure = SendFailurePolicy::BackupOnly;
    case.store.backup = vec!["ABCD-EFGH".into()];
    let r = case.run();
    assert_eq!(r.outcome, Outcome::SuccessWithBackupCode { remaining: 0 });
    assert_eq!(r.shared.prompts.borrow()[1], MSG_BACKUP_ONLY_PROMPT);
}

#[test]
fn backup_only_without_backup_codes_is_refused_by_the_validator() {
    let e = Config::parse("[policy]\non_send_failure = \"backup_only\"\n[backup_codes]\nenabled = false\n").unwrap_err();
    assert!(e.to_string().contains("policy.on_send_failure"), "{e}");
    assert!(Config::parse("[policy]\non_send_failure = \"backup_only\"\n").is_ok());
}

// The fake prompter is strict: these prove it, so that a test cannot pass by
// a conversation it did not script.

#[test]
#[should_panic(expected = "the script has no step left")]
fn the_fake_prompter_fails_a_prompt_its_script_does_not_answer() {
    Case::new(vec![Say::Text("000000")]).run();
}

#[test]
#[should_panic(expected = "the script was not used up")]
fn the_fake_prompter_fails_a_script_left_over() {
    Case::new(vec![Say::Code, Say::Code]).run();
}

#[test]
#[should_panic(expected = "unexpected message Error(\"Wrong code.\")")]
fn the_fake_prompter_fails_a_message_the_test_did_not_declare() {
    let mut case = Case::new(vec![Say::Text("000000"), Say::Code]);
    case.messages = Some(vec![]);
    case.run();
}

#[test]
#[should_panic(expected = "expected messages never shown")]
fn the_fake_prompter_fails_a_declared_message_never_shown() {
    let mut case = Case::new(vec![Say::Code]);
    case.messages = Some(vec![Shown::Error(MSG_WRONG.into())]);
    case.run();
}

#[test]
fn a_resend_then_a_wrong_code_shows_exactly_two_messages() {
    let mut case = Case::new(vec![Say::Text(""), Say::Text("000000"), Say::Code]);
    case.messages = Some(vec![Shown::Info(MSG_NEW_CODE.into()), Shown::Error(MSG_WRONG.into())]);
    let r = case.run();
    assert_eq!(r.outcome, Outcome::Success);
    assert_eq!(r.sent(), 2);
}

#[cfg(test)]
mod numbers;

// ---------------------------------------------------------------------------
// The audit line: exactly one per login, with the reason the flow knows

impl Result_ {
    /// The one `event=auth` line of the login (fails on none or more than one).
    fn event(&self) -> String {
        let events: Vec<String> = self.log.lines().into_iter().filter(|l| l.starts_with("event=auth ")).collect();
        assert_eq!(events.len(), 1, "exactly one event line: {:#?}", self.log.lines());
        events[0].clone()
    }
}

#[test]
fn every_login_ends_with_one_event_line_naming_its_reason() {
    let wrong = || vec![Say::Text("1"), Say::Text("2"), Say::Text("3")];
    let r = Case::new(wrong()).run();
    let seq = r.shared.prompts.borrow()[0].split('[').nth(1).and_then(|s| s.split(']').next()).unwrap().to_string();
    assert_eq!(
        r.event(),
        format!(
            "event=auth result=maxtries reason=wrong_code user=alice service=sshd rhost=192.0.2.7 seq={seq} connector=fake attempts=3 duration_ms=0"
        )
    );

    let cases: Vec<(Case, &str)> = vec![
        (Case::new(vec![Say::Code]), "result=success reason=sms_code"),
        (Case::new(vec![Say::Hangup]), "result=conv_error reason=conv_failed"),
        (Case::new(vec![Say::Text(""); 4]), "result=maxtries reason=no_code"),
        (Case::new(vec![Say::Text("Hunter2-pw")]), "result=denied reason=password_as_code"),
        (Case::new(vec![Say::Wait(301), Say::Code, Say::Wait(301), Say::Code]), "result=denied reason=expired"),
        (
            {
                let mut c = Case::new(vec![Say::Text("1"), Say::Text("2")]);
                c.store.lock_after = Some(2);
                c
            },
            "result=denied reason=lockout",
        ),
        (
            {
                let mut c = Case::new(vec![]);
                c.store.locked = true;
                c
            },
            "result=denied reason=locked",
        ),
        (
            {
                let mut c = Case::new(vec![Say::Text("ABCD-EFGH")]);
                c.store.backup = vec!["ABCD-EFGH".into()];
                c
            },
            "result=backup_code reason=backup_code",
        ),
        (
            {
                let mut c = Case::new(vec![]);
                c.store.allowance = Some(SendAllowance::HourlyCap);
                c.config.backup_codes.enabled = false;
                c.messages = None;
                c
            },
            "result=denied reason=send_limited",
        ),
        (
            {
                let mut c = Case::new(vec![]);
                c.sender_failures = 10;
                c
            },
            "result=unavailable reason=send_failed",
        ),
        (
            {
                let mut c = Case::new(vec![]);
                c.store.broken = true;
                c
            },
            "result=unavailable reason=store_failed",
        ),
        (
            {
                let mut c = Case::new(vec![]);
                c.config.policy.grace = 60;
                c.store.grace = true;
                c
            },
            "result=skipped reason=grace",
        ),
        (
            {
                let mut c = Case::new(vec![]);
                c.config.phone.allowed_prefixes = vec!["+49".into()];
                c
            },
            "result=denied reason=prefix_refused",
        ),
        (
            {
                let mut c = Case::new(vec![]);
                c.directory = DirAnswer::Map(HashMap::new());
                c
            },
            "result=denied reason=no_phone",
        ),
    ];
    for (case, expected) in cases {
        let r = case.run();
        let line = r.event();
        assert!(line.starts_with(&format!("event=auth {expected} user=alice service=sshd rhost=192.0.2.7 ")), "{expected}: {line}");
        r.no_secrets_logged();
    }
}

#[test]
fn the_event_counts_attempts_and_time_on_the_monotonic_clock() {
    let r = Case::new(vec![Say::Text("1"), Say::Wait(7), Say::Code]).run();
    let line = r.event();
    assert!(line.starts_with("event=auth result=success reason=sms_code "), "{line}");
    assert!(line.ends_with(" connector=fake attempts=2 duration_ms=7000"), "{line}");
    // no code and no full number, whatever the line holds
    r.no_secrets_logged();
}

#[test]
fn configured_texts_replace_the_defaults_with_their_placeholders_filled() {
    let mut case = Case::new(vec![Say::Text("1"), Say::Text("2"), Say::Text("3")]);
    case.config.messages.wrong = Some("Falsch, {user}.".into());
    case.config.messages.too_many = Some("Zu viele ({service}).".into());
    case.config.messages.prompt = Some("Code für {user} an {phone}: ".into());
    let r = case.run();
    assert_eq!(r.outcome, Outcome::MaxTries);
    assert_eq!(r.errors(), vec!["Falsch, alice.", "Falsch, alice.", "Zu viele (sshd)."]);
    assert_eq!(r.shared.prompts.borrow()[0], "Code für alice an +*********67: ");

    let mut case = Case::new(vec![Say::Text("ABCD-EFGH")]);
    case.store.backup = vec!["ABCD-EFGH".into(), "ABCD-EFGJ".into()];
    case.config.messages.backup_code_left = Some("Noch {remaining} Code.".into());
    case.messages = Some(vec![Shown::Info("Noch 1 Code.".into())]);
    assert_eq!(case.run().outcome, Outcome::SuccessWithBackupCode { remaining: 1 });
}

#[test]
fn each_sms_is_counted_per_connector_and_a_failed_count_never_fails_the_login() {
    let mut case = Case::new(vec![Say::Text(""), Say::Code]);
    case.store.sent = Some(Vec::new());
    let r = case.run();
    assert_eq!(r.outcome, Outcome::Success);
    assert_eq!(r.store.sent, Some(vec!["fake".to_string(), "fake".to_string()]), "the first code and the resend");

    let r = Case::new(vec![Say::Code]).run();
    assert_eq!(r.outcome, Outcome::Success, "counting failed (sent = None), the login did not");
    assert!(r.log.lines().iter().any(|l| l.contains("could not be counted")), "{:?}", r.log.lines());
}
