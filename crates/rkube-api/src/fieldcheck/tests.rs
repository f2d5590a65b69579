use serde_json::{json, Value};

use super::*;

/// (group, version, kind, object, expected unknown paths in document order).
fn unknown_cases() -> Vec<(
    &'static str,
    &'static str,
    &'static str,
    Value,
    Vec<&'static str>,
)> {
    vec![
        (
            "",
            "v1",
            "Pod",
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                   "spec": {"foo": 1, "containers": [{"name": "c", "image": "i"}], "bar": {"x": 1}}}),
            vec!["spec.foo", "spec.bar"],
        ),
        (
            "apps",
            "v1",
            "Deployment",
            json!({"apiVersion": "apps/v1", "kind": "Deployment",
                   "metadata": {"name": "d", "labelz": {"a": "b"}},
                   "spec": {"selector": {"matchLabels": {"a": "b"}},
                            "template": {"metadata": {"labels": {"a": "b"}},
                                         "spec": {"containers": [
                                             {"name": "a", "image": "i"},
                                             {"name": "b", "image": "i", "bogus": true,
                                              "ports": [{"containerPort": 80}, {"containerPort": 81, "hostIPs": "x"}]}]}}}}),
            vec![
                "metadata.labelz",
                "spec.template.spec.containers[1].bogus",
                "spec.template.spec.containers[1].ports[1].hostIPs",
            ],
        ),
        // Labels and annotations take any key; so do ConfigMap data and Secret stringData.
        (
            "",
            "v1",
            "ConfigMap",
            json!({"metadata": {"name": "c", "labels": {"app.kubernetes.io/name": "x", "spec": "y"},
                                "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"}},
                   "data": {"metadata": "a", "foo.bar": "b"}, "binaryData": {"k": "AA=="}, "immutable": true}),
            vec![],
        ),
        // IntOrString and Quantity fields accept both of their JSON types, and are not looked into.
        (
            "",
            "v1",
            "Service",
            json!({"spec": {"ports": [{"port": 80, "targetPort": "http"}, {"port": 81, "targetPort": 8081, "nodePortz": 1}]}}),
            vec!["spec.ports[1].nodePortz"],
        ),
        (
            "apps",
            "v1",
            "Deployment",
            json!({"spec": {"strategy": {"rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 1, "maxSurges": 2}},
                            "template": {"spec": {"containers": [{"name": "c",
                                "resources": {"limits": {"cpu": "500m", "memory": 1073741824, "example.com/gpu": 1},
                                              "requests": {"cpu": 0.5}, "limitz": {}}}]}}}}),
            vec![
                "spec.strategy.rollingUpdate.maxSurges",
                "spec.template.spec.containers[0].resources.limitz",
            ],
        ),
        // RawExtension and FieldsV1 hold anything.
        (
            "apps",
            "v1",
            "ControllerRevision",
            json!({"metadata": {"name": "r", "managedFields": [
                       {"manager": "m", "operation": "Apply", "fieldsType": "FieldsV1",
                        "fieldsV1": {"f:metadata": {"f:labels": {".": {}}}}, "bogus": 1}]},
                   "revision": 1, "data": {"spec": {"anything": {"goes": [1, {"here": true}]}}}}),
            vec!["metadata.managedFields[0].bogus"],
        ),
        // Status is part of the schema.
        (
            "",
            "v1",
            "Pod",
            json!({"status": {"phase": "Running", "podIP": "10.0.0.1",
                              "conditions": [{"type": "Ready", "status": "True", "reasonz": "x"}],
                              "containerStatuses": [{"name": "c", "ready": true, "restartCount": 0, "image": "i", "imageID": "",
                                                     "state": {"running": {"startedAt": "2024-01-01T00:00:00Z"}}}],
                              "bogus": 1}}),
            vec!["status.conditions[0].reasonz", "status.bogus"],
        ),
        // Nested lists, case-sensitive names, nulls.
        (
            "",
            "v1",
            "Pod",
            json!({"Spec": {}, "spec": {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                       "nodeSelectorTerms": [{"matchExpressions": [{"key": "a", "operator": "In", "values": ["x"]},
                                                                  {"key": "b", "operator": "Exists", "valuez": []}]}]}}},
                   "containers": null, "volumes": [{"name": "v", "configMap": {"name": "c", "items": [{"key": "k", "path": "p", "Mode": 1}]}}]}}),
            vec![
                "Spec",
                "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[1].valuez",
                "spec.volumes[0].configMap.items[0].Mode",
            ],
        ),
        // Maps of structs are checked; the JSONSchemaPropsOr… unions are not.
        (
            "apiextensions.k8s.io",
            "v1",
            "CustomResourceDefinition",
            json!({"spec": {"group": "example.com", "names": {"kind": "W", "plural": "ws"}, "scope": "Namespaced",
                            "versions": [{"name": "v1", "served": true, "storage": true,
                                          "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                                              "spec": {"type": "object", "typo": 1,
                                                       "items": {"whatever": 1},
                                                       "additionalProperties": {"nonsense": 2}}}}},
                                          "subresources": {"status": {"on": true}, "scale": {"specReplicasPath": ".spec.r", "statusReplicasPath": ".status.r"}}}]}}),
            vec![
                "spec.versions[0].schema.openAPIV3Schema.properties.spec.typo",
                "spec.versions[0].subresources.status.on",
            ],
        ),
        // Subresource kinds and other groups.
        (
            "autoscaling",
            "v1",
            "Scale",
            json!({"spec": {"replicas": 3, "replica": 3}}),
            vec!["spec.replica"],
        ),
        (
            "batch",
            "v1",
            "CronJob",
            json!({"spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": {"spec": {
                "restartPolicy": "Never", "containers": [{"name": "c", "image": "i", "command": ["a"], "args": "x", "envv": []}]}}}}}}),
            vec!["spec.jobTemplate.spec.template.spec.containers[0].envv"],
        ),
    ]
}

