//! The slapd harness itself: instances start in parallel, serve the seed, accept writes, and
//! disappear on drop.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::TcpStream;
use std::time::Duration;

use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, Mod, Scope, SearchEntry};
use nowconnect_e2e::slapd::{Slapd, ldapsearch};
use tokio::task::spawn_blocking;

/// Every LDAP call gets one: a stuck server must fail the test, not hang it.
const OP_TIMEOUT: Duration = Duration::from_secs(5);

async fn admin_bind(slapd: &Slapd) -> Ldap {
    let settings = LdapConnSettings::new().set_conn_timeout(OP_TIMEOUT);
    let (conn, mut ldap) = LdapConnAsync::with_settings(settings, &slapd.url())
        .await
        .unwrap();
    ldap3::drive!(conn);
    ldap.with_timeout(OP_TIMEOUT)
        .simple_bind(Slapd::ADMIN_DN, Slapd::ADMIN_PASSWORD)
        .await
        .unwrap()
        .success()
        .unwrap();
    ldap
}

async fn search(ldap: &mut Ldap, base: &str, filter: &str, attrs: &[&str]) -> Vec<SearchEntry> {
    let (entries, _) = ldap
        .with_timeout(OP_TIMEOUT)
        .search(base, Scope::Subtree, filter, attrs.to_vec())
        .await
        .unwrap()
        .success()
        .unwrap();
    entries.into_iter().map(SearchEntry::construct).collect()
}

async fn start() -> Slapd {
    spawn_blocking(Slapd::start).await.unwrap().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn parallel_instances_serve_the_seed_and_accept_modifies() {
    let (a, b) = tokio::join!(start(), start());
    assert_ne!(a.port(), b.port());

    for slapd in [&a, &b] {
        let mut ldap = admin_bind(slapd).await;
        let users = search(
            &mut ldap,
            slapd.base_dn(),
            "(objectClass=inetOrgPerson)",
            &["uid"],
        )
        .await;
        assert_eq!(users.len(), Slapd::SEED_USERS, "{}", slapd.log_tail());
        let mut via_ldap3: Vec<String> = users.into_iter().map(|e| e.dn).collect();
        via_ldap3.sort();

        let (addr, base) = (slapd.addr(), slapd.base_dn().to_owned());
        let out =
            spawn_blocking(move || ldapsearch(addr, &base, "(objectClass=inetOrgPerson)", &["dn"]))
                .await
                .unwrap()
                .unwrap();
        assert_eq!(out.entries, Slapd::SEED_USERS);
        let mut via_cli = out.dns();
        via_cli.sort_unstable();
        assert_eq!(via_cli, via_ldap3);
        assert!(via_cli.contains(&Slapd::user_dn(5).as_str()));
        ldap.unbind().await.unwrap();
    }

    // A write on `a` is visible on `a`, through both clients, and not on `b`.
    let user = Slapd::user_dn(5);
    let mut ldap = admin_bind(&a).await;
    let new_mail = "barbara.liskov@example.net";
    ldap.with_timeout(OP_TIMEOUT)
        .modify(&user, vec![Mod::Replace("mail", [new_mail].into())])
        .await
        .unwrap()
        .success()
        .unwrap();
    let read = search(&mut ldap, &user, "(objectClass=*)", &["mail"]).await;
    assert_eq!(read[0].attrs["mail"], vec![new_mail.to_owned()]);

    let (addr, dn) = (a.addr(), user.clone());
    let out = spawn_blocking(move || ldapsearch(addr, &dn, "(objectClass=*)", &["mail"]))
        .await
        .unwrap()
        .unwrap();
    assert!(
        out.stdout.contains(&format!("mail: {new_mail}")),
        "{}",
        out.stdout
    );

    let mut other = admin_bind(&b).await;
    let read = search(&mut other, &user, "(objectClass=*)", &["mail"]).await;
    assert_eq!(read[0].attrs["mail"], vec!["user05@example.org".to_owned()]);
}

#[tokio::test(flavor = "multi_thread")]
async fn seed_users_bind_with_their_password() {
    let slapd = start().await;
    let settings = LdapConnSettings::new().set_conn_timeout(OP_TIMEOUT);
    let (conn, mut ldap) = LdapConnAsync::with_settings(settings, &slapd.url())
        .await
        .unwrap();
    ldap3::drive!(conn);
    let ok = ldap
        .with_timeout(OP_TIMEOUT)
        .simple_bind(&Slapd::user_dn(20), &Slapd::user_password(20))
        .await
        .unwrap();
    assert_eq!(ok.rc, 0, "{ok:?}");
    let wrong = ldap
        .with_timeout(OP_TIMEOUT)
        .simple_bind(&Slapd::user_dn(20), "wrong")
        .await
        .unwrap();
    assert_eq!(wrong.rc, 49, "invalidCredentials expected: {wrong:?}");
}

#[test]
fn drop_kills_slapd() {
    let slapd = Slapd::start().unwrap();
    let addr = slapd.addr();
    TcpStream::connect_timeout(&addr, OP_TIMEOUT).unwrap();
    drop(slapd);
    let after = TcpStream::connect_timeout(&addr, OP_TIMEOUT);
    assert!(
        after.is_err(),
        "{addr} still accepts connections after drop"
    );
}

#[test]
fn ldapsearch_reports_a_missing_base_as_an_error() {
    let slapd = Slapd::start().unwrap();
    let err = ldapsearch(
        slapd.addr(),
        "ou=nowhere,dc=example,dc=org",
        "(objectClass=*)",
        &[],
    )
    .unwrap_err();
    assert!(err.to_string().contains("No such object"), "{err:#}");
}
