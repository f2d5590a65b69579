use serde_json::{json, Value};

use super::fieldpath::{PathElement, Set};
use super::*;

const T1: &str = "2024-01-01T00:00:00Z";
const T2: &str = "2024-01-01T00:01:00Z";
const T3: &str = "2024-01-01T00:02:00Z";

fn deploy_fm() -> FieldManager {
    FieldManager::new("apps", "v1", "Deployment")
}

fn cm_fm() -> FieldManager {
    FieldManager::new("", "v1", "ConfigMap")
}

fn entries(obj: &Value) -> Vec<Value> {
    obj.pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

fn entry<'a>(list: &'a [Value], manager: &str) -> &'a Value {
    list.iter()
        .find(|e| e["manager"] == manager)
        .unwrap_or_else(|| panic!("no entry for {manager} in {list:?}"))
}

fn managers(obj: &Value) -> Vec<(String, String)> {
    entries(obj)
        .iter()
        .map(|e| {
            (
                e["manager"].as_str().unwrap_or_default().to_string(),
                e["operation"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn cm(data: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap",
           "metadata": {"name": "c", "namespace": "default"}, "data": data})
}

/// A stored object as the server keeps it (uid set).
fn stored(mut obj: Value) -> Value {
    obj["metadata"]["uid"] = json!("uid-1");
    obj
}

fn web(replicas: i64, image: &str) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [
                    {"name": "nginx", "image": image, "ports": [{"containerPort": 80}]}
                ]}
            }
        }
    })
}

#[test]
fn apply_creates_object_with_apply_entry() {
    let obj = deploy_fm()
        .apply(None, &web(2, "nginx:1.25"), "kubectl", false, T1)
        .expect("apply");
    assert_eq!(obj["spec"]["replicas"], 2);
    assert_eq!(
        obj["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:1.25"
    );
    let list = entries(&obj);
    assert_eq!(list.len(), 1);
    let expected = json!({
        "manager": "kubectl",
        "operation": "Apply",
        "apiVersion": "apps/v1",
        "time": T1,
        "fieldsType": "FieldsV1",
        "fieldsV1": {
            "f:metadata": {"f:labels": {"f:app": {}}},
            "f:spec": {
                "f:replicas": {},
                "f:selector": {},
                "f:template": {
                    "f:metadata": {"f:labels": {"f:app": {}}},
                    "f:spec": {"f:containers": {"k:{\"name\":\"nginx\"}": {
                        ".": {}, "f:image": {}, "f:name": {},
                        "f:ports": {"k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {
                            ".": {}, "f:containerPort": {}
                        }}
                    }}}
                }
            }
        }
    });
    // Same content and the same key order as upstream serializes it.
    assert_eq!(
        serde_json::to_string(&list[0]).unwrap_or_default(),
        serde_json::to_string(&expected).unwrap_or_default()
    );
}

#[test]
fn reapply_changes_field_and_time() {
    let fm = deploy_fm();
    let first = fm
        .apply(None, &web(2, "nginx:1.25"), "kubectl", false, T1)
        .unwrap();
    let live = stored(first);
    let second = fm
        .apply(Some(&live), &web(3, "nginx:1.26"), "kubectl", false, T2)
        .unwrap();
    assert_eq!(second["spec"]["replicas"], 3);
    assert_eq!(
        second["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:1.26"
    );
    let list = entries(&second);
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["time"], T2);
    // An apply that changes nothing keeps the time.
    let third = fm
        .apply(Some(&second), &web(3, "nginx:1.26"), "kubectl", false, T3)
        .unwrap();
    assert_eq!(entries(&third)[0]["time"], T2);
    assert_eq!(third, second);
}

