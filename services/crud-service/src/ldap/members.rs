//! `update_group_members`: the one path of every membership change (SPEC §8).
//!
//! Read the group (its kind and members), plan with [`super::plan`] (skip what is already true,
//! never go through zero members), optionally verify the DNs to add, then send batches of
//! `membership_batch_size` values — every add batch before any delete batch, at most
//! `membership_max_concurrency` batches in flight. A batch's result is judged by
//! [`super::classify`]: a benign result (20/16, AD 68/53-`00000561`) on a single value is success
//! (INFO log + counter); on a multi-value batch it means OpenLDAP refused the whole request for
//! one value, so the batch is sent again value by value. A delete refused because it would
//! empty a groupOfNames (65, a concurrent writer removed the rest) or a failed assertion (122)
//! invalidates the plan: the group is read again and the update re-planned, a few times.

use std::collections::HashSet;
use std::time::Instant;

use futures_util::future::join_all;
use ldap3::controls::{Assertion, RawControl};
use ldap3::{Mod, ldap_escape};
use serde::Serialize;

use super::classify::{Outcome, Phase, classify};
use super::entries::GroupKind;
use super::plan::{Plan, WouldEmpty, plan};
use super::{Directory, LdapOpError, Retry};
use crate::action::MembershipAction;

/// Re-plans after a concurrent change invalidated the plan, at most this many times.
const MAX_ATTEMPTS: usize = 5;
/// OID of the Permissive Modify control (AD; accepted by OpenLDAP).
const PERMISSIVE_MODIFY_OID: &str = "1.2.840.113556.1.4.1413";

/// What an update did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MembershipReport {
    pub group: String,
    /// Values the directory accepted as new.
    pub added: usize,
    pub removed: usize,
    /// Requested values already in the requested state when the group was read.
    pub skipped: usize,
    /// Values the directory answered with a benign code (already true by then).
    pub benign: usize,
    /// Modify requests sent.
    pub batches: usize,
    pub anchor_added: bool,
    pub anchor_removed: bool,
    /// Plans made (more than 1 when a concurrent change forced a re-read).
    pub attempts: usize,
}

/// A batch result that calls for reading the group again.
enum BatchError {
    Replan,
    Fail(LdapOpError),
}

#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    applied: usize,
    benign: usize,
    batches: usize,
}

impl Directory {
    /// Adds, removes or sets `members` of `group` idempotently.
    pub async fn update_group_members(
        &self,
        group: &str,
        action: MembershipAction,
        members: &[String],
    ) -> Result<MembershipReport, LdapOpError> {
        let result = self.update_inner(group, action, members).await;
        if let Err(e) = &result {
            let code = match (e.rc(), e) {
                (Some(rc), _) => rc.to_string(),
                (None, LdapOpError::Timeout { .. }) => "timeout".to_owned(),
                (
                    None,
                    LdapOpError::WouldEmptyGroup { .. }
                    | LdapOpError::MembersNotFound { .. }
                    | LdapOpError::NotAGroup { .. }
                    | LdapOpError::Contended { .. },
                ) => "refused".to_owned(),
                (None, _) => "unavailable".to_owned(),
            };
            self.metrics().membership_error(code);
        }
        result
    }

    async fn update_inner(
        &self,
        group: &str,
        action: MembershipAction,
        members: &[String],
    ) -> Result<MembershipReport, LdapOpError> {
        let mut report = MembershipReport {
            group: group.to_owned(),
            ..MembershipReport::default()
        };
        let cfg = &self.config().membership;
        for attempt in 1..=MAX_ATTEMPTS {
            report.attempts = attempt;
            let (kind, current) = self.read_members(group).await?;
            let requested: Vec<String> =
                members.iter().map(|m| self.member_value(kind, m)).collect();
            let p = plan(
                &current,
                action,
                &requested,
                kind.must_keep_one(),
                cfg.anchor_dn.as_deref(),
            )
            .map_err(|WouldEmpty| LdapOpError::WouldEmptyGroup {
                group: group.to_owned(),
                class: kind.class_name(),
            })?;
            if attempt == 1 {
                report.skipped = p.skipped;
            }
            if cfg.verify_member_dns && kind != GroupKind::PosixGroup {
                self.verify_exist(&p).await?;
            }
            report.anchor_added |= p.anchor_added;
            report.anchor_removed |= p.anchor_removed;
            match self.apply(group, kind, &p, &mut report).await {
                Ok(()) => return Ok(report),
                Err(BatchError::Replan) => {
                    tracing::info!(target: "nowconnect::crud::ldap", event = "membership_replan",
                        group, attempt, "the group changed underneath; reading it again");
                }
                Err(BatchError::Fail(e)) => return Err(e),
            }
        }
        Err(LdapOpError::Contended {
            group: group.to_owned(),
            attempts: MAX_ATTEMPTS,
        })
    }

