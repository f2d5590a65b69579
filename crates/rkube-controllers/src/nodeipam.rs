//! Node IPAM (upstream's `nodeipam` controller with the range allocator): every node gets a
//! podCIDR, the next free block of `node_cidr_mask_size` bits from `cluster_cidr`
//! (10.42.0.0/16 in /24s by default). Blocks already in use are learned from the full node
//! list before anything is handed out, so a restart never gives one block to two nodes.

use std::collections::{BTreeSet, HashMap};
use std::net::Ipv4Addr;
use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::watcher;
use serde_json::json;

use crate::Context;

/// Hands out fixed-size blocks of an IPv4 range.
#[derive(Debug, Clone)]
pub struct RangeAllocator {
    base: u32,
    cluster_len: u8,
    node_len: u8,
    used: BTreeSet<u32>,
}

/// Why a range cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CidrError {
    /// Not `a.b.c.d/len` IPv4.
    #[error("invalid CIDR {0:?}")]
    Invalid(String),
    /// The node mask is not longer than the cluster mask.
    #[error("node CIDR mask size /{node} must be larger than the cluster CIDR mask /{cluster}")]
    Mask { cluster: u8, node: u8 },
}

fn parse_cidr(cidr: &str) -> Result<(u32, u8), CidrError> {
    let bad = || CidrError::Invalid(cidr.to_string());
    let (addr, len) = cidr.split_once('/').ok_or_else(bad)?;
    let addr: Ipv4Addr = addr.parse().map_err(|_| bad())?;
    let len: u8 = len.parse().map_err(|_| bad())?;
    if len > 32 {
        return Err(bad());
    }
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    Ok((u32::from(addr) & mask, len))
}

impl RangeAllocator {
    /// An allocator of `/node_len` blocks from `cluster_cidr`.
    pub fn new(cluster_cidr: &str, node_len: u8) -> Result<RangeAllocator, CidrError> {
        let (base, cluster_len) = parse_cidr(cluster_cidr)?;
        if node_len <= cluster_len || node_len > 30 {
            return Err(CidrError::Mask {
                cluster: cluster_len,
                node: node_len,
            });
        }
        Ok(RangeAllocator {
            base,
            cluster_len,
            node_len,
            used: BTreeSet::new(),
        })
    }

    /// How many node blocks the range holds.
    pub fn capacity(&self) -> u32 {
        self.blocks()
    }

    fn blocks(&self) -> u32 {
        1u32 << (self.node_len - self.cluster_len).min(31)
    }

    fn index_of(&self, cidr: &str) -> Option<u32> {
        let (addr, len) = parse_cidr(cidr).ok()?;
        if len != self.node_len {
            return None;
        }
        let offset = addr.checked_sub(self.base)?;
        let index = offset >> (32 - self.node_len);
        (index < self.blocks()).then_some(index)
    }

    /// Marks a block as used (a node already has it); blocks outside the range are ignored.
    pub fn occupy(&mut self, cidr: &str) {
        if let Some(i) = self.index_of(cidr) {
            self.used.insert(i);
        }
    }

    /// Frees a block.
    pub fn release(&mut self, cidr: &str) {
        if let Some(i) = self.index_of(cidr) {
            self.used.remove(&i);
        }
    }

    /// The lowest free block, now marked used; `None` when the range is full.
    pub fn allocate(&mut self) -> Option<String> {
        let i = (0..self.blocks()).find(|i| !self.used.contains(i))?;
        self.used.insert(i);
        let addr = Ipv4Addr::from(self.base + (i << (32 - self.node_len)));
        Some(format!("{addr}/{}", self.node_len))
    }
}

