//! `kubectl describe` (pod, namespace, configmap) and the events it shows.

use rkube_e2e::*;
use serde_json::json;

#[test]
fn describe_pod_shows_spec_status_and_events() {
    let s = Server::api_only();
    s.create(&pod("web", "default", None));
    let p = s.get_json(&["pod", "web"]);
    let uid = p["metadata"]["uid"].as_str().unwrap();
    let ts = p["metadata"]["creationTimestamp"].as_str().unwrap();
    let event = json!({
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": "web.e2e1", "namespace": "default"},
        "involvedObject": {"apiVersion": "v1", "kind": "Pod", "name": "web", "namespace": "default", "uid": uid},
        "reason": "E2eTesting",
        "message": "hello from the e2e suite",
        "type": "Normal",
        "count": 1,
        "firstTimestamp": ts,
        "lastTimestamp": ts,
        "source": {"component": "e2e"},
    });
    s.create(&event.to_string());
    // An event about another object must not show up.
    let other = json!({
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": "other.e2e1", "namespace": "default"},
        "involvedObject": {"apiVersion": "v1", "kind": "Pod", "name": "other", "namespace": "default", "uid": "0000"},
        "reason": "NotMine",
        "message": "about another pod",
        "type": "Warning",
        "firstTimestamp": ts,
        "lastTimestamp": ts,
    });
    s.create(&other.to_string());

    let out = s.must(&["describe", "pod", "web"]);
    for want in [
        "Name:",
        "web",
        "Namespace:",
        "default",
        "Status:",
        "Pending",
        "Containers:",
        "main:",
        "busybox:1.36",
        "Events:",
    ] {
        assert!(out.contains(want), "describe pod lacks {want:?}:\n{out}");
    }
    let events_section = out.split("Events:").nth(1).unwrap_or_default();
    assert!(
        events_section.contains("E2eTesting"),
        "event reason missing:\n{out}"
    );
    assert!(
        events_section.contains("hello from the e2e suite"),
        "event message missing:\n{out}"
    );
    assert!(
        events_section.contains("e2e"),
        "event source missing:\n{out}"
    );
    assert!(
        !events_section.contains("NotMine"),
        "another object's event shown:\n{out}"
    );

    // kubectl get events lists both; the field selector narrows to one object.
    let out = s.must(&["get", "events", "-o", "name"]);
    assert_eq!(lines(&out), ["event/other.e2e1", "event/web.e2e1"]);
    let out = s.must(&[
        "get",
        "events",
        "--field-selector",
        "involvedObject.name=web",
        "-o",
        "name",
    ]);
    assert_eq!(lines(&out), ["event/web.e2e1"]);
    let out = s.must(&["get", "events"]);
    assert_eq!(
        header(&out),
        ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"],
        "{out}"
    );
    assert!(out.contains("pod/web"), "{out}");
}

#[test]
fn describe_namespace_and_configmap() {
    let s = Server::api_only();
    let out = s.must(&["describe", "ns", "default"]);
    assert!(
        out.lines()
            .any(|l| l.starts_with("Name:") && l.trim_end().ends_with("default")),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with("Status:") && l.trim_end().ends_with("Active")),
        "{out}"
    );

    s.create("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  labels:\n    app: demo\ndata:\n  colour: blue\n  size: large\n");
    let out = s.must(&["describe", "cm", "settings"]);
    assert!(
        out.lines()
            .any(|l| l.starts_with("Name:") && l.trim_end().ends_with("settings")),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with("Labels:") && l.contains("app=demo")),
        "{out}"
    );
    assert!(out.contains("Data\n===="), "{out}");
    for want in ["colour:", "blue", "size:", "large"] {
        assert!(out.contains(want), "describe cm lacks {want:?}:\n{out}");
    }
    let err = s.fails(&["describe", "pod", "nope"]);
    assert!(
        err.contains("Error from server (NotFound): pods \"nope\" not found"),
        "{err}"
    );
}

#[test]
fn events_api_groups_share_storage() {
    let s = Server::api_only();
    let ev = json!({
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": {"name": "new-api", "namespace": "default"},
        "eventTime": "2025-01-01T00:00:00.000000Z",
        "reportingController": "example.com/e2e",
        "reportingInstance": "e2e-1",
        "action": "Testing",
        "reason": "ViaEventsAPI",
        "note": "written through events.k8s.io",
        "type": "Normal",
        "regarding": {"apiVersion": "v1", "kind": "Pod", "name": "x", "namespace": "default"},
    });
    s.create(&ev.to_string());
    let out = s.must(&["get", "events.v1.events.k8s.io", "-o", "name"]);
    assert_eq!(lines(&out), ["event.events.k8s.io/new-api"]);
    // The same event through core/v1, with the fields mapped.
    let core = s
        .http_get("/api/v1/namespaces/default/events/new-api")
        .expect(200);
    assert_eq!(core["reason"], "ViaEventsAPI", "{core}");
    assert_eq!(core["message"], "written through events.k8s.io", "{core}");
    assert_eq!(core["involvedObject"]["name"], "x", "{core}");
}
