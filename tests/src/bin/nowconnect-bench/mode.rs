//! The telemetry modes compared: what each sets in the hub's and the agent's environment.

use std::collections::HashMap;
use std::net::SocketAddr;

use nowconnect_telemetry::{
    OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_PROTOCOL, OTEL_SDK_DISABLED,
};

/// One telemetry configuration of hub and agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Mode {
    /// `OTEL_SDK_DISABLED=true`: logs only.
    Off,
    /// The default: metrics through the Prometheus bridge, no OTLP, no spans exported.
    Metrics,
    /// Metrics and traces over OTLP HTTP/protobuf to the bench's sink, default sampler
    /// (`parentbased_always_on`: every stream sampled, a `frame` span per DATA frame).
    Full,
}

pub(crate) const ALL: [Mode; 3] = [Mode::Off, Mode::Metrics, Mode::Full];

impl Mode {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Mode::Off => "off",
            Mode::Metrics => "metrics",
            Mode::Full => "full",
        }
    }

    /// The variables this mode adds to both processes' environment.
    pub(crate) fn env(self, sink: SocketAddr) -> HashMap<String, String> {
        let pairs: Vec<(&str, String)> = match self {
            Mode::Off => vec![(OTEL_SDK_DISABLED, "true".into())],
            Mode::Metrics => Vec::new(),
            Mode::Full => vec![
                (OTEL_EXPORTER_OTLP_ENDPOINT, format!("http://{sink}")),
                (OTEL_EXPORTER_OTLP_PROTOCOL, "http/protobuf".into()),
            ],
        };
        pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
    }
}

impl std::str::FromStr for Mode {
    type Err = String;

    fn from_str(s: &str) -> Result<Mode, String> {
        ALL.into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| format!("{s:?}: expected off, metrics or full"))
    }
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_and_set_their_variables() {
        assert_eq!("full".parse::<Mode>(), Ok(Mode::Full));
        assert!("traces".parse::<Mode>().is_err());
        let sink: SocketAddr = ([127, 0, 0, 1], 4318).into();
        assert_eq!(
            Mode::Off
                .env(sink)
                .get(OTEL_SDK_DISABLED)
                .map(String::as_str),
            Some("true")
        );
        assert!(Mode::Metrics.env(sink).is_empty());
        let full = Mode::Full.env(sink);
        assert_eq!(
            full.get(OTEL_EXPORTER_OTLP_ENDPOINT).map(String::as_str),
            Some("http://127.0.0.1:4318")
        );
    }
}
