//! LDAPS for one system: the rustls client configuration built from `connection.server`'s
//! `use_ssl`, `ca_file` and `tls_server_name`.
//!
//! Trust is the system's roots (`/etc/ssl/certs` through `rustls-native-certs`) plus the PEM
//! certificates of `ca_file`. `tls_server_name` is the name the directory's certificate must
//! carry when it differs from the host dialled: through the tunnel the crud-service dials the
//! hub (`nowconnect-cloud:636`) while the domain controller presents `dc1.corp.example`. The
//! certificate is still verified in full (chain, validity, usage), only against that name.
//! There is deliberately no switch that turns verification off.

use std::path::Path;
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

/// The client configuration for a system with `use_ssl: true`; `Err` is the reason, for the
/// config error of the key named by the caller.
pub(super) fn client_config(
    ca_file: Option<&Path>,
    server_name: Option<&str>,
) -> Result<Arc<ClientConfig>, TlsConfigError> {
    let mut roots = RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    let (added, _ignored) = roots.add_parsable_certificates(native.certs);
    let mut trusted = added;
    if let Some(path) = ca_file {
        let certs = CertificateDer::pem_file_iter(path)
            .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
            .map_err(|e| TlsConfigError::CaFile(format!("{}: {e}", path.display())))?;
        if certs.is_empty() {
            return Err(TlsConfigError::CaFile(format!(
                "{}: no PEM certificate in it",
                path.display()
            )));
        }
        for cert in certs {
            roots
                .add(cert)
                .map_err(|e| TlsConfigError::CaFile(format!("{}: {e}", path.display())))?;
            trusted += 1;
        }
    }
    if trusted == 0 {
        return Err(TlsConfigError::NoRoots);
    }
    let roots = Arc::new(roots);
    let builder = ClientConfig::builder();
    let config = match server_name {
        None => builder.with_root_certificates(roots).with_no_client_auth(),
        Some(name) => {
            let name = ServerName::try_from(name.to_owned())
                .map_err(|_| TlsConfigError::ServerName(name.to_owned()))?;
            let inner = WebPkiServerVerifier::builder(roots)
                .build()
                .map_err(|e| TlsConfigError::CaFile(e.to_string()))?;
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(PinnedName { name, inner }))
                .with_no_client_auth()
        }
    };
    Ok(Arc::new(config))
}

/// Why an LDAPS configuration is unusable.
#[derive(Debug, thiserror::Error)]
pub(super) enum TlsConfigError {
    #[error("unreadable CA bundle {0}")]
    CaFile(String),
    #[error(
        "no trusted CA: the system has no CA certificates (install ca-certificates) and no \
         connection.server.ca_file is set"
    )]
    NoRoots,
    #[error("not a DNS name or IP address: {0:?}")]
    ServerName(String),
}

/// Full WebPKI verification against a configured name instead of the dialled host.
#[derive(Debug)]
struct PinnedName {
    name: ServerName<'static>,
    inner: Arc<WebPkiServerVerifier>,
}

impl ServerCertVerifier for PinnedName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _dialled: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.inner
            .verify_server_cert(end_entity, intermediates, &self.name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_or_empty_ca_file_is_named() {
        let missing = client_config(Some(Path::new("/nonexistent/ca.pem")), None);
        assert!(
            matches!(&missing, Err(TlsConfigError::CaFile(m)) if m.contains("/nonexistent/ca.pem")),
            "{missing:?}"
        );
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let empty = client_config(Some(&empty), None);
        assert!(
            matches!(&empty, Err(TlsConfigError::CaFile(m)) if m.contains("no PEM certificate")),
            "{empty:?}"
        );
    }

    #[test]
    fn a_bad_server_name_is_refused() {
        let r = client_config(None, Some("not a name!"));
        // On a machine without system roots the roots error comes first; both are refusals.
        assert!(
            matches!(
                r,
                Err(TlsConfigError::ServerName(_) | TlsConfigError::NoRoots)
            ),
            "{r:?}"
        );
    }
}
