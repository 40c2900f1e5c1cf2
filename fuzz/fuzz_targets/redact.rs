//! Redaction of a gateway's answer before it is logged. The first line of the
//! input is the code (used when it looks like one), the rest the answer.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pam_smsotp::auth::Sms;
use pam_smsotp::connector::{redact, redact_id};
use pam_smsotp::phone::Phone;

fuzz_target!(|input: &str| {
    let (code, answer) = input.split_once('\n').unwrap_or(("", input));
    let looks_like_a_code = (4..=10).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_digit() || b.is_ascii_uppercase());
    let code = if looks_like_a_code { code } else { "482913" };
    let text = format!("{code} is your login code");
    let Ok(to) = Phone::normalise("+15551234567", "") else { return };
    let sms = Sms { to: &to, text: &text, code, seq: "AB", expires: 1_700_000_300, user: "alice" };

    let out = redact(answer, &sms);
    assert!(!out.chars().any(char::is_control), "{out:?}");
    assert!(out.chars().count() <= 203, "{out:?}");
    let longest_digit_run = out.split(|c: char| !c.is_ascii_digit()).map(str::len).max().unwrap_or(0);
    assert!(longest_digit_run < 8, "{out:?}");
    assert!(!out.contains(code), "{out:?}");

    let id = redact_id(answer, &sms);
    assert!(!id.chars().any(char::is_control), "{id:?}");
    assert!(!id.contains("15551234567"), "{id:?}");
});
