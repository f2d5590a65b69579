//! Component tests of the garbage collector against an in-process API server: cascading
//! deletion in the background, orphaning and foreground deletion, owners by uid, several
//! owners, and cluster-scoped owners.

use crate::support;

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{ConfigMap, Node, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::{Resource, ResourceExt};
use serde_json::json;
use support::{context, eventually, server};

const NS: &str = "default";

fn owner_ref<K: Resource<DynamicType = ()>>(owner: &K, block: bool) -> OwnerReference {
    OwnerReference {
        api_version: K::api_version(&()).to_string(),
        kind: K::kind(&()).to_string(),
        name: owner.name_any(),
        uid: owner.uid().unwrap_or_default(),
        controller: None,
        block_owner_deletion: Some(block),
    }
}

async fn start(client: &kube::Client) {
    tokio::spawn(rkube_controllers::garbagecollector::run(context(client)));
}

async fn configmap(client: &kube::Client, name: &str, owners: Vec<OwnerReference>) -> ConfigMap {
    let cm: ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": name, "ownerReferences": owners},
        "data": {"k": "v"}
    }))
    .unwrap();
    Api::<ConfigMap>::namespaced(client.clone(), NS)
        .create(&PostParams::default(), &cm)
        .await
        .unwrap()
}

/// An unscheduled pod (deleted at once, no kubelet needed) with `owners` and `finalizers`.
async fn pod(
    client: &kube::Client,
    name: &str,
    owners: Vec<OwnerReference>,
    finalizers: &[&str],
) -> Pod {
    let p: Pod = serde_json::from_value(json!({
        "metadata": {"name": name, "ownerReferences": owners, "finalizers": finalizers},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]}
    }))
    .unwrap();
    Api::<Pod>::namespaced(client.clone(), NS)
        .create(&PostParams::default(), &p)
        .await
        .unwrap()
}

/// A ReplicaSet created by hand (no ReplicaSet controller runs here).
async fn replicaset(client: &kube::Client, name: &str, owners: Vec<OwnerReference>) -> ReplicaSet {
    let rs: ReplicaSet = serde_json::from_value(json!({
        "metadata": {"name": name, "ownerReferences": owners},
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "c", "image": "busybox"}]}
            }
        }
    }))
    .unwrap();
    Api::<ReplicaSet>::namespaced(client.clone(), NS)
        .create(&PostParams::default(), &rs)
        .await
        .unwrap()
}

fn delete_with(policy: kube::api::PropagationPolicy) -> DeleteParams {
    DeleteParams {
        propagation_policy: Some(policy),
        ..Default::default()
    }
}

async fn gone<K>(api: &Api<K>, name: &str) -> Option<()>
where
    K: Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    api.get_opt(name).await.unwrap().is_none().then_some(())
}

async fn clear_finalizers(client: &kube::Client, name: &str) {
    Api::<Pod>::namespaced(client.clone(), NS)
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": null}})),
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn background_deletion_removes_dependents() {
    let (_srv, client) = server().await;
    start(&client).await;
    let owner = configmap(&client, "owner", vec![]).await;
    pod(&client, "a", vec![owner_ref(&owner, true)], &[]).await;
    pod(&client, "b", vec![owner_ref(&owner, false)], &[]).await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), NS);
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), NS);
    cms.delete("owner", &DeleteParams::default()).await.unwrap();
    assert!(cms.get_opt("owner").await.unwrap().is_none());
    eventually(10, "dependents deleted", || async {
        let a = gone(&pods, "a").await;
        let b = gone(&pods, "b").await;
        a.and(b)
    })
    .await;
}

#[tokio::test]
async fn owner_is_matched_by_uid_not_by_name() {
    let (_srv, client) = server().await;
    start(&client).await;
    let owner = configmap(&client, "same-name", vec![]).await;
    let mut stale = owner_ref(&owner, false);
    stale.uid = "00000000-0000-0000-0000-000000000000".into();
    pod(&client, "stale", vec![stale], &[]).await;
    pod(&client, "live", vec![owner_ref(&owner, false)], &[]).await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), NS);
    eventually(10, "pod of the replaced owner deleted", || async {
        gone(&pods, "stale").await
    })
    .await;
    // The dependent of the object that does exist stays.
    assert!(pods.get_opt("live").await.unwrap().is_some());
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), NS);
    assert!(cms.get_opt("same-name").await.unwrap().is_some());
}

#[tokio::test]
async fn orphan_deletion_keeps_dependents_without_the_reference() {
    let (_srv, client) = server().await;
    let rs = replicaset(&client, "rs", vec![]).await;
    let other = configmap(&client, "other-owner", vec![]).await;
    pod(&client, "a", vec![owner_ref(&rs, true)], &[]).await;
    pod(
        &client,
        "b",
        vec![owner_ref(&rs, true), owner_ref(&other, false)],
        &[],
    )
    .await;
    let rss: Api<ReplicaSet> = Api::namespaced(client.clone(), NS);
    // Start once the objects exist, as a collector finds them in its first lists (a
    // dependent created after its owner's deletion is a race upstream has too).
    start(&client).await;
    rss.delete("rs", &delete_with(kube::api::PropagationPolicy::Orphan))
        .await
        .unwrap();
    eventually(10, "orphaned owner deleted", || async {
        gone(&rss, "rs").await
    })
    .await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), NS);
    let a = pods.get("a").await.unwrap();
    assert!(a.metadata.owner_references.is_none(), "{:?}", a.metadata);
    let b = pods.get("b").await.unwrap();
    let uids: Vec<_> = b.owner_references().iter().map(|r| r.uid.clone()).collect();
    assert_eq!(uids, vec![other.uid().unwrap()]);
}

