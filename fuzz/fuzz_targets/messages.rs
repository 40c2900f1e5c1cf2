//! A `[messages]` translation file (conf/messages/*.toml) on any text, and the
//! rendering of every text it accepts: one line in, one line out.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pam_smsotp::config::messages::{MESSAGE_KEYS, parse_translation, render};

fuzz_target!(|text: &str| {
    let Ok(messages) = parse_translation(text) else { return };
    assert!(messages.validate().is_ok(), "a parsed translation stays valid");
    let values = [("user", "alice"), ("service", "sshd"), ("phone", "+*****67"), ("seq", "AB"), ("seconds", "30"), ("remaining", "1")];
    for (key, text) in messages.effective("SMS code sent to {phone}: ") {
        let shown = render(&text, &values);
        assert!(!shown.chars().any(char::is_control), "{key}: a control character in {shown:?}");
    }
    assert_eq!(messages.effective("x").len(), MESSAGE_KEYS.len());
});
