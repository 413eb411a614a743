//! TLS material shared by the hub and the agent: PEM loading and rustls configurations, all
//! built on one crypto provider (aws-lc-rs, the one reqwest already links) and limited to
//! TLS 1.2 and 1.3.
//!
//! - [`client_config`]: trust the system roots plus an optional extra PEM bundle (the agent's
//!   `NC_CA_BUNDLE`, the hub's `security.jwks_ca_bundle`).
//! - [`server_config`]: a certificate chain and its private key from PEM files (the hub's
//!   `wss://`).
//!
//! Errors name the file and the reason in one line; key material never reaches them.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore, ServerConfig};

/// The only protocol versions offered or accepted.
pub static PROTOCOL_VERSIONS: &[&rustls::SupportedProtocolVersion] =
    &[&rustls::version::TLS13, &rustls::version::TLS12];

/// Why TLS material could not be loaded. `Display` is one line naming the file.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file is unreadable, holds no usable item, or is not PEM.
    #[error("{what} {path}: {reason}")]
    Pem {
        what: &'static str,
        path: PathBuf,
        reason: String,
    },
    /// rustls refused the material (e.g. the key does not match the certificate).
    #[error("TLS configuration: {0}")]
    Config(String),
}

/// The process's one rustls crypto provider (aws-lc-rs).
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// Every certificate in a PEM file (at least one).
pub fn load_certs(
    what: &'static str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let fail = |reason: String| TlsError::Pem {
        what,
        path: path.to_owned(),
        reason,
    };
    let bytes = std::fs::read(path).map_err(|e| fail(e.to_string()))?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| fail(format!("not valid PEM: {e}")))?;
    if certs.is_empty() {
        return Err(fail("no CERTIFICATE block".into()));
    }
    Ok(certs)
}

/// The private key in a PEM file (PKCS#8, PKCS#1 or SEC1).
pub fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let fail = |reason: String| TlsError::Pem {
        what: "TLS key",
        path: path.to_owned(),
        reason,
    };
    let bytes = std::fs::read(path).map_err(|e| fail(e.to_string()))?;
    // The parser's error may quote the input: report only that it failed.
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|_| fail("no usable PRIVATE KEY block".into()))
}

/// A client configuration trusting the system roots plus every certificate in `extra_ca`.
///
/// System roots that fail to load are skipped (logged once per call at debug); with none at
/// all and no extra bundle, the configuration trusts nothing and every handshake fails with
/// an "unknown issuer" error, which names the problem.
pub fn client_config(extra_ca: Option<&Path>) -> Result<ClientConfig, TlsError> {
    let mut roots = RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    if !native.errors.is_empty() {
        tracing::debug!(
            event = "tls_system_roots_partial",
            errors = native.errors.len()
        );
    }
    let (_added, _ignored) = roots.add_parsable_certificates(native.certs);
    if let Some(path) = extra_ca {
        for cert in load_certs("CA bundle", path)? {
            roots.add(cert).map_err(|e| TlsError::Pem {
                what: "CA bundle",
                path: path.to_owned(),
                reason: format!("unusable certificate: {e}"),
            })?;
        }
    }
    Ok(ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(PROTOCOL_VERSIONS)
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// A server configuration from a PEM certificate chain and its PEM private key; ALPN
/// `http/1.1` (the WebSocket upgrade and the probes are HTTP/1.1).
pub fn server_config(cert: &Path, key: &Path) -> Result<ServerConfig, TlsError> {
    let chain = load_certs("TLS certificate", cert)?;
    let key = load_key(key)?;
    let mut cfg = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(PROTOCOL_VERSIONS)
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| TlsError::Config(format!("certificate and key: {e}")))?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(cfg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_and_garbage_files_are_one_clear_line() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let missing = dir.path().join("nope.pem");
        let e = load_certs("CA bundle", &missing)
            .err()
            .map(|e| e.to_string());
        assert!(e.is_some_and(|e| e.starts_with("CA bundle ") && e.contains("nope.pem")));
        let garbage = dir.path().join("garbage.pem");
        std::fs::write(&garbage, "hello\n").unwrap_or_else(|e| panic!("{e}"));
        let e = load_certs("TLS certificate", &garbage)
            .err()
            .map(|e| e.to_string());
        assert!(
            e.is_some_and(|e| e.contains("no CERTIFICATE block")),
            "certs"
        );
        let e = load_key(&garbage).err().map(|e| e.to_string());
        assert!(
            e.is_some_and(|e| e.contains("no usable PRIVATE KEY")),
            "key"
        );
        assert!(server_config(&garbage, &garbage).is_err());
    }

    #[test]
    fn client_config_without_extra_bundle_builds() {
        assert!(client_config(None).is_ok());
    }
}
