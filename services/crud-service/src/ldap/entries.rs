//! Users and groups: get, search (paged), create, delete.

use std::collections::{BTreeMap, HashSet};

use ldap3::adapters::{Adapter, EntriesOnly, PagedResults};
use ldap3::{Scope, SearchEntry, SearchOptions, dn_escape};
use serde::Serialize;

use super::{Directory, LdapOpError, Retry};
use crate::action::{EntryRef, GroupClass, is_password_attr};

/// One entry as the API returns it (password attributes never included).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    pub dn: String,
    pub attributes: BTreeMap<String, Vec<String>>,
}

impl From<SearchEntry> for Entry {
    fn from(e: SearchEntry) -> Self {
        Entry {
            dn: e.dn,
            attributes: e
                .attrs
                .into_iter()
                .filter(|(name, _)| !is_password_attr(name))
                .collect(),
        }
    }
}

/// What kind of group an entry is, which decides its member attribute and whether it may be
/// empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum GroupKind {
    /// `member`, at least one value (schema MUST).
    GroupOfNames,
    /// `uniqueMember`, at least one value.
    GroupOfUniqueNames,
    /// `memberUid` (uids, not DNs), may be empty.
    PosixGroup,
    /// Active Directory `group`: `member`, may be empty.
    AdGroup,
}

impl GroupKind {
    pub fn from_object_classes(classes: &[String]) -> Option<GroupKind> {
        let has = |c: &str| classes.iter().any(|x| x.eq_ignore_ascii_case(c));
        if has("groupOfNames") {
            Some(GroupKind::GroupOfNames)
        } else if has("groupOfUniqueNames") {
            Some(GroupKind::GroupOfUniqueNames)
        } else if has("posixGroup") {
            Some(GroupKind::PosixGroup)
        } else if has("group") {
            Some(GroupKind::AdGroup)
        } else {
            None
        }
    }

    pub fn member_attr(self) -> &'static str {
        match self {
            GroupKind::GroupOfNames | GroupKind::AdGroup => "member",
            GroupKind::GroupOfUniqueNames => "uniqueMember",
            GroupKind::PosixGroup => "memberUid",
        }
    }

    pub fn must_keep_one(self) -> bool {
        matches!(
            self,
            GroupKind::GroupOfNames | GroupKind::GroupOfUniqueNames
        )
    }

    pub fn class_name(self) -> &'static str {
        match self {
            GroupKind::GroupOfNames => "groupOfNames",
            GroupKind::GroupOfUniqueNames => "groupOfUniqueNames",
            GroupKind::PosixGroup => "posixGroup",
            GroupKind::AdGroup => "group",
        }
    }
}

impl Directory {
    /// `uid=<name>,<users_dn>` or the DN as given.
    pub fn user_dn(&self, r: &EntryRef) -> String {
        match r {
            EntryRef::Dn(dn) => dn.clone(),
            EntryRef::Name(uid) => {
                format!("uid={},{}", dn_escape(uid.as_str()), self.config().users_dn)
            }
        }
    }

    /// `cn=<name>,<groups_dn>` or the DN as given.
    pub fn group_dn(&self, r: &EntryRef) -> String {
        match r {
            EntryRef::Dn(dn) => dn.clone(),
            EntryRef::Name(cn) => {
                format!("cn={},{}", dn_escape(cn.as_str()), self.config().groups_dn)
            }
        }
    }

    /// The entry at `dn` with `attrs` (all user attributes when empty); 32 → `Result{rc:32}`.
    pub async fn read(
        &self,
        op: &'static str,
        dn: &str,
        attrs: &[&str],
    ) -> Result<Entry, LdapOpError> {
        let attrs: Vec<String> = attrs.iter().map(|a| (*a).to_owned()).collect();
        let found = self
            .run(op, Retry::Idempotent, |mut ldap| {
                let attrs = attrs.clone();
                async move {
                    let (entries, _) = ldap
                        .search(dn, Scope::Base, "(objectClass=*)", attrs)
                        .await?
                        .success()?;
                    Ok(entries.into_iter().next().map(SearchEntry::construct))
                }
            })
            .await?;
        found.map(Entry::from).ok_or_else(|| LdapOpError::Result {
            op,
            rc: 32,
            text: String::new(),
        })
    }

