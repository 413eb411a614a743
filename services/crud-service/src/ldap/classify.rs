//! Classifies the result of one membership modify (SPEC §8): success, a benign idempotent
//! outcome (the change was already true), or a real error.
//!
//! | directory | phase | result | meaning |
//! |---|---|---|---|
//! | any | add, delete | 0 | done |
//! | OpenLDAP | add | 20 typeOrValueExists | a value was already present → benign |
//! | OpenLDAP, AD | delete | 16 noSuchAttribute | a value was already absent → benign |
//! | AD | add | 68 entryAlreadyExists (`00000562…`) | already a member → benign |
//! | AD | delete | 53 unwillingToPerform with `00000561…` | not a member → benign |
//! | AD | delete | 53 without `00000561` | a real refusal → error |
//!
//! OpenLDAP rejects the whole multi-value request when one value is benign, so a benign result
//! on a batch of more than one value means "retry value by value", not "done".

use ldap3::LdapResult;

/// Which half of a membership update a modify belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Add,
    Delete,
}

impl Phase {
    /// The `action` label of the membership metrics.
    pub fn label(self) -> &'static str {
        match self {
            Phase::Add => "add",
            Phase::Delete => "remove",
        }
    }
}

/// A benign result code, as the `code` label of `nowconnect_ldap_membership_benign_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BenignCode {
    /// 20 typeOrValueExists on add.
    ValueExists,
    /// 16 noSuchAttribute on delete.
    NoSuchAttribute,
    /// AD 68 entryAlreadyExists on add.
    AdAlreadyMember,
    /// AD 53 with `00000561` on delete.
    AdNotMember,
}

impl BenignCode {
    pub const ALL: [BenignCode; 4] = [
        BenignCode::ValueExists,
        BenignCode::NoSuchAttribute,
        BenignCode::AdAlreadyMember,
        BenignCode::AdNotMember,
    ];

    pub fn label(self) -> &'static str {
        match self {
            BenignCode::ValueExists => "20",
            BenignCode::NoSuchAttribute => "16",
            BenignCode::AdAlreadyMember => "68",
            BenignCode::AdNotMember => "53",
        }
    }
}

/// What one modify's result means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Done,
    Benign(BenignCode),
    Error,
}

/// AD's diagnostic prefix for "the member is not in the group".
const AD_NOT_MEMBER: &str = "00000561";

/// Classifies `result` of a modify in `phase`.
pub fn classify(phase: Phase, result: &LdapResult) -> Outcome {
    match (phase, result.rc) {
        (_, 0) => Outcome::Done,
        (Phase::Add, 20) => Outcome::Benign(BenignCode::ValueExists),
        (Phase::Add, 68) => Outcome::Benign(BenignCode::AdAlreadyMember),
        (Phase::Delete, 16) => Outcome::Benign(BenignCode::NoSuchAttribute),
        (Phase::Delete, 53) if result.text.trim_start().starts_with(AD_NOT_MEMBER) => {
            Outcome::Benign(BenignCode::AdNotMember)
        }
        _ => Outcome::Error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(rc: u32, text: &str) -> LdapResult {
        LdapResult {
            rc,
            matched: String::new(),
            text: text.to_owned(),
            refs: Vec::new(),
            ctrls: Vec::new(),
        }
    }

    #[test]
    fn openldap_codes() {
        assert_eq!(classify(Phase::Add, &result(0, "")), Outcome::Done);
        assert_eq!(
            classify(
                Phase::Add,
                &result(20, "modify/add: member: value #0 already exists")
            ),
            Outcome::Benign(BenignCode::ValueExists)
        );
        assert_eq!(
            classify(
                Phase::Delete,
                &result(16, "modify/delete: member: no such value")
            ),
            Outcome::Benign(BenignCode::NoSuchAttribute)
        );
        // The same codes in the other phase are real errors.
        assert_eq!(classify(Phase::Delete, &result(20, "")), Outcome::Error);
        assert_eq!(classify(Phase::Add, &result(16, "")), Outcome::Error);
        for rc in [21, 32, 65, 50] {
            assert_eq!(
                classify(Phase::Add, &result(rc, "")),
                Outcome::Error,
                "{rc}"
            );
            assert_eq!(
                classify(Phase::Delete, &result(rc, "")),
                Outcome::Error,
                "{rc}"
            );
        }
    }

    #[test]
    fn active_directory_68_on_add_is_benign() {
        let dup = result(
            68,
            "00000562: UpdErr: DSID-031A11E2, problem 6005 (ENTRY_EXISTS), data 0",
        );
        assert_eq!(
            classify(Phase::Add, &dup),
            Outcome::Benign(BenignCode::AdAlreadyMember)
        );
        // 68 on a delete is not a membership idempotency outcome.
        assert_eq!(classify(Phase::Delete, &dup), Outcome::Error);
    }

    #[test]
    fn active_directory_53_is_benign_only_with_00000561() {
        let absent = result(
            53,
            "00000561: SvcErr: DSID-031A1236, problem 5003 (WILL_NOT_PERFORM), data 0",
        );
        assert_eq!(
            classify(Phase::Delete, &absent),
            Outcome::Benign(BenignCode::AdNotMember)
        );
        let other = result(
            53,
            "0000209A: SvcErr: DSID-031A1236, problem 5003 (WILL_NOT_PERFORM), data 0",
        );
        assert_eq!(classify(Phase::Delete, &other), Outcome::Error);
        assert_eq!(classify(Phase::Delete, &result(53, "")), Outcome::Error);
        assert_eq!(classify(Phase::Add, &absent), Outcome::Error);
        // AD answers 16 when removing from an empty group: benign like OpenLDAP's.
        assert_eq!(
            classify(Phase::Delete, &result(16, "00002077: AtrErr")),
            Outcome::Benign(BenignCode::NoSuchAttribute)
        );
    }
}
