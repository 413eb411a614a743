//! What can go wrong talking to a directory, typed so the HTTP edge can pick a status.

use std::time::Duration;

use ldap3::LdapError;

/// A failed LDAP operation (never carries the bind password or bind DN).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LdapOpError {
    /// The directory answered with a non-success result code.
    #[error("{op}: LDAP result {rc} ({}){}", rc_name(*rc), detail(text))]
    Result {
        op: &'static str,
        rc: u32,
        text: String,
    },
    /// No connection could be made or the connection broke (tunnel or directory down).
    #[error("{op}: directory unavailable: {reason}")]
    Unavailable { op: &'static str, reason: String },
    /// The operation did not complete within the configured timeout.
    #[error("{op}: no answer within {:?}", timeout)]
    Timeout { op: &'static str, timeout: Duration },
    /// Every pooled connection stayed busy for the whole timeout.
    #[error("all {pool_size} connections to the directory stayed busy for {timeout:?}")]
    PoolBusy { pool_size: usize, timeout: Duration },
    /// The configured bind failed (wrong credentials or not allowed).
    #[error("bind to the directory refused: LDAP result {rc} ({})", rc_name(*rc))]
    Bind { rc: u32 },
    /// A membership change that would leave a groupOfNames without members.
    #[error(
        "{group}: refusing to remove the last member of a {class} (it must keep at least one \
         member); configure membership_anchor_dn or keep a member"
    )]
    WouldEmptyGroup { group: String, class: &'static str },
    /// `verify_member_dns`: DNs to add that do not exist.
    #[error("member DNs not found in the directory: {}", missing.join("; "))]
    MembersNotFound { missing: Vec<String> },
    /// The entry is not a group this service manages.
    #[error("{dn}: not a group (objectClass groupOfNames, groupOfUniqueNames or posixGroup)")]
    NotAGroup { dn: String },
    /// A search matched more entries than `search_max_entries`.
    #[error("search: more than {limit} entries match (search_max_entries); narrow the filter")]
    TooManyEntries { limit: usize },
    /// A search filter that does not parse.
    #[error("invalid search filter")]
    BadFilter,
    /// Concurrent changes kept invalidating the membership plan.
    #[error("{group}: membership kept changing underneath; gave up after {attempts} attempts")]
    Contended { group: String, attempts: usize },
}

impl LdapOpError {
    /// Maps an `ldap3` error of operation `op` (timeouts and transport failures; a result code
    /// becomes [`LdapOpError::Result`]).
    pub fn from_ldap(op: &'static str, timeout: Duration, e: LdapError) -> Self {
        match e {
            LdapError::LdapResult { result } => LdapOpError::Result {
                op,
                rc: result.rc,
                text: result.text,
            },
            LdapError::Timeout { .. } => LdapOpError::Timeout { op, timeout },
            LdapError::FilterParsing => LdapOpError::BadFilter,
            other => LdapOpError::Unavailable {
                op,
                reason: other.to_string(),
            },
        }
    }

    /// The error broke (or may have broken) the connection: drop it rather than reuse it.
    pub fn breaks_connection(&self) -> bool {
        matches!(
            self,
            LdapOpError::Unavailable { .. } | LdapOpError::Timeout { .. }
        )
    }

    /// The LDAP result code, when the directory answered with one.
    pub fn rc(&self) -> Option<u32> {
        match self {
            LdapOpError::Result { rc, .. } | LdapOpError::Bind { rc } => Some(*rc),
            _ => None,
        }
    }
}

/// A transport failure (as opposed to a result code, a timeout or a bad filter).
pub fn is_transport(e: &LdapError) -> bool {
    !matches!(
        e,
        LdapError::LdapResult { .. } | LdapError::Timeout { .. } | LdapError::FilterParsing
    )
}

fn detail(text: &str) -> String {
    let text = text.trim();
    if text.is_empty() {
        String::new()
    } else {
        format!(": {text}")
    }
}

/// RFC 4511 name of a result code.
pub fn rc_name(rc: u32) -> &'static str {
    match rc {
        0 => "success",
        1 => "operationsError",
        2 => "protocolError",
        3 => "timeLimitExceeded",
        4 => "sizeLimitExceeded",
        8 => "strongerAuthRequired",
        10 => "referral",
        11 => "adminLimitExceeded",
        12 => "unavailableCriticalExtension",
        16 => "noSuchAttribute",
        17 => "undefinedAttributeType",
        18 => "inappropriateMatching",
        19 => "constraintViolation",
        20 => "attributeOrValueExists",
        21 => "invalidAttributeSyntax",
        32 => "noSuchObject",
        34 => "invalidDNSyntax",
        48 => "inappropriateAuthentication",
        49 => "invalidCredentials",
        50 => "insufficientAccessRights",
        51 => "busy",
        52 => "unavailable",
        53 => "unwillingToPerform",
        64 => "namingViolation",
        65 => "objectClassViolation",
        66 => "notAllowedOnNonLeaf",
        67 => "notAllowedOnRDN",
        68 => "entryAlreadyExists",
        69 => "objectClassModsProhibited",
        80 => "other",
        122 => "assertionFailed",
        _ => "unknown",
    }
}
