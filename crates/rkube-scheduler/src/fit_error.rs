//! [`FitError`]: why no node fits a pod, rendered as upstream's `FailedScheduling` message,
//! e.g. `0/3 nodes are available: 1 node(s) had untolerated taint {k: v}, 2 Insufficient cpu.
//! preemption: 0/3 nodes are available: 1 Preemption is not helpful for scheduling, 2 No
//! preemption victims found for incoming pod.`
//!
//! Reasons are counted across nodes and the `count reason` strings sorted, as upstream does.

use std::collections::BTreeMap;
use std::fmt;

use crate::framework::{Code, Status};

/// Reason given to nodes where no preemption can help (`UnschedulableAndUnresolvable`).
pub const PREEMPTION_NOT_HELPFUL: &str = "Preemption is not helpful for scheduling";
/// Reason given to nodes where preemption might help but no lower-priority victims exist.
pub const NO_PREEMPTION_VICTIMS: &str = "No preemption victims found for incoming pod";

/// No node fits the pod.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct FitError {
    /// How many nodes were considered.
    pub num_all_nodes: usize,
    /// Each rejected node's name and the status of the filter that rejected it.
    pub node_to_status: Vec<(String, Status)>,
    /// The PreFilter message when a PreFilter rejected the pod outright; shown instead of the
    /// per-node reasons.
    pub pre_filter_msg: Option<String>,
    /// The PostFilter (preemption) message, appended after the filter reasons.
    pub post_filter_msg: Option<String>,
}

impl FitError {
    /// A fit error whose preemption suffix assumes no preemption victims were found: nodes
    /// rejected as unresolvable are "not helpful", the others have "no victims". A caller that
    /// runs real preemption replaces `post_filter_msg`.
    pub fn new(num_all_nodes: usize, node_to_status: Vec<(String, Status)>) -> FitError {
        let mut preemption = BTreeMap::new();
        for (_, s) in &node_to_status {
            let reason = match s.code {
                Code::UnschedulableAndUnresolvable => PREEMPTION_NOT_HELPFUL,
                Code::Unschedulable => NO_PREEMPTION_VICTIMS,
            };
            *preemption.entry(reason.to_string()).or_insert(0usize) += 1;
        }
        let post_filter_msg = (num_all_nodes > 0).then(|| {
            // the trailing period comes from Display, not doubled as old upstream releases did
            let inner = render(num_all_nodes, &sorted_histogram(preemption));
            format!("preemption: {}", inner.trim_end_matches('.'))
        });
        FitError {
            num_all_nodes,
            node_to_status,
            pre_filter_msg: None,
            post_filter_msg,
        }
    }

    /// Each distinct reason with the number of nodes that gave it, as `"{count} {reason}"`,
    /// sorted.
    pub fn reasons_histogram(&self) -> Vec<String> {
        let mut counts = BTreeMap::new();
        for (_, s) in &self.node_to_status {
            for r in &s.reasons {
                *counts.entry(r.clone()).or_insert(0usize) += 1;
            }
        }
        sorted_histogram(counts)
    }
}

/// The PostFilter message preemption gives when no candidate was found, from its own per-node
/// statuses: `preemption: 0/3 nodes are available: 3 No preemption victims found for
/// incoming pod` (no trailing period; [`FitError`]'s `Display` adds it).
pub fn preemption_message(num_all_nodes: usize, statuses: &[(String, Status)]) -> String {
    let mut counts = BTreeMap::new();
    for (_, s) in statuses {
        for r in &s.reasons {
            *counts.entry(r.clone()).or_insert(0usize) += 1;
        }
    }
    let inner = render(num_all_nodes, &sorted_histogram(counts));
    format!("preemption: {}", inner.trim_end_matches('.'))
}

fn sorted_histogram(counts: BTreeMap<String, usize>) -> Vec<String> {
    let mut v: Vec<String> = counts
        .into_iter()
        .map(|(reason, n)| format!("{n} {reason}"))
        .collect();
    v.sort();
    v
}

fn render(num_all_nodes: usize, histogram: &[String]) -> String {
    let mut msg = format!("0/{num_all_nodes} nodes are available:");
    if !histogram.is_empty() {
        msg.push_str(&format!(" {}.", histogram.join(", ")));
    }
    msg
}

impl fmt::Display for FitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.num_all_nodes == 0 {
            return f.write_str("no nodes available to schedule pods");
        }
        match &self.pre_filter_msg {
            Some(m) => write!(
                f,
                "0/{} nodes are available: {}.",
                self.num_all_nodes,
                m.trim_end_matches('.')
            )?,
            None => f.write_str(&render(self.num_all_nodes, &self.reasons_histogram()))?,
        }
        if let Some(m) = &self.post_filter_msg {
            write!(f, " {m}.")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(code: Code, reasons: &[&str]) -> Status {
        Status {
            code,
            reasons: reasons.iter().map(|r| r.to_string()).collect(),
        }
    }

    #[test]
    fn messages() {
        use Code::*;
        let taint = "node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }";
        let cases: Vec<(usize, Vec<Status>, &str)> = vec![
            (
                3,
                vec![
                    st(UnschedulableAndUnresolvable, &[taint]),
                    st(Unschedulable, &["Insufficient cpu"]),
                    st(Unschedulable, &["Insufficient cpu"]),
                ],
                "0/3 nodes are available: 1 node(s) had untolerated taint \
                 {node-role.kubernetes.io/control-plane: }, 2 Insufficient cpu. preemption: 0/3 \
                 nodes are available: 1 Preemption is not helpful for scheduling, 2 No \
                 preemption victims found for incoming pod.",
            ),
            (
                2,
                vec![
                    st(UnschedulableAndUnresolvable, &[taint]),
                    st(UnschedulableAndUnresolvable, &[taint]),
                ],
                "0/2 nodes are available: 2 node(s) had untolerated taint \
                 {node-role.kubernetes.io/control-plane: }. preemption: 0/2 nodes are \
                 available: 2 Preemption is not helpful for scheduling.",
            ),
            (
                5,
                vec![
                    st(Unschedulable, &["Insufficient cpu", "Insufficient memory"]),
                    st(Unschedulable, &["Insufficient memory"]),
                    st(Unschedulable, &["Insufficient memory"]),
                    st(
                        UnschedulableAndUnresolvable,
                        &["node(s) were unschedulable"],
                    ),
                    st(UnschedulableAndUnresolvable, &[taint]),
                ],
                "0/5 nodes are available: 1 Insufficient cpu, 1 node(s) had untolerated taint \
                 {node-role.kubernetes.io/control-plane: }, 1 node(s) were unschedulable, 3 \
                 Insufficient memory. preemption: 0/5 nodes are available: 2 Preemption is not \
                 helpful for scheduling, 3 No preemption victims found for incoming pod.",
            ),
            (0, vec![], "no nodes available to schedule pods"),
        ];
        for (n, statuses, want) in cases {
            let named = statuses
                .into_iter()
                .enumerate()
                .map(|(i, s)| (format!("n{i}"), s))
                .collect();
            assert_eq!(FitError::new(n, named).to_string(), want);
        }
    }
}
