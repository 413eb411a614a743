//! The crud-service's instruments (SPEC §6.1, CRUD rows), declared in one place.
//!
//! | instrument | unit | Prometheus | labels |
//! |---|---|---|---|
//! | `nowconnect.ldap.membership.batch` (counter) | `{batch}` | `nowconnect_ldap_membership_batch_total` | `action`, `system` |
//! | `nowconnect.ldap.membership.values` (counter) | `{value}` | `nowconnect_ldap_membership_values_total` | `action` |
//! | `nowconnect.ldap.membership.batch` (histogram, [`LATENCY_BUCKETS`]) | `s` | `nowconnect_ldap_membership_batch_seconds` | `action`, `system` |
//! | `nowconnect.ldap.membership.errors` (counter) | `{error}` | `nowconnect_ldap_membership_errors_total` | `code` |
//! | `nowconnect.ldap.membership.benign` (counter) | `{outcome}` | `nowconnect_ldap_membership_benign_total` | `code` |
//! | `nowconnect.crud.requests` (counter) | `{request}` | `nowconnect_crud_requests_total` | `action`, `code` |
//! | `nowconnect.crud.request.duration` (histogram, [`LATENCY_BUCKETS`]) | `s` | `nowconnect_crud_request_duration_seconds` | `action` |
//!
//! Label values are closed sets: `action` is `add`/`remove` for membership and
//! `object_type.action` (or `invalid`) for requests; `system` is a configured system; `code` is
//! an LDAP result code (`32`, `65`, …) or `unavailable`/`timeout`/`refused` for errors, the
//! benign codes `20`, `16`, `68`, `53`, and for requests `ok` or a stable error code of the API.

use std::time::Duration;

use nowconnect_telemetry::{KeyValue, LATENCY_BUCKETS, Meter};
use opentelemetry::metrics::{Counter, Histogram};

use crate::ldap::classify::{BenignCode, Phase};

/// Membership error codes exported at 0 from start-up (alerts use `increase()`).
pub const ZERO_INIT_ERROR_CODES: [&str; 6] =
    ["unavailable", "timeout", "refused", "21", "32", "65"];

/// Handles to every instrument; cheap to clone.
#[derive(Debug, Clone)]
pub struct CrudMetrics {
    batches: Counter<u64>,
    values: Counter<u64>,
    batch_seconds: Histogram<f64>,
    errors: Counter<u64>,
    benign: Counter<u64>,
    requests: Counter<u64>,
    request_seconds: Histogram<f64>,
}

