//! The `listeners` section: client-facing TCP listeners, one per address.

use std::collections::HashMap;
use std::net::SocketAddr;

use nowconnect_config::Sourced;

use super::raw::RawListener;
use super::{ConfigError, ListenerConfig};

pub(super) fn build(raw: Vec<RawListener>) -> Result<Vec<ListenerConfig>, ConfigError> {
    let mut names: HashMap<String, usize> = HashMap::new();
    let mut binds: HashMap<SocketAddr, usize> = HashMap::new();
    let mut listeners = Vec::with_capacity(raw.len());
    for (i, l) in raw.into_iter().enumerate() {
        let key = |field: &str| format!("listeners[{i}].{field}");
        let name = required(&key("name"), l.name, "every listener needs a unique name")?
            .ensure(|n| !n.trim().is_empty(), "must not be empty")?;
        if let Some(first) = names.insert(name.clone(), i) {
            let reason = format!("duplicate listener name (also listeners[{first}])");
            return Err(Sourced::key(&key("name"), name).invalid(reason));
        }
        let bind_text = required(
            &key("bind"),
            l.bind,
            "address to listen on, e.g. 0.0.0.0:389",
        )?;
        let bind: SocketAddr = bind_text.value.trim().parse().map_err(|_| {
            bind_text.invalid("not a socket address (e.g. 0.0.0.0:389 or [::]:389)")
        })?;
        // Port 0 asks for an ephemeral port, so several such listeners never collide.
        let earlier = if bind.port() == 0 {
            None
        } else {
            binds.insert(bind, i)
        };
        if let Some(first) = earlier {
            let reason = format!("address already used by listeners[{first}]");
            return Err(bind_text.invalid(reason));
        }
        let connector = required(
            &key("connector"),
            l.connector,
            "the connector this listener serves",
        )?
        .ensure(
            |c| is_name(c),
            "must be 1-128 characters of A-Z a-z 0-9 _ . -",
        )?;
        listeners.push(ListenerConfig {
            name,
            bind,
            connector,
        });
    }
    Ok(listeners)
}

fn required(key: &str, value: Option<String>, what: &str) -> Result<Sourced<String>, ConfigError> {
    value
        .map(|v| Sourced::key(key, v))
        .ok_or_else(|| ConfigError::Missing {
            key: key.to_owned(),
            reason: format!("required ({what})"),
        })
}

/// Connector names travel in HELLO, logs and metric labels: keep them plain.
pub(super) fn is_name(s: &str) -> bool {
    (1..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}
