//! Data-driven tests: an object (defaulted first, as the API server does) and the causes
//! upstream reports for it, as `<field>: <message>` lines.

use serde_json::{json, Value};

use super::{validate_create, validate_update};
use crate::defaults::{apply_defaults, prepare_job_for_create};

const LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";

fn group_of(api_version: &str) -> (&str, &str) {
    api_version.split_once('/').unwrap_or(("", api_version))
}

fn defaulted(obj: &Value) -> Value {
    defaulted_for(obj, true)
}

fn defaulted_for(obj: &Value, creating: bool) -> Value {
    let mut obj = obj.clone();
    let (group, version) = group_of(obj["apiVersion"].as_str().unwrap_or("v1"));
    let (group, version) = (group.to_string(), version.to_string());
    let kind = obj["kind"].as_str().unwrap_or("").to_string();
    apply_defaults(&group, &version, &kind, &mut obj);
    if creating && kind == "Job" {
        prepare_job_for_create(&mut obj);
    }
    obj
}

fn create(obj: Value) -> Vec<String> {
    let obj = defaulted(&obj);
    let (group, version) = group_of(obj["apiVersion"].as_str().unwrap_or("v1"));
    let kind = obj["kind"].as_str().unwrap_or("");
    validate_create(group, version, kind, &obj)
        .iter()
        .map(ToString::to_string)
        .collect()
}

fn update(old: Value, new: Value) -> Vec<String> {
    let (old, new) = (defaulted_for(&old, false), defaulted_for(&new, false));
    let (group, version) = group_of(new["apiVersion"].as_str().unwrap_or("v1"));
    let kind = new["kind"].as_str().unwrap_or("");
    validate_update(group, version, kind, &old, &new)
        .iter()
        .map(ToString::to_string)
        .collect()
}

fn check(cases: Vec<(&str, Value, Vec<String>)>) {
    for (name, obj, want) in cases {
        assert_eq!(create(obj), want, "case {name}");
    }
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

fn pod(spec: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "default", "uid": "u1"}, "spec": spec})
}

fn nginx() -> Value {
    json!({"name": "c", "image": "nginx"})
}

