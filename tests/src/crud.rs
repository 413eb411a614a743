//! The crud-service in-process on loopback port 0, configured through its real loader (system
//! YAML files in a temp `SERVICE_CONFIG_DIR`), and a small real-HTTP client for `/execute`.

use crate::slapd::Slapd;
use crud_service::CrudService;
use nowconnect_telemetry::Telemetry;
use serde_json::Value;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The bind password variable the generated system files reference.
pub const PASSWORD_VAR: &str = "TEST_LDAP_BIND_PASSWORD";

/// One system file: its name, the LDAP address it points at, and extra YAML lines.
#[derive(Debug, Clone)]
pub struct System {
    pub name: String,
    pub addr: SocketAddr,
    pub extra: String,
    /// `connection.timeout_ms` (default 5000).
    pub timeout_ms: u64,
    /// Extra lines under `connection:` (two-space indented keys).
    pub connection: String,
    /// Extra lines under `connection.server:` (four-space indented keys); with `use_ssl`.
    pub server: String,
    pub use_ssl: bool,
}

impl System {
    pub fn new(name: &str, addr: SocketAddr) -> System {
        System {
            name: name.to_owned(),
            addr,
            extra: String::new(),
            timeout_ms: 5000,
            connection: String::new(),
            server: String::new(),
            use_ssl: false,
        }
    }

    /// LDAPS to `addr`, trusting `ca_file`; `server_name` is the name the certificate must
    /// carry when it is not the address dialled (through the tunnel).
    pub fn ldaps(mut self, ca_file: &std::path::Path, server_name: Option<&str>) -> System {
        self.use_ssl = true;
        self.server
            .push_str(&format!("    ca_file: {}\n", ca_file.display()));
        if let Some(name) = server_name {
            self.server
                .push_str(&format!("    tls_server_name: {name}\n"));
        }
        self
    }

    /// Adds a key under `connection:` (`idle_check_ms: 0`).
    pub fn connection(mut self, line: &str) -> System {
        self.connection.push_str(&format!("  {line}\n"));
        self
    }

    /// Sets `connection.timeout_ms`, the bound of every LDAP operation.
    pub fn timeout_ms(mut self, ms: u64) -> System {
        self.timeout_ms = ms;
        self
    }

    /// Adds top-level YAML lines (`membership_anchor_dn: ...`).
    pub fn with(mut self, yaml: &str) -> System {
        self.extra.push_str(yaml);
        if !yaml.ends_with('\n') {
            self.extra.push('\n');
        }
        self
    }

    /// The YAML of the seeded slapd behind `addr` (the directory or a tunnel listener).
    pub fn yaml(&self) -> String {
        format!(
            "connection:\n  server:\n    base_url: {}\n    port: {}\n    use_ssl: {}\n{}  \
             credentials:\n    username: {}\n    password: ${{{{ENV:{PASSWORD_VAR}}}}}\n  \
             connect_timeout_ms: 3000\n  timeout_ms: {}\n{}base_dn: {}\n{}",
            self.addr.ip(),
            self.addr.port(),
            self.use_ssl,
            self.server,
            Slapd::ADMIN_DN,
            self.timeout_ms,
            self.connection,
            Slapd::BASE_DN,
            self.extra
        )
    }
}

/// A running in-process crud-service.
#[derive(Debug)]
pub struct TestCrud {
    pub addr: SocketAddr,
    pub telemetry: Telemetry,
    http: reqwest::Client,
    shutdown: CancellationToken,
    task: Option<JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl TestCrud {
    pub async fn start(systems: &[System]) -> TestCrud {
        Self::start_with(systems, &[]).await
    }

    /// With extra environment (`CRUD_MAX_BODY_BYTES`, ...).
    pub async fn start_with(systems: &[System], env: &[(&str, &str)]) -> TestCrud {
        let dir = tempfile::tempdir().expect("config dir");
        std::fs::create_dir(dir.path().join("systems")).expect("systems dir");
        for s in systems {
            let path = dir.path().join("systems").join(format!("{}.yaml", s.name));
            std::fs::write(path, s.yaml()).expect("write system");
        }
        let mut vars: HashMap<String, String> = HashMap::from([
            (
                "SERVICE_CONFIG_DIR".to_owned(),
                dir.path().display().to_string(),
            ),
            ("CRUD_LISTEN".to_owned(), "127.0.0.1:0".to_owned()),
            (PASSWORD_VAR.to_owned(), Slapd::ADMIN_PASSWORD.to_owned()),
        ]);
        for (k, v) in env {
            vars.insert((*k).to_owned(), (*v).to_owned());
        }
        let cfg = crud_service::config::load(&|n| vars.get(n).cloned()).expect("crud config");
        let telemetry = Telemetry::for_tests();
        let service = CrudService::bind(cfg, telemetry.clone())
            .await
            .expect("bind crud");
        let addr = service.local_addr().expect("addr");
        let shutdown = CancellationToken::new();
        let token = shutdown.clone();
        let task = tokio::spawn(async move {
            service.run(token).await.expect("crud run");
        });
        TestCrud {
            addr,
            telemetry,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .expect("http client"),
            shutdown,
            task: Some(task),
            _dir: dir,
        }
    }

    /// `POST /execute` with `body` as JSON: (status, JSON answer).
    pub async fn execute(&self, body: &Value) -> (u16, Value) {
        self.post(serde_json::to_vec(body).expect("json")).await
    }

    /// `POST /execute` with raw bytes.
    pub async fn post(&self, body: Vec<u8>) -> (u16, Value) {
        let res = self
            .http
            .post(format!("http://{}/execute", self.addr))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("POST /execute");
        let status = res.status().as_u16();
        let text = res.text().await.expect("body");
        let json = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("answer is not JSON ({e}): {status} {text}"));
        (status, json)
    }

    /// `GET path`: (status, body text).
    pub async fn get(&self, path: &str) -> (u16, String) {
        let res = self
            .http
            .get(format!("http://{}{path}", self.addr))
            .send()
            .await
            .expect("GET");
        (res.status().as_u16(), res.text().await.expect("body"))
    }

    /// Graceful stop.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for TestCrud {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// `{system, object_type, action, params}`.
pub fn request(system: &str, object_type: &str, action: &str, params: Value) -> Value {
    serde_json::json!({"system": system, "object_type": object_type, "action": action, "params": params})
}
