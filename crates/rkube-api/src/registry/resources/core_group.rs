//! The core group (`/api/v1`).

use super::{res, scale, status, sub, CAT_ALL, CREATE, CREATE_GET, GET_PATCH_UPDATE, PROXY};
use crate::registry::ResourceInfo;

/// core/v1, sorted by resource name.
pub(super) const CORE_V1: &[ResourceInfo] = &[
    ResourceInfo {
        verbs: CREATE,
        ..res("", "v1", "Binding", "bindings", "binding", true)
    },
    ResourceInfo {
        short_names: &["cs"],
        verbs: &["get", "list"],
        ..res(
            "",
            "v1",
            "ComponentStatus",
            "componentstatuses",
            "componentstatus",
            false,
        )
    },
    ResourceInfo {
        short_names: &["cm"],
        ..res("", "v1", "ConfigMap", "configmaps", "configmap", true)
    },
    ResourceInfo {
        short_names: &["ep"],
        storage: "services/endpoints",
        ..res("", "v1", "Endpoints", "endpoints", "endpoints", true)
    },
    ResourceInfo {
        short_names: &["ev"],
        fields: &[
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        ],
        ..res("", "v1", "Event", "events", "event", true)
    },
    ResourceInfo {
        short_names: &["limits"],
        ..res("", "v1", "LimitRange", "limitranges", "limitrange", true)
    },
    ResourceInfo {
        short_names: &["ns"],
        // Namespaces are deleted one by one (the namespace controller empties them first).
        verbs: &[
            "create", "delete", "get", "list", "patch", "update", "watch",
        ],
        subresources: &[
            sub("finalize", "", "v1", "Namespace", &["update"]),
            status("", "v1", "Namespace"),
        ],
        fields: &["status.phase"],
        has_status: true,
        ..res("", "v1", "Namespace", "namespaces", "namespace", false)
    },
    ResourceInfo {
        short_names: &["no"],
        subresources: &[
            sub("proxy", "", "v1", "NodeProxyOptions", PROXY),
            status("", "v1", "Node"),
        ],
        fields: &["spec.unschedulable"],
        storage: "minions",
        has_status: true,
        ..res("", "v1", "Node", "nodes", "node", false)
    },
    ResourceInfo {
        short_names: &["pvc"],
        subresources: &[status("", "v1", "PersistentVolumeClaim")],
        has_status: true,
        ..res(
            "",
            "v1",
            "PersistentVolumeClaim",
            "persistentvolumeclaims",
            "persistentvolumeclaim",
            true,
        )
    },
    ResourceInfo {
        short_names: &["pv"],
        subresources: &[status("", "v1", "PersistentVolume")],
        has_status: true,
        ..res(
            "",
            "v1",
            "PersistentVolume",
            "persistentvolumes",
            "persistentvolume",
            false,
        )
    },
    ResourceInfo {
        short_names: &["po"],
        categories: CAT_ALL,
        subresources: &[
            sub("attach", "", "v1", "PodAttachOptions", CREATE_GET),
            sub("binding", "", "v1", "Binding", CREATE),
            sub("ephemeralcontainers", "", "v1", "Pod", GET_PATCH_UPDATE),
            sub("eviction", "policy", "v1", "Eviction", CREATE),
            sub("exec", "", "v1", "PodExecOptions", CREATE_GET),
            sub("log", "", "v1", "Pod", &["get"]),
            sub("portforward", "", "v1", "PodPortForwardOptions", CREATE_GET),
            sub("proxy", "", "v1", "PodProxyOptions", PROXY),
            sub("resize", "", "v1", "Pod", GET_PATCH_UPDATE),
            status("", "v1", "Pod"),
        ],
        fields: &[
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.podIPs",
            "status.nominatedNodeName",
        ],
        has_status: true,
        ..res("", "v1", "Pod", "pods", "pod", true)
    },
    res("", "v1", "PodTemplate", "podtemplates", "podtemplate", true),
    ResourceInfo {
        short_names: &["rc"],
        categories: CAT_ALL,
        subresources: &[scale(), status("", "v1", "ReplicationController")],
        fields: &["status.replicas"],
        storage: "controllers",
        has_status: true,
        ..res(
            "",
            "v1",
            "ReplicationController",
            "replicationcontrollers",
            "replicationcontroller",
            true,
        )
    },
    ResourceInfo {
        short_names: &["quota"],
        subresources: &[status("", "v1", "ResourceQuota")],
        has_status: true,
        ..res(
            "",
            "v1",
            "ResourceQuota",
            "resourcequotas",
            "resourcequota",
            true,
        )
    },
    ResourceInfo {
        fields: &["type"],
        ..res("", "v1", "Secret", "secrets", "secret", true)
    },
    ResourceInfo {
        short_names: &["sa"],
        subresources: &[sub(
            "token",
            "authentication.k8s.io",
            "v1",
            "TokenRequest",
            CREATE,
        )],
        ..res(
            "",
            "v1",
            "ServiceAccount",
            "serviceaccounts",
            "serviceaccount",
            true,
        )
    },
    ResourceInfo {
        short_names: &["svc"],
        categories: CAT_ALL,
        subresources: &[
            sub("proxy", "", "v1", "ServiceProxyOptions", PROXY),
            status("", "v1", "Service"),
        ],
        fields: &["spec.clusterIP", "spec.type"],
        storage: "services/specs",
        has_status: true,
        ..res("", "v1", "Service", "services", "service", true)
    },
];
