//! A short smoke run of the everyday kubectl verbs, shared by the tests that repeat it against
//! another kubectl version or another datastore backend.

use crate::{cell, configmap, header, lines, namespace, pod, wait_until, Kubectl, WAIT};
use serde_json::Value;

/// Runs the smoke subset with `k`. `client_minor`: the kubectl minor version `k` must report
/// (proves the intended binary ran), if known.
pub fn smoke(k: &Kubectl, client_minor: Option<&str>) {
    // version
    let v: Value = serde_json::from_str(&k.must(&["version", "-o", "json"])).expect("version json");
    let git = v["serverVersion"]["gitVersion"]
        .as_str()
        .unwrap_or_default();
    assert!(
        git.starts_with("v1.33."),
        "server gitVersion {git:?}, want v1.33.x: {v}"
    );
    assert_eq!(v["serverVersion"]["major"], "1", "{v}");
    assert_eq!(v["serverVersion"]["minor"], "33", "{v}");
    if let Some(minor) = client_minor {
        assert_eq!(
            v["clientVersion"]["minor"], minor,
            "kubectl client version: {v}"
        );
    }

    // discovery
    let res = k.must(&["api-resources", "--no-headers", "-o", "name"]);
    for r in ["pods", "configmaps", "namespaces", "deployments.apps"] {
        assert!(
            lines(&res).iter().any(|l| l == r),
            "api-resources lacks {r}:\n{res}"
        );
    }

    // create
    let ns = "smoke";
    let out = k.create(&namespace(ns));
    assert!(out.contains("namespace/smoke created"), "{out}");
    let out = k.create(&configmap("one", ns, &[("tier", "web")]));
    assert!(out.contains("configmap/one created"), "{out}");
    k.create(&configmap("two", ns, &[("tier", "db")]));
    k.create(&pod("p", ns, None));

    // get: table, name, yaml, json, jsonpath
    let out = k.must(&["get", "cm", "-n", ns]);
    assert_eq!(header(&out), ["NAME", "DATA", "AGE"], "{out}");
    assert_eq!(cell(&out, "one", "DATA"), "1", "{out}");
    let out = k.must(&["get", "po", "-n", ns]);
    assert_eq!(
        header(&out),
        ["NAME", "READY", "STATUS", "RESTARTS", "AGE"],
        "{out}"
    );
    assert_eq!(cell(&out, "p", "READY"), "0/1", "{out}");
    let out = k.must(&["get", "configmaps", "-n", ns, "-o", "name"]);
    assert_eq!(lines(&out), ["configmap/one", "configmap/two"], "{out}");
    let out = k.must(&["get", "cm", "one", "-n", ns, "-o", "yaml"]);
    let y: serde_yaml::Value = serde_yaml::from_str(&out).expect("yaml");
    assert_eq!(y["kind"].as_str(), Some("ConfigMap"), "{out}");
    assert_eq!(y["apiVersion"].as_str(), Some("v1"), "{out}");
    assert_eq!(y["data"]["key"].as_str(), Some("value"), "{out}");
    let j = k.get_json(&["cm", "two", "-n", ns]);
    assert_eq!(j["metadata"]["labels"]["tier"], "db", "{j}");
    assert!(
        j["metadata"]["uid"].as_str().is_some_and(|u| !u.is_empty()),
        "{j}"
    );
    let out = k.must(&[
        "get",
        "cm",
        "-n",
        ns,
        "-o",
        "jsonpath={.items[*].metadata.name}",
    ]);
    assert_eq!(out.trim(), "one two");

    // label selector
    let out = k.must(&["get", "cm", "-n", ns, "-l", "tier=web", "-o", "name"]);
    assert_eq!(lines(&out), ["configmap/one"], "{out}");

    // describe
    let out = k.must(&["describe", "cm", "one", "-n", ns]);
    assert!(out.contains("Name:") && out.contains("one"), "{out}");
    assert!(out.contains("key"), "{out}");

    // delete and errors
    let out = k.must(&["delete", "cm", "one", "-n", ns]);
    assert!(out.contains("configmap \"one\" deleted"), "{out}");
    let err = k.fails(&["get", "cm", "one", "-n", ns]);
    assert!(
        err.contains("Error from server (NotFound): configmaps \"one\" not found"),
        "{err}"
    );

    // namespace deletion takes its objects with it
    k.must(&["delete", "ns", ns, "--wait=false"]);
    wait_until(WAIT, "namespace smoke is gone", || !k.exists(&["ns", ns]));
    let out = k.must(&[
        "get",
        "cm",
        "-A",
        "-o",
        "name",
        "--field-selector",
        "metadata.namespace=smoke",
    ]);
    assert!(
        out.trim().is_empty(),
        "objects left in a deleted namespace:\n{out}"
    );
}
