//! The in-process kube-rs client: typed create/get/list/watch and errors go through the router
//! exactly as over HTTPS, with the identity the client was built for.

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::api::{Api, PostParams, WatchEvent, WatchParams};
use rkube_apiserver::Server;
use std::sync::Arc;
use std::time::Duration;

async fn server() -> Arc<Server> {
    Server::start_in_memory().await.unwrap()
}

#[tokio::test]
async fn typed_crud_and_watch_in_process() {
    let srv = server().await;
    let client = srv.component_client("system:kube-scheduler");
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let mut cm = ConfigMap::default();
    cm.metadata.name = Some("a".into());
    cm.data = Some([("k".to_string(), "v".to_string())].into());
    let created = cms.create(&PostParams::default(), &cm).await.unwrap();
    assert!(created.metadata.resource_version.is_some());
    assert_eq!(cms.get("a").await.unwrap().data, cm.data);

    let err = cms.create(&PostParams::default(), &cm).await.unwrap_err();
    match err {
        kube::Error::Api(s) => {
            assert_eq!(s.code, 409);
            assert_eq!(s.reason, "AlreadyExists");
        }
        other => panic!("unexpected error {other:?}"),
    }

    let pods: Api<Pod> = Api::all(client);
    let rv = pods
        .list(&Default::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let mut stream = pods
        .watch(&WatchParams::default(), &rv)
        .await
        .unwrap()
        .boxed();
    let mut pod = Pod::default();
    pod.metadata.name = Some("p".into());
    pod.spec = Some(k8s_openapi::api::core::v1::PodSpec {
        containers: vec![k8s_openapi::api::core::v1::Container {
            name: "c".into(),
            image: Some("busybox".into()),
            ..Default::default()
        }],
        ..Default::default()
    });
    Api::<Pod>::namespaced(srv.component_client("x"), "default")
        .create(&PostParams::default(), &pod)
        .await
        .unwrap();
    let ev = tokio::time::timeout(Duration::from_secs(10), stream.try_next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    match ev {
        WatchEvent::Added(p) => assert_eq!(p.metadata.name.as_deref(), Some("p")),
        other => panic!("unexpected event {other:?}"),
    }
}
