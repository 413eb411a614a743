//! Real TLS for tests: a throwaway CA (rcgen) issuing server certificates as PEM files, and a
//! small HTTPS server (axum over rustls) serving a JWKS document that a test can change or take
//! down.

use axum::Router;
use axum::routing::get;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

/// A CA whose certificate is written to `ca.pem` in its own temp dir.
#[derive(Debug)]
pub struct TestCa {
    dir: tempfile::TempDir,
    issuer: CertifiedIssuer<'static, KeyPair>,
}

/// A server certificate and key issued by a [`TestCa`], as PEM files.
#[derive(Debug, Clone)]
pub struct ServerCert {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl TestCa {
    pub fn new(name: &str) -> TestCa {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, format!("{name} test CA"));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().expect("CA key");
        let issuer = CertifiedIssuer::self_signed(params, key).expect("CA cert");
        std::fs::write(dir.path().join("ca.pem"), issuer.pem()).expect("write ca.pem");
        TestCa { dir, issuer }
    }

    /// The CA certificate (what a client adds to its trust roots).
    pub fn ca_path(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// Issues a server certificate for `names` (DNS names or IP addresses) into
    /// `<name>.pem` / `<name>-key.pem`.
    pub fn issue(&self, file_name: &str, names: &[&str]) -> ServerCert {
        let sans: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(sans).expect("params");
        params.distinguished_name.push(
            DnType::CommonName,
            names.first().copied().unwrap_or("server"),
        );
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let key = KeyPair::generate().expect("server key");
        let cert = params.signed_by(&key, &self.issuer).expect("sign");
        let out = ServerCert {
            cert: self.dir.path().join(format!("{file_name}.pem")),
            key: self.dir.path().join(format!("{file_name}-key.pem")),
        };
        std::fs::write(&out.cert, cert.pem()).expect("write cert");
        std::fs::write(&out.key, key.serialize_pem()).expect("write key");
        out
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

/// An HTTPS server answering `GET /jwks.json` with the current body; stopped on drop.
#[derive(Debug)]
pub struct JwksServer {
    pub addr: SocketAddr,
    body: Arc<Mutex<String>>,
    stop: CancellationToken,
}

impl JwksServer {
    /// Serves `jwks` over TLS with a certificate for `localhost` and `127.0.0.1` from `ca`.
    pub async fn start(ca: &TestCa, jwks: String) -> JwksServer {
        Self::start_on(ca, jwks, 0).await
    }

    /// Like [`JwksServer::start`], on loopback port `port` (0 = ephemeral).
    pub async fn start_on(ca: &TestCa, jwks: String, port: u16) -> JwksServer {
        let cert = ca.issue("jwks", &["localhost", "127.0.0.1"]);
        let tls = nowconnect_auth::tls::server_config(&cert.cert, &cert.key).expect("tls config");
        let acceptor = TlsAcceptor::from(Arc::new(tls));
        let listener = TcpListener::bind(("127.0.0.1", port)).await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let body = Arc::new(Mutex::new(jwks));
        let served = body.clone();
        let app = Router::new().route(
            "/jwks.json",
            get(move || {
                let body = crate::lock(&served).clone();
                async move { ([("content-type", "application/json")], body) }
            }),
        );
        let stop = CancellationToken::new();
        let token = stop.clone();
        tokio::spawn(async move {
            loop {
                let (tcp, _) = tokio::select! {
                    _ = token.cancelled() => return,
                    accepted = listener.accept() => match accepted {
                        Ok(pair) => pair,
                        Err(_) => continue,
                    },
                };
                let (acceptor, app, token) = (acceptor.clone(), app.clone(), token.clone());
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let conn = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), TowerToHyperService::new(app));
                    tokio::select! {
                        _ = conn => {}
                        _ = token.cancelled() => {}
                    }
                });
            }
        });
        JwksServer { addr, body, stop }
    }

    /// `https://localhost:<port>/jwks.json`.
    pub fn url(&self) -> String {
        format!("https://localhost:{}/jwks.json", self.addr.port())
    }

    /// Replaces the served document.
    pub fn set(&self, jwks: String) {
        *crate::lock(&self.body) = jwks;
    }

    /// Stops listening and drops every open connection: the endpoint is down.
    pub fn shut_down(&self) {
        self.stop.cancel();
    }
}

impl Drop for JwksServer {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}
