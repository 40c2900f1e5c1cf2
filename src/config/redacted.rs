//! How values that may hold credentials are printed (`smsotp check`, Debug):
//! URLs without user info, query values or fragment; params, headers and
//! request bodies without their values.

use std::collections::BTreeMap;

use serde::Serializer;

pub const REDACTED: &str = "[redacted]";

/// `https://user:pw@host/p?key=v#f` → `https://[redacted]@host/p?key=[redacted]#[redacted]`.
/// The scheme, host, port, path and parameter names stay readable.
pub fn redacted_url(url: &str) -> String {
    let (scheme, rest) = match url.find("://") {
        Some(i) => url.split_at(i + 3),
        None => ("", url),
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let mut out = String::with_capacity(url.len() + 16);
    out.push_str(scheme);
    match authority.rsplit_once('@') {
        Some((_, host)) => {
            out.push_str(REDACTED);
            out.push('@');
            out.push_str(host);
        }
        None => out.push_str(authority),
    }
    let (tail, fragment) = match tail.split_once('#') {
        Some((t, _)) => (t, true),
        None => (tail, false),
    };
    match tail.split_once('?') {
        Some((path, query)) => {
            out.push_str(path);
            out.push('?');
            let pairs: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((name, _)) => format!("{name}={REDACTED}"),
                    None if pair.is_empty() => String::new(),
                    None => REDACTED.to_string(),
                })
                .collect();
            out.push_str(&pairs.join("&"));
        }
        None => out.push_str(tail),
    }
    if fragment {
        out.push('#');
        out.push_str(REDACTED);
    }
    out
}

pub(super) fn url<S: Serializer>(value: &str, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&redacted_url(value))
}

pub(super) fn opt_url<S: Serializer>(value: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
    match value {
        Some(v) => s.serialize_some(&redacted_url(v)),
        None => s.serialize_none(),
    }
}

/// A free-form table (params, headers): the names, each value redacted.
pub(super) fn values<S: Serializer>(map: &BTreeMap<String, String>, s: S) -> Result<S::Ok, S::Error> {
    s.collect_map(map.keys().map(|k| (k, REDACTED)))
}

/// A value shown only as set (a request body may carry an API key).
pub(super) fn opt_whole<S: Serializer>(value: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
    match value {
        Some(_) => s.serialize_some(REDACTED),
        None => s.serialize_none(),
    }
}

/// Debug output that shows exactly what the redacted serialization shows.
pub(super) fn debug<T: serde::Serialize>(name: &str, value: &T, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
    match serde_json::to_string(value) {
        Ok(json) => write!(f, "{name} {json}"),
        Err(_) => write!(f, "{name} {{ .. }}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_keep_only_what_is_not_secret() {
        for (url, shown) in [
            ("https://sms.example.org/send", "https://sms.example.org/send"),
            ("https://u:pw@sms.example.org:8443/send", "https://[redacted]@sms.example.org:8443/send"),
            (
                "https://sms.example.org/send?password=pw&api_key=k&flag",
                "https://sms.example.org/send?password=[redacted]&api_key=[redacted]&[redacted]",
            ),
            ("http://u:p@w@proxy:3128", "http://[redacted]@proxy:3128"),
            ("https://gw/send?to={{to}}#tok", "https://gw/send?to=[redacted]#[redacted]"),
            ("https://token@gw?x=1", "https://[redacted]@gw?x=[redacted]"),
            ("ldap://ldap.example.org", "ldap://ldap.example.org"),
            ("", ""),
        ] {
            assert_eq!(redacted_url(url), shown, "{url}");
        }
    }
}
