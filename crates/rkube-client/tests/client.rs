//! Leader election and event recording against an in-process API server.

use k8s_openapi::api::core::v1::Event;
use kube::api::{Api, ListParams};
use rkube_apiserver::Server;
use rkube_client::events::{EventType, ObjectRef, Recorder};
use rkube_client::leader;
use std::sync::Arc;
use std::time::Duration;

async fn server() -> Arc<Server> {
    Server::start_in_memory().await.unwrap()
}

fn fast(identity: &str) -> leader::Config {
    leader::Config {
        lease_name: "test-lock".into(),
        identity: identity.into(),
        lease_duration: Duration::from_secs(1),
        renew_deadline: Duration::from_millis(800),
        retry_period: Duration::from_millis(100),
    }
}

#[tokio::test]
async fn one_leader_at_a_time_and_takeover_after_expiry() {
    let srv = server().await;
    let mut a = leader::run(srv.component_client("a"), fast("a"));
    tokio::time::timeout(Duration::from_secs(10), leader::wait_leading(&mut a))
        .await
        .unwrap();
    let mut b = leader::run(srv.component_client("b"), fast("b"));
    // b must not lead while a keeps renewing: watch it for several lease durations.
    let stolen = tokio::time::timeout(Duration::from_secs(3), leader::wait_leading(&mut b)).await;
    assert!(stolen.is_err(), "b took the lease while a was renewing");
    drop(a); // a's loop ends at its next retry, leaving the lease to expire
    tokio::time::timeout(Duration::from_secs(10), leader::wait_leading(&mut b))
        .await
        .expect("b never took over");
    let lease: Api<k8s_openapi::api::coordination::v1::Lease> =
        Api::namespaced(srv.component_client("t"), "kube-system");
    let l = lease.get("test-lock").await.unwrap();
    let spec = l.spec.unwrap();
    assert_eq!(spec.holder_identity.as_deref(), Some("b"));
    assert_eq!(spec.lease_transitions, Some(1));
}

#[tokio::test]
async fn repeated_events_are_aggregated() {
    let srv = server().await;
    let client = srv.component_client("default-scheduler");
    let rec = Recorder::new(client.clone(), "default-scheduler", "");
    let obj = ObjectRef {
        api_version: "v1".into(),
        kind: "Pod".into(),
        namespace: "default".into(),
        name: "web".into(),
        uid: "u1".into(),
        resource_version: String::new(),
    };
    for _ in 0..3 {
        rec.write(
            &obj,
            EventType::Warning,
            "FailedScheduling",
            "0/1 nodes are available",
        )
        .await
        .unwrap();
    }
    rec.write(&obj, EventType::Normal, "Scheduled", "assigned")
        .await
        .unwrap();
    let events: Api<Event> = Api::namespaced(client, "default");
    let list = events
        .list(&ListParams::default().fields("involvedObject.name=web"))
        .await
        .unwrap();
    assert_eq!(list.items.len(), 2);
    let failed = list
        .items
        .iter()
        .find(|e| e.reason.as_deref() == Some("FailedScheduling"))
        .unwrap();
    assert_eq!(failed.count, Some(3));
    assert_eq!(failed.type_.as_deref(), Some("Warning"));
    assert_eq!(
        failed.source.as_ref().and_then(|s| s.component.as_deref()),
        Some("default-scheduler")
    );
}