#[test]
fn reapply_without_owned_fields_removes_them() {
    let fm = deploy_fm();
    let live = stored(
        fm.apply(None, &web(2, "nginx"), "kubectl", false, T1)
            .unwrap(),
    );
    let mut config = web(2, "nginx");
    config["metadata"].as_object_mut().unwrap().remove("labels");
    config["spec"]["template"]["spec"]["containers"][0]
        .as_object_mut()
        .unwrap()
        .remove("ports");
    config["spec"].as_object_mut().unwrap().remove("replicas");
    let out = fm
        .apply(Some(&live), &config, "kubectl", false, T2)
        .unwrap();
    assert!(out["metadata"].get("labels").is_none(), "{out}");
    assert!(out["spec"].get("replicas").is_none());
    let container = &out["spec"]["template"]["spec"]["containers"][0];
    assert!(container.get("ports").is_none(), "{container}");
    assert_eq!(container["image"], "nginx");
    let fields = &entries(&out)[0]["fieldsV1"];
    assert!(fields["f:metadata"].is_null(), "{fields}");
    assert!(fields["f:spec"].get("f:replicas").is_none());
}

#[test]
fn fields_owned_by_another_manager_survive_prune() {
    let fm = cm_fm();
    let a = stored(
        fm.apply(None, &cm(json!({"x": "1", "shared": "s"})), "a", false, T1)
            .unwrap(),
    );
    let b = fm
        .apply(
            Some(&a),
            &cm(json!({"shared": "s", "y": "2"})),
            "b",
            false,
            T2,
        )
        .unwrap();
    // "a" drops both of its keys: "x" goes, "shared" stays (owned by "b" too).
    let mut nothing = cm(json!({}));
    nothing.as_object_mut().map(|m| m.remove("data"));
    let out = fm.apply(Some(&b), &nothing, "a", false, T3).unwrap();
    assert_eq!(out["data"], json!({"shared": "s", "y": "2"}));
    assert_eq!(managers(&out), vec![("b".to_string(), "Apply".to_string())]);
}

/// Conflict cases: (setup writes, the apply, expected message).
#[test]
fn conflict_messages() {
    struct Case {
        setup: Vec<(&'static str, &'static str, Value)>, // (op, manager, data)
        manager: &'static str,
        data: Value,
        message: &'static str,
    }
    let cases = vec![
        Case {
            setup: vec![("apply", "a", json!({"k": "1"}))],
            manager: "b",
            data: json!({"k": "2"}),
            message: "Apply failed with 1 conflict: conflict with \"a\": .data.k",
        },
        Case {
            setup: vec![("update", "kubectl-edit", json!({"k": "1"}))],
            manager: "b",
            data: json!({"k": "2"}),
            message: "Apply failed with 1 conflict: conflict with \"kubectl-edit\" using v1: .data.k",
        },
        Case {
            setup: vec![("apply", "a", json!({"k": "1", "l": "1"}))],
            manager: "b",
            data: json!({"k": "2", "l": "2"}),
            message: "Apply failed with 2 conflicts: conflicts with \"a\":\n- .data.k\n- .data.l",
        },
        Case {
            setup: vec![
                ("apply", "z-applier", json!({"k": "1"})),
                ("update", "a-updater", json!({"k": "1", "l": "1"})),
            ],
            manager: "b",
            data: json!({"k": "2", "l": "2"}),
            message: "Apply failed with 2 conflicts: conflicts with \"a-updater\" using v1:\n- .data.l\nconflicts with \"z-applier\":\n- .data.k",
        },
    ];
    let fm = cm_fm();
    for case in cases {
        let mut live: Option<Value> = None;
        for (op, manager, data) in &case.setup {
            let next = match *op {
                "apply" => fm
                    .apply(live.as_ref(), &cm(data.clone()), manager, false, T1)
                    .unwrap(),
                _ => {
                    let mut new = live.clone().unwrap_or_else(|| cm(json!({})));
                    new["data"] = data.clone();
                    fm.update(live.as_ref(), &new, manager, T1)
                }
            };
            live = Some(stored(next));
        }
        let err = fm
            .apply(
                live.as_ref(),
                &cm(case.data.clone()),
                case.manager,
                false,
                T2,
            )
            .expect_err("conflict");
        assert_eq!(err.code(), 409);
        assert_eq!(err.message(), case.message);
    }
}

