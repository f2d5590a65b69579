//! Decoder tests over hand-built protobuf bytes, laid out as gogo-protobuf writes them
//! (every non-pointer field present, even when zero).

use serde_json::{json, Value};

use super::schema::{self, Ty};
use super::*;

/// A tiny protobuf writer.
#[derive(Clone, Default)]
struct Pb(Vec<u8>);

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

impl Pb {
    fn new() -> Self {
        Pb(Vec::new())
    }
    fn key(mut self, tag: u32, wire: u8) -> Self {
        varint(&mut self.0, (u64::from(tag) << 3) | u64::from(wire));
        self
    }
    fn int(self, tag: u32, v: i64) -> Self {
        let mut s = self.key(tag, 0);
        varint(&mut s.0, v as u64);
        s
    }
    fn boolean(self, tag: u32, v: bool) -> Self {
        self.int(tag, i64::from(v))
    }
    fn bytes(self, tag: u32, v: &[u8]) -> Self {
        let mut s = self.key(tag, 2);
        varint(&mut s.0, v.len() as u64);
        s.0.extend_from_slice(v);
        s
    }
    fn str(self, tag: u32, v: &str) -> Self {
        self.bytes(tag, v.as_bytes())
    }
    fn msg(self, tag: u32, m: Pb) -> Self {
        self.bytes(tag, &m.0)
    }
    fn fixed32(self, tag: u32, v: u32) -> Self {
        let mut s = self.key(tag, 5);
        s.0.extend_from_slice(&v.to_le_bytes());
        s
    }
    fn fixed64(self, tag: u32, v: u64) -> Self {
        let mut s = self.key(tag, 1);
        s.0.extend_from_slice(&v.to_le_bytes());
        s
    }
    /// A `map<string, string>` entry.
    fn entry(self, tag: u32, k: &str, v: &str) -> Self {
        self.msg(tag, Pb::new().str(1, k).str(2, v))
    }
}

/// `k8s\0` + runtime.Unknown{typeMeta, raw, contentEncoding "", contentType ""}.
fn body(api_version: &str, kind: &str, raw: Pb) -> Vec<u8> {
    let unknown = Pb::new()
        .msg(1, Pb::new().str(1, api_version).str(2, kind))
        .msg(2, raw)
        .str(3, "")
        .str(4, "");
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&unknown.0);
    out
}

/// ObjectMeta as gogo writes it: every non-pointer field, zero or not, and an empty Time.
fn object_meta(name: &str, namespace: &str) -> Pb {
    Pb::new()
        .str(1, name)
        .str(2, "")
        .str(3, namespace)
        .str(4, "")
        .str(5, "")
        .str(6, "")
        .int(7, 0)
        .msg(8, Pb::new())
}

fn decoded(bytes: &[u8]) -> Value {
    match decode_body(bytes) {
        Ok(b) => b.object,
        Err(e) => panic!("decode failed: {e}"),
    }
}

/// Exact JSON, key order included.
fn assert_json(actual: &Value, expected: Value) {
    assert_eq!(actual.to_string(), expected.to_string());
}

#[test]
fn configmap_with_data_and_labels() {
    let raw = Pb::new()
        .msg(
            1,
            object_meta("x", "")
                .entry(11, "app", "web")
                .entry(11, "tier", "be"),
        )
        .entry(2, "a", "b")
        .entry(2, "c", "");
    let obj = decoded(&body("v1", "ConfigMap", raw));
    assert_json(
        &obj,
        json!({
            "kind": "ConfigMap",
            "apiVersion": "v1",
            "metadata": {"name": "x", "creationTimestamp": null, "labels": {"app": "web", "tier": "be"}},
            "data": {"a": "b", "c": ""}
        }),
    );
}

#[test]
fn secret_bytes_are_base64() {
    let raw = Pb::new()
        .msg(1, object_meta("s", "default"))
        .msg(2, Pb::new().str(1, "k").bytes(2, b"hello\x00\xff"))
        .msg(2, Pb::new().str(1, "empty").bytes(2, b""))
        .msg(2, Pb::new().str(1, "one").bytes(2, b"a"))
        .str(3, "Opaque");
    let obj = decoded(&body("v1", "Secret", raw));
    assert_json(
        &obj,
        json!({
            "kind": "Secret",
            "apiVersion": "v1",
            "metadata": {"name": "s", "namespace": "default", "creationTimestamp": null},
            "data": {"k": "aGVsbG8A/w==", "empty": "", "one": "YQ=="},
            "type": "Opaque"
        }),
    );
}

