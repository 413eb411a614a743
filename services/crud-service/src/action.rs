//! A validated request: `{system, object_type, action, params}` → [`Request`] with a typed
//! [`Action`]. Everything here is pure: a request that fails here never reaches the directory.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::config::Secret;

/// Why a request was refused before any LDAP call; each maps to a stable code and a 4xx.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("request body is not valid JSON: {0}")]
    MalformedJson(String),
    #[error("request body must be a JSON object with system, object_type, action and params")]
    NotAnObject,
    #[error("missing field {0:?}")]
    MissingField(&'static str),
    #[error("field {field:?} must be {expected}")]
    WrongType {
        field: String,
        expected: &'static str,
    },
    #[error("unknown system {0:?}")]
    UnknownSystem(String),
    #[error("unknown object_type {0:?} (user or group)")]
    UnknownObjectType(String),
    #[error("unknown action {action:?} for object_type {object_type:?} (one of: {allowed})")]
    UnknownAction {
        object_type: &'static str,
        action: String,
        allowed: &'static str,
    },
    #[error("missing parameter params.{0}")]
    MissingParam(&'static str),
    #[error("invalid parameter params.{param}: {reason}")]
    InvalidParam { param: String, reason: String },
}

/// A DN given directly, or a name resolved under the configured container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryRef {
    Dn(String),
    /// `uid` of a user or `cn` of a group.
    Name(String),
}

/// Structural object class of a group to create.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupClass {
    GroupOfNames,
    GroupOfUniqueNames,
    PosixGroup,
}

impl GroupClass {
    pub fn as_str(self) -> &'static str {
        match self {
            GroupClass::GroupOfNames => "groupOfNames",
            GroupClass::GroupOfUniqueNames => "groupOfUniqueNames",
            GroupClass::PosixGroup => "posixGroup",
        }
    }
}

/// How a membership request changes the group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MembershipAction {
    Add,
    Remove,
    Set,
}

/// What to do, with its validated parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    UserGet(EntryRef),
    UserSearch {
        filter: String,
        attributes: Vec<String>,
    },
    UserCreate {
        uid: String,
        attributes: BTreeMap<String, Vec<String>>,
        password: Option<Secret>,
    },
    UserDelete(EntryRef),
    GroupGet(EntryRef),
    GroupCreate {
        cn: String,
        class: GroupClass,
        members: Vec<String>,
        gid_number: Option<u32>,
    },
    GroupDelete(EntryRef),
    Members {
        group: EntryRef,
        action: MembershipAction,
        members: Vec<String>,
    },
}

impl Action {
    /// `object_type.action`, the span and log name of the request.
    pub fn name(&self) -> &'static str {
        match self {
            Action::UserGet(_) => "user.get",
            Action::UserSearch { .. } => "user.search",
            Action::UserCreate { .. } => "user.create",
            Action::UserDelete(_) => "user.delete",
            Action::GroupGet(_) => "group.get",
            Action::GroupCreate { .. } => "group.create",
            Action::GroupDelete(_) => "group.delete",
            Action::Members { action, .. } => match action {
                MembershipAction::Add => "group.add_members",
                MembershipAction::Remove => "group.remove_members",
                MembershipAction::Set => "group.set_members",
            },
        }
    }
}

/// A request that passed validation.
#[derive(Debug, Clone)]
pub struct Request {
    pub system: String,
    pub action: Action,
}

const USER_ACTIONS: &str = "get, search, create, delete";
const GROUP_ACTIONS: &str = "get, create, delete, add_members, remove_members, set_members";
/// Default filter of `user.search`.
pub const DEFAULT_USER_FILTER: &str = "(objectClass=person)";

/// Parses `body`; `known_system` says whether a system name is configured.
pub fn parse(body: &[u8], known_system: &dyn Fn(&str) -> bool) -> Result<Request, RequestError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| RequestError::MalformedJson(e.to_string()))?;
    let Value::Object(top) = value else {
        return Err(RequestError::NotAnObject);
    };
    let system = string_field(&top, "system")?;
    let object_type = string_field(&top, "object_type")?;
    let action = string_field(&top, "action")?;
    let params = match top.get("params") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(p)) => p.clone(),
        Some(_) => {
            return Err(RequestError::WrongType {
                field: "params".to_owned(),
                expected: "an object",
            });
        }
    };
    if !known_system(&system) {
        return Err(RequestError::UnknownSystem(system));
    }
    let p = Params(&params);
    let action = match object_type.as_str() {
        "user" => user_action(&action, &p)?,
        "group" => group_action(&action, &p)?,
        _ => return Err(RequestError::UnknownObjectType(object_type)),
    };
    Ok(Request { system, action })
}

