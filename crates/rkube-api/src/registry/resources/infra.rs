//! Cluster infrastructure groups: events, networking, storage, scheduling, coordination,
//! node and discovery.

use super::{res, status};
use crate::registry::ResourceInfo;

/// events.k8s.io/v1. Shares storage with core/v1 events, as upstream does; its field
/// selectors use this API's field names (`regarding.*`, `reportingController`).
pub(super) const EVENTS_V1: &[ResourceInfo] = &[ResourceInfo {
    short_names: &["ev"],
    fields: &[
        "regarding.kind",
        "regarding.namespace",
        "regarding.name",
        "regarding.uid",
        "regarding.apiVersion",
        "regarding.resourceVersion",
        "regarding.fieldPath",
        "reason",
        "reportingController",
        "type",
    ],
    ..res("events.k8s.io", "v1", "Event", "events", "event", true)
}];

/// networking.k8s.io/v1. ServiceCIDR and IPAddress went GA in v1.33.
pub(super) const NETWORKING_V1: &[ResourceInfo] = &[
    res(
        "networking.k8s.io",
        "v1",
        "IngressClass",
        "ingressclasses",
        "ingressclass",
        false,
    ),
    ResourceInfo {
        short_names: &["ing"],
        subresources: &[status("networking.k8s.io", "v1", "Ingress")],
        storage: "ingress",
        has_status: true,
        ..res(
            "networking.k8s.io",
            "v1",
            "Ingress",
            "ingresses",
            "ingress",
            true,
        )
    },
    ResourceInfo {
        short_names: &["ip"],
        ..res(
            "networking.k8s.io",
            "v1",
            "IPAddress",
            "ipaddresses",
            "ipaddress",
            false,
        )
    },
    ResourceInfo {
        short_names: &["netpol"],
        ..res(
            "networking.k8s.io",
            "v1",
            "NetworkPolicy",
            "networkpolicies",
            "networkpolicy",
            true,
        )
    },
    ResourceInfo {
        subresources: &[status("networking.k8s.io", "v1", "ServiceCIDR")],
        has_status: true,
        ..res(
            "networking.k8s.io",
            "v1",
            "ServiceCIDR",
            "servicecidrs",
            "servicecidr",
            false,
        )
    },
];

/// storage.k8s.io/v1.
pub(super) const STORAGE_V1: &[ResourceInfo] = &[
    res(
        "storage.k8s.io",
        "v1",
        "CSIDriver",
        "csidrivers",
        "csidriver",
        false,
    ),
    res(
        "storage.k8s.io",
        "v1",
        "CSINode",
        "csinodes",
        "csinode",
        false,
    ),
    res(
        "storage.k8s.io",
        "v1",
        "CSIStorageCapacity",
        "csistoragecapacities",
        "csistoragecapacity",
        true,
    ),
    ResourceInfo {
        short_names: &["sc"],
        ..res(
            "storage.k8s.io",
            "v1",
            "StorageClass",
            "storageclasses",
            "storageclass",
            false,
        )
    },
    ResourceInfo {
        subresources: &[status("storage.k8s.io", "v1", "VolumeAttachment")],
        has_status: true,
        ..res(
            "storage.k8s.io",
            "v1",
            "VolumeAttachment",
            "volumeattachments",
            "volumeattachment",
            false,
        )
    },
];

/// scheduling.k8s.io/v1.
pub(super) const SCHEDULING_V1: &[ResourceInfo] = &[ResourceInfo {
    short_names: &["pc"],
    ..res(
        "scheduling.k8s.io",
        "v1",
        "PriorityClass",
        "priorityclasses",
        "priorityclass",
        false,
    )
}];

/// coordination.k8s.io/v1.
pub(super) const COORDINATION_V1: &[ResourceInfo] = &[res(
    "coordination.k8s.io",
    "v1",
    "Lease",
    "leases",
    "lease",
    true,
)];

/// node.k8s.io/v1.
pub(super) const NODE_V1: &[ResourceInfo] = &[res(
    "node.k8s.io",
    "v1",
    "RuntimeClass",
    "runtimeclasses",
    "runtimeclass",
    false,
)];

/// discovery.k8s.io/v1.
pub(super) const DISCOVERY_V1: &[ResourceInfo] = &[res(
    "discovery.k8s.io",
    "v1",
    "EndpointSlice",
    "endpointslices",
    "endpointslice",
    true,
)];