fn pod_template(container: Pb) -> Pb {
    Pb::new()
        .msg(1, object_meta("", "").entry(11, "app", "web"))
        .msg(2, Pb::new().msg(2, container))
}

#[test]
fn deployment_with_zero_replicas_and_int_or_string() {
    let container = Pb::new()
        .str(1, "nginx")
        .str(2, "nginx:1.27")
        .msg(
            6,
            Pb::new()
                .str(1, "")
                .int(2, 0)
                .int(3, 80)
                .str(4, "TCP")
                .str(5, ""),
        )
        .msg(8, Pb::new())
        .str(13, "")
        .str(14, "")
        .boolean(16, false);
    let rolling = Pb::new()
        .msg(1, Pb::new().int(1, 0).int(2, 1).str(3, ""))
        .msg(2, Pb::new().int(1, 1).int(2, 0).str(3, "25%"));
    let spec = Pb::new()
        .int(1, 0)
        .msg(2, Pb::new().entry(1, "app", "web"))
        .msg(3, pod_template(container))
        .msg(4, Pb::new().str(1, "RollingUpdate").msg(2, rolling))
        .int(5, 0)
        .boolean(7, false);
    let raw = Pb::new()
        .msg(1, object_meta("web", "default"))
        .msg(2, spec)
        .msg(
            3,
            Pb::new().int(1, 0).int(2, 0).int(3, 0).int(4, 0).int(5, 0),
        );
    let obj = decoded(&body("apps/v1", "Deployment", raw));
    assert_json(
        &obj,
        json!({
            "kind": "Deployment",
            "apiVersion": "apps/v1",
            "metadata": {"name": "web", "namespace": "default", "creationTimestamp": null},
            "spec": {
                "replicas": 0,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"creationTimestamp": null, "labels": {"app": "web"}},
                    "spec": {"containers": [{
                        "name": "nginx",
                        "image": "nginx:1.27",
                        "ports": [{"containerPort": 80, "protocol": "TCP"}],
                        "resources": {}
                    }]}
                },
                "strategy": {
                    "type": "RollingUpdate",
                    "rollingUpdate": {"maxUnavailable": 1, "maxSurge": "25%"}
                }
            },
            "status": {}
        }),
    );
}

