//! The TCP health port: answers `OK` before the first HELLO_ACK of the current tunnel and
//! `READY` while an acknowledged tunnel is up, then closes the connection.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Serves until `stop` fires.
pub(crate) async fn serve(listener: TcpListener, ready: Arc<AtomicBool>, stop: CancellationToken) {
    loop {
        let accepted = tokio::select! {
            _ = stop.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let Ok((mut socket, _)) = accepted else {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            continue;
        };
        let answer: &[u8] = if ready.load(Ordering::SeqCst) {
            b"READY\n"
        } else {
            b"OK\n"
        };
        tokio::spawn(async move {
            let _ = socket.write_all(answer).await;
            let _ = socket.shutdown().await;
        });
    }
}
