//! One ureq Agent per send: trust roots from fixed files, a proxy only from the
//! config, no redirects, every phase inside the timeout, and no thread started.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use ureq::Agent;
use ureq::config::Config as AgentConfig;
use ureq::tls::{Certificate, RootCerts, TlsConfig, TlsProvider};
use ureq::unversioned::resolver::{ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{DefaultConnector, NextTimeout};

use super::DeliveryError;
use crate::net::dns::{ResolveError, Resolver as SystemResolver};

pub struct AgentOptions<'a> {
    pub timeout: Duration,
    pub proxy: Option<&'a str>,
    pub ca_file: Option<&'a Path>,
    /// Plain http:// needs no trust roots; skip reading the bundle.
    pub https: bool,
}

pub fn build(options: &AgentOptions<'_>) -> Result<Agent, DeliveryError> {
    let proxy = match options.proxy {
        Some(p) => Some(ureq::Proxy::new(p).map_err(|_| DeliveryError::Local("the proxy URL is not usable".into()))?),
        None => None,
    };
    // the validator allows http:// only; ureq without its socks-proxy feature
    // panics on a SOCKS proxy, so never hand it one
    if proxy.as_ref().is_some_and(|p| p.protocol() != ureq::ProxyProtocol::Http) {
        return Err(DeliveryError::Local("only http:// proxies are supported".into()));
    }
    let roots = if options.https {
        crate::trust::roots(options.ca_file)
            .map_err(|e| DeliveryError::Tls(e.0))?
            .iter()
            .map(|der| Certificate::from_der(der.as_ref()).to_owned())
            .collect()
    } else {
        Vec::new()
    };
    // explicit provider: never a process-wide default the host may have set
    let tls = TlsConfig::builder()
        .provider(TlsProvider::Rustls)
        .unversioned_rustls_crypto_provider(crate::trust::crypto_provider())
        .root_certs(RootCerts::Specific(Arc::new(roots)))
        .build();
    let config = AgentConfig::builder()
        .proxy(proxy)
        .tls_config(tls)
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(options.timeout))
        .timeout_connect(Some(options.timeout))
        .user_agent(concat!("pam_smsotp/", env!("CARGO_PKG_VERSION")))
        .build();
    Ok(Agent::with_parts(config, DefaultConnector::default(), ThreadlessResolver))
}

/// ureq resolves in a helper thread when a timeout applies, and getaddrinfo has
/// no timeout; inside sshd and sudo we resolve in the calling thread with our
/// own resolver, bounded by what is left of the send's time.
#[derive(Debug)]
struct ThreadlessResolver;

impl Resolver for ThreadlessResolver {
    fn resolve(&self, uri: &ureq::http::Uri, _config: &AgentConfig, timeout: NextTimeout) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let host = uri.host().ok_or(ureq::Error::HostNotFound)?;
        let port = uri.port_u16().unwrap_or(if uri.scheme_str() == Some("https") { 443 } else { 80 });
        let left = if timeout.after.is_not_happening() { Duration::from_secs(30) } else { *timeout.after };
        let found = SystemResolver::system().resolve(host, port, std::time::Instant::now() + left).map_err(|e| match e {
            ResolveError::Timeout => ureq::Error::Timeout(timeout.reason),
            _ => ureq::Error::HostNotFound,
        })?;
        let mut addrs = self.empty();
        for addr in found.into_iter().take(16) {
            addrs.push(addr);
        }
        Ok(addrs)
    }
}

/// ureq's errors, said without the URL (a template may carry the number in it).
pub fn classify(e: ureq::Error) -> DeliveryError {
    use ureq::Error as E;
    match e {
        E::Timeout(_) => DeliveryError::Timeout,
        E::HostNotFound => DeliveryError::Connect("host not found".into()),
        E::ConnectionFailed => DeliveryError::Connect("connection failed".into()),
        E::Io(io) if io.get_ref().is_some_and(|inner| inner.is::<rustls::Error>()) => {
            DeliveryError::Tls(io.get_ref().map(|inner| inner.to_string()).unwrap_or_default())
        }
        E::Io(io) => match io.kind() {
            std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => DeliveryError::Timeout,
            kind => DeliveryError::Connect(io_kind(kind, &io)),
        },
        E::Tls(msg) => DeliveryError::Tls(msg.to_string()),
        E::Rustls(r) => DeliveryError::Tls(r.to_string()),
        E::BadUri(_) => DeliveryError::Local("the URL is not valid".into()),
        E::BodyExceedsLimit(_) => DeliveryError::BadResponse("answer too large".into()),
        E::Protocol(p) => DeliveryError::BadResponse(format!("HTTP protocol error: {p}")),
        other => DeliveryError::Connect(format!("{other}")),
    }
}

fn io_kind(kind: std::io::ErrorKind, io: &std::io::Error) -> String {
    match kind {
        std::io::ErrorKind::ConnectionRefused => "connection refused".into(),
        std::io::ErrorKind::ConnectionReset => "connection reset".into(),
        std::io::ErrorKind::UnexpectedEof => "connection closed early".into(),
        _ => io.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_proxy(proxy: &str) -> Result<Agent, DeliveryError> {
        build(&AgentOptions { timeout: Duration::from_secs(1), proxy: Some(proxy), ca_file: None, https: false })
    }

    /// A proxy that bypassed the validator still never reaches ureq's SOCKS panic.
    #[test]
    fn only_http_proxies_are_handed_to_ureq() {
        assert!(with_proxy("http://127.0.0.1:3128").is_ok());
        for p in ["socks5://127.0.0.1:1080", "socks4://127.0.0.1:1080", "socks://127.0.0.1:1080", "https://127.0.0.1:3128", ""] {
            assert!(matches!(with_proxy(p), Err(DeliveryError::Local(_))), "{p}");
        }
    }
}