#[test]
fn conflict_status_body() {
    let fm = deploy_fm();
    let mut created = web(1, "nginx");
    created = fm.update(None, &created, "kubectl-client-side-apply", T1);
    let live = stored(created);
    let err = fm
        .apply(Some(&live), &web(5, "nginx"), "kubectl", false, T2)
        .expect_err("conflict");
    assert_eq!(
        err.message(),
        "Apply failed with 1 conflict: conflict with \"kubectl-client-side-apply\" using apps/v1: .spec.replicas"
    );
    assert_eq!(
        err.status(),
        json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": "Apply failed with 1 conflict: conflict with \"kubectl-client-side-apply\" using apps/v1: .spec.replicas",
            "reason": "Conflict",
            "details": {"causes": [{
                "reason": "FieldManagerConflict",
                "message": "conflict with \"kubectl-client-side-apply\" using apps/v1",
                "field": ".spec.replicas"
            }]},
            "code": 409
        })
    );
}

#[test]
fn same_value_is_shared_and_force_takes_over() {
    let fm = cm_fm();
    let a = stored(
        fm.apply(None, &cm(json!({"k": "1"})), "a", false, T1)
            .unwrap(),
    );
    let shared = fm
        .apply(Some(&a), &cm(json!({"k": "1"})), "b", false, T2)
        .unwrap();
    let list = entries(&shared);
    assert_eq!(
        entry(&list, "a")["fieldsV1"],
        json!({"f:data": {"f:k": {}}})
    );
    assert_eq!(
        entry(&list, "b")["fieldsV1"],
        json!({"f:data": {"f:k": {}}})
    );

    let forced = fm
        .apply(Some(&a), &cm(json!({"k": "2"})), "b", true, T2)
        .unwrap();
    assert_eq!(forced["data"]["k"], "2");
    assert_eq!(
        managers(&forced),
        vec![("b".to_string(), "Apply".to_string())]
    );
}

#[test]
fn scale_subresource_update_conflicts_with_apply() {
    let fm = deploy_fm();
    let live = stored(
        fm.apply(None, &web(2, "nginx"), "kubectl", false, T1)
            .unwrap(),
    );
    let mut scaled = live.clone();
    scaled["spec"]["replicas"] = json!(4);
    let scaled = stored(deploy_fm().subresource(Some("scale")).update(
        Some(&live),
        &scaled,
        "kubectl",
        T2,
    ));
    let list = entries(&scaled);
    let scale_entry = list
        .iter()
        .find(|e| e["subresource"] == "scale")
        .expect("scale entry");
    assert_eq!(scale_entry["operation"], "Update");
    assert_eq!(scale_entry["apiVersion"], "apps/v1");
    assert_eq!(
        scale_entry["fieldsV1"],
        json!({"f:spec": {"f:replicas": {}}})
    );
    // The applier lost replicas to the scale.
    let applier = list
        .iter()
        .find(|e| e["operation"] == "Apply")
        .expect("apply entry");
    assert!(applier["fieldsV1"]["f:spec"].get("f:replicas").is_none());
    let err = fm
        .apply(Some(&scaled), &web(2, "nginx"), "kubectl", false, T3)
        .expect_err("conflict");
    assert_eq!(
        err.message(),
        "Apply failed with 1 conflict: conflict with \"kubectl\" with subresource \"scale\" using apps/v1: .spec.replicas"
    );
}