#[test]
fn unknown_fields_by_kind() {
    for (group, version, kind, obj, expected) in unknown_cases() {
        assert!(supports(group, version, kind), "{group}/{version} {kind}");
        assert_eq!(
            unknown_fields(group, version, kind, &obj),
            expected,
            "{group}/{version} {kind}: {obj}"
        );
    }
}

#[test]
fn kinds_without_a_schema() {
    assert!(!supports("example.com", "v1", "Widget"));
    assert!(!supports("apps", "v1beta1", "Deployment"));
    assert!(!supports("", "v1", "Deployment"));
    let obj = json!({"spec": {"anything": 1}});
    assert!(unknown_fields("example.com", "v1", "Widget", &obj).is_empty());
    // Without a schema, only duplicates are found.
    let raw = br#"{"apiVersion": "example.com/v1", "kind": "Widget", "spec": {"a": 1, "b": {"c": 1, "c": 2}, "a": 3}}"#;
    assert_eq!(
        json_body_errors("example.com", "v1", "Widget", raw),
        vec![
            r#"duplicate field "spec.b.c""#.to_string(),
            r#"duplicate field "spec.a""#.to_string(),
        ]
    );
}

#[test]
fn sorted_order_visits_keys_in_byte_order() {
    let obj = json!({"spec": {"zeta": 1, "template": {"spec": {"containers": [{"name": "c", "Xtra": 1}]}}, "alpha": 2},
                     "metadata": {"oops": 1}});
    assert_eq!(
        unknown_fields("apps", "v1", "Deployment", &obj),
        vec![
            "spec.zeta",
            "spec.template.spec.containers[0].Xtra",
            "spec.alpha",
            "metadata.oops"
        ]
    );
    assert_eq!(
        unknown_fields_sorted("apps", "v1", "Deployment", &obj),
        vec![
            "metadata.oops",
            "spec.alpha",
            "spec.template.spec.containers[0].Xtra",
            "spec.zeta"
        ]
    );
}

