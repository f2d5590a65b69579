//! Component tests of the serviceaccount controller: a `default` ServiceAccount in every
//! active namespace, re-created when deleted.

use crate::support;

use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use kube::api::{Api, DeleteParams, PostParams};
use serde_json::json;
use support::{context, eventually, server};

#[tokio::test]
async fn default_account_in_new_namespaces_and_recreated_after_deletion() {
    let (_srv, client) = server().await;
    tokio::spawn(rkube_controllers::serviceaccount::run(context(&client)));
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": "team-a"}})).unwrap();
    namespaces
        .create(&PostParams::default(), &ns)
        .await
        .unwrap();
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), "team-a");
    let first = eventually(10, "default serviceaccount created", || async {
        accounts.get_opt("default").await.unwrap()
    })
    .await;
    // Namespaces that existed before the controller started get one too.
    let existing: Api<ServiceAccount> = Api::namespaced(client.clone(), "default");
    eventually(
        10,
        "default serviceaccount in namespace default",
        || async { existing.get_opt("default").await.unwrap() },
    )
    .await;

    accounts
        .delete("default", &DeleteParams::default())
        .await
        .unwrap();
    eventually(10, "default serviceaccount re-created", || async {
        accounts
            .get_opt("default")
            .await
            .unwrap()
            .filter(|sa| sa.metadata.uid != first.metadata.uid)
    })
    .await;
}

#[tokio::test]
async fn terminating_namespace_gets_no_account() {
    let (_srv, client) = server().await;
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": "going"}})).unwrap();
    namespaces
        .create(&PostParams::default(), &ns)
        .await
        .unwrap();
    namespaces
        .delete("going", &DeleteParams::default())
        .await
        .unwrap();
    tokio::spawn(rkube_controllers::serviceaccount::run(context(&client)));
    // A namespace created afterwards is served, so the controller has seen "going" by then.
    let later: Namespace = serde_json::from_value(json!({"metadata": {"name": "later"}})).unwrap();
    namespaces
        .create(&PostParams::default(), &later)
        .await
        .unwrap();
    let later_accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), "later");
    eventually(
        10,
        "default serviceaccount in the new namespace",
        || async { later_accounts.get_opt("default").await.unwrap() },
    )
    .await;
    let going: Api<ServiceAccount> = Api::namespaced(client.clone(), "going");
    if let Ok(list) = going.list(&Default::default()).await {
        assert!(list.items.is_empty(), "{:?}", list.items);
    }
}