#[test]
fn kubectl_takes_over_client_side_apply_fields() {
    let fm = deploy_fm();
    let mut created = web(1, "nginx");
    let annotation = format!("{}\n", fieldpath::go_json(&created));
    created["metadata"]["annotations"] = json!({ LAST_APPLIED: annotation });
    let live = stored(fm.update(None, &created, "kubectl-client-side-apply", T1));

    // A manager other than "kubectl" conflicts.
    assert!(fm
        .apply(Some(&live), &web(5, "nginx"), "other", false, T2)
        .is_err());
    // kubectl's server-side apply takes over what its last-applied configuration holds.
    let out = fm
        .apply(Some(&live), &web(5, "nginx"), "kubectl", false, T2)
        .expect("no conflict");
    assert_eq!(out["spec"]["replicas"], 5);
    let last = out["metadata"]["annotations"][LAST_APPLIED]
        .as_str()
        .unwrap_or_default();
    assert!(last.ends_with('\n'));
    let parsed: Value = serde_json::from_str(last).unwrap_or_default();
    assert_eq!(parsed["spec"]["replicas"], 5);
}

#[test]
fn associative_list_merges_per_element() {
    let fm = deploy_fm();
    let mut a = web(1, "nginx");
    a["spec"]["template"]["spec"]["containers"] = json!([{"name": "a", "image": "ia"}]);
    let mut b = web(1, "nginx");
    b["spec"]["template"]["spec"]["containers"] = json!([{"name": "b", "image": "ib"}]);
    let live = stored(fm.apply(None, &a, "ma", false, T1).unwrap());
    let both = stored(fm.apply(Some(&live), &b, "mb", false, T2).unwrap());
    let names: Vec<&str> = both["spec"]["template"]["spec"]["containers"]
        .as_array()
        .map(|c| c.iter().filter_map(|c| c["name"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(names, vec!["a", "b"]);

    // "ma" changes its container: "b" stays as it is.
    a["spec"]["template"]["spec"]["containers"][0]["image"] = json!("ia2");
    let out = stored(fm.apply(Some(&both), &a, "ma", false, T3).unwrap());
    let containers = &out["spec"]["template"]["spec"]["containers"];
    assert_eq!(
        containers,
        &json!([{"name": "a", "image": "ia2"}, {"name": "b", "image": "ib"}])
    );

    // "ma" stops applying its container: it goes, "b" stays.
    let mut none = web(1, "nginx");
    none["spec"]["template"]["spec"]["containers"] = json!([]);
    let out = fm.apply(Some(&out), &none, "ma", false, T3).unwrap();
    assert_eq!(
        out["spec"]["template"]["spec"]["containers"],
        json!([{"name": "b", "image": "ib"}])
    );
}

#[test]
fn set_list_merges_values() {
    let fm = cm_fm();
    let with_finalizers = |f: Value| {
        let mut c = cm(json!({}));
        c["metadata"]["finalizers"] = f;
        c.as_object_mut().map(|m| m.remove("data"));
        c
    };
    let live = stored(
        fm.apply(None, &with_finalizers(json!(["a/f1"])), "x", false, T1)
            .unwrap(),
    );
    let out = fm
        .apply(
            Some(&live),
            &with_finalizers(json!(["b/f2"])),
            "y",
            false,
            T2,
        )
        .unwrap();
    assert_eq!(out["metadata"]["finalizers"], json!(["a/f1", "b/f2"]));
    let list = entries(&out);
    assert_eq!(
        entry(&list, "y")["fieldsV1"],
        json!({"f:metadata": {"f:finalizers": {"v:\"b/f2\"": {}}}})
    );
}

#[test]
fn atomic_list_is_replaced_and_conflicts_whole() {
    let fm = deploy_fm();
    let with_tolerations = |t: Value| {
        let mut d = web(1, "nginx");
        d["spec"]["template"]["spec"]["tolerations"] = t;
        d
    };
    let live = stored(
        fm.apply(
            None,
            &with_tolerations(json!([{"key": "a", "operator": "Exists"}])),
            "x",
            false,
            T1,
        )
        .unwrap(),
    );
    let list = entries(&live);
    assert_eq!(
        entry(&list, "x")["fieldsV1"]["f:spec"]["f:template"]["f:spec"]["f:tolerations"],
        json!({})
    );
    let err = fm
        .apply(
            Some(&live),
            &with_tolerations(json!([{"key": "b", "operator": "Exists"}])),
            "y",
            false,
            T2,
        )
        .expect_err("conflict");
    assert!(
        err.message().ends_with(".spec.template.spec.tolerations"),
        "{}",
        err.message()
    );
    let out = fm
        .apply(
            Some(&live),
            &with_tolerations(json!([{"key": "b", "operator": "Exists"}])),
            "y",
            true,
            T2,
        )
        .unwrap();
    assert_eq!(
        out["spec"]["template"]["spec"]["tolerations"],
        json!([{"key": "b", "operator": "Exists"}])
    );
}

#[test]
fn fields_v1_keys_and_round_trip() {
    let key = PathElement::Key(vec![
        ("containerPort".to_string(), json!(8080)),
        ("protocol".to_string(), json!("TCP")),
    ]);
    assert_eq!(
        key.serialize(),
        r#"k:{"containerPort":8080,"protocol":"TCP"}"#
    );
    assert_eq!(key.to_string(), r#"[containerPort=8080,protocol="TCP"]"#);
    assert_eq!(
        PathElement::Value(json!("a<b")).serialize(),
        r#"v:"a\u003cb""#
    );
    // Keys parse sorted by name.
    assert_eq!(
        PathElement::deserialize(r#"k:{"protocol":"TCP","containerPort":8080}"#)
            .ok()
            .flatten(),
        Some(key)
    );
    let text = json!({
        "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
        "f:spec": {"f:containers": {"k:{\"name\":\"c\"}": {".": {}, "f:image": {}}},
                   "f:finalizers": {"v:\"x\"": {}}}
    });
    let set = Set::from_fields_v1(&text).expect("parse");
    assert_eq!(set.to_fields_v1(), text);
    // Order: fields, then keys, then values; "." first.
    let mixed = Set::from_fields_v1(&json!({"v:\"z\"": {}, "k:{\"a\":1}": {}, "f:b": {}}))
        .unwrap()
        .to_fields_v1();
    let keys: Vec<&String> = mixed
        .as_object()
        .map(|m| m.keys().collect())
        .unwrap_or_default();
    assert_eq!(keys, vec!["f:b", "k:{\"a\":1}", "v:\"z\""]);
}

#[test]
fn create_by_update_tracks_like_upstream() {
    let created = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "nginx", "namespace": "default", "uid": "u", "generation": 1,
                     "creationTimestamp": "2024-01-01T00:00:00Z", "labels": {"app": "nginx"}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "nginx"}},
            "template": {
                "metadata": {"labels": {"app": "nginx"}},
                "spec": {
                    "containers": [{"name": "nginx", "image": "nginx", "resources": {},
                                    "terminationMessagePath": "/dev/termination-log",
                                    "terminationMessagePolicy": "File",
                                    "imagePullPolicy": "Always"}],
                    "restartPolicy": "Always", "terminationGracePeriodSeconds": 30,
                    "dnsPolicy": "ClusterFirst", "securityContext": {},
                    "schedulerName": "default-scheduler"
                }
            },
            "strategy": {"type": "RollingUpdate",
                         "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
            "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600
        },
        "status": {}
    });
    let out = track_update(
        "apps",
        "v1",
        "Deployment",
        None,
        &created,
        "kubectl-create",
        None,
        T1,
    );
    let list = entries(&out);
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["manager"], "kubectl-create");
    assert_eq!(list[0]["operation"], "Update");
    assert_eq!(list[0]["apiVersion"], "apps/v1");
    assert_eq!(list[0]["time"], T1);
    let expected = json!({
        "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
        "f:spec": {
            "f:progressDeadlineSeconds": {}, "f:replicas": {}, "f:revisionHistoryLimit": {},
            "f:selector": {},
            "f:strategy": {"f:rollingUpdate": {".": {}, "f:maxSurge": {}, "f:maxUnavailable": {}},
                           "f:type": {}},
            "f:template": {
                "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
                "f:spec": {
                    "f:containers": {"k:{\"name\":\"nginx\"}": {
                        ".": {}, "f:image": {}, "f:imagePullPolicy": {}, "f:name": {},
                        "f:resources": {}, "f:terminationMessagePath": {},
                        "f:terminationMessagePolicy": {}
                    }},
                    "f:dnsPolicy": {}, "f:restartPolicy": {}, "f:schedulerName": {},
                    "f:securityContext": {}, "f:terminationGracePeriodSeconds": {}
                }
            }
        }
    });
    assert_eq!(
        serde_json::to_string(&list[0]["fieldsV1"]).unwrap_or_default(),
        serde_json::to_string(&expected).unwrap_or_default()
    );
}