#[tokio::test]
async fn foreground_deletion_waits_for_blocking_dependents() {
    let (_srv, client) = server().await;
    let rs = replicaset(&client, "rs", vec![]).await;
    // "held" cannot go until its finalizer is removed; "free" goes at once.
    pod(
        &client,
        "held",
        vec![owner_ref(&rs, true)],
        &["example.com/hold"],
    )
    .await;
    pod(&client, "free", vec![owner_ref(&rs, false)], &[]).await;
    let rss: Api<ReplicaSet> = Api::namespaced(client.clone(), NS);
    let pods: Api<Pod> = Api::namespaced(client.clone(), NS);
    // Start once the objects exist, as a collector finds them in its first lists (a
    // dependent created after its owner's deletion is a race upstream has too).
    start(&client).await;
    rss.delete("rs", &delete_with(kube::api::PropagationPolicy::Foreground))
        .await
        .unwrap();
    eventually(10, "dependents being deleted", || async {
        let held = pods.get("held").await.unwrap();
        let free = gone(&pods, "free").await;
        held.metadata.deletion_timestamp.and(free)
    })
    .await;
    let owner = rss.get("rs").await.unwrap();
    assert!(owner.metadata.deletion_timestamp.is_some());
    assert_eq!(owner.finalizers(), ["foregroundDeletion"]);
    clear_finalizers(&client, "held").await;
    eventually(10, "owner deleted after its blocking dependent", || async {
        gone(&rss, "rs").await
    })
    .await;
}

#[tokio::test]
async fn foreground_deletion_propagates_down_a_chain() {
    let (_srv, client) = server().await;
    let top = configmap(&client, "top", vec![]).await;
    let mid = replicaset(&client, "mid", vec![owner_ref(&top, true)]).await;
    pod(
        &client,
        "leaf",
        vec![owner_ref(&mid, true)],
        &["example.com/hold"],
    )
    .await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), NS);
    let rss: Api<ReplicaSet> = Api::namespaced(client.clone(), NS);
    // Start once the objects exist, as a collector finds them in its first lists (a
    // dependent created after its owner's deletion is a race upstream has too).
    start(&client).await;
    cms.delete(
        "top",
        &delete_with(kube::api::PropagationPolicy::Foreground),
    )
    .await
    .unwrap();
    // The middle object is deleted in the foreground too, so both wait for the leaf.
    eventually(10, "middle owner deleted in the foreground", || async {
        let mid = rss.get("mid").await.unwrap();
        (mid.metadata.deletion_timestamp.is_some() && mid.finalizers() == ["foregroundDeletion"])
            .then_some(())
    })
    .await;
    assert!(cms
        .get("top")
        .await
        .unwrap()
        .metadata
        .deletion_timestamp
        .is_some());
    clear_finalizers(&client, "leaf").await;
    eventually(10, "whole chain deleted", || async {
        let t = gone(&cms, "top").await;
        let m = gone(&rss, "mid").await;
        t.and(m)
    })
    .await;
}

#[tokio::test]
async fn dependent_with_two_owners_lives_while_one_does() {
    let (_srv, client) = server().await;
    start(&client).await;
    let one = configmap(&client, "one", vec![]).await;
    let two = configmap(&client, "two", vec![]).await;
    pod(
        &client,
        "shared",
        vec![owner_ref(&one, false), owner_ref(&two, false)],
        &[],
    )
    .await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), NS);
    let pods: Api<Pod> = Api::namespaced(client.clone(), NS);
    cms.delete("one", &DeleteParams::default()).await.unwrap();
    // The reference to the deleted owner is dropped; the pod stays.
    eventually(10, "dangling reference removed", || async {
        let p = pods.get("shared").await.unwrap();
        (p.owner_references().len() == 1).then_some(())
    })
    .await;
    assert_eq!(
        pods.get("shared").await.unwrap().owner_references()[0].uid,
        two.uid().unwrap()
    );
    cms.delete("two", &DeleteParams::default()).await.unwrap();
    eventually(10, "pod deleted with its last owner", || async {
        gone(&pods, "shared").await
    })
    .await;
}

#[tokio::test]
async fn cluster_scoped_owner_of_namespaced_dependent() {
    let (_srv, client) = server().await;
    start(&client).await;
    let nodes: Api<Node> = Api::all(client.clone());
    let node: Node = serde_json::from_value(json!({"metadata": {"name": "n1"}})).unwrap();
    let node = nodes.create(&PostParams::default(), &node).await.unwrap();
    pod(&client, "p", vec![owner_ref(&node, false)], &[]).await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), NS);
    nodes.delete("n1", &DeleteParams::default()).await.unwrap();
    eventually(
        10,
        "dependent of the cluster-scoped owner deleted",
        || async { gone(&pods, "p").await },
    )
    .await;
}

#[tokio::test]
async fn dependents_of_owners_deleted_before_the_collector_started_are_collected() {
    let (_srv, client) = server().await;
    let owner = configmap(&client, "early", vec![]).await;
    pod(&client, "left", vec![owner_ref(&owner, false)], &[]).await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), NS);
    cms.delete("early", &DeleteParams::default()).await.unwrap();
    start(&client).await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), NS);
    eventually(10, "leftover dependent deleted", || async {
        gone(&pods, "left").await
    })
    .await;
}