#[test]
fn pod_rules() {
    check(vec![
        ("valid", pod(json!({"containers": [nginx()]})), vec![]),
        ("no containers", pod(json!({})), s(&["spec.containers: Required value"])),
        (
            "bad container name",
            pod(json!({"containers": [{"name": "Bad_Name", "image": "nginx"}]})),
            vec![format!("spec.containers[0].name: Invalid value: \"Bad_Name\": {LABEL_MSG}")],
        ),
        (
            "missing image",
            pod(json!({"containers": [{"name": "c"}]})),
            s(&["spec.containers[0].image: Required value"]),
        ),
        (
            "duplicate names",
            pod(json!({"containers": [nginx(), nginx()], "initContainers": [nginx()]})),
            s(&[
                "spec.containers[1].name: Duplicate value: \"c\"",
                "spec.initContainers[0].name: Duplicate value: \"c\"",
            ]),
        ),
        (
            "ports",
            pod(json!({"containers": [{"name": "c", "image": "nginx", "ports": [
                {"containerPort": 70000, "name": "Http"},
                {"containerPort": 80, "name": "web", "protocol": "FOO"},
                {"containerPort": 81, "name": "web"},
                {"name": "x"}
            ]}]})),
            s(&[
                "spec.containers[0].ports[0].name: Invalid value: \"Http\": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)",
                "spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive",
                "spec.containers[0].ports[1].protocol: Unsupported value: \"FOO\": supported values: \"SCTP\", \"TCP\", \"UDP\"",
                "spec.containers[0].ports[2].name: Duplicate value: \"web\"",
                "spec.containers[0].ports[3].containerPort: Required value",
            ]),
        ),
        (
            "policies",
            pod(json!({"restartPolicy": "Sometimes", "dnsPolicy": "Foo",
                "containers": [{"name": "c", "image": "nginx", "imagePullPolicy": "Sometimes"}]})),
            s(&[
                "spec.containers[0].imagePullPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"IfNotPresent\", \"Never\"",
                "spec.restartPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"OnFailure\", \"Never\"",
                "spec.dnsPolicy: Unsupported value: \"Foo\": supported values: \"ClusterFirstWithHostNet\", \"ClusterFirst\", \"Default\", \"None\"",
            ]),
        ),
        (
            "env",
            pod(json!({"containers": [{"name": "c", "image": "nginx", "env": [
                {"name": "A=B", "value": "x"},
                {"name": ""},
                {"name": "C", "valueFrom": {}},
                {"name": "D", "valueFrom": {"fieldRef": {"fieldPath": "status.phase"}}},
                {"name": "E", "valueFrom": {"secretKeyRef": {"name": "s", "key": "bad key"}}}
            ]}]})),
            s(&[
                "spec.containers[0].env[0].name: Invalid value: \"A=B\": a valid environment variable name must consist only of printable ASCII characters other than '='",
                "spec.containers[0].env[1].name: Required value",
                "spec.containers[0].env[2].valueFrom: Invalid value: \"\": must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`",
                "spec.containers[0].env[3].valueFrom.fieldRef.fieldPath: Unsupported value: \"status.phase\": supported values: \"metadata.name\", \"metadata.namespace\", \"metadata.uid\", \"spec.nodeName\", \"spec.serviceAccountName\", \"status.hostIP\", \"status.hostIPs\", \"status.podIP\", \"status.podIPs\"",
                "spec.containers[0].env[4].valueFrom.secretKeyRef.key: Invalid value: \"bad key\": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')",
            ]),
        ),
        (
            "volumes",
            pod(json!({"volumes": [
                {"name": "data", "emptyDir": {}},
                {"name": "data", "emptyDir": {}},
                {"name": "two", "emptyDir": {}, "hostPath": {"path": "/x"}},
                {"name": "cm", "configMap": {"name": "c", "defaultMode": 1000}}
            ], "containers": [{"name": "c", "image": "nginx", "volumeMounts": [
                {"name": "data", "mountPath": "/d"},
                {"name": "x", "mountPath": "/d"}
            ]}]})),
            s(&[
                "spec.volumes[1].name: Duplicate value: \"data\"",
                "spec.volumes[2].hostPath: Forbidden: may not specify more than 1 volume type",
                "spec.volumes[3].configMap.defaultMode: Invalid value: 1000: must be a number between 0 and 0777 (octal), both inclusive",
                "spec.containers[0].volumeMounts[1].name: Not found: \"x\"",
                "spec.containers[0].volumeMounts[1].mountPath: Invalid value: \"/d\": must be unique",
            ]),
        ),
        (
            "resources",
            pod(json!({"containers": [{"name": "c", "image": "nginx", "resources": {
                "limits": {"cpu": "1", "memory": "1Gi"},
                "requests": {"cpu": "2", "memory": "abc", "gpu": "1"}
            }}]})),
            s(&[
                "spec.containers[0].resources.requests: Invalid value: \"2\": must be less than or equal to cpu limit of 1",
                "spec.containers[0].resources.requests[gpu]: Invalid value: \"gpu\": must be a standard resource type or fully qualified",
                "spec.containers[0].resources.requests[gpu]: Invalid value: \"gpu\": must be a standard resource for containers",
                "spec.containers[0].resources.requests[memory]: Invalid value: \"abc\": quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'",
            ]),
        ),
        (
            "probes",
            pod(json!({"containers": [{"name": "c", "image": "nginx",
                "livenessProbe": {"successThreshold": 2, "httpGet": {"port": 0}},
                "readinessProbe": {}
            }]})),
            s(&[
                "spec.containers[0].livenessProbe.httpGet.port: Invalid value: 0: must be between 1 and 65535, inclusive",
                "spec.containers[0].livenessProbe.successThreshold: Invalid value: 2: must be 1",
                "spec.containers[0].readinessProbe: Required value: must specify a handler type",
            ]),
        ),
        (
            "metadata labels",
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "default", "labels": {"app": "-bad"}}, "spec": {"containers": [nginx()]}}),
            s(&["metadata.labels: Invalid value: \"-bad\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"]),
        ),
        (
            "host network",
            pod(json!({"hostNetwork": true, "containers": [{"name": "c", "image": "nginx", "ports": [{"containerPort": 80, "hostPort": 81}]}]})),
            s(&["spec.containers[0].ports[0].hostPort: Invalid value: 81: must match `containerPort` when `hostNetwork` is true"]),
        ),
        (
            "tolerations",
            pod(json!({"containers": [nginx()], "tolerations": [{"operator": "Equal", "value": "x"}, {"key": "k", "operator": "Exists", "value": "v"}]})),
            s(&[
                "spec.tolerations[0].operator: Invalid value: \"Equal\": operator must be Exists when `key` is empty, which means \"match all values and all keys\"",
                "spec.tolerations[1].operator: Invalid value: \"v\": value must be empty when `operator` is 'Exists'",
            ]),
        ),
    ]);
}

