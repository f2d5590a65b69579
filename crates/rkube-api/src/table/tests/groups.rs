//! Tables of the other groups: workloads, batch, autoscaling, policy, storage, RBAC, networking,
//! certificates, coordination, scheduling, aggregation, admission and flow control.

use serde_json::json;

use super::{ago, check, meta, D, H, M};
use crate::table::columns;

#[test]
fn workloads() {
    let template = json!({"metadata": {"labels": {"app": "web"}},
        "spec": {"containers": [{"name": "nginx", "image": "nginx:1.27"}, {"name": "side", "image": "busybox"}]}});
    let cases = vec![
        (
            "apps",
            "Deployment",
            json!({"metadata": meta("web", 3 * H), "spec": {"replicas": 3, "template": template,
                    "selector": {"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "env", "operator": "In", "values": ["prod", "dev"]}]}},
                "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}}),
            json!([
                "web",
                "2/3",
                3,
                2,
                "3h",
                "nginx,side",
                "nginx:1.27,busybox",
                "app=web,env in (dev,prod)"
            ]),
        ),
        (
            "apps",
            "Deployment",
            json!({"metadata": meta("d", 60), "spec": {"selector": {}}}),
            json!(["d", "0/1", 0, 0, "60s", "", "", ""]),
        ),
        (
            "apps",
            "ReplicaSet",
            json!({"metadata": meta("web-abc", 60), "spec": {"replicas": 2, "template": template,
                    "selector": {"matchLabels": {"app": "web", "pod-template-hash": "abc"}}},
                "status": {"replicas": 2, "readyReplicas": 1}}),
            json!([
                "web-abc",
                2,
                2,
                1,
                "60s",
                "nginx,side",
                "nginx:1.27,busybox",
                "app=web,pod-template-hash=abc"
            ]),
        ),
        (
            "",
            "ReplicationController",
            json!({"metadata": meta("rc", 60), "spec": {"replicas": 2, "selector": {"app": "x"}}, "status": {"replicas": 1}}),
            json!(["rc", 2, 1, 0, "60s", "", "", "app=x"]),
        ),
        (
            "apps",
            "StatefulSet",
            json!({"metadata": meta("db", 60), "spec": {"replicas": 3, "template": template}, "status": {"readyReplicas": 3}}),
            json!(["db", "3/3", "60s", "nginx,side", "nginx:1.27,busybox"]),
        ),
        (
            "apps",
            "DaemonSet",
            json!({"metadata": meta("ds", 60),
                "spec": {"selector": {"matchLabels": {"app": "ds"}},
                    "template": {"spec": {"nodeSelector": {"kubernetes.io/os": "linux"}, "containers": [{"name": "a", "image": "b"}]}}},
                "status": {"desiredNumberScheduled": 2, "currentNumberScheduled": 2, "numberReady": 1,
                    "updatedNumberScheduled": 2, "numberAvailable": 1}}),
            json!([
                "ds",
                2,
                2,
                1,
                2,
                1,
                "kubernetes.io/os=linux",
                "60s",
                "a",
                "b",
                "app=ds"
            ]),
        ),
        (
            "apps",
            "ControllerRevision",
            json!({"metadata": {"name": "ds-123", "creationTimestamp": ago(60),
                    "ownerReferences": [{"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "DS", "controller": true}]},
                "revision": 2}),
            json!(["ds-123", "daemonset.apps/DS", 2, "60s"]),
        ),
        (
            "apps",
            "ControllerRevision",
            json!({"metadata": meta("cr", 60), "revision": 1}),
            json!(["cr", "<none>", 1, "60s"]),
        ),
    ];
    check(&cases);
    let cols: Vec<(&str, i32)> = columns("apps", "Deployment")
        .iter()
        .map(|c| (c.name, c.priority))
        .collect();
    assert_eq!(
        cols,
        [
            ("Name", 0),
            ("Ready", 0),
            ("Up-to-date", 0),
            ("Available", 0),
            ("Age", 0),
            ("Containers", 1),
            ("Images", 1),
            ("Selector", 1)
        ]
    );
}

#[test]
fn jobs() {
    let job_template = json!({"spec": {"containers": [{"name": "pi", "image": "perl"}]}});
    let sel = json!({"matchLabels": {"batch.kubernetes.io/controller-uid": "u1"}});
    let cases = vec![
        (
            "batch",
            "Job",
            json!({"metadata": meta("pi", 10 * M), "spec": {"completions": 1, "parallelism": 1, "template": job_template, "selector": sel},
                "status": {"succeeded": 1, "startTime": ago(10 * M), "completionTime": ago(10 * M - 35),
                    "conditions": [{"type": "SuccessCriteriaMet", "status": "True"}, {"type": "Complete", "status": "True"}]}}),
            json!([
                "pi",
                "Complete",
                "1/1",
                "35s",
                "10m",
                "pi",
                "perl",
                "batch.kubernetes.io/controller-uid=u1"
            ]),
        ),
        (
            "batch",
            "Job",
            json!({"metadata": meta("run", 5 * M), "spec": {"parallelism": 3},
                "status": {"startTime": ago(4 * M), "active": 3}}),
            json!(["run", "Running", "0/1 of 3", "4m", "5m", "", "", "<none>"]),
        ),
        (
            "batch",
            "Job",
            json!({"metadata": meta("f", 60), "spec": {"completions": 2},
                "status": {"conditions": [{"type": "Failed", "status": "True"}]}}),
            json!(["f", "Failed", "0/2", "", "60s", "", "", "<none>"]),
        ),
        (
            "batch",
            "Job",
            json!({"metadata": meta("s", 60), "spec": {"completions": 1, "suspend": true},
                "status": {"conditions": [{"type": "Suspended", "status": "True"}]}}),
            json!(["s", "Suspended", "0/1", "", "60s", "", "", "<none>"]),
        ),
        (
            "batch",
            "CronJob",
            json!({"metadata": meta("cj", 2 * D), "spec": {"schedule": "*/5 * * * *", "suspend": false,
                    "jobTemplate": {"spec": {"template": job_template}}},
                "status": {"active": [{"name": "cj-1"}], "lastScheduleTime": ago(3 * M)}}),
            json!([
                "cj",
                "*/5 * * * *",
                "<none>",
                "False",
                1,
                "3m",
                "2d",
                "pi",
                "perl",
                "<none>"
            ]),
        ),
        (
            "batch",
            "CronJob",
            json!({"metadata": meta("cj", 60), "spec": {"schedule": "0 0 * * *", "timeZone": "Etc/UTC", "suspend": true}}),
            json!([
                "cj",
                "0 0 * * *",
                "Etc/UTC",
                "True",
                0,
                "<none>",
                "60s",
                "",
                "",
                "<none>"
            ]),
        ),
    ];
    check(&cases);
}

#[test]
fn autoscaling_and_policy() {
    let cases = vec![
        (
            "autoscaling",
            "HorizontalPodAutoscaler",
            json!({"metadata": meta("h", 60), "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"},
                    "minReplicas": 2, "maxReplicas": 10,
                    "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}}]},
                "status": {"currentReplicas": 3, "currentMetrics": [{"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 12}}}]}}),
            json!(["h", "Deployment/web", "cpu: 12%/50%", "2", 10, 3, "60s"]),
        ),
        (
            "autoscaling",
            "HorizontalPodAutoscaler",
            json!({"metadata": meta("h1", 60), "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"},
                "maxReplicas": 5, "targetCPUUtilizationPercentage": 70}}),
            json!([
                "h1",
                "Deployment/web",
                "cpu: <unknown>/70%",
                "1",
                5,
                0,
                "60s"
            ]),
        ),
        (
            "autoscaling",
            "HorizontalPodAutoscaler",
            json!({"metadata": meta("h2", 60), "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "w"}, "maxReplicas": 5,
                "metrics": [
                    {"type": "Resource", "resource": {"name": "memory", "target": {"type": "AverageValue", "averageValue": "1024Mi"}}},
                    {"type": "Pods", "pods": {"metric": {"name": "qps"}, "target": {"type": "AverageValue", "averageValue": "1k"}}},
                    {"type": "External", "external": {"metric": {"name": "q"}, "target": {"type": "Value", "value": "10"}}}]}}),
            json!([
                "h2",
                "Deployment/w",
                "memory: <unknown>/1Gi, <unknown>/1k + 1 more...",
                "1",
                5,
                0,
                "60s"
            ]),
        ),
        (
            "policy",
            "PodDisruptionBudget",
            json!({"metadata": meta("pdb", 60), "spec": {"minAvailable": 2}, "status": {"disruptionsAllowed": 1}}),
            json!(["pdb", "2", "N/A", 1, "60s"]),
        ),
        (
            "policy",
            "PodDisruptionBudget",
            json!({"metadata": meta("pdb", 60), "spec": {"maxUnavailable": "25%"}}),
            json!(["pdb", "N/A", "25%", 0, "60s"]),
        ),
    ];
    check(&cases);
}

#[test]
fn storage() {
    let cases = vec![
        (
            "",
            "PersistentVolume",
            json!({"metadata": meta("pv1", 60), "spec": {"capacity": {"storage": "1024Mi"},
                    "accessModes": ["ReadWriteMany", "ReadWriteOnce"], "persistentVolumeReclaimPolicy": "Delete",
                    "claimRef": {"namespace": "default", "name": "data"}, "storageClassName": "standard"},
                "status": {"phase": "Bound"}}),
            json!([
                "pv1",
                "1Gi",
                "RWO,RWX",
                "Delete",
                "Bound",
                "default/data",
                "standard",
                "<unset>",
                "",
                "60s",
                "Filesystem"
            ]),
        ),
        (
            "",
            "PersistentVolumeClaim",
            json!({"metadata": meta("data", 60), "spec": {"volumeName": "pv1", "storageClassName": "standard",
                    "resources": {"requests": {"storage": "1Gi"}}},
                "status": {"phase": "Bound", "capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"]}}),
            json!([
                "data",
                "Bound",
                "pv1",
                "1Gi",
                "RWO",
                "standard",
                "<unset>",
                "60s",
                "Filesystem"
            ]),
        ),
        (
            "",
            "PersistentVolumeClaim",
            json!({"metadata": meta("p", 60), "spec": {"resources": {"requests": {"storage": "1Gi"}}}}),
            json!([
                "p",
                "Pending",
                "",
                "",
                "",
                "",
                "<unset>",
                "60s",
                "Filesystem"
            ]),
        ),
        (
            "storage.k8s.io",
            "StorageClass",
            json!({"metadata": {"name": "standard", "creationTimestamp": ago(60),
                    "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
                "provisioner": "rancher.io/local-path", "volumeBindingMode": "WaitForFirstConsumer"}),
            json!([
                "standard (default)",
                "rancher.io/local-path",
                "Delete",
                "WaitForFirstConsumer",
                false,
                "60s"
            ]),
        ),
        (
            "storage.k8s.io",
            "CSIDriver",
            json!({"metadata": meta("csi", 60), "spec": {"attachRequired": false}}),
            json!([
                "csi",
                false,
                false,
                false,
                "<unset>",
                false,
                "Persistent",
                "60s"
            ]),
        ),
        (
            "",
            "ResourceQuota",
            json!({"metadata": meta("q", 60), "status": {
                "hard": {"pods": "10", "requests.cpu": "1", "limits.memory": "2Gi", "limits.cpu": "2"},
                "used": {"pods": "3", "requests.cpu": "500m", "limits.memory": "512Mi"}}}),
            json!([
                "q",
                "pods: 3/10, requests.cpu: 500m/1",
                "limits.cpu: 0/2, limits.memory: 512Mi/2Gi",
                "60s"
            ]),
        ),
    ];
    check(&cases);
}

#[test]
fn rbac_and_others() {
    let cases = vec![
        (
            "rbac.authorization.k8s.io",
            "RoleBinding",
            json!({"metadata": meta("rb", 60), "roleRef": {"kind": "Role", "name": "reader"},
                "subjects": [{"kind": "User", "name": "alice"}, {"kind": "User", "name": "bob"},
                    {"kind": "Group", "name": "devs"}, {"kind": "ServiceAccount", "namespace": "kube-system", "name": "sa"}]}),
            json!(["rb", "Role/reader", "60s", "alice, bob", "devs", "kube-system/sa"]),
        ),
        (
            "rbac.authorization.k8s.io",
            "ClusterRole",
            json!({"metadata": {"name": "admin", "creationTimestamp": "2024-05-01T10:00:00Z"}}),
            json!(["admin", "2024-05-01T10:00:00Z"]),
        ),
        ("", "LimitRange", json!({"metadata": {"name": "lr"}}), json!(["lr", "0001-01-01T00:00:00Z"])),
        (
            "example.com",
            "Widget",
            json!({"metadata": meta("w", 90)}),
            json!(["w", "90s"]),
        ),
        (
            "networking.k8s.io",
            "Ingress",
            json!({"metadata": meta("ing", 60), "spec": {"ingressClassName": "nginx",
                    "rules": [{"host": "a.com"}, {"host": "b.com"}, {}, {"host": "c.com"}, {"host": "d.com"}],
                    "tls": [{"hosts": ["a.com"]}]},
                "status": {"loadBalancer": {"ingress": [{"ip": "1.2.3.4"}]}}}),
            json!(["ing", "nginx", "a.com,b.com,c.com + 2 more...", "1.2.3.4", "80, 443", "60s"]),
        ),
        (
            "networking.k8s.io",
            "NetworkPolicy",
            json!({"metadata": meta("np", 60), "spec": {"podSelector": {}}}),
            json!(["np", "<none>", "60s"]),
        ),
        (
            "networking.k8s.io",
            "IPAddress",
            json!({"metadata": meta("10.96.0.1", 60), "spec": {"parentRef": {"group": "", "resource": "services",
                "namespace": "default", "name": "kubernetes"}}}),
            json!(["10.96.0.1", "services/default/kubernetes"]),
        ),
        (
            "certificates.k8s.io",
            "CertificateSigningRequest",
            json!({"metadata": meta("csr", 60), "spec": {"signerName": "kubernetes.io/kube-apiserver-client",
                    "username": "alice", "expirationSeconds": 86400},
                "status": {"conditions": [{"type": "Approved", "status": "True"}], "certificate": "LS0t"}}),
            json!(["csr", "60s", "kubernetes.io/kube-apiserver-client", "alice", "24h", "Approved,Issued"]),
        ),
        (
            "coordination.k8s.io",
            "Lease",
            json!({"metadata": meta("kube-scheduler", 60), "spec": {"holderIdentity": "cp_123"}}),
            json!(["kube-scheduler", "cp_123", "60s"]),
        ),
        (
            "scheduling.k8s.io",
            "PriorityClass",
            json!({"metadata": meta("system-node-critical", 60), "value": 2000001000}),
            json!(["system-node-critical", 2000001000, false, "60s", "PreemptLowerPriority"]),
        ),
        (
            "apiregistration.k8s.io",
            "APIService",
            json!({"metadata": meta("v1.apps", 60), "status": {"conditions": [{"type": "Available", "status": "True"}]}}),
            json!(["v1.apps", "Local", "True", "60s"]),
        ),
        (
            "apiregistration.k8s.io",
            "APIService",
            json!({"metadata": meta("v1beta1.metrics.k8s.io", 60),
                "spec": {"service": {"namespace": "kube-system", "name": "metrics-server"}},
                "status": {"conditions": [{"type": "Available", "status": "False", "reason": "MissingEndpoints"}]}}),
            json!(["v1beta1.metrics.k8s.io", "kube-system/metrics-server", "False (MissingEndpoints)", "60s"]),
        ),
        (
            "admissionregistration.k8s.io",
            "ValidatingAdmissionPolicyBinding",
            json!({"metadata": meta("b", 60), "spec": {"policyName": "p", "paramRef": {"name": "cfg"}}}),
            json!(["b", "p", "*/cfg", "60s"]),
        ),
        (
            "admissionregistration.k8s.io",
            "ValidatingAdmissionPolicyBinding",
            json!({"metadata": meta("b", 60), "spec": {"policyName": "p", "paramRef": {"selector": {"matchLabels": {"a": "b"}}}}}),
            json!(["b", "p", "&LabelSelector{MatchLabels:map[string]string{a: b,},MatchExpressions:[]LabelSelectorRequirement{},}", "60s"]),
        ),
        (
            "flowcontrol.apiserver.k8s.io",
            "PriorityLevelConfiguration",
            json!({"metadata": meta("workload-low", 60), "spec": {"type": "Limited", "limited": {
                "nominalConcurrencyShares": 100, "limitResponse": {"type": "Queue",
                    "queuing": {"queues": 128, "handSize": 6, "queueLengthLimit": 50}}}}}),
            json!(["workload-low", "Limited", 100, 128, 6, 50, "60s"]),
        ),
        (
            "flowcontrol.apiserver.k8s.io",
            "PriorityLevelConfiguration",
            json!({"metadata": meta("exempt", 60), "spec": {"type": "Exempt"}}),
            json!(["exempt", "Exempt", "<none>", "<none>", "<none>", "<none>", "60s"]),
        ),
    ];
    check(&cases);
    let rb: Vec<(&str, i32)> = columns("rbac.authorization.k8s.io", "RoleBinding")
        .iter()
        .map(|c| (c.name, c.priority))
        .collect();
    assert_eq!(
        rb,
        [
            ("Name", 0),
            ("Role", 0),
            ("Age", 0),
            ("Users", 1),
            ("Groups", 1),
            ("ServiceAccounts", 1)
        ]
    );
    let role = columns("rbac.authorization.k8s.io", "Role");
    assert_eq!((role[1].name, role[1].type_), ("Created At", "date"));
}
