//! The `--fake-node*` options shared by `rkube server` and `rkube agent`.

use anyhow::{Context, Result};
use rkube_kubelet::fake;

#[derive(clap::Args, Debug, Clone)]
pub struct FakeNodeArgs {
    /// Register this many fake nodes (no containers: pods "run" without a runtime; for
    /// scheduler/controller tests and benchmarks)
    #[arg(long, default_value_t = 0)]
    pub fake_nodes: usize,
    /// Capacity (and allocatable) of each fake node
    #[arg(long, default_value = "cpu=8,memory=32Gi,pods=110")]
    pub fake_node_capacity: String,
    /// Extra labels on each fake node, e.g. zone=a,disk=ssd
    #[arg(long, default_value = "")]
    pub fake_node_labels: String,
    /// Taints on each fake node, e.g. dedicated=gpu:NoSchedule
    #[arg(long, default_value = "")]
    pub fake_node_taints: String,
    /// Fake node names are this prefix followed by an index
    #[arg(long, default_value = "fake-node-")]
    pub fake_node_prefix: String,
}

impl FakeNodeArgs {
    /// The fake-node configuration, or `None` when no fake nodes are asked for.
    pub fn config(&self, agent: &str) -> Result<Option<fake::Config>> {
        if self.fake_nodes == 0 {
            return Ok(None);
        }
        Ok(Some(fake::Config {
            count: self.fake_nodes,
            name_prefix: self.fake_node_prefix.clone(),
            capacity: fake::parse_capacity(&self.fake_node_capacity)
                .context("parse --fake-node-capacity")?,
            labels: fake::parse_labels(&self.fake_node_labels)
                .context("parse --fake-node-labels")?,
            taints: fake::parse_taints(&self.fake_node_taints)
                .context("parse --fake-node-taints")?,
            agent: agent.to_string(),
            ..fake::Config::default()
        }))
    }
}