#[test]
fn pod_update_rules() {
    // Updates start from the stored (defaulted) object, as `kubectl set image` does.
    let old = defaulted(&pod(json!({"containers": [nginx()]})));
    let mut new = old.clone();
    new["spec"]["containers"][0]["image"] = json!("nginx:1.27");
    new["metadata"]["labels"] = json!({"a": "b"});
    assert_eq!(update(old.clone(), new), Vec::<String>::new());
    let mut new = old.clone();
    new["spec"]["containers"] = json!([nginx(), {"name": "d", "image": "busybox"}]);
    assert_eq!(
        update(old.clone(), new),
        s(&["spec.containers: Forbidden: pod updates may not add or remove containers"])
    );
    let mut new = old.clone();
    new["spec"]["restartPolicy"] = json!("Never");
    let errs = update(old, new);
    assert_eq!(errs.len(), 1);
    assert!(errs[0].starts_with("spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)\n  core.PodSpec{\n"));
    assert!(errs[0].contains("- \tRestartPolicy: \"Always\",\n+ \tRestartPolicy: \"Never\",\n"));
}

fn deployment(selector: Value, labels: Value) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"selector": selector, "template": {"metadata": {"labels": labels}, "spec": {"containers": [nginx()]}}}})
}

#[test]
fn deployment_rules() {
    let app_x = json!({"matchLabels": {"app": "x"}});
    let mut negative = deployment(app_x.clone(), json!({"app": "x"}));
    negative["spec"]["replicas"] = json!(-1);
    let mut zero = deployment(app_x.clone(), json!({"app": "x"}));
    zero["spec"]["strategy"] =
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 0}});
    let mut bad_percent = deployment(app_x.clone(), json!({"app": "x"}));
    bad_percent["spec"]["strategy"] =
        json!({"rollingUpdate": {"maxUnavailable": "150%", "maxSurge": "x%"}});
    let mut never = deployment(app_x.clone(), json!({"app": "x"}));
    never["spec"]["template"]["spec"]["restartPolicy"] = json!("Never");
    never["spec"]["template"]["spec"]["containers"] = json!([{"name": "c"}]);
    check(vec![
        ("valid", deployment(app_x.clone(), json!({"app": "x", "tier": "web"})), vec![]),
        (
            "mismatch",
            deployment(app_x.clone(), json!({"app": "y"})),
            s(&["spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"y\"}: `selector` does not match template `labels`"]),
        ),
        (
            "no selector",
            deployment(Value::Null, json!({"app": "x"})),
            s(&[
                "spec.selector: Required value",
                "spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"x\"}: `selector` does not match template `labels`",
            ]),
        ),
        (
            "empty selector",
            deployment(json!({}), json!({"app": "x"})),
            s(&["spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil), MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: empty selector is invalid for deployment"]),
        ),
        ("replicas", negative, s(&["spec.replicas: Invalid value: -1: must be greater than or equal to 0"])),
        (
            "zero surge and unavailable",
            zero,
            s(&["spec.strategy.rollingUpdate.maxUnavailable: Invalid value: 0: may not be 0 when `maxSurge` is 0"]),
        ),
        (
            "percent",
            bad_percent,
            s(&[
                "spec.strategy.rollingUpdate.maxSurge: Invalid value: x%: a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')",
                "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: 150%: must not be greater than 100%",
            ]),
        ),
        (
            "template",
            never,
            s(&[
                "spec.template.spec.containers[0].image: Required value",
                "spec.template.spec.restartPolicy: Unsupported value: \"Never\": supported values: \"Always\"",
            ]),
        ),
    ]);
    let old = deployment(app_x.clone(), json!({"app": "x"}));
    let mut new = deployment(
        json!({"matchLabels": {"app": "x", "v": "2"}}),
        json!({"app": "x", "v": "2"}),
    );
    new["metadata"]["resourceVersion"] = json!("5");
    assert_eq!(
        update(old.clone(), new),
        s(&["spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{\"app\":\"x\", \"v\":\"2\"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable"])
    );
    let mut scaled = old.clone();
    scaled["spec"]["replicas"] = json!(5);
    assert!(update(old, scaled).is_empty());
}

