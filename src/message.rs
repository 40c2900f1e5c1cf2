//! Templates for the SMS text and the prompt, and what the text costs as SMS.

use crate::config::Invalid;

pub const MESSAGE_PLACEHOLDERS: &[&str] = &["code", "user", "host", "service", "ttl_minutes", "seq"];
pub const PROMPT_PLACEHOLDERS: &[&str] = &["phone", "seq", "service", "user"];

/// Reject placeholders that `render` would not know.
pub fn check_placeholders(key: &str, template: &str, allowed: &[&str]) -> Result<(), Invalid> {
    for piece in pieces(template) {
        match piece {
            Piece::Placeholder(name) if !allowed.contains(&name) => {
                return Err(Invalid::new(key, format!("unknown placeholder {{{name}}}; known: {}", braces(allowed))));
            }
            Piece::Unclosed => return Err(Invalid::new(key, "a '{' is not closed")),
            _ => {}
        }
    }
    Ok(())
}

fn braces(names: &[&str]) -> String {
    names.iter().map(|n| format!("{{{n}}}")).collect::<Vec<_>>().join(" ")
}

enum Piece<'a> {
    Text(&'a str),
    Placeholder(&'a str),
    Unclosed,
}

fn pieces(template: &str) -> Vec<Piece<'_>> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        if open > 0 {
            out.push(Piece::Text(&rest[..open]));
        }
        match rest[open..].find('}') {
            Some(close) => {
                out.push(Piece::Placeholder(&rest[open + 1..open + close]));
                rest = &rest[open + close + 1..];
            }
            None => {
                out.push(Piece::Unclosed);
                return out;
            }
        }
    }
    if !rest.is_empty() {
        out.push(Piece::Text(rest));
    }
    out
}

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
        check_placeholders("k", t, MESSAGE_PLACEHOLDERS).unwrap();
        let out = render(t, |n| format!("<{n}>"));
        assert_eq!(out, "<code> for <user>@<host> via <service>, <ttl_minutes> min [<seq>]");
    }

    #[test]
    fn rejects_unknown_and_unclosed_placeholders() {
        let e = check_placeholders("message.template", "{code} {pin}", MESSAGE_PLACEHOLDERS).unwrap_err();
        assert_eq!(e.key, "message.template");
        assert!(e.message.contains("{pin}"), "{}", e.message);
        assert!(check_placeholders("k", "{code", MESSAGE_PLACEHOLDERS).is_err());
        assert!(check_placeholders("k", "{phone}", MESSAGE_PLACEHOLDERS).is_err());
        assert!(check_placeholders("k", "{phone} {seq}", PROMPT_PLACEHOLDERS).is_ok());
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
