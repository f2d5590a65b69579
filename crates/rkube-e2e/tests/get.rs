//! `kubectl get`: output formats, server-side table columns, namespaces, selectors, paging.

use rkube_e2e::*;
use serde_json::Value;

#[test]
fn output_formats() {
    let s = Server::start_default();
    s.create(&configmap("fmt", "default", &[("app", "demo")]));

    let out = s.must(&["get", "cm", "fmt", "-o", "name"]);
    assert_eq!(out.trim(), "configmap/fmt");

    let out = s.must(&["get", "cm", "fmt", "-o", "yaml"]);
    let y: serde_yaml::Value = serde_yaml::from_str(&out).expect("yaml");
    assert_eq!(y["apiVersion"].as_str(), Some("v1"), "{out}");
    assert_eq!(y["kind"].as_str(), Some("ConfigMap"), "{out}");
    assert_eq!(y["metadata"]["name"].as_str(), Some("fmt"), "{out}");
    assert_eq!(
        y["metadata"]["namespace"].as_str(),
        Some("default"),
        "{out}"
    );
    assert_eq!(y["data"]["key"].as_str(), Some("value"), "{out}");

    let j = s.get_json(&["cm", "fmt"]);
    let md = &j["metadata"];
    assert!(
        md["uid"].as_str().is_some_and(|u| u.len() >= 32),
        "uid: {j}"
    );
    assert!(
        md["resourceVersion"]
            .as_str()
            .is_some_and(|v| v.parse::<u64>().is_ok()),
        "rv: {j}"
    );
    assert!(
        md["creationTimestamp"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z')),
        "creationTimestamp: {j}"
    );
    assert_eq!(md["labels"]["app"], "demo");

    let list = s.get_json(&["cm"]);
    assert_eq!(list["kind"], "List", "{list}");
    assert_eq!(item_names(&list), ["fmt"]);

    let out = s.must(&[
        "get",
        "cm",
        "fmt",
        "-o",
        "jsonpath={.metadata.labels.app}/{.data.key}",
    ]);
    assert_eq!(out, "demo/value");
    let out = s.must(&[
        "get",
        "ns",
        "-o",
        "jsonpath={range .items[*]}{.metadata.name}{\"\\n\"}{end}",
    ]);
    assert_eq!(
        lines(&out),
        ["default", "kube-node-lease", "kube-public", "kube-system"]
    );

    let out = s.must(&[
        "get",
        "cm",
        "fmt",
        "-o",
        "custom-columns=N:.metadata.name,K:.data.key",
    ]);
    assert_eq!(table(&out), [vec!["N", "K"], vec!["fmt", "value"]]);
}

#[test]
fn pod_table_columns() {
    let s = Server::start_default();
    s.create(&pod("web", "default", None));
    let out = s.must(&["get", "pods"]);
    assert_eq!(
        header(&out),
        ["NAME", "READY", "STATUS", "RESTARTS", "AGE"],
        "{out}"
    );
    assert_eq!(cell(&out, "web", "READY"), "0/1", "{out}");
    assert_eq!(cell(&out, "web", "STATUS"), "Pending", "{out}");
    assert_eq!(cell(&out, "web", "RESTARTS"), "0", "{out}");

    let out = s.must(&["get", "pods", "-o", "wide"]);
    assert_eq!(
        header(&out),
        [
            "NAME",
            "READY",
            "STATUS",
            "RESTARTS",
            "AGE",
            "IP",
            "NODE",
            "NOMINATED NODE",
            "READINESS GATES"
        ],
        "{out}"
    );
    assert_eq!(cell(&out, "web", "NODE"), "<none>", "{out}");

    let out = s.must(&["get", "pod", "web", "--show-labels"]);
    assert_eq!(
        header(&out).last().map(String::as_str),
        Some("LABELS"),
        "{out}"
    );
    assert_eq!(cell(&out, "web", "LABELS"), "app=web", "{out}");
}

#[test]
fn deployment_node_service_secret_tables() {
    let s = Server::start_default();
    s.create(&deployment("api", "default", 3));
    let out = s.must(&["get", "deploy"]);
    assert_eq!(
        header(&out),
        ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"],
        "{out}"
    );
    assert_eq!(cell(&out, "api", "READY"), "0/3", "{out}");
    let out = s.must(&["get", "deployments.apps", "-o", "wide"]);
    assert_eq!(
        header(&out),
        [
            "NAME",
            "READY",
            "UP-TO-DATE",
            "AVAILABLE",
            "AGE",
            "CONTAINERS",
            "IMAGES",
            "SELECTOR"
        ],
        "{out}"
    );
    assert_eq!(cell(&out, "api", "CONTAINERS"), "web", "{out}");
    assert_eq!(cell(&out, "api", "IMAGES"), "nginx:1.27", "{out}");
    assert_eq!(cell(&out, "api", "SELECTOR"), "app=api", "{out}");

    s.create("apiVersion: v1\nkind: Node\nmetadata:\n  name: n1\n  labels:\n    node-role.kubernetes.io/worker: \"\"\n");
    let out = s.must(&["get", "nodes"]);
    assert_eq!(
        header(&out),
        ["NAME", "STATUS", "ROLES", "AGE", "VERSION"],
        "{out}"
    );
    assert_eq!(cell(&out, "n1", "ROLES"), "worker", "{out}");

    s.create(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: headless\nspec:\n  clusterIP: None\n  selector:\n    app: api\n  ports:\n  - port: 80\n    protocol: TCP\n",
    );
    let out = s.must(&["get", "svc", "headless"]);
    assert_eq!(
        header(&out),
        [
            "NAME",
            "TYPE",
            "CLUSTER-IP",
            "EXTERNAL-IP",
            "PORT(S)",
            "AGE"
        ],
        "{out}"
    );
    assert_eq!(cell(&out, "headless", "TYPE"), "ClusterIP", "{out}");
    assert_eq!(cell(&out, "headless", "CLUSTER-IP"), "None", "{out}");
    assert_eq!(cell(&out, "headless", "PORT(S)"), "80/TCP", "{out}");

    s.create("apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\ntype: Opaque\ndata:\n  a: YQ==\n  b: Yg==\n");
    let out = s.must(&["get", "secrets", "creds"]);
    assert_eq!(header(&out), ["NAME", "TYPE", "DATA", "AGE"], "{out}");
    assert_eq!(cell(&out, "creds", "TYPE"), "Opaque", "{out}");
    assert_eq!(cell(&out, "creds", "DATA"), "2", "{out}");

    s.create(&configmap("cfg", "default", &[]));
    let out = s.must(&["get", "configmaps"]);
    assert_eq!(header(&out), ["NAME", "DATA", "AGE"], "{out}");
    assert_eq!(cell(&out, "cfg", "DATA"), "1", "{out}");
}

#[test]
fn get_all_uses_the_all_category() {
    let s = Server::start_default();
    s.create(&pod("p1", "default", None));
    s.create(&deployment("d1", "default", 1));
    s.create(&configmap("not-in-all", "default", &[]));
    let out = s.must(&["get", "all", "-o", "name"]);
    let got = lines(&out);
    assert!(got.contains(&"pod/p1".to_string()), "{out}");
    assert!(got.contains(&"deployment.apps/d1".to_string()), "{out}");
    assert!(
        !out.contains("configmap"),
        "configmaps are not in category all:\n{out}"
    );
}

#[test]
fn namespaces_and_all_namespaces() {
    let s = Server::start_default();
    s.create(&namespace("team-a"));
    s.create(&namespace("team-b"));
    // (Labelled, so that configmaps a controller may add to every namespace do not count.)
    s.create(&configmap("a1", "team-a", &[("team", "a")]));
    s.create(&configmap("b1", "team-b", &[("team", "b")]));

    let out = s.must(&["get", "cm", "-n", "team-a", "-l", "team", "-o", "name"]);
    assert_eq!(lines(&out), ["configmap/a1"]);
    let out = s.must(&[
        "get",
        "cm",
        "--namespace=team-b",
        "-l",
        "team",
        "-o",
        "name",
    ]);
    assert_eq!(lines(&out), ["configmap/b1"]);
    let out = s.must(&["get", "cm", "-l", "team", "-o", "name"]);
    assert!(
        out.trim().is_empty(),
        "default namespace should hold none of them:\n{out}"
    );

    let out = s.must(&["get", "cm", "-A", "-l", "team"]);
    let rows = table(&out);
    assert_eq!(rows[0], ["NAMESPACE", "NAME", "DATA", "AGE"], "{out}");
    let pairs: Vec<(String, String)> = rows[1..]
        .iter()
        .map(|r| (r[0].clone(), r[1].clone()))
        .collect();
    assert!(pairs.contains(&("team-a".into(), "a1".into())), "{out}");
    assert!(pairs.contains(&("team-b".into(), "b1".into())), "{out}");
    assert_eq!(pairs.len(), 2, "{out}");

    let list = s.get_json(&["cm", "--all-namespaces", "-l", "team"]);
    assert_eq!(item_names(&list), ["a1", "b1"]);

    // Cluster-scoped kinds ignore -n.
    let out = s.must(&["get", "ns", "team-a", "-n", "team-b", "-o", "name"]);
    assert_eq!(out.trim(), "namespace/team-a");
}

#[test]
fn label_and_field_selectors() {
    let s = Server::start_default();
    let ns = "sel";
    s.create(&namespace(ns));
    s.create(&configmap("a", ns, &[("env", "prod"), ("tier", "web")]));
    s.create(&configmap("b", ns, &[("env", "dev"), ("tier", "db")]));
    s.create(&configmap("c", ns, &[("env", "prod")]));
    s.create(&configmap("d", ns, &[]));

    let names = |sel: &str| -> Vec<String> {
        let out = s.must(&[
            "get",
            "cm",
            "-n",
            ns,
            "-l",
            sel,
            "-o",
            "jsonpath={.items[*].metadata.name}",
        ]);
        let mut v: Vec<String> = out
            .split_whitespace()
            .filter(|n| *n != "kube-root-ca.crt")
            .map(str::to_string)
            .collect();
        v.sort();
        v
    };
    assert_eq!(names("env=prod"), ["a", "c"]);
    assert_eq!(names("env==prod"), ["a", "c"]);
    assert_eq!(names("env!=prod"), ["b", "d"]);
    assert_eq!(names("env in (dev)"), ["b"]);
    assert_eq!(names("env in (dev,prod)"), ["a", "b", "c"]);
    assert_eq!(names("env notin (prod)"), ["b", "d"]);
    assert_eq!(names("tier"), ["a", "b"]);
    assert_eq!(names("!tier"), ["c", "d"]);
    assert_eq!(names("env=prod,tier=web"), ["a"]);
    assert_eq!(names("env=prod,!tier"), ["c"]);
    assert_eq!(names("env=staging"), Vec::<String>::new());

    let out = s.must(&[
        "get",
        "cm",
        "-n",
        ns,
        "--field-selector",
        "metadata.name=b",
        "-o",
        "name",
    ]);
    assert_eq!(lines(&out), ["configmap/b"]);
    let out = s.must(&[
        "get",
        "cm",
        "-n",
        ns,
        "--field-selector",
        "metadata.name!=b,metadata.name!=kube-root-ca.crt",
        "-o",
        "name",
    ]);
    assert_eq!(lines(&out), ["configmap/a", "configmap/c", "configmap/d"]);
    let out = s.must(&[
        "get",
        "cm",
        "-A",
        "--field-selector",
        "metadata.namespace=sel",
        "-l",
        "env=dev",
        "-o",
        "name",
    ]);
    assert_eq!(lines(&out), ["configmap/b"]);

    let out = s.must(&["get", "cm", "-n", ns, "--show-labels"]);
    assert_eq!(header(&out), ["NAME", "DATA", "AGE", "LABELS"], "{out}");
    assert_eq!(cell(&out, "a", "LABELS"), "env=prod,tier=web", "{out}");
    assert_eq!(cell(&out, "d", "LABELS"), "<none>", "{out}");

    // Pods by phase and node (upstream pod field selectors).
    s.create(&pod("on-n1", ns, Some("n1")));
    s.create(&pod("unbound", ns, None));
    let out = s.must(&[
        "get",
        "pods",
        "-n",
        ns,
        "--field-selector",
        "spec.nodeName=n1",
        "-o",
        "name",
    ]);
    assert_eq!(lines(&out), ["pod/on-n1"]);
    let out = s.must(&[
        "get",
        "pods",
        "-n",
        ns,
        "--field-selector",
        "status.phase=Pending,spec.nodeName=",
        "-o",
        "name",
    ]);
    assert_eq!(lines(&out), ["pod/unbound"]);
}

#[test]
fn chunked_lists_page_with_continue() {
    let s = Server::start_default();
    for i in 1..=5 {
        s.create(&configmap(
            &format!("page-{i}"),
            "default",
            &[("batch", "paging")],
        ));
    }
    let out = s.must(&[
        "get",
        "cm",
        "-l",
        "batch=paging",
        "--chunk-size=2",
        "-o",
        "name",
    ]);
    assert_eq!(
        lines(&out),
        [
            "configmap/page-1",
            "configmap/page-2",
            "configmap/page-3",
            "configmap/page-4",
            "configmap/page-5"
        ]
    );
    let out = s.must(&["get", "cm", "-l", "batch=paging", "--chunk-size=2"]);
    assert_eq!(table(&out).len(), 6, "header + 5 rows:\n{out}");

    // The server really pages: limit=2 gives 2 items and a continue token, 3 pages in all.
    let mut path = format!(
        "/api/v1/namespaces/default/configmaps?limit=2&labelSelector={}",
        urlencode("batch=paging")
    );
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let page: Value = serde_json::from_str(&s.must(&["get", "--raw", &path])).unwrap();
        pages += 1;
        assert_eq!(page["kind"], "ConfigMapList", "{page}");
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 2, "page larger than limit: {page}");
        seen.extend(
            items
                .iter()
                .map(|i| i["metadata"]["name"].as_str().unwrap().to_string()),
        );
        match page["metadata"]["continue"].as_str() {
            Some(c) if !c.is_empty() => {
                assert_eq!(items.len(), 2, "a non-final page must be full: {page}");
                path = format!(
                    "/api/v1/namespaces/default/configmaps?limit=2&labelSelector={}&continue={}",
                    urlencode("batch=paging"),
                    urlencode(c)
                );
            }
            _ => break,
        }
        assert!(pages < 10, "paging does not terminate");
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, ["page-1", "page-2", "page-3", "page-4", "page-5"]);
}
