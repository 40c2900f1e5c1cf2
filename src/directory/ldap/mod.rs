//! `type = "ldap"`: the user's entry from an LDAP server (ldaps://, or ldap://
//! with StartTLS or in the clear), found with an RFC 4515-escaped filter.
//!
//! A small LDAPv3 client of our own, in the calling thread: name resolution,
//! connect, TLS (our own rustls configuration), bind, search and unbind all
//! end by the lookup's deadline. Replies are size- and depth-checked before
//! they are decoded (`session`, `ber`): a hostile server or a man in the
//! middle before StartTLS gets a directory failure, never a crash.

mod ber;
mod filter;
mod protocol;
mod session;

use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::ServerName;

use crate::auth::{Directory, DirectoryError, PhoneRecord};
use crate::config::LdapConfig;
use crate::log::Log;
use crate::net::dns::{ResolveError, Resolver};

use session::Found;
pub use session::LdapSession;

pub struct LdapDirectory {
    config: LdapConfig,
    default_country_code: String,
}

/// What went wrong, in the words `smsotp check` uses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LdapProblem {
    #[error("unreachable: {0}")]
    Unreachable(String),
    #[error("TLS failed: {0}")]
    Tls(String),
    #[error("bind refused: {0}")]
    BindRefused(String),
    #[error("search failed: {0}")]
    Search(String),
    /// Too big, too deep, malformed, or not the answer asked for.
    #[error("bad reply: {0}")]
    BadReply(String),
    #[error("timed out")]
    Timeout,
    #[error("{0}")]
    Config(String),
}

/// Longest piece of server text put into a message.
const MAX_SHOWN: usize = 200;

/// Server bytes made fit for a log line: invalid UTF-8 replaced, control
/// characters removed, and cut to a readable length.
pub(crate) fn printable(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut out: String = text.chars().filter(|c| !c.is_control()).take(MAX_SHOWN).collect();
    if text.chars().filter(|c| !c.is_control()).nth(MAX_SHOWN).is_some() {
        out.push('…');
    }
    out
}

/// Why `filter` (with `{user}` in it) is not a usable RFC 4515 filter, if it is not.
pub fn filter_problem(filter: &str) -> Option<String> {
    filter::encode(&filter.replace("{user}", "x")).err()
}

impl LdapDirectory {
    pub fn new(config: &LdapConfig, default_country_code: String) -> Self {
        LdapDirectory { config: config.clone(), default_country_code }
    }

    fn unavailable(&self, problem: LdapProblem) -> DirectoryError {
        DirectoryError::Unavailable { source_name: self.describe(), reason: problem.to_string() }
    }

    fn refused(&self, dn: &str, reason: String) -> DirectoryError {
        DirectoryError::Refused { source_name: format!("{} entry {dn}", self.describe()), reason }
    }

    fn tls_config(&self) -> Result<Arc<rustls::ClientConfig>, LdapProblem> {
        crate::trust::client_config(self.config.ca_file.as_deref()).map_err(|e| LdapProblem::Tls(e.0))
    }

