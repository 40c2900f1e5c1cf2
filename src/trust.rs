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
/// a process-wide default the host may have installed. A client only: AES-GCM
/// suites (every server offers them), the usual key exchanges, and no key
/// provider (the module never signs), so ring's signing and ChaCha20 code stay
/// out of the module.
pub fn crypto_provider() -> Arc<rustls::crypto::CryptoProvider> {
    use rustls::crypto::ring::{cipher_suite as suite, kx_group};
    Arc::new(rustls::crypto::CryptoProvider {
        cipher_suites: vec![
            suite::TLS13_AES_128_GCM_SHA256,
            suite::TLS13_AES_256_GCM_SHA384,
            suite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
            suite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
            suite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
            suite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        ],
        kx_groups: vec![kx_group::X25519, kx_group::SECP256R1, kx_group::SECP384R1],
        signature_verification_algorithms: VERIFY,
        secure_random: &SystemRandom,
        key_provider: &NoSigningKeys,
    })
}

/// What a server's certificate and handshake may be signed with: what ring
/// verifies (the same list as rustls' own ring provider).
static VERIFY: rustls::crypto::WebPkiSupportedAlgorithms = {
    use rustls::SignatureScheme as S;
    use webpki::ring as alg;
    rustls::crypto::WebPkiSupportedAlgorithms {
        all: &[
            alg::ECDSA_P256_SHA256,
            alg::ECDSA_P256_SHA384,
            alg::ECDSA_P384_SHA256,
            alg::ECDSA_P384_SHA384,
            alg::ED25519,
            alg::RSA_PSS_2048_8192_SHA256_LEGACY_KEY,
            alg::RSA_PSS_2048_8192_SHA384_LEGACY_KEY,
            alg::RSA_PSS_2048_8192_SHA512_LEGACY_KEY,
            alg::RSA_PKCS1_2048_8192_SHA256,
            alg::RSA_PKCS1_2048_8192_SHA384,
            alg::RSA_PKCS1_2048_8192_SHA512,
            alg::RSA_PKCS1_2048_8192_SHA256_ABSENT_PARAMS,
            alg::RSA_PKCS1_2048_8192_SHA384_ABSENT_PARAMS,
            alg::RSA_PKCS1_2048_8192_SHA512_ABSENT_PARAMS,
        ],
        mapping: &[
            (S::ECDSA_NISTP384_SHA384, &[alg::ECDSA_P384_SHA384, alg::ECDSA_P256_SHA384]),
            (S::ECDSA_NISTP256_SHA256, &[alg::ECDSA_P256_SHA256, alg::ECDSA_P384_SHA256]),
            (S::ED25519, &[alg::ED25519]),
            (S::RSA_PSS_SHA512, &[alg::RSA_PSS_2048_8192_SHA512_LEGACY_KEY]),
            (S::RSA_PSS_SHA384, &[alg::RSA_PSS_2048_8192_SHA384_LEGACY_KEY]),
            (S::RSA_PSS_SHA256, &[alg::RSA_PSS_2048_8192_SHA256_LEGACY_KEY]),
            (S::RSA_PKCS1_SHA512, &[alg::RSA_PKCS1_2048_8192_SHA512]),
            (S::RSA_PKCS1_SHA384, &[alg::RSA_PKCS1_2048_8192_SHA384]),
            (S::RSA_PKCS1_SHA256, &[alg::RSA_PKCS1_2048_8192_SHA256]),
        ],
    }
};

/// Randomness for TLS from the OS.
#[derive(Debug)]
struct SystemRandom;

impl rustls::crypto::SecureRandom for SystemRandom {
    fn fill(&self, buf: &mut [u8]) -> Result<(), rustls::crypto::GetRandomFailed> {
        getrandom::fill(buf).map_err(|_| rustls::crypto::GetRandomFailed)
    }
}

/// The module is a TLS client without a certificate of its own.
#[derive(Debug)]
struct NoSigningKeys;

impl rustls::crypto::KeyProvider for NoSigningKeys {
    fn load_private_key(&self, _: rustls_pki_types::PrivateKeyDer<'static>) -> Result<Arc<dyn rustls::sign::SigningKey>, rustls::Error> {
        Err(rustls::Error::General("the module holds no private key".into()))
    }
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
