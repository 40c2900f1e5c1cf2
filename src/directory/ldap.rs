//! `type = "ldap"`: the user's entry from an LDAP server (ldaps://, or ldap://
//! with StartTLS or in the clear), found with an RFC 4515-escaped filter.
//!
//! ldap3's sync API runs a current-thread runtime (no worker thread); the TCP
//! connection is made here, in the calling thread, because ldap3 would resolve
//! the host name on a helper thread. TLS uses our own rustls configuration.

use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ldap3::{LdapConn, LdapConnSettings, LdapError, Scope, SearchEntry, SearchOptions, StdStream};

use crate::auth::{Directory, DirectoryError, PhoneRecord};
use crate::config::LdapConfig;
use crate::log::Log;
use crate::phone::Phone;

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
    #[error("timed out")]
    Timeout,
    #[error("{0}")]
    Config(String),
}

impl LdapDirectory {
    pub fn new(config: &LdapConfig, default_country_code: String) -> Self {
        LdapDirectory { config: config.clone(), default_country_code }
    }

    fn unavailable(&self, problem: LdapProblem) -> DirectoryError {
        DirectoryError::Unavailable { source_name: self.describe(), reason: problem.to_string() }
    }

    /// Connect (and bind, when configured) within `limit`.
    pub fn connect(&self, limit: Duration) -> Result<LdapConn, LdapProblem> {
        let started = Instant::now();
        let left = || limit.saturating_sub(started.elapsed());
        let url = url::Url::parse(&self.config.url).map_err(|e| LdapProblem::Config(format!("bad url: {e}")))?;
        let host = url.host_str().filter(|h| !h.is_empty()).ok_or_else(|| LdapProblem::Config("the url has no host".into()))?;
        let port = url.port().unwrap_or(if url.scheme() == "ldaps" { 636 } else { 389 });
        let addrs: Vec<_> = (host.trim_start_matches('[').trim_end_matches(']'), port)
            .to_socket_addrs()
            .map_err(|e| LdapProblem::Unreachable(format!("cannot resolve {host}: {e}")))?
            .collect();
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
        let stream = stream.ok_or(last)?;
        let roots = crate::trust::roots(self.config.ca_file.as_deref()).map_err(|e| LdapProblem::Tls(e.0))?;
        let mut store = rustls::RootCertStore::empty();
        store.add_parsable_certificates(roots);
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| LdapProblem::Tls(e.to_string()))?
            .with_root_certificates(store)
            .with_no_client_auth();
        let settings = LdapConnSettings::new()
            .set_conn_timeout(left())
            .set_starttls(self.config.starttls)
            .set_config(Arc::new(tls))
            .set_std_stream(StdStream::Tcp(stream));
        let mut conn = LdapConn::with_settings(settings, &self.config.url).map_err(|e| classify(e, true))?;
        conn.with_timeout(left());
        if let (Some(dn), Some(password)) = (&self.config.bind_dn, &self.config.bind_password) {
            conn.with_timeout(left());
            let result = conn.simple_bind(dn, password.expose()).map_err(|e| classify(e, false))?;
            if result.rc != 0 {
                return Err(LdapProblem::BindRefused(format!("result code {} {}", result.rc, result.text).trim().to_string()));
            }
        }
        Ok(conn)
    }

    /// The user's single entry, or None; more than one is refused.
    fn find(&self, conn: &mut LdapConn, user: &str, limit: Duration) -> Result<Option<SearchEntry>, DirectoryError> {
        let filter = self.config.filter.replace("{user}", &ldap3::ldap_escape(user));
        let attrs: Vec<&str> = self.config.phone_attributes.iter().map(String::as_str).collect();
        conn.with_timeout(limit);
        conn.with_search_options(SearchOptions::new().sizelimit(2));
        let result = conn.search(&self.config.base_dn, Scope::Subtree, &filter, attrs).map_err(|e| self.unavailable(classify(e, false)))?;
        let (entries, status) = (result.0, result.1);
        // 4 = sizeLimitExceeded: more than one entry matched
        if status.rc == 4 || entries.len() > 1 {
            return Err(DirectoryError::Refused {
                source_name: self.describe(),
                reason: "more than one entry matches the user; refusing to guess".into(),
            });
        }
        if status.rc != 0 {
            return Err(self.unavailable(LdapProblem::Search(format!("result code {} {}", status.rc, status.text).trim().to_string())));
        }
        Ok(entries.into_iter().next().map(SearchEntry::construct))
    }
}

fn classify(e: LdapError, connecting: bool) -> LdapProblem {
    let text = e.to_string();
    match e {
        LdapError::Timeout { .. } => LdapProblem::Timeout,
        LdapError::Io { source } if source.kind() == std::io::ErrorKind::TimedOut => LdapProblem::Timeout,
        LdapError::Io { source } if source.get_ref().is_some_and(|inner| inner.is::<rustls::Error>()) => {
            LdapProblem::Tls(source.to_string())
        }
        _ if text.to_ascii_lowercase().contains("certificate") || text.to_ascii_lowercase().contains("tls") => LdapProblem::Tls(text),
        _ if connecting => LdapProblem::Unreachable(text),
        _ => LdapProblem::Search(text),
    }
}

impl Directory for LdapDirectory {
    fn describe(&self) -> String {
        format!("ldap {}", self.config.url)
    }

    fn lookup(&self, user: &str, remaining: Duration, _log: &dyn Log) -> Result<Option<PhoneRecord>, DirectoryError> {
        let limit = remaining.min(Duration::from_secs(self.config.timeout));
        let started = Instant::now();
        let mut conn = self.connect(limit).map_err(|p| self.unavailable(p))?;
        let found = self.find(&mut conn, user, limit.saturating_sub(started.elapsed()));
        let _ = conn.unbind();
        let Some(entry) = found? else { return Ok(None) };
        // attribute names come back in the server's spelling
        let raw = self.config.phone_attributes.iter().find_map(|wanted| {
            entry.attrs.iter().find(|(name, _)| name.eq_ignore_ascii_case(wanted)).and_then(|(_, values)| values.first())
        });
        match raw {
            None => Ok(None),
            Some(raw) => match Phone::normalise(raw, &self.default_country_code) {
                Ok(phone) => Ok(Some(PhoneRecord { phone, source: self.describe(), dn: Some(entry.dn) })),
                Err(e) => {
                    Err(DirectoryError::Refused { source_name: format!("{} entry {}", self.describe(), entry.dn), reason: e.to_string() })
                }
            },
        }
    }
}
