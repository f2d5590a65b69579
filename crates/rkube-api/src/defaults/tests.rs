//! Defaulting tests: objects as `kubectl` sends them, and what upstream stores.

use serde_json::{json, Value};

use super::{apply_defaults, prepare_job_for_create, prepare_service_update};

fn defaulted(group: &str, kind: &str, mut obj: Value) -> Value {
    apply_defaults(group, "v1", kind, &mut obj);
    // Defaulting is idempotent.
    let mut again = obj.clone();
    apply_defaults(group, "v1", kind, &mut again);
    assert_eq!(obj, again, "{kind} defaults are not idempotent");
    obj
}

#[test]
fn pod_defaults() {
    let pod = json!({"metadata": {"name": "p"}, "spec": {
        "containers": [{
            "name": "web", "image": "nginx",
            "ports": [{"containerPort": 80}],
            "env": [{"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}],
            "resources": {"limits": {"cpu": "500m"}, "requests": {"memory": "64Mi"}},
            "livenessProbe": {"httpGet": {"port": 80}},
            "readinessProbe": {"grpc": {"port": 9090}, "periodSeconds": 5}
        }],
        "initContainers": [{"name": "init", "image": "busybox:1.36", "resources": {"limits": {"memory": "1Gi"}}}],
        "volumes": [
            {"name": "scratch"},
            {"name": "cfg", "configMap": {"name": "c"}},
            {"name": "sec", "secret": {"secretName": "s"}},
            {"name": "host", "hostPath": {"path": "/tmp"}}
        ]
    }});
    let got = defaulted("", "Pod", pod);
    let want = json!({"metadata": {"name": "p"}, "spec": {
        "containers": [{
            "name": "web", "image": "nginx",
            "ports": [{"containerPort": 80, "protocol": "TCP"}],
            "env": [{"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName", "apiVersion": "v1"}}}],
            "resources": {"limits": {"cpu": "500m"}, "requests": {"memory": "64Mi", "cpu": "500m"}},
            "livenessProbe": {"httpGet": {"port": 80, "path": "/", "scheme": "HTTP"},
                "timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3},
            "readinessProbe": {"grpc": {"port": 9090, "service": ""}, "periodSeconds": 5,
                "timeoutSeconds": 1, "successThreshold": 1, "failureThreshold": 3},
            "imagePullPolicy": "Always",
            "terminationMessagePath": "/dev/termination-log",
            "terminationMessagePolicy": "File"
        }],
        "initContainers": [{"name": "init", "image": "busybox:1.36",
            "resources": {"limits": {"memory": "1Gi"}, "requests": {"memory": "1Gi"}},
            "imagePullPolicy": "IfNotPresent",
            "terminationMessagePath": "/dev/termination-log",
            "terminationMessagePolicy": "File"}],
        "volumes": [
            {"name": "scratch", "emptyDir": {}},
            {"name": "cfg", "configMap": {"name": "c", "defaultMode": 420}},
            {"name": "sec", "secret": {"secretName": "s", "defaultMode": 420}},
            {"name": "host", "hostPath": {"path": "/tmp", "type": ""}}
        ],
        "enableServiceLinks": true,
        "serviceAccountName": "default",
        "dnsPolicy": "ClusterFirst",
        "restartPolicy": "Always",
        "securityContext": {},
        "terminationGracePeriodSeconds": 30,
        "schedulerName": "default-scheduler",
        "serviceAccount": "default"
    }});
    assert_eq!(got, want);
}

#[test]
fn pod_host_network_and_service_account() {
    let pod = json!({"spec": {"hostNetwork": true, "serviceAccount": "legacy",
        "containers": [{"name": "c", "image": "x", "ports": [{"containerPort": 53}]}]}});
    let got = defaulted("", "Pod", pod);
    assert_eq!(got["spec"]["containers"][0]["ports"][0]["hostPort"], 53);
    assert_eq!(got["spec"]["serviceAccountName"], "legacy");
    assert_eq!(got["spec"]["serviceAccount"], "legacy");
}

#[test]
fn image_pull_policies() {
    let cases = [
        ("nginx", "Always"),
        ("nginx:latest", "Always"),
        ("nginx:1.27", "IfNotPresent"),
        ("registry.local:5000/team/app", "Always"),
        ("registry.local:5000/team/app:v2", "IfNotPresent"),
        ("nginx@sha256:abcd", "IfNotPresent"),
        ("nginx:latest@sha256:abcd", "Always"),
        ("", "IfNotPresent"),
    ];
    for (image, want) in cases {
        let pod = json!({"spec": {"containers": [{"name": "c", "image": image}]}});
        let got = defaulted("", "Pod", pod);
        assert_eq!(
            got["spec"]["containers"][0]["imagePullPolicy"], want,
            "{image}"
        );
    }
}

#[test]
fn templates_get_pod_spec_defaults_only() {
    let deploy = json!({"metadata": {"name": "web"}, "spec": {
        "selector": {"matchLabels": {"app": "web"}},
        "template": {"metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "c", "image": "nginx:1", "resources": {"limits": {"cpu": "1"}}}]}}}});
    let got = defaulted("apps", "Deployment", deploy);
    let spec = &got["spec"];
    assert_eq!(spec["replicas"], 1);
    assert_eq!(spec["revisionHistoryLimit"], 10);
    assert_eq!(spec["progressDeadlineSeconds"], 600);
    assert_eq!(
        spec["strategy"],
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}})
    );
    let pod_spec = &spec["template"]["spec"];
    assert_eq!(pod_spec["restartPolicy"], "Always");
    assert_eq!(pod_spec["schedulerName"], "default-scheduler");
    assert_eq!(
        pod_spec["containers"][0]["resources"],
        json!({"limits": {"cpu": "1"}})
    );
    for pod_only in ["enableServiceLinks", "serviceAccountName", "serviceAccount"] {
        assert!(pod_spec.get(pod_only).is_none(), "{pod_only}");
    }
    let recreate = json!({"spec": {"strategy": {"type": "Recreate"}}});
    let got = defaulted("apps", "Deployment", recreate);
    assert_eq!(got["spec"]["strategy"], json!({"type": "Recreate"}));
}

#[test]
fn other_workload_defaults() {
    let sts = defaulted(
        "apps",
        "StatefulSet",
        json!({"spec": {"volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {}}]}}),
    );
    assert_eq!(sts["spec"]["podManagementPolicy"], "OrderedReady");
    assert_eq!(
        sts["spec"]["updateStrategy"],
        json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}})
    );
    assert_eq!(
        sts["spec"]["persistentVolumeClaimRetentionPolicy"],
        json!({"whenDeleted": "Retain", "whenScaled": "Retain"})
    );
    assert_eq!(sts["spec"]["replicas"], 1);
    assert_eq!(
        sts["spec"]["volumeClaimTemplates"][0]["spec"]["volumeMode"],
        "Filesystem"
    );
    assert_eq!(
        sts["spec"]["volumeClaimTemplates"][0]["status"]["phase"],
        "Pending"
    );

    let ds = defaulted("apps", "DaemonSet", json!({"spec": {}}));
    assert_eq!(
        ds["spec"]["updateStrategy"],
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}})
    );
    assert_eq!(ds["spec"]["revisionHistoryLimit"], 10);

    let rs = defaulted("apps", "ReplicaSet", json!({"spec": {}}));
    assert_eq!(rs["spec"]["replicas"], 1);

    let rc = defaulted(
        "",
        "ReplicationController",
        json!({"metadata": {"name": "rc"}, "spec": {"template": {"metadata": {"labels": {"app": "a"}}}}}),
    );
    assert_eq!(rc["spec"]["replicas"], 1);
    assert_eq!(rc["spec"]["selector"], json!({"app": "a"}));
    assert_eq!(rc["metadata"]["labels"], json!({"app": "a"}));

    let job = defaulted(
        "batch",
        "Job",
        json!({"metadata": {"name": "pi"}, "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "perl"}], "restartPolicy": "Never"}}}}),
    );
    let js = &job["spec"];
    assert_eq!(
        (
            js["completions"].clone(),
            js["parallelism"].clone(),
            js["backoffLimit"].clone()
        ),
        (json!(1), json!(1), json!(6))
    );
    assert_eq!(js["completionMode"], "NonIndexed");
    assert_eq!(js["suspend"], false);
    assert_eq!(js["podReplacementPolicy"], "TerminatingOrFailed");
    assert_eq!(js["template"]["spec"]["restartPolicy"], "Never");

    let parallel = defaulted("batch", "Job", json!({"spec": {"parallelism": 3}}));
    assert!(parallel["spec"].get("completions").is_none());

    let cj = defaulted(
        "batch",
        "CronJob",
        json!({"spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}}}),
    );
    let cs = &cj["spec"];
    assert_eq!(cs["concurrencyPolicy"], "Allow");
    assert_eq!(cs["suspend"], false);
    assert_eq!(cs["successfulJobsHistoryLimit"], 3);
    assert_eq!(cs["failedJobsHistoryLimit"], 1);
    assert_eq!(
        cs["jobTemplate"]["spec"]["template"]["spec"]["dnsPolicy"],
        "ClusterFirst"
    );
    assert!(cs["jobTemplate"]["spec"].get("backoffLimit").is_none());
}

#[test]
fn job_selector_generation() {
    let mut job =
        json!({"metadata": {"name": "pi", "uid": "u-1"}, "spec": {"template": {"spec": {}}}});
    apply_defaults("batch", "v1", "Job", &mut job);
    prepare_job_for_create(&mut job);
    let labels = json!({
        "controller-uid": "u-1",
        "job-name": "pi",
        "batch.kubernetes.io/controller-uid": "u-1",
        "batch.kubernetes.io/job-name": "pi"
    });
    assert_eq!(job["spec"]["template"]["metadata"]["labels"], labels);
    assert_eq!(
        job["spec"]["selector"],
        json!({"matchLabels": {"batch.kubernetes.io/controller-uid": "u-1"}})
    );
    assert_eq!(job["metadata"]["labels"], labels);

    let mut manual =
        json!({"metadata": {"name": "m", "uid": "u"}, "spec": {"manualSelector": true}});
    prepare_job_for_create(&mut manual);
    assert!(manual["spec"].get("selector").is_none());
}

#[test]
fn service_defaults() {
    let svc = json!({"spec": {"ports": [{"port": 80}, {"port": 443, "targetPort": "https", "protocol": "UDP"}]}});
    let got = defaulted("", "Service", svc);
    assert_eq!(
        got["spec"],
        json!({
            "ports": [
                {"port": 80, "protocol": "TCP", "targetPort": 80},
                {"port": 443, "targetPort": "https", "protocol": "UDP"}
            ],
            "sessionAffinity": "None",
            "type": "ClusterIP",
            "internalTrafficPolicy": "Cluster"
        })
    );
    assert_eq!(got["status"], json!({"loadBalancer": {}}));

    let lb = defaulted(
        "",
        "Service",
        json!({"spec": {"type": "LoadBalancer", "sessionAffinity": "ClientIP", "clusterIP": "10.0.0.1"}}),
    );
    let spec = &lb["spec"];
    assert_eq!(spec["externalTrafficPolicy"], "Cluster");
    assert_eq!(spec["allocateLoadBalancerNodePorts"], true);
    assert_eq!(
        spec["sessionAffinityConfig"],
        json!({"clientIP": {"timeoutSeconds": 10800}})
    );
    assert_eq!(spec["clusterIPs"], json!(["10.0.0.1"]));
}

#[test]
fn service_allocations_survive_replace() {
    let old = json!({"spec": {"type": "NodePort", "clusterIP": "10.0.0.7", "clusterIPs": ["10.0.0.7"],
        "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack",
        "ports": [{"name": "http", "port": 80, "nodePort": 30080}]}});
    let mut new = json!({"spec": {"type": "NodePort", "ports": [{"name": "http", "port": 8080}]}});
    prepare_service_update(&old, &mut new);
    assert_eq!(new["spec"]["clusterIP"], "10.0.0.7");
    assert_eq!(new["spec"]["clusterIPs"], json!(["10.0.0.7"]));
    assert_eq!(new["spec"]["ports"][0]["nodePort"], 30080);
    assert_eq!(new["spec"]["ipFamilyPolicy"], "SingleStack");

    // NodePort -> ClusterIP: the allocated node port and the traffic policy go away.
    let old = json!({"spec": {"type": "NodePort", "clusterIP": "10.0.0.7", "externalTrafficPolicy": "Cluster",
        "ports": [{"port": 80, "nodePort": 30080}]}});
    let mut new = old.clone();
    new["spec"]["type"] = json!("ClusterIP");
    prepare_service_update(&old, &mut new);
    apply_defaults("", "v1", "Service", &mut new);
    assert!(new["spec"]["ports"][0].get("nodePort").is_none());
    assert!(new["spec"].get("externalTrafficPolicy").is_none());
    let errs = crate::validation::validate_update("", "v1", "Service", &old, &new);
    assert!(
        errs.iter()
            .all(|e| !e.field.contains("nodePort") && !e.field.contains("externalTrafficPolicy")),
        "{errs:?}"
    );
}

#[test]
fn secret_string_data_is_merged() {
    let secret =
        json!({"data": {"a": "b2xk", "keep": "eA=="}, "stringData": {"a": "new", "pw": "s3cr3t!"}});
    let got = defaulted("", "Secret", secret);
    assert_eq!(
        got,
        json!({"data": {"a": "bmV3", "keep": "eA==", "pw": "czNjcjN0IQ=="}, "type": "Opaque"})
    );
    let tls = defaulted(
        "",
        "Secret",
        json!({"type": "kubernetes.io/tls", "stringData": {"tls.crt": "x"}}),
    );
    assert_eq!(
        tls,
        json!({"type": "kubernetes.io/tls", "data": {"tls.crt": "eA=="}})
    );
}

#[test]
fn small_kinds() {
    let ns = defaulted("", "Namespace", json!({"metadata": {"name": "team-a"}}));
    assert_eq!(
        ns["metadata"]["labels"],
        json!({"kubernetes.io/metadata.name": "team-a"})
    );
    assert_eq!(ns["status"], json!({"phase": "Active"}));

    let pvc = defaulted(
        "",
        "PersistentVolumeClaim",
        json!({"spec": {"accessModes": ["ReadWriteOnce"]}}),
    );
    assert_eq!(pvc["spec"]["volumeMode"], "Filesystem");
    assert_eq!(pvc["status"]["phase"], "Pending");

    let np = defaulted(
        "networking.k8s.io",
        "NetworkPolicy",
        json!({"spec": {"egress": [{"ports": [{"port": 53}]}]}}),
    );
    assert_eq!(np["spec"]["policyTypes"], json!(["Ingress", "Egress"]));
    assert_eq!(np["spec"]["egress"][0]["ports"][0]["protocol"], "TCP");
    let np = defaulted(
        "networking.k8s.io",
        "NetworkPolicy",
        json!({"spec": {"podSelector": {}}}),
    );
    assert_eq!(np["spec"]["policyTypes"], json!(["Ingress"]));

    let rb = defaulted(
        "rbac.authorization.k8s.io",
        "RoleBinding",
        json!({
            "roleRef": {"kind": "Role", "name": "r"},
            "subjects": [{"kind": "User", "name": "jane"}, {"kind": "ServiceAccount", "name": "sa", "namespace": "d"}]
        }),
    );
    assert_eq!(rb["roleRef"]["apiGroup"], "rbac.authorization.k8s.io");
    assert_eq!(rb["subjects"][0]["apiGroup"], "rbac.authorization.k8s.io");
    assert!(rb["subjects"][1].get("apiGroup").is_none());

    let lr = defaulted(
        "",
        "LimitRange",
        json!({"spec": {"limits": [{"type": "Container", "max": {"cpu": "2"}, "min": {"memory": "10Mi"}}]}}),
    );
    assert_eq!(lr["spec"]["limits"][0]["default"], json!({"cpu": "2"}));
    assert_eq!(
        lr["spec"]["limits"][0]["defaultRequest"],
        json!({"cpu": "2", "memory": "10Mi"})
    );

    let sc = defaulted(
        "storage.k8s.io",
        "StorageClass",
        json!({"provisioner": "x"}),
    );
    assert_eq!(
        (sc["reclaimPolicy"].clone(), sc["volumeBindingMode"].clone()),
        (json!("Delete"), json!("Immediate"))
    );
}

#[test]
fn malformed_objects_are_left_alone() {
    for kind in [
        "Pod",
        "Service",
        "Secret",
        "Namespace",
        "ReplicationController",
    ] {
        for mut obj in [
            json!(null),
            json!(3),
            json!({"spec": "x", "metadata": []}),
            json!({"spec": {"containers": "x", "ports": [1]}}),
        ] {
            apply_defaults("", "v1", kind, &mut obj);
        }
    }
    for (g, kind) in [
        ("apps", "Deployment"),
        ("apps", "StatefulSet"),
        ("batch", "Job"),
        ("batch", "CronJob"),
    ] {
        for mut obj in [
            json!(null),
            json!({"spec": {"template": 5, "strategy": []}}),
        ] {
            apply_defaults(g, "v1", kind, &mut obj);
            prepare_job_for_create(&mut obj);
        }
    }
}
