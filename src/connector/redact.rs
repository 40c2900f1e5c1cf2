//! Gateway answers may echo the number or the text back; strip both before logging.

use crate::auth::Sms;

const MAX_LEN: usize = 200;

/// One line of at most 200 characters, without the message text, the code, the
/// number (with or without '+'), or any other run of 8 or more digits.
pub fn redact(answer: &str, sms: &Sms<'_>) -> String {
    // longest first: the code is inside the text, and may be inside the number
    let mut s = answer.to_string();
    for secret in [sms.text, sms.to.e164(), sms.to.digits(), sms.code] {
        if !secret.is_empty() {
            s = s.replace(secret, "[redacted]");
        }
    }
    let mut out = String::with_capacity(s.len().min(MAX_LEN));
    let mut digits = String::new();
    let flush = |digits: &mut String, out: &mut String| {
        if digits.len() >= 8 {
            out.push_str("[number]");
        } else {
            out.push_str(digits);
        }
        digits.clear();
    };
    for c in s.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        flush(&mut digits, &mut out);
        out.push(if c.is_control() { ' ' } else { c });
    }
    flush(&mut digits, &mut out);
    let collapsed = out.split_whitespace().collect::<Vec<_>>().join(" ");
    if collapsed.chars().count() > MAX_LEN {
        let cut: String = collapsed.chars().take(MAX_LEN).collect();
        format!("{cut}...")
    } else {
        collapsed
    }
}

/// A provider's message id, for the log: only the number is removed (ids are
/// long runs of digits and letters that `redact` would mangle).
pub fn redact_id(id: &str, sms: &Sms<'_>) -> String {
    let s = id.replace(sms.to.e164(), "[redacted]").replace(sms.to.digits(), "[redacted]");
    s.chars().filter(|c| !c.is_control()).take(MAX_LEN).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::phone::Phone;

    #[test]
    fn strips_number_text_and_code() {
        let to = Phone::normalise("+15551234567", "").unwrap();
        let sms = Sms { to: &to, text: "123456 is your code", code: "123456", seq: "AB", expires: 1_700_000_300, user: "alice" };
        let body = r#"{"message":"The 'To' number +15551234567 is not valid","echo":"123456 is your code","n":"15551234567","c":"123456"}"#;
        let r = redact(body, &sms);
        assert!(!r.contains("5551234567"), "{r}");
        assert!(!r.contains("123456"), "{r}");
        assert!(r.contains("is not valid"), "{r}");
        assert!(r.contains("The 'To' number [redacted] is"), "{r}");
    }

    #[test]
    fn long_answers_are_cut_and_flattened() {
        let to = Phone::normalise("+15551234567", "").unwrap();
        let sms = Sms { to: &to, text: "x", code: "9999", seq: "AB", expires: 1_700_000_300, user: "alice" };
        let r = redact(&format!("line1\nline2 {}", "a".repeat(500)), &sms);
        assert!(!r.contains('\n'));
        assert!(r.len() <= MAX_LEN + 3);
        assert!(r.starts_with("line1 line2"));
        assert_eq!(redact("0: Accepted for delivery", &sms), "0: Accepted for delivery");
        assert_eq!(redact("id 4412345678901", &sms), "id [number]");
    }
}
