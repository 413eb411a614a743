//! A key directory: `signing-key.pem` (0600), `signing-key.json` (`{"kid","alg"}`) and the
//! matching `jwks.json` for the hub.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::{KeyAlg, KeyError, SigningKey, jwks};

/// Private key, PKCS#8 PEM, mode 0600.
pub const KEY_FILE: &str = "signing-key.pem";
/// Key metadata: `{"kid": "...", "alg": "ES256"}`.
pub const META_FILE: &str = "signing-key.json";
/// Public JWKS to point the hub's `security.jwks_url` at.
pub const JWKS_FILE: &str = "jwks.json";

/// What [`init_dir`] wrote.
#[derive(Debug)]
pub struct InitOutcome {
    pub key_path: PathBuf,
    pub jwks_path: PathBuf,
    pub kid: String,
    pub alg: KeyAlg,
}

/// Generates a key and writes `<dir>/signing-key.pem` (mode 0600), `<dir>/jwks.json` and
/// `<dir>/signing-key.json`, creating `dir` if needed. Refuses to replace an existing
/// `signing-key.pem` unless `force`. Each file is written to a temporary name and renamed, so
/// a reader never sees half a file.
pub fn init_dir(dir: &Path, alg: KeyAlg, kid: &str, force: bool) -> Result<InitOutcome, KeyError> {
    let key_path = dir.join(KEY_FILE);
    if !force && key_path.exists() {
        return Err(KeyError::AlreadyExists { path: key_path });
    }
    let key = SigningKey::generate(alg, kid)?;
    fs::create_dir_all(dir).map_err(|e| io_error(dir, &e))?;
    let jwks_path = dir.join(JWKS_FILE);
    write_file(&jwks_path, &pretty(&jwks(&[&key])), 0o644)?;
    write_file(
        &dir.join(META_FILE),
        &pretty(&json!({"kid": kid, "alg": alg.as_str()})),
        0o644,
    )?;
    // The key goes last: a directory with a key always has its metadata and JWKS.
    write_file(&key_path, &key.to_pem(), 0o600)?;
    Ok(InitOutcome {
        key_path,
        jwks_path,
        kid: kid.to_owned(),
        alg,
    })
}

/// Reads the key written by [`init_dir`] (`signing-key.pem` + `signing-key.json`).
pub fn load_dir(dir: &Path) -> Result<SigningKey, KeyError> {
    let meta_path = dir.join(META_FILE);
    let meta = fs::read_to_string(&meta_path).map_err(|e| io_error(&meta_path, &e))?;
    let invalid_meta = |reason: String| KeyError::InvalidFile {
        path: meta_path.clone(),
        reason,
    };
    let meta: Value =
        serde_json::from_str(&meta).map_err(|e| invalid_meta(format!("not JSON: {e}")))?;
    let kid = meta
        .get("kid")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid_meta("missing \"kid\"".into()))?;
    let alg: KeyAlg = meta
        .get("alg")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid_meta("missing \"alg\"".into()))?
        .parse()
        .map_err(|e: KeyError| invalid_meta(e.to_string()))?;
    let key_path = dir.join(KEY_FILE);
    let pem = fs::read_to_string(&key_path).map_err(|e| io_error(&key_path, &e))?;
    SigningKey::from_pem(&pem, alg, kid).map_err(|e| KeyError::InvalidFile {
        path: key_path,
        reason: e.to_string(),
    })
}

fn pretty(v: &Value) -> String {
    let mut s = serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string());
    s.push('\n');
    s
}

fn io_error(path: &Path, e: &std::io::Error) -> KeyError {
    KeyError::Io {
        path: path.to_owned(),
        reason: e.to_string(),
    }
}

/// Writes `contents` to `<path>.tmp` created fresh with `mode` (unix), then renames it over `path`.
fn write_file(path: &Path, contents: &str, mode: u32) -> Result<(), KeyError> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    match fs::remove_file(&tmp) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io_error(&tmp, &e)),
        _ => {}
    }
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options.open(&tmp).map_err(|e| io_error(&tmp, &e))?;
    file.write_all(contents.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| io_error(&tmp, &e))?;
    drop(file);
    fs::rename(&tmp, path).map_err(|e| io_error(path, &e))
}
