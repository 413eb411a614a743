//! `OTEL_SDK_DISABLED=true`: no OTLP and no spans even with an endpoint set, instruments that
//! record nothing, an empty `/metrics`, and logs still working.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use nowconnect_telemetry::trace_context::{is_sampled, traceparent};
use nowconnect_telemetry::{
    CONTENT_TYPE, KeyValue, LATENCY_BUCKETS, LogFormat, LogSettings, OtelSettings, Settings,
    TelemetryGuard, start,
};

fn disabled() -> TelemetryGuard {
    let vars = [
        ("OTEL_SDK_DISABLED", "true"),
        // A closed port: nothing may try to reach it.
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9"),
    ];
    let otel = OtelSettings::from_env(&|name| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| (*v).to_owned())
    })
    .unwrap();
    let settings = Settings {
        log: LogSettings {
            service: "nowconnect-test",
            level: "info".into(),
            format: LogFormat::Plain,
        },
        otel,
    };
    start(&settings).unwrap()
}

#[test]
fn instruments_record_nothing_and_metrics_render_empty() {
    let guard = disabled();
    let meter = guard.telemetry().meter("nowconnect");
    let counter = meter
        .u64_counter("nowconnect.listener.errors")
        .with_unit("{error}")
        .with_description("errors")
        .build();
    counter.add(3, &[KeyValue::new("connector", "a")]);
    let histogram = meter
        .f64_histogram("nowconnect.write_drain")
        .with_unit("s")
        .with_description("phases")
        .with_boundaries(LATENCY_BUCKETS.to_vec())
        .build();
    histogram.record(0.01, &[]);
    let called = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = called.clone();
    let _gauge = meter
        .u64_observable_gauge("nowconnect.inbound.queue.size")
        .with_description("queue")
        .with_callback(move |_| flag.store(true, std::sync::atomic::Ordering::Relaxed))
        .build();
    let (content_type, body) = guard.telemetry().render();
    assert_eq!(content_type, CONTENT_TYPE);
    assert_eq!(body, "", "an empty exposition");
    guard.flush().expect("flush with no reader succeeds");
    assert!(
        !called.load(std::sync::atomic::Ordering::Relaxed),
        "observable callbacks never run"
    );
}

#[test]
fn no_spans_reach_opentelemetry_but_logs_still_flow() {
    let guard = disabled();
    let subscriber = guard.subscriber().unwrap();
    tracing::subscriber::with_default(subscriber, || {
        let span = tracing::info_span!(target: "nowconnect_test", "stream");
        assert!(!is_sampled(&span));
        assert_eq!(traceparent(&span), None);
        // The log layer is still there: an info event is enabled.
        assert!(tracing::event_enabled!(target: "nowconnect_test", tracing::Level::INFO));
    });
}
