//! An echo target for both paths: every byte read is written back (64 KiB at a time, Nagle off,
//! so neither bulk nor small messages are held back by the target itself). A client's EOF is
//! answered with EOF after the echo.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const BUF: usize = 64 * 1024;
const ACCEPT_BACKOFF: std::time::Duration = std::time::Duration::from_millis(10);

/// Serves `listener` until the task is dropped or aborted, one task per connection. Accept
/// errors (a client that reset before accept, out of file descriptors) are waited out, never
/// fatal.
pub async fn serve(listener: TcpListener) {
    loop {
        match listener.accept().await {
            Ok((socket, _)) => {
                tokio::spawn(echo(socket));
            }
            Err(_) => tokio::time::sleep(ACCEPT_BACKOFF).await,
        }
    }
}

/// Echoes one connection; any error just ends it (the client sees it as a short echo).
async fn echo(mut socket: TcpStream) {
    let _ = socket.set_nodelay(true);
    let mut buf = vec![0u8; BUF];
    loop {
        let n = match socket.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if socket.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
    let _ = socket.shutdown().await;
}