    /// Connect, start TLS and bind (when configured), all within `limit`.
    pub fn connect(&self, limit: Duration) -> Result<LdapSession, LdapProblem> {
        let deadline = Instant::now() + limit;
        let left = || deadline.saturating_duration_since(Instant::now());
        let url: ureq::http::Uri = self.config.url.parse().map_err(|e| LdapProblem::Config(format!("bad url: {e}")))?;
        let host = url.host().filter(|h| !h.is_empty()).ok_or_else(|| LdapProblem::Config("the url has no host".into()))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let ldaps = url.scheme_str() == Some("ldaps");
        let port = url.port_u16().unwrap_or(if ldaps { 636 } else { 389 });
        let addrs = Resolver::system().resolve(host, port, deadline).map_err(|e| match e {
            ResolveError::Timeout => LdapProblem::Timeout,
            e => LdapProblem::Unreachable(format!("cannot resolve {host}: {e}")),
        })?;
        let mut last = LdapProblem::Unreachable(format!("{host} has no address"));
        let mut stream = None;
        for addr in addrs {
            let t = left();
            if t.is_zero() {
                return Err(LdapProblem::Timeout);
            }
            match TcpStream::connect_timeout(&addr, t) {
                Ok(s) => {
                    stream = Some(s);
                    break;
                }
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => last = LdapProblem::Timeout,
                Err(e) => last = LdapProblem::Unreachable(e.to_string()),
            }
        }
        let mut session = LdapSession::new(stream.ok_or(last)?, deadline);
        if ldaps || self.config.starttls {
            let name = ServerName::try_from(host.to_string()).map_err(|e| LdapProblem::Tls(format!("{host}: {e}")))?;
            let tls = self.tls_config()?;
            if ldaps {
                session.start_tls(tls, name)?;
            } else {
                session.starttls(tls, name)?;
            }
        }
        if let (Some(dn), Some(password)) = (&self.config.bind_dn, &self.config.bind_password) {
            session.bind(dn, password.expose())?;
        }
        Ok(session)
    }

    /// The phone record of the one entry found, or a refusal naming the entry.
    fn record(&self, entry: protocol::RawEntry) -> Result<Option<PhoneRecord>, DirectoryError> {
        let dn = match String::from_utf8(entry.dn) {
            Ok(dn) => printable(dn.as_bytes()),
            Err(e) => return Err(self.refused(&printable(e.as_bytes()), "the entry's DN is not UTF-8".into())),
        };
        // attribute names come back in the server's spelling
        let found = self.config.phone_attributes.iter().find_map(|wanted| {
            entry
                .attributes
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(wanted.as_bytes()))
                .and_then(|(_, values)| values.first())
                .map(|value| (wanted, value))
        });
        let Some((attribute, raw)) = found else { return Ok(None) };
        let Ok(raw) = std::str::from_utf8(raw) else {
            return Err(self.refused(&dn, format!("the value of {attribute} is not UTF-8")));
        };
        super::phone_record(raw, &self.default_country_code, self.describe(), Some(format!("entry {dn}")), Some(dn.clone())).map(Some)
    }
}

impl Directory for LdapDirectory {
    fn describe(&self) -> String {
        format!("ldap {}", self.config.url)
    }

    fn lookup(&self, user: &str, remaining: Duration, _log: &dyn Log) -> Result<Option<PhoneRecord>, DirectoryError> {
        let limit = remaining.min(Duration::from_secs(self.config.timeout));
        let filter = filter::encode(&self.config.filter.replace("{user}", &filter::escape(user)))
            .map_err(|e| self.unavailable(LdapProblem::Config(format!("filter: {e}"))))?;
        let mut session = self.connect(limit).map_err(|p| self.unavailable(p))?;
        let found = session.search(&self.config.base_dn, &filter, &self.config.phone_attributes);
        let _ = session.unbind();
        match found.map_err(|p| self.unavailable(p))? {
            Found::Nothing => Ok(None),
            Found::Many => Err(DirectoryError::Refused {
                source_name: self.describe(),
                reason: "more than one entry matches the user; refusing to guess".into(),
            }),
            Found::One(entry) => self.record(entry),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_strips_controls_and_bounds_length() {
        assert_eq!(printable(b"uid=a\x1b[31m\r\n,dc=x\x7f\xff"), "uid=a[31m,dc=x\u{fffd}");
        let long = printable(&[b'a'; 1000]);
        assert_eq!(long.chars().count(), MAX_SHOWN + 1);
        assert!(long.ends_with('…'));
        assert_eq!(printable(&[b'a'; MAX_SHOWN]).len(), MAX_SHOWN);
    }

    #[test]
    fn configured_filters_are_checked() {
        assert_eq!(filter_problem("(uid={user})"), None);
        assert_eq!(filter_problem("(&(objectClass=person)(uid={user}))"), None);
        assert!(filter_problem("(&(uid={user})").is_some());
    }
}
