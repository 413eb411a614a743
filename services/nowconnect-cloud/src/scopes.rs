//! `security.require_connector_scopes` (SPEC §4): every connector an agent's HELLO announces
//! must be granted by its token (`connectors` claim or `scp`, already merged into
//! `AgentClaims::scopes` by `nowconnect-auth`). Names compare exactly (case-sensitive).

/// The first announced connector the token does not grant, if any.
pub(crate) fn first_not_granted<'a>(
    announced: &'a [String],
    granted: &[String],
) -> Option<&'a str> {
    announced
        .iter()
        .find(|c| !granted.contains(c))
        .map(String::as_str)
}

/// Largest close-frame reason (RFC 6455: 125-byte payload minus the 2-byte code).
const MAX_REASON: usize = 123;

/// The 1008 close reason naming `connector`, cut to fit a close frame on a char boundary.
pub(crate) fn close_reason(connector: &str) -> String {
    let mut reason = format!("connector {connector:?} not granted by the token");
    if reason.len() > MAX_REASON {
        let mut end = MAX_REASON;
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        reason.truncate(end);
    }
    reason
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn every_announced_connector_must_be_granted() {
        assert_eq!(
            first_not_granted(&v(&["a", "b"]), &v(&["b", "a", "c"])),
            None
        );
        assert_eq!(first_not_granted(&v(&[]), &v(&[])), None);
        assert_eq!(first_not_granted(&v(&["a", "b"]), &v(&["a"])), Some("b"));
        assert_eq!(first_not_granted(&v(&["a"]), &v(&[])), Some("a"));
        assert_eq!(first_not_granted(&v(&["A"]), &v(&["a"])), Some("A"));
    }

    #[test]
    fn the_reason_fits_a_close_frame() {
        assert_eq!(
            close_reason("ldap"),
            "connector \"ldap\" not granted by the token"
        );
        let long = "é".repeat(200);
        let reason = close_reason(&long);
        assert!(reason.len() <= MAX_REASON && reason.starts_with("connector \""));
    }
}
