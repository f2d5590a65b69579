//! resolv.conf in both directions: reading the node's to find the upstream resolvers, and
//! writing a pod's for the `ClusterFirst` DNS policy with the kubelet's rules.
//!
//! Upstream choice: the nameservers of `/etc/resolv.conf`. When they are all loopback stub
//! resolvers (systemd-resolved's 127.0.0.53, dnsmasq's 127.0.1.1), the real upstreams are
//! read from `/run/systemd/resolve/resolv.conf` instead, as the kubelet and k3s do, so the
//! cluster's queries do not depend on the stub. When that file has none either, the loopback
//! stubs are kept: unlike CoreDNS in a pod, rkube-dns runs in the node's own network
//! namespace, where they answer. With no nameserver at all, the resolver library's own
//! default applies (127.0.0.1). rkube-dns never forwards to one of its own listen addresses
//! (a node whose resolv.conf points at the cluster DNS would loop).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;

/// The node's resolver configuration.
pub const RESOLV_CONF: &str = "/etc/resolv.conf";
/// What systemd-resolved's stub forwards to.
pub const SYSTEMD_RESOLV_CONF: &str = "/run/systemd/resolve/resolv.conf";

/// Upstream limits of a pod's resolv.conf (`ExpandedDNSConfig`, GA in 1.28).
const MAX_SEARCH_PATHS: usize = 32;
const MAX_SEARCH_CHARS: usize = 2048;
/// glibc aborts on longer search entries; the kubelet drops them.
const MAX_SEARCH_ENTRY: usize = 253;

/// The parts of a resolv.conf DNS cares about.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ResolvConf {
    /// `nameserver` lines that parse as addresses (a `%zone` suffix is dropped).
    pub nameservers: Vec<IpAddr>,
    /// The last `search` line, trailing dots removed.
    pub search: Vec<String>,
}

/// Parses resolv.conf text as the kubelet does: nameservers accumulate, the last `search`
/// line wins, `#` and `;` start comments.
pub fn parse(text: &str) -> ResolvConf {
    let mut out = ResolvConf::default();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        let mut fields = line.split_whitespace();
        match fields.next() {
            Some("nameserver") => {
                if let Some(ip) = fields
                    .next()
                    .and_then(|s| s.split('%').next())
                    .and_then(|s| s.parse().ok())
                {
                    out.nameservers.push(ip);
                }
            }
            Some("search") => {
                out.search = fields
                    .map(|s| s.trim_end_matches('.').to_string())
                    .filter(|s| !s.is_empty())
                    .collect();
            }
            _ => {}
        }
    }
    out
}

/// Reads and parses `path`; a missing or unreadable file is an empty configuration.
pub fn read(path: &Path) -> ResolvConf {
    std::fs::read_to_string(path)
        .map(|t| parse(&t))
        .unwrap_or_default()
}

/// Chooses upstream resolvers (port 53) from the node's resolv.conf and, when that only has
/// loopback stubs, systemd-resolved's upstream list; see the module docs. `own` are the
/// DNS server's listen addresses, never used as upstreams.
pub fn choose_upstreams(
    etc: &ResolvConf,
    systemd: &ResolvConf,
    own: &[SocketAddr],
) -> Vec<SocketAddr> {
    let usable = |conf: &ResolvConf| -> Vec<SocketAddr> {
        let mut out: Vec<SocketAddr> = Vec::new();
        for ip in &conf.nameservers {
            let addr = SocketAddr::new(*ip, 53);
            if !own.contains(&addr) && !out.contains(&addr) {
                out.push(addr);
            }
        }
        out
    };
    let from_etc = usable(etc);
    if !from_etc.is_empty() && from_etc.iter().any(|a| !a.ip().is_loopback()) {
        return from_etc;
    }
    let from_systemd: Vec<SocketAddr> = usable(systemd)
        .into_iter()
        .filter(|a| !a.ip().is_loopback())
        .collect();
    if !from_systemd.is_empty() {
        return from_systemd;
    }
    if !from_etc.is_empty() {
        return from_etc;
    }
    let default = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 53);
    if own.contains(&default) {
        Vec::new()
    } else {
        vec![default]
    }
}

/// The upstream resolvers of this node (see the module docs).
pub fn system_upstreams(own: &[SocketAddr]) -> Vec<SocketAddr> {
    choose_upstreams(
        &read(Path::new(RESOLV_CONF)),
        &read(Path::new(SYSTEMD_RESOLV_CONF)),
        own,
    )
}