#[test]
fn updates_move_ownership_and_keep_time_when_unchanged() {
    let fm = cm_fm();
    let created = stored(fm.update(None, &cm(json!({"a": "1", "b": "1"})), "creator", T1));
    let mut edited = created.clone();
    edited["data"]["a"] = json!("2");
    let edited = stored(fm.update(Some(&created), &edited, "editor", T2));
    let list = entries(&edited);
    assert_eq!(
        entry(&list, "creator")["fieldsV1"],
        json!({"f:data": {".": {}, "f:b": {}}})
    );
    assert_eq!(
        entry(&list, "editor")["fieldsV1"],
        json!({"f:data": {"f:a": {}}})
    );
    // Sorted by time: creator (T1) before editor (T2).
    assert_eq!(managers(&edited)[0].0, "creator");

    // Unchanged write: nothing moves, time stays.
    let same = fm.update(Some(&edited), &edited, "editor", T3);
    assert_eq!(entry(&entries(&same), "editor")["time"], T2);

    // Removing a field removes it from its owner.
    let mut removed = edited.clone();
    removed["data"].as_object_mut().map(|m| m.remove("a"));
    let removed = fm.update(Some(&edited), &removed, "other", T3);
    assert_eq!(
        managers(&removed),
        vec![("creator".to_string(), "Update".to_string())]
    );
}