/// Runs the controller until the process ends.
pub async fn run(ctx: Arc<Context>) {
    let mut alloc =
        match RangeAllocator::new(&ctx.config.cluster_cidr, ctx.config.node_cidr_mask_size) {
            Ok(a) => a,
            Err(e) => {
                tracing::error!("node ipam disabled: {e}");
                return;
            }
        };
    let api: Api<Node> = Api::all(ctx.client.clone());
    let recorder = ctx.recorder("node-controller");
    let mut events = watcher(api.clone(), watcher::Config::default()).boxed();
    // name -> podCIDR for nodes we know; nodes waiting for the initial list to finish.
    let mut known: HashMap<String, String> = HashMap::new();
    let mut initial: Vec<Node> = Vec::new();
    let mut listing = false;
    while let Some(ev) = events.next().await {
        let batch = match ev {
            Ok(watcher::Event::Init) => {
                listing = true;
                initial.clear();
                continue;
            }
            Ok(watcher::Event::InitApply(n)) => {
                initial.push(n);
                continue;
            }
            Ok(watcher::Event::InitDone) => {
                listing = false;
                known.clear();
                alloc.used.clear();
                for n in &initial {
                    if let Some(c) = n.spec.as_ref().and_then(|s| s.pod_cidr.as_deref()) {
                        alloc.occupy(c);
                    }
                }
                std::mem::take(&mut initial)
            }
            Ok(watcher::Event::Apply(n)) if !listing => vec![n],
            Ok(watcher::Event::Delete(n)) => {
                let name = n.metadata.name.clone().unwrap_or_default();
                if let Some(c) = known.remove(&name) {
                    alloc.release(&c);
                }
                continue;
            }
            Ok(_) => continue,
            Err(e) => {
                tracing::debug!("node ipam watch: {e:#}");
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                continue;
            }
        };
        for n in batch {
            let name = n.metadata.name.clone().unwrap_or_default();
            if let Some(c) = n.spec.as_ref().and_then(|s| s.pod_cidr.clone()) {
                alloc.occupy(&c);
                known.insert(name, c);
                continue;
            }
            if n.metadata.deletion_timestamp.is_some() || known.contains_key(&name) {
                continue;
            }
            let Some(cidr) = alloc.allocate() else {
                let obj = rkube_client::events::ObjectRef {
                    api_version: "v1".into(),
                    kind: "Node".into(),
                    name: name.clone(),
                    uid: name.clone(),
                    ..Default::default()
                };
                recorder.record(
                    &obj,
                    rkube_client::events::EventType::Normal,
                    "CIDRNotAvailable",
                    &format!("Node {name} status is now: CIDRNotAvailable"),
                );
                continue;
            };
            let patch = json!({"spec": {"podCIDR": cidr, "podCIDRs": [cidr]}});
            match api
                .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                Ok(_) => {
                    tracing::debug!(node = %name, %cidr, "allocated podCIDR");
                    known.insert(name, cidr);
                }
                Err(e) => {
                    alloc.release(&cidr);
                    tracing::warn!(node = %name, "failed to set podCIDR: {e:#}");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocates_blocks_in_order_skipping_used() {
        let mut a = RangeAllocator::new("10.42.0.0/16", 24).unwrap();
        a.occupy("10.42.0.0/24");
        a.occupy("10.99.0.0/24"); // outside: ignored
        assert_eq!(a.allocate().as_deref(), Some("10.42.1.0/24"));
        assert_eq!(a.allocate().as_deref(), Some("10.42.2.0/24"));
        a.release("10.42.1.0/24");
        assert_eq!(a.allocate().as_deref(), Some("10.42.1.0/24"));
    }

    #[test]
    fn small_range_runs_out() {
        let mut a = RangeAllocator::new("10.0.0.0/23", 24).unwrap();
        assert_eq!(a.allocate().as_deref(), Some("10.0.0.0/24"));
        assert_eq!(a.allocate().as_deref(), Some("10.0.1.0/24"));
        assert_eq!(a.allocate(), None);
    }

    #[test]
    fn bad_ranges() {
        assert!(matches!(
            RangeAllocator::new("10.42.0.0/16", 16),
            Err(CidrError::Mask { .. })
        ));
        assert!(matches!(
            RangeAllocator::new("10.42.0.0", 24),
            Err(CidrError::Invalid(_))
        ));
    }
}
