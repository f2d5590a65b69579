//! Component tests of the deployment controller (with the ReplicaSet controller) against an
//! in-process API server; the tests play the kubelet by marking pods Running and Ready.

use crate::support;

use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{Event, Pod};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::ResourceExt;
use rkube_controllers::common::{get_controller_of, is_pod_ready};
use rkube_controllers::deployment::util::{POD_TEMPLATE_HASH, REVISION, REVISION_HISTORY};
use serde_json::json;
use support::{context, eventually, mark_running_ready, server};

const NS: &str = "default";

async fn start() -> (std::sync::Arc<rkube_apiserver::Server>, kube::Client) {
    let (srv, client) = server().await;
    let ctx = context(&client);
    tokio::spawn(rkube_controllers::replicaset::run(ctx.clone()));
    tokio::spawn(rkube_controllers::deployment::run(ctx));
    (srv, client)
}

async fn create_deploy(
    client: &kube::Client,
    name: &str,
    replicas: i32,
    spec: serde_json::Value,
) -> Deployment {
    let mut d = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": NS, "annotations": {"kubernetes.io/change-cause": "first"}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "c", "image": "nginx:1"}]}
            }
        }
    });
    if let (Some(dst), Some(src)) = (d["spec"].as_object_mut(), spec.as_object()) {
        for (k, v) in src {
            dst.insert(k.clone(), v.clone());
        }
    }
    let d: Deployment = serde_json::from_value(d).unwrap();
    Api::<Deployment>::namespaced(client.clone(), NS)
        .create(&PostParams::default(), &d)
        .await
        .unwrap()
}

fn deploys(client: &kube::Client) -> Api<Deployment> {
    Api::namespaced(client.clone(), NS)
}

async fn set_image(client: &kube::Client, name: &str, image: &str) {
    let patch =
        json!({"spec": {"template": {"spec": {"containers": [{"name": "c", "image": image}]}}}});
    deploys(client)
        .patch(name, &PatchParams::default(), &Patch::Strategic(&patch))
        .await
        .unwrap();
}

async fn patch_spec(client: &kube::Client, name: &str, spec: serde_json::Value) {
    deploys(client)
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(&json!({"spec": spec})),
        )
        .await
        .unwrap();
}

/// The deployment's ReplicaSets by image (the tests use `nginx:1`, `nginx:2`, …, so this is
/// their creation order; creationTimestamp has only whole seconds).
async fn rss_of(client: &kube::Client, d: &Deployment) -> Vec<ReplicaSet> {
    let uid = d.uid().unwrap();
    let mut list: Vec<ReplicaSet> = Api::<ReplicaSet>::namespaced(client.clone(), NS)
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|rs| get_controller_of(&rs.metadata).is_some_and(|r| r.uid == uid))
        .collect();
    list.sort_by_key(image_of);
    list
}

fn image_of(rs: &ReplicaSet) -> String {
    rs.spec
        .as_ref()
        .unwrap()
        .template
        .as_ref()
        .unwrap()
        .spec
        .as_ref()
        .unwrap()
        .containers[0]
        .image
        .clone()
        .unwrap()
}

fn rs_replicas(rs: &ReplicaSet) -> i32 {
    rs.spec.as_ref().unwrap().replicas.unwrap()
}

fn annotation(meta: &kube::api::ObjectMeta, key: &str) -> Option<String> {
    meta.annotations.as_ref()?.get(key).cloned()
}

async fn pods(client: &kube::Client, app: &str) -> Vec<Pod> {
    Api::<Pod>::namespaced(client.clone(), NS)
        .list(&ListParams::default().labels(&format!("app={app}")))
        .await
        .unwrap()
        .items
}

/// Marks up to `max` not-ready pods of `app` (with `image`, if given) Running and Ready.
async fn make_ready(client: &kube::Client, app: &str, image: Option<&str>, max: usize) -> usize {
    let mut n = 0;
    for p in pods(client, app).await {
        if n >= max {
            break;
        }
        let img = p.spec.as_ref().unwrap().containers[0]
            .image
            .clone()
            .unwrap_or_default();
        if !is_pod_ready(&p) && image.is_none_or(|i| i == img) {
            mark_running_ready(client, NS, &p.name_any()).await;
            n += 1;
        }
    }
    n
}

