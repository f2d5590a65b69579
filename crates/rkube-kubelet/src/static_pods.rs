//! Static pods: Pod manifests in a directory on the node (kubeadm's way to run a control
//! plane), run by this kubelet and shown in the API as *mirror pods* named `<name>-<node>`.
//!
//! The directory is read every 2 seconds. Each manifest (`.yaml`, `.yml` or `.json`, one Pod
//! each) becomes a mirror pod bound to this node, owned by the Node, and annotated like
//! upstream's (`kubernetes.io/config.source: file`, `kubernetes.io/config.hash` and
//! `kubernetes.io/config.mirror` with a hash of the manifest). The pod workers run mirror pods
//! like any other pod bound here. An edited manifest (a new hash) replaces the mirror pod, so
//! the pod restarts; a removed manifest deletes it; a mirror pod deleted by hand comes back.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use sha2::Digest;

/// Annotation holding the manifest hash on a mirror pod.
pub const MIRROR_ANNOTATION: &str = "kubernetes.io/config.mirror";
const HASH_ANNOTATION: &str = "kubernetes.io/config.hash";
const SOURCE_ANNOTATION: &str = "kubernetes.io/config.source";

/// The mirror pods the manifests in `dir` ask for, keyed by (namespace, name). Manifests that
/// do not parse are logged and skipped.
pub fn desired(dir: &Path, node: &str, node_uid: &str) -> BTreeMap<(String, String), Pod> {
    let mut out = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    let mut files: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("yaml" | "yml" | "json")
            )
        })
        .collect();
    files.sort();
    for f in files {
        let Ok(text) = std::fs::read_to_string(&f) else {
            continue;
        };
        let pod: Pod = match serde_yaml::from_str(&text) {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(file = %f.display(), "not a valid static pod manifest: {e}");
                continue;
            }
        };
        let Some(name) = pod.metadata.name.clone().filter(|n| !n.is_empty()) else {
            tracing::warn!(file = %f.display(), "static pod manifest without metadata.name");
            continue;
        };
        let hash = {
            let mut h = sha2::Sha256::new();
            h.update(node.as_bytes());
            h.update(text.as_bytes());
            let d = h.finalize();
            d.iter()
                .take(16)
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        };
        let mut mirror = pod;
        let ns = mirror
            .metadata
            .namespace
            .clone()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "default".into());
        mirror.metadata.name = Some(format!("{name}-{node}"));
        mirror.metadata.namespace = Some(ns.clone());
        let ann = mirror
            .metadata
            .annotations
            .get_or_insert_with(BTreeMap::new);
        ann.insert(SOURCE_ANNOTATION.into(), "file".into());
        ann.insert(HASH_ANNOTATION.into(), hash.clone());
        ann.insert(MIRROR_ANNOTATION.into(), hash);
        mirror.metadata.owner_references = Some(vec![
            k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference {
                api_version: "v1".into(),
                kind: "Node".into(),
                name: node.into(),
                uid: node_uid.into(),
                controller: Some(true),
                ..Default::default()
            },
        ]);
        let spec = mirror.spec.get_or_insert_with(Default::default);
        spec.node_name = Some(node.into());
        mirror.status = None;
        out.insert((ns, format!("{name}-{node}")), mirror);
    }
    out
}

fn mirror_hash(p: &Pod) -> Option<&str> {
    p.metadata
        .annotations
        .as_ref()?
        .get(MIRROR_ANNOTATION)
        .map(String::as_str)
}

