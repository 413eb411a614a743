//! The NowConnect wire protocol between a premise **agent** and the cloud **hub**.
//!
//! Pure code: frame types, their encodings and the HELLO negotiation. Nothing here touches a
//! socket, a clock or a task; the tunnel runtime (`nowconnect-mux`) owns all IO.
//!
//! # Glossary
//! - **hub** (`nowconnect-cloud`): binds TCP listeners in the cloud, one per connector.
//! - **agent** (`nowconnect-premise`): runs inside the private network, dials the hub over one
//!   outbound WebSocket (the **tunnel**) and dials targets on the hub's behalf.
//! - **connector**: a name the agent exports (e.g. `addomain`) mapped to a **target** `host:port`.
//! - **stream**: one client TCP connection carried over the tunnel; V1 names it by a **cid**
//!   (UUID text allocated by the hub), V2 by a numeric [`StreamId`] (the OPEN frame carries both).
//! - directions: `c2a` = client → agent (toward the target), `a2c` = agent → client.
//!
//! # Main types
//! - [`v1::Message`]: the documented JSON protocol, one object per WebSocket text message.
//! - [`v2::Frame`]: the binary protocol, one or more frames per WebSocket binary message.
//! - [`hello`]: HELLO / HELLO_ACK negotiation of the version and the V2 parameters.
//! - [`credit`]: per-stream send and receive windows for V2 flow control.
//!
//! Deliberately absent: sockets, WebSocket handling, timers, authentication.

pub mod credit;
pub mod hello;
mod types;
pub mod v1;
pub mod v2;

pub use types::{Direction, ResetReason, StreamId};
