//! The rkube service proxy: makes Services real on a node with nftables rules, in the style
//! of upstream kube-proxy's nftables mode (one table, `ip rkube-proxy`, that nothing else
//! touches).
//!
//! The crate is split so that the decisions are pure and the side effects narrow:
//! [`model`] reads Services and EndpointSlices into service ports and endpoints (which
//! endpoints serve cluster, local and external traffic); [`rules`] turns them into the
//! desired table contents and renders `nft` scripts (a full rewrite, or the difference from
//! what was applied last); [`nft`] runs the `nft` binary; [`sync`] watches the API and
//! applies batches of changes. [`spawn`] starts it; [`cleanup`] removes everything the
//! proxy ever created.
//!
//! There is no fallback: without a working nftables (the `nft` binary from the `nftables`
//! package, and a kernel with nf_tables) [`spawn`] fails with [`Error::Unavailable`].

pub mod model;
pub mod nft;
pub mod rules;
pub mod sync;

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;
use std::time::Duration;

pub use sync::{spawn, Handle};

/// The nftables table the proxy owns (family `ip`).
pub const TABLE: &str = "rkube-proxy";

/// Everything that can go wrong in the proxy.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// nftables cannot be used on this machine: no `nft` binary or the kernel refuses.
    #[error("nftables is unavailable: {0}")]
    Unavailable(String),
    /// `nft` rejected a transaction (nothing of it was applied).
    #[error("nft rejected the transaction: {0}")]
    Apply(String),
    /// Running `nft` failed.
    #[error("run nft: {0}")]
    Io(#[from] std::io::Error),
    /// A configuration value is wrong.
    #[error("invalid proxy configuration: {0}")]
    Config(String),
}

/// An IPv4 prefix such as `10.42.0.0/16` (host bits cleared).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ipv4Cidr {
    /// The network address.
    pub addr: Ipv4Addr,
    /// The prefix length, 0..=32.
    pub len: u8,
}

impl Ipv4Cidr {
    /// Whether `ip` is inside the prefix.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        let mask = if self.len == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(self.len))
        };
        u32::from(ip) & mask == u32::from(self.addr)
    }
}

impl FromStr for Ipv4Cidr {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let bad = || Error::Config(format!("invalid IPv4 CIDR {s:?}"));
        let (addr, len) = match s.trim().split_once('/') {
            Some((a, l)) => (a, l.parse::<u8>().map_err(|_| bad())?),
            None => (s.trim(), 32),
        };
        let addr: Ipv4Addr = addr.parse().map_err(|_| bad())?;
        if len > 32 {
            return Err(bad());
        }
        let mask = if len == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(len))
        };
        Ok(Ipv4Cidr {
            addr: Ipv4Addr::from(u32::from(addr) & mask),
            len,
        })
    }
}

impl fmt::Display for Ipv4Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

/// Which local addresses accept NodePort traffic.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum NodePortAddresses {
    /// Every local address except loopback (`fib daddr type local`), so a NodePort also
    /// answers on addresses added after the proxy started.
    #[default]
    All,
    /// Only [`Config::node_ips`] (upstream's `--nodeport-addresses primary`).
    NodeIps,
}

/// How the proxy runs on one node.
#[derive(Debug, Clone)]
pub struct Config {
    /// This node's name: endpoints whose `nodeName` is this are local (for the `Local`
    /// traffic policies).
    pub node_name: String,
    /// This node's IPv4 addresses (NodePorts with [`NodePortAddresses::NodeIps`], and
    /// LoadBalancer source ranges that include the node).
    pub node_ips: Vec<Ipv4Addr>,
    /// The pod range: traffic from outside it to a ClusterIP is masqueraded, and pod traffic
    /// to external IPs of `externalTrafficPolicy: Local` services is short-circuited. `None`
    /// turns local-traffic detection off (no ClusterIP masquerading unless `masquerade_all`).
    pub cluster_cidr: Option<Ipv4Cidr>,
    /// The ClusterIP range: packets to addresses in it that belong to no service are dropped.
    pub service_cidr: Option<Ipv4Cidr>,
    /// Masquerade all traffic sent to ClusterIPs (upstream `--masquerade-all`).
    pub masquerade_all: bool,
    /// Where NodePorts answer.
    pub nodeport_addresses: NodePortAddresses,
    /// Changes arriving closer together than this are applied in one batch.
    pub min_sync_period: Duration,
    /// How often the whole table is rewritten even without changes (repairs tampering).
    pub full_sync_period: Duration,
}

impl Config {
    /// A configuration for `node_name` with upstream-like defaults: pods in
    /// `10.42.0.0/16`, services in `10.43.0.0/16`, NodePorts on every local address,
    /// batches of 100 ms and a full rewrite every hour.
    pub fn new(node_name: impl Into<String>) -> Config {
        Config {
            node_name: node_name.into(),
            node_ips: Vec::new(),
            cluster_cidr: Some(Ipv4Cidr {
                addr: Ipv4Addr::new(10, 42, 0, 0),
                len: 16,
            }),
            service_cidr: Some(Ipv4Cidr {
                addr: Ipv4Addr::new(10, 43, 0, 0),
                len: 16,
            }),
            masquerade_all: false,
            nodeport_addresses: NodePortAddresses::All,
            min_sync_period: Duration::from_millis(100),
            full_sync_period: Duration::from_secs(3600),
        }
    }
}

/// Removes everything the proxy created (its whole table), whether or not it exists.
/// Used by `rkube proxy --cleanup` and on shutdown.
pub fn cleanup() -> Result<(), Error> {
    nft::delete_table()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_parses_and_matches() {
        let c: Ipv4Cidr = "10.42.3.4/16".parse().unwrap();
        assert_eq!(c.to_string(), "10.42.0.0/16");
        assert!(c.contains(Ipv4Addr::new(10, 42, 255, 1)));
        assert!(!c.contains(Ipv4Addr::new(10, 43, 0, 1)));
        let host: Ipv4Cidr = "1.2.3.4".parse().unwrap();
        assert_eq!(host.to_string(), "1.2.3.4/32");
        let all: Ipv4Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(Ipv4Addr::new(8, 8, 8, 8)));
        for bad in ["10.0.0.0/33", "x/8", "10.0.0/8", ""] {
            assert!(bad.parse::<Ipv4Cidr>().is_err(), "{bad}");
        }
    }
}
