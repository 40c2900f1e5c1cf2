//! The `{name}` templates of the config (`[message] template`, `[otp] prompt`):
//! their grammar, and the one list of the names each may use. src/message.rs
//! fills them in.

use super::Invalid;

/// What the SMS text may say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageField {
    Code,
    User,
    Host,
    Service,
    TtlMinutes,
    Seq,
}

pub const MESSAGE_PLACEHOLDERS: &[(&str, MessageField)] = &[
    ("code", MessageField::Code),
    ("user", MessageField::User),
    ("host", MessageField::Host),
    ("service", MessageField::Service),
    ("ttl_minutes", MessageField::TtlMinutes),
    ("seq", MessageField::Seq),
];

/// What the code prompt may say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromptField {
    /// The number, masked.
    Phone,
    Seq,
    Service,
    User,
}

pub const PROMPT_PLACEHOLDERS: &[(&str, PromptField)] =
    &[("phone", PromptField::Phone), ("seq", PromptField::Seq), ("service", PromptField::Service), ("user", PromptField::User)];

/// One piece of a template.
pub enum Piece<'a> {
    Text(&'a str),
    Placeholder(&'a str),
    Unclosed,
}

/// A template cut into text and `{name}` placeholders.
pub fn pieces(template: &str) -> Vec<Piece<'_>> {
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

/// Reject placeholders the list does not know, and an unclosed '{'.
pub fn check_placeholders<F>(key: &str, template: &str, known: &[(&str, F)]) -> Result<(), Invalid> {
    for piece in pieces(template) {
        match piece {
            Piece::Placeholder(name) if !known.iter().any(|(n, _)| *n == name) => {
                let names: Vec<String> = known.iter().map(|(n, _)| format!("{{{n}}}")).collect();
                return Err(Invalid::new(key, format!("unknown placeholder {{{name}}}; known: {}", names.join(" "))));
            }
            Piece::Unclosed => return Err(Invalid::new(key, "a '{' is not closed")),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_unknown_and_unclosed_placeholders() {
        let e = check_placeholders("message.template", "{code} {pin}", MESSAGE_PLACEHOLDERS).unwrap_err();
        assert_eq!(e.key, "message.template");
        assert!(e.message.contains("{pin}"), "{}", e.message);
        assert!(check_placeholders("k", "{code", MESSAGE_PLACEHOLDERS).is_err());
        assert!(check_placeholders("k", "{phone}", MESSAGE_PLACEHOLDERS).is_err());
        assert!(check_placeholders("k", "{phone} {seq}", PROMPT_PLACEHOLDERS).is_ok());
        assert!(check_placeholders("k", "{code} for {user}@{host} via {service}, {ttl_minutes} min [{seq}]", MESSAGE_PLACEHOLDERS).is_ok());
    }
}
