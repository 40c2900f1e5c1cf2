//! The SMS text and prompt templates: checking, rendering, and what the text costs.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pam_smsotp::config::{MESSAGE_PLACEHOLDERS, PROMPT_PLACEHOLDERS, check_placeholders};
use pam_smsotp::message::{Encoding, render, sms_cost};

fuzz_target!(|template: &str| {
    let _ = check_placeholders("otp.prompt", template, PROMPT_PLACEHOLDERS);
    if check_placeholders("message.template", template, MESSAGE_PLACEHOLDERS).is_ok() {
        assert!(!render(template, |_| String::new()).contains('{'), "a checked template leaves no placeholder");
    }
    let text = render(template, |name| format!("<{name}>"));
    let cost = sms_cost(&text);
    let (single, per_part) = if cost.encoding == Encoding::Gsm7 { (160, 153) } else { (70, 67) };
    let parts = if cost.units <= single { 1 } else { cost.units.div_ceil(per_part) };
    assert_eq!(cost.parts, parts);
    assert_eq!(cost.encoding == Encoding::Ucs2, cost.first_non_gsm.is_some());
});
