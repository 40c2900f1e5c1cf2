//! Trust roots for TLS: the system bundle at a fixed path plus a configured
//! `ca_file`; never SSL_CERT_FILE or another environment-driven lookup, which
//! the calling user controls under sudo and su.

use std::path::Path;
use std::sync::Arc;

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

/// The system's trust bundle (Debian's ca-certificates); never SSL_CERT_FILE.
pub const DEFAULT_CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TrustError(pub String);

/// The system bundle (when present) and `ca_file` (which must hold a certificate).
pub fn roots(ca_file: Option<&Path>) -> Result<Vec<CertificateDer<'static>>, TrustError> {
    let mut roots = Vec::new();
    match std::fs::read(DEFAULT_CA_BUNDLE) {
        Ok(pem) => roots.extend(parse(&pem)),
        Err(e) if ca_file.is_none() => return Err(TrustError(format!("cannot read {DEFAULT_CA_BUNDLE}: {e}"))),
        Err(_) => {}
    }
    if let Some(path) = ca_file {
        let pem = std::fs::read(path).map_err(|e| TrustError(format!("cannot read ca_file {}: {e}", path.display())))?;
        let before = roots.len();
        roots.extend(parse(&pem));
        if roots.len() == before {
            return Err(TrustError(format!("no certificate in ca_file {}", path.display())));
        }
    }
    Ok(roots)
}

/// The crypto every TLS client of the module uses: ring, set explicitly, never
/// a process-wide default the host may have installed.
pub fn crypto_provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The one TLS client configuration for the module's own sockets (LDAP, and
/// Redis later): `roots`, the explicit provider, safe default versions, no
/// client certificate. (ureq, for HTTP, is given the same roots and provider.)
pub fn client_config(ca_file: Option<&Path>) -> Result<Arc<rustls::ClientConfig>, TrustError> {
    let mut store = rustls::RootCertStore::empty();
    store.add_parsable_certificates(roots(ca_file)?);
    let config = rustls::ClientConfig::builder_with_provider(crypto_provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TrustError(e.to_string()))?
        .with_root_certificates(store)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

fn parse(pem: &[u8]) -> impl Iterator<Item = CertificateDer<'static>> + '_ {
    CertificateDer::pem_slice_iter(pem).filter_map(Result::ok)
}
