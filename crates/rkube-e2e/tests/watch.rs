//! `kubectl get -w`: ADDED / MODIFIED / DELETED, in order, from the list's resourceVersion on.

use rkube_e2e::*;

fn events(out: &str) -> Vec<(String, String)> {
    json_stream(out)
        .iter()
        .map(|e| {
            (
                e["type"].as_str().unwrap_or("?").to_string(),
                e["object"]["metadata"]["name"]
                    .as_str()
                    .unwrap_or("?")
                    .to_string(),
            )
        })
        .collect()
}

fn ev(t: &str, n: &str) -> (String, String) {
    (t.to_string(), n.to_string())
}

#[test]
fn watch_shows_added_modified_deleted_in_order() {
    let s = Server::start_default();
    s.create(&configmap("w1", "default", &[("suite", "watch")]));

    let w = s.kc().spawn(&[
        "get",
        "cm",
        "-l",
        "suite=watch",
        "-w",
        "--output-watch-events",
        "-o",
        "json",
    ]);
    // The initial list shows up as ADDED; after that, the watch covers every later change.
    w.wait_for_output("the initial ADDED w1", |o| {
        events(o).contains(&ev("ADDED", "w1"))
    });

    s.create(&configmap("w2", "default", &[("suite", "watch")]));
    s.kc().replace(&configmap(
        "w2",
        "default",
        &[("suite", "watch"), ("changed", "yes")],
    ));
    s.must(&["delete", "cm", "w2"]);
    // Not selected by the watch's label selector: must not appear.
    s.create(&configmap("other", "default", &[("suite", "elsewhere")]));
    s.create(&configmap("w3", "default", &[("suite", "watch")]));

    w.wait_for_output("ADDED w3", |o| events(o).contains(&ev("ADDED", "w3")));
    let out = w.stop();
    assert_eq!(
        events(&out),
        [
            ev("ADDED", "w1"),
            ev("ADDED", "w2"),
            ev("MODIFIED", "w2"),
            ev("DELETED", "w2"),
            ev("ADDED", "w3")
        ],
        "watch stream:\n{out}"
    );
    let evs = json_stream(&out);
    assert_eq!(
        evs[2]["object"]["metadata"]["labels"]["changed"], "yes",
        "MODIFIED carries the new object"
    );
    // resourceVersions of the watched changes increase strictly.
    let rvs: Vec<u64> = evs[1..]
        .iter()
        .map(|e| {
            e["object"]["metadata"]["resourceVersion"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    assert!(
        rvs.windows(2).all(|w| w[0] < w[1]),
        "resourceVersions not increasing: {rvs:?}"
    );
    for e in &evs {
        assert_eq!(
            e["object"]["kind"], "ConfigMap",
            "watch objects carry kind: {e}"
        );
        assert_eq!(
            e["object"]["apiVersion"], "v1",
            "watch objects carry apiVersion: {e}"
        );
    }
}

#[test]
fn watch_single_object_and_table_output() {
    let s = Server::start_default();
    s.create(&pod("watched", "default", None));
    s.create(&pod("ignored", "default", None));

    let w = s
        .kc()
        .spawn(&["get", "pod", "watched", "-w", "--output-watch-events"]);
    w.wait_for_output("the initial row", |o| {
        o.lines().any(|l| l.contains("watched"))
    });
    s.kc().modify(&["pod", "ignored"], |p| {
        p["metadata"]["labels"]["touched"] = "yes".into()
    });
    s.kc().modify(&["pod", "watched"], |p| {
        p["metadata"]["labels"]["touched"] = "yes".into()
    });
    s.must(&["delete", "pod", "watched", "--wait=false"]);
    w.wait_for_output("DELETED", |o| o.contains("DELETED"));
    let out = w.stop();
    let rows = table(&out);
    assert_eq!(
        rows[0],
        ["EVENT", "NAME", "READY", "STATUS", "RESTARTS", "AGE"],
        "{out}"
    );
    let evs: Vec<(String, String)> = rows[1..]
        .iter()
        .map(|r| (r[0].clone(), r[1].clone()))
        .collect();
    assert_eq!(
        evs,
        [
            ev("ADDED", "watched"),
            ev("MODIFIED", "watched"),
            ev("DELETED", "watched")
        ],
        "only the named pod is watched:\n{out}"
    );
}

#[test]
fn watch_all_namespaces_prints_namespace_column() {
    let s = Server::start_default();
    s.create(&namespace("wa"));
    let w = s.kc().spawn(&["get", "cm", "-A", "-w", "-l", "suite=wa"]);
    // kubectl prints the header once the first object arrives.
    s.create(&configmap("in-wa", "wa", &[("suite", "wa")]));
    s.create(&configmap("in-default", "default", &[("suite", "wa")]));
    w.wait_for_output("both rows", |o| {
        o.contains("in-wa") && o.contains("in-default")
    });
    let out = w.stop();
    let rows = table(&out);
    assert_eq!(rows[0], ["NAMESPACE", "NAME", "DATA", "AGE"], "{out}");
    assert!(
        row(&rows, "NAME", "in-wa").is_some_and(|r| r[0] == "wa"),
        "{out}"
    );
    assert!(
        row(&rows, "NAME", "in-default").is_some_and(|r| r[0] == "default"),
        "{out}"
    );
}
