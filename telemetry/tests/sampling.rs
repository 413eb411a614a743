//! `OTEL_TRACES_SAMPLER` values reach the SDK: what each one records, with and without a
//! remote parent.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use nowconnect_telemetry::trace_context::{is_sampled, set_remote_parent, traceparent};
use nowconnect_telemetry::{
    LogFormat, LogSettings, OtelSettings, OtlpHeaders, OtlpProtocol, OtlpSettings, Settings,
    TraceSampler, start,
};

const SAMPLED_PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const UNSAMPLED_PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00";

fn settings(sampler: TraceSampler, otlp: bool) -> Settings {
    // A closed port: with always_on, shutdown drops the spans after one refused connection.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    Settings {
        log: LogSettings {
            service: "nowconnect-test",
            level: "off".into(),
            format: LogFormat::Plain,
        },
        otel: OtelSettings {
            sampler,
            otlp: otlp.then(|| OtlpSettings {
                endpoint: format!("http://127.0.0.1:{port}"),
                protocol: OtlpProtocol::Grpc,
                headers: OtlpHeaders::default(),
                timeout: Duration::from_millis(200),
            }),
            ..OtelSettings::default()
        },
    }
}

/// Runs `f` under the subscriber of a freshly started telemetry.
fn with_spans<T>(settings: &Settings, f: impl FnOnce() -> T) -> T {
    let guard = start(settings).unwrap();
    tracing::subscriber::with_default(guard.subscriber().unwrap(), f)
}

fn child_of(parent: &str) -> bool {
    let span = tracing::info_span!(target: "nowconnect_test", "child");
    assert!(set_remote_parent(&span, parent));
    let sampled = is_sampled(&span);
    let flags = traceparent(&span).expect("recorded").ends_with("-01");
    assert_eq!(sampled, flags, "traceparent flags follow the decision");
    sampled
}

/// (root sampled?, child of a sampled parent sampled?, child of an unsampled parent sampled?)
fn decisions(sampler: TraceSampler) -> (bool, bool, bool) {
    with_spans(&settings(sampler, true), || {
        let root = tracing::info_span!(target: "nowconnect_test", "root");
        (
            is_sampled(&root),
            child_of(SAMPLED_PARENT),
            child_of(UNSAMPLED_PARENT),
        )
    })
}

#[test]
fn each_sampler_decides_as_the_specification_says() {
    use TraceSampler::*;
    assert_eq!(decisions(AlwaysOn), (true, true, true));
    assert_eq!(decisions(AlwaysOff), (false, false, false));
    assert_eq!(decisions(TraceIdRatio(0.0)), (false, false, false));
    assert_eq!(decisions(TraceIdRatio(1.0)), (true, true, true));
    assert_eq!(decisions(ParentBasedAlwaysOn), (true, true, false));
    assert_eq!(decisions(ParentBasedAlwaysOff), (false, true, false));
    assert_eq!(
        decisions(ParentBasedTraceIdRatio(0.0)),
        (false, true, false)
    );
    assert_eq!(decisions(ParentBasedTraceIdRatio(1.0)), (true, true, false));
}

#[test]
fn malformed_traceparent_is_refused() {
    with_spans(&settings(TraceSampler::default(), true), || {
        let span = tracing::info_span!(target: "nowconnect_test", "stream");
        assert!(!set_remote_parent(&span, "garbage"));
        assert!(!set_remote_parent(
            &span,
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01"
        ));
    });
}

#[test]
fn without_otlp_trace_context_is_a_no_op() {
    with_spans(&settings(TraceSampler::AlwaysOn, false), || {
        let span = tracing::info_span!(target: "nowconnect_test", "stream");
        assert!(!set_remote_parent(&span, SAMPLED_PARENT));
        assert!(traceparent(&span).is_none());
        assert!(!is_sampled(&span));
    });
}
