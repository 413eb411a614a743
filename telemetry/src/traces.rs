//! Traces: the SDK tracer provider, the sampler from `OTEL_TRACES_SAMPLER`, and the subscriber
//! that joins the log layer and the `tracing-opentelemetry` layer.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{Sampler, SdkTracer, SdkTracerProvider, SpanExporter};
use tracing::Metadata;
use tracing::subscriber::Interest;
use tracing_subscriber::filter::{FilterExt as _, LevelFilter, Targets};
use tracing_subscriber::fmt::format::FmtSpan;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::layer::{Context, Filter};
use tracing_subscriber::{EnvFilter, Layer, Registry};

use crate::TelemetryError;
use crate::settings::{LogFormat, LogSettings, TraceSampler};

/// The target prefix of our own spans: every crate of the workspace is `nowconnect_*`.
pub const SPAN_TARGET_PREFIX: &str = "nowconnect";

/// Targets kept out of OpenTelemetry even if the default widens: the exporters' own HTTP/gRPC
/// stack, whose spans would otherwise be exported by the very export they describe.
const EXPORTER_INTERNALS: &[&str] = &[
    "tonic",
    "h2",
    "hyper",
    "hyper_util",
    "tower",
    "reqwest",
    "opentelemetry",
];

pub(crate) fn sampler(s: TraceSampler) -> Sampler {
    let parent_based = |root: Sampler| Sampler::ParentBased(Box::new(root));
    match s {
        TraceSampler::AlwaysOn => Sampler::AlwaysOn,
        TraceSampler::AlwaysOff => Sampler::AlwaysOff,
        TraceSampler::TraceIdRatio(r) => Sampler::TraceIdRatioBased(r),
        TraceSampler::ParentBasedAlwaysOn => parent_based(Sampler::AlwaysOn),
        TraceSampler::ParentBasedAlwaysOff => parent_based(Sampler::AlwaysOff),
        TraceSampler::ParentBasedTraceIdRatio(r) => parent_based(Sampler::TraceIdRatioBased(r)),
    }
}

pub(crate) fn provider(
    resource: Resource,
    s: TraceSampler,
    exporter: impl SpanExporter + 'static,
) -> SdkTracerProvider {
    SdkTracerProvider::builder()
        .with_resource(resource)
        .with_sampler(sampler(s))
        .with_batch_exporter(exporter)
        .build()
}

/// What goes to OpenTelemetry: `nowconnect*` spans up to `level`, nothing else.
pub fn otel_filter(level: tracing::Level) -> Targets {
    EXPORTER_INTERNALS
        .iter()
        .fold(Targets::new(), |t, target| {
            t.with_target(*target, LevelFilter::OFF)
        })
        .with_target(SPAN_TARGET_PREFIX, level)
        .with_default(LevelFilter::OFF)
}

type BoxedLayer = Box<dyn Layer<Registry> + Send + Sync>;

/// The process subscriber: the log layer (filtered by `log.level`; events only in JSON format)
/// and, with a tracer, the OpenTelemetry layer (filtered by [`otel_filter`]); each layer has its
/// own filter, so quiet logs do not hide spans and vice versa.
pub(crate) fn subscriber(
    log: &LogSettings,
    tracer: Option<(SdkTracer, tracing::Level)>,
) -> Result<impl tracing::Subscriber + Send + Sync + 'static, TelemetryError> {
    let filter = EnvFilter::try_new(&log.level)
        .map_err(|e| TelemetryError::Level(log.level.clone(), e.to_string()))?;
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stdout)
        .with_span_events(FmtSpan::NONE);
    let mut layers: Vec<BoxedLayer> = vec![match log.format {
        // JSON lines carry no span data, so the layer does not need spans at all: letting them
        // in would format every span's fields (a `frame` span per DATA frame on sampled streams)
        // for nothing. Span-scoped directives (`…[stream{cid=…}]=debug`) need to see spans, so
        // they keep them.
        LogFormat::Json if !has_span_directive(&log.level) => fmt
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .with_filter(filter.and(EventsOnly))
            .boxed(),
        LogFormat::Json => fmt
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .with_filter(filter)
            .boxed(),
        LogFormat::Plain => fmt.with_target(false).with_filter(filter).boxed(),
    }];
    if let Some((tracer, level)) = tracer {
        // No context activation: entering a span (every poll of an instrumented stream task)
        // would otherwise attach an OpenTelemetry `Context` to a thread-local stack. Nothing
        // here reads `Context::current()`; `trace_context` reads a span's context directly.
        layers.push(
            tracing_opentelemetry::layer()
                .with_tracer(tracer)
                .with_location(false)
                .with_threads(false)
                .with_target(false)
                .with_tracked_inactivity(false)
                .with_context_activation(false)
                .with_filter(otel_filter(level))
                .boxed(),
        );
    }
    Ok(Registry::default().with(layers))
}

/// A per-layer filter that lets events through and keeps spans out, decided once per callsite.
/// Its level hint is the most verbose, so combined with `and` it never hides the other filter's
/// hint (without one the global maximum level becomes `TRACE`, and every `log` record of the
/// dependencies would reach the dispatcher).
struct EventsOnly;

impl<S> Filter<S> for EventsOnly {
    fn enabled(&self, meta: &Metadata<'_>, _: &Context<'_, S>) -> bool {
        meta.is_event()
    }

    fn callsite_enabled(&self, meta: &'static Metadata<'static>) -> Interest {
        if meta.is_event() {
            Interest::always()
        } else {
            Interest::never()
        }
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(LevelFilter::TRACE)
    }
}

/// Whether an `EnvFilter` directive string filters by span (`target[span{field=value}]=level`).
fn has_span_directive(level: &str) -> bool {
    level.contains('[')
}

pub(crate) fn tracer(provider: &SdkTracerProvider) -> SdkTracer {
    provider.tracer("nowconnect")
}
