//! Mobile numbers: normalisation to E.164 and masking for prompts and logs.

use std::fmt;

/// A number in E.164 form: '+' and 8 to 15 digits. Its Debug and Display show
/// only the masked form, so it cannot leak through a log line by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Phone(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    #[error("the number contains characters other than digits, spaces, dashes, dots, slashes and parentheses, or a '+' that does not lead")]
    BadCharacters,
    #[error("the number has unbalanced, nested or empty parentheses")]
    Parentheses,
    #[error("the number has a trunk 0 where none belongs: '(0)' only right after the country code, and no other 0 there")]
    TrunkZero,
    #[error("a national number (leading 0) needs phone.default_country_code")]
    NoCountryCode,
    #[error("a national number (leading 0) cannot take this phone.default_country_code: its numbers do not drop a trunk 0")]
    NoTrunkZero,
    #[error("not an E.164 number: '+' and 8 to 15 digits")]
    NotE164,
    #[error("phone.default_country_code is not '+' and 1 to 4 digits")]
    BadCountryCode,
}

/// Two-digit country codes; every other code that does not start with 1 or 7
/// has three digits (E.164 country codes are prefix-free).
const TWO_DIGIT_COUNTRY_CODES: &[&str] = &[
    "20", "27", "30", "31", "32", "33", "34", "36", "39", "40", "41", "43", "44", "45", "46", "47", "48", "49", "51", "52", "53", "54",
    "55", "56", "57", "58", "60", "61", "62", "63", "64", "65", "66", "81", "82", "84", "86", "90", "91", "92", "93", "94", "95", "98",
];

/// Countries whose numbers keep a leading 0 in international form (Italy, San
/// Marino, the Vatican; Côte d'Ivoire, Benin, Gabon, Congo): a 0 after their
/// country code is part of the number, never a trunk prefix to drop.
const ZERO_IN_NUMBER: &[&str] = &["39", "378", "379", "225", "229", "241", "242"];

/// Countries whose national trunk prefix is not a lone 0 (NANP: 1, Russia and
/// Kazakhstan: 8, Hungary: 06), besides those in ZERO_IN_NUMBER.
const OTHER_TRUNK_PREFIX: &[&str] = &["1", "7", "36"];

/// The country code at the start of international digits.
fn country_code(digits: &str) -> &str {
    let len = match digits.as_bytes().first() {
        Some(b'1' | b'7') => 1,
        _ if digits.get(..2).is_some_and(|two| TWO_DIGIT_COUNTRY_CODES.contains(&two)) => 2,
        _ => 3,
    };
    digits.get(..len).unwrap_or(digits)
}

fn drops_trunk_zero(country_code: &str) -> bool {
    !ZERO_IN_NUMBER.contains(&country_code) && !OTHER_TRUNK_PREFIX.contains(&country_code)
}

/// A number as written: its digits, whether it began with '+', and where a
/// "(0)" stood (the count of digits before it; that 0 is not in `digits`).
struct Written {
    plus: bool,
    digits: String,
    trunk_zero_at: Option<usize>,
}

fn scan(raw: &str) -> Result<Written, PhoneError> {
    let mut written = Written { plus: false, digits: String::with_capacity(raw.len().min(32)), trunk_zero_at: None };
    let mut started = false;
    let mut group_start: Option<usize> = None;
    for c in raw.chars() {
        match c {
            '0'..='9' => written.digits.push(c),
            '+' if !started => written.plus = true,
            '(' if group_start.is_none() => group_start = Some(written.digits.len()),
            ')' => {
                let start = group_start.take().ok_or(PhoneError::Parentheses)?;
                match &written.digits[start..] {
                    "" => return Err(PhoneError::Parentheses),
                    "0" if written.trunk_zero_at.is_none() => {
                        written.digits.truncate(start);
                        written.trunk_zero_at = Some(start);
                    }
                    "0" => return Err(PhoneError::TrunkZero),
                    _ => {}
                }
            }
            '(' => return Err(PhoneError::Parentheses),
            ' ' | '\t' | '\r' | '\u{a0}' | '\u{202f}' | '-' | '.' | '/' => continue,
            _ => return Err(PhoneError::BadCharacters),
        }
        started = true;
    }
    if group_start.is_some() {
        return Err(PhoneError::Parentheses);
    }
    Ok(written)
}

