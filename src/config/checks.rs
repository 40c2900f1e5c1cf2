//! Checks on values that go on the wire or to a program: URLs the HTTP client
//! can use, proxies it supports, text without control characters. Messages
//! never repeat the value (it may hold a credential), only host names.

use std::net::Ipv6Addr;

use super::Invalid;

/// No control character at all (CR, LF, NUL, TAB...): for header values,
/// tokens, credentials and other values sent verbatim.
pub(super) fn printable(key: &str, value: &str) -> Result<(), Invalid> {
    if value.chars().any(char::is_control) {
        return Err(Invalid::new(key, "must not contain control characters (CR, LF, NUL, TAB...)"));
    }
    Ok(())
}

/// No NUL: text that crosses a C string boundary (PAM prompts, argv).
pub(super) fn no_nul(key: &str, value: &str) -> Result<(), Invalid> {
    if value.contains('\0') {
        return Err(Invalid::new(key, "must not contain a NUL character"));
    }
    Ok(())
}

/// An http:// or https:// URL the HTTP client can send to. Template
/// placeholders stand for percent-encoded values.
pub(super) fn http_url(key: &str, url: &str) -> Result<(), Invalid> {
    let Some(rest) = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://")) else {
        return Err(Invalid::new(key, "must start with https:// or http://"));
    };
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(Invalid::new(key, "must not contain white space or control characters"));
    }
    host_and_port(key, authority(rest))?;
    if ureq::http::Uri::try_from(without_placeholders(url).as_str()).is_err() {
        return Err(Invalid::new(key, "is not a URL the HTTP client accepts (characters outside RFC 3986?)"));
    }
    Ok(())
}

/// A proxy the HTTP client really supports: http:// (CONNECT for https targets).
/// SOCKS would make ureq panic on every send, as this build has no SOCKS support.
pub(super) fn proxy_url(key: &str, url: &str) -> Result<(), Invalid> {
    if url.is_empty() {
        return Err(Invalid::new(key, "must not be empty; leave proxy out to connect directly"));
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(Invalid::new(key, "must not contain white space or control characters"));
    }
    let Some(rest) = url.strip_prefix("http://") else {
        return Err(Invalid::new(key, "must be an http:// proxy URL (SOCKS and https:// proxies are not supported)"));
    };
    let authority = authority(rest);
    host_and_port(key, authority)?;
    if !matches!(&rest[authority.len()..], "" | "/") {
        return Err(Invalid::new(key, "a proxy URL has no path, query or fragment"));
    }
    if ureq::Proxy::new(url).is_err() {
        return Err(Invalid::new(key, "is not a proxy URL the HTTP client accepts"));
    }
    Ok(())
}

/// What follows `scheme://` up to the path, query or fragment.
fn authority(after_scheme: &str) -> &str {
    let end = after_scheme.find(['/', '?', '#']).unwrap_or(after_scheme.len());
    &after_scheme[..end]
}

/// The host (an ASCII name, an IPv4 address or a bracketed IPv6 address) and
/// the optional port of an authority; user info is skipped.
fn host_and_port(key: &str, authority: &str) -> Result<(), Invalid> {
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let (host, port) = match host_port.strip_prefix('[') {
        Some(inner) => {
            let Some((ip, after)) = inner.split_once(']') else {
                return Err(Invalid::new(key, "an IPv6 address needs its closing ']'"));
            };
            if ip.parse::<Ipv6Addr>().is_err() {
                return Err(Invalid::new(key, "brackets hold an IPv6 address, e.g. http://[2001:db8::1]:8080/"));
            }
            match after {
                "" => (ip, None),
                _ => match after.strip_prefix(':') {
                    Some(p) => (ip, Some(p)),
                    None => return Err(Invalid::new(key, "only :port may follow an IPv6 address")),
                },
            }
        }
        None => match host_port.matches(':').count() {
            0 => (host_port, None),
            1 => host_port.split_once(':').map(|(h, p)| (h, Some(p))).unwrap_or((host_port, None)),
            _ => return Err(Invalid::new(key, "an IPv6 address must be in brackets, e.g. http://[::1]:8080/")),
        },
    };
    if host.is_empty() {
        return Err(Invalid::new(key, "has no host"));
    }
    if !host.is_ascii() {
        let ascii = url::Url::parse(&format!("http://{host}/")).ok().and_then(|u| u.host_str().map(str::to_string));
        return Err(match ascii {
            Some(a) => Invalid::new(key, format!("write the host name in its ASCII (punycode) form: {a}")),
            None => Invalid::new(key, "the host name is not valid"),
        });
    }
    let name_ok = host.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._:".contains(&b));
    if !name_ok {
        return Err(Invalid::new(key, format!("{host:?} is not a host name or address")));
    }
    match port {
        None | Some("") => Ok(()),
        Some(p) if p.bytes().all(|b| b.is_ascii_digit()) && p.parse::<u16>().is_ok_and(|n| n > 0) => Ok(()),
        Some(_) => Err(Invalid::new(key, "the port must be a number from 1 to 65535")),
    }
}

/// The URL as sent: every `{{name}}` and `$ctx.name` placeholder replaced by a
/// value as the template fills it (percent-encoded, so plain characters).
fn without_placeholders(url: &str) -> String {
    let mut out = String::with_capacity(url.len());
    let mut rest = url;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix("{{")
            && let Some(end) = after.find("}}")
        {
            out.push('0');
            rest = &after[end + 2..];
        } else if let Some(after) = rest.strip_prefix("$ctx.") {
            out.push('0');
            rest = after.trim_start_matches(|c: char| c.is_ascii_alphanumeric() || c == '_');
        } else {
            let c = rest.chars().next().unwrap_or_default();
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_become_plain_values() {
        assert_eq!(without_placeholders("https://gw/{{to}}?m=$ctx.msg&x={{body}}"), "https://gw/0?m=0&x=0");
        assert_eq!(without_placeholders("https://gw/{{open"), "https://gw/{{open");
        assert_eq!(without_placeholders("https://gw/ü"), "https://gw/ü");
    }
}
