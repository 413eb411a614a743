//! The standard `OTEL_*` variables, read through an injected lookup so tests never touch the
//! process environment. An empty value counts as unset (as the specification asks).
//!
//! `OTEL_SDK_DISABLED=true` (case-insensitive) turns OpenTelemetry off as a whole: no OTLP, no
//! spans, instruments that record nothing and an empty `/metrics`; logs are unaffected. Any
//! value other than `true` or `false` is refused rather than read as `false`, so a typo never
//! silently leaves the SDK on (or off).
//!
//! Not read here: signal-specific variants (`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, …),
//! `OTEL_TRACES_EXPORTER` / `OTEL_METRICS_EXPORTER` (setting `OTEL_EXPORTER_OTLP_ENDPOINT` is
//! what turns OTLP on). The endpoint, protocol, headers,
//! timeout, sampler and interval parsed here are passed to the SDK explicitly, so they win over
//! anything the SDK would read from the process environment itself.

use std::time::Duration;

use crate::settings::{
    DEFAULT_METRIC_EXPORT_INTERVAL, DEFAULT_OTLP_TIMEOUT, OtelSettings, OtlpHeaders, OtlpProtocol,
    OtlpSettings, TraceSampler,
};

pub const OTEL_SERVICE_NAME: &str = "OTEL_SERVICE_NAME";
pub const OTEL_RESOURCE_ATTRIBUTES: &str = "OTEL_RESOURCE_ATTRIBUTES";
pub const OTEL_EXPORTER_OTLP_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
pub const OTEL_EXPORTER_OTLP_PROTOCOL: &str = "OTEL_EXPORTER_OTLP_PROTOCOL";
pub const OTEL_EXPORTER_OTLP_HEADERS: &str = "OTEL_EXPORTER_OTLP_HEADERS";
pub const OTEL_EXPORTER_OTLP_TIMEOUT: &str = "OTEL_EXPORTER_OTLP_TIMEOUT";
pub const OTEL_TRACES_SAMPLER: &str = "OTEL_TRACES_SAMPLER";
pub const OTEL_TRACES_SAMPLER_ARG: &str = "OTEL_TRACES_SAMPLER_ARG";
pub const OTEL_METRIC_EXPORT_INTERVAL: &str = "OTEL_METRIC_EXPORT_INTERVAL";
pub const OTEL_SDK_DISABLED: &str = "OTEL_SDK_DISABLED";

/// A variable that could not be parsed. Displays as `NAME="value": reason`; the value of
/// `OTEL_EXPORTER_OTLP_HEADERS` is shown as `<redacted>` (it usually carries credentials).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{name}={value:?}: {reason}")]
pub struct EnvError {
    pub name: &'static str,
    pub value: String,
    pub reason: String,
}

type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

impl OtelSettings {
    /// Reads every `OTEL_*` variable this crate honours through `env`.
    pub fn from_env(env: Lookup<'_>) -> Result<Self, EnvError> {
        let otlp = match var(env, OTEL_EXPORTER_OTLP_ENDPOINT) {
            None => None,
            Some(raw) => {
                let protocol = opt(env, OTEL_EXPORTER_OTLP_PROTOCOL, parse_protocol)?;
                let protocol = protocol.unwrap_or_default();
                Some(OtlpSettings {
                    endpoint: parse_endpoint(&raw, protocol)
                        .map_err(|r| err(OTEL_EXPORTER_OTLP_ENDPOINT, &raw, r))?,
                    protocol,
                    headers: parse_headers(env)?,
                    timeout: opt(env, OTEL_EXPORTER_OTLP_TIMEOUT, parse_millis)?
                        .unwrap_or(DEFAULT_OTLP_TIMEOUT),
                })
            }
        };
        Ok(Self {
            sdk_disabled: opt(env, OTEL_SDK_DISABLED, parse_bool)?.unwrap_or(false),
            service_name: var(env, OTEL_SERVICE_NAME),
            resource_attributes: opt(env, OTEL_RESOURCE_ATTRIBUTES, |v| {
                parse_list(v, "key=value")
            })?
            .unwrap_or_default(),
            otlp,
            sampler: parse_sampler(env)?,
            metric_export_interval: opt(env, OTEL_METRIC_EXPORT_INTERVAL, parse_millis)?
                .unwrap_or(DEFAULT_METRIC_EXPORT_INTERVAL),
            span_level: tracing::Level::INFO,
        })
    }
}

fn var(env: Lookup<'_>, name: &str) -> Option<String> {
    env(name).filter(|v| !v.trim().is_empty())
}

fn err(name: &'static str, value: &str, reason: impl Into<String>) -> EnvError {
    EnvError {
        name,
        value: value.to_owned(),
        reason: reason.into(),
    }
}

/// Parses an optional variable; a parse failure names the variable and its value.
fn opt<T>(
    env: Lookup<'_>,
    name: &'static str,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Result<Option<T>, EnvError> {
    var(env, name)
        .map(|raw| parse(raw.trim()).map_err(|reason| err(name, &raw, reason)))
        .transpose()
}

