//! Data-driven tests: (kind, object, expected cells) tables, ages, quantities and selectors.
//! Per-kind tables live in `core` (core group) and `groups` (the other API groups).

mod core;
mod groups;

use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};

use super::quantity::canonical;
use super::util::human_duration;
use super::{cells, columns, format_label_selector};

/// The fixed "now" of every test.
pub(super) fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2024-06-01T12:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

/// An RFC 3339 timestamp `secs` seconds before [`now`].
pub(super) fn ago(secs: i64) -> String {
    (now() - Duration::seconds(secs))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

pub(super) const M: i64 = 60;
pub(super) const H: i64 = 3600;
pub(super) const D: i64 = 86400;

/// Metadata with a name and a creation time `secs` ago.
pub(super) fn meta(name: &str, secs: i64) -> Value {
    json!({"name": name, "namespace": "default", "creationTimestamp": ago(secs)})
}

pub(super) fn check(cases: &[(&str, &str, Value, Value)]) {
    for (i, (group, kind, obj, want)) in cases.iter().enumerate() {
        let got = cells(group, kind, obj, now());
        assert_eq!(&Value::Array(got), want, "case #{i} ({group}/{kind})");
        let want_len = want.as_array().map_or(0, Vec::len);
        assert_eq!(
            columns(group, kind).len(),
            want_len,
            "column count of case #{i} ({kind})"
        );
    }
}

#[test]
fn human_durations() {
    let cases: &[(i64, &str)] = &[
        (-5, "<invalid>"),
        (-1, "0s"),
        (0, "0s"),
        (59, "59s"),
        (119, "119s"),
        (2 * M, "2m"),
        (5 * M + 10, "5m10s"),
        (9 * M + 59, "9m59s"),
        (10 * M + 30, "10m"),
        (179 * M, "179m"),
        (3 * H, "3h"),
        (3 * H + 30 * M, "3h30m"),
        (7 * H + 59 * M, "7h59m"),
        (8 * H + 30 * M, "8h"),
        (47 * H, "47h"),
        (2 * D, "2d"),
        (2 * D + 5 * H, "2d5h"),
        (7 * D + 23 * H, "7d23h"),
        (8 * D + 5 * H, "8d"),
        (729 * D, "729d"),
        (3 * 365 * D + 120 * D, "3y120d"),
        (2 * 365 * D, "2y"),
        (9 * 365 * D, "9y"),
    ];
    for (secs, want) in cases {
        assert_eq!(human_duration(Duration::seconds(*secs)), *want, "{secs}s");
    }
}

#[test]
fn ages_and_unknown() {
    let cases = vec![
        (
            "",
            "ConfigMap",
            json!({"metadata": meta("a", 0)}),
            json!(["a", 0, "0s"]),
        ),
        (
            "",
            "ConfigMap",
            json!({"metadata": meta("a", 59)}),
            json!(["a", 0, "59s"]),
        ),
        (
            "",
            "ConfigMap",
            json!({"metadata": meta("a", 2 * M)}),
            json!(["a", 0, "2m"]),
        ),
        (
            "",
            "ConfigMap",
            json!({"metadata": meta("a", 3 * H)}),
            json!(["a", 0, "3h"]),
        ),
        (
            "",
            "ConfigMap",
            json!({"metadata": meta("a", 2 * D + 5 * H)}),
            json!(["a", 0, "2d5h"]),
        ),
        (
            "",
            "ConfigMap",
            json!({"metadata": meta("a", 3 * 365 * D + 120 * D)}),
            json!(["a", 0, "3y120d"]),
        ),
        (
            "",
            "ConfigMap",
            json!({"metadata": {"name": "a"}}),
            json!(["a", 0, "<unknown>"]),
        ),
        (
            "",
            "ConfigMap",
            json!({"metadata": {"name": "a", "creationTimestamp": "0001-01-01T00:00:00Z"}}),
            json!(["a", 0, "<unknown>"]),
        ),
    ];
    check(&cases);
}

#[test]
fn quantities() {
    let cases: &[(&str, &str)] = &[
        ("1Gi", "1Gi"),
        ("1024Mi", "1Gi"),
        ("1.5Gi", "1536Mi"),
        ("1000Mi", "1000Mi"),
        ("512", "512"),
        ("2048", "2048"),
        ("2000", "2k"),
        ("1500", "1500"),
        ("0.5", "500m"),
        ("100m", "100m"),
        ("1000m", "1"),
        ("0", "0"),
        ("0Gi", "0"),
        ("1e3", "1e3"),
        ("1500e-3", "1500e-3"),
        ("10G", "10G"),
        ("1Ki", "1Ki"),
        ("0.5Ki", "512"),
        ("not-a-quantity", "not-a-quantity"),
    ];
    for (input, want) in cases {
        assert_eq!(canonical(input), *want, "{input}");
    }
}

#[test]
fn label_selectors() {
    let cases = vec![
        (json!(null), "<none>"),
        (json!({}), "<none>"),
        (json!({"matchLabels": {"b": "2", "a": "1"}}), "a=1,b=2"),
        (
            json!({"matchExpressions": [
                {"key": "z", "operator": "Exists"},
                {"key": "y", "operator": "DoesNotExist"},
                {"key": "x", "operator": "NotIn", "values": ["b", "a"]}]}),
            "x notin (a,b),!y,z",
        ),
        (
            json!({"matchExpressions": [{"key": "x", "operator": "Bogus"}]}),
            "<error>",
        ),
        (
            json!({"matchExpressions": [{"key": "x", "operator": "In", "values": []}]}),
            "<error>",
        ),
    ];
    for (sel, want) in cases {
        assert_eq!(format_label_selector(&sel), want, "{sel}");
    }
}

/// Every kind handled here: `{}` must not panic and must give one cell per column.
#[test]
fn empty_objects_match_columns() {
    let kinds: &[(&str, &str)] = &[
        ("", "Pod"),
        ("", "PodTemplate"),
        ("", "ReplicationController"),
        ("", "Service"),
        ("", "Endpoints"),
        ("", "Node"),
        ("", "Event"),
        ("events.k8s.io", "Event"),
        ("", "Namespace"),
        ("", "Secret"),
        ("", "ServiceAccount"),
        ("", "PersistentVolume"),
        ("", "PersistentVolumeClaim"),
        ("", "ComponentStatus"),
        ("", "ConfigMap"),
        ("", "ResourceQuota"),
        ("", "LimitRange"),
        ("apps", "Deployment"),
        ("apps", "ReplicaSet"),
        ("apps", "StatefulSet"),
        ("apps", "DaemonSet"),
        ("apps", "ControllerRevision"),
        ("batch", "Job"),
        ("batch", "CronJob"),
        ("autoscaling", "HorizontalPodAutoscaler"),
        ("autoscaling", "Scale"),
        ("policy", "PodDisruptionBudget"),
        ("networking.k8s.io", "Ingress"),
        ("networking.k8s.io", "IngressClass"),
        ("networking.k8s.io", "NetworkPolicy"),
        ("networking.k8s.io", "ServiceCIDR"),
        ("networking.k8s.io", "IPAddress"),
        ("discovery.k8s.io", "EndpointSlice"),
        ("rbac.authorization.k8s.io", "Role"),
        ("rbac.authorization.k8s.io", "ClusterRole"),
        ("rbac.authorization.k8s.io", "RoleBinding"),
        ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
        ("certificates.k8s.io", "CertificateSigningRequest"),
        ("certificates.k8s.io", "ClusterTrustBundle"),
        ("coordination.k8s.io", "Lease"),
        ("coordination.k8s.io", "LeaseCandidate"),
        ("storage.k8s.io", "StorageClass"),
        ("storage.k8s.io", "VolumeAttributesClass"),
        ("storage.k8s.io", "VolumeAttachment"),
        ("storage.k8s.io", "CSINode"),
        ("storage.k8s.io", "CSIDriver"),
        ("storage.k8s.io", "CSIStorageCapacity"),
        ("scheduling.k8s.io", "PriorityClass"),
        ("node.k8s.io", "RuntimeClass"),
        (
            "admissionregistration.k8s.io",
            "MutatingWebhookConfiguration",
        ),
        (
            "admissionregistration.k8s.io",
            "ValidatingWebhookConfiguration",
        ),
        ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy"),
        (
            "admissionregistration.k8s.io",
            "ValidatingAdmissionPolicyBinding",
        ),
        ("admissionregistration.k8s.io", "MutatingAdmissionPolicy"),
        (
            "admissionregistration.k8s.io",
            "MutatingAdmissionPolicyBinding",
        ),
        ("apiextensions.k8s.io", "CustomResourceDefinition"),
        ("apiregistration.k8s.io", "APIService"),
        ("flowcontrol.apiserver.k8s.io", "FlowSchema"),
        ("flowcontrol.apiserver.k8s.io", "PriorityLevelConfiguration"),
        ("internal.apiserver.k8s.io", "StorageVersion"),
        ("storagemigration.k8s.io", "StorageVersionMigration"),
        ("resource.k8s.io", "DeviceClass"),
        ("resource.k8s.io", "ResourceClaim"),
        ("resource.k8s.io", "ResourceClaimTemplate"),
        ("resource.k8s.io", "ResourceSlice"),
        ("example.com", "Anything"),
    ];
    let odd = [
        json!({}),
        json!(null),
        json!({"metadata": null, "spec": 3, "status": "x"}),
    ];
    for (group, kind) in kinds {
        let cols = columns(group, kind);
        assert!(!cols.is_empty(), "{group}/{kind}");
        for obj in &odd {
            assert_eq!(
                cells(group, kind, obj, now()).len(),
                cols.len(),
                "{group}/{kind} {obj}"
            );
        }
        let first_name = cols
            .iter()
            .position(|c| c.name == "Name")
            .expect("Name column");
        if *kind != "Event" {
            assert_eq!(first_name, 0, "{group}/{kind}");
        }
    }
}
