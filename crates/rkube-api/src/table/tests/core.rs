//! Tables of core-group kinds: Pod, Node, Service, Endpoints(Slice), ConfigMap, Secret,
//! ServiceAccount, Namespace, Event.

use serde_json::json;

use super::{ago, check, meta, D, H, M};
use crate::table::columns;

#[test]
fn pods() {
    let spec1 = json!({"containers": [{"name": "c", "image": "nginx"}], "nodeName": "n1"});
    let running =
        json!({"ready": true, "restartCount": 0, "state": {"running": {"startedAt": ago(60)}}});
    let cases = vec![
        // Running, ready, wide cells.
        (
            "",
            "Pod",
            json!({"metadata": meta("web", 5 * M), "spec": spec1,
                "status": {"phase": "Running", "podIP": "10.0.0.5", "podIPs": [{"ip": "10.0.0.5"}],
                    "conditions": [{"type": "Ready", "status": "True"}],
                    "containerStatuses": [running]}}),
            json!(["web", "1/1", "Running", "0", "5m", "10.0.0.5", "n1", "<none>", "<none>"]),
        ),
        // Pending, creating containers, no IP, not scheduled yet.
        (
            "",
            "Pod",
            json!({"metadata": meta("p", 10), "spec": {"containers": [{"name": "a"}, {"name": "b"}]},
                "status": {"phase": "Pending", "containerStatuses": [
                    {"name": "a", "ready": false, "restartCount": 0, "state": {"waiting": {"reason": "ContainerCreating"}}},
                    {"name": "b", "ready": false, "restartCount": 0, "state": {"waiting": {"reason": "ContainerCreating"}}}]}}),
            json!([
                "p",
                "0/2",
                "ContainerCreating",
                "0",
                "10s",
                "<none>",
                "<none>",
                "<none>",
                "<none>"
            ]),
        ),
        // Pending without any status: phase defaults to Pending.
        (
            "",
            "Pod",
            json!({"metadata": meta("fresh", 1), "spec": {"containers": [{"name": "a"}]}}),
            json!(["fresh", "0/1", "Pending", "0", "1s", "<none>", "<none>", "<none>", "<none>"]),
        ),
        // CrashLoopBackOff with restarts and "(Xm ago)".
        (
            "",
            "Pod",
            json!({"metadata": meta("crash", 2 * H), "spec": spec1,
                "status": {"phase": "Running", "containerStatuses": [{"name": "c", "ready": false, "restartCount": 5,
                    "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                    "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": ago(3 * M)}}}]}}),
            json!([
                "crash",
                "0/1",
                "CrashLoopBackOff",
                "5 (3m ago)",
                "120m",
                "<none>",
                "n1",
                "<none>",
                "<none>"
            ]),
        ),
        // Completed.
        (
            "",
            "Pod",
            json!({"metadata": meta("done", D), "spec": spec1,
                "status": {"phase": "Succeeded", "containerStatuses": [{"name": "c", "ready": false, "restartCount": 0,
                    "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]}}),
            json!([
                "done",
                "0/1",
                "Completed",
                "0",
                "24h",
                "<none>",
                "n1",
                "<none>",
                "<none>"
            ]),
        ),
        // Terminated without reason: ExitCode / Signal.
        (
            "",
            "Pod",
            json!({"metadata": meta("x", 30), "spec": spec1,
                "status": {"phase": "Failed", "containerStatuses": [{"name": "c", "restartCount": 0,
                    "state": {"terminated": {"exitCode": 137}}}]}}),
            json!([
                "x",
                "0/1",
                "ExitCode:137",
                "0",
                "30s",
                "<none>",
                "n1",
                "<none>",
                "<none>"
            ]),
        ),
        (
            "",
            "Pod",
            json!({"metadata": meta("x", 30), "spec": spec1,
                "status": {"phase": "Failed", "containerStatuses": [{"name": "c", "restartCount": 0,
                    "state": {"terminated": {"exitCode": 0, "signal": 9}}}]}}),
            json!(["x", "0/1", "Signal:9", "0", "30s", "<none>", "n1", "<none>", "<none>"]),
        ),
        // Init:0/1 (init container running).
        (
            "",
            "Pod",
            json!({"metadata": meta("init", 20),
                "spec": {"initContainers": [{"name": "i"}], "containers": [{"name": "c"}]},
                "status": {"phase": "Pending",
                    "conditions": [{"type": "Initialized", "status": "False"}],
                    "initContainerStatuses": [{"name": "i", "ready": false, "restartCount": 0, "state": {"running": {}}}],
                    "containerStatuses": [{"name": "c", "ready": false, "restartCount": 0, "state": {"waiting": {"reason": "PodInitializing"}}}]}}),
            json!(["init", "0/1", "Init:0/1", "0", "20s", "<none>", "<none>", "<none>", "<none>"]),
        ),
        // Init container crash-looping, and a failed init container.
        (
            "",
            "Pod",
            json!({"metadata": meta("init", 20),
                "spec": {"initContainers": [{"name": "i"}], "containers": [{"name": "c"}]},
                "status": {"phase": "Pending",
                    "initContainerStatuses": [{"name": "i", "restartCount": 2, "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                        "lastState": {"terminated": {"exitCode": 1, "finishedAt": ago(10)}}}]}}),
            json!([
                "init",
                "0/1",
                "Init:CrashLoopBackOff",
                "2 (10s ago)",
                "20s",
                "<none>",
                "<none>",
                "<none>",
                "<none>"
            ]),
        ),
        (
            "",
            "Pod",
            json!({"metadata": meta("init", 20),
                "spec": {"initContainers": [{"name": "i"}], "containers": [{"name": "c"}]},
                "status": {"phase": "Failed",
                    "initContainerStatuses": [{"name": "i", "restartCount": 0, "state": {"terminated": {"exitCode": 3}}}]}}),
            json!([
                "init",
                "0/1",
                "Init:ExitCode:3",
                "0",
                "20s",
                "<none>",
                "<none>",
                "<none>",
                "<none>"
            ]),
        ),
        // Sidecar (restartable init container) counts in READY and total.
        (
            "",
            "Pod",
            json!({"metadata": meta("side", 60),
                "spec": {"initContainers": [{"name": "s", "restartPolicy": "Always"}], "containers": [{"name": "c"}]},
                "status": {"phase": "Running",
                    "conditions": [{"type": "Initialized", "status": "True"}, {"type": "Ready", "status": "True"}],
                    "initContainerStatuses": [{"name": "s", "ready": true, "started": true, "restartCount": 1,
                        "state": {"running": {}}, "lastState": {"terminated": {"exitCode": 1, "finishedAt": ago(30)}}}],
                    "containerStatuses": [{"name": "c", "ready": true, "restartCount": 0, "state": {"running": {}}}]}}),
            json!([
                "side",
                "2/2",
                "Running",
                "1 (30s ago)",
                "60s",
                "<none>",
                "<none>",
                "<none>",
                "<none>"
            ]),
        ),
        // Terminating.
        (
            "",
            "Pod",
            json!({"metadata": {"name": "t", "creationTimestamp": ago(H), "deletionTimestamp": ago(0)},
                "spec": spec1,
                "status": {"phase": "Running", "containerStatuses": [running]}}),
            json!([
                "t",
                "1/1",
                "Terminating",
                "0",
                "60m",
                "<none>",
                "n1",
                "<none>",
                "<none>"
            ]),
        ),
        // Completed container while another still runs: Running / NotReady.
        (
            "",
            "Pod",
            json!({"metadata": meta("mix", 60), "spec": {"containers": [{"name": "a"}, {"name": "b"}]},
                "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "False"}],
                    "containerStatuses": [
                        {"name": "a", "ready": false, "restartCount": 0, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}},
                        {"name": "b", "ready": true, "restartCount": 0, "state": {"running": {}}}]}}),
            json!(["mix", "1/2", "NotReady", "0", "60s", "<none>", "<none>", "<none>", "<none>"]),
        ),
        // Scheduling gated, nominated node and readiness gates.
        (
            "",
            "Pod",
            json!({"metadata": meta("g", 60),
                "spec": {"containers": [{"name": "a"}], "readinessGates": [{"conditionType": "x"}, {"conditionType": "y"}]},
                "status": {"phase": "Pending", "nominatedNodeName": "n2",
                    "conditions": [{"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"},
                        {"type": "x", "status": "True"}]}}),
            json!([
                "g",
                "0/1",
                "SchedulingGated",
                "0",
                "60s",
                "<none>",
                "<none>",
                "n2",
                "1/2"
            ]),
        ),
        // Evicted (status.reason wins over phase).
        (
            "",
            "Pod",
            json!({"metadata": meta("e", 60), "spec": {"containers": [{"name": "a"}]},
                "status": {"phase": "Failed", "reason": "Evicted"}}),
            json!(["e", "0/1", "Evicted", "0", "60s", "<none>", "<none>", "<none>", "<none>"]),
        ),
    ];
    check(&cases);
}

#[test]
fn pod_columns() {
    let cols = columns("", "Pod");
    let names: Vec<&str> = cols.iter().map(|c| c.name).collect();
    assert_eq!(
        names,
        [
            "Name",
            "Ready",
            "Status",
            "Restarts",
            "Age",
            "IP",
            "Node",
            "Nominated Node",
            "Readiness Gates"
        ]
    );
    let prio: Vec<i32> = cols.iter().map(|c| c.priority).collect();
    assert_eq!(prio, [0, 0, 0, 0, 0, 1, 1, 1, 1]);
    assert_eq!(cols[0].format, "name");
    let v = serde_json::to_value(&cols[0]).unwrap();
    assert_eq!(v["type"], "string");
    assert_eq!(v["format"], "name");
}

#[test]
fn nodes() {
    let info = json!({"kubeletVersion": "v1.33.0", "osImage": "Ubuntu 24.04", "kernelVersion": "6.8.0",
        "containerRuntimeVersion": "containerd://2.0.0"});
    let cases = vec![
        (
            "",
            "Node",
            json!({"metadata": {"name": "cp", "creationTimestamp": ago(3 * D),
                    "labels": {"node-role.kubernetes.io/control-plane": "", "kubernetes.io/hostname": "cp"}},
                "status": {"conditions": [{"type": "MemoryPressure", "status": "False"}, {"type": "Ready", "status": "True"}],
                    "nodeInfo": info,
                    "addresses": [{"type": "Hostname", "address": "cp"}, {"type": "InternalIP", "address": "192.168.1.2"}]}}),
            json!([
                "cp",
                "Ready",
                "control-plane",
                "3d",
                "v1.33.0",
                "192.168.1.2",
                "<none>",
                "Ubuntu 24.04",
                "6.8.0",
                "containerd://2.0.0"
            ]),
        ),
        (
            "",
            "Node",
            json!({"metadata": {"name": "w", "creationTimestamp": ago(H),
                    "labels": {"node-role.kubernetes.io/worker": "", "node-role.kubernetes.io/gpu": "", "kubernetes.io/role": "infra"}},
                "spec": {"unschedulable": true},
                "status": {"conditions": [{"type": "Ready", "status": "Unknown"}],
                    "addresses": [{"type": "ExternalIP", "address": "1.2.3.4"}]}}),
            json!([
                "w",
                "NotReady,SchedulingDisabled",
                "gpu,infra,worker",
                "60m",
                "",
                "<none>",
                "1.2.3.4",
                "<unknown>",
                "<unknown>",
                "<unknown>"
            ]),
        ),
        (
            "",
            "Node",
            json!({"metadata": {"name": "new"}}),
            json!([
                "new",
                "Unknown",
                "<none>",
                "<unknown>",
                "",
                "<none>",
                "<none>",
                "<unknown>",
                "<unknown>",
                "<unknown>"
            ]),
        ),
    ];
    check(&cases);
}

#[test]
fn services() {
    let cases = vec![
        (
            "",
            "Service",
            json!({"metadata": meta("kubernetes", D), "spec": {"type": "ClusterIP", "clusterIP": "10.96.0.1",
                "clusterIPs": ["10.96.0.1"], "ports": [{"port": 443, "protocol": "TCP", "targetPort": 6443}]}}),
            json!([
                "kubernetes",
                "ClusterIP",
                "10.96.0.1",
                "<none>",
                "443/TCP",
                "24h",
                "<none>"
            ]),
        ),
        (
            "",
            "Service",
            json!({"metadata": meta("np", 60), "spec": {"type": "NodePort", "clusterIP": "10.96.0.10",
                "selector": {"app": "web", "tier": "fe"},
                "ports": [{"port": 80, "nodePort": 30080}, {"port": 53, "protocol": "UDP"}]}}),
            json!([
                "np",
                "NodePort",
                "10.96.0.10",
                "<none>",
                "80:30080/TCP,53/UDP",
                "60s",
                "app=web,tier=fe"
            ]),
        ),
        (
            "",
            "Service",
            json!({"metadata": meta("lb", 60), "spec": {"type": "LoadBalancer", "clusterIPs": ["10.96.0.11"],
                "ports": [{"port": 80, "nodePort": 31000, "protocol": "TCP"}]}}),
            json!([
                "lb",
                "LoadBalancer",
                "10.96.0.11",
                "<pending>",
                "80:31000/TCP",
                "60s",
                "<none>"
            ]),
        ),
        (
            "",
            "Service",
            json!({"metadata": meta("lb", 60), "spec": {"type": "LoadBalancer", "clusterIPs": ["10.96.0.11"],
                "externalIPs": ["5.5.5.5"], "ports": [{"port": 80, "nodePort": 31000}]},
                "status": {"loadBalancer": {"ingress": [{"ip": "9.9.9.9"}, {"hostname": "lb.example.com"}]}}}),
            json!([
                "lb",
                "LoadBalancer",
                "10.96.0.11",
                "9.9.9.9,lb.example.com,5.5.5.5",
                "80:31000/TCP",
                "60s",
                "<none>"
            ]),
        ),
        (
            "",
            "Service",
            json!({"metadata": meta("ext", 60), "spec": {"type": "ExternalName", "externalName": "db.example.com"}}),
            json!([
                "ext",
                "ExternalName",
                "<none>",
                "db.example.com",
                "<none>",
                "60s",
                "<none>"
            ]),
        ),
        (
            "",
            "Service",
            json!({"metadata": meta("headless", 60), "spec": {"clusterIP": "None", "externalIPs": ["1.1.1.1"],
                "ports": [{"port": 5432}]}}),
            json!([
                "headless",
                "ClusterIP",
                "None",
                "1.1.1.1",
                "5432/TCP",
                "60s",
                "<none>"
            ]),
        ),
    ];
    check(&cases);
}

#[test]
fn endpoints_and_slices() {
    let cases = vec![
        (
            "",
            "Endpoints",
            json!({"metadata": meta("e", 60)}),
            json!(["e", "<none>", "60s"]),
        ),
        (
            "",
            "Endpoints",
            json!({"metadata": meta("e", 60), "subsets": [{"addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}],
                "ports": [{"port": 80}, {"port": 443}]}]}),
            json!([
                "e",
                "10.0.0.1:80,10.0.0.2:80,10.0.0.1:443 + 1 more...",
                "60s"
            ]),
        ),
        (
            "",
            "Endpoints",
            json!({"metadata": meta("e", 60), "subsets": [{"addresses": [{"ip": "fd00::1"}], "ports": [{"port": 80}]}]}),
            json!(["e", "[fd00::1]:80", "60s"]),
        ),
        (
            "discovery.k8s.io",
            "EndpointSlice",
            json!({"metadata": meta("es", 60), "addressType": "IPv4",
                "ports": [{"port": 80}, {"name": "x"}, {}, {"port": 1}],
                "endpoints": [{"addresses": ["10.0.0.1"]}, {"addresses": ["10.0.0.2"]}]}),
            json!([
                "es",
                "IPv4",
                "80,x,* + 1 more...",
                "10.0.0.1,10.0.0.2",
                "60s"
            ]),
        ),
        (
            "discovery.k8s.io",
            "EndpointSlice",
            json!({"metadata": meta("es", 60), "addressType": "IPv4"}),
            json!(["es", "IPv4", "<unset>", "<unset>", "60s"]),
        ),
    ];
    check(&cases);
}

#[test]
fn config_and_secrets() {
    let cases = vec![
        (
            "",
            "ConfigMap",
            json!({"metadata": meta("cm", 60), "data": {"a": "1", "b": "2"}, "binaryData": {"c": "AA=="}}),
            json!(["cm", 3, "60s"]),
        ),
        (
            "",
            "ConfigMap",
            json!({"metadata": meta("cm", 60)}),
            json!(["cm", 0, "60s"]),
        ),
        (
            "",
            "Secret",
            json!({"metadata": meta("s", 60), "type": "kubernetes.io/tls", "data": {"tls.crt": "", "tls.key": ""}}),
            json!(["s", "kubernetes.io/tls", 2, "60s"]),
        ),
        (
            "",
            "Secret",
            json!({"metadata": meta("s", 60)}),
            json!(["s", "Opaque", 0, "60s"]),
        ),
        (
            "",
            "ServiceAccount",
            json!({"metadata": meta("default", 60), "secrets": [{"name": "x"}]}),
            json!(["default", 1, "60s"]),
        ),
        (
            "",
            "Namespace",
            json!({"metadata": meta("ns", 60), "status": {"phase": "Terminating"}}),
            json!(["ns", "Terminating", "60s"]),
        ),
    ];
    check(&cases);
}

#[test]
fn events() {
    let cases = vec![
        (
            "",
            "Event",
            json!({"metadata": meta("web.17a", 60), "type": "Normal", "reason": "Scheduled",
                "involvedObject": {"kind": "Pod", "name": "web", "fieldPath": "spec.containers{c}"},
                "source": {"component": "default-scheduler"}, "message": " Successfully assigned \n",
                "firstTimestamp": ago(10 * M), "lastTimestamp": ago(2 * M), "count": 3}),
            json!([
                "2m",
                "Normal",
                "Scheduled",
                "pod/web",
                "spec.containers{c}",
                "default-scheduler",
                "Successfully assigned",
                "10m",
                3,
                "web.17a"
            ]),
        ),
        (
            "",
            "Event",
            json!({"metadata": meta("ev", 60), "type": "Warning", "reason": "BackOff",
                "involvedObject": {"kind": "Node"}, "eventTime": "2024-06-01T11:59:00.123456Z",
                "reportingComponent": "kubelet", "reportingInstance": "node-1",
                "series": {"count": 7, "lastObservedTime": "2024-06-01T11:59:50.000000Z"}}),
            json!([
                "10s",
                "Warning",
                "BackOff",
                "node",
                "",
                "kubelet, node-1",
                "",
                "59s",
                7,
                "ev"
            ]),
        ),
        (
            "events.k8s.io",
            "Event",
            json!({"metadata": meta("ev2", 60), "type": "Normal", "reason": "Pulled",
                "regarding": {"kind": "Pod", "name": "p"}, "note": "pulled image",
                "eventTime": ago(30), "reportingController": "kubelet", "reportingInstance": "n1"}),
            json!([
                "30s",
                "Normal",
                "Pulled",
                "pod/p",
                "",
                "kubelet, n1",
                "pulled image",
                "30s",
                1,
                "ev2"
            ]),
        ),
        (
            "",
            "Event",
            json!({}),
            json!(["<unknown>", "", "", "", "", "", "", "<unknown>", 1, ""]),
        ),
    ];
    check(&cases);
    let cols = columns("", "Event");
    let names: Vec<(&str, i32)> = cols.iter().map(|c| (c.name, c.priority)).collect();
    assert_eq!(
        names,
        [
            ("Last Seen", 0),
            ("Type", 0),
            ("Reason", 0),
            ("Object", 0),
            ("Subobject", 1),
            ("Source", 1),
            ("Message", 0),
            ("First Seen", 1),
            ("Count", 1),
            ("Name", 1)
        ]
    );
    assert_eq!(cols[9].format, "name");
    assert_eq!(columns("events.k8s.io", "Event").len(), 10);
}
