//! A throwaway certificate authority for TLS tests: a CA certificate and server certificates
//! it signs (ECDSA P-256, via `rcgen`), written as PEM files into a temp dir.
//!
//! Real X.509 and real TLS on the wire: the peers under test verify these chains exactly as
//! they would a production CA's.

use std::path::{Path, PathBuf};

use anyhow::Context;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};

/// A CA whose certificate is at [`TestCa::ca_pem`].
#[derive(Debug)]
pub struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    dir: tempfile::TempDir,
    ca_pem: PathBuf,
}

/// A server certificate and its key, as PEM files.
#[derive(Debug, Clone)]
pub struct ServerCert {
    pub cert_pem: PathBuf,
    pub key_pem: PathBuf,
}

impl TestCa {
    /// A new CA named `name` (its common name).
    pub fn new(name: &str) -> anyhow::Result<TestCa> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let cert = params.self_signed(&key)?;
        let dir = tempfile::Builder::new()
            .prefix("nowconnect-ca-")
            .tempdir()?;
        let ca_pem = dir.path().join("ca.pem");
        std::fs::write(&ca_pem, cert.pem())?;
        Ok(TestCa {
            issuer: Issuer::new(params, key),
            dir,
            ca_pem,
        })
    }

    /// The CA certificate (PEM), what a client adds to its trust store.
    pub fn ca_pem(&self) -> &Path {
        &self.ca_pem
    }

    /// A server certificate for `names` (DNS names and/or IP addresses), files named after
    /// `label` in the CA's directory.
    pub fn server_cert(&self, label: &str, names: &[&str]) -> anyhow::Result<ServerCert> {
        let key = KeyPair::generate()?;
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let mut params = CertificateParams::new(names).context("server names")?;
        params
            .distinguished_name
            .push(DnType::CommonName, label.to_owned());
        let cert = params.signed_by(&key, &self.issuer)?;
        let cert_pem = self.dir.path().join(format!("{label}.pem"));
        let key_pem = self.dir.path().join(format!("{label}.key"));
        std::fs::write(&cert_pem, cert.pem())?;
        std::fs::write(&key_pem, key.serialize_pem())?;
        Ok(ServerCert { cert_pem, key_pem })
    }
}
