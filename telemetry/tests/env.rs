//! `OTEL_*` parsing through an injected map: every variable, and `NAME="value": reason` errors.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::time::Duration;

use nowconnect_telemetry::{
    EnvError, LogFormat, LogSettings, OtelSettings, OtlpProtocol, Settings, TraceSampler,
};

fn parse(vars: &[(&str, &str)]) -> Result<OtelSettings, EnvError> {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    OtelSettings::from_env(&|name| map.get(name).cloned())
}

fn error(vars: &[(&str, &str)]) -> String {
    parse(vars).expect_err("should be rejected").to_string()
}

#[test]
fn nothing_set_means_no_otlp_and_standard_defaults() {
    let s = parse(&[]).expect("defaults");
    assert!(s.otlp.is_none());
    assert_eq!(s.service_name, None);
    assert!(s.resource_attributes.is_empty());
    assert_eq!(s.sampler, TraceSampler::ParentBasedTraceIdRatio(0.1));
    assert_eq!(s.sampler, TraceSampler::default());
    assert_eq!(s.metric_export_interval, Duration::from_secs(60));
    // Empty values count as unset.
    let s = parse(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", ""),
        ("OTEL_TRACES_SAMPLER", " "),
    ])
    .expect("empty");
    assert!(s.otlp.is_none());
    assert_eq!(s.sampler, TraceSampler::ParentBasedTraceIdRatio(0.1));
    // Only the argument set: the default sampler at that ratio.
    let s = parse(&[("OTEL_TRACES_SAMPLER_ARG", "0.25")]).expect("ratio only");
    assert_eq!(s.sampler, TraceSampler::ParentBasedTraceIdRatio(0.25));
}

#[test]
fn endpoint_protocol_headers_and_timeout() {
    let s = parse(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/"),
        (
            "OTEL_EXPORTER_OTLP_HEADERS",
            "api-key=s%3Dcret , x-tenant=a%20b,",
        ),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
    ])
    .expect("valid");
    let otlp = s.otlp.expect("otlp on");
    assert_eq!(otlp.endpoint, "http://collector:4318");
    assert_eq!(
        otlp.protocol,
        OtlpProtocol::HttpProtobuf,
        "the specification's default"
    );
    assert_eq!(
        otlp.signal_url("metrics"),
        "http://collector:4318/v1/metrics"
    );
    assert_eq!(otlp.signal_url("traces"), "http://collector:4318/v1/traces");
    assert_eq!(
        otlp.headers.0,
        vec![
            ("api-key".into(), "s=cret".into()),
            ("x-tenant".into(), "a b".into())
        ]
    );
    assert_eq!(otlp.timeout, Duration::from_millis(2500));
    let debug = format!("{:?}", otlp.headers);
    assert!(
        debug.contains("api-key") && !debug.contains("cret"),
        "{debug}"
    );

    let s = parse(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
    ])
    .expect("grpc");
    let otlp = s.otlp.expect("otlp on");
    assert_eq!(otlp.protocol, OtlpProtocol::Grpc);
    assert_eq!(otlp.signal_url("traces"), "http://127.0.0.1:4317");
    assert_eq!(otlp.timeout, Duration::from_secs(10));
}

#[test]
fn samplers_and_their_argument() {
    let sampler = |name: &str, arg: Option<&str>| {
        let mut vars = vec![("OTEL_TRACES_SAMPLER", name)];
        vars.extend(arg.map(|a| ("OTEL_TRACES_SAMPLER_ARG", a)));
        parse(&vars).expect("valid sampler").sampler
    };
    assert_eq!(sampler("always_on", None), TraceSampler::AlwaysOn);
    assert_eq!(
        sampler("always_off", Some("junk")),
        TraceSampler::AlwaysOff,
        "arg ignored"
    );
    assert_eq!(
        sampler("traceidratio", Some("0.25")),
        TraceSampler::TraceIdRatio(0.25)
    );
    assert_eq!(
        sampler("traceidratio", None),
        TraceSampler::TraceIdRatio(1.0)
    );
    assert_eq!(
        sampler("parentbased_always_on", None),
        TraceSampler::ParentBasedAlwaysOn
    );
    assert_eq!(
        sampler("parentbased_always_off", None),
        TraceSampler::ParentBasedAlwaysOff
    );
    assert_eq!(
        sampler("parentbased_traceidratio", Some("0.1")),
        TraceSampler::ParentBasedTraceIdRatio(0.1)
    );
}

#[test]
fn service_name_resource_attributes_and_interval() {
    let s = parse(&[
        ("OTEL_SERVICE_NAME", "hub-eu"),
        (
            "OTEL_RESOURCE_ATTRIBUTES",
            "service.instance.id=hub-1,deployment.environment=prod%2Ceu",
        ),
        ("OTEL_METRIC_EXPORT_INTERVAL", "15000"),
    ])
    .expect("valid");
    assert_eq!(s.service_name.as_deref(), Some("hub-eu"));
    assert_eq!(
        s.resource_attributes,
        vec![
            ("service.instance.id".into(), "hub-1".into()),
            ("deployment.environment".into(), "prod,eu".into())
        ]
    );
    assert_eq!(s.metric_export_interval, Duration::from_secs(15));
}

