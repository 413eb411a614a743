#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Config loading: every example parses, every refusal is one line naming the file and key,
//! the password never shows.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crud_service::config::{self, ConfigError, system_from_yaml_str};

const MINIMAL: &str = "connection:\n  server:\n    base_url: ldap.corp\n  credentials:\n    username: cn=admin,dc=x\n    password: ${{ENV:PW}}\nbase_dn: dc=x\n";

fn env(name: &str) -> Option<String> {
    (name == "PW" || name == "LDAP_BIND_PASSWORD").then(|| "s3cret-pw".to_owned())
}

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples")
}

fn error(yaml: &str) -> String {
    let e = system_from_yaml_str("corp.yaml", "corp", yaml, &env).expect_err("refused");
    let line = e.to_string();
    assert!(!line.contains('\n'), "one line: {line}");
    assert!(!line.contains("s3cret-pw"), "password in error: {line}");
    line
}

#[test]
fn every_example_loads_through_the_directory_loader() {
    let vars: HashMap<&str, String> = HashMap::from([
        ("SERVICE_CONFIG_DIR", examples().display().to_string()),
        ("LDAP_BIND_PASSWORD", "s3cret-pw".to_owned()),
    ]);
    let cfg = config::load(&|n| vars.get(n).cloned()).unwrap();
    assert_eq!(
        cfg.systems.keys().collect::<Vec<_>>(),
        ["corp-direct", "corp-tunnel"]
    );
    let tunnel = &cfg.systems["corp-tunnel"];
    assert_eq!(
        (tunnel.host.as_str(), tunnel.port),
        ("nowconnect-cloud", 389)
    );
    assert_eq!(tunnel.url(), "ldap://nowconnect-cloud:389");
    assert_eq!(tunnel.bind_password.expose(), "s3cret-pw");
    assert_eq!(
        tunnel.membership.anchor_dn.as_deref(),
        Some("cn=nobody,dc=example,dc=org")
    );
    assert!(tunnel.membership.assertion_control);
    let direct = &cfg.systems["corp-direct"];
    assert_eq!(
        (direct.host.as_str(), direct.base_dn.as_str()),
        ("openldap", "dc=example,dc=org")
    );
    assert_eq!(direct.groups_dn, "ou=groups,dc=example,dc=org");
    assert_eq!(direct.pool_size, 2);
    assert_eq!(direct.membership.batch_size, 500);
    assert_eq!(direct.membership.max_concurrency, 4);
    assert_eq!(direct.operation_timeout, Duration::from_secs(10));
    assert_eq!(cfg.listen.to_string(), config::defaults::LISTEN);
    assert!(
        !format!("{cfg:?}").contains("s3cret-pw"),
        "Debug shows the password"
    );
}

#[test]
fn defaults_apply() {
    let s = system_from_yaml_str("corp.yaml", "corp", MINIMAL, &env).unwrap();
    assert_eq!(s.port, 389);
    assert_eq!(s.users_dn, "ou=people,dc=x");
    assert_eq!(s.page_size, 500);
    assert_eq!(s.pool_size, 4);
    assert!(!s.membership.permissive_modify && !s.membership.verify_member_dns);
}

#[test]
fn refusals_name_file_key_and_reason() {
    let unknown = error(&format!("{MINIMAL}bogus: 1\n"));
    assert!(
        unknown.starts_with("corp.yaml: unknown key \"bogus\""),
        "{unknown}"
    );
    let missing_pw = error(&MINIMAL.replace("${{ENV:PW}}", "${{ENV:NOPE}}"));
    assert_eq!(
        missing_pw,
        "corp.yaml: connection.credentials.password: missing: environment variable NOPE \
         (referenced as ${{ENV:NOPE}}) is not set"
    );
    let pool = error(&format!("{MINIMAL}pool_size: 0\n"));
    assert_eq!(pool, "corp.yaml: pool_size: 0: must be between 1 and 256");
    let batch = error(&format!("{MINIMAL}membership_batch_size: abc\n"));
    assert!(batch.contains("membership_batch_size"), "{batch}");
    let ssl_conflict = error(&MINIMAL.replace(
        "base_url: ldap.corp",
        "base_url: ldap://ldap.corp\n    use_ssl: true",
    ));
    assert!(
        ssl_conflict
            .starts_with("corp.yaml: connection.server.use_ssl: true: base_url says ldap://"),
        "{ssl_conflict}"
    );
    let ca_without_ssl = error(&MINIMAL.replace(
        "base_url: ldap.corp",
        "base_url: ldap.corp\n    ca_file: /etc/ca.pem",
    ));
    assert_eq!(
        ca_without_ssl,
        "corp.yaml: connection.server.ca_file: \"/etc/ca.pem\": only used with use_ssl: true (LDAPS)"
    );
    let missing_ca = error(&MINIMAL.replace(
        "base_url: ldap.corp",
        "base_url: ldaps://ldap.corp\n    ca_file: /nonexistent/ca.pem",
    ));
    assert!(
        missing_ca.starts_with(
            "corp.yaml: connection.server.ca_file: \"/nonexistent/ca.pem\": unreadable CA bundle"
        ),
        "{missing_ca}"
    );
    let no_base = error(&MINIMAL.replace("base_dn: dc=x\n", ""));
    assert!(
        no_base.starts_with("corp.yaml: base_dn: missing"),
        "{no_base}"
    );
    let both = error(&MINIMAL.replace("  credentials:", "  base_dn: dc=y\n  credentials:"));
    assert!(both.contains("not both"), "{both}");
    let bad_dn = error(&format!("{MINIMAL}membership_anchor_dn: nobody\n"));
    assert_eq!(
        bad_dn,
        "corp.yaml: membership_anchor_dn: \"nobody\": not a DN (attr=value,...)"
    );
    let port_in_url = error(&MINIMAL.replace("ldap.corp", "ldap.corp:389"));
    assert!(
        port_in_url.contains("connection.server.port"),
        "{port_in_url}"
    );
    let no_host = error(&MINIMAL.replace("base_url: ldap.corp", "port: 389"));
    assert!(
        no_host.starts_with("corp.yaml: connection.server.base_url: missing"),
        "{no_host}"
    );
}

#[test]
fn the_directory_and_environment_are_checked() {
    let none = config::load(&|_| None).unwrap_err();
    assert!(matches!(none, ConfigError::Missing { .. }));
    assert!(none.to_string().starts_with("SERVICE_CONFIG_DIR: missing"));
    let empty = tempfile::tempdir().unwrap();
    let dir = empty.path().display().to_string();
    let e = config::load(&|n| (n == "SERVICE_CONFIG_DIR").then(|| dir.clone())).unwrap_err();
    assert!(e.to_string().contains("no system files"), "{e}");
    let vars: HashMap<&str, String> = HashMap::from([
        ("SERVICE_CONFIG_DIR", examples().display().to_string()),
        ("LDAP_BIND_PASSWORD", "x".to_owned()),
        ("CRUD_LISTEN", "nowhere".to_owned()),
    ]);
    let e = config::load(&|n| vars.get(n).cloned()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "CRUD_LISTEN=\"nowhere\": not host:port (e.g. 0.0.0.0:8000)"
    );
}
