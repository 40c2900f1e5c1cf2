//! RFC 4515 search filters: the configured `filter` with `{user}` put in
//! (escaped), parsed and encoded as the BER Filter of RFC 4511.

use super::ber;

/// Deepest nesting of &, | and ! accepted in a configured filter.
const MAX_FILTER_DEPTH: usize = 32;

/// `value` escaped for an assertion value: `*`, `(`, `)`, `\` and NUL.
pub fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '*' => out.push_str("\\2a"),
            '(' => out.push_str("\\28"),
            ')' => out.push_str("\\29"),
            '\\' => out.push_str("\\5c"),
            '\0' => out.push_str("\\00"),
            c => out.push(c),
        }
    }
    out
}

/// The BER encoding of `text`, or why it is not a filter.
pub fn encode(text: &str) -> Result<Vec<u8>, String> {
    let mut parser = Parser { text: text.as_bytes(), pos: 0 };
    let encoded = parser.filter(0)?;
    if parser.pos != parser.text.len() {
        return Err(format!("unexpected text after the filter at position {}", parser.pos + 1));
    }
    Ok(encoded)
}

struct Parser<'a> {
    text: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    fn eat(&mut self, b: u8) -> Result<(), String> {
        if self.text.get(self.pos) != Some(&b) {
            return Err(format!("expected '{}' at position {}", b as char, self.pos + 1));
        }
        self.pos += 1;
        Ok(())
    }

    fn filter(&mut self, depth: usize) -> Result<Vec<u8>, String> {
        if depth > MAX_FILTER_DEPTH {
            return Err(format!("nested deeper than {MAX_FILTER_DEPTH} levels"));
        }
        self.eat(b'(')?;
        let encoded = match self.text.get(self.pos) {
            Some(b'&') => {
                self.pos += 1;
                ber::element(0xa0, &self.list(depth)?)
            }
            Some(b'|') => {
                self.pos += 1;
                ber::element(0xa1, &self.list(depth)?)
            }
            Some(b'!') => {
                self.pos += 1;
                ber::element(0xa2, &self.filter(depth + 1)?)
            }
            _ => {
                let start = self.pos;
                while self.text.get(self.pos).is_some_and(|b| *b != b')' && *b != b'(') {
                    self.pos += 1;
                }
                item(&self.text[start..self.pos])?
            }
        };
        self.eat(b')')?;
        Ok(encoded)
    }

    /// The filters of an & or |, up to the closing parenthesis (none: RFC 4526's absolute true/false).
    fn list(&mut self, depth: usize) -> Result<Vec<u8>, String> {
        let mut out = Vec::new();
        while self.text.get(self.pos) == Some(&b'(') {
            out.extend(self.filter(depth + 1)?);
        }
        Ok(out)
    }
}

/// `attr=value`, `attr~=value`, `attr>=value`, `attr<=value`, `attr=*`,
/// `attr=in*it*ial`, or an extensible match `attr:dn:rule:=value`.
fn item(text: &[u8]) -> Result<Vec<u8>, String> {
    let shown = String::from_utf8_lossy(text);
    let eq = text.iter().position(|b| *b == b'=').ok_or_else(|| format!("no '=' in ({shown})"))?;
    let (left, value) = (&text[..eq], &text[eq + 1..]);
    let (attr, tag) = match left.last() {
        Some(b'~') => (&left[..left.len() - 1], 0xa8),
        Some(b'>') => (&left[..left.len() - 1], 0xa5),
        Some(b'<') => (&left[..left.len() - 1], 0xa6),
        Some(b':') => return extensible(&left[..left.len() - 1], value, &shown),
        _ => (left, 0xa3),
    };
    let attr = attribute(attr, &shown)?;
    if tag == 0xa3 && value == b"*" {
        return Ok(ber::element(0x87, attr));
    }
    if tag == 0xa3 && value.contains(&b'*') {
        return substrings(attr, value);
    }
    let mut ava = ber::element(ber::OCTET_STRING, attr);
    ava.extend(ber::element(ber::OCTET_STRING, &unescape(value)?));
    Ok(ber::element(tag, &ava))
}

fn substrings(attr: &[u8], value: &[u8]) -> Result<Vec<u8>, String> {
    let parts: Vec<&[u8]> = value.split(|b| *b == b'*').collect();
    let last = parts.len() - 1;
    let mut list = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        if part.is_empty() {
            continue;
        }
        let tag = match i {
            0 => 0x80,
            i if i == last => 0x82,
            _ => 0x81,
        };
        list.extend(ber::element(tag, &unescape(part)?));
    }
    let mut content = ber::element(ber::OCTET_STRING, attr);
    content.extend(ber::element(ber::SEQUENCE, &list));
    Ok(ber::element(0xa4, &content))
}