impl CrudMetrics {
    /// Declares the instruments on `meter` and zero-initialises the series alerts read for
    /// every system in `systems`.
    pub fn new<'a>(meter: &Meter, systems: impl IntoIterator<Item = &'a str>) -> Self {
        let m = CrudMetrics {
            batches: meter
                .u64_counter("nowconnect.ldap.membership.batch")
                .with_unit("{batch}")
                .with_description("LDAP modify requests sent by update_group_members, by action (add, remove) and system")
                .build(),
            values: meter
                .u64_counter("nowconnect.ldap.membership.values")
                .with_unit("{value}")
                .with_description("Member values sent in membership modify requests, by action")
                .build(),
            batch_seconds: meter
                .f64_histogram("nowconnect.ldap.membership.batch")
                .with_unit("s")
                .with_boundaries(LATENCY_BUCKETS.to_vec())
                .with_description("Time per membership modify request (one batch), by action and system")
                .build(),
            errors: meter
                .u64_counter("nowconnect.ldap.membership.errors")
                .with_unit("{error}")
                .with_description("Membership updates that failed, by LDAP result code (or unavailable, timeout, refused)")
                .build(),
            benign: meter
                .u64_counter("nowconnect.ldap.membership.benign")
                .with_unit("{outcome}")
                .with_description("Membership changes that were already true (20 or AD 68 on add, 16 or AD 53/00000561 on delete), counted as success")
                .build(),
            requests: meter
                .u64_counter("nowconnect.crud.requests")
                .with_unit("{request}")
                .with_description("POST /execute requests by action (object_type.action) and outcome code (ok or the API error code)")
                .build(),
            request_seconds: meter
                .f64_histogram("nowconnect.crud.request.duration")
                .with_unit("s")
                .with_boundaries(LATENCY_BUCKETS.to_vec())
                .with_description("Time to answer a POST /execute request, by action")
                .build(),
        };
        for system in systems {
            for phase in [Phase::Add, Phase::Delete] {
                m.batches.add(
                    0,
                    &[action(phase), KeyValue::new("system", system.to_owned())],
                );
            }
        }
        for phase in [Phase::Add, Phase::Delete] {
            m.values.add(0, &[action(phase)]);
        }
        for code in ZERO_INIT_ERROR_CODES {
            m.errors.add(0, &[KeyValue::new("code", code)]);
        }
        for code in BenignCode::ALL {
            m.benign.add(0, &[KeyValue::new("code", code.label())]);
        }
        m
    }

    /// One membership modify of `values` values took `elapsed`.
    pub fn batch(&self, system: &str, phase: Phase, values: usize, elapsed: Duration) {
        let labels = [action(phase), KeyValue::new("system", system.to_owned())];
        self.batches.add(1, &labels);
        self.batch_seconds.record(elapsed.as_secs_f64(), &labels);
        self.values
            .add(u64::try_from(values).unwrap_or(u64::MAX), &[action(phase)]);
    }

    /// A membership change that was already true.
    pub fn benign(&self, code: BenignCode) {
        self.benign.add(1, &[KeyValue::new("code", code.label())]);
    }

    /// A failed membership update (`code`: result code or `unavailable`/`timeout`/`refused`).
    pub fn membership_error(&self, code: String) {
        self.errors.add(1, &[KeyValue::new("code", code)]);
    }

    /// One answered `POST /execute`.
    pub fn request(&self, action: &'static str, code: &'static str, elapsed: Duration) {
        self.requests.add(
            1,
            &[KeyValue::new("action", action), KeyValue::new("code", code)],
        );
        self.request_seconds
            .record(elapsed.as_secs_f64(), &[KeyValue::new("action", action)]);
    }
}

fn action(phase: Phase) -> KeyValue {
    KeyValue::new("action", phase.label())
}

#[cfg(test)]
mod tests {
    use super::*;
    use nowconnect_telemetry::Telemetry;

    #[test]
    fn names_types_and_zero_series() {
        let telemetry = Telemetry::for_tests();
        let m = CrudMetrics::new(&telemetry.meter("nowconnect"), ["corp"]);
        m.batch("corp", Phase::Add, 3, Duration::from_millis(4));
        m.request("group.add_members", "ok", Duration::from_millis(5));
        let text = telemetry.metrics_text();
        for want in [
            "# TYPE nowconnect_ldap_membership_batch_total counter",
            "# TYPE nowconnect_ldap_membership_values_total counter",
            "# TYPE nowconnect_ldap_membership_batch_seconds histogram",
            "# TYPE nowconnect_ldap_membership_errors_total counter",
            "# TYPE nowconnect_ldap_membership_benign_total counter",
            "# TYPE nowconnect_crud_requests_total counter",
            "# TYPE nowconnect_crud_request_duration_seconds histogram",
            "nowconnect_ldap_membership_batch_total{action=\"add\",system=\"corp\"} 1",
            "nowconnect_ldap_membership_batch_total{action=\"remove\",system=\"corp\"} 0",
            "nowconnect_ldap_membership_values_total{action=\"add\"} 3",
            "nowconnect_ldap_membership_benign_total{code=\"53\"} 0",
            "nowconnect_ldap_membership_errors_total{code=\"unavailable\"} 0",
            "nowconnect_ldap_membership_batch_seconds_bucket{action=\"add\",system=\"corp\",le=\"0.1\"} 1",
        ] {
            assert!(text.contains(want), "missing {want}\n{text}");
        }
    }
}
