//! Single-use backup codes: "XXXX-XXXX" from 32 symbols (40 bits), told apart
//! from SMS codes by the dash and the letters; only argon2id hashes are stored.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use zeroize::Zeroizing;

use crate::otp::random_string;

const ALPHABET: &[u8] = b"23456789ABCDEFGHJKLMNPQRSTUVWXYZ";
const LEN: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("the system random number generator failed")]
    Random,
    #[error("hashing failed: {0}")]
    Hash(String),
}

/// A fresh code, formatted for people: "K7WQ-3MRD".
pub fn generate() -> Result<Zeroizing<String>, BackupError> {
    let raw = random_string(ALPHABET, LEN).map_err(|_| BackupError::Random)?;
    Ok(Zeroizing::new(format!("{}-{}", &raw[..4], &raw[4..])))
}

/// What a typed answer means as a backup code: upper case, without spaces and
/// dashes; None when it cannot be one (so an SMS code costs no hashing).
pub fn normalise(answer: &str) -> Option<Zeroizing<String>> {
    let s: Zeroizing<String> =
        Zeroizing::new(answer.chars().filter(|c| *c != '-' && !c.is_whitespace()).map(|c| c.to_ascii_uppercase()).collect());
    (s.len() == LEN && s.bytes().all(|b| ALPHABET.contains(&b))).then_some(s)
}

pub fn hash(code: &str) -> Result<String, BackupError> {
    let normalised = normalise(code).ok_or_else(|| BackupError::Hash("not a backup code".into()))?;
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|_| BackupError::Random)?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| BackupError::Hash(e.to_string()))?;
    Argon2::default().hash_password(normalised.as_bytes(), &salt).map(|h| h.to_string()).map_err(|e| BackupError::Hash(e.to_string()))
}

/// The index of the hash that `answer` matches, if any. A stored hash that does
/// not parse never matches.
pub fn find(answer: &str, hashes: &[String]) -> Option<usize> {
    let normalised = normalise(answer)?;
    hashes
        .iter()
        .position(|h| PasswordHash::new(h).is_ok_and(|parsed| Argon2::default().verify_password(normalised.as_bytes(), &parsed).is_ok()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_look_different_from_sms_codes() {
        let c = generate().unwrap();
        assert_eq!(c.len(), 9);
        assert_eq!(&c[4..5], "-");
        assert!(normalise(&c).is_some());
        assert!(normalise("123456").is_none(), "a 6-digit SMS code is never tried as a backup code");
        assert!(normalise("k7wq 3mrd").is_some(), "case and spacing do not matter");
        assert!(normalise("K7WQ-3MR0").is_none(), "0 is not in the alphabet");
    }

    #[test]
    fn a_hash_matches_its_code_only() {
        let a = generate().unwrap();
        let b = generate().unwrap();
        let hashes = vec![hash(&a).unwrap(), hash(&b).unwrap()];
        assert!(hashes[0].starts_with("$argon2id$"));
        assert!(!hashes[0].contains(&a[..4]));
        assert_eq!(find(&a, &hashes), Some(0));
        assert_eq!(find(&b.to_lowercase().replace('-', " "), &hashes), Some(1));
        assert_eq!(find("2222-2222", &hashes), None);
        assert_eq!(find(&a, &["garbage".to_string(), hashes[0].clone()]), Some(1));
    }
}