#[test]
fn pod_with_quantity_time_and_inline_structs() {
    let limits = Pb::new()
        .msg(1, Pb::new().str(1, "cpu").msg(2, Pb::new().str(1, "500m")))
        .msg(
            1,
            Pb::new().str(1, "memory").msg(2, Pb::new().str(1, "1Gi")),
        );
    let env = Pb::new().str(1, "PASSWORD").str(2, "").msg(
        3,
        Pb::new().msg(
            4,
            Pb::new()
                .msg(1, Pb::new().str(1, "creds"))
                .str(2, "password"),
        ),
    );
    let probe = Pb::new()
        .msg(
            1,
            Pb::new().msg(
                2,
                Pb::new()
                    .str(1, "/healthz")
                    .msg(2, Pb::new().int(1, 0).int(2, 8080))
                    .str(3, "")
                    .str(4, "HTTP"),
            ),
        )
        .int(2, 5)
        .int(3, 0);
    let container = Pb::new()
        .str(1, "app")
        .str(2, "app:v1")
        .msg(7, env)
        .msg(8, limits)
        .msg(10, probe);
    let volume = Pb::new().str(1, "config").msg(
        2,
        Pb::new().msg(19, Pb::new().msg(1, Pb::new().str(1, "app-config"))),
    );
    let spec = Pb::new()
        .msg(1, volume)
        .msg(2, container)
        .str(3, "Always")
        .int(4, 0)
        .boolean(11, false);
    let meta = Pb::new()
        .str(1, "p")
        .str(3, "default")
        .msg(8, Pb::new().int(1, 1_704_164_645).int(2, 123))
        .msg(9, Pb::new().int(1, 1_704_164_675));
    let raw = Pb::new().msg(1, meta).msg(2, spec).msg(3, Pb::new());
    let obj = decoded(&body("v1", "Pod", raw));
    assert_json(
        &obj,
        json!({
            "kind": "Pod",
            "apiVersion": "v1",
            "metadata": {
                "name": "p",
                "namespace": "default",
                "creationTimestamp": "2024-01-02T03:04:05Z",
                "deletionTimestamp": "2024-01-02T03:04:35Z"
            },
            "spec": {
                "volumes": [{"name": "config", "configMap": {"name": "app-config"}}],
                "containers": [{
                    "name": "app",
                    "image": "app:v1",
                    "env": [{"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "password"}}}],
                    "resources": {"limits": {"cpu": "500m", "memory": "1Gi"}},
                    "livenessProbe": {
                        "httpGet": {"path": "/healthz", "port": 8080, "scheme": "HTTP"},
                        "initialDelaySeconds": 5
                    }
                }],
                "restartPolicy": "Always",
                "terminationGracePeriodSeconds": 0
            },
            "status": {}
        }),
    );
}

#[test]
fn delete_options_under_any_group() {
    let raw = Pb::new().int(1, 0).str(4, "Foreground").str(5, "All");
    for api_version in ["v1", "apps/v1", "meta.k8s.io/v1", "example.com/v1alpha1"] {
        let obj = decoded(&body(api_version, "DeleteOptions", raw.clone()));
        assert_json(
            &obj,
            json!({
                "kind": "DeleteOptions",
                "apiVersion": api_version,
                "gracePeriodSeconds": 0,
                "propagationPolicy": "Foreground",
                "dryRun": ["All"]
            }),
        );
    }
    assert_eq!(
        message_for_kind("batch/v1", "DeleteOptions"),
        Some("k8s.io.apimachinery.pkg.apis.meta.v1.DeleteOptions")
    );
    // Preconditions and a negative grace period (10-byte varint).
    let raw = Pb::new()
        .int(1, -1)
        .msg(2, Pb::new().str(1, "uid-1").str(2, "42"));
    let obj = decoded(&body("v1", "DeleteOptions", raw));
    assert_json(
        &obj,
        json!({
            "kind": "DeleteOptions",
            "apiVersion": "v1",
            "gracePeriodSeconds": -1,
            "preconditions": {"uid": "uid-1", "resourceVersion": "42"}
        }),
    );
}

#[test]
fn namespace() {
    let raw = Pb::new()
        .msg(1, object_meta("team-a", ""))
        .msg(2, Pb::new())
        .msg(3, Pb::new().str(1, ""));
    let decoded_body = decode_body(&body("v1", "Namespace", raw)).expect("decodes");
    assert_eq!(decoded_body.api_version, "v1");
    assert_eq!(decoded_body.kind, "Namespace");
    assert_json(
        &decoded_body.object,
        json!({
            "kind": "Namespace",
            "apiVersion": "v1",
            "metadata": {"name": "team-a", "creationTimestamp": null},
            "spec": {},
            "status": {}
        }),
    );
}

#[test]
fn self_subject_access_review() {
    let attrs = Pb::new()
        .str(1, "default")
        .str(2, "create")
        .str(3, "apps")
        .str(4, "")
        .str(5, "deployments")
        .str(6, "")
        .str(7, "");
    let raw = Pb::new()
        .msg(1, object_meta("", ""))
        .msg(2, Pb::new().msg(1, attrs))
        .msg(
            3,
            Pb::new()
                .boolean(1, false)
                .boolean(4, false)
                .str(2, "")
                .str(3, ""),
        );
    let obj = decoded(&body(
        "authorization.k8s.io/v1",
        "SelfSubjectAccessReview",
        raw,
    ));
    assert_json(
        &obj,
        json!({
            "kind": "SelfSubjectAccessReview",
            "apiVersion": "authorization.k8s.io/v1",
            "metadata": {"creationTimestamp": null},
            "spec": {"resourceAttributes": {
                "namespace": "default", "verb": "create", "group": "apps", "resource": "deployments"
            }},
            "status": {"allowed": false}
        }),
    );
}

#[test]
fn subject_access_review_extra_is_a_map_of_arrays() {
    let extra = Pb::new()
        .str(1, "scopes")
        .msg(2, Pb::new().str(1, "a").str(1, "b"));
    let spec = Pb::new()
        .str(3, "jane")
        .str(4, "devs")
        .msg(5, extra)
        .msg(5, Pb::new().str(1, "none"));
    let raw = Pb::new().msg(1, object_meta("", "")).msg(2, spec);
    let obj = decoded(&body("authorization.k8s.io/v1", "SubjectAccessReview", raw));
    assert_json(
        &obj["spec"],
        json!({"user": "jane", "groups": ["devs"], "extra": {"scopes": ["a", "b"], "none": []}}),
    );
}

#[test]
fn lists_lease_microtime_and_managed_fields() {
    let lease = Pb::new()
        .msg(1, object_meta("node-1", "kube-node-lease"))
        .msg(
            2,
            Pb::new()
                .str(1, "node-1")
                .int(2, 40)
                .msg(4, Pb::new().int(1, 1_704_164_645).int(2, 123_456_789)),
        );
    let list = Pb::new()
        .msg(1, Pb::new().str(2, "7").str(3, ""))
        .msg(2, lease);
    let obj = decoded(&body("coordination.k8s.io/v1", "LeaseList", list));
    assert_json(
        &obj,
        json!({
            "kind": "LeaseList",
            "apiVersion": "coordination.k8s.io/v1",
            "metadata": {"resourceVersion": "7"},
            "items": [{
                "metadata": {"name": "node-1", "namespace": "kube-node-lease", "creationTimestamp": null},
                "spec": {"holderIdentity": "node-1", "leaseDurationSeconds": 40, "renewTime": "2024-01-02T03:04:05.123456Z"}
            }]
        }),
    );

    let managed = Pb::new()
        .str(1, "kubectl-create")
        .str(2, "Update")
        .str(3, "v1")
        .msg(4, Pb::new().int(1, 1_704_164_645))
        .str(6, "FieldsV1")
        .msg(7, Pb::new().bytes(1, br#"{"f:data":{"f:a":{}}}"#));
    let raw = Pb::new().msg(1, object_meta("x", "").msg(17, managed));
    let obj = decoded(&body("v1", "ConfigMap", raw));
    assert_json(
        &obj["metadata"]["managedFields"],
        json!([{
            "manager": "kubectl-create",
            "operation": "Update",
            "apiVersion": "v1",
            "time": "2024-01-02T03:04:05Z",
            "fieldsType": "FieldsV1",
            "fieldsV1": {"f:data": {"f:a": {}}}
        }]),
    );
}

#[test]
fn raw_extension_json_and_nested_protobuf() {
    let raw = Pb::new()
        .msg(1, object_meta("rev", "default"))
        .msg(2, Pb::new().bytes(1, br#"{"spec":{"x":1}}"#))
        .int(3, 2);
    let obj = decoded(&body("apps/v1", "ControllerRevision", raw));
    assert_json(&obj["data"], json!({"spec": {"x": 1}}));
    assert_eq!(obj["revision"], json!(2));

    let inner = body(
        "v1",
        "ConfigMap",
        Pb::new().msg(1, object_meta("x", "")).entry(2, "a", "b"),
    );
    let list = Pb::new()
        .msg(1, Pb::new())
        .msg(2, Pb::new().bytes(1, &inner));
    let obj = decoded(&body("v1", "List", list));
    assert_json(
        &obj["items"],
        json!([{"kind": "ConfigMap", "apiVersion": "v1", "metadata": {"name": "x", "creationTimestamp": null}, "data": {"a": "b"}}]),
    );

    let bad = Pb::new()
        .msg(1, object_meta("rev", ""))
        .msg(2, Pb::new().bytes(1, b"{not json"));
    let err = decode_body(&body("apps/v1", "ControllerRevision", bad)).expect_err("bad JSON");
    assert!(
        matches!(err, ProtobufError::Malformed { ref path, .. } if path == "ControllerRevision.data"),
        "{err}"
    );
}

#[test]
fn packed_and_unpacked_repeated_scalars() {
    let mut packed_values = Vec::new();
    for v in [1u64, 2, 300] {
        varint(&mut packed_values, v);
    }
    let unpacked = Pb::new().int(1, 1).int(1, 2).int(1, 300);
    let packed = Pb::new().bytes(1, &packed_values);
    for raw in [unpacked, packed] {
        let obj = decoded(&body("v1", "PodPortForwardOptions", raw));
        assert_eq!(obj["ports"], json!([1, 2, 300]));
    }
}

#[test]
fn unknown_fields_are_skipped() {
    let raw = Pb::new()
        .int(900, 7)
        .msg(1, object_meta("x", "").fixed32(901, 1).fixed64(902, 2))
        .str(903, "ignored")
        .entry(2, "a", "b");
    let obj = decoded(&body("v1", "ConfigMap", raw));
    assert_eq!(obj["data"], json!({"a": "b"}));
    assert_eq!(obj["metadata"]["name"], json!("x"));
}

#[test]
fn crd_schema_special_forms() {
    let string_schema = Pb::new().str(5, "string");
    let props = Pb::new()
        .str(5, "object")
        .msg(29, Pb::new().str(1, "name").msg(2, string_schema.clone()))
        .msg(
            30,
            Pb::new().boolean(1, false).msg(2, string_schema.clone()),
        )
        .msg(8, Pb::new().bytes(1, b"\"dflt\""))
        .boolean(38, true);
    let raw = Pb::new()
        .msg(1, object_meta("widgets.example.com", ""))
        .msg(
            2,
            Pb::new().str(1, "example.com").str(4, "Namespaced").msg(
                7,
                Pb::new()
                    .str(1, "v1")
                    .boolean(2, true)
                    .boolean(3, true)
                    .msg(4, Pb::new().msg(1, props)),
            ),
        );
    let obj = decoded(&body(
        "apiextensions.k8s.io/v1",
        "CustomResourceDefinition",
        raw,
    ));
    assert_json(
        &obj["spec"]["versions"][0]["schema"]["openAPIV3Schema"],
        json!({
            "type": "object",
            "default": "dflt",
            "properties": {"name": {"type": "string"}},
            "additionalProperties": {"type": "string"},
            "x-kubernetes-preserve-unknown-fields": true
        }),
    );
}

#[test]
fn special_scalar_forms() {
    let dur = |nanos: i64| {
        decode_message(
            "k8s.io.apimachinery.pkg.apis.meta.v1.Duration",
            &Pb::new().int(1, nanos).0,
        )
    };
    for (nanos, want) in [
        (0, "0s"),
        (1, "1ns"),
        (1_500, "1.5µs"),
        (300_000_000, "300ms"),
        (30_000_000_000, "30s"),
        (90_000_000_000, "1m30s"),
        (3_600_000_000_000, "1h0m0s"),
        (5_445_500_000_000, "1h30m45.5s"),
        (-2_000_000_000, "-2s"),
    ] {
        assert_eq!(dur(nanos), Ok(json!(want)), "{nanos}");
    }
    assert_eq!(
        decode_message("k8s.io.apimachinery.pkg.apis.meta.v1.Duration", &[]),
        Ok(json!("0s"))
    );
    let q = "k8s.io.apimachinery.pkg.api.resource.Quantity";
    assert_eq!(decode_message(q, &[]), Ok(json!("0")));
    let ios = "k8s.io.apimachinery.pkg.util.intstr.IntOrString";
    assert_eq!(decode_message(ios, &[]), Ok(json!(0)));
    assert!(decode_message(ios, &Pb::new().int(1, 7).0).is_err());
    let time = "k8s.io.apimachinery.pkg.apis.meta.v1.Time";
    assert_eq!(
        decode_message(time, &Pb::new().int(1, 0).0),
        Ok(json!("1970-01-01T00:00:00Z"))
    );
    assert!(decode_message(time, &Pb::new().int(1, i64::MAX).0).is_err());
    assert!(
        decode_message(time, &Pb::new().int(1, 253_402_300_800).0).is_err(),
        "year 10000"
    );
    let micro = "k8s.io.apimachinery.pkg.apis.meta.v1.MicroTime";
    assert_eq!(
        decode_message(micro, &Pb::new().int(1, 10).int(2, -1).0),
        Ok(json!("1970-01-01T00:00:09.999999Z"))
    );
    assert_eq!(base64(b""), "");
    assert_eq!(base64(b"ab"), "YWI=");
    assert_eq!(base64(b"abc"), "YWJj");
}

#[test]
fn envelope_errors() {
    let raw = Pb::new().msg(1, object_meta("x", ""));
    let err = decode_body(&body("v1", "Frobnicator", raw.clone())).expect_err("unknown kind");
    assert_eq!(
        err,
        ProtobufError::UnknownKind {
            api_version: "v1".into(),
            kind: "Frobnicator".into()
        }
    );
    assert!(err.is_unsupported());
    let err = decode_body(&body("example.com/v1", "Widget", raw.clone())).expect_err("custom kind");
    assert!(err.is_unsupported());
    assert!(
        decode_body(&body("apps/v1", "ConfigMap", raw.clone())).is_err(),
        "wrong group"
    );
    assert_eq!(
        decode_body(&body("", "", raw.clone())),
        Err(ProtobufError::MissingTypeMeta)
    );
    assert_eq!(
        decode_body(b"{\"kind\":\"Pod\"}"),
        Err(ProtobufError::MissingMagic)
    );
    assert_eq!(decode_body(b""), Err(ProtobufError::MissingMagic));
    let mut gz = MAGIC.to_vec();
    gz.extend(
        Pb::new()
            .msg(1, Pb::new().str(1, "v1").str(2, "ConfigMap"))
            .msg(2, raw)
            .str(3, "gzip")
            .0,
    );
    assert_eq!(
        decode_body(&gz),
        Err(ProtobufError::UnsupportedEncoding("gzip".into()))
    );
    // Wrong wire type for a known field.
    let err = decode_body(&body("v1", "ConfigMap", Pb::new().int(1, 5))).expect_err("wire type");
    assert!(
        matches!(err, ProtobufError::Malformed { ref path, .. } if path == "ConfigMap.metadata"),
        "{err}"
    );
    // Invalid UTF-8 in a string.
    let err = decode_body(&body(
        "v1",
        "ConfigMap",
        Pb::new().msg(1, Pb::new().bytes(1, b"\xff")),
    ))
    .expect_err("utf-8");
    assert!(
        matches!(err, ProtobufError::Malformed { ref path, .. } if path == "ConfigMap.metadata.name"),
        "{err}"
    );
    assert!(is_protobuf_media_type(
        "application/vnd.kubernetes.protobuf"
    ));
    assert!(is_protobuf_media_type(
        "Application/Vnd.Kubernetes.Protobuf; charset=utf-8"
    ));
    assert!(!is_protobuf_media_type("application/json"));
}

fn sample_bodies() -> Vec<Vec<u8>> {
    let cm = Pb::new()
        .msg(1, object_meta("x", "ns").entry(11, "a", "b"))
        .entry(2, "k", "v")
        .msg(3, Pb::new().str(1, "bin").bytes(2, b"\x01\x02"));
    let pod = Pb::new()
        .msg(
            1,
            object_meta("p", "").msg(8, Pb::new().int(1, 1_704_164_645)),
        )
        .msg(
            2,
            Pb::new().msg(
                2,
                Pb::new().str(1, "c").msg(
                    8,
                    Pb::new().msg(1, Pb::new().str(1, "cpu").msg(2, Pb::new().str(1, "1"))),
                ),
            ),
        );
    let del = Pb::new().int(1, 30).str(4, "Background");
    let mut bodies = vec![
        body("v1", "ConfigMap", cm),
        body("v1", "Pod", pod),
        body("apps/v1", "DeleteOptions", del),
    ];
    bodies.extend(KUBECTL_CAPTURES.iter().map(|(_, pb, _)| pb.to_vec()));
    bodies
}

#[test]
fn truncated_bodies_never_panic() {
    for full in sample_bodies() {
        assert!(decode_body(&full).is_ok());
        for cut in 0..full.len() {
            // Most cuts are errors; a cut at a field boundary of the outer envelope may decode
            // to a smaller object. Either way: no panic.
            let _ = decode_body(&full[..cut]);
        }
        // Cuts inside the envelope's header are always errors.
        for cut in 0..8.min(full.len()) {
            assert!(decode_body(&full[..cut]).is_err(), "cut at {cut}");
        }
    }
}

/// xorshift64*: deterministic pseudo-random bytes without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

#[test]
fn random_and_mutated_bytes_never_panic() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for _ in 0..20_000 {
        let len = (rng.next() % 64) as usize;
        let mut bytes = MAGIC.to_vec();
        bytes.extend((0..len).map(|_| rng.next() as u8));
        let _ = decode_body(&bytes);
    }
    for full in sample_bodies() {
        for _ in 0..5_000 {
            let mut bytes = full.clone();
            for _ in 0..=(rng.next() % 4) {
                let i = 4 + (rng.next() as usize) % (bytes.len() - 4);
                bytes[i] = rng.next() as u8;
            }
            let _ = decode_body(&bytes);
        }
    }
    // Random bytes decoded directly as deeply nested message types.
    for name in [
        "k8s.io.api.core.v1.PodSpec",
        "k8s.io.apiextensions_apiserver.pkg.apis.apiextensions.v1.JSONSchemaProps",
    ] {
        for _ in 0..5_000 {
            let len = (rng.next() % 128) as usize;
            let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            let _ = decode_message(name, &bytes);
        }
    }
}

#[test]
fn deep_nesting_is_bounded() {
    // JSONSchemaProps.not (tag 28) nested 10 000 deep: an error, not a stack overflow.
    let mut inner: Vec<u8> = Vec::new();
    for _ in 0..10_000 {
        let mut outer = Vec::new();
        varint(&mut outer, (28 << 3) | 2);
        varint(&mut outer, inner.len() as u64);
        outer.extend_from_slice(&inner);
        inner = outer;
    }
    let name = "k8s.io.apiextensions_apiserver.pkg.apis.apiextensions.v1.JSONSchemaProps";
    assert_eq!(decode_message(name, &inner), Err(ProtobufError::TooDeep));
    // A modest depth is fine.
    let mut inner: Vec<u8> = Vec::new();
    for _ in 0..20 {
        inner = Pb::new().bytes(28, &inner).0;
    }
    assert!(decode_message(name, &inner).is_ok());
}

#[test]
fn table_is_consistent() {
    let messages = schema::all_messages();
    assert!(
        messages.windows(2).all(|w| w[0].name < w[1].name),
        "MESSAGES sorted by name"
    );
    for m in messages {
        for f in m.fields {
            if let Ty::M(i) = f.ty {
                assert!(schema::message(i).is_some(), "{}.{}", m.name, f.json);
            }
        }
    }
    let kinds = schema::all_kinds();
    assert!(
        kinds
            .windows(2)
            .all(|w| (w[0].group, w[0].version, w[0].kind) < (w[1].group, w[1].version, w[1].kind)),
        "KINDS sorted"
    );
    for k in kinds {
        assert!(
            schema::message(k.message).is_some_and(|m| m.name.ends_with(&format!(".{}", k.kind)))
        );
    }
}

#[test]
fn every_served_kind_has_a_schema() {
    for r in crate::registry::all() {
        let api_version = r.api_version();
        assert!(
            message_for_kind(&api_version, r.kind).is_some(),
            "{api_version} {}",
            r.kind
        );
        if r.has_verb("list") {
            assert!(
                message_for_kind(&api_version, &r.list_kind()).is_some(),
                "{api_version} {}List",
                r.kind
            );
        }
    }
    for (api_version, kind, message) in [
        ("v1", "ConfigMap", "k8s.io.api.core.v1.ConfigMap"),
        ("apps/v1", "Deployment", "k8s.io.api.apps.v1.Deployment"),
        (
            "apps/v1",
            "DeploymentList",
            "k8s.io.api.apps.v1.DeploymentList",
        ),
        ("autoscaling/v1", "Scale", "k8s.io.api.autoscaling.v1.Scale"),
        ("policy/v1", "Eviction", "k8s.io.api.policy.v1.Eviction"),
        (
            "rbac.authorization.k8s.io/v1",
            "ClusterRoleBinding",
            "k8s.io.api.rbac.v1.ClusterRoleBinding",
        ),
        (
            "v1",
            "Status",
            "k8s.io.apimachinery.pkg.apis.meta.v1.Status",
        ),
        (
            "meta.k8s.io/v1",
            "PartialObjectMetadataList",
            "k8s.io.apimachinery.pkg.apis.meta.v1.PartialObjectMetadataList",
        ),
        (
            "apiregistration.k8s.io/v1",
            "APIService",
            "k8s.io.kube_aggregator.pkg.apis.apiregistration.v1.APIService",
        ),
    ] {
        assert_eq!(
            message_for_kind(api_version, kind),
            Some(message),
            "{api_version} {kind}"
        );
    }
    for r in crate::registry::all() {
        for sub in r.subresources {
            let api_version = if sub.group.is_empty() {
                sub.version.to_string()
            } else {
                format!("{}/{}", sub.group, sub.version)
            };
            let writable = ["create", "update", "patch"]
                .iter()
                .any(|v| sub.verbs.contains(v));
            if writable && !sub.kind.is_empty() {
                assert!(
                    message_for_kind(&api_version, sub.kind).is_some(),
                    "{}/{}: {api_version} {}",
                    r.plural,
                    sub.name,
                    sub.kind
                );
            }
        }
    }
    assert_eq!(message_for_kind("v1", "PodSpec"), None, "not a kind");
    assert_eq!(message_for_kind("v1/", "Pod"), None);
}

/// Bodies kubectl 1.32.5 sent for `kubectl create …` (captured by a stub server on plain HTTP,
/// with a kubeconfig `server: http://127.0.0.1:PORT` that answers `/version`, legacy discovery
/// and records each POST body), each next to the JSON `kubectl create … --dry-run=client -o
/// json` printed for the same command: Go's JSON encoding of the same object. The decoder must
/// reproduce it exactly, key order included.
const KUBECTL_CAPTURES: &[(&str, &[u8], &str)] = &[
    (
        "configmap",
        include_bytes!("testdata/configmap.pb"),
        include_str!("testdata/configmap.json"),
    ),
    (
        "cronjob",
        include_bytes!("testdata/cronjob.pb"),
        include_str!("testdata/cronjob.json"),
    ),
    (
        "deployment",
        include_bytes!("testdata/deployment.pb"),
        include_str!("testdata/deployment.json"),
    ),
    (
        "ingress",
        include_bytes!("testdata/ingress.pb"),
        include_str!("testdata/ingress.json"),
    ),
    (
        "job",
        include_bytes!("testdata/job.pb"),
        include_str!("testdata/job.json"),
    ),
    (
        "namespace",
        include_bytes!("testdata/namespace.pb"),
        include_str!("testdata/namespace.json"),
    ),
    (
        "pdb",
        include_bytes!("testdata/pdb.pb"),
        include_str!("testdata/pdb.json"),
    ),
    (
        "priorityclass",
        include_bytes!("testdata/priorityclass.pb"),
        include_str!("testdata/priorityclass.json"),
    ),
    (
        "quota",
        include_bytes!("testdata/quota.pb"),
        include_str!("testdata/quota.json"),
    ),
    (
        "role",
        include_bytes!("testdata/role.pb"),
        include_str!("testdata/role.json"),
    ),
    (
        "rolebinding",
        include_bytes!("testdata/rolebinding.pb"),
        include_str!("testdata/rolebinding.json"),
    ),
    (
        "secret",
        include_bytes!("testdata/secret.pb"),
        include_str!("testdata/secret.json"),
    ),
    (
        "service",
        include_bytes!("testdata/service.pb"),
        include_str!("testdata/service.json"),
    ),
    (
        "serviceaccount",
        include_bytes!("testdata/serviceaccount.pb"),
        include_str!("testdata/serviceaccount.json"),
    ),
];

#[test]
fn real_kubectl_bodies_match_kubectl_json() {
    let mut failures = Vec::new();
    for (name, pb, json) in KUBECTL_CAPTURES {
        let want: Value = serde_json::from_str(json).expect("capture JSON parses");
        match decode_body(pb) {
            // Compared as text: `Value`'s equality ignores key order.
            Ok(got) => {
                let (got, want) = (got.object.to_string(), want.to_string());
                if got != want {
                    failures.push(format!("{name}:\n got  {got}\n want {want}"));
                }
            }
            Err(e) => failures.push(format!("{name}: {e}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn real_kubectl_auth_can_i_and_create_token() {
    // `kubectl auth can-i create deployments.apps`
    let ssar = decoded(include_bytes!("testdata/ssar.pb"));
    assert_json(
        &ssar,
        json!({
            "kind": "SelfSubjectAccessReview",
            "apiVersion": "authorization.k8s.io/v1",
            "metadata": {"creationTimestamp": null},
            "spec": {"resourceAttributes": {
                "namespace": "default", "verb": "create", "group": "apps", "resource": "deployments"
            }},
            "status": {"allowed": false}
        }),
    );
    // `kubectl create token default --duration=1h`
    let token = decoded(include_bytes!("testdata/token.pb"));
    assert_json(
        &token,
        json!({
            "kind": "TokenRequest",
            "apiVersion": "authentication.k8s.io/v1",
            "metadata": {"creationTimestamp": null},
            // Go's JSON would say `"audiences": null` (a nil slice without omitempty); an
            // absent repeated field is omitted instead.
            "spec": {"expirationSeconds": 3600},
            "status": {"token": "", "expirationTimestamp": null}
        }),
    );
}