impl Phone {
    /// Spaces, dashes, dots, slashes and parentheses around digits are dropped.
    /// `00` (and `011` where `default_country_code` is in the NANP, +1) becomes
    /// `+`; a "(0)" right after the country code is a trunk prefix and dropped;
    /// a leading single `0` takes `default_country_code` (e.g. "+49") in its
    /// place. Whatever is still doubtful is refused, never guessed.
    pub fn normalise(raw: &str, default_country_code: &str) -> Result<Phone, PhoneError> {
        let written = scan(raw)?;
        let default_cc = match default_country_code.strip_prefix('+') {
            Some(d) if (1..=4).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()) && !d.starts_with('0') => d,
            _ if default_country_code.is_empty() => "",
            _ => return Err(PhoneError::BadCountryCode),
        };
        let nanp = country_code(default_cc) == "1";
        let digits = written.digits.as_str();
        let (international, prefix_len) = if written.plus {
            (digits, 0)
        } else if let Some(rest) = digits.strip_prefix("00") {
            (rest, 2)
        } else if let (true, Some(rest)) = (nanp, digits.strip_prefix("011")) {
            (rest, 3)
        } else if written.trunk_zero_at.is_some() {
            // "(0)" belongs after a country code, and a national number has none
            return Err(PhoneError::TrunkZero);
        } else if let Some(rest) = digits.strip_prefix('0') {
            if default_cc.is_empty() {
                return Err(PhoneError::NoCountryCode);
            }
            if !drops_trunk_zero(country_code(default_cc)) {
                return Err(PhoneError::NoTrunkZero);
            }
            return Phone::checked(format!("+{default_cc}{rest}"));
        } else {
            return Err(PhoneError::NotE164);
        };
        let cc = country_code(international);
        if let Some(at) = written.trunk_zero_at
            && (at.checked_sub(prefix_len) != Some(cc.len()) || !drops_trunk_zero(cc))
        {
            return Err(PhoneError::TrunkZero);
        }
        // "+44 020 ...", "+49 (0171) ...": a trunk 0 left in; dropping it would be a guess
        let national = &international[cc.len().min(international.len())..];
        if national.starts_with('0') && !cc.starts_with('0') && !ZERO_IN_NUMBER.contains(&cc) {
            return Err(PhoneError::TrunkZero);
        }
        Phone::checked(format!("+{international}"))
    }

    /// '+' and 8 to 15 digits, the first not 0.
    fn checked(e164: String) -> Result<Phone, PhoneError> {
        let digits = &e164[1..];
        let plausible = (8..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) && !digits.starts_with('0');
        if !plausible {
            return Err(PhoneError::NotE164);
        }
        Ok(Phone(e164))
    }

    /// Inside `[phone] allowed_prefixes` (an empty list allows every number).
    pub fn has_prefix_in(&self, prefixes: &[String]) -> bool {
        prefixes.is_empty() || prefixes.iter().any(|p| self.0.starts_with(p.as_str()))
    }

    /// "+15551234567"
    pub fn e164(&self) -> &str {
        &self.0
    }

    /// "15551234567", for gateways that want no '+'.
    pub fn digits(&self) -> &str {
        &self.0[1..]
    }

    /// All but the last two digits hidden: "+*********67".
    pub fn masked(&self) -> String {
        let digits = self.digits();
        let shown = 2;
        format!("+{}{}", "*".repeat(digits.len() - shown), &digits[digits.len() - shown..])
    }
}

impl fmt::Debug for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Phone({})", self.masked())
    }
}

