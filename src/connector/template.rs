//! Request templates of the generic HTTP connector: {{to}} {{text}} {{from}}, the
//! aliases {{mobile}} {{body}} $ctx.num $ctx.msg, and {{dlr_url}} (the delivery
//! report URL, empty while reports are off), each escaped for where it stands.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Everything but unreserved characters (RFC 3986) is encoded.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

pub struct Values<'a> {
    pub to: &'a str,
    pub text: &'a str,
    pub from: &'a str,
    pub dlr_url: &'a str,
}

const PLACEHOLDERS: &[(&str, Field)] = &[
    ("{{to}}", Field::To),
    ("{{mobile}}", Field::To),
    ("$ctx.num", Field::To),
    ("{{text}}", Field::Text),
    ("{{body}}", Field::Text),
    ("$ctx.msg", Field::Text),
    ("{{from}}", Field::From),
    ("{{dlr_url}}", Field::DlrUrl),
];

#[derive(Clone, Copy)]
enum Field {
    To,
    Text,
    From,
    DlrUrl,
}

impl Values<'_> {
    fn get(&self, f: Field) -> &str {
        match f {
            Field::To => self.to,
            Field::Text => self.text,
            Field::From => self.from,
            Field::DlrUrl => self.dlr_url,
        }
    }
}

pub fn percent(value: &str) -> String {
    utf8_percent_encode(value, COMPONENT).to_string()
}

/// For a URL or a form body: every value percent-encoded.
pub fn fill_percent(template: &str, values: &Values<'_>) -> String {
    fill(template, values, |_, v| percent(v))
}

/// For a JSON body: inside a string a value is escaped as string content; bare,
/// it becomes a whole quoted JSON string.
pub fn fill_json(template: &str, values: &Values<'_>) -> String {
    fill(template, values, |in_string, v| {
        let quoted = serde_json::Value::String(v.to_string()).to_string();
        if in_string { quoted[1..quoted.len() - 1].to_string() } else { quoted }
    })
}

fn fill(template: &str, values: &Values<'_>, escape: impl Fn(bool, &str) -> String) -> String {
    let mut out = String::with_capacity(template.len() + values.text.len() + 32);
    let mut in_string = false;
    let mut escaped = false;
    let mut rest = template;
    'outer: while let Some(c) = rest.chars().next() {
        if !escaped {
            for (name, field) in PLACEHOLDERS {
                if let Some(after) = rest.strip_prefix(name) {
                    out.push_str(&escape(in_string, values.get(*field)));
                    rest = after;
                    continue 'outer;
                }
            }
        }
        if in_string && !escaped && c == '\\' {
            escaped = true;
        } else {
            if c == '"' && !escaped {
                in_string = !in_string;
            }
            escaped = false;
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values() -> Values<'static> {
        Values { to: "+15551234567", text: "Code \"42\" & more\n€ \\ {x}", from: "ACME", dlr_url: "https://dlr.example/r/gw/TOKEN" }
    }

    #[test]
    fn json_values_inside_strings_are_escaped_as_content() {
        let t = r#"{"messages":[{"to":"{{to}}","content":"{{text}}","from":"{{from}}"}]}"#;
        let body = fill_json(t, &values());
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["messages"][0]["content"], values().text);
        assert_eq!(v["messages"][0]["to"], "+15551234567");
    }

    #[test]
    fn bare_json_values_become_quoted_strings() {
        let t = r#"{"to": {{mobile}}, "body": {{body}}, "n": $ctx.num, "m": "$ctx.msg"}"#;
        let body = fill_json(t, &values());
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["to"], "+15551234567");
        assert_eq!(v["body"], values().text);
        assert_eq!(v["n"], "+15551234567");
        assert_eq!(v["m"], values().text);
    }

    #[test]
    fn escaped_quotes_do_not_confuse_the_string_state() {
        let t = r#"{"a":"say \"hi\" {{text}}","b":{{to}}}"#;
        let v: serde_json::Value = serde_json::from_str(&fill_json(t, &values())).unwrap();
        assert_eq!(v["a"], format!("say \"hi\" {}", values().text));
        assert_eq!(v["b"], "+15551234567");
    }

    #[test]
    fn the_report_url_goes_where_the_template_puts_it() {
        let url = fill_percent("https://gw/send?to={{to}}&msg={{text}}&report={{dlr_url}}", &values());
        assert!(url.ends_with("&report=https%3A%2F%2Fdlr.example%2Fr%2Fgw%2FTOKEN"), "{url}");
        let v: serde_json::Value = serde_json::from_str(&fill_json(r#"{"cb":{{dlr_url}}}"#, &values())).unwrap();
        assert_eq!(v["cb"], "https://dlr.example/r/gw/TOKEN");
    }

    #[test]
    fn urls_and_forms_are_percent_encoded() {
        let url = fill_percent("https://gw/send?to={{to}}&msg={{text}}&from={{from}}", &values());
        assert!(url.starts_with("https://gw/send?to=%2B15551234567&msg=Code%20%2242%22%20%26%20more%0A%E2%82%AC"), "{url}");
        assert!(!url.contains(' '));
    }
}
