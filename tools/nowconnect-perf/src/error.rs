//! What can stop a measurement. A clean EOF from the echo is not an error; an early one is.

use std::time::Duration;

/// Why a run could not produce its figures.
#[derive(Debug, thiserror::Error)]
pub enum PerfError {
    #[error("{addr}: cannot resolve: {reason}")]
    Resolve { addr: String, reason: String },
    #[error("{what}: {source}")]
    Io {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("{what}: no answer within {after:?}")]
    Timeout { what: &'static str, after: Duration },
    #[error("{what}: not finished within {after:?}: {detail}")]
    Stalled {
        what: &'static str,
        after: Duration,
        detail: String,
    },
    #[error("{what}: the echo answered {got} bytes, expected {want}")]
    ShortEcho {
        what: &'static str,
        got: u64,
        want: u64,
    },
    #[error("{0}")]
    Options(String),
    #[error(transparent)]
    Gate(#[from] crate::gate::GateError),
    #[error("a measurement task failed: {0}")]
    Task(String),
    #[error("writing {path}: {source}")]
    Report {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

impl PerfError {
    /// An IO error labelled with the step that failed.
    pub fn io(what: &'static str) -> impl FnOnce(std::io::Error) -> PerfError {
        move |source| PerfError::Io { what, source }
    }
}
