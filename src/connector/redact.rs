//! Gateway answers may echo the number or the text back; strip both before logging.

use crate::auth::Sms;

const MAX_LEN: usize = 200;

/// A run of digits counts as one number across this many separators in a row,
/// e.g. ") " in "(555) 123-4567".
const MAX_GAP: usize = 2;

/// Runs with this many digits are taken for phone numbers (or other ids).
const NUMBER_DIGITS: usize = 8;

/// One line of at most 200 characters, without the message text, the code or
/// the number (also written with spaces, dots, dashes or parentheses, or with
/// the code split into groups), nor any other number of 8 or more digits.
pub fn redact(answer: &str, sms: &Sms<'_>) -> String {
    let mut s: String = answer.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    // longest first: the code is inside the text, and may be inside the number
    for secret in [sms.text, sms.to.e164(), sms.to.digits(), sms.code] {
        if !secret.is_empty() {
            s = s.replace(secret, "[redacted]");
        }
    }
    for secret in [sms.to.digits(), sms.code] {
        s = without_spread(&s, secret);
    }
    let collapsed = without_numbers(&s).split_whitespace().collect::<Vec<_>>().join(" ");
    if collapsed.chars().count() > MAX_LEN {
        let cut: String = collapsed.chars().take(MAX_LEN).collect();
        format!("{cut}...")
    } else {
        collapsed
    }
}

/// What people put between groups of digits.
fn is_separator(c: char) -> bool {
    matches!(c, ' ' | '.' | '-' | '/' | '(' | ')' | '_' | '\u{a0}')
}

/// `secret` removed where its characters stand apart by separators
/// ("123 456", "1-2-3-4-5-6"); letters in either case.
fn without_spread(s: &str, secret: &str) -> String {
    let want: Vec<char> = secret.chars().filter(|c| !is_separator(*c)).collect();
    if want.len() < 2 {
        return s.to_string();
    }
    let chars: Vec<char> = s.chars().collect();
    let matched_end = |start: usize| -> Option<usize> {
        let mut at = start;
        for (n, w) in want.iter().enumerate() {
            if n > 0 {
                let gap = chars[at..].iter().take(MAX_GAP).take_while(|c| is_separator(**c)).count();
                at += gap;
            }
            if !chars.get(at)?.eq_ignore_ascii_case(w) {
                return None;
            }
            at += 1;
        }
        Some(at)
    };
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < chars.len() {
        match matched_end(i) {
            Some(end) => {
                out.push_str("[redacted]");
                i = end;
            }
            None => {
                out.push(chars[i]);
                i += 1;
            }
        }
    }
    out
}

