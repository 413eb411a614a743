//! The telemetry modes compared: what each sets in the hub's and the agent's environment.

use std::collections::HashMap;
use std::net::SocketAddr;

use nowconnect_telemetry::{
    OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_PROTOCOL, OTEL_SDK_DISABLED,
    OTEL_TRACES_SAMPLER,
};

/// One telemetry configuration of hub and agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Mode {
    /// `OTEL_SDK_DISABLED=true`: logs only.
    Off,
    /// The default: metrics through the Prometheus bridge, no OTLP, no spans exported.
    Metrics,
    /// Metrics and traces over OTLP HTTP/protobuf to the bench's sink at the default sampling
    /// (`parentbased_traceidratio` at `DEFAULT_TRACE_RATIO`, 0.1: one client connection in ten
    /// is traced, with a `frame` span per DATA frame on both ends).
    Full,
    /// As `full` with `OTEL_TRACES_SAMPLER=parentbased_always_on`: every stream traced, so the
    /// cost of one traced stream shows (not a target; the figure `full` scales from).
    TracedAll,
    /// As `full` with `OTEL_TRACES_SAMPLER=parentbased_always_off`: the OpenTelemetry tracing
    /// layer and exporter run but no stream is traced. Not run by default: a diagnostic that
    /// separates what the layer costs every stream from what the traced share costs.
    TracedNone,
}

/// The modes run by default.
pub(crate) const ALL: [Mode; 4] = [Mode::Off, Mode::Metrics, Mode::Full, Mode::TracedAll];
/// Every mode `--modes` accepts.
const KNOWN: [Mode; 5] = [
    Mode::Off,
    Mode::Metrics,
    Mode::Full,
    Mode::TracedAll,
    Mode::TracedNone,
];

impl Mode {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Mode::Off => "off",
            Mode::Metrics => "metrics",
            Mode::Full => "full",
            Mode::TracedAll => "traced-all",
            Mode::TracedNone => "traced-none",
        }
    }

    /// Whether hub and agent export over OTLP (to a sink of their own).
    pub(crate) fn exports(self) -> bool {
        matches!(self, Mode::Full | Mode::TracedAll | Mode::TracedNone)
    }

    /// Why a mode without a target is measured (for the report).
    pub(crate) fn why(self) -> &'static str {
        match self {
            Mode::TracedAll => "every stream traced: the cost of a traced stream",
            Mode::TracedNone => "tracing on, no stream traced: what the layer costs every stream",
            _ => "the issue's target",
        }
    }

    /// The sampler this mode sets (`None`: the default one, or no tracing at all).
    fn sampler(self) -> Option<&'static str> {
        match self {
            Mode::TracedAll => Some("parentbased_always_on"),
            Mode::TracedNone => Some("parentbased_always_off"),
            _ => None,
        }
    }

    /// Whether issue 3's target applies: the shipped configurations (metrics only, and metrics
    /// + traces at the default sampling); `traced-all` is there to show a traced stream's cost.
    pub(crate) fn has_target(self) -> bool {
        matches!(self, Mode::Metrics | Mode::Full)
    }

    /// The variables this mode adds to both processes' environment.
    pub(crate) fn env(self, sink: SocketAddr) -> HashMap<String, String> {
        let pairs: Vec<(&str, String)> = match self {
            Mode::Off => vec![(OTEL_SDK_DISABLED, "true".into())],
            Mode::Metrics => Vec::new(),
            Mode::Full | Mode::TracedAll | Mode::TracedNone => {
                let mut v = vec![
                    (OTEL_EXPORTER_OTLP_ENDPOINT, format!("http://{sink}")),
                    (OTEL_EXPORTER_OTLP_PROTOCOL, "http/protobuf".into()),
                ];
                v.extend(self.sampler().map(|s| (OTEL_TRACES_SAMPLER, s.to_owned())));
                v
            }
        };
        pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
    }
}

impl std::str::FromStr for Mode {
    type Err = String;

    fn from_str(s: &str) -> Result<Mode, String> {
        KNOWN
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| format!("{s:?}: expected off, metrics, full, traced-all or traced-none"))
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
        assert!(
            !full.contains_key(OTEL_TRACES_SAMPLER),
            "full runs the default sampler"
        );
    }

    #[test]
    fn traced_all_exports_like_full_and_samples_every_stream() {
        assert_eq!("traced-all".parse::<Mode>(), Ok(Mode::TracedAll));
        assert_eq!(Mode::TracedAll.to_string(), "traced-all");
        let sink: SocketAddr = ([127, 0, 0, 1], 4318).into();
        let env = Mode::TracedAll.env(sink);
        assert_eq!(
            env.get(OTEL_TRACES_SAMPLER).map(String::as_str),
            Some("parentbased_always_on")
        );
        for (k, v) in Mode::Full.env(sink) {
            assert_eq!(env.get(&k), Some(&v), "{k}");
        }
        let exporting: Vec<Mode> = ALL.into_iter().filter(|m| m.exports()).collect();
        assert_eq!(exporting, [Mode::Full, Mode::TracedAll]);
        let targeted: Vec<Mode> = KNOWN.into_iter().filter(|m| m.has_target()).collect();
        assert_eq!(targeted, [Mode::Metrics, Mode::Full]);
    }

    #[test]
    fn traced_none_is_opt_in_and_samples_nothing() {
        assert_eq!("traced-none".parse::<Mode>(), Ok(Mode::TracedNone));
        assert!(!ALL.contains(&Mode::TracedNone));
        let sink: SocketAddr = ([127, 0, 0, 1], 4318).into();
        let env = Mode::TracedNone.env(sink);
        assert_eq!(
            env.get(OTEL_TRACES_SAMPLER).map(String::as_str),
            Some("parentbased_always_off")
        );
        assert!(env.contains_key(OTEL_EXPORTER_OTLP_ENDPOINT));
        assert!(Mode::TracedNone.exports() && !Mode::TracedNone.has_target());
    }
}
