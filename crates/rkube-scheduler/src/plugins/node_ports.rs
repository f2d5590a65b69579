//! `NodePorts`: a pod asking for host ports only fits a node where no pod already holds the
//! same protocol and port on an overlapping host IP (`0.0.0.0`, the default, overlaps every IP).

use std::sync::Arc;

use serde_json::Value;

use super::{array, string};
use crate::framework::{
    CycleState, FilterPlugin, NodeInfo, Plugin, PluginSet, PreFilterPlugin, PreFilterResult,
    Snapshot, Status,
};

/// Upstream's reason.
pub const ERR_REASON: &str = "node(s) didn't have free ports for the requested pod ports";

const ANY_IP: &str = "0.0.0.0";

/// The `NodePorts` plugin.
#[derive(Debug, Clone, Copy, Default)]
pub struct NodePorts;

impl Plugin for NodePorts {
    fn name(&self) -> &'static str {
        "NodePorts"
    }
}

/// The extension points `NodePorts` implements.
pub fn plugin_set() -> PluginSet {
    let p = Arc::new(NodePorts);
    PluginSet {
        pre_filter: Some(p.clone()),
        filter: Some(p),
        ..PluginSet::default()
    }
}

/// A host port claim: (host IP, protocol, port), with upstream's defaults filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPort {
    /// `hostIP`, `0.0.0.0` by default.
    pub ip: String,
    /// `protocol`, `TCP` by default.
    pub protocol: String,
    /// `hostPort`.
    pub port: i64,
}

impl HostPort {
    fn conflicts(&self, other: &HostPort) -> bool {
        self.port == other.port
            && self.protocol == other.protocol
            && (self.ip == other.ip || self.ip == ANY_IP || other.ip == ANY_IP)
    }

    /// The host ports the pod's containers ask for.
    pub fn of_pod(pod: &Value) -> Vec<HostPort> {
        let or = |s: &str, d: &str| {
            if s.is_empty() {
                d.to_string()
            } else {
                s.to_string()
            }
        };
        array(pod, "/spec/containers")
            .iter()
            .flat_map(|c| array(c, "/ports"))
            .filter_map(|p| {
                let port = p
                    .get("hostPort")
                    .and_then(Value::as_i64)
                    .filter(|&n| n > 0)?;
                Some(HostPort {
                    ip: or(string(p, "/hostIP"), ANY_IP),
                    protocol: or(string(p, "/protocol"), "TCP"),
                    port,
                })
            })
            .collect()
    }
}

impl PreFilterPlugin for NodePorts {
    /// Skips Filter for pods without host ports.
    fn pre_filter(
        &self,
        state: &mut CycleState,
        _pod: &Value,
        _snapshot: &Snapshot<'_>,
    ) -> Result<PreFilterResult, Status> {
        Ok(if state.pod().host_ports.is_empty() {
            PreFilterResult::Skip
        } else {
            PreFilterResult::AllNodes
        })
    }
}

impl FilterPlugin for NodePorts {
    fn filter(&self, state: &CycleState, _pod: &Value, node: &NodeInfo) -> Result<(), Status> {
        let wanted = &state.pod().host_ports;
        let used = node.used_ports();
        if wanted.iter().any(|w| used.iter().any(|u| w.conflicts(u))) {
            Err(Status::unschedulable([ERR_REASON]))
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(ports: Value) -> Value {
        json!({"spec": {"containers": [{"ports": ports}]}})
    }

    #[test]
    fn filter_table() {
        let cases = [
            (
                pod(json!([{"containerPort": 80}])),
                vec![pod(json!([{"hostPort": 80}]))],
                true,
            ),
            (pod(json!([{"hostPort": 80}])), vec![], true),
            (
                pod(json!([{"hostPort": 80}])),
                vec![pod(json!([{"hostPort": 80}]))],
                false,
            ),
            (
                pod(json!([{"hostPort": 80}])),
                vec![pod(json!([{"hostPort": 81}]))],
                true,
            ),
            (
                pod(json!([{"hostPort": 80, "protocol": "UDP"}])),
                vec![pod(json!([{"hostPort": 80}]))],
                true,
            ),
            (
                pod(json!([{"hostPort": 80, "protocol": "TCP"}])),
                vec![pod(json!([{"hostPort": 80}]))],
                false,
            ),
            (
                pod(json!([{"hostPort": 80, "hostIP": "10.0.0.1"}])),
                vec![pod(json!([{"hostPort": 80, "hostIP": "10.0.0.2"}]))],
                true,
            ),
            (
                pod(json!([{"hostPort": 80, "hostIP": "10.0.0.1"}])),
                vec![pod(json!([{"hostPort": 80, "hostIP": "10.0.0.1"}]))],
                false,
            ),
            (
                pod(json!([{"hostPort": 80}])),
                vec![pod(json!([{"hostPort": 80, "hostIP": "10.0.0.2"}]))],
                false,
            ),
            (
                pod(json!([{"hostPort": 80, "hostIP": "10.0.0.1"}])),
                vec![pod(json!([{"hostPort": 80}]))],
                false,
            ),
            (
                pod(json!("junk")),
                vec![pod(json!([{"hostPort": "80"}]))],
                true,
            ),
        ];
        for (p, existing, ok) in cases {
            let n = NodeInfo::new(json!({"metadata": {"name": "n"}}), existing);
            let got = NodePorts.filter(&CycleState::new(&p), &p, &n);
            assert_eq!(got.is_ok(), ok, "{p}");
            if let Err(s) = got {
                assert_eq!(s.reasons, [ERR_REASON]);
            }
        }
    }
}
