//! Real credentials for tests: a freshly generated signing key, its JWKS file, signed tokens.

use nowconnect_auth::keys::{self, KeyAlg, SigningKey, TokenRequest};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A key directory (`signing-key.pem`, `jwks.json`) in a temp dir that lives as long as this.
#[derive(Debug)]
pub struct Creds {
    dir: tempfile::TempDir,
    pub key: SigningKey,
}

impl Creds {
    /// ES256 by default: key generation is instant.
    pub fn new() -> Creds {
        Self::with_alg(KeyAlg::Es256)
    }

    pub fn with_alg(alg: KeyAlg) -> Creds {
        let dir = tempfile::tempdir().expect("temp dir");
        keys::init_dir(dir.path(), alg, "test-kid-1", false).expect("init keys");
        let key = keys::load_dir(dir.path()).expect("load key");
        Creds { dir, key }
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn jwks_path(&self) -> PathBuf {
        self.dir.path().join("jwks.json")
    }

    /// A valid agent token for `agent_id` (audience `nowconnect`, one hour).
    pub fn token(&self, agent_id: &str) -> String {
        let req = TokenRequest {
            agent_id: agent_id.to_owned(),
            audience: "nowconnect".into(),
            issuer: None,
            ttl: Duration::from_secs(3600),
            connectors: None,
        };
        self.key.issue_agent_token(&req).expect("sign token")
    }

    /// Writes `token` to a fresh file in the key dir and returns its path.
    pub fn token_file(&self, name: &str, token: &str) -> PathBuf {
        let path = self.dir.path().join(format!("{name}.jwt"));
        std::fs::write(&path, token).expect("write token");
        path
    }
}

impl Default for Creds {
    fn default() -> Self {
        Self::new()
    }
}
