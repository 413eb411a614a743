//! Which agent serves which connector.
//!
//! Every connector keeps its agents in registration order; the first live one serves it, and
//! when it leaves the next takes over. An agent that reconnects with the same `agent_id`
//! replaces its older session. If that session has no open stream it is handed back to be
//! closed (a stale tunnel of a restarted agent); if it still carries streams (an agent rotating
//! its token opens the new tunnel first) it is kept as *draining*: no new streams are routed to
//! it, its open streams continue, and it leaves when the agent closes it (or its pings time out).

use nowconnect_mux::SessionHandle;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

/// One registered tunnel.
#[derive(Debug, Clone)]
struct Registration {
    agent_id: String,
    serial: u64,
    connectors: Vec<String>,
    handle: SessionHandle,
    /// When this tunnel registered (the uptime gauge).
    since: Instant,
    /// Replaced by a newer session of the same agent while it still had streams.
    draining: bool,
}

#[derive(Debug, Default)]
struct Inner {
    next_serial: u64,
    /// In registration order.
    agents: Vec<Registration>,
}

/// Shared by the tunnel endpoint (register/unregister) and the listeners (pick).
#[derive(Debug, Default)]
pub(crate) struct Registry {
    inner: Mutex<Inner>,
}

/// Proof of registration; pass it back to [`Registry::unregister`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ticket(u64);

impl Registry {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a tunnel; returns its ticket and the stale session to close, if any (an older
    /// session of this agent with no open stream; one with streams is left draining).
    pub(crate) fn register(
        &self,
        agent_id: &str,
        connectors: Vec<String>,
        handle: SessionHandle,
    ) -> (Ticket, Option<SessionHandle>) {
        let mut inner = self.lock();
        inner.next_serial += 1;
        let serial = inner.next_serial;
        let mut stale = None;
        let mut i = 0;
        while i < inner.agents.len() {
            let r = &mut inner.agents[i];
            if r.agent_id != agent_id || r.draining {
                i += 1;
            } else if r.handle.stream_count() > 0 {
                r.draining = true;
                i += 1;
            } else {
                stale = Some(inner.agents.remove(i).handle);
            }
        }
        inner.agents.push(Registration {
            agent_id: agent_id.to_owned(),
            serial,
            connectors,
            handle,
            since: Instant::now(),
            draining: false,
        });
        (Ticket(serial), stale)
    }

    /// Removes a registration (no-op if a newer session of the same agent replaced it).
    pub(crate) fn unregister(&self, ticket: Ticket) {
        self.lock().agents.retain(|r| r.serial != ticket.0);
    }

    /// The session serving `connector`: the oldest live registration exporting it.
    pub(crate) fn pick(&self, connector: &str) -> Option<SessionHandle> {
        let inner = self.lock();
        inner
            .agents
            .iter()
            .filter(|r| !r.draining && !r.handle.is_closed())
            .find(|r| r.connectors.iter().any(|c| c == connector))
            .map(|r| r.handle.clone())
    }

    /// Every live session (shutdown, stream totals).
    pub(crate) fn sessions(&self) -> Vec<SessionHandle> {
        self.lock()
            .agents
            .iter()
            .map(|r| r.handle.clone())
            .collect()
    }

    /// Whether a live agent serves `connector` (the `connector_up` gauge).
    pub(crate) fn serves(&self, connector: &str) -> bool {
        self.pick(connector).is_some()
    }

    /// Every live agent and when its tunnel registered (the agent gauges).
    pub(crate) fn agents(&self) -> Vec<(String, Instant)> {
        self.lock()
            .agents
            .iter()
            .filter(|r| !r.draining && !r.handle.is_closed())
            .map(|r| (r.agent_id.clone(), r.since))
            .collect()
    }

    /// The longest inbound queue per connector over every session (the queue gauge).
    pub(crate) fn queue_peaks(&self) -> HashMap<String, usize> {
        let mut peaks = HashMap::new();
        for session in self.sessions() {
            for (connector, peak) in session.queue_peaks() {
                let max = peaks.entry(connector).or_insert(0);
                *max = peak.max(*max);
            }
        }
        peaks
    }
}
