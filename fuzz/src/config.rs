//! The properties the config fuzz target checks, shared with the corpus-replay and property
//! tests in `tests/` (included there with `#[path]`).
//!
//! Input format: YAML text, optionally followed by a NUL byte and `KEY=VALUE` lines (the
//! environment). Both loaders get every input: the hub's (`cloud.yaml` + `NOWCONNECT_*`) and
//! the agent's (`premise.yaml` + `NC_*`). Neither may panic; a refusal is one non-empty line
//! (what `main` prints before exiting 64), and an accepted config loads again identically.

use std::collections::HashMap;

/// Splits an input into YAML text and its environment; None when either part is not UTF-8.
pub fn split(data: &[u8]) -> Option<(&str, HashMap<String, String>)> {
    let (yaml, env) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let yaml = std::str::from_utf8(yaml).ok()?;
    let env = std::str::from_utf8(env).ok()?;
    let vars = env
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    Some((yaml, vars))
}

/// Which loaders accepted the input: (hub, agent).
pub fn config(data: &[u8]) -> (bool, bool) {
    let Some((yaml, vars)) = split(data) else {
        return (false, false);
    };
    let env = |k: &str| vars.get(k).cloned();
    let hub = match nowconnect_cloud::config::from_yaml_str(yaml, &env) {
        Ok(cfg) => {
            let again = nowconnect_cloud::config::from_yaml_str(yaml, &env);
            assert_eq!(
                again.map(|c| format!("{c:?}")).ok(),
                Some(format!("{cfg:?}"))
            );
            true
        }
        Err(e) => {
            one_line(&e.to_string());
            false
        }
    };
    let agent = match nowconnect_premise::config::from_yaml_str(yaml, &env) {
        Ok(cfg) => {
            let again = nowconnect_premise::config::from_yaml_str(yaml, &env);
            assert_eq!(
                again.map(|c| format!("{c:?}")).ok(),
                Some(format!("{cfg:?}"))
            );
            true
        }
        Err(e) => {
            one_line(&e.to_string());
            false
        }
    };
    (hub, agent)
}

fn one_line(shown: &str) {
    assert!(!shown.trim().is_empty(), "empty config error");
    assert!(
        !shown.contains('\n') && !shown.contains('\r'),
        "multi-line config error: {shown:?}"
    );
}