#[test]
fn managed_fields_in_body_replace_or_reset() {
    let fm = cm_fm();
    let created = stored(fm.update(None, &cm(json!({"a": "1"})), "creator", T1));
    // Body without managedFields: the stored ones are kept.
    let mut body = created.clone();
    body["metadata"]
        .as_object_mut()
        .map(|m| m.remove("managedFields"));
    body["data"]["a"] = json!("2");
    let out = fm.update(Some(&created), &body, "editor", T2);
    assert_eq!(entries(&out).len(), 2);
    // `managedFields: []` resets; nothing is tracked afterwards.
    let mut reset = created.clone();
    reset["metadata"]["managedFields"] = json!([]);
    let out = stored(fm.update(Some(&created), &reset, "editor", T2));
    assert!(out["metadata"].get("managedFields").is_none());
    let mut next = out.clone();
    next["data"]["a"] = json!("3");
    let out = fm.update(Some(&out), &next, "editor", T3);
    assert!(out["metadata"].get("managedFields").is_none());
}

#[test]
fn apply_to_untracked_object_attributes_before_first_apply() {
    let fm = cm_fm();
    let live = stored(cm(json!({"a": "1"})));
    let err = fm
        .apply(Some(&live), &cm(json!({"a": "2"})), "kubectl", false, T1)
        .expect_err("conflict");
    assert_eq!(
        err.message(),
        "Apply failed with 1 conflict: conflict with \"before-first-apply\" using v1: .data.a"
    );
    let out = fm
        .apply(Some(&live), &cm(json!({"b": "2"})), "kubectl", false, T1)
        .unwrap();
    assert_eq!(
        managers(&out),
        vec![
            ("kubectl".to_string(), "Apply".to_string()),
            ("before-first-apply".to_string(), "Update".to_string())
        ]
    );
    assert_eq!(out["data"], json!({"a": "1", "b": "2"}));
}

