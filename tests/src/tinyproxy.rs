//! A real HTTP CONNECT proxy: Debian's `tinyproxy`, started in the foreground on a free
//! loopback port with a generated config (Basic auth required) and its own log file.
//! Installed by `scripts/install-deps.sh`; a missing binary is a failure, never a skip.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Proxy credentials the generated config requires.
pub const USER: &str = "agent";
pub const PASSWORD: &str = "pr0xy-s3cret";

/// A running tinyproxy; killed on drop.
#[derive(Debug)]
pub struct Tinyproxy {
    pub addr: SocketAddr,
    log: PathBuf,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Tinyproxy {
    pub async fn start() -> Tinyproxy {
        let program = [
            "/usr/bin/tinyproxy",
            "/usr/sbin/tinyproxy",
            "/usr/local/bin/tinyproxy",
        ]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .expect("tinyproxy not found: run scripts/install-deps.sh");
        let dir = tempfile::tempdir().expect("tempdir");
        let addr = crate::targets::closed_port().await;
        let log = dir.path().join("tinyproxy.log");
        let conf = dir.path().join("tinyproxy.conf");
        std::fs::write(
            &conf,
            format!(
                "Port {}\nListen 127.0.0.1\nTimeout 30\nMaxClients 50\nLogLevel Info\n\
                 LogFile \"{}\"\nBasicAuth {USER} {PASSWORD}\nAllow 127.0.0.1\n",
                addr.port(),
                log.display()
            ),
        )
        .expect("write tinyproxy.conf");
        let child = Command::new(program)
            .arg("-d")
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn tinyproxy");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while tokio::net::TcpStream::connect(addr).await.is_err() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "tinyproxy never listened on {addr}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Tinyproxy {
            addr,
            log,
            child,
            _dir: dir,
        }
    }

    /// `http://agent:…@127.0.0.1:<port>`.
    pub fn url_with_auth(&self) -> String {
        format!("http://{USER}:{PASSWORD}@{}", self.addr)
    }

    /// The proxy's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Tinyproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