#[test]
fn bad_values_name_the_variable_the_value_and_the_reason() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "collector:4317",
            "needs a scheme",
        ),
        (
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "http://",
            "expected http(s)://host",
        ),
        (
            "OTEL_EXPORTER_OTLP_PROTOCOL",
            "http/json",
            "http/json is not supported",
        ),
        (
            "OTEL_EXPORTER_OTLP_PROTOCOL",
            "udp",
            "expected grpc or http/protobuf",
        ),
        (
            "OTEL_EXPORTER_OTLP_TIMEOUT",
            "10s",
            "positive number of milliseconds",
        ),
        ("OTEL_TRACES_SAMPLER", "jaeger_remote", "expected always_on"),
        (
            "OTEL_METRIC_EXPORT_INTERVAL",
            "0",
            "positive number of milliseconds",
        ),
        (
            "OTEL_RESOURCE_ATTRIBUTES",
            "a=1,b",
            "entry 2 is not key=value",
        ),
        (
            "OTEL_RESOURCE_ATTRIBUTES",
            "=1",
            "entry 1 has an empty name",
        ),
        (
            "OTEL_RESOURCE_ATTRIBUTES",
            "a=%zz",
            "entry 1 (a) has a bad percent-encoding",
        ),
    ];
    for (name, value, reason) in cases {
        let mut vars = vec![(*name, *value)];
        if name.starts_with("OTEL_EXPORTER_OTLP_") && *name != "OTEL_EXPORTER_OTLP_ENDPOINT" {
            vars.push(("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318"));
        }
        let msg = error(&vars);
        let prefix = format!("{name}=\"{value}\": ");
        assert!(
            msg.starts_with(&prefix),
            "{msg:?} should start with {prefix:?}"
        );
        assert!(msg.contains(reason), "{msg:?} should say {reason:?}");
    }
    let msg = error(&[
        ("OTEL_TRACES_SAMPLER", "traceidratio"),
        ("OTEL_TRACES_SAMPLER_ARG", "1.5"),
    ]);
    assert_eq!(
        msg,
        "OTEL_TRACES_SAMPLER_ARG=\"1.5\": expected a number from 0 to 1"
    );
    let msg = error(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "https://collector:4317"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
    ]);
    assert!(
        msg.starts_with(
            "OTEL_EXPORTER_OTLP_ENDPOINT=\"https://collector:4317\": TLS is not built in for gRPC"
        ),
        "{msg}"
    );
}

#[test]
fn header_errors_never_print_the_value() {
    for (headers, reason) in [
        (
            "authorization=Bearer%20s3cret,broken",
            "entry 2 is not name=value",
        ),
        (
            "bad header=s3cret",
            "\"bad header\" is not a valid header name",
        ),
    ] {
        let msg = error(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318"),
            ("OTEL_EXPORTER_OTLP_HEADERS", headers),
        ]);
        assert_eq!(
            msg,
            format!("OTEL_EXPORTER_OTLP_HEADERS=\"<redacted>\": {reason}")
        );
        assert!(!msg.contains("s3cret"));
    }
}

#[test]
fn settings_combine_log_and_otel() {
    let log = LogSettings {
        service: "nowconnect-cloud",
        level: "info".into(),
        format: LogFormat::Json,
    };
    let s = Settings::from_env(log, &|name| {
        (name == "OTEL_SERVICE_NAME").then(|| "x".to_owned())
    })
    .expect("valid");
    assert_eq!(s.log.service, "nowconnect-cloud");
    assert_eq!(s.otel.service_name.as_deref(), Some("x"));
}

#[test]
fn sdk_disabled_accepts_true_and_false_in_any_case_and_refuses_the_rest() {
    assert!(!parse(&[]).expect("unset").sdk_disabled);
    assert!(
        !parse(&[("OTEL_SDK_DISABLED", "")])
            .expect("empty")
            .sdk_disabled
    );
    for on in ["true", "TRUE", " True "] {
        assert!(parse(&[("OTEL_SDK_DISABLED", on)]).expect(on).sdk_disabled);
    }
    for off in ["false", "FALSE"] {
        assert!(
            !parse(&[("OTEL_SDK_DISABLED", off)])
                .expect(off)
                .sdk_disabled
        );
    }
    assert_eq!(
        error(&[("OTEL_SDK_DISABLED", "yes")]),
        "OTEL_SDK_DISABLED=\"yes\": expected true or false"
    );
    // The rest is still validated while disabled.
    let s = parse(&[
        ("OTEL_SDK_DISABLED", "true"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
    ])
    .expect("valid");
    assert!(s.sdk_disabled && s.otlp.is_some());
    let msg = error(&[
        ("OTEL_SDK_DISABLED", "true"),
        ("OTEL_TRACES_SAMPLER", "sometimes"),
    ]);
    assert!(msg.starts_with("OTEL_TRACES_SAMPLER="), "{msg}");
}