#[test]
fn status_is_not_owned_on_the_main_resource() {
    let mut config = web(1, "nginx");
    config["status"] = json!({"replicas": 3});
    let out = deploy_fm()
        .apply(None, &config, "kubectl", false, T1)
        .unwrap();
    assert!(entries(&out)[0]["fieldsV1"].get("f:status").is_none());
    // Through the status subresource, status is owned and spec is not.
    let mut status = stored(out.clone());
    status["status"] = json!({"replicas": 1});
    let out = deploy_fm().subresource(Some("status")).update(
        Some(&stored(out)),
        &status,
        "controller",
        T2,
    );
    let list = entries(&out);
    let e = entry(&list, "controller");
    assert_eq!(e["subresource"], "status");
    assert_eq!(e["fieldsV1"], json!({"f:status": {"f:replicas": {}}}));
}

#[test]
fn invalid_applies() {
    let fm = deploy_fm();
    let err = fm
        .apply(None, &cm(json!({})), "kubectl", false, T1)
        .expect_err("kind");
    assert_eq!(err.code(), 400);
    assert_eq!(err.message(), "invalid object type: /v1, Kind=ConfigMap");

    let mut with_mf = web(1, "nginx");
    with_mf["metadata"]["managedFields"] = json!([]);
    let err = fm
        .apply(None, &with_mf, "kubectl", false, T1)
        .expect_err("managedFields");
    assert_eq!(
        (err.code(), err.message().as_str()),
        (400, "metadata.managedFields must be nil")
    );

    let mut dup = web(1, "nginx");
    dup["spec"]["template"]["spec"]["containers"] =
        json!([{"name": "c", "image": "a"}, {"name": "c", "image": "b"}]);
    let err = fm
        .apply(None, &dup, "kubectl", false, T1)
        .expect_err("duplicates");
    assert_eq!(err.code(), 500);
    assert_eq!(
        err.message(),
        "failed to create typed patch object (default/web; apps/v1, Kind=Deployment): .spec.template.spec.containers: duplicate entries for key [name=\"c\"]"
    );
    assert_eq!(err.status()["code"], 500);
    assert!(err.status().get("reason").is_none());

    let mut nameless = web(1, "nginx");
    nameless["spec"]["template"]["spec"]["containers"] = json!([{"image": "a"}]);
    let err = fm
        .apply(None, &nameless, "kubectl", false, T1)
        .expect_err("keys");
    assert!(err.message().ends_with(
        ".spec.template.spec.containers: element 0: associative list with keys has an element that omits all key fields [\"name\"] (and doesn't have default values for any key fields)"
    ), "{}", err.message());

    let mut unknown = web(1, "nginx");
    unknown["spec"]["bogus"] = json!(1);
    let err = fm
        .apply(None, &unknown, "kubectl", false, T1)
        .expect_err("unknown field");
    assert!(err
        .message()
        .ends_with(".spec.bogus: field not declared in schema"));
}

#[test]
fn update_entries_are_capped() {
    let fm = cm_fm();
    let mut live = stored(fm.update(None, &cm(json!({"k0": "v"})), "m0", T1));
    for i in 1..12 {
        let mut next = live.clone();
        next["data"][format!("k{i}")] = json!("v");
        let time = format!("2024-01-01T00:{i:02}:00Z");
        live = stored(fm.update(Some(&live), &next, &format!("m{i}"), &time));
    }
    let names: Vec<String> = managers(&live).into_iter().map(|(m, _)| m).collect();
    assert_eq!(names.len(), 10, "{names:?}");
    assert!(names.contains(&"ancient-changes".to_string()));
    assert!(!names.contains(&"m0".to_string()) && !names.contains(&"m1".to_string()));
    let list = entries(&live);
    assert_eq!(
        entry(&list, "ancient-changes")["fieldsV1"],
        json!({"f:data": {".": {}, "f:k0": {}, "f:k1": {}, "f:k2": {}}})
    );
}