#[test]
fn other_workloads() {
    let sts = json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db", "namespace": "default"},
        "spec": {"serviceName": "db", "selector": {"matchLabels": {"app": "db"}},
            "template": {"metadata": {"labels": {"app": "db"}}, "spec": {"containers": [nginx()]}}}});
    let mut bad_sts = sts.clone();
    bad_sts["spec"]["podManagementPolicy"] = json!("Random");
    let ds = json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent", "namespace": "default"},
        "spec": {"selector": {"matchLabels": {"app": "a"}},
            "template": {"metadata": {"labels": {"app": "b"}}, "spec": {"containers": [nginx()]}}}});
    let rs = json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "rs", "namespace": "default"},
        "spec": {"selector": {"matchLabels": {"app": "a"}},
            "template": {"metadata": {"labels": {"app": "a"}}, "spec": {"containers": [nginx()]}}}});
    let rc = json!({"apiVersion": "v1", "kind": "ReplicationController", "metadata": {"name": "rc", "namespace": "default"},
        "spec": {"template": {"metadata": {"labels": {"app": "a"}}, "spec": {"containers": [nginx()]}}}});
    check(vec![
        ("sts valid", sts.clone(), vec![]),
        (
            "sts policy",
            bad_sts,
            s(&["spec.podManagementPolicy: Invalid value: \"Random\": must be 'OrderedReady' or 'Parallel'"]),
        ),
        (
            "ds mismatch",
            ds,
            s(&["spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"b\"}: `selector` does not match template `labels`"]),
        ),
        ("rs valid", rs, vec![]),
        ("rc valid (selector from template labels)", rc, vec![]),
    ]);
    let mut new = sts.clone();
    new["spec"]["serviceName"] = json!("other");
    assert_eq!(
        update(sts.clone(), new),
        s(&["spec: Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"])
    );
    let mut new = sts.clone();
    new["spec"]["replicas"] = json!(3);
    new["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx:2");
    assert!(update(sts, new).is_empty());
}

fn job(template_spec: Value) -> Value {
    json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "pi", "namespace": "default", "uid": "abc"},
        "spec": {"template": {"spec": template_spec}}})
}

#[test]
fn job_rules() {
    let good = job(json!({"containers": [nginx()], "restartPolicy": "Never"}));
    let mut negative = good.clone();
    negative["spec"]["completions"] = json!(-1);
    check(vec![
        ("valid", good.clone(), vec![]),
        (
            "restart policy",
            job(json!({"containers": [nginx()]})),
            s(&["spec.template.spec.restartPolicy: Required value: valid values: \"OnFailure\", \"Never\""]),
        ),
        (
            "restart policy always",
            job(json!({"containers": [nginx()], "restartPolicy": "Sometimes"})),
            s(&[
                "spec.template.spec.restartPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"OnFailure\", \"Never\"",
                "spec.template.spec.restartPolicy: Unsupported value: \"Sometimes\": supported values: \"OnFailure\", \"Never\"",
            ]),
        ),
        ("completions", negative, s(&["spec.completions: Invalid value: -1: must be greater than or equal to 0"])),
    ]);
    let old = defaulted(&good);
    let mut new = old.clone();
    new["spec"]["template"]["spec"]["containers"][0]["image"] = json!("busybox");
    let errs = update(old.clone(), new);
    assert_eq!(errs.len(), 1);
    assert!(
        errs[0].starts_with("spec.template: Invalid value: core.PodTemplateSpec{"),
        "{errs:?}"
    );
    assert!(errs[0].ends_with(": field is immutable"));
    let mut new = old.clone();
    new["spec"]["suspend"] = json!(true);
    new["spec"]["parallelism"] = json!(3);
    assert!(update(old.clone(), new).is_empty());
    let mut new = old.clone();
    new["spec"]["selector"]["matchLabels"] = json!({"a": "b"});
    let errs = update(old, new);
    assert!(errs.contains(&"spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{\"a\":\"b\"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable".to_string()), "{errs:?}");
}

