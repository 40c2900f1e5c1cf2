//! Templates for the SMS text and the prompt, and what the text costs as SMS.

use crate::config::{MESSAGE_PLACEHOLDERS, MessageField, PROMPT_PLACEHOLDERS, Piece, PromptField, pieces};

/// Fill a checked template; `value` answers each placeholder name.
pub fn render(template: &str, value: impl Fn(&str) -> String) -> String {
    let mut out = String::with_capacity(template.len() + 16);
    for piece in pieces(template) {
        match piece {
            Piece::Text(t) => out.push_str(t),
            Piece::Placeholder(name) => out.push_str(&value(name)),
            Piece::Unclosed => {}
        }
    }
    out
}

/// What `[message] template` is filled with.
pub struct MessageValues<'a> {
    pub code: &'a str,
    pub user: &'a str,
    pub host: &'a str,
    pub service: &'a str,
    pub ttl_seconds: u64,
    pub seq: &'a str,
}

/// The SMS text.
pub fn render_message(template: &str, v: &MessageValues<'_>) -> String {
    render(template, |name| match MESSAGE_PLACEHOLDERS.iter().find(|(n, _)| *n == name).map(|(_, f)| *f) {
        Some(MessageField::Code) => v.code.to_string(),
        Some(MessageField::User) => v.user.to_string(),
        Some(MessageField::Host) => v.host.to_string(),
        Some(MessageField::Service) => v.service.to_string(),
        Some(MessageField::TtlMinutes) => v.ttl_seconds.div_ceil(60).to_string(),
        Some(MessageField::Seq) => v.seq.to_string(),
        None => String::new(),
    })
}

/// What `[otp] prompt` is filled with.
pub struct PromptValues<'a> {
    pub masked_phone: &'a str,
    pub seq: &'a str,
    pub service: &'a str,
    pub user: &'a str,
}

/// The code prompt.
pub fn render_prompt(template: &str, v: &PromptValues<'_>) -> String {
    render(template, |name| match PROMPT_PLACEHOLDERS.iter().find(|(n, _)| *n == name).map(|(_, f)| *f) {
        Some(PromptField::Phone) => v.masked_phone.to_string(),
        Some(PromptField::Seq) => v.seq.to_string(),
        Some(PromptField::Service) => v.service.to_string(),
        Some(PromptField::User) => v.user.to_string(),
        None => String::new(),
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Gsm7,
    Ucs2,
}

impl std::fmt::Display for Encoding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Encoding::Gsm7 => "GSM-7",
            Encoding::Ucs2 => "UCS-2",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsCost {
    pub encoding: Encoding,
    /// Septets for GSM-7, UTF-16 code units for UCS-2.
    pub units: usize,
    pub parts: usize,
    /// The first character that forced UCS-2, if any.
    pub first_non_gsm: Option<char>,
}

const GSM7_BASIC: &str =
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
const GSM7_EXTENDED: &str = "^{}\\[~]|€\x0c";

pub fn is_gsm7(text: &str) -> bool {
    text.chars().all(|c| GSM7_BASIC.contains(c) || GSM7_EXTENDED.contains(c))
}

/// How the text travels: encoding, size and number of SMS parts.
pub fn sms_cost(text: &str) -> SmsCost {
    let first_non_gsm = text.chars().find(|&c| !GSM7_BASIC.contains(c) && !GSM7_EXTENDED.contains(c));
    if first_non_gsm.is_none() {
        let units = text.chars().map(|c| if GSM7_EXTENDED.contains(c) { 2 } else { 1 }).sum();
        SmsCost { encoding: Encoding::Gsm7, units, parts: parts(units, 160, 153), first_non_gsm }
    } else {
        let units = text.encode_utf16().count();
        SmsCost { encoding: Encoding::Ucs2, units, parts: parts(units, 70, 67), first_non_gsm }
    }
}

fn parts(units: usize, single: usize, per_part: usize) -> usize {
    if units <= single { 1 } else { units.div_ceil(per_part) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_placeholder() {
        let t = "{code} for {user}@{host} via {service}, {ttl_minutes} min [{seq}]";
        let v = MessageValues { code: "123456", user: "alice", host: "box", service: "sshd", ttl_seconds: 301, seq: "AB" };
        assert_eq!(render_message(t, &v), "123456 for alice@box via sshd, 6 min [AB]");
        let p = PromptValues { masked_phone: "+*67", seq: "AB", service: "su", user: "bob" };
        assert_eq!(render_prompt("{phone} [{seq}] {service} {user}: ", &p), "+*67 [AB] su bob: ");
    }

    #[test]
    fn gsm7_single_part_boundaries() {
        let a160 = "a".repeat(160);
        assert_eq!(sms_cost(&a160), SmsCost { encoding: Encoding::Gsm7, units: 160, parts: 1, first_non_gsm: None });
        assert_eq!(sms_cost(&"a".repeat(161)).parts, 2);
        assert_eq!(sms_cost(&"a".repeat(306)).parts, 2);
        assert_eq!(sms_cost(&"a".repeat(307)).parts, 3);
    }

    #[test]
    fn extension_characters_cost_two_septets() {
        let c = sms_cost("€{}");
        assert_eq!(c.encoding, Encoding::Gsm7);
        assert_eq!(c.units, 6);
        assert_eq!(sms_cost(&"€".repeat(80)).parts, 1);
        assert_eq!(sms_cost(&"€".repeat(81)).parts, 2);
    }

    #[test]
    fn one_non_gsm_character_makes_it_ucs2() {
        let c = sms_cost("Your code is 123456 – thanks");
        assert_eq!(c.encoding, Encoding::Ucs2);
        assert_eq!(c.first_non_gsm, Some('–'));
        assert_eq!(sms_cost(&"á".repeat(70)).parts, 1);
        assert_eq!(sms_cost(&"á".repeat(71)).parts, 2);
        assert_eq!(sms_cost(&"á".repeat(134)).parts, 2);
        assert_eq!(sms_cost(&"á".repeat(135)).parts, 3);
        // an emoji is two UTF-16 units
        assert_eq!(sms_cost("😀").units, 2);
        assert!(!is_gsm7("Привет"));
        assert!(is_gsm7("Grüße äöü"));
    }
}
