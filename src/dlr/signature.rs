//! Provider signatures on delivery reports, checked by `smsotp-dlrd` where a
//! connector has `dlr_signing_key_file`: Twilio's X-Twilio-Signature
//! (HMAC-SHA1 over the URL and the sorted POST parameters), Telnyx's Ed25519
//! over "timestamp|body", MessageBird's HS256/384/512 JWT with the URL's and
//! body's SHA-256. A report whose signature is missing or wrong is refused.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::{hmac, signature};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::request::form_pairs;

/// How far a signed timestamp may be from the receiver's clock.
pub const TOLERANCE_SECS: u64 = 300;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("no signature")]
    Missing,
    #[error("the signature does not match")]
    Wrong,
    #[error("the signature is too old or too new")]
    Stale,
    #[error("the signing key is not usable")]
    BadKey,
}

/// What a signature covers.
pub struct Signed<'a> {
    /// The public URL the provider called, with its query.
    pub url: &'a str,
    /// Lower-case header names.
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
    /// The body is a form (its parameters are signed, for Twilio).
    pub form: bool,
    pub now: u64,
}

impl Signed<'_> {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// Check the signature of a report for a connector of type `kind` with `key`.
pub fn verify(kind: &str, key: &str, s: &Signed<'_>) -> Result<(), SignatureError> {
    match kind {
        "twilio" => twilio(key, s),
        "telnyx" => telnyx(key, s),
        "messagebird" => messagebird(key, s),
        _ => Err(SignatureError::BadKey),
    }
}

fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// The string Twilio signs: the URL, then each POST parameter's name and value,
/// sorted by name.
pub fn twilio_payload(url: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    let mut out = url.to_string();
    for (k, v) in sorted {
        out.push_str(k);
        out.push_str(v);
    }
    out
}

fn twilio(key: &str, s: &Signed<'_>) -> Result<(), SignatureError> {
    let given = s.header("x-twilio-signature").ok_or(SignatureError::Missing)?;
    let given = STANDARD.decode(given.trim()).map_err(|_| SignatureError::Wrong)?;
    let params = if s.form { form_pairs(&String::from_utf8_lossy(s.body)) } else { Vec::new() };
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, key.as_bytes());
    let expected = hmac::sign(&key, twilio_payload(s.url, &params).as_bytes());
    if same(expected.as_ref(), &given) { Ok(()) } else { Err(SignatureError::Wrong) }
}

fn fresh(timestamp: u64, now: u64) -> Result<(), SignatureError> {
    if timestamp.abs_diff(now) > TOLERANCE_SECS { Err(SignatureError::Stale) } else { Ok(()) }
}

fn telnyx(public_key: &str, s: &Signed<'_>) -> Result<(), SignatureError> {
    let sig = s.header("telnyx-signature-ed25519").ok_or(SignatureError::Missing)?;
    let timestamp = s.header("telnyx-timestamp").ok_or(SignatureError::Missing)?;
    let when: u64 = timestamp.trim().parse().map_err(|_| SignatureError::Wrong)?;
    let key = STANDARD.decode(public_key.trim()).map_err(|_| SignatureError::BadKey)?;
    if key.len() != 32 {
        return Err(SignatureError::BadKey);
    }
    let sig = STANDARD.decode(sig.trim()).map_err(|_| SignatureError::Wrong)?;
    let mut message = timestamp.trim().as_bytes().to_vec();
    message.push(b'|');
    message.extend_from_slice(s.body);
    signature::UnparsedPublicKey::new(&signature::ED25519, &key).verify(&message, &sig).map_err(|_| SignatureError::Wrong)?;
    fresh(when, s.now)
}

fn hex_sha256(bytes: &[u8]) -> String {
    crate::hex::lower(&Sha256::digest(bytes))
}

