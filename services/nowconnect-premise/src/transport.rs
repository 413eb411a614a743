//! The byte stream under the tunnel's WebSocket: TCP to the hub or through an HTTP CONNECT
//! proxy, then TLS for `wss://`.
//!
//! The proxy (`proxy.https_proxy`, or `HTTPS_PROXY` with `NC_TRUST_ENV=true`) is used for
//! `ws://` and `wss://` alike unless `NO_PROXY` exempts the hub's host. TLS verifies the hub
//! against the system roots plus `NC_CA_BUNDLE`; the bundle is re-read at every connect, so a
//! renewed CA file is picked up without a restart.

use crate::config::AgentConfig;
use crate::proxy::{self, ProxyError, ProxyUrl};
use rustls::pki_types::ServerName;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// Any byte stream the tunnel can run over.
pub(crate) trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// The hub as the tunnel URL names it.
#[derive(Debug, Clone)]
pub(crate) struct HubAddr {
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) tls: bool,
}

impl HubAddr {
    /// From a `ws://` / `wss://` URL (validated by the config loader).
    pub(crate) fn from_url(url: &str) -> Option<HubAddr> {
        let lower = url.to_ascii_lowercase();
        let (tls, rest) = if lower.starts_with("wss://") {
            (true, &url["wss://".len()..])
        } else if lower.starts_with("ws://") {
            (false, &url["ws://".len()..])
        } else {
            return None;
        };
        let authority = rest.split(['/', '?', '#']).next()?;
        let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        let (host, port) = proxy::split_host_port(authority)?;
        Some(HubAddr {
            host: host.to_owned(),
            port: port.unwrap_or(if tls { 443 } else { 80 }),
            tls,
        })
    }
}

/// Why the stream could not be opened; [`TransportError::reason`] is the reconnect reason.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TransportError {
    #[error("connect {0}")]
    Tcp(String),
    #[error("{0}")]
    Proxy(#[from] ProxyError),
    #[error("proxy URL: {0}")]
    ProxyUrl(&'static str),
    #[error("TLS trust: {0}")]
    Trust(#[from] nowconnect_auth::tls::TlsError),
    #[error("TLS handshake with {host}: {reason}")]
    Tls { host: String, reason: String },
}

impl TransportError {
    pub(crate) fn reason(&self) -> &'static str {
        match self {
            TransportError::Tcp(_) => "connect_failed",
            TransportError::Proxy(ProxyError::Refused(_)) => "proxy_refused",
            TransportError::Proxy(_) | TransportError::ProxyUrl(_) => "proxy_failed",
            TransportError::Trust(_) => "tls_config",
            TransportError::Tls { .. } => "tls_failed",
        }
    }
}

/// How the agent reaches the hub: `Some(proxy)` unless there is none or `NO_PROXY` exempts it.
pub(crate) fn route(cfg: &AgentConfig, hub: &HubAddr) -> Result<Option<ProxyUrl>, TransportError> {
    let Some(url) = &cfg.proxy.https_proxy else {
        return Ok(None);
    };
    if proxy::bypass(cfg.proxy.no_proxy.as_deref(), &hub.host, hub.port) {
        return Ok(None);
    }
    ProxyUrl::parse(url.expose())
        .map(Some)
        .map_err(TransportError::ProxyUrl)
}

/// Opens the stream to `hub`, through `via` when set, with TLS for `wss://`.
pub(crate) async fn open(
    cfg: &AgentConfig,
    hub: &HubAddr,
    via: Option<&ProxyUrl>,
) -> Result<Box<dyn Io>, TransportError> {
    let tls = if hub.tls || via.is_some_and(|p| p.tls) {
        let ca = cfg.proxy.ca_bundle.as_deref();
        Some(TlsConnector::from(Arc::new(
            nowconnect_auth::tls::client_config(ca)?,
        )))
    } else {
        None
    };
    let stream: Box<dyn Io> = match via {
        None => Box::new(tcp(&hub.host, hub.port).await?),
        Some(p) => {
            let mut io: Box<dyn Io> = Box::new(tcp(&p.host, p.port).await?);
            if p.tls
                && let Some(connector) = &tls
            {
                io = handshake(connector, &p.host, io).await?;
            }
            proxy::connect(&mut io, p, &hub.host, hub.port).await?;
            io
        }
    };
    match (&tls, hub.tls) {
        (Some(connector), true) => handshake(connector, &hub.host, stream).await,
        _ => Ok(stream),
    }
}

async fn tcp(host: &str, port: u16) -> Result<TcpStream, TransportError> {
    let socket = TcpStream::connect((host, port))
        .await
        .map_err(|e| TransportError::Tcp(format!("{host}:{port}: {e}")))?;
    // Small frames (OPEN, short LDAP answers) must not wait behind Nagle.
    let _ = socket.set_nodelay(true);
    Ok(socket)
}

async fn handshake(
    connector: &TlsConnector,
    host: &str,
    io: Box<dyn Io>,
) -> Result<Box<dyn Io>, TransportError> {
    let fail = |reason: String| TransportError::Tls {
        host: host.to_owned(),
        reason,
    };
    let name = ServerName::try_from(host.to_owned()).map_err(|e| fail(e.to_string()))?;
    let tls = connector
        .connect(name, io)
        .await
        .map_err(|e| fail(e.to_string()))?;
    Ok(Box::new(tls))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hub_addresses_from_urls() {
        let h = HubAddr::from_url("wss://hub.example.com/tunnel").unwrap_or_else(|| panic!());
        assert_eq!(
            (h.host.as_str(), h.port, h.tls),
            ("hub.example.com", 443, true)
        );
        let h = HubAddr::from_url("ws://127.0.0.1:8765/tunnel").unwrap_or_else(|| panic!());
        assert_eq!((h.host.as_str(), h.port, h.tls), ("127.0.0.1", 8765, false));
        let h = HubAddr::from_url("WSS://[::1]:9/t").unwrap_or_else(|| panic!());
        assert_eq!((h.host.as_str(), h.port, h.tls), ("::1", 9, true));
        assert!(HubAddr::from_url("http://x/t").is_none());
    }
}
