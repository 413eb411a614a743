//! DN comparison: the directory may spell a member DN differently from the request (case,
//! spaces around `=` and `,`), and a membership diff must not mistake that for a change.

/// A comparison key for `dn`: RDNs split on unescaped commas, attribute and value trimmed and
/// lower-cased, escapes (`\,`, `\30`) decoded. Not a full RFC 4514 canonicalisation (no
/// multi-valued RDN reordering), which covers what directories return for `member` values.
pub fn normalize(dn: &str) -> String {
    split_rdns(dn)
        .iter()
        .map(|rdn| match rdn.split_once('=') {
            Some((attr, value)) => format!(
                "{}={}",
                attr.trim().to_ascii_lowercase(),
                unescape(value.trim()).to_lowercase()
            ),
            None => unescape(rdn.trim()).to_lowercase(),
        })
        .collect::<Vec<_>>()
        // A separator no decoded value can be confused with.
        .join("\u{1f}")
}

/// Decodes `\XX` hex pairs and `\c` escapes.
fn unescape(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 1 < bytes.len() {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            match hex {
                Some(b) => {
                    out.push(b);
                    i += 3;
                }
                None => {
                    out.push(bytes[i + 1]);
                    i += 2;
                }
            }
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
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
            normalize("uid=user\\30\\31,dc=x"),
            normalize("uid=user01,dc=x")
        );
        assert_eq!(normalize("cn=a\\2Cb,dc=x"), normalize("cn=a\\,b,dc=x"));
        assert_eq!(
            first_rdn_value("uid=user01,ou=people"),
            Some("user01".to_owned())
        );
        assert_eq!(first_rdn_value("user01"), None);
    }
}
