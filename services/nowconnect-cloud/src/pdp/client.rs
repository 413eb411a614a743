//! One AuthZEN evaluation over HTTP: `POST {pdp.url}` with a JSON body, bounded by
//! `pdp.timeout_ms` end to end (connect, send, answer).

use super::wire::{Answer, EvaluationRequest, parse_answer};
use std::time::Duration;

/// Why an evaluation gave no decision. The message never contains the answer body.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PdpError {
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("request failed: {0}")]
    Request(String),
    #[error("HTTP status {0}")]
    Status(u16),
    #[error("unreadable answer: {0}")]
    Answer(&'static str),
}

impl PdpError {
    /// A short, fixed word for logs.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            PdpError::Timeout(_) => "timeout",
            PdpError::Request(_) => "request",
            PdpError::Status(_) => "status",
            PdpError::Answer(_) => "answer",
        }
    }
}

/// Calls the evaluation endpoint. Cheap to share: connections are pooled, and concurrent
/// evaluations run side by side.
#[derive(Debug)]
pub(crate) struct PdpClient {
    http: reqwest::Client,
    url: String,
    timeout: Duration,
}

impl PdpClient {
    /// The PDP is called directly, never through `HTTP(S)_PROXY`.
    pub(crate) fn new(url: String, timeout: Duration) -> Result<Self, PdpError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .no_proxy()
            .build()
            .map_err(|e| PdpError::Request(e.to_string()))?;
        Ok(PdpClient { http, url, timeout })
    }

    pub(crate) async fn evaluate(&self, req: &EvaluationRequest<'_>) -> Result<Answer, PdpError> {
        let call = async {
            let res = self
                .http
                .post(&self.url)
                .json(req)
                .send()
                .await
                .map_err(|e| self.classify(e))?;
            let status = res.status();
            if !status.is_success() {
                return Err(PdpError::Status(status.as_u16()));
            }
            let body = res.bytes().await.map_err(|e| self.classify(e))?;
            parse_answer(&body).map_err(PdpError::Answer)
        };
        tokio::time::timeout(self.timeout, call)
            .await
            .unwrap_or(Err(PdpError::Timeout(self.timeout)))
    }

    fn classify(&self, e: reqwest::Error) -> PdpError {
        if e.is_timeout() {
            PdpError::Timeout(self.timeout)
        } else {
            // Without the URL: it may carry credentials.
            PdpError::Request(e.without_url().to_string())
        }
    }
}
