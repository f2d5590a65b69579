//! Pod networking config: the CNI conflist for the node's podCIDR (bridge with host-local IPAM,
//! then portmap for hostPort), written into the runtime's CNI conf dir before pods start.
//! The runtime (containerd's CRI plugin) sets up each sandbox's loopback itself with the
//! `loopback` plugin from the same bin dir.

use std::path::{Path, PathBuf};

use serde_json::json;

use crate::error::{Error, Result};

/// The network name in the conflist.
pub const NETWORK_NAME: &str = "rkube";
/// The conflist file name (first in lexical order, the one containerd uses).
pub const CONFLIST: &str = "10-rkube.conflist";

/// What the pod network looks like on this node.
#[derive(Debug, Clone)]
pub struct CniConfig {
    /// Directory the runtime reads configs from.
    pub conf_dir: PathBuf,
    /// The bridge device (at most 15 characters), e.g. `rkube0`.
    pub bridge: String,
    /// The node's podCIDR, e.g. `10.42.0.0/24`.
    pub pod_cidr: String,
    /// Where host-local keeps its allocations.
    pub ipam_dir: PathBuf,
}

/// The conflist JSON.
pub fn conflist(cfg: &CniConfig) -> serde_json::Value {
    json!({
        "cniVersion": "1.0.0",
        "name": NETWORK_NAME,
        "plugins": [
            {
                "type": "bridge",
                "bridge": cfg.bridge,
                "isGateway": true,
                "ipMasq": true,
                "hairpinMode": true,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": cfg.pod_cidr}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "dataDir": cfg.ipam_dir,
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": true}, "snat": true},
        ],
    })
}

/// Writes the conflist (atomically, and only when it changed). Returns its path.
pub fn write(cfg: &CniConfig) -> Result<PathBuf> {
    if cfg.bridge.is_empty() || cfg.bridge.len() > 15 {
        return Err(Error::Config(format!(
            "bridge name {:?} must have 1 to 15 characters",
            cfg.bridge
        )));
    }
    if !valid_cidr(&cfg.pod_cidr) {
        return Err(Error::Config(format!("invalid podCIDR {:?}", cfg.pod_cidr)));
    }
    std::fs::create_dir_all(&cfg.conf_dir).map_err(|e| Error::io("create", &cfg.conf_dir, e))?;
    clear_stale_bridge_addresses(&cfg.bridge, &cfg.pod_cidr);
    let path = cfg.conf_dir.join(CONFLIST);
    let text = serde_json::to_string_pretty(&conflist(cfg)).unwrap_or_default();
    if std::fs::read_to_string(&path).ok().as_deref() == Some(text.as_str()) {
        return Ok(path);
    }
    let tmp = cfg.conf_dir.join(format!(".{CONFLIST}.tmp"));
    std::fs::write(&tmp, text).map_err(|e| Error::io("write", &tmp, e))?;
    std::fs::rename(&tmp, &path).map_err(|e| Error::io("rename", &path, e))?;
    Ok(path)
}

/// Removes IPv4 addresses outside `pod_cidr` from an existing pod bridge (left by an earlier
/// cluster with another podCIDR), which the bridge plugin would otherwise refuse with "already
/// has an IP address different from …".
fn clear_stale_bridge_addresses(bridge: &str, pod_cidr: &str) {
    let Ok(out) = std::process::Command::new("ip")
        .args(["-4", "-o", "addr", "show", "dev", bridge])
        .output()
    else {
        return;
    };
    if !out.status.success() {
        // No bridge yet: the bridge plugin creates it with the right address and route.
        return;
    }
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let mut words = line.split_whitespace();
        let Some(addr) = words.find(|w| *w == "inet").and_then(|_| words.next()) else {
            continue;
        };
        let ip = addr.split('/').next().unwrap_or_default();
        if cidr_contains(pod_cidr, ip) == Some(false) {
            tracing::info!(
                bridge,
                address = addr,
                podCIDR = pod_cidr,
                "removing a stale address from the pod bridge"
            );
            let _ = std::process::Command::new("ip")
                .args(["addr", "del", addr, "dev", bridge])
                .status();
        }
    }
    // The connected route to the pod network may have been replaced (a host-gw route of an
    // earlier cluster) and then lost: put it back when the bridge carries the gateway.
    let Some((net, len)) = pod_cidr.split_once('/') else {
        return;
    };
    let Ok(net) = net.parse::<std::net::Ipv4Addr>() else {
        return;
    };
    let gw = std::net::Ipv4Addr::from(u32::from(net) + 1).to_string();
    if String::from_utf8_lossy(&out.stdout).contains(&format!("inet {gw}/{len} ")) {
        let _ = std::process::Command::new("ip")
            .args([
                "route", "replace", pod_cidr, "dev", bridge, "proto", "kernel", "scope", "link",
                "src", &gw,
            ])
            .status();
    }
}

/// True for an IPv4 `a.b.c.d/len` with len ≤ 30.
pub fn valid_cidr(cidr: &str) -> bool {
    cidr_contains(cidr, "0.0.0.0").is_some()
}

/// Whether `ip` lies in `cidr` (None when either does not parse).
pub fn cidr_contains(cidr: &str, ip: &str) -> Option<bool> {
    let (net, len) = cidr.split_once('/')?;
    let net: std::net::Ipv4Addr = net.parse().ok()?;
    let len: u32 = len.parse().ok().filter(|l| *l <= 30)?;
    let ip: std::net::Ipv4Addr = ip.parse().ok()?;
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    Some(u32::from(net) & mask == u32::from(ip) & mask)
}

/// Whether a conflist is in place in `dir`.
pub fn is_configured(dir: &Path) -> bool {
    dir.join(CONFLIST).is_file()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_bridge_and_portmap() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = CniConfig {
            conf_dir: dir.path().join("net.d"),
            bridge: "rkube0".into(),
            pod_cidr: "10.42.7.0/24".into(),
            ipam_dir: dir.path().join("ipam"),
        };
        let path = write(&cfg).unwrap();
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        assert_eq!(v["plugins"][0]["type"], "bridge");
        assert_eq!(
            v["plugins"][0]["ipam"]["ranges"][0][0]["subnet"],
            "10.42.7.0/24"
        );
        assert_eq!(v["plugins"][1]["type"], "portmap");
        assert!(is_configured(&cfg.conf_dir));
        let bad = CniConfig {
            pod_cidr: "nope".into(),
            ..cfg.clone()
        };
        assert!(write(&bad).is_err());
        assert_eq!(cidr_contains("10.42.7.0/24", "10.42.7.9"), Some(true));
        assert_eq!(cidr_contains("10.42.7.0/24", "10.42.8.9"), Some(false));
    }
}
