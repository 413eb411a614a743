//! Real LDAP through the tunnel: ldapsearch and ldap3 get what they get directly from slapd.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use ldap3::{LdapConnAsync, Mod, Scope, SearchEntry};
use nowconnect_e2e::slapd::{self, Slapd};
use nowconnect_e2e::stack::{AgentOpts, HubOpts, Stack};
use std::collections::HashSet;
use std::net::SocketAddr;

async fn ldapsearch(
    addr: SocketAddr,
    filter: &'static str,
    attrs: &'static [&'static str],
) -> slapd::LdapsearchOutput {
    tokio::task::spawn_blocking(move || slapd::ldapsearch(addr, Slapd::BASE_DN, filter, attrs))
        .await
        .unwrap()
        .expect("ldapsearch")
}

async fn connect(addr: SocketAddr) -> ldap3::Ldap {
    let (conn, mut ldap) = LdapConnAsync::new(&format!("ldap://{addr}"))
        .await
        .expect("ldap connect");
    ldap3::drive!(conn);
    ldap.with_timeout(std::time::Duration::from_secs(10))
        .simple_bind(Slapd::ADMIN_DN, Slapd::ADMIN_PASSWORD)
        .await
        .expect("bind")
        .success()
        .expect("bind ok");
    ldap
}

async fn search(ldap: &mut ldap3::Ldap, filter: &str) -> Vec<(String, Vec<(String, Vec<String>)>)> {
    let (entries, _) = ldap
        .search(Slapd::BASE_DN, Scope::Subtree, filter, vec!["*"])
        .await
        .expect("search")
        .success()
        .expect("search ok");
    let mut out: Vec<_> = entries
        .into_iter()
        .map(|e| {
            let e = SearchEntry::construct(e);
            let mut attrs: Vec<_> = e.attrs.into_iter().collect();
            attrs.sort();
            (e.dn, attrs)
        })
        .collect();
    out.sort();
    out
}

async fn ldap_through_tunnel(v2: bool) {
    let slapd = Slapd::start().expect("slapd");
    let stack = Stack::start(
        &[("addomain", slapd.addr())],
        HubOpts {
            v2,
            ..HubOpts::default()
        },
        AgentOpts {
            v2,
            ..AgentOpts::default()
        },
    )
    .await;
    let tunnel = stack.hub.listener("addomain");

    // ldapsearch: byte-identical LDIF through the tunnel and directly.
    for (filter, attrs) in [
        ("(objectClass=inetOrgPerson)", &["cn", "mail", "sn"][..]),
        ("(objectClass=groupOfNames)", &["cn", "member"][..]),
        ("(uid=user07)", &[][..]),
    ] {
        let direct = ldapsearch(slapd.addr(), filter, attrs).await;
        let via = ldapsearch(tunnel, filter, attrs).await;
        assert!(direct.entries > 0, "{filter} finds entries");
        assert_eq!(via.entries, direct.entries, "{filter}: entry count");
        assert_eq!(via.stdout, direct.stdout, "{filter}: LDIF");
    }

    // ldap3: bind, search, modify through the tunnel; read back directly and through it.
    let mut via = connect(tunnel).await;
    let mut direct = connect(slapd.addr()).await;
    let users_via = search(&mut via, "(objectClass=inetOrgPerson)").await;
    assert_eq!(users_via.len(), Slapd::SEED_USERS);
    assert_eq!(
        users_via,
        search(&mut direct, "(objectClass=inetOrgPerson)").await
    );

    let dn = Slapd::user_dn(5);
    let mail = format!("changed-{}@example.org", if v2 { "v2" } else { "v1" });
    via.modify(
        &dn,
        vec![Mod::Replace("mail", HashSet::from([mail.as_str()]))],
    )
    .await
    .expect("modify")
    .success()
    .expect("modify ok");
    for ldap in [&mut via, &mut direct] {
        let found = search(ldap, "(uid=user05)").await;
        let attrs: std::collections::HashMap<_, _> = found[0].1.iter().cloned().collect();
        assert_eq!(attrs["mail"], vec![mail.clone()]);
    }

    // A user bind through the tunnel: right password works, wrong one is refused (rc 49).
    let (conn, mut user) = LdapConnAsync::new(&format!("ldap://{tunnel}"))
        .await
        .unwrap();
    ldap3::drive!(conn);
    let ok = user
        .simple_bind(&Slapd::user_dn(3), &Slapd::user_password(3))
        .await
        .unwrap();
    assert_eq!(ok.rc, 0);
    let bad = user.simple_bind(&Slapd::user_dn(3), "wrong").await.unwrap();
    assert_eq!(bad.rc, 49);
    via.unbind().await.unwrap();
    user.unbind().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ldap_through_the_tunnel_matches_direct_v2() {
    ldap_through_tunnel(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ldap_through_the_tunnel_matches_direct_v1() {
    ldap_through_tunnel(false).await;
}