impl fmt::Display for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_common_spellings() {
        for raw in ["+1 555 123 4567", "+1-555-123-4567", "+1 (555) 123.4567", "001 555 1234567", " +15551234567 "] {
            assert_eq!(Phone::normalise(raw, "").unwrap().e164(), "+15551234567", "{raw}");
        }
        assert_eq!(Phone::normalise("0171 2345678", "+49").unwrap().e164(), "+491712345678");
    }

    #[test]
    fn refuses_implausible_numbers() {
        assert_eq!(Phone::normalise("0171 2345678", ""), Err(PhoneError::NoCountryCode));
        assert_eq!(Phone::normalise("5551234567", ""), Err(PhoneError::NotE164));
        assert_eq!(Phone::normalise("+1234567", ""), Err(PhoneError::NotE164));
        assert_eq!(Phone::normalise("+1234567890123456", ""), Err(PhoneError::NotE164));
        assert_eq!(Phone::normalise("+0123456789", ""), Err(PhoneError::NotE164));
        assert_eq!(Phone::normalise("+1555123456x7", ""), Err(PhoneError::BadCharacters));
        assert_eq!(Phone::normalise("+1555+1234567", ""), Err(PhoneError::BadCharacters));
        assert_eq!(Phone::normalise("", ""), Err(PhoneError::NotE164));
        assert_eq!(Phone::normalise("+", ""), Err(PhoneError::NotE164));
        assert_eq!(Phone::normalise("+١٢٣٤٥٦٧٨٩", ""), Err(PhoneError::BadCharacters));
    }

    /// (raw, default_country_code, what it must become). Each refused row is a
    /// spelling that a looser rule would turn into somebody else's number.
    const SPELLINGS: &[(&str, &str, Result<&str, PhoneError>)] = &[
        // the spellings accepted before stay accepted
        ("+1 555 123 4567", "", Ok("+15551234567")),
        ("+1-555-123-4567", "", Ok("+15551234567")),
        ("+1 (555) 123.4567", "", Ok("+15551234567")),
        ("+1 555/123 45 67", "", Ok("+15551234567")),
        ("001 555 1234567", "", Ok("+15551234567")),
        (" +15551234567 ", "", Ok("+15551234567")),
        ("+15551234567\t\r", "", Ok("+15551234567")),
        ("0171 2345678", "+49", Ok("+491712345678")),
        ("(0171) 2345678", "+49", Ok("+491712345678")),
        ("0171/2345678", "+49", Ok("+491712345678")),
        ("+44 7700 900123", "", Ok("+447700900123")),
        ("+39 06 1234 5678", "", Ok("+390612345678")),
        // the trunk zero in parentheses, right after the country code
        ("+49 (0)171 2345678", "", Ok("+491712345678")),
        ("+49(0)1712345678", "", Ok("+491712345678")),
        ("+49 (0) 171-234 5678", "+49", Ok("+491712345678")),
        ("+44 (0)20 7946 0958", "", Ok("+442079460958")),
        ("+43 (0)664 1234567", "", Ok("+436641234567")),
        ("+41 (0)79 123 45 67", "", Ok("+41791234567")),
        ("+353 (0)87 123 4567", "", Ok("+353871234567")),
        ("0049 (0)171 2345678", "", Ok("+491712345678")),
        // international dialling prefixes
        ("0044 20 7946 0958", "", Ok("+442079460958")),
        ("0044 20 7946 0958", "+49", Ok("+442079460958")),
        ("011 44 20 7946 0958", "+1", Ok("+442079460958")),
        ("011 49 (0)171 2345678", "+1", Ok("+491712345678")),
        // 011 is the NANP prefix only: elsewhere it is a national number
        ("011 4420 7946", "+49", Ok("+491144207946")),
        ("011 44 20 7946 0958", "", Err(PhoneError::NoCountryCode)),
        // doubtful: refused, never guessed
        ("+49 171 (0)2345678", "", Err(PhoneError::TrunkZero)),
        ("+491 (0)71 2345678", "", Err(PhoneError::TrunkZero)),
        ("+4 (0)9 171 2345678", "", Err(PhoneError::TrunkZero)),
        ("(0)171 2345678", "+49", Err(PhoneError::TrunkZero)),
        ("+49 (0)(0)171 2345678", "", Err(PhoneError::TrunkZero)),
        ("+49 (0)0171 2345678", "", Err(PhoneError::TrunkZero)),
        ("+49 (0171) 2345678", "", Err(PhoneError::TrunkZero)),
        ("+44 020 7946 0958", "", Err(PhoneError::TrunkZero)),
        ("+39 (0)6 1234 5678", "", Err(PhoneError::TrunkZero)),
        ("+1 (0)555 123 4567", "", Err(PhoneError::TrunkZero)),
        ("0(0)171 2345678", "+49", Err(PhoneError::TrunkZero)),
        ("+1 (555 123 4567", "", Err(PhoneError::Parentheses)),
        ("+1 555) 123 4567", "", Err(PhoneError::Parentheses)),
        ("+1 ((555)) 123 4567", "", Err(PhoneError::Parentheses)),
        ("+1 () 555 123 4567", "", Err(PhoneError::Parentheses)),
        ("+1555+1234567", "", Err(PhoneError::BadCharacters)),
        ("++15551234567", "", Err(PhoneError::BadCharacters)),
        ("(+49) 171 2345678", "", Err(PhoneError::BadCharacters)),
        ("+1555123456x7", "", Err(PhoneError::BadCharacters)),
        ("+1 555 CALL NOW", "", Err(PhoneError::BadCharacters)),
        ("+1555123\u{0}4567", "", Err(PhoneError::BadCharacters)),
        ("+١٢٣٤٥٦٧٨٩", "", Err(PhoneError::BadCharacters)),
        ("0171 2345678", "", Err(PhoneError::NoCountryCode)),
        ("0555 123 4567", "+1", Err(PhoneError::NoTrunkZero)),
        ("06 1234 5678", "+39", Err(PhoneError::NoTrunkZero)),
        ("8 495 123 4567", "+7", Err(PhoneError::NotE164)),
        ("5551234567", "", Err(PhoneError::NotE164)),
        ("5551234567", "+1", Err(PhoneError::NotE164)),
        ("+1234567", "", Err(PhoneError::NotE164)),
        ("+1234567890123456", "", Err(PhoneError::NotE164)),
        ("0044 1234567890123456", "", Err(PhoneError::NotE164)),
        ("+0123456789", "", Err(PhoneError::NotE164)),
        ("000 123 4567 890", "", Err(PhoneError::NotE164)),
        ("", "", Err(PhoneError::NotE164)),
        ("+", "", Err(PhoneError::NotE164)),
        ("00", "", Err(PhoneError::NotE164)),
    ];

    #[test]
    fn accepted_and_refused_spellings() {
        let mut wrong = Vec::new();
        for (raw, cc, want) in SPELLINGS {
            let got = Phone::normalise(raw, cc);
            let got = got.as_ref().map(Phone::e164).map_err(Clone::clone);
            let want = want.clone().map(|w| w.replace(' ', ""));
            if got.as_deref().map_err(Clone::clone) != want.as_deref().map_err(Clone::clone) {
                wrong.push(format!("{raw:?} with {cc:?}: got {got:?}, want {want:?}"));
            }
        }
        assert!(wrong.is_empty(), "\n{}", wrong.join("\n"));
    }

    #[test]
    fn refusals_never_carry_the_number() {
        for (raw, cc, want) in SPELLINGS {
            if let Err(e) = Phone::normalise(raw, cc) {
                assert!(want.is_err(), "{raw:?}");
                let digits: String = raw.chars().filter(char::is_ascii_digit).collect();
                let text = e.to_string();
                assert!(digits.len() < 4 || !text.contains(&digits[digits.len() - 4..]), "{text}");
            }
        }
    }

    #[test]
    fn masked_forms_hide_all_but_two_digits() {
        let p = Phone::normalise("+15551234567", "").unwrap();
        assert_eq!(p.masked(), "+*********67");
        assert_eq!(format!("{p}"), "+*********67");
        assert!(!format!("{p:?}").contains("5551234"));
        assert_eq!(p.digits(), "15551234567");
    }

    #[test]
    fn a_country_code_that_is_not_one_is_refused_never_a_panic() {
        for cc in ["é", "1", "+", "+12345", "+0", "49", "+4a"] {
            assert_eq!(Phone::normalise("0123456789", cc), Err(PhoneError::BadCountryCode), "{cc:?}");
        }
        assert_eq!(Phone::normalise("0171 2345678", "+49").unwrap().e164(), "+491712345678");
    }
}