#[test]
fn duplicate_fields_in_raw_json() {
    let cases: Vec<(&str, Vec<&str>)> = vec![
        (r#"{"a": 1, "a": 2}"#, vec!["a"]),
        (r#"{"a": 1, "a": 2, "a": 3}"#, vec!["a"]),
        (
            r#"{"spec": {"x": {"y": 1, "z": [], "y": {"q": 1, "q": 2}}}, "items": [{"k": 1}, {"k": 1, "k": 1}], "spec": {}}"#,
            vec!["spec.x.y", "spec.x.y.q", "items[1].k", "spec"],
        ),
        // Keys compare after unescaping.
        (
            r#"{"a\u0062": 1, "ab": 2, "\u00e9": 1, "é": 2}"#,
            vec!["ab", "é"],
        ),
        (r#"{"a": [[{"b": 1, "b": 2}]]}"#, vec!["a[0][0].b"]),
        (r#"{"a": 1, "b": 2}"#, vec![]),
        // Not JSON: nothing to report.
        (r#"{"a": 1, "a": 2"#, vec![]),
        ("a: 1\na: 2\n", vec![]),
    ];
    for (raw, expected) in cases {
        assert_eq!(duplicate_fields_json(raw.as_bytes()), expected, "{raw}");
    }
}

/// A Deployment with duplicate and unknown fields at several depths.
const BAD_DEPLOYMENT_JSON: &str = r#"{
  "apiVersion": "apps/v1",
  "kind": "Deployment",
  "metadata": {
    "name": "first",
    "name": "web",
    "labels": {"tier": "front", "tier": "back"},
    "metaExtra": 1
  },
  "spec": {
    "vague1": "x",
    "vagueDupe": "y",
    "vagueDupe": "z",
    "paused": true,
    "paused": false,
    "selector": {"matchLabels": {"tier": "back"}},
    "template": {
      "metadata": {"labels": {"tier": "back"}},
      "spec": {
        "containers": [{
          "name": "web",
          "image": "nginx",
          "innerExtra": 1,
          "imagePullPolicy": "Always",
          "imagePullPolicy": "Never"
        }]
      }
    }
  }
}"#;

#[test]
fn json_body_errors_interleave_in_document_order() {
    let errors = json_body_errors("apps", "v1", "Deployment", BAD_DEPLOYMENT_JSON.as_bytes());
    assert_eq!(
        strict_decoding_error(&errors),
        "strict decoding error: duplicate field \"metadata.name\", duplicate field \"metadata.labels.tier\", \
         unknown field \"metadata.metaExtra\", unknown field \"spec.vague1\", unknown field \"spec.vagueDupe\", \
         duplicate field \"spec.paused\", unknown field \"spec.template.spec.containers[0].innerExtra\", \
         duplicate field \"spec.template.spec.containers[0].imagePullPolicy\""
    );
    assert_eq!(
        cannot_handle("Deployment", "v1", &strict_decoding_error(&errors)),
        format!(
            "Deployment in version \"v1\" cannot be handled as a Deployment: {}",
            strict_decoding_error(&errors)
        )
    );
    // The same body parsed by serde_json keeps the last of each duplicate; its unknown
    // fields are the same, in the same order.
    let obj: Value = serde_json::from_str(BAD_DEPLOYMENT_JSON).unwrap_or_default();
    assert_eq!(
        unknown_fields("apps", "v1", "Deployment", &obj),
        vec![
            "metadata.metaExtra",
            "spec.vague1",
            "spec.vagueDupe",
            "spec.template.spec.containers[0].innerExtra"
        ]
    );
    assert_eq!(
        duplicate_fields_json(BAD_DEPLOYMENT_JSON.as_bytes()),
        vec![
            "metadata.name",
            "metadata.labels.tier",
            "spec.vagueDupe",
            "spec.paused",
            "spec.template.spec.containers[0].imagePullPolicy"
        ]
    );
}

#[test]
fn json_body_errors_stop_at_one_hundred() {
    let mut body = String::from(r#"{"spec": {"#);
    for i in 0..150 {
        body.push_str(&format!("\"x{i}\": 1, "));
    }
    body.push_str(r#""paused": true}}"#);
    let errors = json_body_errors("apps", "v1", "Deployment", body.as_bytes());
    assert_eq!(errors.len(), 100);
    assert_eq!(errors[99], r#"unknown field "spec.x99""#);
}

/// The same Deployment as YAML (line numbers matter).
const BAD_DEPLOYMENT_YAML: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: first
  name: web
  metaExtra: 1
  labels:
    tier: back
spec:
  vague1: x
  vagueDupe: y
  vagueDupe: z
  paused: true
  paused: false
  selector:
    matchLabels:
      tier: back
  template:
    metadata:
      labels:
        tier: back
    spec:
      containers:
      - name: web
        image: nginx
        innerExtra: 1
        imagePullPolicy: Always
        imagePullPolicy: Never";

#[test]
fn yaml_body_errors_report_yaml_duplicates_then_sorted_unknowns() {
    let obj = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "metaExtra": 1, "labels": {"tier": "back"}},
        "spec": {"vague1": "x", "vagueDupe": "z", "paused": false,
                 "selector": {"matchLabels": {"tier": "back"}},
                 "template": {"metadata": {"labels": {"tier": "back"}},
                              "spec": {"containers": [{"name": "web", "image": "nginx", "innerExtra": 1, "imagePullPolicy": "Never"}]}}}
    });
    let errors = yaml_body_errors(
        "apps",
        "v1",
        "Deployment",
        BAD_DEPLOYMENT_YAML.as_bytes(),
        &obj,
    );
    assert_eq!(
        strict_decoding_error(&errors),
        "strict decoding error: yaml: unmarshal errors:\n  line 5: key \"name\" already set in map\n  \
         line 12: key \"vagueDupe\" already set in map\n  line 14: key \"paused\" already set in map\n  \
         line 28: key \"imagePullPolicy\" already set in map, unknown field \"metadata.metaExtra\", \
         unknown field \"spec.template.spec.containers[0].innerExtra\", unknown field \"spec.vague1\", \
         unknown field \"spec.vagueDupe\""
    );
    assert_eq!(
        warnings(&errors),
        vec![
            r#"line 5: key "name" already set in map"#,
            r#"line 12: key "vagueDupe" already set in map"#,
            r#"line 14: key "paused" already set in map"#,
            r#"line 28: key "imagePullPolicy" already set in map"#,
            r#"unknown field "metadata.metaExtra""#,
            r#"unknown field "spec.template.spec.containers[0].innerExtra""#,
            r#"unknown field "spec.vague1""#,
            r#"unknown field "spec.vagueDupe""#,
        ]
    );
}

#[test]
fn duplicate_fields_in_yaml() {
    let cases: Vec<(&str, Vec<&str>)> = vec![
        ("a: 1\nb: 2\na: 3\n", vec![r#"line 3: key "a" already set in map"#]),
        // A leading blank line counts.
        ("\na: 1\na: 2", vec![r#"line 3: key "a" already set in map"#]),
        // A nested mapping value sits on its first key's line; a sequence on its first dash.
        (
            "spec:\n  a: 1\nspec:\n  # note\n  b: 2\nlist:\n- 1\nlist:\n\n  - 2\n",
            vec![
                r#"line 5: key "spec" already set in map"#,
                r#"line 10: key "list" already set in map"#,
            ],
        ),
        // An empty value sits on its key's line.
        ("a:\nb: 1\na:\n", vec![r#"line 3: key "a" already set in map"#]),
        // Duplicates inside the value of a duplicate key come first.
        (
            "m:\n  x: 1\nm:\n  w: 1\n  w: 2\n",
            vec![
                r#"line 5: key "w" already set in map"#,
                r#"line 4: key "m" already set in map"#,
            ],
        ),
        // Sequences of mappings, compact and indented.
        (
            "containers:\n- name: a\n  name: b\n- name: c\n  env:\n    - name: X\n      name: Y\n",
            vec![
                r#"line 3: key "name" already set in map"#,
                r#"line 7: key "name" already set in map"#,
            ],
        ),
        // Resolution (YAML 1.1): quoted and plain strings are equal; yes/on/true (and y) are one
        // boolean, n/no/off another; 1 and 0x1 one integer; ~ and null nothing.
        (
            "\"a\": 1\na: 2\nyes: 1\non: 2\n1: a\n0x1: b\n'1': c\n~: x\nnull: y\ny: 1\nn: 1\nOFF: 2\n",
            vec![
                r#"line 2: key "a" already set in map"#,
                "line 4: key true already set in map",
                "line 6: key 1 already set in map",
                "line 9: key <nil> already set in map",
                "line 10: key true already set in map",
                "line 12: key false already set in map",
            ],
        ),
        // Block scalars and multi-line plain scalars hide what looks like keys.
        (
            "script: |\n  a: 1\n  a: 2\ntext: some\n  a: 1\nscript: >\n  x\n",
            vec![r#"line 6: key "script" already set in map"#],
        ),
        // Flow collections, over several lines; comments; a second document is not read.
        (
            "a: {x: 1, y: [1, {z: 1, z: 2}],\n   x: 3}  # c\n---\na: 1\na: 2\n",
            vec![
                r#"line 1: key "z" already set in map"#,
                r#"line 2: key "x" already set in map"#,
            ],
        ),
        ("---\n# c\nk: v\nk: w\n...\n", vec![r#"line 4: key "k" already set in map"#]),
        // Keys with colons, URLs in values, quoted keys with escapes.
        (
            "a:b: 1\nurl: http://x:80/\n\"a:b\": 2\n\"\\u0061\": 3\na: 4\n",
            vec![
                r#"line 3: key "a:b" already set in map"#,
                r#"line 5: key "a" already set in map"#,
            ],
        ),
        ("a: 1\nb: 2\n", vec![]),
        // Not YAML this scanner follows: nothing reported.
        ("? complex\n: value\n", vec![]),
    ];
    for (raw, expected) in cases {
        assert_eq!(duplicate_fields_yaml(raw.as_bytes()), expected, "{raw:?}");
    }
}

#[test]
fn duplicate_fields_in_json_read_as_yaml() {
    // Server-side apply reads JSON bodies with the YAML decoder: lines of the JSON text.
    let body = "{\n\t\"apiVersion\": \"apps/v1\",\n\t\"spec\": {\n\t\t\"paused\": false,\n\t\t\"paused\": true,\n\t\t\"template\": {\"spec\": {\"containers\": [{\n\t\t\t\"name\": \"c\",\n\t\t\t\"name\": \"d\"\n\t\t}]}}\n\t}\n}";
    assert_eq!(
        duplicate_fields_yaml(body.as_bytes()),
        vec![
            r#"line 5: key "paused" already set in map"#,
            r#"line 8: key "name" already set in map"#,
        ]
    );
    let error = apply_patch_error(body.as_bytes()).unwrap_or_default();
    assert_eq!(
        error,
        "error converting YAML to JSON: yaml: unmarshal errors:\n  line 5: key \"paused\" already set in map\n  line 8: key \"name\" already set in map"
    );
    assert_eq!(
        warnings(&[error]),
        vec![
            r#"line 5: key "paused" already set in map"#,
            r#"line 8: key "name" already set in map"#,
        ]
    );
    assert_eq!(apply_patch_error(b"{\"a\": 1}"), None);
}

#[test]
fn patch_errors() {
    let patch = br#"{"spec": {"vague1": "x", "vagueDupe": 1, "vagueDupe": 2, "paused": true, "paused": false,
        "template": {"spec": {"containers": [{"name": "web", "innerExtra": 1, "imagePullPolicy": "Always", "imagePullPolicy": "Never"}]}}}}"#;
    let patched = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"replicas": 1, "paused": false, "vague1": "x", "vagueDupe": 2,
                 "selector": {"matchLabels": {"a": "b"}},
                 "template": {"metadata": {"labels": {"a": "b"}},
                              "spec": {"containers": [{"name": "web", "image": "nginx", "innerExtra": 1, "imagePullPolicy": "Never"}]}}}});
    let expected_merge = vec![
        r#"duplicate field "spec.vagueDupe""#,
        r#"duplicate field "spec.paused""#,
        r#"duplicate field "spec.template.spec.containers[0].imagePullPolicy""#,
        r#"unknown field "spec.template.spec.containers[0].innerExtra""#,
        r#"unknown field "spec.vague1""#,
        r#"unknown field "spec.vagueDupe""#,
    ];
    assert_eq!(
        merge_patch_errors("apps", "v1", "Deployment", patch, &patched),
        expected_merge
    );
    assert_eq!(
        strategic_patch_errors("apps", "v1", "Deployment", patch, &patched),
        expected_merge
    );

    let ops = br#"[
        {"op": "add", "path": "/spec/vague1", "value": "x", "extra": "y"},
        {"op": "add", "path": "/spec/vague2", "path": "/spec/vague3", "value": {"k": 1, "k": 2}},
        {"op": "add", "path": "/spec/paused", "value": true}
    ]"#;
    let patched = json!({"spec": {"vague1": "x", "vague3": {"k": 2}, "paused": true,
        "template": {"spec": {"containers": [{"name": "web", "innerExtra": 1}]}}}});
    assert_eq!(
        json_patch_errors("apps", "v1", "Deployment", ops, &patched),
        vec![
            r#"json patch unknown field "[0].extra""#,
            r#"json patch duplicate field "[1].path""#,
            r#"json patch duplicate field "[1].value.k""#,
            r#"unknown field "spec.template.spec.containers[0].innerExtra""#,
            r#"unknown field "spec.vague1""#,
            r#"unknown field "spec.vague3""#,
        ]
    );
}

#[test]
fn field_validation_directive() {
    assert_eq!(FieldValidation::from_query(None), Ok(FieldValidation::Warn));
    assert_eq!(
        FieldValidation::from_query(Some("")),
        Ok(FieldValidation::Warn)
    );
    assert_eq!(
        FieldValidation::from_query(Some("Warn")),
        Ok(FieldValidation::Warn)
    );
    assert_eq!(
        FieldValidation::from_query(Some("Strict")),
        Ok(FieldValidation::Strict)
    );
    assert_eq!(
        FieldValidation::from_query(Some("Ignore")),
        Ok(FieldValidation::Ignore)
    );
    assert_eq!(
        FieldValidation::from_query(Some("strict")),
        Err(r#"fieldValidation: Unsupported value: "strict": supported values: "", "Ignore", "Strict", "Warn""#.to_string())
    );
    assert!(!FieldValidation::Ignore.checks());
    assert!(FieldValidation::Warn.checks());
}

#[test]
fn warning_header_values() {
    let texts: Vec<String> = vec![
        r#"unknown field "spec.foo""#.into(),
        r#"unknown field "spec.foo""#.into(),
        String::new(),
        "back\\slash".into(),
        "bad\u{7}text".into(),
    ];
    assert_eq!(
        warning_headers(&texts),
        vec![
            r#"299 - "unknown field \"spec.foo\"""#,
            r#"299 - "back\\slash""#,
        ]
    );
    // Past 4096 characters, every warning is cut to 256, and the rest are dropped.
    let long: Vec<String> = (0..40)
        .map(|i| format!("{i:03}{}", "x".repeat(297)))
        .collect();
    let headers = warning_headers(&long);
    assert_eq!(headers.len(), 16);
    assert!(headers.iter().all(|h| h.len() == "299 - \"\"".len() + 256));
    assert!(headers[0].starts_with("299 - \"000x"));
    assert!(headers[15].starts_with("299 - \"015x"));
    // Short lists are untouched.
    let few: Vec<String> = (0..13)
        .map(|i| format!("{i:03}{}", "y".repeat(297)))
        .collect();
    assert!(warning_headers(&few).iter().all(|h| h.len() == 300 + 8));
}

#[test]
fn go_quoting() {
    assert_eq!(go_quote("spec.foo"), r#""spec.foo""#);
    assert_eq!(go_quote("a\"b\\c"), r#""a\"b\\c""#);
    assert_eq!(go_quote("a\nb\tc\u{1}\u{7f}"), r#""a\nb\tc\x01\x7f""#);
    assert_eq!(go_quote("é日本\u{a0}\u{200b}"), "\"é日本\\u00a0\\u200b\"");
    assert_eq!(
        unknown_field("metadata.labels.a\"b"),
        r#"unknown field "metadata.labels.a\"b""#
    );
    assert_eq!(duplicate_field("x"), r#"duplicate field "x""#);
}

#[test]
fn truncated_and_odd_bodies_do_not_panic() {
    let bodies = [
        BAD_DEPLOYMENT_JSON,
        BAD_DEPLOYMENT_YAML,
        "a: \"x\\\n  y\"\nb: 'it''s'\nc: [1, {d: e}]\n? x\n",
        "- - a\n  - b\n- {x: [}\n\"\\u12\": 1\n\t- tab\n",
        "--- |\n  text\n...\n%YAML 1.1\n---\nk: &a v\nl: *a\nm: !!str 1\n",
        "{\"a\": \"\\ud800\", \"b\": \"\\udc00\\u00e9\", \"c\": -1.5e+3, \"d\": [true, false, null]}",
    ];
    for body in bodies {
        for end in 0..=body.len() {
            let Some(prefix) = body.get(..end) else {
                continue;
            };
            let raw = prefix.as_bytes();
            let _ = duplicate_fields_yaml(raw);
            let _ = duplicate_fields_json(raw);
            let _ = json_body_errors("apps", "v1", "Deployment", raw);
            let _ = json_body_errors("example.com", "v1", "Widget", raw);
            let _ = apply_patch_error(raw);
        }
    }
    // Deep nesting is cut off, not a stack overflow.
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert!(duplicate_fields_json(deep.as_bytes()).is_empty());
    assert!(duplicate_fields_yaml(deep.as_bytes()).is_empty());
    let deep_yaml: String = (0..2000)
        .map(|i| format!("{}k:\n", " ".repeat(i)))
        .collect();
    assert!(duplicate_fields_yaml(deep_yaml.as_bytes()).is_empty());
}

#[test]
fn large_maps_are_fast_enough() {
    let mut yaml = String::from("data:\n");
    let mut json = String::from("{\"data\": {");
    for i in 0..20_000 {
        yaml.push_str(&format!("  key{i}: v\n"));
        json.push_str(&format!("\"key{i}\": \"v\", "));
    }
    yaml.push_str("  key7: again\n");
    json.push_str("\"key7\": \"again\"}}");
    assert_eq!(
        duplicate_fields_yaml(yaml.as_bytes()),
        vec!["line 20002: key \"key7\" already set in map"]
    );
    assert_eq!(
        json_body_errors("", "v1", "ConfigMap", json.as_bytes()),
        vec![r#"duplicate field "data.key7""#]
    );
}