fn user_action(action: &str, p: &Params<'_>) -> Result<Action, RequestError> {
    Ok(match action {
        "get" => Action::UserGet(p.entry("uid")?),
        "delete" => Action::UserDelete(p.entry("uid")?),
        "search" => Action::UserSearch {
            filter: p
                .opt_str("filter")?
                .unwrap_or_else(|| DEFAULT_USER_FILTER.to_owned()),
            attributes: p.opt_list("attributes")?.unwrap_or_default(),
        },
        "create" => Action::UserCreate {
            uid: p.name("uid")?,
            attributes: p.attribute_map("attributes")?,
            password: p.opt_str("password")?.map(Secret::new),
        },
        other => {
            return Err(RequestError::UnknownAction {
                object_type: "user",
                action: other.to_owned(),
                allowed: USER_ACTIONS,
            });
        }
    })
}

fn group_action(action: &str, p: &Params<'_>) -> Result<Action, RequestError> {
    let members = |action| -> Result<Action, RequestError> {
        Ok(Action::Members {
            group: p.group()?,
            action,
            members: p.list("members")?,
        })
    };
    Ok(match action {
        "get" => Action::GroupGet(p.entry("cn")?),
        "delete" => Action::GroupDelete(p.entry("cn")?),
        "create" => Action::GroupCreate {
            cn: p.name("cn")?,
            class: match p.opt_str("object_class")?.as_deref() {
                None | Some("groupOfNames") => GroupClass::GroupOfNames,
                Some("groupOfUniqueNames") => GroupClass::GroupOfUniqueNames,
                Some("posixGroup") => GroupClass::PosixGroup,
                Some(other) => {
                    return Err(p.invalid(
                        "object_class",
                        format!("{other:?} is not groupOfNames, groupOfUniqueNames or posixGroup"),
                    ));
                }
            },
            members: p.opt_list("members")?.unwrap_or_default(),
            gid_number: p.opt_u32("gid_number")?,
        },
        "add_members" => members(MembershipAction::Add)?,
        "remove_members" => members(MembershipAction::Remove)?,
        "set_members" => members(MembershipAction::Set)?,
        other => {
            return Err(RequestError::UnknownAction {
                object_type: "group",
                action: other.to_owned(),
                allowed: GROUP_ACTIONS,
            });
        }
    })
}

fn string_field(top: &Map<String, Value>, field: &'static str) -> Result<String, RequestError> {
    match top.get(field) {
        None | Some(Value::Null) => Err(RequestError::MissingField(field)),
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.trim().to_owned()),
        Some(_) => Err(RequestError::WrongType {
            field: field.to_owned(),
            expected: "a non-empty string",
        }),
    }
}

/// Typed access to `params`, every failure naming the parameter.
struct Params<'a>(&'a Map<String, Value>);

