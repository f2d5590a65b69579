//! Version, discovery (kubectl's view and the raw formats), health endpoints, default namespaces.

use rkube_e2e::*;
use serde_json::Value;

#[test]
fn version_reports_v1_33() {
    let s = Server::start_default();
    let v: Value = serde_json::from_str(&s.must(&["version", "-o", "json"])).unwrap();
    let git = v["serverVersion"]["gitVersion"]
        .as_str()
        .unwrap_or_default();
    assert!(git.starts_with("v1.33."), "gitVersion {git:?}");
    for field in [
        "major",
        "minor",
        "gitVersion",
        "gitCommit",
        "gitTreeState",
        "buildDate",
        "goVersion",
        "compiler",
        "platform",
    ] {
        assert!(
            v["serverVersion"][field].is_string(),
            "/version lacks {field}: {v}"
        );
    }
    // The dispatcher picks the kubectl matching the server.
    assert_eq!(v["clientVersion"]["minor"], "33", "dispatcher chose: {v}");
    let plain = s.must(&["version"]);
    assert!(plain.contains("Server Version: v1.33."), "{plain}");
}

#[test]
fn api_resources_have_upstream_short_names() {
    let s = Server::start_default();
    let out = s.must(&["api-resources"]);
    let rows = table(&out);
    assert_eq!(
        rows[0],
        ["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"],
        "{out}"
    );
    let expect = [
        ("po", "pods", "v1", "true", "Pod"),
        ("svc", "services", "v1", "true", "Service"),
        ("ns", "namespaces", "v1", "false", "Namespace"),
        ("no", "nodes", "v1", "false", "Node"),
        ("cm", "configmaps", "v1", "true", "ConfigMap"),
        ("sa", "serviceaccounts", "v1", "true", "ServiceAccount"),
        ("deploy", "deployments", "apps/v1", "true", "Deployment"),
        ("rs", "replicasets", "apps/v1", "true", "ReplicaSet"),
        (
            "rc",
            "replicationcontrollers",
            "v1",
            "true",
            "ReplicationController",
        ),
        ("ds", "daemonsets", "apps/v1", "true", "DaemonSet"),
        ("sts", "statefulsets", "apps/v1", "true", "StatefulSet"),
        (
            "hpa",
            "horizontalpodautoscalers",
            "autoscaling/v2",
            "true",
            "HorizontalPodAutoscaler",
        ),
        ("pv", "persistentvolumes", "v1", "false", "PersistentVolume"),
        (
            "pvc",
            "persistentvolumeclaims",
            "v1",
            "true",
            "PersistentVolumeClaim",
        ),
        ("ep", "endpoints", "v1", "true", "Endpoints"),
    ];
    for (short, name, gv, namespaced, kind) in expect {
        let r = row(&rows, "NAME", name).unwrap_or_else(|| panic!("no resource {name}:\n{out}"));
        assert_eq!(
            r,
            &vec![
                name.to_string(),
                short.to_string(),
                gv.to_string(),
                namespaced.to_string(),
                kind.to_string()
            ],
            "resource {name}"
        );
    }
    // Short names resolve in kubectl get.
    for short in [
        "po", "svc", "ns", "no", "cm", "sa", "deploy", "rs", "rc", "ds", "sts", "hpa", "pv", "pvc",
        "ep",
    ] {
        s.must(&["get", short, "-A"]);
    }
}

#[test]
fn api_resources_by_group() {
    let s = Server::start_default();
    let out = s.must(&["api-resources", "--api-group=apps", "-o", "name"]);
    assert_eq!(
        lines(&out),
        [
            "controllerrevisions.apps",
            "daemonsets.apps",
            "deployments.apps",
            "replicasets.apps",
            "statefulsets.apps"
        ],
        "{out}"
    );
    let out = s.must(&["api-resources", "--namespaced=false", "-o", "name"]);
    let names = lines(&out);
    for r in ["namespaces", "nodes", "persistentvolumes"] {
        assert!(
            names.iter().any(|n| n == r),
            "cluster-scoped list lacks {r}:\n{out}"
        );
    }
    assert!(
        !names.iter().any(|n| n == "pods"),
        "pods listed as cluster-scoped:\n{out}"
    );
}

#[test]
fn api_versions_lists_every_builtin_group() {
    let s = Server::start_default();
    let out = s.must(&["api-versions"]);
    let got = lines(&out);
    for gv in [
        "v1",
        "apps/v1",
        "batch/v1",
        "autoscaling/v1",
        "autoscaling/v2",
        "policy/v1",
        "rbac.authorization.k8s.io/v1",
        "networking.k8s.io/v1",
        "coordination.k8s.io/v1",
        "discovery.k8s.io/v1",
        "events.k8s.io/v1",
        "storage.k8s.io/v1",
        "scheduling.k8s.io/v1",
        "node.k8s.io/v1",
        "certificates.k8s.io/v1",
        "admissionregistration.k8s.io/v1",
    ] {
        assert!(
            got.iter().any(|g| g == gv),
            "api-versions lacks {gv}:\n{out}"
        );
    }
}

