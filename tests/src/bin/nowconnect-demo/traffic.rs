//! LDAP traffic run twice, once through the tunnel (the hub's listener) and once directly against
//! slapd, and compared: with ldap3 (one connection each way, several searches on it) and with the
//! real `ldapsearch` (one connection per search).

use anyhow::{Context, ensure};
use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, Scope, SearchEntry};
use nowconnect_e2e::slapd::{self, Slapd};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

/// Every LDAP call gets one: a stuck tunnel must fail the demo, not hang it.
const OP_TIMEOUT: Duration = Duration::from_secs(10);

/// One search as the demo runs it.
#[derive(Debug, Clone)]
struct Search {
    base: String,
    scope: Scope,
    filter: &'static str,
    attrs: &'static [&'static str],
}

/// The searches, in the order they run: all users, all groups with their members, one user.
fn searches() -> Vec<Search> {
    vec![
        Search {
            base: Slapd::BASE_DN.to_owned(),
            scope: Scope::Subtree,
            filter: "(objectClass=inetOrgPerson)",
            attrs: &["*"],
        },
        Search {
            base: Slapd::BASE_DN.to_owned(),
            scope: Scope::Subtree,
            filter: "(objectClass=groupOfNames)",
            attrs: &["cn", "member"],
        },
        Search {
            base: Slapd::user_dn(7),
            scope: Scope::Base,
            filter: "(objectClass=*)",
            attrs: &["*"],
        },
    ]
}

/// One search's outcome through the tunnel and directly.
#[derive(Debug)]
pub(crate) struct Compared {
    pub(crate) client: &'static str,
    pub(crate) base: String,
    pub(crate) scope: &'static str,
    pub(crate) filter: &'static str,
    /// Entries returned through the tunnel.
    pub(crate) via_tunnel: usize,
    /// Entries returned by slapd directly.
    pub(crate) direct: usize,
    /// Attribute values in the entries returned through the tunnel.
    pub(crate) values: usize,
    /// Same entries, attributes and values (ldap3) or byte-identical LDIF (ldapsearch).
    pub(crate) identical: bool,
}

/// What the traffic produced: the comparisons and how many client connections crossed the tunnel.
#[derive(Debug)]
pub(crate) struct Traffic {
    pub(crate) compared: Vec<Compared>,
    pub(crate) tunnel_connections: usize,
}

/// An entry reduced to comparable data: DN and every attribute's values, text and binary alike.
type Entry = (String, BTreeMap<String, Vec<Vec<u8>>>);

/// Runs every search with both clients, through `tunnel` and against `direct`.
pub(crate) async fn run(tunnel: SocketAddr, direct: SocketAddr) -> anyhow::Result<Traffic> {
    let searches = searches();
    let mut compared = Vec::new();

    let mut via = bind(tunnel)
        .await
        .context("ldap3 bind through the tunnel")?;
    let mut dir = bind(direct).await.context("ldap3 bind to slapd")?;
    for s in &searches {
        let a = search(&mut via, s)
            .await
            .with_context(|| format!("ldap3 search {} through the tunnel", s.filter))?;
        let b = search(&mut dir, s)
            .await
            .with_context(|| format!("ldap3 search {} on slapd", s.filter))?;
        compared.push(Compared {
            client: "ldap3",
            base: s.base.clone(),
            scope: scope_name(s.scope),
            filter: s.filter,
            via_tunnel: a.len(),
            direct: b.len(),
            values: a
                .iter()
                .flat_map(|(_, attrs)| attrs.values())
                .map(Vec::len)
                .sum(),
            identical: a == b,
        });
    }
    via.unbind()
        .await
        .context("ldap3 unbind through the tunnel")?;
    dir.unbind().await.context("ldap3 unbind on slapd")?;

    for s in &searches {
        let a = ldapsearch(tunnel, s)
            .await
            .with_context(|| format!("ldapsearch {} through the tunnel", s.filter))?;
        let b = ldapsearch(direct, s)
            .await
            .with_context(|| format!("ldapsearch {} on slapd", s.filter))?;
        compared.push(Compared {
            client: "ldapsearch",
            base: s.base.clone(),
            scope: "sub",
            filter: s.filter,
            via_tunnel: a.entries,
            direct: b.entries,
            values: a
                .stdout
                .lines()
                .filter(|l| !l.is_empty() && !l.starts_with("dn:"))
                .count(),
            identical: a == b,
        });
    }
    for c in &compared {
        ensure!(
            c.direct > 0,
            "{} {} on slapd returned no entries: nothing to compare",
            c.client,
            c.filter
        );
    }
    Ok(Traffic {
        compared,
        tunnel_connections: 1 + searches.len(),
    })
}

async fn bind(addr: SocketAddr) -> anyhow::Result<Ldap> {
    let settings = LdapConnSettings::new().set_conn_timeout(OP_TIMEOUT);
    let (conn, mut ldap) =
        LdapConnAsync::with_settings(settings, &format!("ldap://{addr}")).await?;
    ldap3::drive!(conn);
    ldap.with_timeout(OP_TIMEOUT)
        .simple_bind(Slapd::ADMIN_DN, Slapd::ADMIN_PASSWORD)
        .await?
        .success()?;
    Ok(ldap)
}

async fn search(ldap: &mut Ldap, s: &Search) -> anyhow::Result<Vec<Entry>> {
    let (entries, _) = ldap
        .with_timeout(OP_TIMEOUT)
        .search(&s.base, s.scope, s.filter, s.attrs.to_vec())
        .await?
        .success()?;
    Ok(entries
        .into_iter()
        .map(|e| {
            let e = SearchEntry::construct(e);
            let text = e
                .attrs
                .into_iter()
                .map(|(k, v)| (k, v.into_iter().map(String::into_bytes).collect()));
            (e.dn, text.chain(e.bin_attrs).collect())
        })
        .collect())
}

/// The real `ldapsearch` (blocking, so on the blocking pool).
async fn ldapsearch(addr: SocketAddr, s: &Search) -> anyhow::Result<slapd::LdapsearchOutput> {
    let (base, filter, attrs) = (s.base.clone(), s.filter, s.attrs);
    tokio::task::spawn_blocking(move || slapd::ldapsearch(addr, &base, filter, attrs)).await?
}

fn scope_name(scope: Scope) -> &'static str {
    match scope {
        Scope::Base => "base",
        Scope::OneLevel => "one",
        Scope::Subtree => "sub",
    }
}