/// `attr[:dn][:rule]:=value` or `[:dn]:rule:=value` (`left` is without the final ':').
fn extensible(left: &[u8], value: &[u8], shown: &str) -> Result<Vec<u8>, String> {
    let mut parts = left.split(|b| *b == b':');
    let attr = parts.next().unwrap_or_default();
    let mut dn = false;
    let mut rule: Option<&[u8]> = None;
    for part in parts {
        if part.eq_ignore_ascii_case(b"dn") && !dn && rule.is_none() {
            dn = true;
        } else if rule.is_none() {
            rule = Some(attribute(part, shown)?);
        } else {
            return Err(format!("bad extensible match ({shown})"));
        }
    }
    if attr.is_empty() && rule.is_none() {
        return Err(format!("an extensible match needs an attribute or a matching rule ({shown})"));
    }
    let mut content = Vec::new();
    if let Some(rule) = rule {
        content.extend(ber::element(0x81, rule));
    }
    if !attr.is_empty() {
        content.extend(ber::element(0x82, attribute(attr, shown)?));
    }
    content.extend(ber::element(0x83, &unescape(value)?));
    if dn {
        content.extend(ber::boolean(0x84, true));
    }
    Ok(ber::element(0xa9, &content))
}

/// An attribute description (name or OID, with ;options).
fn attribute<'a>(name: &'a [u8], shown: &str) -> Result<&'a [u8], String> {
    let ok = !name.is_empty() && name.iter().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b';' | b'.'));
    if !ok {
        return Err(format!("bad attribute name in ({shown})"));
    }
    Ok(name)
}

/// An assertion value: `\XX` is the byte XX; `*`, `(`, `)`, a lone `\` and NUL are not allowed.
fn unescape(value: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(value.len());
    let mut i = 0;
    while i < value.len() {
        match value[i] {
            b'\\' => {
                let hex = value.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
                let byte = hex.and_then(|h| u8::from_str_radix(h, 16).ok()).ok_or("a '\\' not followed by two hex digits")?;
                out.push(byte);
                i += 3;
            }
            b'*' | b'(' | b')' | 0 => return Err(format!("'{}' in a value must be escaped", value[i].escape_ascii())),
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::ldap::ber::{OCTET_STRING, element};

    fn ava(tag: u8, attr: &str, value: &[u8]) -> Vec<u8> {
        let mut c = element(OCTET_STRING, attr.as_bytes());
        c.extend(element(OCTET_STRING, value));
        element(tag, &c)
    }

    #[test]
    fn the_default_filter_with_an_escaped_user() {
        let text = "(uid={user})".replace("{user}", &escape("a*)(uid=*\\\0ü"));
        assert_eq!(text, "(uid=a\\2a\\29\\28uid=\\2a\\5c\\00ü)");
        assert_eq!(encode(&text), Ok(ava(0xa3, "uid", "a*)(uid=*\\\0ü".as_bytes())));
    }

    #[test]
    fn and_or_not_nest() {
        let got = encode("(&(objectClass=person)(|(uid=bob)(!(mail=x))))").unwrap();
        let mut or = ava(0xa3, "uid", b"bob");
        or.extend(element(0xa2, &ava(0xa3, "mail", b"x")));
        let mut and = ava(0xa3, "objectClass", b"person");
        and.extend(element(0xa1, &or));
        assert_eq!(got, element(0xa0, &and));
        assert_eq!(encode("(&)"), Ok(vec![0xa0, 0x00]));
    }

    #[test]
    fn present_substrings_ordering_approx() {
        assert_eq!(encode("(mobile=*)"), Ok(element(0x87, b"mobile")));
        let mut subs = element(0x80, b"a");
        subs.extend(element(0x81, b"b"));
        subs.extend(element(0x82, b"c"));
        let mut c = element(OCTET_STRING, b"cn");
        c.extend(element(0x30, &subs));
        assert_eq!(encode("(cn=a*b*c)"), Ok(element(0xa4, &c)));
        assert_eq!(encode("(n>=5)"), Ok(ava(0xa5, "n", b"5")));
        assert_eq!(encode("(n<=5)"), Ok(ava(0xa6, "n", b"5")));
        assert_eq!(encode("(n~=5)"), Ok(ava(0xa8, "n", b"5")));
    }

    #[test]
    fn extensible_matches() {
        let mut c = element(0x81, b"caseExactMatch");
        c.extend(element(0x82, b"uid"));
        c.extend(element(0x83, b"Bob"));
        c.extend(vec![0x84, 0x01, 0xff]);
        assert_eq!(encode("(uid:dn:caseExactMatch:=Bob)"), Ok(element(0xa9, &c)));
        let mut c = element(0x81, b"2.5.13.5");
        c.extend(element(0x83, b"x"));
        assert_eq!(encode("(:2.5.13.5:=x)"), Ok(element(0xa9, &c)));
        assert!(encode("(:=x)").is_err());
    }

    #[test]
    fn broken_filters_are_refused() {
        for bad in
            ["uid=x", "(uid=x", "(uid=x))", "(uid)", "(=x)", "(u d=x)", "(uid=a\\zz)", "(uid=a\\2)", "(&(uid=x)", "()", "(uid=x)(cn=y)"]
        {
            assert!(encode(bad).is_err(), "{bad}");
        }
        let deep = format!("{}(uid=x){}", "(!".repeat(40), ")".repeat(40));
        assert_eq!(encode(&deep), Err(format!("nested deeper than {MAX_FILTER_DEPTH} levels")));
    }
}