#[test]
fn raw_discovery_formats() {
    let s = Server::start_default();
    // Legacy.
    let api = s.http_get("/api").expect(200);
    assert_eq!(api["kind"], "APIVersions", "{api}");
    assert_eq!(api["versions"][0], "v1", "{api}");
    let apis = s.http_get("/apis").expect(200);
    assert_eq!(apis["kind"], "APIGroupList", "{apis}");
    let apps = apis["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == "apps")
        .unwrap_or_else(|| panic!("no apps group: {apis}"));
    assert_eq!(
        apps["preferredVersion"]["groupVersion"], "apps/v1",
        "{apps}"
    );
    let v1 = s.http_get("/api/v1").expect(200);
    assert_eq!(v1["kind"], "APIResourceList", "{v1}");
    let names: Vec<&str> = v1["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["name"].as_str())
        .collect();
    for sub in [
        "pods/status",
        "pods/binding",
        "pods/eviction",
        "pods/log",
        "pods/exec",
        "pods/attach",
        "pods/portforward",
        "pods/proxy",
    ] {
        assert!(names.contains(&sub), "/api/v1 lacks {sub}: {names:?}");
    }
    let appsv1 = s.http_get("/apis/apps/v1").expect(200);
    let names: Vec<&str> = appsv1["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["name"].as_str())
        .collect();
    for sub in ["deployments", "deployments/scale", "deployments/status"] {
        assert!(names.contains(&sub), "/apis/apps/v1 lacks {sub}: {names:?}");
    }

    // Aggregated (what kubectl asks for).
    let accept = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
    for path in ["/api", "/apis"] {
        let r = s.request("GET", path, Auth::Admin, &[("Accept", accept)], None);
        let body = r.expect(200);
        assert!(
            r.content_type.contains("g=apidiscovery.k8s.io")
                && r.content_type.contains("as=APIGroupDiscoveryList"),
            "{path} content-type {:?}",
            r.content_type
        );
        assert_eq!(body["kind"], "APIGroupDiscoveryList", "{path}: {body}");
    }
    let r = s
        .request("GET", "/api", Auth::Admin, &[("Accept", accept)], None)
        .json();
    let core = &r["items"][0];
    assert_eq!(
        core["metadata"]["name"].as_str().unwrap_or(""),
        "",
        "core group name: {core}"
    );
    let pods = core["versions"][0]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["resource"] == "pods")
        .unwrap_or_else(|| panic!("no pods in aggregated /api: {r}"));
    assert_eq!(pods["scope"], "Namespaced", "{pods}");
    assert_eq!(pods["singularResource"], "pod", "{pods}");
    assert_eq!(pods["responseKind"]["kind"], "Pod", "{pods}");
    assert!(
        pods["shortNames"]
            .as_array()
            .unwrap()
            .contains(&Value::from("po")),
        "{pods}"
    );
    assert!(
        pods["categories"]
            .as_array()
            .unwrap()
            .contains(&Value::from("all")),
        "{pods}"
    );
    let subs: Vec<&str> = pods["subresources"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|x| x["subresource"].as_str())
        .collect();
    for sub in [
        "status",
        "binding",
        "eviction",
        "log",
        "exec",
        "attach",
        "portforward",
        "proxy",
    ] {
        assert!(
            subs.contains(&sub),
            "aggregated pods lacks subresource {sub}: {pods}"
        );
    }
}

#[test]
fn health_endpoints_answer_ok() {
    let s = Server::start_default();
    for path in ["/healthz", "/livez", "/readyz"] {
        let r = s.http_get(path);
        assert_eq!(r.code, 200, "{path}: {}", r.text());
        assert_eq!(r.text().trim(), "ok", "{path}");
        assert_eq!(s.must(&["get", "--raw", path]).trim(), "ok", "{path}");
    }
}

#[test]
fn default_namespaces_exist() {
    let s = Server::start_default();
    let out = s.must(&["get", "ns"]);
    assert_eq!(header(&out), ["NAME", "STATUS", "AGE"], "{out}");
    for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        assert_eq!(cell(&out, ns, "STATUS"), "Active", "{out}");
    }
    let names = lines(&s.must(&["get", "namespaces", "-o", "name"]));
    assert_eq!(
        names,
        [
            "namespace/default",
            "namespace/kube-node-lease",
            "namespace/kube-public",
            "namespace/kube-system"
        ]
    );
}