impl Params<'_> {
    fn invalid(&self, param: &str, reason: impl Into<String>) -> RequestError {
        RequestError::InvalidParam {
            param: param.to_owned(),
            reason: reason.into(),
        }
    }

    fn opt_str(&self, param: &str) -> Result<Option<String>, RequestError> {
        match self.0.get(param) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if !s.trim().is_empty() => Ok(Some(s.trim().to_owned())),
            Some(_) => Err(self.invalid(param, "must be a non-empty string")),
        }
    }

    fn opt_u32(&self, param: &str) -> Result<Option<u32>, RequestError> {
        match self.0.get(param) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .map(Some)
                .ok_or_else(|| self.invalid(param, "must be a non-negative integer")),
        }
    }

    /// A name (uid, cn): a non-empty string.
    fn name(&self, param: &'static str) -> Result<String, RequestError> {
        self.opt_str(param)?
            .ok_or(RequestError::MissingParam(param))
    }

    /// `params.dn`, else `params.<name>`.
    fn entry(&self, name: &'static str) -> Result<EntryRef, RequestError> {
        if let Some(dn) = self.opt_str("dn")? {
            return Ok(EntryRef::Dn(dn));
        }
        match self.opt_str(name)? {
            Some(n) => Ok(EntryRef::Name(n)),
            None => Err(RequestError::MissingParam(name)),
        }
    }

    /// `params.group`: a DN when it contains `=`, else a cn.
    fn group(&self) -> Result<EntryRef, RequestError> {
        let g = self
            .opt_str("group")?
            .ok_or(RequestError::MissingParam("group"))?;
        Ok(if g.contains('=') {
            EntryRef::Dn(g)
        } else {
            EntryRef::Name(g)
        })
    }

    fn opt_list(&self, param: &str) -> Result<Option<Vec<String>>, RequestError> {
        match self.0.get(param) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| match v {
                    Value::String(s) if !s.trim().is_empty() => Ok(s.trim().to_owned()),
                    _ => Err(self.invalid(param, "every entry must be a non-empty string")),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(_) => Err(self.invalid(param, "must be a list of strings")),
        }
    }

    fn list(&self, param: &'static str) -> Result<Vec<String>, RequestError> {
        self.opt_list(param)?
            .ok_or(RequestError::MissingParam(param))
    }

    /// `{attr: "v" | ["v", ...]}`; passwords are refused here (use `params.password`).
    fn attribute_map(&self, param: &str) -> Result<BTreeMap<String, Vec<String>>, RequestError> {
        let mut out = BTreeMap::new();
        let Some(value) = self.0.get(param) else {
            return Ok(out);
        };
        let Value::Object(map) = value else {
            return Err(self.invalid(param, "must be an object of attribute: value(s)"));
        };
        for (attr, v) in map {
            if is_password_attr(attr) {
                return Err(self.invalid(param, format!("{attr} goes in params.password")));
            }
            let values = match v {
                Value::String(s) => vec![s.clone()],
                Value::Array(items) => items
                    .iter()
                    .map(|i| i.as_str().map(str::to_owned))
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| {
                        self.invalid(param, format!("{attr}: values must be strings"))
                    })?,
                _ => {
                    return Err(self.invalid(
                        param,
                        format!("{attr}: must be a string or a list of strings"),
                    ));
                }
            };
            if values.is_empty() || values.iter().any(|s| s.is_empty()) {
                return Err(self.invalid(param, format!("{attr}: empty value")));
            }
            out.insert(attr.clone(), values);
        }
        Ok(out)
    }
}

/// Attributes that hold passwords: never returned, never accepted outside `params.password`.
pub fn is_password_attr(attr: &str) -> bool {
    ["userpassword", "unicodepwd"].contains(&attr.to_ascii_lowercase().as_str())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn req(body: &str) -> Result<Request, RequestError> {
        parse(body.as_bytes(), &|s| s == "corp")
    }

    #[test]
    fn valid_requests_become_actions() {
        let r = req(r#"{"system":"corp","object_type":"group","action":"add_members","params":{"group":"admins","members":["uid=a,dc=x"]}}"#).unwrap();
        assert_eq!(r.system, "corp");
        assert_eq!(
            r.action,
            Action::Members {
                group: EntryRef::Name("admins".into()),
                action: MembershipAction::Add,
                members: vec!["uid=a,dc=x".into()],
            }
        );
        let r = req(
            r#"{"system":"corp","object_type":"user","action":"get","params":{"dn":"uid=a,dc=x"}}"#,
        )
        .unwrap();
        assert_eq!(r.action, Action::UserGet(EntryRef::Dn("uid=a,dc=x".into())));
        let r = req(r#"{"system":"corp","object_type":"user","action":"search"}"#).unwrap();
        assert_eq!(r.action.name(), "user.search");
    }

    #[test]
    fn bad_requests_name_what_is_wrong() {
        assert!(matches!(req("{"), Err(RequestError::MalformedJson(_))));
        assert_eq!(req("[]").err(), Some(RequestError::NotAnObject));
        assert_eq!(
            req(r#"{"object_type":"user","action":"get"}"#).err(),
            Some(RequestError::MissingField("system"))
        );
        assert_eq!(
            req(r#"{"system":"nope","object_type":"user","action":"get"}"#).err(),
            Some(RequestError::UnknownSystem("nope".into()))
        );
        assert!(matches!(
            req(r#"{"system":"corp","object_type":"user","action":"explode"}"#),
            Err(RequestError::UnknownAction { .. })
        ));
        assert_eq!(
            req(r#"{"system":"corp","object_type":"group","action":"add_members","params":{"group":"g"}}"#).err(),
            Some(RequestError::MissingParam("members"))
        );
        assert!(matches!(
            req(
                r#"{"system":"corp","object_type":"user","action":"create","params":{"uid":"u","attributes":{"userPassword":"x"}}}"#
            ),
            Err(RequestError::InvalidParam { .. })
        ));
    }

    #[test]
    fn a_password_never_shows_in_debug() {
        let r = req(r#"{"system":"corp","object_type":"user","action":"create","params":{"uid":"u","password":"hunter2"}}"#).unwrap();
        assert!(!format!("{r:?}").contains("hunter2"));
    }
}