    /// Sends `plan` as given — no read, no diff: the write half of `update_group_members`
    /// (batches, adds before deletes, benign classification, value-by-value retry). Public so
    /// tests can replay a stale plan, as a concurrent writer would leave one.
    pub async fn send_plan(
        &self,
        group: &str,
        plan: &Plan,
    ) -> Result<MembershipReport, LdapOpError> {
        let (kind, _) = self.read_members(group).await?;
        let mut report = MembershipReport {
            group: group.to_owned(),
            attempts: 1,
            ..MembershipReport::default()
        };
        match self.apply(group, kind, plan, &mut report).await {
            Ok(()) => Ok(report),
            Err(BatchError::Replan) => Err(LdapOpError::Contended {
                group: group.to_owned(),
                attempts: 1,
            }),
            Err(BatchError::Fail(e)) => Err(e),
        }
    }

    /// The group's kind and current member values.
    async fn read_members(&self, group: &str) -> Result<(GroupKind, Vec<String>), LdapOpError> {
        let entry = self
            .read(
                "group.read_members",
                group,
                &["objectClass", "member", "uniqueMember", "memberUid"],
            )
            .await?;
        let classes = attr(&entry.attributes, "objectClass");
        let kind =
            GroupKind::from_object_classes(&classes).ok_or_else(|| LdapOpError::NotAGroup {
                dn: group.to_owned(),
            })?;
        Ok((kind, attr(&entry.attributes, kind.member_attr())))
    }