/// Keeps the mirror pods equal to the manifests in `dir`, forever.
pub async fn run(client: kube::Client, node: String, dir: PathBuf) {
    if let Err(e) = std::fs::create_dir_all(&dir) {
        tracing::warn!(
            "cannot create the static pod directory {}: {e}",
            dir.display()
        );
    }
    tracing::info!(dir = %dir.display(), "watching static pod manifests");
    let nodes: Api<Node> = Api::all(client.clone());
    let all: Api<Pod> = Api::all(client.clone());
    loop {
        if let Err(e) = sync(&client, &nodes, &all, &node, &dir).await {
            tracing::debug!("static pods: {e:#}");
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

async fn sync(
    client: &kube::Client,
    nodes: &Api<Node>,
    all: &Api<Pod>,
    node: &str,
    dir: &Path,
) -> Result<(), kube::Error> {
    let Some(n) = nodes.get_opt(node).await? else {
        return Ok(());
    };
    let want = desired(dir, node, n.metadata.uid.as_deref().unwrap_or_default());
    let lp = ListParams::default().fields(&format!("spec.nodeName={node}"));
    let have: BTreeMap<(String, String), Pod> = all
        .list(&lp)
        .await?
        .items
        .into_iter()
        .filter(|p| mirror_hash(p).is_some())
        .map(|p| {
            (
                (
                    p.metadata.namespace.clone().unwrap_or_default(),
                    p.metadata.name.clone().unwrap_or_default(),
                ),
                p,
            )
        })
        .collect();
    let now_delete = DeleteParams {
        grace_period_seconds: Some(0),
        ..Default::default()
    };
    for (key, pod) in &have {
        let stale = match want.get(key) {
            None => true,
            Some(w) => mirror_hash(w) != mirror_hash(pod),
        };
        if stale && pod.metadata.deletion_timestamp.is_none() {
            let api: Api<Pod> = Api::namespaced(client.clone(), &key.0);
            tracing::info!(pod = %format!("{}/{}", key.0, key.1), "deleting mirror pod (manifest changed or removed)");
            if let Err(e) = api.delete(&key.1, &now_delete).await {
                tracing::warn!(pod = %key.1, "failed to delete mirror pod: {e:#}");
            }
        }
    }
    for (key, pod) in want {
        if have.contains_key(&key) {
            continue;
        }
        let api: Api<Pod> = Api::namespaced(client.clone(), &key.0);
        match api.create(&PostParams::default(), &pod).await {
            Ok(_) => tracing::info!(pod = %format!("{}/{}", key.0, key.1), "created mirror pod"),
            Err(kube::Error::Api(s)) if s.code == 409 => {}
            Err(e) => tracing::warn!(pod = %key.1, "failed to create mirror pod: {e:#}"),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifests_become_mirror_pods() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("web.yaml"),
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n  labels: {tier: static}\nspec:\n  containers:\n  - name: web\n    image: busybox\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("bad.yaml"), "this: [is not a pod").unwrap();
        std::fs::write(dir.path().join("notes.txt"), "ignored").unwrap();
        let want = desired(dir.path(), "node1", "uid-1");
        assert_eq!(want.len(), 1);
        let p = &want[&("default".to_string(), "web-node1".to_string())];
        assert_eq!(p.spec.as_ref().unwrap().node_name.as_deref(), Some("node1"));
        let ann = p.metadata.annotations.as_ref().unwrap();
        assert_eq!(ann[SOURCE_ANNOTATION], "file");
        assert_eq!(ann[HASH_ANNOTATION], ann[MIRROR_ANNOTATION]);
        assert_eq!(
            p.metadata.owner_references.as_ref().unwrap()[0].kind,
            "Node"
        );
        assert_eq!(p.metadata.labels.as_ref().unwrap()["tier"], "static");
        // An edit changes the hash.
        let before = ann[MIRROR_ANNOTATION].clone();
        std::fs::write(
            dir.path().join("web.yaml"),
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n  containers:\n  - name: web\n    image: busybox:2\n",
        )
        .unwrap();
        let want = desired(dir.path(), "node1", "uid-1");
        let after = &want[&("default".to_string(), "web-node1".to_string())]
            .metadata
            .annotations
            .as_ref()
            .unwrap()[MIRROR_ANNOTATION];
        assert_ne!(&before, after);
    }
}