fn parse_bool(v: &str) -> Result<bool, String> {
    if v.eq_ignore_ascii_case("true") {
        Ok(true)
    } else if v.eq_ignore_ascii_case("false") {
        Ok(false)
    } else {
        Err("expected true or false".into())
    }
}

fn parse_protocol(v: &str) -> Result<OtlpProtocol, String> {
    match v {
        "grpc" => Ok(OtlpProtocol::Grpc),
        "http/protobuf" => Ok(OtlpProtocol::HttpProtobuf),
        "http/json" => Err("http/json is not supported; use grpc or http/protobuf".into()),
        _ => Err("expected grpc or http/protobuf".into()),
    }
}

fn parse_endpoint(raw: &str, protocol: OtlpProtocol) -> Result<String, String> {
    let v = raw.trim();
    let (scheme, rest) = if let Some(rest) = v.strip_prefix("http://") {
        ("http://", rest)
    } else if let Some(rest) = v.strip_prefix("https://") {
        if protocol == OtlpProtocol::Grpc {
            return Err("TLS is not built in for gRPC; use http:// or \
                        OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf"
                .into());
        }
        ("https://", rest)
    } else {
        return Err("needs a scheme, e.g. http://collector:4317".into());
    };
    let rest = rest.trim_end_matches('/');
    if rest.is_empty() || rest.starts_with('/') || rest.contains(char::is_whitespace) {
        return Err("expected http(s)://host[:port][/path]".into());
    }
    Ok(format!("{scheme}{rest}"))
}

fn parse_millis(v: &str) -> Result<Duration, String> {
    match v.parse::<u64>() {
        Ok(0) | Err(_) => Err("expected a positive number of milliseconds".into()),
        Ok(ms) => Ok(Duration::from_millis(ms)),
    }
}

fn parse_headers(env: Lookup<'_>) -> Result<OtlpHeaders, EnvError> {
    let Some(raw) = var(env, OTEL_EXPORTER_OTLP_HEADERS) else {
        return Ok(OtlpHeaders::default());
    };
    let redacted = |reason| err(OTEL_EXPORTER_OTLP_HEADERS, "<redacted>", reason);
    let headers = parse_list(&raw, "name=value").map_err(redacted)?;
    for (name, _) in &headers {
        if !name.bytes().all(is_token_byte) {
            return Err(redacted(format!("{name:?} is not a valid header name")));
        }
    }
    Ok(OtlpHeaders(headers))
}

/// RFC 9110 `tchar`.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// `k1=v1,k2=v2` (W3C Baggage-like, values percent-encoded). The reason never quotes a value.
fn parse_list(v: &str, shape: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for (i, entry) in v.split(',').enumerate() {
        if entry.trim().is_empty() {
            continue;
        }
        let n = i + 1;
        let Some((key, value)) = entry.split_once('=') else {
            return Err(format!("entry {n} is not {shape}"));
        };
        let key = key.trim();
        if key.is_empty() {
            return Err(format!("entry {n} has an empty name"));
        }
        let value = percent_decode(value.trim())
            .ok_or_else(|| format!("entry {n} ({key}) has a bad percent-encoding"))?;
        out.push((key.to_owned(), value));
    }
    Ok(out)
}

fn percent_decode(v: &str) -> Option<String> {
    let bytes = v.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            if !hex.iter().all(u8::is_ascii_hexdigit) {
                return None;
            }
            out.push(u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn parse_sampler(env: Lookup<'_>) -> Result<TraceSampler, EnvError> {
    let ratio = || {
        opt(env, OTEL_TRACES_SAMPLER_ARG, |v| match v.parse::<f64>() {
            Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
            _ => Err("expected a number from 0 to 1".into()),
        })
        .map(|r| r.unwrap_or(1.0))
    };
    let Some(raw) = var(env, OTEL_TRACES_SAMPLER) else {
        // Unset: our default, parent-based ratio, at OTEL_TRACES_SAMPLER_ARG when given.
        return Ok(match var(env, OTEL_TRACES_SAMPLER_ARG) {
            Some(_) => TraceSampler::ParentBasedTraceIdRatio(ratio()?),
            None => TraceSampler::default(),
        });
    };
    Ok(match raw.trim() {
        "always_on" => TraceSampler::AlwaysOn,
        "always_off" => TraceSampler::AlwaysOff,
        "traceidratio" => TraceSampler::TraceIdRatio(ratio()?),
        "parentbased_always_on" => TraceSampler::ParentBasedAlwaysOn,
        "parentbased_always_off" => TraceSampler::ParentBasedAlwaysOff,
        "parentbased_traceidratio" => TraceSampler::ParentBasedTraceIdRatio(ratio()?),
        _ => {
            return Err(err(
                OTEL_TRACES_SAMPLER,
                &raw,
                "expected always_on, always_off, traceidratio, parentbased_always_on, \
                 parentbased_always_off or parentbased_traceidratio",
            ));
        }
    })
}
