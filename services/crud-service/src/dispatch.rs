//! A validated [`Action`] → calls on its system's [`Directory`] → the JSON `result`.

use serde_json::{Value, json};

use crate::action::{Action, MembershipAction};
use crate::ldap::{Directory, LdapOpError};

/// Runs `action` against `dir`.
pub(crate) async fn run(dir: &Directory, action: Action) -> Result<Value, LdapOpError> {
    Ok(match action {
        Action::UserGet(r) => json!(dir.read("user.get", &dir.user_dn(&r), &[]).await?),
        Action::GroupGet(r) => json!(dir.read("group.get", &dir.group_dn(&r), &[]).await?),
        Action::UserSearch { filter, attributes } => {
            let entries = dir.search(&filter, &attributes).await?;
            json!({"count": entries.len(), "entries": entries})
        }
        Action::UserCreate {
            uid,
            attributes,
            password,
        } => {
            let dn = dir
                .create_user(&uid, attributes, password.as_ref().map(|p| p.expose()))
                .await?;
            json!({"dn": dn, "created": true})
        }
        Action::UserDelete(r) => {
            let dn = dir.user_dn(&r);
            dir.delete("user.delete", &dn).await?;
            json!({"dn": dn, "deleted": true})
        }
        Action::GroupCreate {
            cn,
            class,
            members,
            gid_number,
        } => {
            let dn = dir.create_group(&cn, class, &members, gid_number).await?;
            json!({"dn": dn, "created": true})
        }
        Action::GroupDelete(r) => {
            let dn = dir.group_dn(&r);
            dir.delete("group.delete", &dn).await?;
            json!({"dn": dn, "deleted": true})
        }
        Action::Members {
            group,
            action,
            members,
        } => {
            let dn = dir.group_dn(&group);
            let report = dir.update_group_members(&dn, action, &members).await?;
            let mut v = json!(report);
            v["action"] = json!(match action {
                MembershipAction::Add => "add",
                MembershipAction::Remove => "remove",
                MembershipAction::Set => "set",
            });
            v
        }
    })
}
