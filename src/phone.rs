//! Mobile numbers: normalisation to E.164 and masking for prompts and logs.

use std::fmt;

/// A number in E.164 form: '+' and 8 to 15 digits. Its Debug and Display show
/// only the masked form, so it cannot leak through a log line by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Phone(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    #[error("the number contains characters other than digits, spaces, dashes, dots and parentheses")]
    BadCharacters,
    #[error("a national number (leading 0) needs phone.default_country_code")]
    NoCountryCode,
    #[error("not an E.164 number: '+' and 8 to 15 digits")]
    NotE164,
}

impl Phone {
    /// Remove spaces, dashes, dots and parentheses; `00` becomes `+`; a leading
    /// single `0` takes `default_country_code` (e.g. "+49") in its place.
    pub fn normalise(raw: &str, default_country_code: &str) -> Result<Phone, PhoneError> {
        let mut s = String::with_capacity(raw.len());
        for (i, c) in raw.trim().chars().enumerate() {
            match c {
                '0'..='9' => s.push(c),
                '+' if i == 0 => s.push(c),
                ' ' | '-' | '.' | '(' | ')' | '/' | '\t' => {}
                _ => return Err(PhoneError::BadCharacters),
            }
        }
        let e164 = if let Some(rest) = s.strip_prefix('+') {
            format!("+{rest}")
        } else if let Some(rest) = s.strip_prefix("00") {
            format!("+{rest}")
        } else if let Some(rest) = s.strip_prefix('0') {
            if default_country_code.is_empty() {
                return Err(PhoneError::NoCountryCode);
            }
            format!("{default_country_code}{rest}")
        } else {
            return Err(PhoneError::NotE164);
        };
        let digits = &e164[1..];
        let plausible = (8..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) && !digits.starts_with('0');
        if !plausible {
            return Err(PhoneError::NotE164);
        }
        Ok(Phone(e164))
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

    #[test]
    fn masked_forms_hide_all_but_two_digits() {
        let p = Phone::normalise("+15551234567", "").unwrap();
        assert_eq!(p.masked(), "+*********67");
        assert_eq!(format!("{p}"), "+*********67");
        assert!(!format!("{p:?}").contains("5551234"));
        assert_eq!(p.digits(), "15551234567");
    }
}
