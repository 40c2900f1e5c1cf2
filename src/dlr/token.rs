//! Per-message report tokens.
//!
//! Layout: 15 bytes, base64url without padding = 20 characters, so that the
//! token fits BulkSMS's 20-character `userSuppliedId` and leaves room in
//! Vonage's 100-character `callback`:
//!
//! ```text
//! id (6 random bytes) | expiry (u32, big-endian Unix seconds) | tag (5 bytes)
//! tag = HMAC-SHA256(secret_file key, "smsotp-dlr-token-v1" 0x00 id expiry)[..5]
//! ```
//!
//! The message id is the first 8 characters of the token. The tag is cut to 40
//! bits for the length; a forged report must also name a message that was
//! sent (48 random bits the receiver looks up), so guessing one that changes
//! anything is a 2^-88 chance per request, and the receiver bounds the rate.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::hmac;
use subtle::ConstantTimeEq;

const ID_BYTES: usize = 6;
const EXPIRY_BYTES: usize = 4;
const TAG_BYTES: usize = 5;
const TOKEN_BYTES: usize = ID_BYTES + EXPIRY_BYTES + TAG_BYTES;
/// Characters of a token (base64url of 15 bytes).
pub const TOKEN_CHARS: usize = 20;
/// Characters of a message id (base64url of 6 bytes).
pub const ID_CHARS: usize = 8;
const DOMAIN: &[u8] = b"smsotp-dlr-token-v1\0";

/// A sent message's id: 6 random bytes, written as 8 base64url characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageId([u8; ID_BYTES]);

impl MessageId {
    pub fn random() -> Result<MessageId, TokenError> {
        let mut id = [0u8; ID_BYTES];
        getrandom::fill(&mut id).map_err(|_| TokenError::NoRandomness)?;
        Ok(MessageId(id))
    }

    pub fn from_bytes(bytes: [u8; ID_BYTES]) -> MessageId {
        MessageId(bytes)
    }

    /// 8 characters of [A-Za-z0-9_-]: safe as a file name and URL segment.
    pub fn as_text(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.0)
    }

    pub fn parse(text: &str) -> Option<MessageId> {
        if text.len() != ID_CHARS {
            return None;
        }
        let bytes = URL_SAFE_NO_PAD.decode(text).ok()?;
        Some(MessageId(bytes.try_into().ok()?))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("not a report token")]
    Malformed,
    #[error("the token's signature does not match")]
    Forged,
    #[error("the token has expired")]
    Expired,
    #[error("no randomness for a message id")]
    NoRandomness,
}

/// A token the receiver accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    pub id: MessageId,
    pub expires: u64,
}

fn tag(key: &[u8], id: &MessageId, expiry: [u8; EXPIRY_BYTES]) -> [u8; TAG_BYTES] {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    let mut ctx = hmac::Context::with_key(&key);
    ctx.update(DOMAIN);
    ctx.update(&id.0);
    ctx.update(&expiry);
    let full = ctx.sign();
    let mut out = [0u8; TAG_BYTES];
    out.copy_from_slice(&full.as_ref()[..TAG_BYTES]);
    out
}

/// The token for message `id`, accepted until `expires` (Unix seconds, clamped
/// to what 32 bits hold).
pub fn issue(key: &[u8], id: &MessageId, expires: u64) -> String {
    let expiry = u32::try_from(expires).unwrap_or(u32::MAX).to_be_bytes();
    let mut bytes = [0u8; TOKEN_BYTES];
    bytes[..ID_BYTES].copy_from_slice(&id.0);
    bytes[ID_BYTES..ID_BYTES + EXPIRY_BYTES].copy_from_slice(&expiry);
    bytes[ID_BYTES + EXPIRY_BYTES..].copy_from_slice(&tag(key, id, expiry));
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Check a token's form, tag (in constant time) and expiry at `now`.
pub fn verify(key: &[u8], token: &str, now: u64) -> Result<Verified, TokenError> {
    if token.len() != TOKEN_CHARS {
        return Err(TokenError::Malformed);
    }
    let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| TokenError::Malformed)?;
    let bytes: [u8; TOKEN_BYTES] = bytes.try_into().map_err(|_| TokenError::Malformed)?;
    let mut id = [0u8; ID_BYTES];
    id.copy_from_slice(&bytes[..ID_BYTES]);
    let id = MessageId(id);
    let mut expiry = [0u8; EXPIRY_BYTES];
    expiry.copy_from_slice(&bytes[ID_BYTES..ID_BYTES + EXPIRY_BYTES]);
    let expected = tag(key, &id, expiry);
    if !bool::from(expected.ct_eq(&bytes[ID_BYTES + EXPIRY_BYTES..])) {
        return Err(TokenError::Forged);
    }
    let expires = u64::from(u32::from_be_bytes(expiry));
    if now > expires {
        return Err(TokenError::Expired);
    }
    Ok(Verified { id, expires })
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";

    #[test]
    fn a_token_is_twenty_url_safe_characters_and_verifies() {
        let id = MessageId::from_bytes([1, 2, 3, 4, 5, 6]);
        let token = issue(KEY, &id, 2_000_000_000);
        assert_eq!(token.len(), TOKEN_CHARS);
        assert!(token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert!(token.starts_with(&id.as_text()));
        assert_eq!(verify(KEY, &token, 1_999_999_999), Ok(Verified { id, expires: 2_000_000_000 }));
        assert_eq!(verify(KEY, &token, 2_000_000_000).map(|v| v.id), Ok(id));
    }

    #[test]
    fn expired_forged_and_malformed_tokens_are_refused() {
        let id = MessageId::from_bytes([9; 6]);
        let token = issue(KEY, &id, 1000);
        assert_eq!(verify(KEY, &token, 1001), Err(TokenError::Expired));
        assert_eq!(verify(b"another key, just as long......", &token, 10), Err(TokenError::Forged));
        // every single-character change of a valid token is refused
        for i in 0..token.len() {
            for c in ['A', 'z', '0', '-', '_'] {
                let mut t: Vec<char> = token.chars().collect();
                if t[i] == c {
                    continue;
                }
                t[i] = c;
                let t: String = t.into_iter().collect();
                assert!(verify(KEY, &t, 10).is_err(), "{t} accepted");
            }
        }
        // moving the expiry forward breaks the tag
        let later = issue(KEY, &id, 5000);
        let spliced = format!("{}{}{}", &later[..8], &later[8..14], &token[14..]);
        assert!(verify(KEY, &spliced, 10).is_err());
        for bad in ["", "short", &format!("{token}A"), "!!!!!!!!!!!!!!!!!!!!", "AAAAAAAAAAAAAAAAAAA="] {
            assert!(verify(KEY, bad, 10).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn ids_round_trip_and_are_random() {
        let a = MessageId::random().unwrap();
        let b = MessageId::random().unwrap();
        assert_ne!(a, b);
        assert_eq!(MessageId::parse(&a.as_text()), Some(a));
        assert_eq!(MessageId::parse("../../etc"), None);
        assert_eq!(MessageId::parse("AAAAAAA="), None);
    }
}
