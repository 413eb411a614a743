//! End-to-end harness for NowConnect: the whole stack on real sockets, against real servers.
//!
//! Tests under `tests/tests/` build on the helpers here. Everything binds loopback port 0 and
//! reports its address; nothing uses a fixed port, so tests run in parallel.
//!
//! - [`slapd`]: a throwaway OpenLDAP server per test (seeded `dc=example,dc=org`), plus a
//!   wrapper around the real `ldapsearch` to compare answers through a tunnel with direct ones.
//!
//! - [`creds`]: real signing keys, JWKS files and signed agent tokens.
//! - [`deploy`]: reading `compose/` and `deploy/k8s/` (YAML, compose env and mounts).
//! - [`crud`]: the crud-service in-process (real config loader, real HTTP) and its client.
//! - [`stack`]: hub and agents in-process, configured through their real config loaders.
//! - [`proc_stack`]: the hub and agent binaries as processes, with their log files.
//! - [`faultrelay`]: a TCP relay that passes, delays, black-holes, resets or refuses on demand.
//! - [`chaos_stack`]: hub and agent processes behind fault relays, killable and restartable.
//! - [`procstat`]: a process's resident memory, descriptors and open-file limit from `/proc`.
//! - [`prometheus`]: a real Prometheus scraping given targets with the shipped alert rules.
//! - [`targets`]: echo and other small TCP targets.
//! - [`tls`]: a throwaway CA issuing server certificates, and an HTTPS JWKS server.
//! - [`tinyproxy`]: a real HTTP CONNECT proxy (Debian's tinyproxy) with Basic auth.
//! - [`wait`]: polling until a listener carries an echo (agent registered and routable).
//! - [`logcap`]: in-process capture of the product's log events and panics.
//! - [`otlp`]: an in-process OTLP collector (gRPC and HTTP/protobuf) keeping what it receives.
//! - [`pdp`]: a small real AuthZEN policy decision point, programmable, recording its requests.
//! - [`rawws`]: raw WebSocket ends (fake agent, fake hub) for hostile and interop tests, with
//!   [`v2frames`] for hand-built V2 frames.
//! - [`v1peer`]: an independent V1-only agent and hub (old peers) for interoperability tests.
//!
//! External programs (slapd, ldap-utils, promtool, tinyproxy) are started for real, never faked: a missing
//! one is a failure that points at `scripts/install-deps.sh`, never a skipped test.
//!
//! Not here: unit tests of a single crate (beside its code) and anything that needs the network
//! beyond loopback.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Mutex, MutexGuard};

pub mod chaos_stack;
pub mod creds;
pub mod crud;
pub mod deploy;
pub mod faultrelay;
pub mod logcap;
pub mod otlp;
pub mod pdp;
pub mod proc_stack;
pub mod procs;
pub mod procstat;
pub mod prometheus;
pub mod rawws;
pub mod slapd;
pub mod stack;
pub mod targets;
pub mod testca;
pub mod tinyproxy;
pub mod tls;
pub mod v1peer;
pub mod v2frames;
pub mod wait;

/// Locks `m`, ignoring poisoning (a panicking test thread must not hide what it recorded).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