#[test]
fn cron_job_rules() {
    let cj = |schedule: Value, policy: &str| {
        json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "hello", "namespace": "default"},
            "spec": {"schedule": schedule, "concurrencyPolicy": policy,
                "jobTemplate": {"spec": {"template": {"spec": {"containers": [nginx()], "restartPolicy": "OnFailure"}}}}}})
    };
    check(vec![
        ("valid", cj(json!("*/1 * * * *"), "Allow"), vec![]),
        ("missing schedule", cj(Value::Null, "Forbid"), s(&["spec.schedule: Required value"])),
        (
            "bad schedule",
            cj(json!("every minute"), "Replace"),
            s(&["spec.schedule: Invalid value: \"every minute\": expected exactly 5 fields, found 2: [every minute]"]),
        ),
        (
            "tz in schedule",
            cj(json!("TZ=UTC 0 * * * *"), "Allow"),
            s(&["spec.schedule: Invalid value: \"TZ=UTC 0 * * * *\": cannot use TZ or CRON_TZ in schedule, use timeZone field instead"]),
        ),
        (
            "policy",
            cj(json!("@hourly"), "Sometimes"),
            s(&["spec.concurrencyPolicy: Unsupported value: \"Sometimes\": supported values: \"Allow\", \"Forbid\", \"Replace\""]),
        ),
    ]);
}

fn service(spec: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "svc", "namespace": "default"}, "spec": spec})
}

#[test]
fn service_rules() {
    check(vec![
        ("valid", service(json!({"ports": [{"port": 80}], "selector": {"app": "x"}})), vec![]),
        ("headless", service(json!({"clusterIP": "None"})), vec![]),
        ("external name", service(json!({"type": "ExternalName", "externalName": "example.com."})), vec![]),
        ("no ports", service(json!({})), s(&["spec.ports: Required value"])),
        (
            "ports",
            service(json!({"ports": [{"port": 70000}, {"port": 80, "targetPort": "Bad_Name"}]})),
            s(&[
                "spec.ports[0].name: Required value",
                "spec.ports[0].port: Invalid value: 70000: must be between 1 and 65535, inclusive",
                "spec.ports[0].targetPort: Invalid value: 70000: must be between 1 and 65535, inclusive",
                "spec.ports[1].name: Required value",
                "spec.ports[1].targetPort: Invalid value: \"Bad_Name\": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)",
            ]),
        ),
        (
            "duplicate port",
            service(json!({"ports": [{"name": "a", "port": 80}, {"name": "b", "port": 80}]})),
            s(&["spec.ports[1]: Duplicate value: core.ServicePort{Name:\"\", Protocol:\"TCP\", AppProtocol:(*string)(nil), Port:80, TargetPort:intstr.IntOrString{Type:0, IntVal:0, StrVal:\"\"}, NodePort:0}"]),
        ),
        (
            "type",
            service(json!({"type": "Foo", "ports": [{"port": 80}]})),
            s(&["spec.type: Unsupported value: \"Foo\": supported values: \"ClusterIP\", \"ExternalName\", \"LoadBalancer\", \"NodePort\""]),
        ),
        (
            "selector",
            service(json!({"ports": [{"port": 80}], "selector": {"app": "a b"}})),
            s(&["spec.selector: Invalid value: \"a b\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"]),
        ),
    ]);
    let old = service(json!({"ports": [{"port": 80}], "clusterIP": "10.96.0.10"}));
    let new = service(json!({"ports": [{"port": 80}], "clusterIP": "10.96.0.11"}));
    assert_eq!(
        update(old, new),
        s(&[
            "spec.clusterIPs[0]: Invalid value: []string{\"10.96.0.11\"}: may not change once set"
        ])
    );
}

