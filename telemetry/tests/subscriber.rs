//! The process subscriber keeps a static maximum level (so `log` records and disabled
//! `tracing` callsites of the dependencies stay a no-op) and, in JSON format, keeps spans out of
//! the log layer unless the level filters by span.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use nowconnect_telemetry::{LogFormat, LogSettings, OtelSettings, Settings, TelemetryGuard, start};
use tracing::Subscriber as _;
use tracing::level_filters::LevelFilter;

fn guard(format: LogFormat, level: &str) -> TelemetryGuard {
    let settings = Settings {
        log: LogSettings {
            service: "nowconnect-test",
            level: level.into(),
            format,
        },
        otel: OtelSettings::default(),
    };
    start(&settings).unwrap()
}

#[test]
fn the_maximum_level_is_the_log_level() {
    for format in [LogFormat::Json, LogFormat::Plain] {
        let g = guard(format, "info");
        let hint = g.subscriber().unwrap().max_level_hint();
        assert_eq!(hint, Some(LevelFilter::INFO), "{format:?}");
        let g = guard(format, "warn,nowconnect_mux=debug");
        let hint = g.subscriber().unwrap().max_level_hint();
        assert_eq!(hint, Some(LevelFilter::DEBUG), "{format:?}");
    }
}

#[test]
fn json_logs_take_events_but_not_spans() {
    let g = guard(LogFormat::Json, "info");
    tracing::subscriber::with_default(g.subscriber().unwrap(), || {
        assert!(tracing::event_enabled!(target: "nowconnect_mux", tracing::Level::INFO));
        let span = tracing::info_span!(target: "nowconnect_mux", "stream");
        assert!(
            span.is_disabled(),
            "no layer wants spans without OpenTelemetry"
        );
    });
    let by_span = "info,nowconnect_mux[stream]=debug";
    let g = guard(LogFormat::Json, by_span);
    tracing::subscriber::with_default(g.subscriber().unwrap(), || {
        let span = tracing::info_span!(target: "nowconnect_mux", "stream");
        assert!(!span.is_disabled(), "span-scoped directives need the spans");
    });
    let g = guard(LogFormat::Plain, "info");
    tracing::subscriber::with_default(g.subscriber().unwrap(), || {
        let span = tracing::info_span!(target: "nowconnect_mux", "stream");
        assert!(!span.is_disabled(), "plain lines show the span context");
    });
}