/// A pod's `/etc/resolv.conf` for the `ClusterFirst` policy, as the kubelet writes it: the
/// cluster DNS as the only nameserver, the search list `<ns>.svc.<domain> svc.<domain>
/// <domain>` followed by the node's search domains (duplicates, over-long entries and
/// whatever exceeds 32 entries or 2048 characters dropped), and `options ndots:5`.
/// `host_search` is the node's search list (see [`read`] and [`ResolvConf::search`]).
pub fn pod_resolv_conf(
    namespace: &str,
    dns_ip: IpAddr,
    cluster_domain: &str,
    host_search: &[String],
) -> String {
    let domain = cluster_domain.trim_end_matches('.');
    let mut search: Vec<String> = Vec::new();
    if !domain.is_empty() {
        search.push(format!("{namespace}.svc.{domain}"));
        search.push(format!("svc.{domain}"));
        search.push(domain.to_string());
    }
    for s in host_search {
        let s = s.trim_end_matches('.');
        if !s.is_empty() && !search.iter().any(|x| x == s) {
            search.push(s.to_string());
        }
    }
    search.truncate(MAX_SEARCH_PATHS);
    search.retain(|s| s.len() <= MAX_SEARCH_ENTRY);
    while search.len() > 1 && search.join(" ").len() > MAX_SEARCH_CHARS {
        search.pop();
    }
    let mut out = format!("search {}\nnameserver {dns_ip}\n", search.join(" "));
    if search.is_empty() {
        out = format!("nameserver {dns_ip}\n");
    }
    out.push_str("options ndots:5\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn parses_like_the_kubelet() {
        let c = parse(
            "# comment\nnameserver 10.0.0.2\nnameserver fe80::1%eth0\nsearch a.example. b\n\
             ; other comment\nsearch c.example d.\noptions edns0 ndots:2\nnameserver bogus\n",
        );
        assert_eq!(
            c.nameservers,
            vec![
                "10.0.0.2".parse::<IpAddr>().unwrap(),
                "fe80::1".parse().unwrap()
            ]
        );
        assert_eq!(c.search, vec!["c.example", "d"]);
    }

    #[test]
    fn chooses_upstreams() {
        let conf = |ns: &[&str]| ResolvConf {
            nameservers: ns.iter().map(|s| s.parse().unwrap()).collect(),
            search: vec![],
        };
        let own = [sa("10.43.0.10:53")];
        let cases: &[(&str, ResolvConf, ResolvConf, Vec<SocketAddr>)] = &[
            (
                "plain resolv.conf",
                conf(&["192.168.1.1", "192.168.1.2"]),
                conf(&["9.9.9.9"]),
                vec![sa("192.168.1.1:53"), sa("192.168.1.2:53")],
            ),
            (
                "systemd stub replaced by its upstreams",
                conf(&["127.0.0.53"]),
                conf(&["192.168.1.1", "127.0.0.1"]),
                vec![sa("192.168.1.1:53")],
            ),
            (
                "stub kept when there is nothing better",
                conf(&["127.0.0.53"]),
                conf(&[]),
                vec![sa("127.0.0.53:53")],
            ),
            (
                "our own address is never an upstream",
                conf(&["10.43.0.10", "192.168.1.1"]),
                conf(&[]),
                vec![sa("192.168.1.1:53")],
            ),
            (
                "nothing configured: the resolver library's default",
                conf(&[]),
                conf(&[]),
                vec![sa("127.0.0.1:53")],
            ),
            (
                "only ourselves: the default",
                conf(&["10.43.0.10"]),
                conf(&[]),
                vec![sa("127.0.0.1:53")],
            ),
        ];
        for (what, etc, systemd, want) in cases {
            assert_eq!(&choose_upstreams(etc, systemd, &own), want, "{what}");
        }
        assert!(choose_upstreams(&conf(&[]), &conf(&[]), &[sa("127.0.0.1:53")]).is_empty());
    }

    #[test]
    fn pod_resolv_conf_cluster_first() {
        let ip: IpAddr = "10.43.0.10".parse().unwrap();
        assert_eq!(
            pod_resolv_conf("prod", ip, "cluster.local", &["example.com".into()]),
            "search prod.svc.cluster.local svc.cluster.local cluster.local example.com\n\
             nameserver 10.43.0.10\noptions ndots:5\n"
        );
        // Duplicates of the cluster entries and trailing dots are folded.
        assert_eq!(
            pod_resolv_conf("a", ip, "cluster.local.", &["cluster.local.".into()]),
            "search a.svc.cluster.local svc.cluster.local cluster.local\n\
             nameserver 10.43.0.10\noptions ndots:5\n"
        );
        // At most 32 entries.
        let many: Vec<String> = (0..40).map(|i| format!("d{i}.example")).collect();
        let conf = pod_resolv_conf("a", ip, "cluster.local", &many);
        let search = conf.lines().next().unwrap();
        assert_eq!(search.split_whitespace().count(), 1 + 32);
        // At most 2048 characters, cutting from the end.
        let long: Vec<String> = (0..20)
            .map(|i| format!("{i}.{}", "x".repeat(200)))
            .collect();
        let conf = pod_resolv_conf("a", ip, "cluster.local", &long);
        let search = conf.lines().next().unwrap().trim_start_matches("search ");
        assert!(search.len() <= 2048, "{}", search.len());
        assert!(search.starts_with("a.svc.cluster.local svc.cluster.local cluster.local 0."));
        // Entries over 253 characters are dropped.
        let conf = pod_resolv_conf("a", ip, "cluster.local", &["y".repeat(254)]);
        assert!(!conf.contains("yyy"));
    }
}