    /// Subtree search under `base_dn`, paged by `page_size`.
    pub async fn search(&self, filter: &str, attrs: &[String]) -> Result<Vec<Entry>, LdapOpError> {
        let base = self.config().base_dn.clone();
        let page = i32::try_from(self.config().page_size).unwrap_or(i32::MAX);
        let max = self.config().search_max_entries;
        // One more than allowed, so "more than the cap" is visible; the directory stops there
        // (4 sizeLimitExceeded). A server limit below the cap surfaces as result 4 itself.
        let size_limit = i32::try_from(max.saturating_add(1)).unwrap_or(i32::MAX);
        let attrs: Vec<String> = attrs.to_vec();
        let entries = self
            .run("search", Retry::Idempotent, |mut ldap| {
                let (attrs, base) = (attrs.clone(), base.clone());
                async move {
                    let adapters: Vec<Box<dyn Adapter<_, _>>> = vec![
                        Box::new(EntriesOnly::new()),
                        Box::new(PagedResults::new(page)),
                    ];
                    let mut stream = ldap
                        .with_search_options(SearchOptions::new().sizelimit(size_limit))
                        .streaming_search_with(adapters, &base, Scope::Subtree, filter, attrs)
                        .await?;
                    let mut out = Vec::new();
                    while let Some(entry) = stream.next().await? {
                        out.push(SearchEntry::construct(entry));
                    }
                    let done = stream.finish().await;
                    if out.len() > max {
                        return Ok(None);
                    }
                    done.success()?;
                    Ok(Some(out))
                }
            })
            .await?
            .ok_or(LdapOpError::TooManyEntries { limit: max })?;
        Ok(entries.into_iter().map(Entry::from).collect())
    }

    /// Adds the entry `dn` with `attrs` (never retried: a second attempt could answer 68).
    pub async fn add(
        &self,
        op: &'static str,
        dn: &str,
        attrs: Vec<(String, HashSet<String>)>,
    ) -> Result<(), LdapOpError> {
        self.run(op, Retry::Once, |mut ldap| {
            let attrs = attrs.clone();
            async move { ldap.add(dn, attrs).await?.success().map(|_| ()) }
        })
        .await
    }

    /// Deletes the entry `dn`.
    pub async fn delete(&self, op: &'static str, dn: &str) -> Result<(), LdapOpError> {
        self.run(op, Retry::Once, |mut ldap| async move {
            ldap.delete(dn).await?.success().map(|_| ())
        })
        .await
    }

    /// Creates `uid=<uid>,<users_dn>`; `objectClass` defaults to inetOrgPerson.
    pub async fn create_user(
        &self,
        uid: &str,
        mut attributes: BTreeMap<String, Vec<String>>,
        password: Option<&str>,
    ) -> Result<String, LdapOpError> {
        let dn = self.user_dn(&EntryRef::Name(uid.to_owned()));
        if !attributes
            .keys()
            .any(|k| k.eq_ignore_ascii_case("objectClass"))
        {
            attributes.insert("objectClass".to_owned(), vec!["inetOrgPerson".to_owned()]);
        }
        if !attributes.keys().any(|k| k.eq_ignore_ascii_case("uid")) {
            attributes.insert("uid".to_owned(), vec![uid.to_owned()]);
        }
        let mut attrs: Vec<(String, HashSet<String>)> = attributes
            .into_iter()
            .map(|(k, v)| (k, v.into_iter().collect()))
            .collect();
        if let Some(pw) = password {
            attrs.push(("userPassword".to_owned(), HashSet::from([pw.to_owned()])));
        }
        self.add("user.create", &dn, attrs).await?;
        Ok(dn)
    }

    /// Creates `cn=<cn>,<groups_dn>` with `members` (a groupOfNames without members gets the
    /// anchor, or is refused).
    pub async fn create_group(
        &self,
        cn: &str,
        class: GroupClass,
        members: &[String],
        gid_number: Option<u32>,
    ) -> Result<String, LdapOpError> {
        let dn = self.group_dn(&EntryRef::Name(cn.to_owned()));
        let kind = GroupKind::from_object_classes(&[class.as_str().to_owned()])
            .unwrap_or(GroupKind::GroupOfNames);
        let mut values: HashSet<String> =
            members.iter().map(|m| self.member_value(kind, m)).collect();
        if values.is_empty() && kind.must_keep_one() {
            match &self.config().membership.anchor_dn {
                Some(anchor) => {
                    values.insert(anchor.clone());
                }
                None => {
                    return Err(LdapOpError::WouldEmptyGroup {
                        group: dn,
                        class: kind.class_name(),
                    });
                }
            }
        }
        let mut attrs = vec![
            (
                "objectClass".to_owned(),
                HashSet::from([class.as_str().to_owned()]),
            ),
            ("cn".to_owned(), HashSet::from([cn.to_owned()])),
        ];
        if let Some(gid) = gid_number {
            attrs.push(("gidNumber".to_owned(), HashSet::from([gid.to_string()])));
        }
        if !values.is_empty() {
            attrs.push((kind.member_attr().to_owned(), values));
        }
        self.add("group.create", &dn, attrs).await?;
        Ok(dn)
    }

    /// A member as the group stores it: posixGroup keeps uids, so a DN becomes its first RDN value.
    pub fn member_value(&self, kind: GroupKind, member: &str) -> String {
        match kind {
            GroupKind::PosixGroup if member.contains('=') => {
                super::dn::first_rdn_value(member).unwrap_or_else(|| member.to_owned())
            }
            _ => member.to_owned(),
        }
    }
}
