//! One-time enrolment codes: "ENR-XXXX-XXXX-XXXX-XXXX", 16 symbols of 32 (80
//! bits). The "ENR" and the four groups set them apart from SMS codes (no
//! dash) and backup codes ("XXXX-XXXX"); only an argon2id hash is stored.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use zeroize::Zeroizing;

use super::backup::{BackupError, check_hash};
use crate::otp::random_string;

const ALPHABET: &[u8] = b"23456789ABCDEFGHJKLMNPQRSTUVWXYZ";
const LEN: usize = 16;
const PREFIX: &str = "ENR";
/// Longer answers are not looked at (a pasted novel costs nothing).
const MAX_ANSWER: usize = 64;

/// A fresh code, formatted for people.
pub fn generate() -> Result<Zeroizing<String>, BackupError> {
    let raw = random_string(ALPHABET, LEN).map_err(|_| BackupError::Random)?;
    Ok(Zeroizing::new(format!("{PREFIX}-{}-{}-{}-{}", &raw[..4], &raw[4..8], &raw[8..12], &raw[12..])))
}

/// What a typed answer means as an enrolment code: upper case, without
/// spaces, dashes and the "ENR" in front; None when it cannot be one.
pub fn normalise(answer: &str) -> Option<Zeroizing<String>> {
    if answer.len() > MAX_ANSWER {
        return None;
    }
    let s: Zeroizing<String> =
        Zeroizing::new(answer.chars().filter(|c| *c != '-' && !c.is_whitespace()).map(|c| c.to_ascii_uppercase()).collect());
    // "ENR" only in front of a whole code: a bare code may itself start with E, N, R
    let body = if s.len() == PREFIX.len() + LEN { s.strip_prefix(PREFIX)? } else { &s };
    (body.len() == LEN && body.bytes().all(|b| ALPHABET.contains(&b))).then(|| Zeroizing::new(body.to_string()))
}

pub fn hash(code: &str) -> Result<String, BackupError> {
    let normalised = normalise(code).ok_or_else(|| BackupError::Hash("not an enrolment code".into()))?;
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|_| BackupError::Random)?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| BackupError::Hash(e.to_string()))?;
    Argon2::default().hash_password(normalised.as_bytes(), &salt).map(|h| h.to_string()).map_err(|e| BackupError::Hash(e.to_string()))
}

/// Does `answer` match `hash`? A hash that is not the module's own never matches.
pub fn matches(answer: &str, hash: &str) -> bool {
    let Some(normalised) = normalise(answer) else { return false };
    check_hash(hash).is_ok()
        && PasswordHash::new(hash).is_ok_and(|parsed| Argon2::default().verify_password(normalised.as_bytes(), &parsed).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_that_starts_with_the_prefix_letters_normalises_to_itself() {
        // found by the numbers_decode fuzz target: "ENR" was stripped from a bare code
        let code = normalise("ENR--ENR--2HBAHB2HBAHBA").expect("ENR + a code starting with ENR");
        assert_eq!(code.as_str(), "ENR2HBAHB2HBAHBA");
        assert_eq!(normalise(&code).as_deref().map(String::as_str), Some("ENR2HBAHB2HBAHBA"));
        assert!(normalise("ENRK7WQ3MRD9XTP2HB").is_none(), "the prefix and 15 characters");
    }

    #[test]
    fn codes_have_their_own_shape() {
        let code = generate().unwrap();
        assert_eq!(code.len(), 23);
        assert!(code.starts_with("ENR-"));
        assert!(normalise(&code).is_some());
        assert!(normalise(&code.to_lowercase().replace('-', " ")).is_some(), "typed loosely");
        assert!(normalise(&code[4..]).is_some(), "without ENR");
        assert!(crate::state::backup::normalise(&code).is_none(), "not a backup code");
        for bad in [
            "",
            "123456",
            "K7WQ-3MRD",
            "ENR-K7WQ-3MRD-9XTP-2HB",
            "ENR-K7WQ-3MRD-9XTP-2HBA1",
            "ENR-K7WQ-3MRD-9XTP-2HB0",
            "ENR-K7WQ-3MRD-9XTP-2HB\u{0}",
            "ENR-K7WQ-3MRD-9XTP-2HBÄ",
        ] {
            assert!(normalise(bad).is_none(), "{bad:?}");
        }
        assert!(normalise(&"A".repeat(100_000)).is_none());
    }

    #[test]
    fn a_hash_matches_its_code_only() {
        let code = generate().unwrap();
        let h = hash(&code).unwrap();
        assert!(matches(&code, &h));
        assert!(matches(&code.to_lowercase(), &h));
        assert!(!matches(&generate().unwrap(), &h));
        assert!(!matches(&code, "$argon2id$v=19$m=4096,t=1,p=1$c2FsdHNhbHQ$aGFzaA"));
        assert!(!matches(&code, "garbage"));
    }
}
