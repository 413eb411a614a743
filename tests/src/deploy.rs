//! Reading the deployment files (`compose/`, `deploy/k8s/`) for the deployment tests: YAML as
//! `serde_json::Value`, the compose services' environment (`env_file:` plus `environment:`) and
//! mounts, and the container layout a service sees, rebuilt on disk from its bind mounts so that
//! tools like promtool resolve paths exactly as inside the container.
//!
//! Not here: the checks themselves (`tests/tests/deployment*.rs`).

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .expect("repository root")
}

/// `compose/` in the repository: the compose project directory.
pub fn compose_dir() -> PathBuf {
    repo().join("compose")
}

/// Reads a repository file (path relative to the root).
pub fn read(relative: impl AsRef<Path>) -> String {
    let path = repo().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Parses one YAML document.
pub fn yaml(text: &str, what: &str) -> Value {
    serde_saphyr::from_str(text).unwrap_or_else(|e| panic!("{what}: not valid YAML: {e}"))
}

/// Parses a file of one or more YAML documents (`---`), skipping empty ones.
pub fn yaml_docs(text: &str, what: &str) -> Vec<Value> {
    let docs: Vec<Value> =
        serde_saphyr::from_multiple(text).unwrap_or_else(|e| panic!("{what}: not valid YAML: {e}"));
    docs.into_iter().filter(|d| !d.is_null()).collect()
}

/// A scalar as text (`389` and `"389"` alike); panics on mappings and lists.
pub fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => panic!("expected a scalar, got {other}"),
    }
}

/// `KEY=value` lines of an env file; `#` comments and blank lines skipped.
pub fn parse_env_file(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (k, v) = l
                .split_once('=')
                .unwrap_or_else(|| panic!("env file line without `=`: {l}"));
            (k.trim().to_owned(), v.trim().to_owned())
        })
        .collect()
}

/// One entry of a service's `volumes:` (short syntax `source:target[:mode]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// A named volume's name, or a bind mount's source as written (relative to `compose/`).
    pub source: String,
    pub target: String,
    pub read_only: bool,
}

impl Mount {
    /// A bind mount (source is a path) rather than a named volume.
    pub fn is_bind(&self) -> bool {
        self.source.starts_with('.') || self.source.starts_with('/')
    }

    /// The bind mount's source on disk (relative sources resolve against `compose/`).
    pub fn host_path(&self) -> PathBuf {
        compose_dir().join(&self.source)
    }
}

/// `compose/docker-compose.yml`, parsed.
#[derive(Debug)]
pub struct Compose {
    pub doc: Value,
}

impl Compose {
    pub fn load() -> Compose {
        Compose {
            doc: yaml(
                &read("compose/docker-compose.yml"),
                "compose/docker-compose.yml",
            ),
        }
    }

    pub fn service_names(&self) -> Vec<String> {
        self.doc["services"]
            .as_object()
            .expect("services")
            .keys()
            .cloned()
            .collect()
    }

    pub fn service(&self, name: &str) -> &Value {
        let s = &self.doc["services"][name];
        assert!(s.is_object(), "compose has no service {name}");
        s
    }

    /// The service's environment as the container sees it: `env_file:` files, then
    /// `environment:` (which wins), with `${VAR:-default}` replaced by its default.
    pub fn env(&self, name: &str) -> BTreeMap<String, String> {
        let svc = self.service(name);
        let mut env = BTreeMap::new();
        for file in list(&svc["env_file"]) {
            env.extend(parse_env_file(&read(Path::new("compose").join(file))));
        }
        match &svc["environment"] {
            Value::Object(map) => {
                for (k, v) in map {
                    env.insert(k.clone(), scalar(v));
                }
            }
            Value::Array(items) => {
                for item in items {
                    let item = scalar(item);
                    let (k, v) = item.split_once('=').unwrap_or((&item, ""));
                    env.insert(k.to_owned(), v.to_owned());
                }
            }
            _ => {}
        }
        env.into_iter()
            .map(|(k, v)| (k, interpolate_defaults(&v)))
            .collect()
    }