#[test]
fn config_map_and_secret_rules() {
    let cm = |data: Value| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "default"}, "data": data});
    let secret = |ty: &str, data: Value| json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "default"}, "type": ty, "data": data});
    check(vec![
        ("cm valid", cm(json!({"a.b": "1"})), vec![]),
        (
            "cm key",
            cm(json!({"bad key": "1"})),
            s(&["data[bad key]: Invalid value: \"bad key\": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"]),
        ),
        ("secret valid", secret("Opaque", json!({"k": "dg=="})), vec![]),
        (
            "dockerconfigjson",
            secret("kubernetes.io/dockerconfigjson", json!({})),
            s(&["data[.dockerconfigjson]: Required value"]),
        ),
        (
            "tls",
            secret("kubernetes.io/tls", json!({"tls.crt": "eA=="})),
            s(&["data[tls.key]: Required value"]),
        ),
    ]);
    let mut old = cm(json!({"a": "1"}));
    old["immutable"] = json!(true);
    let mut new = cm(json!({"a": "2"}));
    new["immutable"] = json!(true);
    assert_eq!(
        update(old.clone(), new),
        s(&["data: Forbidden: field is immutable when `immutable` is set"])
    );
    let new = cm(json!({"a": "1"}));
    assert_eq!(
        update(old, new),
        s(&["immutable: Forbidden: field is immutable when `immutable` is set"])
    );
    let old = secret("Opaque", json!({"a": "eA=="}));
    let new = secret("kubernetes.io/basic-auth", json!({"username": "eA=="}));
    assert_eq!(
        update(old, new),
        s(&["type: Invalid value: \"kubernetes.io/basic-auth\": field is immutable"])
    );
}

#[test]
fn namespace_and_claims() {
    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "Bad"}});
    assert_eq!(
        create(ns),
        vec![format!(
            "metadata.name: Invalid value: \"Bad\": {LABEL_MSG}"
        )]
    );
    let pvc = json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "c", "namespace": "default"},
        "spec": {"accessModes": ["ReadWriteSome"]}});
    assert_eq!(
        create(pvc),
        s(&[
            "spec.accessModes: Unsupported value: \"ReadWriteSome\": supported values: \"ReadOnlyMany\", \"ReadWriteMany\", \"ReadWriteOnce\", \"ReadWriteOncePod\"",
            "spec.resources[storage]: Required value",
        ])
    );
}

#[test]
fn custom_and_review_kinds_get_metadata_checks_only() {
    let cr = json!({"metadata": {"name": "Bad_Name", "namespace": "d", "labels": {"ok": "yes"}}, "spec": {"anything": 1}});
    let errs: Vec<String> = validate_create("example.com", "v1", "Widget", &cr)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(errs.len(), 1);
    assert!(errs[0]
        .starts_with("metadata.name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain"));
    let review = json!({"spec": {"resourceAttributes": {"verb": "get"}}});
    assert!(validate_create(
        "authorization.k8s.io",
        "v1",
        "SelfSubjectAccessReview",
        &review
    )
    .is_empty());
    let err = &validate_create(
        "",
        "v1",
        "ConfigMap",
        &json!({"metadata": {"namespace": "d"}}),
    )[0];
    assert_eq!(err.reason(), "FieldValueRequired");
    assert_eq!(err.field, "metadata.name");
    assert_eq!(
        err.message(),
        "Required value: name or generateName is required"
    );
}

#[test]
fn malformed_objects_do_not_panic() {
    let weird = [
        json!(null),
        json!("pod"),
        json!({"metadata": "x", "spec": [1, 2]}),
        json!({"metadata": {"name": 5}, "spec": {"containers": "nope", "volumes": [1, null, {"name": 3}]}}),
        json!({"spec": {"containers": [{"name": ["x"], "ports": [{"containerPort": "80"}], "resources": {"limits": {"cpu": []}}}]}}),
        json!({"spec": {"selector": "x", "template": {"metadata": {"labels": 7}}, "strategy": {"rollingUpdate": 3}}}),
    ];
    let kinds = [
        ("", "v1", "Pod"),
        ("", "v1", "Service"),
        ("", "v1", "Secret"),
        ("", "v1", "ConfigMap"),
        ("", "v1", "ReplicationController"),
        ("apps", "v1", "Deployment"),
        ("apps", "v1", "StatefulSet"),
        ("apps", "v1", "DaemonSet"),
        ("batch", "v1", "Job"),
        ("batch", "v1", "CronJob"),
        ("", "v1", "PersistentVolumeClaim"),
        ("", "v1", "Namespace"),
    ];
    for obj in &weird {
        for (g, v, k) in kinds {
            let mut d = obj.clone();
            apply_defaults(g, v, k, &mut d);
            prepare_job_for_create(&mut d);
            let _ = validate_create(g, v, k, &d);
            let _ = validate_update(g, v, k, obj, &d);
        }
    }
}
