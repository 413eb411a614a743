//! DN comparison: the directory may spell a member DN differently from the request (case,
//! spaces around `=` and `,`), and a membership diff must not mistake that for a change.

/// A comparison key for `dn`: RDNs split on unescaped commas, attribute and value trimmed and
/// lower-cased. Not a full RFC 4514 canonicalisation (no multi-valued RDN reordering, no hex
/// escapes), which covers what directories return for `member` values.
pub fn normalize(dn: &str) -> String {
    split_rdns(dn)
        .iter()
        .map(|rdn| match rdn.split_once('=') {
            Some((attr, value)) => format!(
                "{}={}",
                attr.trim().to_ascii_lowercase(),
                value.trim().to_lowercase()
            ),
            None => rdn.trim().to_lowercase(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// The value of the first RDN (`uid=user01,ou=people,…` → `user01`), for posixGroup members.
pub fn first_rdn_value(dn: &str) -> Option<String> {
    let first = split_rdns(dn).into_iter().next()?;
    let (_, value) = first.split_once('=')?;
    let value = value.trim();
    (!value.is_empty()).then(|| value.to_owned())
}

fn split_rdns(dn: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut escaped = false;
    for c in dn.chars() {
        if escaped {
            current.push(c);
            escaped = false;
        } else if c == '\\' {
            current.push(c);
            escaped = true;
        } else if c == ',' {
            parts.push(std::mem::take(&mut current));
        } else {
            current.push(c);
        }
    }
    parts.push(current);
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_and_spaces_do_not_matter() {
        assert_eq!(
            normalize("UID=User01, ou=People,dc=Example,dc=org"),
            normalize("uid=user01,ou=people,dc=example,dc=org")
        );
        assert_ne!(normalize("uid=a\\,b,dc=x"), normalize("uid=a,b,dc=x"));
        assert_eq!(
            first_rdn_value("uid=user01,ou=people"),
            Some("user01".to_owned())
        );
        assert_eq!(first_rdn_value("user01"), None);
    }
}
