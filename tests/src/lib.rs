//! End-to-end harness for NowConnect: the whole stack on real sockets, against real servers.
//!
//! Tests under `tests/tests/` build on the helpers here. Everything binds loopback port 0 and
//! reports its address; nothing uses a fixed port, so tests run in parallel.
//!
//! - [`slapd`]: a throwaway OpenLDAP server per test (seeded `dc=example,dc=org`), plus a
//!   wrapper around the real `ldapsearch` to compare answers through a tunnel with direct ones.
//!
//! - [`creds`]: real signing keys, JWKS files and signed agent tokens.
//! - [`stack`]: hub and agents in-process, configured through their real config loaders.
//! - [`targets`]: echo and other small TCP targets.
//! - [`v1peer`]: an independent V1-only agent and hub (old peers) for interoperability tests.
//!
//! External programs (slapd, ldap-utils, promtool) are started for real, never faked: a missing
//! one is a failure that points at `scripts/install-deps.sh`, never a skipped test.
//!
//! Not here: unit tests of a single crate (beside its code) and anything that needs the network
//! beyond loopback.

#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod creds;
pub mod procs;
pub mod slapd;
pub mod stack;
pub mod targets;
pub mod v1peer;
