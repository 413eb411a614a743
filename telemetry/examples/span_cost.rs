//! Prints what one `frame`-like child span costs on the caller's thread with full telemetry
//! (OpenTelemetry layer, default sampler, OTLP HTTP exporter), for each log format. A benchmark
//! command, not a test: `cargo run --release -p nowconnect-telemetry --example span_cost`.
//! The exporter points at a closed port, so once the queue is full spans are dropped: the
//! figure is the cost on the data path, not the export's.

#![allow(clippy::print_stdout)]

use std::time::{Duration, Instant};

use nowconnect_telemetry::trace_context::is_sampled;
use nowconnect_telemetry::{
    LogFormat, LogSettings, OtelSettings, OtlpHeaders, OtlpProtocol, OtlpSettings, Settings,
    TraceSampler, start,
};

const SPANS: u32 = 100_000;
const REPEATS: usize = 7;

/// The best time per call of `f` over [`REPEATS`] runs of [`SPANS`] calls, in nanoseconds.
fn best_of(f: impl Fn(u32)) -> f64 {
    (0..REPEATS)
        .map(|_| {
            let started = Instant::now();
            for i in 0..SPANS {
                f(i);
            }
            started.elapsed().as_nanos() as f64 / f64::from(SPANS)
        })
        .fold(f64::MAX, f64::min)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    for format in [LogFormat::Json, LogFormat::Plain] {
        let settings = Settings {
            log: LogSettings {
                service: "span-cost",
                level: "info".into(),
                format,
            },
            otel: OtelSettings {
                otlp: Some(OtlpSettings {
                    endpoint: format!("http://127.0.0.1:{port}"),
                    protocol: OtlpProtocol::HttpProtobuf,
                    headers: OtlpHeaders::default(),
                    timeout: Duration::from_millis(200),
                }),
                sampler: TraceSampler::ParentBasedAlwaysOn,
                ..OtelSettings::default()
            },
        };
        let guard = start(&settings)?;
        let (frame, enter) = tracing::subscriber::with_default(guard.subscriber()?, || {
            let stream = tracing::info_span!(target: "nowconnect_mux", "stream");
            assert!(is_sampled(&stream), "parentbased_always_on samples roots");
            let frame = best_of(|seq| {
                let seq = i64::from(seq);
                let _frame = tracing::info_span!(target: "nowconnect_mux",
                    parent: &stream, "frame", dir = "c2a", seq, bytes = 64_i64);
            });
            // What an `.instrument(span)` future pays on every poll.
            let enter = best_of(|_| drop(stream.enter()));
            (frame, enter)
        });
        println!(
            "{format:?} logs: {frame:.0} ns per frame span, {enter:.0} ns per enter/exit of a \
             sampled span (best of {REPEATS} x {SPANS})"
        );
    }
    Ok(())
}