#[test]
fn custom_resources_are_deduced() {
    let fm = FieldManager::new("example.com", "v1", "Widget");
    let config = json!({
        "apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"},
        "spec": {"size": 1, "items": ["a", "b"], "nested": {"x": true}}
    });
    let out = fm.apply(None, &config, "kubectl", false, T1).unwrap();
    assert_eq!(
        entries(&out)[0]["fieldsV1"],
        json!({"f:spec": {".": {}, "f:items": {}, "f:nested": {".": {}, "f:x": {}}, "f:size": {}}})
    );
    let mut other = config.clone();
    other["spec"] = json!({"items": ["c"]});
    let err = fm
        .apply(Some(&stored(out)), &other, "other", false, T2)
        .expect_err("atomic list conflict");
    assert_eq!(
        err.message(),
        "Apply failed with 1 conflict: conflict with \"kubectl\": .spec.items"
    );
}

#[test]
fn list_merge_keeps_upstream_order() {
    let fm = deploy_fm();
    let with = |names: &[&str]| {
        let mut d = web(1, "nginx");
        d["spec"]["template"]["spec"]["containers"] = Value::Array(
            names
                .iter()
                .map(|n| json!({"name": n, "image": "i"}))
                .collect(),
        );
        d
    };
    let live = stored(fm.apply(None, &with(&["a", "b"]), "x", false, T1).unwrap());
    // Another manager adds "c" before "b": the applied order wins around shared items.
    let out = fm
        .apply(Some(&live), &with(&["c", "b"]), "y", false, T2)
        .unwrap();
    let names: Vec<&str> = out["spec"]["template"]["spec"]["containers"]
        .as_array()
        .map(|c| c.iter().filter_map(|c| c["name"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(names, vec!["a", "c", "b"]);
}

#[test]
fn custom_resources_have_standard_metadata() {
    let fm = FieldManager::new("example.com", "v1", "Widget");
    let config = |f: &str| {
        json!({"apiVersion": "example.com/v1", "kind": "Widget",
               "metadata": {"name": "w", "finalizers": [f]}})
    };
    let live = stored(fm.apply(None, &config("a/x"), "a", false, T1).unwrap());
    let out = fm
        .apply(Some(&live), &config("b/y"), "b", false, T2)
        .unwrap();
    assert_eq!(out["metadata"]["finalizers"], json!(["a/x", "b/y"]));
}

#[test]
fn null_in_configuration_clears_the_field() {
    let fm = cm_fm();
    let live = stored(
        fm.apply(None, &cm(json!({"a": "1", "b": "2"})), "m", false, T1)
            .unwrap(),
    );
    let out = fm
        .apply(
            Some(&live),
            &cm(json!({"a": null, "b": "2"})),
            "m",
            false,
            T2,
        )
        .unwrap();
    assert_eq!(out["data"], json!({"b": "2"}));
    // The applier owns the field it set to null.
    assert_eq!(
        entries(&out)[0]["fieldsV1"],
        json!({"f:data": {"f:a": {}, "f:b": {}}})
    );
}

#[test]
fn managed_entry_round_trip() {
    let v = json!({"manager": "m", "operation": "Update", "apiVersion": "v1",
                   "time": T1, "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {}},
                   "subresource": "status"});
    let e = ManagedEntry::from_value(&v);
    assert_eq!(e.subresource.as_deref(), Some("status"));
    assert_eq!(e.to_value(), v);
    assert_eq!(
        ManagedEntry::list(&json!({"metadata": {"managedFields": [v]}})),
        vec![e]
    );
}