    async fn verify_exist(&self, p: &Plan) -> Result<(), LdapOpError> {
        let checks = p.add.iter().map(|dn| async move {
            match self.read("group.verify_member", dn, &["1.1"]).await {
                Ok(_) => Ok(None),
                Err(LdapOpError::Result { rc: 32, .. }) => Ok(Some(dn.clone())),
                Err(e) => Err(e),
            }
        });
        let missing: Vec<String> = join_all(checks)
            .await
            .into_iter()
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .flatten()
            .collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(LdapOpError::MembersNotFound { missing })
        }
    }

    /// Every add batch, then every delete batch; what was applied is counted into `report`
    /// even when a later batch fails.
    async fn apply(
        &self,
        group: &str,
        kind: GroupKind,
        p: &Plan,
        report: &mut MembershipReport,
    ) -> Result<(), BatchError> {
        self.phase(group, kind, Phase::Add, &p.add, None, report)
            .await?;
        let guard = match (
            self.config().membership.assertion_control,
            kind.must_keep_one(),
            &p.kept,
        ) {
            (true, true, Some(kept)) => Some(format!(
                "({}={})",
                kind.member_attr(),
                ldap_escape(kept.as_str())
            )),
            _ => None,
        }
        // ldap3 panics on a filter it cannot parse; an escaped value always parses, but a guard
        // is an optimisation, never worth a panic.
        .filter(|f| ldap3::parse_filter(f).is_ok());
        self.phase(group, kind, Phase::Delete, &p.remove, guard, report)
            .await
    }

    /// One phase's batches, `membership_max_concurrency` at a time.
    async fn phase(
        &self,
        group: &str,
        kind: GroupKind,
        phase: Phase,
        values: &[String],
        guard: Option<String>,
        report: &mut MembershipReport,
    ) -> Result<(), BatchError> {
        let cfg = &self.config().membership;
        let batches: Vec<&[String]> = values.chunks(cfg.batch_size).collect();
        for wave in batches.chunks(cfg.max_concurrency) {
            let sends = wave
                .iter()
                .map(|b| self.batch(group, kind, phase, b, guard.as_deref()));
            let mut failed = None;
            for (tally, error) in join_all(sends).await {
                match phase {
                    Phase::Add => report.added += tally.applied,
                    Phase::Delete => report.removed += tally.applied,
                }
                report.benign += tally.benign;
                report.batches += tally.batches;
                failed = failed.or(error);
            }
            if let Some(e) = failed {
                return Err(e);
            }
        }
        Ok(())
    }

    /// Sends one batch; a benign refusal of a multi-value batch is retried value by value.
    /// Returns what was applied, and the error that stopped it, if any.
    async fn batch(
        &self,
        group: &str,
        kind: GroupKind,
        phase: Phase,
        values: &[String],
        guard: Option<&str>,
    ) -> (Tally, Option<BatchError>) {
        let mut tally = Tally {
            batches: 1,
            ..Tally::default()
        };
        let result = match self.modify(group, kind, phase, values, guard).await {
            Ok(result) => result,
            Err(e) => return (tally, Some(BatchError::Fail(e))),
        };
        match classify(phase, &result) {
            Outcome::Done => tally.applied = values.len(),
            Outcome::Benign(code) if values.len() == 1 => {
                self.metrics().benign(code);
                tracing::info!(target: "nowconnect::crud::ldap", event = "membership_benign",
                    group, action = phase.label(), code = code.label(), value = %values[0],
                    "already {}; counted as success", if phase == Phase::Add { "a member" } else { "not a member" });
                tally.benign = 1;
            }
            Outcome::Benign(_) => {
                tracing::info!(target: "nowconnect::crud::ldap", event = "membership_batch_split",
                    group, action = phase.label(), values = values.len(), rc = result.rc,
                    "batch refused for one benign value; retrying value by value");
                for v in values {
                    let single = std::slice::from_ref(v);
                    let (t, error) = Box::pin(self.batch(group, kind, phase, single, guard)).await;
                    tally.applied += t.applied;
                    tally.benign += t.benign;
                    tally.batches += t.batches;
                    if error.is_some() {
                        return (tally, error);
                    }
                }
            }
            Outcome::Error if phase == Phase::Delete && (result.rc == 65 || result.rc == 122) => {
                return (tally, Some(BatchError::Replan));
            }
            Outcome::Error => {
                let op = match phase {
                    Phase::Add => "group.add_members",
                    Phase::Delete => "group.remove_members",
                };
                let error = LdapOpError::Result {
                    op,
                    rc: result.rc,
                    text: result.text,
                };
                return (tally, Some(BatchError::Fail(error)));
            }
        }
        (tally, None)
    }

    /// One modify request; the raw result comes back so the caller can classify it.
    async fn modify(
        &self,
        group: &str,
        kind: GroupKind,
        phase: Phase,
        values: &[String],
        guard: Option<&str>,
    ) -> Result<ldap3::LdapResult, LdapOpError> {
        let attr = kind.member_attr();
        let set: HashSet<String> = values.iter().cloned().collect();
        let mut controls: Vec<RawControl> = Vec::new();
        if self.config().membership.permissive_modify {
            controls.push(RawControl {
                ctype: PERMISSIVE_MODIFY_OID.to_owned(),
                crit: false,
                val: None,
            });
        }
        if let Some(filter) = guard {
            controls.push(Assertion::new(filter));
        }
        let op = match phase {
            Phase::Add => "group.modify_add",
            Phase::Delete => "group.modify_delete",
        };
        let started = Instant::now();
        let result = self
            .run(op, Retry::Idempotent, |mut ldap| {
                let (set, controls) = (set.clone(), controls.clone());
                async move {
                    let m = match phase {
                        Phase::Add => Mod::Add(attr.to_owned(), set),
                        Phase::Delete => Mod::Delete(attr.to_owned(), set),
                    };
                    if !controls.is_empty() {
                        ldap.with_controls(controls);
                    }
                    ldap.modify(group, vec![m]).await
                }
            })
            .await;
        self.metrics()
            .batch(&self.config().name, phase, values.len(), started.elapsed());
        result
    }
}

fn attr(attrs: &std::collections::BTreeMap<String, Vec<String>>, name: &str) -> Vec<String> {
    attrs
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}
