//! A table of (kind, original, patch, expected result or error), then the metadata lookups,
//! the error statuses and the depth limits.
//!
//! The ordering cases marked "upstream" are the cases of upstream's `patch_test.go`
//! (`mergingList` there) restated on Pod containers / finalizers.

use serde_json::{json, Value};

use super::*;

type Gvk = (&'static str, &'static str, &'static str);

const DEPLOY: Gvk = ("apps", "v1", "Deployment");
const POD: Gvk = ("", "v1", "Pod");
const SVC: Gvk = ("", "v1", "Service");
const CM: Gvk = ("", "v1", "ConfigMap");
const NODE: Gvk = ("", "v1", "Node");
const REVISION: Gvk = ("apps", "v1", "ControllerRevision");
const SCALE: Gvk = ("autoscaling", "v1", "Scale");
const WIDGET: Gvk = ("example.com", "v1", "Widget");

enum Want {
    /// The patched object.
    Ok(&'static str),
    /// The status code and a part of the message.
    Err(u16, &'static str),
}

struct Case {
    name: &'static str,
    gvk: Gvk,
    original: &'static str,
    patch: &'static str,
    want: Want,
}

/// A Deployment with the given pod spec containers (JSON list).
fn deploy(containers: &str) -> String {
    format!(
        r#"{{"apiVersion":"apps/v1","kind":"Deployment","metadata":{{"name":"d"}},
            "spec":{{"replicas":1,"selector":{{"matchLabels":{{"app":"d"}}}},
            "template":{{"metadata":{{"labels":{{"app":"d"}}}},
            "spec":{{"containers":{containers}}}}}}}}}"#
    )
}

fn cases() -> Vec<Case> {
    use Want::{Err, Ok};
    vec![
        // ---- maps and null -------------------------------------------------------------
        Case {
            name: "maps merge recursively, null deletes, new keys are added",
            gvk: CM,
            original: r#"{"metadata":{"name":"c","labels":{"a":"1","b":"2"}},"data":{"k1":"v1","k2":"v2"}}"#,
            patch: r#"{"metadata":{"labels":{"a":null,"c":"3"}},"data":{"k2":"x","k3":"y"}}"#,
            want: Ok(r#"{"metadata":{"name":"c","labels":{"b":"2","c":"3"}},"data":{"k1":"v1","k2":"x","k3":"y"}}"#),
        },
        Case {
            name: "null for a missing key changes nothing",
            gvk: CM,
            original: r#"{"metadata":{"name":"c"},"data":{"a":"1"}}"#,
            patch: r#"{"data":{"nope":null},"binaryData":null}"#,
            want: Ok(r#"{"metadata":{"name":"c"},"data":{"a":"1"}}"#),
        },
        Case {
            name: "a new object drops its nulls and its $patch maps",
            gvk: POD,
            original: r#"{"spec":{"containers":[{"name":"c","image":"i"}]}}"#,
            patch: r#"{"spec":{"securityContext":{"runAsUser":1,"fsGroup":null},"nodeSelector":{"$patch":"delete"}}}"#,
            want: Ok(r#"{"spec":{"containers":[{"name":"c","image":"i"}],"securityContext":{"runAsUser":1}}}"#),
        },
        Case {
            name: "a value of another JSON type replaces the original",
            gvk: POD,
            original: r#"{"spec":{"containers":[{"name":"c","image":"i"}]}}"#,
            patch: r#"{"spec":{"containers":"x"}}"#,
            want: Ok(r#"{"spec":{"containers":"x"}}"#),
        },
        Case {
            name: "a null patch changes nothing",
            gvk: CM,
            original: r#"{"data":{"a":"1"}}"#,
            patch: "null",
            want: Ok(r#"{"data":{"a":"1"}}"#),
        },
        // ---- kubectl commands ----------------------------------------------------------
        Case {
            name: "rollout pause",
            gvk: DEPLOY,
            original: r#"{"spec":{"replicas":1}}"#,
            patch: r#"{"spec":{"paused":true}}"#,
            want: Ok(r#"{"spec":{"replicas":1,"paused":true}}"#),
        },
        Case {
            name: "rollout resume sends paused: null",
            gvk: DEPLOY,
            original: r#"{"spec":{"replicas":1,"paused":true}}"#,
            patch: r#"{"spec":{"paused":null}}"#,
            want: Ok(r#"{"spec":{"replicas":1}}"#),
        },
        Case {
            name: "rollout restart annotates the template",
            gvk: DEPLOY,
            original: r#"{"spec":{"template":{"metadata":{"labels":{"app":"d"}}}}}"#,
            patch: r#"{"spec":{"template":{"metadata":{"annotations":{"kubectl.kubernetes.io/restartedAt":"2025-01-01T00:00:00Z"}}}}}"#,
            want: Ok(r#"{"spec":{"template":{"metadata":{"labels":{"app":"d"},"annotations":{"kubectl.kubernetes.io/restartedAt":"2025-01-01T00:00:00Z"}}}}}"#),
        },
        Case {
            name: "set image merges the container by name and keeps the order",
            gvk: DEPLOY,
            original: r#"{"spec":{"template":{"spec":{"containers":[{"name":"a","image":"a:1"},{"name":"c","image":"nginx:1","ports":[{"containerPort":80}]},{"name":"b","image":"b:1"}]}}}}"#,
            patch: r#"{"spec":{"template":{"spec":{"containers":[{"image":"nginx:2","name":"c"}]}}}}"#,
            want: Ok(r#"{"spec":{"template":{"spec":{"containers":[{"name":"a","image":"a:1"},{"name":"c","image":"nginx:2","ports":[{"containerPort":80}]},{"name":"b","image":"b:1"}]}}}}"#),
        },
        Case {
            name: "set env adds an env var and updates another",
            gvk: DEPLOY,
            original: r#"{"spec":{"template":{"spec":{"containers":[{"name":"c","image":"i","env":[{"name":"A","value":"1"},{"name":"B","value":"2"}]}]}}}}"#,
            patch: r#"{"spec":{"template":{"spec":{"containers":[{"env":[{"name":"B","value":"3"}],"name":"c"}]}}}}"#,
            want: Ok(r#"{"spec":{"template":{"spec":{"containers":[{"name":"c","image":"i","env":[{"name":"A","value":"1"},{"name":"B","value":"3"}]}]}}}}"#),
        },
        Case {
            name: "client-side apply re-apply deleting an env var",
            gvk: DEPLOY,
            original: r#"{"metadata":{"name":"d","annotations":{"kubectl.kubernetes.io/last-applied-configuration":"old"}},"spec":{"template":{"spec":{"containers":[{"name":"c","image":"i","env":[{"name":"XX","value":"1"},{"name":"YY","value":"2"}]}]}}}}"#,
            patch: r#"{"metadata":{"annotations":{"kubectl.kubernetes.io/last-applied-configuration":"new"}},"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"c"}],"containers":[{"env":[{"$patch":"delete","name":"YY"}],"name":"c"}]}}}}"#,
            want: Ok(r#"{"metadata":{"name":"d","annotations":{"kubectl.kubernetes.io/last-applied-configuration":"new"}},"spec":{"template":{"spec":{"containers":[{"name":"c","image":"i","env":[{"name":"XX","value":"1"}]}]}}}}"#),
        },
        Case {
            name: "client-side apply adding an env var at the end with $setElementOrder",
            gvk: DEPLOY,
            original: r#"{"spec":{"template":{"spec":{"containers":[{"name":"c","image":"i","env":[{"name":"A","value":"1"}]}]}}}}"#,
            patch: r#"{"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"c"}],"containers":[{"$setElementOrder/env":[{"name":"A"},{"name":"B"}],"env":[{"name":"B","value":"2"}],"name":"c"}]}}}}"#,
            want: Ok(r#"{"spec":{"template":{"spec":{"containers":[{"name":"c","image":"i","env":[{"name":"A","value":"1"},{"name":"B","value":"2"}]}]}}}}"#),
        },
        Case {
            name: "client-side apply removing a field and a container",
            gvk: DEPLOY,
            original: r#"{"spec":{"replicas":3,"template":{"spec":{"containers":[{"name":"a","image":"a"},{"name":"b","image":"b"}]}}}}"#,
            patch: r#"{"spec":{"replicas":null,"template":{"spec":{"$setElementOrder/containers":[{"name":"a"}],"containers":[{"$patch":"delete","name":"b"}]}}}}"#,
            want: Ok(r#"{"spec":{"template":{"spec":{"containers":[{"name":"a","image":"a"}]}}}}"#),
        },
        Case {
            name: "edit reorders containers with $setElementOrder alone",
            gvk: DEPLOY,
            original: r#"{"spec":{"template":{"spec":{"containers":[{"name":"a","image":"a"},{"name":"b","image":"b"}]}}}}"#,
            patch: r#"{"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"b"},{"name":"a"}]}}}}"#,
            want: Ok(r#"{"spec":{"template":{"spec":{"containers":[{"name":"b","image":"b"},{"name":"a","image":"a"}]}}}}"#),
        },
        Case {
            name: "a new container without $setElementOrder goes before the others",
            gvk: DEPLOY,
            original: r#"{"spec":{"template":{"spec":{"containers":[{"name":"a","image":"a"}]}}}}"#,
            patch: r#"{"spec":{"template":{"spec":{"containers":[{"name":"n","image":"n"}]}}}}"#,
            want: Ok(r#"{"spec":{"template":{"spec":{"containers":[{"name":"n","image":"n"},{"name":"a","image":"a"}]}}}}"#),
        },
        Case {
            name: "a new element loses the directives inside it",
            gvk: DEPLOY,
            original: r#"{"spec":{"template":{"spec":{"containers":[{"name":"a","image":"a"}]}}}}"#,
            patch: r#"{"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"a"},{"name":"n"}],"containers":[{"name":"n","image":"n","$setElementOrder/env":[{"name":"E"}],"env":[{"name":"E","value":"1"},{"$patch":"delete","name":"F"}]}]}}}}"#,
            want: Ok(r#"{"spec":{"template":{"spec":{"containers":[{"name":"a","image":"a"},{"name":"n","image":"n","env":[{"name":"E","value":"1"},{"name":"F"}]}]}}}}"#),
        },
        Case {
            name: "set resources merges the limits map",
            gvk: DEPLOY,
            original: r#"{"spec":{"template":{"spec":{"containers":[{"name":"c","resources":{"limits":{"cpu":"100m","memory":"64Mi"}}}]}}}}"#,
            patch: r#"{"spec":{"template":{"spec":{"containers":[{"name":"c","resources":{"limits":{"cpu":"200m"},"requests":{"cpu":"50m"}}}]}}}}"#,
            want: Ok(r#"{"spec":{"template":{"spec":{"containers":[{"name":"c","resources":{"limits":{"cpu":"200m","memory":"64Mi"},"requests":{"cpu":"50m"}}}]}}}}"#),
        },
        Case {
            name: "edit changes a Service port (delete + add by port)",
            gvk: SVC,
            original: r#"{"spec":{"ports":[{"name":"http","port":80,"protocol":"TCP","targetPort":80}],"type":"ClusterIP"}}"#,
            patch: r#"{"spec":{"$setElementOrder/ports":[{"port":8080}],"ports":[{"name":"http","port":8080,"protocol":"TCP","targetPort":80},{"$patch":"delete","port":80}]}}"#,
            want: Ok(r#"{"spec":{"ports":[{"name":"http","port":8080,"protocol":"TCP","targetPort":80}],"type":"ClusterIP"}}"#),
        },
        Case {
            name: "a new retainKeys object loses its $retainKeys",
            gvk: DEPLOY,
            original: r#"{"spec":{"replicas":1}}"#,
            patch: r#"{"spec":{"strategy":{"$retainKeys":["type"],"type":"Recreate"}}}"#,
            want: Ok(r#"{"spec":{"replicas":1,"strategy":{"type":"Recreate"}}}"#),
        },
        Case {
            name: "cordon",
            gvk: NODE,
            original: r#"{"metadata":{"name":"n"},"spec":{"podCIDR":"10.0.0.0/24"}}"#,
            patch: r#"{"spec":{"unschedulable":true}}"#,
            want: Ok(r#"{"metadata":{"name":"n"},"spec":{"podCIDR":"10.0.0.0/24","unschedulable":true}}"#),
        },
        Case {
            name: "taint replaces the taints list (no strategy upstream)",
            gvk: NODE,
            original: r#"{"spec":{"taints":[{"key":"a","effect":"NoSchedule"}]}}"#,
            patch: r#"{"spec":{"taints":[{"key":"a","effect":"NoSchedule"},{"key":"b","value":"v","effect":"NoExecute"}]}}"#,
            want: Ok(r#"{"spec":{"taints":[{"key":"a","effect":"NoSchedule"},{"key":"b","value":"v","effect":"NoExecute"}]}}"#),
        },
        // ---- merge keys ------------------------------------------------------------------
        Case {
            name: "Service ports merge by port",
            gvk: SVC,
            original: r#"{"spec":{"ports":[{"name":"http","port":80,"protocol":"TCP","targetPort":8080},{"name":"https","port":443,"protocol":"TCP","targetPort":8443}]}}"#,
            patch: r#"{"spec":{"ports":[{"port":80,"targetPort":9090}]}}"#,
            want: Ok(r#"{"spec":{"ports":[{"name":"http","port":80,"protocol":"TCP","targetPort":9090},{"name":"https","port":443,"protocol":"TCP","targetPort":8443}]}}"#),
        },
        Case {
            name: "container ports merge by containerPort",
            gvk: POD,
            original: r#"{"spec":{"containers":[{"name":"c","ports":[{"containerPort":80,"name":"http"},{"containerPort":81}]}]}}"#,
            patch: r#"{"spec":{"containers":[{"name":"c","ports":[{"containerPort":81,"name":"metrics"}]}]}}"#,
            want: Ok(r#"{"spec":{"containers":[{"name":"c","ports":[{"containerPort":80,"name":"http"},{"containerPort":81,"name":"metrics"}]}]}}"#),
        },
        Case {
            name: "volumeMounts merge by mountPath (a new one goes first)",
            gvk: POD,
            original: r#"{"spec":{"containers":[{"name":"c","volumeMounts":[{"name":"v","mountPath":"/a"}]}]}}"#,
            patch: r#"{"spec":{"containers":[{"name":"c","volumeMounts":[{"name":"v","mountPath":"/b"}]}]}}"#,
            want: Ok(r#"{"spec":{"containers":[{"name":"c","volumeMounts":[{"name":"v","mountPath":"/b"},{"name":"v","mountPath":"/a"}]}]}}"#),
        },
        Case {
            name: "volumes: $retainKeys switches the volume source",
            gvk: POD,
            original: r#"{"spec":{"volumes":[{"name":"v","emptyDir":{}},{"name":"w","secret":{"secretName":"s"}}]}}"#,
            patch: r#"{"spec":{"$setElementOrder/volumes":[{"name":"v"},{"name":"w"}],"volumes":[{"$retainKeys":["configMap","name"],"configMap":{"name":"cm"},"name":"v"}]}}"#,
            want: Ok(r#"{"spec":{"volumes":[{"name":"v","configMap":{"name":"cm"}},{"name":"w","secret":{"secretName":"s"}}]}}"#),
        },
        Case {
            name: "imagePullSecrets merge by name",
            gvk: POD,
            original: r#"{"spec":{"imagePullSecrets":[{"name":"a"}]}}"#,
            patch: r#"{"spec":{"imagePullSecrets":[{"name":"a"},{"name":"b"}]}}"#,
            want: Ok(r#"{"spec":{"imagePullSecrets":[{"name":"a"},{"name":"b"}]}}"#),
        },
        Case {
            name: "initContainers merge by name",
            gvk: POD,
            original: r#"{"spec":{"initContainers":[{"name":"i","image":"1"}],"containers":[{"name":"c"}]}}"#,
            patch: r#"{"spec":{"initContainers":[{"name":"i","image":"2"}]}}"#,
            want: Ok(r#"{"spec":{"initContainers":[{"name":"i","image":"2"}],"containers":[{"name":"c"}]}}"#),
        },
        Case {
            name: "tolerations are replaced (no strategy upstream)",
            gvk: POD,
            original: r#"{"spec":{"tolerations":[{"key":"a","operator":"Exists"}]}}"#,
            patch: r#"{"spec":{"tolerations":[{"key":"b","operator":"Exists"}]}}"#,
            want: Ok(r#"{"spec":{"tolerations":[{"key":"b","operator":"Exists"}]}}"#),
        },
        Case {
            name: "container args are replaced",
            gvk: POD,
            original: r#"{"spec":{"containers":[{"name":"c","args":["a","b"]}]}}"#,
            patch: r#"{"spec":{"containers":[{"name":"c","args":["x"]}]}}"#,
            want: Ok(r#"{"spec":{"containers":[{"name":"c","args":["x"]}]}}"#),
        },
        Case {
            name: "ownerReferences merge by uid and delete by uid",
            gvk: POD,
            original: r#"{"metadata":{"ownerReferences":[{"uid":"u1","name":"a","kind":"ReplicaSet","apiVersion":"apps/v1"},{"uid":"u2","name":"b","kind":"ReplicaSet","apiVersion":"apps/v1"}]}}"#,
            patch: r#"{"metadata":{"ownerReferences":[{"$patch":"delete","uid":"u1"},{"uid":"u2","controller":true}]}}"#,
            want: Ok(r#"{"metadata":{"ownerReferences":[{"uid":"u2","name":"b","kind":"ReplicaSet","apiVersion":"apps/v1","controller":true}]}}"#),
        },
        Case {
            name: "PodDisruptionBudget selector is replaced (strategy replace)",
            gvk: ("policy", "v1", "PodDisruptionBudget"),
            original: r#"{"spec":{"selector":{"matchLabels":{"a":"1"}},"minAvailable":1}}"#,
            patch: r#"{"spec":{"selector":{"matchLabels":{"b":"2"}}}}"#,
            want: Ok(r#"{"spec":{"selector":{"matchLabels":{"b":"2"}},"minAvailable":1}}"#),
        },
        // ---- primitive lists -------------------------------------------------------------
        Case {
            name: "finalizers are a union",
            gvk: CM,
            original: r#"{"metadata":{"finalizers":["a","b"]}}"#,
            patch: r#"{"metadata":{"finalizers":["b","c"]}}"#,
            want: Ok(r#"{"metadata":{"finalizers":["a","b","c"]}}"#),
        },
        Case {
            name: "a new finalizer goes first (upstream order)",
            gvk: CM,
            original: r#"{"metadata":{"finalizers":["a"]}}"#,
            patch: r#"{"metadata":{"finalizers":["c"]}}"#,
            want: Ok(r#"{"metadata":{"finalizers":["c","a"]}}"#),
        },
        Case {
            name: "$deleteFromPrimitiveList removes values",
            gvk: CM,
            original: r#"{"metadata":{"finalizers":["1","2","3"]}}"#,
            patch: r#"{"metadata":{"$deleteFromPrimitiveList/finalizers":["2"]}}"#,
            want: Ok(r#"{"metadata":{"finalizers":["1","3"]}}"#),
        },
        Case {
            name: "upstream: $deleteFromPrimitiveList of a missing value adds nothing",
            gvk: CM,
            original: r#"{"metadata":{"finalizers":["1","2"]}}"#,
            patch: r#"{"metadata":{"$deleteFromPrimitiveList/finalizers":["3"]}}"#,
            want: Ok(r#"{"metadata":{"finalizers":["1","2"]}}"#),
        },
        Case {
            name: "upstream: $deleteFromPrimitiveList on a missing list adds no list",
            gvk: CM,
            original: r#"{"metadata":{"name":"x"}}"#,
            patch: r#"{"metadata":{"$deleteFromPrimitiveList/finalizers":["3"]}}"#,
            want: Ok(r#"{"metadata":{"name":"x"}}"#),
        },
        Case {
            name: "upstream: $deleteFromPrimitiveList on a list without merge strategy",
            gvk: POD,
            original: r#"{"spec":{"containers":[{"name":"c","args":["1","2","3"]}]}}"#,
            patch: r#"{"spec":{"containers":[{"name":"c","$deleteFromPrimitiveList/args":["2"]}]}}"#,
            want: Ok(r#"{"spec":{"containers":[{"name":"c","args":["1","3"]}]}}"#),
        },
        Case {
            name: "primitive list: add, delete and order together",
            gvk: CM,
            original: r#"{"metadata":{"finalizers":["a","b"]}}"#,
            patch: r#"{"metadata":{"$setElementOrder/finalizers":["a","c"],"$deleteFromPrimitiveList/finalizers":["b"],"finalizers":["c"]}}"#,
            want: Ok(r#"{"metadata":{"finalizers":["a","c"]}}"#),
        },
        Case {
            name: "upstream: set element order of a primitive list with duplicates",
            gvk: CM,
            original: r#"{"metadata":{"finalizers":["1","2","3","2","4"]}}"#,
            patch: r#"{"metadata":{"$setElementOrder/finalizers":["2","1","4","3","2"]}}"#,
            want: Ok(r#"{"metadata":{"finalizers":["2","2","1","4","3"]}}"#),
        },
        // ---- $patch directives ---------------------------------------------------------
        Case {
            name: "$patch: replace on a map",
            gvk: DEPLOY,
            original: r#"{"spec":{"template":{"metadata":{"labels":{"a":"1","b":"2"}}}}}"#,
            patch: r#"{"spec":{"template":{"metadata":{"labels":{"$patch":"replace","x":"y"}}}}}"#,
            want: Ok(r#"{"spec":{"template":{"metadata":{"labels":{"x":"y"}}}}}"#),
        },
        Case {
            name: "$patch: delete on a map leaves an empty map",
            gvk: DEPLOY,
            original: r#"{"spec":{"strategy":{"type":"Recreate"},"replicas":1}}"#,
            patch: r#"{"spec":{"strategy":{"$patch":"delete"}}}"#,
            want: Ok(r#"{"spec":{"strategy":{},"replicas":1}}"#),
        },
        Case {
            name: "$patch: replace in a merge list",
            gvk: POD,
            original: r#"{"spec":{"containers":[{"name":"a","image":"a"},{"name":"b","image":"b"}]}}"#,
            patch: r#"{"spec":{"containers":[{"name":"x","image":"x"},{"$patch":"replace"}]}}"#,
            want: Ok(r#"{"spec":{"containers":[{"name":"x","image":"x"}]}}"#),
        },
        Case {
            name: "$patch: delete of a missing element changes nothing",
            gvk: POD,
            original: r#"{"spec":{"containers":[{"name":"a","image":"a"}]}}"#,
            patch: r#"{"spec":{"containers":[{"$patch":"delete","name":"zz"}]}}"#,
            want: Ok(r#"{"spec":{"containers":[{"name":"a","image":"a"}]}}"#),
        },
        Case {
            name: "$patch: merge in a list element is rejected",
            gvk: POD,
            original: r#"{"spec":{"containers":[{"name":"a"}]}}"#,
            patch: r#"{"spec":{"containers":[{"$patch":"merge","name":"a"}]}}"#,
            want: Err(500, "merging lists cannot yet be specified in the patch"),
        },
        Case {
            name: "$patch: merge in a map is rejected",
            gvk: DEPLOY,
            original: r#"{"spec":{"strategy":{"type":"Recreate"}}}"#,
            patch: r#"{"spec":{"strategy":{"$patch":"merge","type":"RollingUpdate"}}}"#,
            want: Err(500, "unknown patch type: merge in map: map[$patch:merge type:RollingUpdate]"),
        },
        Case {
            name: "$patch: bogus in a list element",
            gvk: POD,
            original: r#"{"spec":{"containers":[{"name":"a"}]}}"#,
            patch: r#"{"spec":{"containers":[{"$patch":"bogus","name":"a"}]}}"#,
            want: Err(500, "unknown patch type: bogus in map: map[$patch:bogus name:a]"),
        },
        Case {
            name: "$patch with a non-string value",
            gvk: CM,
            original: r#"{"data":{"a":"1"}}"#,
            patch: r#"{"data":{"$patch":1}}"#,
            want: Err(500, "unknown patch type: %!s(int64=1) in map: map[$patch:1]"),
        },
        Case {
            name: "$patch: replace at the top replaces the object",
            gvk: CM,
            original: r#"{"metadata":{"name":"c"},"data":{"a":"1"}}"#,
            patch: r#"{"$patch":"replace","metadata":{"name":"c"}}"#,
            want: Ok(r#"{"metadata":{"name":"c"}}"#),
        },
        // ---- $retainKeys -----------------------------------------------------------------
        Case {
            name: "Deployment strategy: $retainKeys clears rollingUpdate",
            gvk: DEPLOY,
            original: r#"{"spec":{"strategy":{"type":"RollingUpdate","rollingUpdate":{"maxSurge":1,"maxUnavailable":0}}}}"#,
            patch: r#"{"spec":{"strategy":{"$retainKeys":["type"],"rollingUpdate":null,"type":"Recreate"}}}"#,
            want: Ok(r#"{"spec":{"strategy":{"type":"Recreate"}}}"#),
        },
        Case {
            name: "$retainKeys must list every patched key",
            gvk: DEPLOY,
            original: r#"{"spec":{"strategy":{"type":"RollingUpdate"}}}"#,
            patch: r#"{"spec":{"strategy":{"$retainKeys":["type"],"rollingUpdate":{"maxSurge":2}}}}"#,
            want: Err(400, "invalid patch format of retainKeys"),
        },
        Case {
            name: "$retainKeys must be a list",
            gvk: DEPLOY,
            original: r#"{"spec":{"strategy":{"type":"RollingUpdate"}}}"#,
            patch: r#"{"spec":{"strategy":{"$retainKeys":"type"}}}"#,
            want: Err(400, "invalid patch format of retainKeys"),
        },
        // ---- $setElementOrder (upstream cases) -----------------------------------------
        Case {
            name: "upstream: add an item in a list and preserve order",
            gvk: POD,
            original: r#"{"spec":{"containers":[{"name":"1","image":"a"},{"name":"2","image":"b"}]}}"#,
            patch: r#"{"spec":{"$setElementOrder/containers":[{"name":"3"},{"name":"1"},{"name":"2"}],"containers":[{"name":"3","image":"3"}]}}"#,
            want: Ok(r#"{"spec":{"containers":[{"name":"3","image":"3"},{"name":"1","image":"a"},{"name":"2","image":"b"}]}}"#),
        },
        Case {
            name: "upstream: add multiple items in a list and preserve order",
            gvk: POD,
            original: r#"{"spec":{"containers":[{"name":"1","image":"a"},{"name":"2","image":"b"}]}}"#,
            patch: r#"{"spec":{"$setElementOrder/containers":[{"name":"1"},{"name":"4"},{"name":"2"},{"name":"3"}],"containers":[{"name":"4","image":"4"},{"name":"3","image":"3"}]}}"#,
            want: Ok(r#"{"spec":{"containers":[{"name":"1","image":"a"},{"name":"4","image":"4"},{"name":"2","image":"b"},{"name":"3","image":"3"}]}}"#),
        },
        Case {
            name: "upstream: set elements order in a list with server-only items 2",
            gvk: POD,
            original: r#"{"spec":{"containers":[{"name":"1"},{"name":"2"},{"name":"9"},{"name":"3"},{"name":"4"}]}}"#,
            patch: r#"{"spec":{"$setElementOrder/containers":[{"name":"2"},{"name":"1"},{"name":"4"},{"name":"3"}]}}"#,
            want: Ok(r#"{"spec":{"containers":[{"name":"2"},{"name":"1"},{"name":"9"},{"name":"4"},{"name":"3"}]}}"#),
        },
        Case {
            name: "upstream: set elements order in a list with server-only items 3",
            gvk: POD,
            original: r#"{"spec":{"containers":[{"name":"1"},{"name":"2"},{"name":"7"},{"name":"9"},{"name":"8"},{"name":"3"},{"name":"4"}]}}"#,
            patch: r#"{"spec":{"$setElementOrder/containers":[{"name":"2"},{"name":"1"},{"name":"4"},{"name":"3"}]}}"#,
            want: Ok(r#"{"spec":{"containers":[{"name":"2"},{"name":"1"},{"name":"7"},{"name":"9"},{"name":"8"},{"name":"4"},{"name":"3"}]}}"#),
        },
        Case {
            name: "upstream: set element order for a merging list with duplicates",
            gvk: POD,
            original: r#"{"spec":{"containers":[{"name":"1"},{"name":"2","image":"dup1"},{"name":"3"},{"name":"2","image":"dup2"},{"name":"4"}]}}"#,
            patch: r#"{"spec":{"$setElementOrder/containers":[{"name":"2"},{"name":"1"},{"name":"4"},{"name":"3"},{"name":"2"}]}}"#,
            want: Ok(r#"{"spec":{"containers":[{"name":"2","image":"dup1"},{"name":"2","image":"dup2"},{"name":"1"},{"name":"4"},{"name":"3"}]}}"#),
        },
        Case {
            name: "upstream: $setElementOrder may list items the list lacks",
            gvk: POD,
            original: r#"{"spec":{"containers":[{"name":"1"},{"name":"3"}]}}"#,
            patch: r#"{"spec":{"$setElementOrder/containers":[{"name":"3"},{"name":"2"},{"name":"1"}],"containers":[{"name":"3","image":"3"},{"name":"1","image":"1"}]}}"#,
            want: Ok(r#"{"spec":{"containers":[{"name":"3","image":"3"},{"name":"1","image":"1"}]}}"#),
        },
        Case {
            name: "upstream: the patch list must follow the $setElementOrder order",
            gvk: POD,
            original: r#"{"spec":{"containers":[{"name":"1"},{"name":"3"},{"name":"2"}]}}"#,
            patch: r#"{"spec":{"$setElementOrder/containers":[{"name":"1"},{"name":"2"},{"name":"3"}],"containers":[{"name":"3","image":"3"},{"name":"1","image":"1"}]}}"#,
            want: Err(500, "The order in patch list:\n[map[image:3 name:3] map[image:1 name:1]]\n doesn't match $setElementOrder list:\n[map[name:1] map[name:2] map[name:3]]\n"),
        },
        Case {
            name: "$setElementOrder must be a list",
            gvk: POD,
            original: r#"{"spec":{"containers":[{"name":"1"}]}}"#,
            patch: r#"{"spec":{"$setElementOrder/containers":"1"}}"#,
            want: Err(500, "expected a []interface {}, but received a string"),
        },
        Case {
            name: "a $setElementOrder key without a list name",
            gvk: POD,
            original: r#"{"spec":{"containers":[{"name":"1"}]}}"#,
            patch: r#"{"spec":{"$setElementOrderX":[]}}"#,
            want: Err(400, "invalid patch format of setElementOrder list"),
        },
        Case {
            name: "a $deleteFromPrimitiveList key without a list name",
            gvk: CM,
            original: r#"{"metadata":{"finalizers":["a"]}}"#,
            patch: r#"{"metadata":{"$deleteFromPrimitiveList":["a"]}}"#,
            want: Err(400, "invalid patch format of primitive list"),
        },
        // ---- errors ------------------------------------------------------------------------
        Case {
            name: "upstream: a merge list element without its merge key",
            gvk: POD,
            original: r#"{"spec":{"containers":[{"name":"1","image":"a"}]}}"#,
            patch: r#"{"spec":{"containers":[{"image":"b"}]}}"#,
            want: Err(500, "map: map[image:b] does not contain declared merge key: name"),
        },
        Case {
            name: "a $patch: delete element without its merge key",
            gvk: POD,
            original: r#"{"spec":{"containers":[{"name":"1"}]}}"#,
            patch: r#"{"spec":{"containers":[{"$patch":"delete"}]}}"#,
            want: Err(500, "map: map[$patch:delete] does not contain declared merge key: name"),
        },
        Case {
            name: "mixed element types",
            gvk: CM,
            original: r#"{"metadata":{"finalizers":["a"]}}"#,
            patch: r#"{"metadata":{"finalizers":[1]}}"#,
            want: Err(500, "list element types are not identical: [[a] [1]]"),
        },
        Case {
            name: "lists of lists are a 422",
            gvk: CM,
            original: r#"{"metadata":{"finalizers":[]}}"#,
            patch: r#"{"metadata":{"finalizers":[["a"]]}}"#,
            want: Err(422, "the server rejected our request due to an error in our request"),
        },
        Case {
            name: "a patch that is not an object",
            gvk: CM,
            original: r#"{"data":{"a":"1"}}"#,
            patch: r#"[{"op":"add"}]"#,
            want: Err(400, "json: cannot unmarshal array into Go value of type map[string]interface {}"),
        },
        // ---- opaque values, subresources, unknown kinds --------------------------------
        Case {
            name: "ControllerRevision data is opaque: its $patch stays",
            gvk: REVISION,
            original: r#"{"data":{"spec":{"template":{"$patch":"replace","spec":{}}}},"revision":1}"#,
            patch: r#"{"revision":2}"#,
            want: Ok(r#"{"data":{"spec":{"template":{"$patch":"replace","spec":{}}}},"revision":2}"#),
        },
        Case {
            name: "the Scale subresource kind",
            gvk: SCALE,
            original: r#"{"kind":"Scale","apiVersion":"autoscaling/v1","spec":{"replicas":1}}"#,
            patch: r#"{"spec":{"replicas":3}}"#,
            want: Ok(r#"{"kind":"Scale","apiVersion":"autoscaling/v1","spec":{"replicas":3}}"#),
        },
        Case {
            name: "an unknown kind merges maps and replaces lists",
            gvk: WIDGET,
            original: r#"{"spec":{"items":[{"name":"a"}],"m":{"a":1}}}"#,
            patch: r#"{"spec":{"items":[{"name":"b"}],"m":{"b":2,"$retainKeys":["b"]}}}"#,
            want: Ok(r#"{"spec":{"items":[{"name":"b"}],"m":{"b":2}}}"#),
        },
    ]
}

fn parse(text: &str, case: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{case}: bad JSON {e}: {text}"))
}

#[test]
fn table() {
    let mut failures = Vec::new();
    for case in cases() {
        let (g, v, k) = case.gvk;
        let original = parse(case.original, case.name);
        let patch = parse(case.patch, case.name);
        let got = apply(g, v, k, &original, &patch);
        match (&case.want, got) {
            (Want::Ok(want), Ok(got)) => {
                let want = parse(want, case.name);
                if got != want {
                    failures.push(format!("{}:\n  want {want}\n  got  {got}", case.name));
                }
            }
            (Want::Err(code, text), Err(err)) => {
                if err.code() != *code || !err.message().contains(text) {
                    failures.push(format!(
                        "{}:\n  want {code} {text:?}\n  got  {} {:?}",
                        case.name,
                        err.code(),
                        err.message()
                    ));
                }
            }
            (Want::Ok(_), Err(err)) => {
                failures.push(format!("{}: unexpected error {err:?}", case.name))
            }
            (Want::Err(..), Ok(got)) => {
                failures.push(format!("{}: expected an error, got {got}", case.name))
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failing:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Keys order is not compared by `Value`'s equality; list order is, and so is every value.
#[test]
fn full_deployment_set_image() {
    let original = parse(
        &deploy(
            r#"[{"name":"web","image":"nginx:1","ports":[{"containerPort":80}]},{"name":"side","image":"busybox"}]"#,
        ),
        "deploy",
    );
    let patch =
        json!({"spec":{"template":{"spec":{"containers":[{"image":"nginx:2","name":"web"}]}}}});
    let got = apply("apps", "v1", "Deployment", &original, &patch).expect("patch");
    let mut want = original.clone();
    want["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx:2");
    assert_eq!(got, want);
}

#[test]
fn supported_kinds() {
    assert!(supports("apps", "v1", "Deployment"));
    assert!(supports("", "v1", "Pod"));
    assert!(supports("", "v1", "Node"));
    assert!(supports("autoscaling", "v1", "Scale"));
    assert!(supports(
        "apiextensions.k8s.io",
        "v1",
        "CustomResourceDefinition"
    ));
    assert!(!supports("example.com", "v1", "Widget"));
    assert!(!supports("apps", "v1beta1", "Deployment"));
}

#[test]
fn merge_keys_from_the_openapi_documents() {
    let meta = |g, v, k, path: &[&str]| field_meta(g, v, k, path);
    let fm = |strategy: &str, key: &str| {
        Some(FieldMeta {
            strategy: strategy.into(),
            merge_key: key.into(),
        })
    };
    let tpl = ["spec", "template", "spec"];
    let at = |rest: &[&'static str]| -> Vec<&'static str> {
        tpl.iter().copied().chain(rest.iter().copied()).collect()
    };
    assert_eq!(
        meta("apps", "v1", "Deployment", &at(&["containers"])),
        fm("merge", "name")
    );
    assert_eq!(
        meta("apps", "v1", "Deployment", &at(&["initContainers"])),
        fm("merge", "name")
    );
    assert_eq!(
        meta("apps", "v1", "Deployment", &at(&["containers", "env"])),
        fm("merge", "name")
    );
    assert_eq!(
        meta("apps", "v1", "Deployment", &at(&["containers", "ports"])),
        fm("merge", "containerPort")
    );
    assert_eq!(
        meta(
            "apps",
            "v1",
            "Deployment",
            &at(&["containers", "volumeMounts"])
        ),
        fm("merge", "mountPath")
    );
    assert_eq!(
        meta("apps", "v1", "Deployment", &at(&["volumes"])),
        fm("merge,retainKeys", "name")
    );
    assert_eq!(
        meta("apps", "v1", "Deployment", &at(&["imagePullSecrets"])),
        fm("merge", "name")
    );
    assert_eq!(
        meta("apps", "v1", "Deployment", &at(&["tolerations"])),
        fm("", "")
    );
    assert_eq!(
        meta("apps", "v1", "Deployment", &["spec", "strategy"]),
        fm("retainKeys", "")
    );
    assert_eq!(
        meta("", "v1", "Service", &["spec", "ports"]),
        fm("merge", "port")
    );
    assert_eq!(meta("", "v1", "Node", &["spec", "taints"]), fm("", ""));
    assert_eq!(
        meta("", "v1", "ConfigMap", &["metadata", "finalizers"]),
        fm("merge", "")
    );
    assert_eq!(
        meta("", "v1", "Pod", &["metadata", "ownerReferences"]),
        fm("merge", "uid")
    );
    assert_eq!(
        meta("policy", "v1", "PodDisruptionBudget", &["spec", "selector"]),
        fm("replace", "")
    );
    assert_eq!(meta("", "v1", "Pod", &["spec", "nope"]), None);
    assert_eq!(meta("example.com", "v1", "Widget", &["spec"]), None);
}

#[test]
fn error_statuses() {
    let bad = SmpError::BadRetainKeys;
    assert_eq!((bad.code(), bad.reason()), (400, "BadRequest"));
    let lol = SmpError::ListOfLists;
    assert_eq!((lol.code(), lol.reason()), (422, "Invalid"));
    assert_eq!(lol.to_string(), "lists of lists are not supported");
    let other = SmpError::Failed("x".into());
    assert_eq!(
        (other.code(), other.reason(), other.message()),
        (500, "", "x".to_string())
    );
}

/// `levels` nested objects around `leaf`.
fn nested(levels: usize, leaf: Value) -> Value {
    let mut v = leaf;
    for _ in 0..levels {
        v = json!({ "k": v });
    }
    v
}

#[test]
fn depth_limit() {
    let deep = nested(MAX_DEPTH + 1, json!(1));
    let err = apply("", "v1", "ConfigMap", &json!({}), &deep).expect_err("too deep");
    assert_eq!(err, SmpError::TooDeep);
    assert_eq!(err.code(), 400);
    let err = apply("", "v1", "ConfigMap", &deep, &json!({})).expect_err("too deep");
    assert_eq!(err, SmpError::TooDeep);
    // At the limit, the merge recursion fits in a small stack.
    let ok = std::thread::Builder::new()
        .stack_size(1 << 20)
        .spawn(|| {
            let original = nested(MAX_DEPTH, json!(1));
            let patch = nested(MAX_DEPTH, json!(2));
            apply("example.com", "v1", "Widget", &original, &patch)
                .map(|got| got == nested(MAX_DEPTH, json!(2)))
        })
        .expect("spawn")
        .join();
    assert!(matches!(ok, Ok(Ok(true))), "{ok:?}");
}

/// Arbitrary inputs never panic.
#[test]
fn no_panics_on_odd_inputs() {
    let originals = [
        json!({}),
        json!({"spec":{"containers":[1, "a", null, [], {}]}}),
        json!({"spec":{"containers":[{"name":"a"}, {"image":"x"}], "volumes": {"a": 1}}}),
        json!({"metadata":{"finalizers":[null, {"a":1}], "ownerReferences":[[]]}}),
    ];
    let patches = [
        json!({"spec":{"containers":[null]}}),
        json!({"spec":{"containers":[{"$patch":"delete"}, {"$patch":null}]}}),
        json!({"spec":{"$setElementOrder/containers":[1, null, {}], "containers":[{"name":"a"}]}}),
        json!({"spec":{"$setElementOrder/volumes":[{"name":"a"}], "volumes":[{"name":"a"}]}}),
        json!({"metadata":{"$setElementOrder/finalizers":[{"a":1}], "$deleteFromPrimitiveList/finalizers":[{}], "finalizers":[[1]]}}),
        json!({"metadata":{"$retainKeys":[1, null], "ownerReferences":[{"$patch":"replace"}]}}),
        json!({"$patch":"delete"}),
        json!({"spec":{"tolerations":{"$patch":"replace"}, "containers":{"name":"x"}}}),
    ];
    for (g, v, k) in [POD, CM, WIDGET] {
        for original in &originals {
            for patch in &patches {
                let _ = apply(g, v, k, original, patch);
            }
        }
    }
}
