//! The NowConnect tunnel runtime, shared by the hub and the agent.
//!
//! One [`Session`] owns one WebSocket (the tunnel) after the HELLO handshake and multiplexes
//! streams over it. Each stream is a task relaying between a local TCP socket (the client on the
//! hub, the target on the agent) and the tunnel, with real half-close, bounded queues, and V2
//! credit flow control so that one slow peer never stalls another stream.
//!
//! Main types:
//! - [`SessionConfig`]: negotiated protocol, limits and timers for one tunnel.
//! - [`Session::spawn`]: starts the reader, writer, keepalive and idle sweeper tasks and returns
//!   a [`SessionHandle`] (hub: [`SessionHandle::open_stream`]) and a join handle yielding
//!   [`SessionEnd`].
//! - [`Dialer`]: how the agent turns an OPEN into a target connection.
//! - [`signal`], [`fdlimit`] and [`runtime`]: the process-level set-up both binaries share
//!   (termination signals, the open-file limit, the tokio runtime and its worker count).
//!
//! What it does not do: the HELLO handshake and authentication (the services do that before
//! calling [`Session::spawn`]), TCP listeners, registries, configuration files.

mod codec;
mod config;
mod credit;
pub mod fdlimit;
mod inbox;
mod observe;
pub mod runtime;
mod session;
pub mod signal;
mod stream;
mod table;
mod writer;

pub use config::{Role, SessionConfig};
pub use observe::{NoopObserver, Observer, StreamObserver, WritePhase};
pub use session::{DialError, Dialer, OpenError, Session, SessionEnd, SessionHandle};
pub use stream::CloseReason;

use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// Largest WebSocket message either side accepts: a packed V2 batch plus headroom.
pub const MAX_WS_MESSAGE: usize = 4 << 20;

/// WebSocket settings both ends use: bounded message and frame sizes (memory stays bounded
/// whatever a peer sends).
pub fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .max_message_size(Some(MAX_WS_MESSAGE))
        .max_frame_size(Some(MAX_WS_MESSAGE))
}