/// Plays the kubelet until the deployment reports a completed rollout of `replicas`.
async fn wait_complete(client: &kube::Client, name: &str, replicas: i32) -> Deployment {
    eventually(15, &format!("rollout of {name} complete"), || async {
        make_ready(client, name, None, usize::MAX).await;
        let d = deploys(client).get(name).await.ok()?;
        let s = d.status.clone()?;
        let progressing = s
            .conditions
            .as_ref()?
            .iter()
            .find(|c| c.type_ == "Progressing")?;
        (s.observed_generation == d.metadata.generation
            && s.updated_replicas == Some(replicas)
            && s.replicas == Some(replicas)
            && s.available_replicas == Some(replicas)
            && progressing.reason.as_deref() == Some("NewReplicaSetAvailable"))
        .then_some(d)
    })
    .await
}

async fn events(client: &kube::Client, name: &str) -> Vec<String> {
    Api::<Event>::namespaced(client.clone(), NS)
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| {
            e.involved_object.name.as_deref() == Some(name)
                && e.involved_object.kind.as_deref() == Some("Deployment")
        })
        .filter_map(|e| Some(format!("{} {}", e.reason?, e.message?)))
        .collect()
}

#[tokio::test]
async fn deployment_creates_hashed_replicaset_and_reports_status() {
    let (_srv, client) = start().await;
    let d = create_deploy(&client, "web", 3, json!({})).await;
    let rs = eventually(10, "the new replica set", || async {
        rss_of(&client, &d).await.into_iter().next()
    })
    .await;
    let hash = rs.labels().get(POD_TEMPLATE_HASH).cloned().unwrap();
    assert_eq!(rs.name_any(), format!("web-{hash}"));
    assert!(
        hash.bytes()
            .all(|b| b"bcdfghjklmnpqrstvwxz2456789".contains(&b)),
        "{hash}"
    );
    let spec = rs.spec.clone().unwrap();
    assert_eq!(
        spec.selector.match_labels.as_ref().unwrap()[POD_TEMPLATE_HASH],
        hash
    );
    assert_eq!(
        spec.template
            .as_ref()
            .unwrap()
            .metadata
            .as_ref()
            .unwrap()
            .labels
            .as_ref()
            .unwrap()[POD_TEMPLATE_HASH],
        hash
    );
    assert_eq!(annotation(&rs.metadata, REVISION).as_deref(), Some("1"));
    assert_eq!(
        annotation(&rs.metadata, "deployment.kubernetes.io/desired-replicas").as_deref(),
        Some("3")
    );
    assert_eq!(
        annotation(&rs.metadata, "deployment.kubernetes.io/max-replicas").as_deref(),
        Some("4")
    );
    assert_eq!(
        annotation(&rs.metadata, "kubernetes.io/change-cause").as_deref(),
        Some("first")
    );

    let d = wait_complete(&client, "web", 3).await;
    assert_eq!(annotation(&d.metadata, REVISION).as_deref(), Some("1"));
    let s = d.status.unwrap();
    assert_eq!(s.ready_replicas, Some(3));
    assert_eq!(s.unavailable_replicas.unwrap_or(0), 0);
    let conds = s.conditions.unwrap();
    let available = conds.iter().find(|c| c.type_ == "Available").unwrap();
    assert_eq!(
        (available.status.as_str(), available.reason.as_deref()),
        ("True", Some("MinimumReplicasAvailable"))
    );
    assert_eq!(
        available.message.as_deref(),
        Some("Deployment has minimum availability.")
    );
    let progressing = conds.iter().find(|c| c.type_ == "Progressing").unwrap();
    assert_eq!(
        progressing.message.clone().unwrap(),
        format!("ReplicaSet \"web-{hash}\" has successfully progressed.")
    );
    let evs = events(&client, "web").await;
    assert!(
        evs.contains(&format!(
            "ScalingReplicaSet Scaled up replica set web-{hash} from 0 to 3"
        )),
        "{evs:?}"
    );
}