    pub fn mounts(&self, name: &str) -> Vec<Mount> {
        list(&self.service(name)["volumes"])
            .into_iter()
            .map(|entry| {
                let parts: Vec<&str> = entry.split(':').collect();
                assert!(
                    parts.len() == 2 || parts.len() == 3,
                    "{name}: volume entry {entry} is not source:target[:mode]"
                );
                Mount {
                    source: parts[0].to_owned(),
                    target: parts[1].to_owned(),
                    read_only: parts.get(2) == Some(&"ro"),
                }
            })
            .collect()
    }

    /// The mount of `name` whose target is `target` or a parent of it.
    pub fn mount_covering(&self, name: &str, target: &str) -> Mount {
        self.mounts(name)
            .into_iter()
            .filter(|m| target == m.target || target.starts_with(&format!("{}/", m.target)))
            .max_by_key(|m| m.target.len())
            .unwrap_or_else(|| panic!("{name}: nothing is mounted at {target}"))
    }

    /// Where the file or directory the service sees at `target` comes from, on disk (a bind
    /// mount's source, or a path inside it).
    pub fn host_path_of(&self, name: &str, target: &str) -> PathBuf {
        let m = self.mount_covering(name, target);
        assert!(m.is_bind(), "{name}: {target} is in volume {}", m.source);
        let rest = target[m.target.len()..].trim_start_matches('/');
        if rest.is_empty() {
            m.host_path()
        } else {
            m.host_path().join(rest)
        }
    }

    /// Container ports the service publishes (`"host:container"`).
    pub fn published(&self, name: &str) -> Vec<u16> {
        list(&self.service(name)["ports"])
            .iter()
            .map(|p| {
                let container = p.rsplit(':').next().unwrap_or(p);
                container
                    .parse()
                    .unwrap_or_else(|_| panic!("{name}: port {p}"))
            })
            .collect()
    }

    /// Rebuilds the container's view of the service's bind mounts under a temp dir (symlinks
    /// to the repository files), so relative paths inside the mounted configs resolve as in
    /// the container. Returns the temp dir, the container's `/`.
    pub fn container_root(&self, name: &str) -> tempfile::TempDir {
        let root = tempfile::tempdir().expect("temp dir");
        for m in self.mounts(name).into_iter().filter(Mount::is_bind) {
            let at = root.path().join(m.target.trim_start_matches('/'));
            std::fs::create_dir_all(at.parent().expect("mount parent")).expect("mkdir");
            let source = m.host_path().canonicalize().unwrap_or_else(|e| {
                panic!(
                    "{name}: mount source {} missing: {e}",
                    m.host_path().display()
                )
            });
            std::os::unix::fs::symlink(&source, &at).expect("symlink mount");
        }
        root
    }
}

/// A scalar or a list of scalars as a list of strings; null is empty.
pub fn list(v: &Value) -> Vec<String> {
    match v {
        Value::Null => Vec::new(),
        Value::Array(items) => items.iter().map(scalar).collect(),
        other => vec![scalar(other)],
    }
}

/// `${NAME:-default}` → `default` (what compose substitutes when NAME is unset).
pub fn interpolate_defaults(value: &str) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let end = rest[start..]
            .find('}')
            .unwrap_or_else(|| panic!("unclosed ${{ in {value}"));
        let inner = &rest[start + 2..start + end];
        let (_, default) = inner
            .split_once(":-")
            .unwrap_or_else(|| panic!("{value}: ${{{inner}}} has no default"));
        out.push_str(default);
        rest = &rest[start + end + 1..];
    }
    out.push_str(rest);
    out
}

/// `scheme://host:port/path` → (scheme, host, port, path).
pub fn split_url(url: &str) -> (String, String, u16, String) {
    let (scheme, rest) = url
        .split_once("://")
        .unwrap_or_else(|| panic!("{url}: no scheme"));
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let (host, port) = authority
        .rsplit_once(':')
        .unwrap_or_else(|| panic!("{url}: no port"));
    let port = port.parse().unwrap_or_else(|_| panic!("{url}: bad port"));
    (scheme.to_owned(), host.to_owned(), port, path.to_owned())
}

/// `host:port` → (host, port).
pub fn split_host_port(addr: &str) -> (String, u16) {
    let (host, port) = addr
        .rsplit_once(':')
        .unwrap_or_else(|| panic!("{addr}: not host:port"));
    (
        host.to_owned(),
        port.parse().unwrap_or_else(|_| panic!("{addr}: bad port")),
    )
}
