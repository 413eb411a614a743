//! `security.allow_cidrs`: which client addresses a listener serves (SPEC §4). Empty = anyone.
//!
//! IPv4 networks match IPv4 peers and IPv4-mapped IPv6 peers (`::ffff:10.1.2.3`, what a
//! dual-stack `[::]` listener reports for an IPv4 client); IPv6 networks match IPv6 peers.

use crate::config::Cidr;
use std::net::IpAddr;

#[derive(Debug, Clone, Default)]
pub(crate) struct AllowList {
    /// `None` = no restriction (no entries configured).
    networks: Option<Vec<Cidr>>,
}

impl AllowList {
    /// From the validated config entries. An entry that does not parse (impossible after
    /// validation) is skipped: it narrows the list, never opens it.
    pub(crate) fn new(cidrs: &[String]) -> Self {
        AllowList {
            networks: (!cidrs.is_empty())
                .then(|| cidrs.iter().filter_map(|c| c.parse().ok()).collect()),
        }
    }

    /// Whether a client from `peer` may connect.
    pub(crate) fn permits(&self, peer: IpAddr) -> bool {
        let peer = peer.to_canonical();
        self.networks
            .as_ref()
            .is_none_or(|nets| nets.iter().any(|n| contains(n, peer)))
    }
}

fn contains(net: &Cidr, ip: IpAddr) -> bool {
    match (net.addr, ip) {
        (IpAddr::V4(n), IpAddr::V4(a)) => prefix_eq(
            u128::from(n.to_bits()),
            u128::from(a.to_bits()),
            32,
            net.prefix,
        ),
        (IpAddr::V6(n), IpAddr::V6(a)) => prefix_eq(n.to_bits(), a.to_bits(), 128, net.prefix),
        _ => false,
    }
}

/// Whether the top `prefix` of `width` bits of `a` and `b` agree.
fn prefix_eq(a: u128, b: u128, width: u32, prefix: u8) -> bool {
    let host_bits = width.saturating_sub(u32::from(prefix));
    (a ^ b).checked_shr(host_bits).unwrap_or(0) == 0
}

#[cfg(test)]
mod tests {
    use super::AllowList;

    fn list(cidrs: &[&str]) -> AllowList {
        AllowList::new(&cidrs.iter().map(|c| (*c).to_owned()).collect::<Vec<_>>())
    }

    fn ok(l: &AllowList, ip: &str) -> bool {
        l.permits(ip.parse().unwrap())
    }

    #[test]
    fn empty_allows_everyone() {
        let l = list(&[]);
        assert!(ok(&l, "203.0.113.9") && ok(&l, "2001:db8::1"));
    }

    #[test]
    fn ipv4_networks_and_mapped_peers() {
        let l = list(&["10.0.0.0/8", "192.0.2.7", "127.0.0.1/32"]);
        assert!(ok(&l, "10.255.1.2"));
        assert!(ok(&l, "192.0.2.7"));
        assert!(!ok(&l, "192.0.2.8"));
        assert!(!ok(&l, "11.0.0.1"));
        assert!(ok(&l, "127.0.0.1"));
        assert!(!ok(&l, "127.0.0.2"));
        assert!(
            ok(&l, "::ffff:10.1.2.3"),
            "IPv4-mapped IPv6 matches the IPv4 network"
        );
        assert!(!ok(&l, "::ffff:11.1.2.3"));
        assert!(!ok(&l, "::1"), "no IPv6 network configured");
    }

    #[test]
    fn ipv6_networks_and_edges() {
        let l = list(&["fd00::/8", "::1"]);
        assert!(ok(&l, "fd12:3456::1"));
        assert!(!ok(&l, "fe80::1"));
        assert!(ok(&l, "::1"));
        assert!(!ok(&l, "::2"));
        assert!(!ok(&l, "10.0.0.1"));
        let all = list(&["0.0.0.0/0", "::/0"]);
        assert!(ok(&all, "198.51.100.1") && ok(&all, "2001:db8::5"));
        let host_bits = list(&["10.1.2.3/8"]);
        assert!(
            ok(&host_bits, "10.9.9.9"),
            "host bits below the prefix are ignored"
        );
    }
}
