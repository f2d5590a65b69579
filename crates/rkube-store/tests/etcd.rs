//! etcd-only tests: compaction floor discovery, the test helper itself, throughput.

use rkube_store::testing::EtcdProcess;
use rkube_store::{Error, EtcdStore, RangeOptions, Store};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

async fn start() -> (EtcdProcess, EtcdStore) {
    let process = tokio::task::spawn_blocking(EtcdProcess::start)
        .await
        .expect("start etcd");
    let store = EtcdStore::connect(std::slice::from_ref(&process.endpoint))
        .await
        .expect("connect");
    (process, store)
}

#[test]
fn missing_etcd_names_the_package() {
    let err = EtcdProcess::try_start_bin(Path::new("/nonexistent/etcd"))
        .err()
        .expect("must fail");
    assert!(err.contains("etcd-server"), "{err}");
}

#[tokio::test]
async fn floor_compacted_by_another_client_is_discovered() {
    let (process, a) = start().await;
    let b = EtcdStore::connect(std::slice::from_ref(&process.endpoint))
        .await
        .unwrap();
    for i in 0..40 {
        a.create(&format!("/x/{i}"), vec![1]).await.unwrap(); // 2..=41
    }
    a.compact(10).await.unwrap();
    assert_eq!(b.compacted_revision().await.unwrap(), 10);
    a.compact(33).await.unwrap();
    match b
        .range(
            "/x/",
            RangeOptions {
                revision: Some(20),
                ..Default::default()
            },
        )
        .await
    {
        Err(Error::Compacted {
            requested,
            compacted,
        }) => {
            assert_eq!((requested, compacted), (20, 33))
        }
        other => panic!("expected Compacted, got {other:?}"),
    }
    assert_eq!(b.compacted_revision().await.unwrap(), 33);
    assert!(matches!(
        b.watch("/x/", 31).await,
        Err(Error::Compacted { compacted: 33, .. })
    ));
    b.watch("/x/", 33).await.unwrap();
}

#[tokio::test]
async fn connect_to_nothing_fails() {
    // A port nothing listens on: bind one, then drop it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let endpoints = [format!("http://127.0.0.1:{port}")];
    assert!(matches!(
        EtcdStore::connect(&endpoints).await,
        Err(Error::Backend(_))
    ));
}

/// Rough write throughput (run with `--ignored --nocapture`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn throughput() {
    let (_process, s) = start().await;
    let s = Arc::new(s);
    for writers in [1usize, 16, 64, 256] {
        let per = 4000 / writers.min(64) * writers.min(64) / writers;
        let start = Instant::now();
        let tasks: Vec<_> = (0..writers)
            .map(|w| {
                let s = s.clone();
                tokio::spawn(async move {
                    for i in 0..per {
                        s.create(&format!("/t/{writers}/{w}/{i}"), vec![0; 256])
                            .await
                            .unwrap();
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        let n = writers * per;
        let rate = n as f64 / start.elapsed().as_secs_f64();
        println!("etcd: {writers} writers: {n} creates, {rate:.0}/s");
    }
}

/// A range larger than etcd's 4 MiB reply limit is read in pages, at one revision.
#[tokio::test]
async fn range_larger_than_a_grpc_reply() {
    let (_etcd, store) = start().await;
    let value = vec![b'x'; 8 * 1024];
    let keys: Vec<String> = (0..800).map(|i| format!("/registry/big/{i:05}")).collect();
    let writes = keys.iter().map(|k| store.create(k, value.clone()));
    for w in futures::future::join_all(writes).await {
        w.unwrap();
    }
    let all = store
        .range("/registry/big/", RangeOptions::default())
        .await
        .unwrap();
    assert_eq!(all.kvs.len(), 800);
    assert!(!all.more);
    let some = store
        .range(
            "/registry/big/",
            RangeOptions {
                limit: 650,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(some.kvs.len(), 650);
    assert!(some.more);
    assert_eq!(some.kvs.last().unwrap().key, "/registry/big/00649");
}