fn messagebird(key: &str, s: &Signed<'_>) -> Result<(), SignatureError> {
    let jwt = s.header("messagebird-signature-jwt").ok_or(SignatureError::Missing)?;
    let mut parts = jwt.trim().split('.');
    let (Some(h), Some(p), Some(sig), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(SignatureError::Wrong);
    };
    let json = |part: &str| -> Result<serde_json::Value, SignatureError> {
        let bytes = URL_SAFE_NO_PAD.decode(part).map_err(|_| SignatureError::Wrong)?;
        serde_json::from_slice(&bytes).map_err(|_| SignatureError::Wrong)
    };
    let header = json(h)?;
    let algorithm = match header.get("alg").and_then(|a| a.as_str()) {
        Some("HS256") => hmac::HMAC_SHA256,
        Some("HS384") => hmac::HMAC_SHA384,
        Some("HS512") => hmac::HMAC_SHA512,
        _ => return Err(SignatureError::Wrong),
    };
    let sig = URL_SAFE_NO_PAD.decode(sig).map_err(|_| SignatureError::Wrong)?;
    let expected = hmac::sign(&hmac::Key::new(algorithm, key.as_bytes()), format!("{h}.{p}").as_bytes());
    if !same(expected.as_ref(), &sig) {
        return Err(SignatureError::Wrong);
    }
    let claims = json(p)?;
    let text = |k: &str| claims.get(k).and_then(|v| v.as_str());
    let number = |k: &str| claims.get(k).and_then(|v| v.as_u64());
    if text("iss") != Some("MessageBird") || text("url_hash") != Some(hex_sha256(s.url.as_bytes()).as_str()) {
        return Err(SignatureError::Wrong);
    }
    let payload_ok = match text("payload_hash") {
        Some(hash) => hash == hex_sha256(s.body),
        None => s.body.is_empty(),
    };
    if !payload_ok {
        return Err(SignatureError::Wrong);
    }
    let nbf = number("nbf").or(number("iat")).ok_or(SignatureError::Wrong)?;
    let exp = number("exp").ok_or(SignatureError::Wrong)?;
    if nbf > s.now.saturating_add(TOLERANCE_SECS) || exp.saturating_add(TOLERANCE_SECS) < s.now {
        return Err(SignatureError::Stale);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signed<'a>(url: &'a str, headers: &'a [(String, String)], body: &'a [u8], form: bool, now: u64) -> Signed<'a> {
        Signed { url, headers, body, form, now }
    }

    /// The worked example of Twilio's webhook security guide.
    #[test]
    fn twilios_published_vector_verifies_and_any_change_is_refused() {
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
        let body = b"To=%2B18005551212&CallSid=CA1234567890ABCDE&Digits=1234&From=%2B12349013030&Caller=%2B12349013030";
        let headers = vec![("x-twilio-signature".to_string(), "0/KCTR6DLpKmkAf8muzZqo1nDgQ=".to_string())];
        assert_eq!(verify("twilio", "12345", &signed(url, &headers, body, true, 0)), Ok(()));
        assert_eq!(verify("twilio", "12346", &signed(url, &headers, body, true, 0)), Err(SignatureError::Wrong));
        let other = "https://mycompany.com/myapp.php?foo=1&bar=3";
        assert_eq!(verify("twilio", "12345", &signed(other, &headers, body, true, 0)), Err(SignatureError::Wrong));
        let tampered = b"To=%2B18005551212&CallSid=CA1234567890ABCDE&Digits=9999&From=%2B12349013030&Caller=%2B12349013030";
        assert_eq!(verify("twilio", "12345", &signed(url, &headers, tampered, true, 0)), Err(SignatureError::Wrong));
        assert_eq!(verify("twilio", "12345", &signed(url, &[], body, true, 0)), Err(SignatureError::Missing));
    }

    #[test]
    fn telnyx_ed25519_over_timestamp_and_body() {
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = signature::Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        let pair = signature::Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
        use ring::signature::KeyPair;
        let public = STANDARD.encode(pair.public_key().as_ref());
        let body = br#"{"data":{"event_type":"message.finalized"}}"#;
        let sig = STANDARD.encode(pair.sign(b"1700000000|{\"data\":{\"event_type\":\"message.finalized\"}}").as_ref());
        let headers = vec![("telnyx-signature-ed25519".to_string(), sig), ("telnyx-timestamp".to_string(), "1700000000".to_string())];
        assert_eq!(verify("telnyx", &public, &signed("u", &headers, body, false, 1_700_000_100)), Ok(()));
        assert_eq!(verify("telnyx", &public, &signed("u", &headers, b"{}", false, 1_700_000_100)), Err(SignatureError::Wrong));
        assert_eq!(verify("telnyx", &public, &signed("u", &headers, body, false, 1_700_001_000)), Err(SignatureError::Stale));
        let other = STANDARD.encode([7u8; 32]);
        assert_eq!(verify("telnyx", &other, &signed("u", &headers, body, false, 1_700_000_100)), Err(SignatureError::Wrong));
        assert_eq!(verify("telnyx", "not base64!", &signed("u", &headers, body, false, 1_700_000_100)), Err(SignatureError::BadKey));
    }

    pub fn messagebird_jwt(key: &str, url: &str, body: &[u8], nbf: u64) -> String {
        let h = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
        let mut claims =
            serde_json::json!({"iss": "MessageBird", "nbf": nbf, "exp": nbf + 60, "jti": "x", "url_hash": hex_sha256(url.as_bytes())});
        if !body.is_empty() {
            claims["payload_hash"] = serde_json::Value::String(hex_sha256(body));
        }
        let p = URL_SAFE_NO_PAD.encode(claims.to_string());
        let sig = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key.as_bytes()), format!("{h}.{p}").as_bytes());
        format!("{h}.{p}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref()))
    }

    #[test]
    fn messagebird_jwt_binds_the_url_the_body_and_the_time() {
        let url = "https://dlr.example.org/dlr/mb/TOKEN?id=1&status=delivered";
        let jwt = messagebird_jwt("sk", url, b"", 1000);
        let headers = vec![("messagebird-signature-jwt".to_string(), jwt)];
        assert_eq!(verify("messagebird", "sk", &signed(url, &headers, b"", false, 1010)), Ok(()));
        assert_eq!(verify("messagebird", "sk2", &signed(url, &headers, b"", false, 1010)), Err(SignatureError::Wrong));
        let other = "https://dlr.example.org/dlr/mb/TOKEN?id=1&status=delivery_failed";
        assert_eq!(verify("messagebird", "sk", &signed(other, &headers, b"", false, 1010)), Err(SignatureError::Wrong));
        assert_eq!(verify("messagebird", "sk", &signed(url, &headers, b"x", false, 1010)), Err(SignatureError::Wrong));
        assert_eq!(verify("messagebird", "sk", &signed(url, &headers, b"", false, 5000)), Err(SignatureError::Stale));
        let none = vec![("messagebird-signature-jwt".to_string(), "a.b".to_string())];
        assert_eq!(verify("messagebird", "sk", &signed(url, &none, b"", false, 1010)), Err(SignatureError::Wrong));
    }
}