#[tokio::test]
async fn rolling_update_keeps_availability_and_rolls_back() {
    let (_srv, client) = start().await;
    let strategy = json!({"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}});
    let d = create_deploy(&client, "roll", 4, strategy).await;
    wait_complete(&client, "roll", 4).await;
    set_image(&client, "roll", "nginx:2").await;

    // Step by step: one new pod becomes ready at a time; availability never drops below 4
    // and there are never more than 5 pods.
    eventually(20, "rollout to nginx:2", || async {
        let all = pods(&client, "roll").await;
        let ready = all.iter().filter(|p| is_pod_ready(p)).count();
        assert!(ready >= 4, "availability dropped to {ready}");
        assert!(
            all.len() <= 5,
            "{} pods exceed replicas + maxSurge",
            all.len()
        );
        make_ready(&client, "roll", Some("nginx:2"), 1).await;
        let rss = rss_of(&client, &d).await;
        (rss.len() == 2
            && rs_replicas(&rss[0]) == 0
            && all.len() == 4
            && ready == 4
            && all.iter().all(|p| {
                p.spec.as_ref().unwrap().containers[0].image.as_deref() == Some("nginx:2")
            }))
        .then_some(())
    })
    .await;
    let d2 = wait_complete(&client, "roll", 4).await;
    assert_eq!(annotation(&d2.metadata, REVISION).as_deref(), Some("2"));
    let rss = rss_of(&client, &d).await;
    assert_eq!(annotation(&rss[1].metadata, REVISION).as_deref(), Some("2"));
    let old_name = rss[0].name_any();
    let evs = events(&client, "roll").await;
    assert!(
        evs.iter().any(|e| e.starts_with(&format!(
            "ScalingReplicaSet Scaled down replica set {old_name} from 4 to "
        ))),
        "{evs:?}"
    );

    // Rolling back re-applies the old template: the old RS becomes new again, revision 3.
    set_image(&client, "roll", "nginx:1").await;
    let d3 = wait_complete(&client, "roll", 4).await;
    let rss = rss_of(&client, &d).await;
    assert_eq!(rss.len(), 2, "no new replica set on rollback");
    assert_eq!(image_of(&rss[0]), "nginx:1");
    assert_eq!(rs_replicas(&rss[0]), 4);
    assert_eq!(rs_replicas(&rss[1]), 0);
    assert_eq!(annotation(&rss[0].metadata, REVISION).as_deref(), Some("3"));
    assert_eq!(
        annotation(&rss[0].metadata, REVISION_HISTORY).as_deref(),
        Some("1")
    );
    assert_eq!(annotation(&d3.metadata, REVISION).as_deref(), Some("3"));
}

#[tokio::test]
async fn recreate_removes_old_pods_before_creating_new_ones() {
    let (_srv, client) = start().await;
    let d = create_deploy(&client, "rec", 3, json!({"strategy": {"type": "Recreate"}})).await;
    wait_complete(&client, "rec", 3).await;
    set_image(&client, "rec", "nginx:2").await;
    eventually(15, "recreate to nginx:2", || async {
        let all = pods(&client, "rec").await;
        let img = |p: &Pod| {
            p.spec.as_ref().unwrap().containers[0]
                .image
                .clone()
                .unwrap_or_default()
        };
        let old = all.iter().filter(|p| img(p) == "nginx:1").count();
        let new = all.iter().filter(|p| img(p) == "nginx:2").count();
        assert!(old == 0 || new == 0, "{old} old and {new} new pods at once");
        make_ready(&client, "rec", None, usize::MAX).await;
        (new == 3).then_some(())
    })
    .await;
    wait_complete(&client, "rec", 3).await;
    let rss = rss_of(&client, &d).await;
    assert_eq!(rss.iter().map(rs_replicas).collect::<Vec<_>>(), vec![0, 3]);
}

#[tokio::test]
async fn paused_deployment_scales_but_does_not_roll_out() {
    let (_srv, client) = start().await;
    let d = create_deploy(&client, "pz", 2, json!({})).await;
    wait_complete(&client, "pz", 2).await;
    patch_spec(&client, "pz", json!({"paused": true})).await;
    eventually(10, "the DeploymentPaused condition", || async {
        let d = deploys(&client).get("pz").await.ok()?;
        let c = d
            .status?
            .conditions?
            .into_iter()
            .find(|c| c.type_ == "Progressing")?;
        (c.reason.as_deref() == Some("DeploymentPaused") && c.status == "Unknown").then_some(())
    })
    .await;
    set_image(&client, "pz", "nginx:2").await;
    patch_spec(&client, "pz", json!({"replicas": 4})).await;
    eventually(10, "the paused deployment scaled", || async {
        let rss = rss_of(&client, &d).await;
        (rss.len() == 1 && rs_replicas(&rss[0]) == 4).then_some(())
    })
    .await;
    assert_eq!(image_of(&rss_of(&client, &d).await[0]), "nginx:1");
    patch_spec(&client, "pz", json!({"paused": false})).await;
    let done = wait_complete(&client, "pz", 4).await;
    assert_eq!(annotation(&done.metadata, REVISION).as_deref(), Some("2"));
    let rss = rss_of(&client, &d).await;
    assert_eq!(image_of(&rss[1]), "nginx:2");
}

#[tokio::test]
async fn progress_deadline_exceeded_when_pods_never_become_ready() {
    let (_srv, client) = start().await;
    create_deploy(&client, "stuck", 1, json!({"progressDeadlineSeconds": 1})).await;
    let d = eventually(10, "ProgressDeadlineExceeded", || async {
        let d = deploys(&client).get("stuck").await.ok()?;
        let c = d
            .status
            .clone()?
            .conditions?
            .into_iter()
            .find(|c| c.type_ == "Progressing")?;
        (c.reason.as_deref() == Some("ProgressDeadlineExceeded")).then_some((d, c))
    })
    .await;
    let (d, c) = d;
    assert_eq!(c.status, "False");
    let rs = rss_of(&client, &d).await.remove(0);
    assert_eq!(
        c.message.unwrap(),
        format!(
            "ReplicaSet \"{}\" has timed out progressing.",
            rs.name_any()
        )
    );
    let available = d
        .status
        .unwrap()
        .conditions
        .unwrap()
        .into_iter()
        .find(|c| c.type_ == "Available")
        .unwrap();
    assert_eq!(
        (available.status.as_str(), available.reason.as_deref()),
        ("False", Some("MinimumReplicasUnavailable"))
    );
}

#[tokio::test]
async fn revision_history_limit_deletes_old_replica_sets() {
    let (_srv, client) = start().await;
    let d = create_deploy(&client, "hist", 1, json!({"revisionHistoryLimit": 1})).await;
    wait_complete(&client, "hist", 1).await;
    for image in ["nginx:2", "nginx:3"] {
        set_image(&client, "hist", image).await;
        eventually(15, image, || async {
            make_ready(&client, "hist", None, usize::MAX).await;
            let rss = rss_of(&client, &d).await;
            rss.iter()
                .any(|rs| image_of(rs) == image && rs_replicas(rs) == 1)
                .then_some(())
        })
        .await;
        wait_complete(&client, "hist", 1).await;
    }
    let rss = eventually(10, "one old replica set kept", || async {
        let rss = rss_of(&client, &d).await;
        (rss.len() == 2).then_some(rss)
    })
    .await;
    let images: Vec<String> = rss.iter().map(image_of).collect();
    assert_eq!(images, vec!["nginx:2", "nginx:3"]);
}

#[tokio::test]
async fn scaling_mid_rollout_is_proportional() {
    let (_srv, client) = start().await;
    let strategy = json!({"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 3, "maxUnavailable": 2}}});
    let d = create_deploy(&client, "prop", 10, strategy).await;
    wait_complete(&client, "prop", 10).await;
    // The new pods never become ready: the rollout stalls at old 8 / new 5 (13 = 10 + 3).
    set_image(&client, "prop", "nginx:3").await;
    eventually(10, "stalled rollout", || async {
        let rss = rss_of(&client, &d).await;
        (rss.len() == 2 && rs_replicas(&rss[0]) == 8 && rs_replicas(&rss[1]) == 5).then_some(())
    })
    .await;
    patch_spec(&client, "prop", json!({"replicas": 20})).await;
    // 23 allowed: old 8 * 23 / 13 = 14.2 -> 14, new 5 * 23 / 13 = 8.8 -> 9.
    eventually(10, "proportional scale-up", || async {
        let rss = rss_of(&client, &d).await;
        (rs_replicas(&rss[0]) == 14 && rs_replicas(&rss[1]) == 9).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rss = rss_of(&client, &d).await;
    assert_eq!(
        (rs_replicas(&rss[0]), rs_replicas(&rss[1])),
        (14, 9),
        "stable after the scaling event"
    );
}
