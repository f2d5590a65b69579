//! Workload groups: apps, autoscaling, batch and policy.

use super::{res, scale, status, CAT_ALL};
use crate::registry::ResourceInfo;

/// apps/v1.
pub(super) const APPS_V1: &[ResourceInfo] = &[
    res(
        "apps",
        "v1",
        "ControllerRevision",
        "controllerrevisions",
        "controllerrevision",
        true,
    ),
    ResourceInfo {
        short_names: &["ds"],
        categories: CAT_ALL,
        subresources: &[status("apps", "v1", "DaemonSet")],
        has_status: true,
        ..res("apps", "v1", "DaemonSet", "daemonsets", "daemonset", true)
    },
    ResourceInfo {
        short_names: &["deploy"],
        categories: CAT_ALL,
        subresources: &[scale(), status("apps", "v1", "Deployment")],
        has_status: true,
        ..res(
            "apps",
            "v1",
            "Deployment",
            "deployments",
            "deployment",
            true,
        )
    },
    // Upstream's ReplicaSet strategy computes `status.replicas`, but apps/v1 registers no
    // field-label conversion for it, so the API rejects that selector; so do we.
    ResourceInfo {
        short_names: &["rs"],
        categories: CAT_ALL,
        subresources: &[scale(), status("apps", "v1", "ReplicaSet")],
        has_status: true,
        ..res(
            "apps",
            "v1",
            "ReplicaSet",
            "replicasets",
            "replicaset",
            true,
        )
    },
    ResourceInfo {
        short_names: &["sts"],
        categories: CAT_ALL,
        subresources: &[scale(), status("apps", "v1", "StatefulSet")],
        has_status: true,
        ..res(
            "apps",
            "v1",
            "StatefulSet",
            "statefulsets",
            "statefulset",
            true,
        )
    },
];

/// autoscaling/v2, the preferred version.
pub(super) const AUTOSCALING_V2: &[ResourceInfo] = &[ResourceInfo {
    short_names: &["hpa"],
    categories: CAT_ALL,
    subresources: &[status("autoscaling", "v2", "HorizontalPodAutoscaler")],
    storage: "horizontalpodautoscalers",
    has_status: true,
    ..res(
        "autoscaling",
        "v2",
        "HorizontalPodAutoscaler",
        "horizontalpodautoscalers",
        "horizontalpodautoscaler",
        true,
    )
}];

/// autoscaling/v1; shares its storage with v2.
pub(super) const AUTOSCALING_V1: &[ResourceInfo] = &[ResourceInfo {
    short_names: &["hpa"],
    categories: CAT_ALL,
    subresources: &[status("autoscaling", "v1", "HorizontalPodAutoscaler")],
    storage: "horizontalpodautoscalers",
    has_status: true,
    ..res(
        "autoscaling",
        "v1",
        "HorizontalPodAutoscaler",
        "horizontalpodautoscalers",
        "horizontalpodautoscaler",
        true,
    )
}];

/// batch/v1.
pub(super) const BATCH_V1: &[ResourceInfo] = &[
    ResourceInfo {
        short_names: &["cj"],
        categories: CAT_ALL,
        subresources: &[status("batch", "v1", "CronJob")],
        has_status: true,
        ..res("batch", "v1", "CronJob", "cronjobs", "cronjob", true)
    },
    ResourceInfo {
        categories: CAT_ALL,
        subresources: &[status("batch", "v1", "Job")],
        fields: &["status.successful"],
        has_status: true,
        ..res("batch", "v1", "Job", "jobs", "job", true)
    },
];

/// policy/v1.
pub(super) const POLICY_V1: &[ResourceInfo] = &[ResourceInfo {
    short_names: &["pdb"],
    subresources: &[status("policy", "v1", "PodDisruptionBudget")],
    has_status: true,
    ..res(
        "policy",
        "v1",
        "PodDisruptionBudget",
        "poddisruptionbudgets",
        "poddisruptionbudget",
        true,
    )
}];