/// Every run of digits (joined by up to two separators, with a leading '+' or
/// '(') holding 8 or more digits becomes "[number]"; an IPv4 address stays.
fn without_numbers(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let digit_at = |i: usize| chars.get(i).is_some_and(char::is_ascii_digit);
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < chars.len() {
        let opens = matches!(chars[i], '+' | '(') && digit_at(i + 1);
        if !digit_at(i) && !opens {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        let start = i;
        let mut j = if opens { i + 1 } else { i };
        let mut end = j;
        let mut digits = 0;
        loop {
            while digit_at(j) {
                digits += 1;
                j += 1;
            }
            end = end.max(j);
            let gap = chars[j..].iter().take(MAX_GAP).take_while(|c| is_separator(**c)).count();
            if gap == 0 || !digit_at(j + gap) {
                break;
            }
            j += gap;
        }
        let run: String = chars[start..end].iter().collect();
        if digits >= NUMBER_DIGITS && !is_ipv4(&run) {
            out.push_str("[number]");
        } else {
            out.push_str(&run);
        }
        i = end;
    }
    out
}

fn is_ipv4(run: &str) -> bool {
    run.parse::<std::net::Ipv4Addr>().is_ok()
}

/// A provider's message id, for the log: the text, the code and the number
/// are removed, control characters first so that none can hide them; other
/// digits stay (ids are long runs of digits and letters that `redact` would
/// mangle).
pub fn redact_id(id: &str, sms: &Sms<'_>) -> String {
    let mut s: String = id.chars().filter(|c| !c.is_control()).collect();
    for secret in [sms.text, sms.to.e164(), sms.to.digits(), sms.code] {
        if !secret.is_empty() {
            s = s.replace(secret, "[redacted]");
        }
    }
    s.chars().take(MAX_LEN).collect()
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

    fn redacted(answer: &str, code: &str) -> String {
        let to = Phone::normalise("+15551234567", "").unwrap();
        let text = format!("{code} is your code");
        redact(answer, &Sms { to: &to, text: &text, code, seq: "AB", expires: 0, user: "alice" })
    }

    /// Numbers as people and gateways write them: grouped by spaces, dots,
    /// dashes and parentheses, with or without the country code, ours or not.
    #[test]
    fn numbers_written_with_separators_are_removed() {
        for (answer, digits) in [
            ("invalid number +1 555 123 4567 given", "5551234567"),
            ("invalid number 1 555 123 4567 given", "5551234567"),
            ("invalid number 555.123.4567 given", "5551234567"),
            ("invalid number (555) 123-4567 given", "5551234567"),
            ("invalid number +1 (555) 123-4567 given", "5551234567"),
            ("invalid number +1-555-123-4567 given", "5551234567"),
            ("invalid number 555/123 45 67 given", "5551234567"),
            ("invalid number +44 (0)20 7946 0958 given", "2079460958"),
            ("invalid number +49 171 2345678 given", "1712345678"),
            ("invalid number 0171 234 56 78 given", "1712345678"),
            ("invalid number 44.20.7946.0958 given", "2079460958"),
        ] {
            let r = redacted(answer, "987654");
            let left: String = r.chars().filter(char::is_ascii_digit).collect();
            assert!(left.is_empty(), "{answer:?} -> {r:?} keeps digits of {digits}");
            assert!(r.starts_with("invalid number ") && r.ends_with(" given"), "{answer:?} -> {r:?}");
        }
    }

    /// The code split into groups, or spelt out with separators, is removed.
    #[test]
    fn a_code_split_by_separators_is_removed() {
        for answer in [
            "code 123 456 sent",
            "code 123-456 sent",
            "code 123.456 sent",
            "code 12 34 56 sent",
            "code 1 2 3 4 5 6 sent",
            "code 123\n456 sent",
            "code 123\u{a0}456 sent",
            "code 123/456 sent",
        ] {
            let r = redacted(answer, "123456");
            assert!(!r.chars().any(|c| c.is_ascii_digit()), "{answer:?} -> {r:?}");
            assert!(r.contains("[redacted]"), "{answer:?} -> {r:?}");
        }
        // letters of an alphanumeric code too, in either case
        let r = redacted("echo: K7P 2QX and k7p-2qx", "K7P2QX");
        assert!(!r.contains("K7P") && !r.contains("k7p") && !r.contains("2QX") && !r.contains("2qx"), "{r}");
    }

    /// Short numbers that say what happened stay readable.
    #[test]
    fn harmless_numbers_stay() {
        for answer in [
            "0: Accepted for delivery",
            "3: Queued for later delivery",
            "HTTP 429: too many requests, retry in 30 s",
            "error 21211 (see https://www.twilio.com/docs/errors/21211)",
            "from 203.0.113.45 not allowed",
            "status 2 - 1 parts",
        ] {
            assert_eq!(redacted(answer, "987654"), answer);
        }
    }

    #[test]
    fn message_ids_lose_the_code_the_text_and_a_number_hidden_by_control_characters() {
        let to = Phone::normalise("+15551234567", "").unwrap();
        let sms = Sms { to: &to, text: "482913 is your code", code: "482913", seq: "AB", expires: 0, user: "alice" };
        assert_eq!(redact_id("id-482913-x", &sms), "id-[redacted]-x");
        assert_eq!(redact_id("1555\u{0}1234567", &sms), "[redacted]");
        assert_eq!(redact_id("SM9f8e7d6c5b4a39281706", &sms), "SM9f8e7d6c5b4a39281706", "other digits stay");
    }
}
