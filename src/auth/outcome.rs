//! How a login ends. src/pam/codes.rs maps each Outcome to exactly one PAM code.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    /// The stack runs without root (a screen locker): the module cannot work there.
    NotRoot,
    SkipGroup,
    NotInOnlyGroups,
    TrustedNetwork,
    Grace,
    Unenrolled,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DenyReason {
    Unenrolled,
    LockedOut,
    Expired,
    SendFailed,
    DirectoryFailed,
    /// The directory holds an entry for the user that is not a usable number.
    BadNumber,
    /// The answer was the login's password: a client that cannot do a second factor.
    PasswordAsCode,
    /// The state store failed ([state] on_failure = "deny").
    StoreFailed,
    /// The number is outside `[phone] allowed_prefixes`.
    PrefixNotAllowed,
    /// The directories' number differs from the pinned one and `[phone] on_change = "deny"`.
    NumberChanged,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnavailableReason {
    Directory,
    Send,
    /// The state store failed ([state] on_failure = "unavailable").
    Store,
    /// The name service could not say who the user is.
    Accounts,
}

/// How a login ended. src/pam/codes.rs maps each to exactly one PAM code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Success,
    SuccessWithBackupCode {
        remaining: usize,
    },
    Skipped(SkipReason),
    Denied(DenyReason),
    MaxTries,
    Unavailable(UnavailableReason),
    ServiceError(String),
    ConversationFailed,
    /// PAM_USER is missing or not a usable name.
    UnusableUser,
}
