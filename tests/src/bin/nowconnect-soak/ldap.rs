//! LDAP traffic through the `ldap` connector with ldap3: each connection binds as a random
//! seed user with its password, runs a few searches and compares every answer with the one
//! slapd gave directly at the start of the run.

use crate::tally::{Failure, Kind, Tally};
use anyhow::Context;
use ldap3::{LdapConnAsync, LdapConnSettings, LdapError, Scope, SearchEntry};
use nowconnect_e2e::slapd::Slapd;
use rand::Rng;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// One LDAP call that takes longer than this counts as hung.
const OP_TIMEOUT: Duration = Duration::from_secs(30);
const BACKOFF: Duration = Duration::from_millis(250);
/// Searches per connection.
const SEARCHES: usize = 4;
const ATTRS: [&str; 4] = ["uid", "cn", "mail", "sn"];

/// An entry reduced to comparable data.
type Entry = (String, BTreeMap<String, Vec<String>>);

/// The direct answers: per seed user (index 0 = user01) and for "all users".
#[derive(Debug)]
pub(crate) struct Expected {
    users: Vec<Vec<Entry>>,
    all: Vec<Entry>,
}

fn user_filter(n: usize) -> String {
    format!("(uid=user{n:02})")
}

const ALL_FILTER: &str = "(objectClass=inetOrgPerson)";

fn people() -> String {
    format!("ou=people,{}", Slapd::BASE_DN)
}

/// Asks slapd directly (as the admin) for every answer the workers will check.
pub(crate) async fn expected(slapd: SocketAddr) -> anyhow::Result<Expected> {
    let settings = LdapConnSettings::new().set_conn_timeout(OP_TIMEOUT);
    let (conn, mut ldap) = LdapConnAsync::with_settings(settings, &format!("ldap://{slapd}"))
        .await
        .context("ldap3 connect to slapd")?;
    ldap3::drive!(conn);
    ldap.simple_bind(Slapd::ADMIN_DN, Slapd::ADMIN_PASSWORD)
        .await?
        .success()?;
    let mut users = Vec::new();
    for n in 1..=Slapd::SEED_USERS {
        let answer = search(&mut ldap, &user_filter(n)).await?;
        anyhow::ensure!(answer.len() == 1, "slapd has no single user{n:02}");
        users.push(answer);
    }
    let all = search(&mut ldap, ALL_FILTER).await?;
    anyhow::ensure!(all.len() == Slapd::SEED_USERS, "slapd lacks seed users");
    ldap.unbind().await?;
    Ok(Expected { users, all })
}

async fn search(ldap: &mut ldap3::Ldap, filter: &str) -> Result<Vec<Entry>, LdapError> {
    let (entries, _) = ldap
        .with_timeout(OP_TIMEOUT)
        .search(&people(), Scope::Subtree, filter, ATTRS.to_vec())
        .await?
        .success()?;
    let mut out: Vec<Entry> = entries
        .into_iter()
        .map(|e| {
            let e = SearchEntry::construct(e);
            (e.dn, e.attrs.into_iter().collect())
        })
        .collect();
    out.sort();
    Ok(out)
}

/// One worker: connection after connection (`pause` between two) until `stop`.
pub(crate) async fn worker(
    addr: SocketAddr,
    expected: Arc<Expected>,
    pause: Duration,
    tally: Arc<Tally>,
    stop: CancellationToken,
) {
    while !stop.is_cancelled() {
        let start = Instant::now();
        match one_connection(addr, &expected).await {
            Ok(()) => tally.ok(Kind::Ldap),
            Err((failure, detail)) => {
                tally.failed(Kind::Ldap, failure, start, detail);
                tokio::time::sleep(BACKOFF).await;
            }
        }
        tokio::time::sleep(pause).await;
    }
}

/// Binds as a random seed user, runs [`SEARCHES`] searches (one user or all of them) and
/// unbinds; any answer unlike slapd's is an integrity failure.
async fn one_connection(addr: SocketAddr, expected: &Expected) -> Result<(), (Failure, String)> {
    let settings = LdapConnSettings::new().set_conn_timeout(OP_TIMEOUT);
    let (conn, mut ldap) = LdapConnAsync::with_settings(settings, &format!("ldap://{addr}"))
        .await
        .map_err(|e| classify("connect", e))?;
    ldap3::drive!(conn);
    let user = rand::thread_rng().gen_range(1..=Slapd::SEED_USERS);
    let bound = ldap
        .with_timeout(OP_TIMEOUT)
        .simple_bind(&Slapd::user_dn(user), &Slapd::user_password(user))
        .await
        .map_err(|e| classify("bind", e))?;
    bound.success().map_err(|e| classify("bind result", e))?;
    for _ in 0..SEARCHES {
        let pick = rand::thread_rng().gen_range(0..=Slapd::SEED_USERS);
        let (filter, want) = match pick {
            0 => (ALL_FILTER.to_owned(), &expected.all),
            n => (user_filter(n), &expected.users[n - 1]),
        };
        let got = search(&mut ldap, &filter)
            .await
            .map_err(|e| classify("search", e))?;
        if &got != want {
            let detail = format!("search {filter}: {} entries differ from slapd's", got.len());
            return Err((Failure::Integrity, detail));
        }
    }
    ldap.unbind().await.map_err(|e| classify("unbind", e))?;
    Ok(())
}

/// An LDAP result code is an answer, and a wrong one (integrity); a timeout is a hang; the
/// rest (I/O errors, closed connection) is an interruption.
fn classify(what: &str, e: LdapError) -> (Failure, String) {
    let failure = match e {
        LdapError::LdapResult { .. } => Failure::Integrity,
        LdapError::Timeout { .. } => Failure::Hung,
        _ => Failure::Interrupted,
    };
    (failure, format!("{what}: {e}"))
}
