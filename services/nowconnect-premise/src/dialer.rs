//! Dials the target of a connector for an OPEN.

use futures_util::future::BoxFuture;
use nowconnect_mux::{DialError, Dialer};
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::net::TcpStream;

/// Resolves connectors to `host:port` and connects within `connect_timeout_ms`.
#[derive(Debug, Clone)]
pub(crate) struct TargetDialer {
    pub(crate) targets: BTreeMap<String, (String, u16)>,
    pub(crate) timeout: Duration,
}

impl Dialer for TargetDialer {
    fn dial<'a>(&'a self, connector: &'a str) -> BoxFuture<'a, Result<TcpStream, DialError>> {
        Box::pin(async move {
            let (host, port) = self
                .targets
                .get(connector)
                .ok_or_else(|| DialError::UnknownConnector(connector.to_owned()))?;
            let target = format!("{host}:{port}");
            let failed = |reason: String| DialError::Failed {
                target: target.clone(),
                reason,
            };
            match tokio::time::timeout(self.timeout, TcpStream::connect((host.as_str(), *port)))
                .await
            {
                Ok(Ok(socket)) => Ok(socket),
                Ok(Err(e)) => Err(failed(e.to_string())),
                Err(_) => Err(failed(format!(
                    "timed out after {} ms",
                    self.timeout.as_millis()
                ))),
            }
        })
    }
}
