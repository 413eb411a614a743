//! The product's log events and panics, captured in-process so tests can assert that a
//! refused or broken tunnel was closed *with a logged reason*, which protocol a tunnel
//! negotiated, and that nothing panicked.
//!
//! [`install`] sets a process-wide `tracing` subscriber (first call wins; later calls
//! are no-ops) that keeps every event of a `nowconnect*` target at DEBUG or above as a map of
//! field name to text, and a panic hook that records panics raised outside this test crate
//! (product code or its dependencies). Spans are ignored. Filter events by a field unique to
//! the test (an `agent_id`, a `cid`), since tests of one binary share the capture.

use crate::lock;
use std::collections::BTreeMap;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event as TracingEvent, Level, Metadata, Subscriber};

/// One log event: field name → value as text (`message` holds the message, if any).
pub type Event = BTreeMap<String, String>;

static EVENTS: Mutex<Vec<Event>> = Mutex::new(Vec::new());
static PANICS: Mutex<Vec<String>> = Mutex::new(Vec::new());
static INSTALLED: OnceLock<()> = OnceLock::new();

struct Capture;

#[derive(Default)]
struct Fields(Event);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

impl Subscriber for Capture {
    fn enabled(&self, meta: &Metadata<'_>) -> bool {
        meta.target().starts_with("nowconnect") && *meta.level() <= Level::DEBUG
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &TracingEvent<'_>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        fields
            .0
            .insert("level".into(), event.metadata().level().to_string());
        fields
            .0
            .insert("target".into(), event.metadata().target().to_owned());
        lock(&EVENTS).push(fields.0);
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

/// Installs the capture (idempotent).
pub fn install() {
    INSTALLED.get_or_init(|| {
        let _ = tracing::subscriber::set_global_default(Capture);
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let outside_tests = info
                .location()
                .is_none_or(|l| !l.file().starts_with("tests/"));
            if outside_tests {
                lock(&PANICS).push(info.to_string());
            }
            previous(info);
        }));
    });
}

/// Every event captured so far.
pub fn events() -> Vec<Event> {
    lock(&EVENTS).clone()
}

/// Polls until an event satisfies `pred`; panics after `within`.
pub async fn wait_event(within: Duration, what: &str, pred: impl Fn(&Event) -> bool) -> Event {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(e) = lock(&EVENTS).iter().find(|e| pred(e)) {
            return e.clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no log event {what} within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Whether `event` has `field` equal to `value`.
pub fn has(event: &Event, field: &str, value: &str) -> bool {
    event.get(field).is_some_and(|v| v == value)
}

/// Panics raised outside the test crate since [`install`] (must stay empty).
pub fn product_panics() -> Vec<String> {
    lock(&PANICS).clone()
}
