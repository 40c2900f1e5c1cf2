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
        let ascii = ascii_host(host);
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

/// A suggestion for a host name written in Unicode: each label lower-cased and,
/// where it is not ASCII, punycode-encoded (RFC 3492) behind "xn--". Not a full
/// IDNA mapping: the administrator is shown a likely form to check and write.
fn ascii_host(host: &str) -> Option<String> {
    let labels: Option<Vec<String>> = host
        .split('.')
        .map(|label| {
            let label = label.to_lowercase();
            if label.is_ascii() { Some(label) } else { punycode(&label).map(|p| format!("xn--{p}")) }
        })
        .collect();
    labels.map(|l| l.join("."))
}

/// RFC 3492 encoding of one label.
fn punycode(input: &str) -> Option<String> {
    const BASE: u32 = 36;
    const TMIN: u32 = 1;
    const TMAX: u32 = 26;
    const SKEW: u32 = 38;
    const DAMP: u32 = 700;
    let adapt = |mut delta: u32, points: u32, first: bool| {
        delta /= if first { DAMP } else { 2 };
        delta += delta / points;
        let mut k = 0;
        while delta > ((BASE - TMIN) * TMAX) / 2 {
            delta /= BASE - TMIN;
            k += BASE;
        }
        k + (BASE - TMIN + 1) * delta / (delta + SKEW)
    };
    let digit = |d: u32| -> char { if d < 26 { (b'a' + d as u8) as char } else { (b'0' + (d - 26) as u8) as char } };
    let chars: Vec<u32> = input.chars().map(u32::from).collect();
    let mut out: String = input.chars().filter(char::is_ascii).collect();
    let basic = out.len() as u32;
    if basic > 0 {
        out.push('-');
    }
    let (mut n, mut delta, mut bias, mut handled) = (128u32, 0u32, 72u32, basic);
    while (handled as usize) < chars.len() {
        let m = chars.iter().copied().filter(|&c| c >= n).min()?;
        delta = delta.checked_add((m - n).checked_mul(handled + 1)?)?;
        n = m;
        for &c in &chars {
            if c < n {
                delta = delta.checked_add(1)?;
            }
            if c == n {
                let mut q = delta;
                let mut k = BASE;
                loop {
                    let t = if k <= bias {
                        TMIN
                    } else if k >= bias + TMAX {
                        TMAX
                    } else {
                        k - bias
                    };
                    if q < t {
                        break;
                    }
                    out.push(digit(t + (q - t) % (BASE - t)));
                    q = (q - t) / (BASE - t);
                    k += BASE;
                }
                out.push(digit(q));
                bias = adapt(delta, handled + 1, handled == basic);
                delta = 0;
                handled += 1;
            }
        }
        delta += 1;
        n += 1;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unicode_host_names_get_their_ascii_form() {
        assert_eq!(ascii_host("bücher.example").as_deref(), Some("xn--bcher-kva.example"));
        assert_eq!(ascii_host("MÜNCHEN.de").as_deref(), Some("xn--mnchen-3ya.de"));
        assert_eq!(ascii_host("пример.рф").as_deref(), Some("xn--e1afmkfd.xn--p1ai"));
        assert_eq!(ascii_host("例え.jp").as_deref(), Some("xn--r8jz45g.jp"));
        assert_eq!(ascii_host("gw.example").as_deref(), Some("gw.example"));
    }

    #[test]
    fn placeholders_become_plain_values() {
        assert_eq!(without_placeholders("https://gw/{{to}}?m=$ctx.msg&x={{body}}"), "https://gw/0?m=0&x=0");
        assert_eq!(without_placeholders("https://gw/{{open"), "https://gw/{{open");
        assert_eq!(without_placeholders("https://gw/ü"), "https://gw/ü");
    }
}
