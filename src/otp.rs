//! One-time codes: generation from the OS CSPRNG, constant-time checks, expiry.

use std::time::Duration;

use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::config::Charset;

const DIGITS: &[u8] = b"0123456789";
/// Upper-case letters and digits without the look-alikes 0/O and 1/I.
const ALPHANUMERIC: &[u8] = b"23456789ABCDEFGHJKLMNPQRSTUVWXYZ";
const SEQ_ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ";

#[derive(Debug, thiserror::Error)]
#[error("the system random number generator failed")]
pub struct RandomError;

/// `len` symbols drawn uniformly from `alphabet` (rejection sampling, no modulo bias).
pub fn random_string(alphabet: &[u8], len: usize) -> Result<Zeroizing<String>, RandomError> {
    let n = alphabet.len();
    debug_assert!(n > 0 && n <= 256);
    let limit = 256 - (256 % n);
    let mut out = Zeroizing::new(String::with_capacity(len));
    let mut buf = Zeroizing::new([0u8; 64]);
    while out.len() < len {
        getrandom::fill(&mut buf[..]).map_err(|_| RandomError)?;
        for &b in buf.iter() {
            if (b as usize) < limit && out.len() < len {
                out.push(alphabet[b as usize % n] as char);
            }
        }
    }
    Ok(out)
}

/// A code sent by SMS, with the (monotonic) time it was issued; zeroed on drop.
pub struct Code {
    value: Zeroizing<String>,
    charset: Charset,
    issued_at: Duration,
    ttl: Duration,
    /// A short tag printed in both the SMS and the prompt, so the user can tell codes apart.
    pub seq: String,
}

impl std::fmt::Debug for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Code").field("seq", &self.seq).finish_non_exhaustive()
    }
}

impl Code {
    pub fn generate(length: u32, charset: Charset, now: Duration, ttl: Duration) -> Result<Code, RandomError> {
        let alphabet = match charset {
            Charset::Digits => DIGITS,
            Charset::Alphanumeric => ALPHANUMERIC,
        };
        let value = random_string(alphabet, length as usize)?;
        let seq = random_string(SEQ_ALPHABET, 2)?.to_string();
        Ok(Code { value, charset, issued_at: now, ttl, seq })
    }

    #[cfg(test)]
    pub fn fixed(value: &str, charset: Charset, now: Duration, ttl: Duration) -> Code {
        Code { value: Zeroizing::new(value.into()), charset, issued_at: now, ttl, seq: "AB".into() }
    }

    pub fn expose(&self) -> &str {
        &self.value
    }

    /// `now` on the clock the code was issued on (the flow uses a monotonic one).
    pub fn is_expired(&self, now: Duration) -> bool {
        now >= self.issued_at.saturating_add(self.ttl)
    }

    /// Constant-time comparison of a (trimmed) answer. Alphanumeric codes are
    /// case-insensitive because phones often capitalise the first letter typed.
    pub fn matches(&self, answer: &str) -> bool {
        let answer = answer.trim();
        let normalised: Zeroizing<String> = match self.charset {
            Charset::Digits => Zeroizing::new(answer.to_string()),
            Charset::Alphanumeric => Zeroizing::new(answer.to_ascii_uppercase()),
        };
        constant_time_eq(normalised.as_bytes(), self.value.as_bytes())
    }
}

/// Equal-length inputs are compared in constant time; a length mismatch says only that.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Duration = Duration::from_secs(1_000);
    const TTL: Duration = Duration::from_secs(300);

    #[test]
    fn digits_have_the_configured_length_and_alphabet() {
        for len in 4..=10 {
            let c = Code::generate(len, Charset::Digits, NOW, TTL).unwrap();
            assert_eq!(c.expose().len(), len as usize);
            assert!(c.expose().bytes().all(|b| b.is_ascii_digit()));
        }
    }

    #[test]
    fn alphanumeric_avoids_look_alikes() {
        let c = Code::generate(10, Charset::Alphanumeric, NOW, TTL).unwrap();
        assert!(c.expose().bytes().all(|b| ALPHANUMERIC.contains(&b)));
        let all = random_string(ALPHANUMERIC, 5000).unwrap();
        for bad in ['0', 'O', '1', 'I'] {
            assert!(!all.contains(bad));
        }
    }

    #[test]
    fn codes_are_not_repeated_and_roughly_uniform() {
        let s = random_string(DIGITS, 100_000).unwrap();
        let mut counts = [0usize; 10];
        for b in s.bytes() {
            counts[(b - b'0') as usize] += 1;
        }
        for c in counts {
            assert!((9_000..11_000).contains(&c), "digit count {c} is far from 10000");
        }
        let a = Code::generate(10, Charset::Digits, NOW, TTL).unwrap();
        let b = Code::generate(10, Charset::Digits, NOW, TTL).unwrap();
        assert_ne!(a.expose(), b.expose());
    }

    #[test]
    fn matching_trims_and_compares_exactly() {
        let c = Code::fixed("123456", Charset::Digits, NOW, TTL);
        assert!(c.matches("123456"));
        assert!(c.matches("  123456 \n"));
        assert!(!c.matches("12345"));
        assert!(!c.matches("1234567"));
        assert!(!c.matches("123457"));
        assert!(!c.matches(""));
        let a = Code::fixed("AB7K", Charset::Alphanumeric, NOW, TTL);
        assert!(a.matches("ab7k"));
        assert!(!a.matches("AB7L"));
    }

    #[test]
    fn expiry_is_at_issue_time_plus_ttl() {
        let c = Code::fixed("1234", Charset::Digits, NOW, TTL);
        assert!(!c.is_expired(NOW + TTL - Duration::from_millis(1)));
        assert!(c.is_expired(NOW + TTL));
    }

    #[test]
    fn debug_never_shows_the_code() {
        let c = Code::fixed("987654", Charset::Digits, NOW, TTL);
        assert!(!format!("{c:?}").contains("987654"));
    }
}
