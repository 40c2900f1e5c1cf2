//! The one place where an outcome becomes a PAM return code.

use pam::constants::PamResultCode;

use crate::auth::Outcome;

pub fn pam_code(outcome: &Outcome) -> PamResultCode {
    match outcome {
        Outcome::Success | Outcome::SuccessWithBackupCode { .. } => PamResultCode::PAM_SUCCESS,
        Outcome::Skipped(_) => PamResultCode::PAM_IGNORE,
        Outcome::Denied(_) => PamResultCode::PAM_AUTH_ERR,
        Outcome::MaxTries => PamResultCode::PAM_MAXTRIES,
        Outcome::Unavailable(_) => PamResultCode::PAM_AUTHINFO_UNAVAIL,
        Outcome::ServiceError(_) => PamResultCode::PAM_SERVICE_ERR,
        Outcome::ConversationFailed => PamResultCode::PAM_CONV_ERR,
        Outcome::UnusableUser => PamResultCode::PAM_USER_UNKNOWN,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{DenyReason, SkipReason, UnavailableReason};

    #[test]
    fn only_successes_map_to_pam_success() {
        let not_success = [
            Outcome::Skipped(SkipReason::Grace),
            Outcome::Denied(DenyReason::LockedOut),
            Outcome::MaxTries,
            Outcome::Unavailable(UnavailableReason::Send),
            Outcome::ServiceError("x".into()),
            Outcome::ConversationFailed,
            Outcome::UnusableUser,
        ];
        for o in not_success {
            assert_ne!(pam_code(&o), PamResultCode::PAM_SUCCESS, "{o:?}");
        }
        assert_eq!(pam_code(&Outcome::SuccessWithBackupCode { remaining: 1 }), PamResultCode::PAM_SUCCESS);
        assert_eq!(pam_code(&Outcome::Skipped(SkipReason::SkipGroup)), PamResultCode::PAM_IGNORE);
        assert_eq!(pam_code(&Outcome::MaxTries), PamResultCode::PAM_MAXTRIES);
    }
}
