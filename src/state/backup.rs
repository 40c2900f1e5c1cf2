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

/// Is `hash` one the module wrote: argon2id, version 0x13, the module's own
/// memory, time and parallelism costs, a 32-byte output? A stored hash that
/// names other costs could make one login allocate gigabytes or spin for
/// minutes, so it is never verified.
pub fn check_hash(hash: &str) -> Result<(), String> {
    let parsed = PasswordHash::new(hash).map_err(|_| "not a PHC string".to_string())?;
    if parsed.algorithm != argon2::Algorithm::Argon2id.ident() {
        return Err("not argon2id".into());
    }
    if parsed.version != Some(argon2::Version::V0x13.into()) {
        return Err("not argon2 version 19".into());
    }
    // compared as written, not through argon2::Params, whose checks overflow on
    // a huge p (a panic wherever overflow checks are on)
    let ours = argon2::Params::default();
    let cost = |name: &str| parsed.params.get_decimal(name);
    let written = (cost("m"), cost("t"), cost("p"), parsed.params.iter().count());
    if written != (Some(ours.m_cost()), Some(ours.t_cost()), Some(ours.p_cost()), 3) {
        return Err("other argon2 parameters".into());
    }
    match (parsed.salt, parsed.hash) {
        (Some(_), Some(output)) if output.len() == argon2::Params::DEFAULT_OUTPUT_LEN => Ok(()),
        _ => Err("no salt or an output of another length".into()),
    }
}

/// The index of the hash that `answer` matches, if any. A stored hash that does
/// not parse, or is not the module's own, never matches.
pub fn find(answer: &str, hashes: &[String]) -> Option<usize> {
    let normalised = normalise(answer)?;
    hashes.iter().position(|h| {
        check_hash(h).is_ok()
            && PasswordHash::new(h).is_ok_and(|parsed| Argon2::default().verify_password(normalised.as_bytes(), &parsed).is_ok())
    })
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

    #[test]
    fn only_the_module_s_own_hashes_are_ever_verified() {
        let code = generate().unwrap();
        let ours = hash(&code).unwrap();
        assert_eq!(check_hash(&ours), Ok(()));
        let salt = "c2FsdHNhbHRzYWx0";
        let out = "YWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWE";
        for foreign in [
            format!("$argon2id$v=19$m=4194304,t=2,p=1${salt}${out}"),
            format!("$argon2id$v=19$m=19456,t=4294967295,p=1${salt}${out}"),
            format!("$argon2id$v=19$m=19456,t=2,p=255${salt}${out}"),
            format!("$argon2id$v=19$m=19456,t=2,p=1,data=YWJj${salt}${out}"),
            format!("$argon2id$v=19$m=19456,t=2,p=1,keyid=YWJj${salt}${out}"),
            format!("$argon2id$v=19$t=2,p=1${salt}${out}"),
            format!("$argon2i$v=19$m=19456,t=2,p=1${salt}${out}"),
            format!("$argon2id$v=16$m=19456,t=2,p=1${salt}${out}"),
            format!("$argon2id$v=19$m=19456,t=2,p=1${salt}$YWFh"),
            "$scrypt$ln=16,r=8,p=1$aM15713r3Xsvxbi31lqr1Q$nFNh2CVHVjNldFVKDHDlm4CbdRSCdEBsjjJxD+iCs5E".to_string(),
        ] {
            assert!(check_hash(&foreign).is_err(), "{foreign}");
            assert_eq!(find(&code, std::slice::from_ref(&foreign)), None, "{foreign}");
        }
    }

    #[test]
    fn a_huge_parallelism_is_refused_not_a_panic() {
        // argon2's own parameter checks compute 8 * p in u32 (found by fuzz/backup_code)
        let hash = "$argon2id$v=19$m=19456,t=2,p=4294967295$c2FsdHNhbHRzYWx0$YWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWE";
        assert_eq!(check_hash(hash), Err("other argon2 parameters".to_string()));
        assert_eq!(find("K7WQ-3MRD", &[hash.to_string()]), None);
    }
}
