//! The pure half of `update_group_members`: from the members the directory holds now and the
//! request, what to add and what to delete (SPEC §8).
//!
//! - Values already in the requested state are skipped (counted as `skipped`).
//! - Comparison goes through [`super::dn::normalize`]; a delete uses the directory's spelling.
//! - A group that must keep a member (groupOfNames, groupOfUniqueNames) never goes through
//!   zero members: when the result would be empty, the anchor DN is added (adds run before
//!   deletes) or, without an anchor, the plan is refused. The anchor is a placeholder: a plan
//!   that leaves a real member removes it again.

use std::collections::BTreeMap;

use super::dn::normalize;
use crate::action::MembershipAction;

/// What to send.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub add: Vec<String>,
    pub remove: Vec<String>,
    /// Requested values that were already true.
    pub skipped: usize,
    /// The anchor is added to keep the group non-empty.
    pub anchor_added: bool,
    /// The anchor is removed because a real member remains.
    pub anchor_removed: bool,
    /// A value that stays in the group after the plan (for the assertion control).
    pub kept: Option<String>,
}

/// Normalized values in the group after `p` is applied to `now`.
fn after(now: &BTreeMap<String, &String>, p: &Plan) -> Vec<String> {
    let removed: Vec<String> = p.remove.iter().map(|v| normalize(v)).collect();
    let mut out: Vec<String> = now
        .keys()
        .filter(|k| !removed.contains(k))
        .cloned()
        .collect();
    for a in &p.add {
        let k = normalize(a);
        if !out.contains(&k) {
            out.push(k);
        }
    }
    out
}

/// The plan would leave a group that must keep a member empty, and there is no anchor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WouldEmpty;

/// Plans `action` with `requested` values against `current`.
pub fn plan(
    current: &[String],
    action: MembershipAction,
    requested: &[String],
    must_keep_one: bool,
    anchor: Option<&str>,
) -> Result<Plan, WouldEmpty> {
    let now: BTreeMap<String, &String> = current.iter().map(|v| (normalize(v), v)).collect();
    let mut want: BTreeMap<String, &String> = BTreeMap::new();
    for v in requested {
        want.entry(normalize(v)).or_insert(v);
    }
    let anchor_key = anchor.map(normalize);
    let mut p = Plan::default();
    match action {
        MembershipAction::Add => {
            for (k, v) in &want {
                if now.contains_key(k) {
                    p.skipped += 1;
                } else {
                    p.add.push((*v).clone());
                }
            }
        }
        MembershipAction::Remove => {
            for k in want.keys() {
                match now.get(k) {
                    Some(v) => p.remove.push((*v).clone()),
                    None => p.skipped += 1,
                }
            }
        }
        MembershipAction::Set => {
            for (k, v) in &want {
                if now.contains_key(k) {
                    p.skipped += 1;
                } else {
                    p.add.push((*v).clone());
                }
            }
            for (k, v) in &now {
                if !want.contains_key(k) && Some(k) != anchor_key.as_ref() {
                    p.remove.push((*v).clone());
                }
            }
        }
    }
    // What the group holds afterwards, before the anchor is considered.
    let after = after(&now, &p);
    let real = after.iter().any(|k| Some(k) != anchor_key.as_ref());
    match (anchor_key.as_ref(), anchor) {
        (Some(key), Some(anchor)) if !real && must_keep_one => {
            // Keep (or add) the placeholder; a request to remove it is not honoured here.
            p.remove.retain(|v| &normalize(v) != key);
            if !now.contains_key(key) {
                p.add.push(anchor.to_owned());
                p.anchor_added = true;
            }
        }
        (Some(key), Some(_)) if real && after.contains(key) => {
            let wanted = action != MembershipAction::Remove && want.contains_key(key);
            if let (false, Some(v)) = (wanted, now.get(key)) {
                p.remove.push((*v).clone());
                p.anchor_removed = true;
            }
        }
        (None, _) | (_, None) if !real && must_keep_one && !p.remove.is_empty() => {
            return Err(WouldEmpty);
        }
        _ => {}
    }
    let removed: Vec<String> = p.remove.iter().map(|v| normalize(v)).collect();
    p.kept = now
        .iter()
        .find(|(k, _)| !removed.contains(k))
        .map(|(_, v)| (*v).clone());
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use MembershipAction::{Add, Remove, Set};

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| (*x).to_owned()).collect()
    }

    #[test]
    fn skips_what_is_already_true() {
        let p = plan(
            &s(&["uid=a", "uid=b"]),
            Add,
            &s(&["UID=A", "uid=c", "uid=c"]),
            true,
            None,
        )
        .unwrap_or_default();
        assert_eq!((p.add, p.remove, p.skipped), (s(&["uid=c"]), vec![], 1));
        let p = plan(
            &s(&["uid=a", "uid=b"]),
            Remove,
            &s(&["uid=B", "uid=z"]),
            true,
            None,
        )
        .unwrap_or_default();
        assert_eq!((p.add, p.remove, p.skipped), (vec![], s(&["uid=b"]), 1));
        let p = plan(
            &s(&["uid=a", "uid=b"]),
            Set,
            &s(&["uid=b", "uid=c"]),
            true,
            None,
        )
        .unwrap_or_default();
        assert_eq!(
            (p.add, p.remove, p.skipped),
            (s(&["uid=c"]), s(&["uid=a"]), 1)
        );
    }

    #[test]
    fn a_group_of_names_never_goes_through_zero() {
        assert_eq!(
            plan(&s(&["uid=a"]), Remove, &s(&["uid=a"]), true, None),
            Err(WouldEmpty)
        );
        assert_eq!(plan(&s(&["uid=a"]), Set, &[], true, None), Err(WouldEmpty));
        // A posixGroup may be empty.
        let p = plan(&s(&["a"]), Remove, &s(&["a"]), false, None).unwrap_or_default();
        assert_eq!(p.remove, s(&["a"]));
        // With an anchor: added first (adds run before deletes), the last member removed.
        let p = plan(
            &s(&["uid=a"]),
            Remove,
            &s(&["uid=a"]),
            true,
            Some("cn=anchor"),
        )
        .unwrap_or_default();
        assert_eq!(
            (p.add, p.remove, p.anchor_added),
            (s(&["cn=anchor"]), s(&["uid=a"]), true)
        );
        // Removing the anchor itself when it is the last value keeps it.
        let p = plan(
            &s(&["cn=anchor"]),
            Remove,
            &s(&["cn=anchor"]),
            true,
            Some("cn=anchor"),
        )
        .unwrap_or_default();
        assert_eq!((p.add.len(), p.remove.len()), (0, 0));
        // A real member arriving removes the placeholder.
        let p = plan(
            &s(&["cn=anchor"]),
            Add,
            &s(&["uid=b"]),
            true,
            Some("cn=anchor"),
        )
        .unwrap_or_default();
        assert_eq!(
            (p.add, p.remove, p.anchor_removed),
            (s(&["uid=b"]), s(&["cn=anchor"]), true)
        );
    }

    #[test]
    fn kept_names_a_value_that_stays() {
        let p =
            plan(&s(&["uid=a", "uid=b"]), Remove, &s(&["uid=a"]), true, None).unwrap_or_default();
        assert_eq!(p.kept.as_deref(), Some("uid=b"));
    }
}
