//! One conformance suite for every backend: each case is an async fn taking a fresh
//! [`DynStore`], run against memory, embedded (redb in a temp dir) and a real etcd
//! (`/usr/bin/etcd` from the Debian package `etcd-server`; missing etcd fails the etcd cases).

use rkube_store::testing::EtcdProcess;
use rkube_store::{
    DynStore, EmbeddedConfig, EmbeddedStore, Error, EtcdStore, Event, EventType, KeyValue,
    MemoryStore, RangeOptions, Revision, WatchStream,
};
use std::any::Any;
use std::sync::Arc;
use std::time::Duration;

/// A fresh store and whatever must live as long as it (temp dir, etcd process).
struct Fixture {
    store: DynStore,
    _keep: Vec<Box<dyn Any + Send>>,
}

async fn memory() -> Fixture {
    Fixture {
        store: Arc::new(MemoryStore::new()),
        _keep: Vec::new(),
    }
}

async fn embedded() -> Fixture {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = EmbeddedConfig {
        compact_interval: Duration::ZERO,
        ..Default::default()
    };
    let store = EmbeddedStore::open(&dir.path().join("store.redb"), config).expect("open");
    Fixture {
        store: Arc::new(store),
        _keep: vec![Box::new(dir)],
    }
}

async fn etcd() -> Fixture {
    let process = tokio::task::spawn_blocking(EtcdProcess::start)
        .await
        .expect("start etcd");
    let store = EtcdStore::connect(std::slice::from_ref(&process.endpoint))
        .await
        .expect("connect");
    Fixture {
        store: Arc::new(store),
        _keep: vec![Box::new(process)],
    }
}

macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        mod memory_backend {
            $(#[tokio::test] async fn $case() { super::$case(super::memory().await.store).await })*
        }
        mod embedded_backend {
            $(#[tokio::test] async fn $case() {
                let f = super::embedded().await;
                super::$case(f.store.clone()).await
            })*
        }
        mod etcd_backend {
            $(#[tokio::test] async fn $case() {
                let f = super::etcd().await;
                super::$case(f.store.clone()).await
            })*
        }
    };
}

conformance!(
    revisions,
    create_exists,
    cas_update,
    delete_with_precondition,
    range_prefix_limit_continue,
    historical_range,
    compacted_and_future_reads,
    watch_from_old_revision,
    watch_live_only,
    watch_below_floor,
    prefix_isolation,
    delete_event_carries_prev,
    slow_watcher_gets_every_event,
);

const DEADLINE: Duration = Duration::from_secs(20);

async fn next(rx: &mut WatchStream) -> Event {
    match tokio::time::timeout(DEADLINE, rx.recv()).await {
        Ok(Some(Ok(ev))) => ev,
        Ok(Some(Err(e))) => panic!("watch error: {e}"),
        Ok(None) => panic!("watch ended"),
        Err(_) => panic!("no watch event within {DEADLINE:?}"),
    }
}

fn v(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}

fn keys(kvs: &[KeyValue]) -> Vec<&str> {
    kvs.iter().map(|kv| kv.key.as_str()).collect()
}

fn opts(start_after: Option<&str>, limit: usize, revision: Option<Revision>) -> RangeOptions {
    RangeOptions {
        start_after: start_after.map(str::to_string),
        limit,
        revision,
    }
}

async fn revisions(s: DynStore) {
    assert_eq!(
        s.current_revision().await.unwrap(),
        1,
        "empty store is at revision 1"
    );
    let a = s.create("/t/a", v("1")).await.unwrap();
    assert_eq!((a.create_revision, a.mod_revision), (2, 2));
    let a2 = s.update("/t/a", v("2"), 2).await.unwrap();
    assert_eq!((a2.create_revision, a2.mod_revision), (2, 3));
    // Failed writes do not bump the revision.
    assert!(s.create("/t/a", v("x")).await.is_err());
    assert!(s.update("/t/a", v("x"), 2).await.is_err());
    assert!(s.delete("/t/missing", None).await.is_err());
    assert_eq!(s.current_revision().await.unwrap(), 3);
    let d = s.delete("/t/a", None).await.unwrap();
    assert_eq!(
        (d.create_revision, d.mod_revision, d.value.as_slice()),
        (2, 4, &b"2"[..])
    );
    assert_eq!(s.current_revision().await.unwrap(), 4);
    // Re-creating starts a new life of the key.
    let a3 = s.create("/t/a", v("3")).await.unwrap();
    assert_eq!((a3.create_revision, a3.mod_revision), (5, 5));
    assert_eq!(
        s.range("/t/", RangeOptions::default())
            .await
            .unwrap()
            .revision,
        5
    );
}

async fn create_exists(s: DynStore) {
    let kv = s.create("/t/k", v("one")).await.unwrap();
    assert_eq!(kv.key, "/t/k");
    assert_eq!(kv.value, v("one"));
    match s.create("/t/k", v("two")).await {
        Err(Error::AlreadyExists(k)) => assert_eq!(k, "/t/k"),
        other => panic!("expected AlreadyExists, got {other:?}"),
    }
    assert_eq!(s.get("/t/k").await.unwrap(), Some(kv));
    assert_eq!(s.get("/t/other").await.unwrap(), None);
}

async fn cas_update(s: DynStore) {
    let kv = s.create("/t/k", v("1")).await.unwrap();
    let kv2 = s.update("/t/k", v("2"), kv.mod_revision).await.unwrap();
    assert_eq!(kv2.value, v("2"));
    match s.update("/t/k", v("3"), kv.mod_revision).await {
        Err(Error::Conflict {
            key,
            expected,
            current,
        }) => {
            assert_eq!(key, "/t/k");
            assert_eq!(expected, kv.mod_revision);
            assert_eq!(current, Some(kv2.clone()));
        }
        other => panic!("expected Conflict, got {other:?}"),
    }
    match s.update("/t/missing", v("1"), 0).await {
        Err(Error::NotFound(k)) => assert_eq!(k, "/t/missing"),
        other => panic!("expected NotFound, got {other:?}"),
    }
    assert_eq!(
        s.get("/t/missing").await.unwrap(),
        None,
        "update must not create"
    );
    assert_eq!(s.get("/t/k").await.unwrap(), Some(kv2));
}

async fn delete_with_precondition(s: DynStore) {
    let kv = s.create("/t/k", v("1")).await.unwrap();
    let kv2 = s.update("/t/k", v("2"), kv.mod_revision).await.unwrap();
    match s.delete("/t/k", Some(kv.mod_revision)).await {
        Err(Error::Conflict { current, .. }) => assert_eq!(current, Some(kv2.clone())),
        other => panic!("expected Conflict, got {other:?}"),
    }
    let deleted = s.delete("/t/k", Some(kv2.mod_revision)).await.unwrap();
    assert_eq!(deleted.value, v("2"));
    assert_eq!(deleted.create_revision, kv.create_revision);
    assert_eq!(deleted.mod_revision, kv2.mod_revision + 1);
    assert_eq!(s.current_revision().await.unwrap(), deleted.mod_revision);
    assert!(matches!(
        s.delete("/t/k", None).await,
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        s.delete("/t/k", Some(0)).await,
        Err(Error::NotFound(_))
    ));
    assert_eq!(s.get("/t/k").await.unwrap(), None);
}

async fn range_prefix_limit_continue(s: DynStore) {
    for k in ["/r/c", "/r/a", "/r/e", "/q/x", "/r/b", "/rx", "/r/d"] {
        s.create(k, v(k)).await.unwrap();
    }
    let current = s.current_revision().await.unwrap();
    let all = s.range("/r/", RangeOptions::default()).await.unwrap();
    assert_eq!(keys(&all.kvs), ["/r/a", "/r/b", "/r/c", "/r/d", "/r/e"]);
    assert!(!all.more);
    assert_eq!(all.revision, current);
    assert_eq!(all.kvs[0].value, v("/r/a"));

    // (start_after, limit) → (keys, more)
    let table: &[(Option<&str>, usize, &[&str], bool)] = &[
        (None, 2, &["/r/a", "/r/b"], true),
        (Some("/r/b"), 2, &["/r/c", "/r/d"], true),
        (Some("/r/d"), 2, &["/r/e"], false),
        (Some("/r/c"), 0, &["/r/d", "/r/e"], false),
        (Some("/r/e"), 2, &[], false),
        (None, 5, &["/r/a", "/r/b", "/r/c", "/r/d", "/r/e"], false),
        (Some("/a"), 1, &["/r/a"], true),
        (Some("/z"), 0, &[], false),
    ];
    for (start_after, limit, want, more) in table {
        let got = s
            .range("/r/", opts(*start_after, *limit, None))
            .await
            .unwrap();
        assert_eq!(
            keys(&got.kvs),
            *want,
            "start_after {start_after:?} limit {limit}"
        );
        assert_eq!(
            got.more, *more,
            "more for start_after {start_after:?} limit {limit}"
        );
        assert_eq!(got.revision, current);
    }
    let everything = s.range("", RangeOptions::default()).await.unwrap();
    assert_eq!(everything.kvs.len(), 7);
    assert_eq!(keys(&everything.kvs)[0], "/q/x");
    assert!(s
        .range("/none/", RangeOptions::default())
        .await
        .unwrap()
        .kvs
        .is_empty());
}

async fn historical_range(s: DynStore) {
    s.create("/h/a", v("a1")).await.unwrap(); // 2
    s.create("/h/b", v("b1")).await.unwrap(); // 3
    s.update("/h/a", v("a2"), 2).await.unwrap(); // 4
    s.delete("/h/b", None).await.unwrap(); // 5
    s.create("/h/c", v("c1")).await.unwrap(); // 6
    s.create("/other", v("o")).await.unwrap(); // 7
                                               // revision → [(key, value, create, mod)]
    type Row<'a> = (&'a str, &'a str, Revision, Revision);
    let table: &[(Revision, &[Row])] = &[
        (1, &[]),
        (2, &[("/h/a", "a1", 2, 2)]),
        (3, &[("/h/a", "a1", 2, 2), ("/h/b", "b1", 3, 3)]),
        (4, &[("/h/a", "a2", 2, 4), ("/h/b", "b1", 3, 3)]),
        (5, &[("/h/a", "a2", 2, 4)]),
        (6, &[("/h/a", "a2", 2, 4), ("/h/c", "c1", 6, 6)]),
        (7, &[("/h/a", "a2", 2, 4), ("/h/c", "c1", 6, 6)]),
    ];
    for (rev, want) in table {
        let got = s.range("/h/", opts(None, 0, Some(*rev))).await.unwrap();
        let want: Vec<KeyValue> = want
            .iter()
            .map(|(k, val, c, m)| KeyValue {
                key: k.to_string(),
                value: v(val),
                create_revision: *c,
                mod_revision: *m,
            })
            .collect();
        assert_eq!(got.kvs, want, "range at revision {rev}");
        assert_eq!(got.revision, *rev);
        assert!(!got.more);
    }
    let paged = s.range("/h/", opts(None, 1, Some(3))).await.unwrap();
    assert_eq!(keys(&paged.kvs), ["/h/a"]);
    assert!(paged.more);
    let paged = s
        .range("/h/", opts(Some("/h/a"), 1, Some(3)))
        .await
        .unwrap();
    assert_eq!(keys(&paged.kvs), ["/h/b"]);
    assert!(!paged.more);
}

async fn compacted_and_future_reads(s: DynStore) {
    for i in 0..5 {
        s.create(&format!("/c/{i}"), v("x")).await.unwrap(); // revisions 2..=6
    }
    let floor0 = s.compacted_revision().await.unwrap();
    assert!(floor0 <= 1, "fresh store floor is 0 or 1, got {floor0}");
    s.range("/c/", opts(None, 0, Some(1))).await.unwrap();

    s.compact(4).await.unwrap();
    assert_eq!(s.compacted_revision().await.unwrap(), 4);
    let at4 = s.range("/c/", opts(None, 0, Some(4))).await.unwrap();
    assert_eq!(keys(&at4.kvs), ["/c/0", "/c/1", "/c/2"]);
    match s.range("/c/", opts(None, 0, Some(3))).await {
        Err(Error::Compacted {
            requested,
            compacted,
        }) => {
            assert_eq!(requested, 3);
            assert_eq!(compacted, 4);
        }
        other => panic!("expected Compacted, got {other:?}"),
    }
    match s.range("/c/", opts(None, 0, Some(7))).await {
        Err(Error::FutureRevision { requested, current }) => {
            assert_eq!(requested, 7);
            assert_eq!(current, 6);
        }
        other => panic!("expected FutureRevision, got {other:?}"),
    }
    assert!(matches!(
        s.compact(7).await,
        Err(Error::FutureRevision { .. })
    ));
    // Compacting at or below the floor again is a no-op.
    s.compact(3).await.unwrap();
    s.compact(4).await.unwrap();
    assert_eq!(s.compacted_revision().await.unwrap(), 4);
    // Compacting at the current revision keeps the current state readable.
    s.compact(6).await.unwrap();
    assert_eq!(
        s.range("/c/", opts(None, 0, Some(6)))
            .await
            .unwrap()
            .kvs
            .len(),
        5
    );
    assert_eq!(
        s.range("/c/", RangeOptions::default())
            .await
            .unwrap()
            .kvs
            .len(),
        5
    );
}

async fn watch_from_old_revision(s: DynStore) {
    let a = s.create("/w/a", v("1")).await.unwrap(); // 2
    s.create("/w/b", v("1")).await.unwrap(); // 3
    s.update("/w/a", v("2"), a.mod_revision).await.unwrap(); // 4
    s.delete("/w/b", None).await.unwrap(); // 5
    let mut rx = s.watch("/w/", 2).await.unwrap();
    let expected: &[(Revision, EventType, &str, &str)] = &[
        (3, EventType::Put, "/w/b", "1"),
        (4, EventType::Put, "/w/a", "2"),
        (5, EventType::Delete, "/w/b", "1"),
    ];
    for (rev, ty, key, val) in expected {
        let ev = next(&mut rx).await;
        assert_eq!(
            (ev.revision(), ev.event_type, ev.kv.key.as_str()),
            (*rev, *ty, *key)
        );
        assert_eq!(ev.kv.value, v(val));
    }
    // Then live events, with no gap.
    s.create("/w/c", v("1")).await.unwrap(); // 6
    let ev = next(&mut rx).await;
    assert_eq!((ev.revision(), ev.kv.key.as_str()), (6, "/w/c"));
    assert_eq!(ev.prev_kv, None);

    // From revision 0: everything.
    let mut all = s.watch("/w/", 0).await.unwrap();
    for rev in 2..=6 {
        assert_eq!(next(&mut all).await.revision(), rev);
    }
}

async fn watch_live_only(s: DynStore) {
    s.create("/l/old", v("1")).await.unwrap();
    let current = s.current_revision().await.unwrap();
    let mut rx = s.watch("/l/", current).await.unwrap();
    let kv = s.create("/l/new", v("1")).await.unwrap();
    let ev = next(&mut rx).await;
    assert_eq!(ev.event_type, EventType::Put);
    assert_eq!(ev.kv, kv, "first event is the live one, nothing older");
    let kv2 = s.update("/l/new", v("2"), kv.mod_revision).await.unwrap();
    let ev = next(&mut rx).await;
    assert_eq!(ev.kv, kv2);
    assert_eq!(ev.prev_kv, Some(kv));
}

async fn watch_below_floor(s: DynStore) {
    for i in 0..6 {
        s.create(&format!("/f/{i}"), v("x")).await.unwrap(); // 2..=7
    }
    s.compact(5).await.unwrap();
    match s.watch("/f/", 3).await {
        Err(Error::Compacted { compacted, .. }) => assert_eq!(compacted, 5),
        Err(e) => panic!("expected Compacted, got {e}"),
        Ok(_) => panic!("expected Compacted, got a stream"),
    }
    // At the floor: every later event.
    let mut rx = s.watch("/f/", 5).await.unwrap();
    assert_eq!(next(&mut rx).await.kv.key, "/f/4");
    assert_eq!(next(&mut rx).await.kv.key, "/f/5");
    s.create("/f/live", v("x")).await.unwrap();
    assert_eq!(next(&mut rx).await.kv.key, "/f/live");
}

async fn prefix_isolation(s: DynStore) {
    let mut rx = s.watch("/registry/pods/", 1).await.unwrap();
    s.create("/registry/podsx/a", v("x")).await.unwrap();
    s.create("/registry/pods/default/a", v("p")).await.unwrap();
    s.create("/registry/pod", v("x")).await.unwrap();
    s.create("/registry/pods/default/b", v("p")).await.unwrap();
    let got = s
        .range("/registry/pods/", RangeOptions::default())
        .await
        .unwrap();
    assert_eq!(
        keys(&got.kvs),
        ["/registry/pods/default/a", "/registry/pods/default/b"]
    );
    assert_eq!(next(&mut rx).await.kv.key, "/registry/pods/default/a");
    assert_eq!(next(&mut rx).await.kv.key, "/registry/pods/default/b");
    // A watcher that started live sees the same.
    let mut live = s
        .watch("/registry/pods/", s.current_revision().await.unwrap())
        .await
        .unwrap();
    s.create("/registry/podsx/b", v("x")).await.unwrap();
    s.create("/registry/pods/default/c", v("p")).await.unwrap();
    assert_eq!(next(&mut live).await.kv.key, "/registry/pods/default/c");
    assert_eq!(next(&mut rx).await.kv.key, "/registry/pods/default/c");
}

async fn delete_event_carries_prev(s: DynStore) {
    let mut rx = s.watch("/d/", 1).await.unwrap();
    let kv = s.create("/d/k", v("1")).await.unwrap();
    let kv2 = s.update("/d/k", v("2"), kv.mod_revision).await.unwrap();
    let deleted = s.delete("/d/k", None).await.unwrap();
    let put = next(&mut rx).await;
    assert_eq!(
        (put.event_type, put.prev_kv.clone()),
        (EventType::Put, None)
    );
    let upd = next(&mut rx).await;
    assert_eq!(upd.prev_kv, Some(kv.clone()));
    let del = next(&mut rx).await;
    assert_eq!(del.event_type, EventType::Delete);
    assert_eq!(del.kv.mod_revision, deleted.mod_revision);
    assert_eq!(del.kv.value, v("2"));
    assert_eq!(del.kv, deleted);
    assert_eq!(del.prev_kv, Some(kv2));
}

/// A watcher that does not read while many writes happen still gets every event, in order
/// (for memory and embedded this goes through the lagging-watcher catch-up path).
async fn slow_watcher_gets_every_event(s: DynStore) {
    const WRITERS: usize = 10;
    const PER_WRITER: usize = 200;
    let mut rx = s.watch("/s/", 1).await.unwrap();
    let tasks: Vec<_> = (0..WRITERS)
        .map(|w| {
            let s = s.clone();
            tokio::spawn(async move {
                for i in 0..PER_WRITER {
                    s.create(&format!("/s/{w}/{i}"), v("x")).await.unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let mut last = 1;
    for _ in 0..WRITERS * PER_WRITER {
        let ev = next(&mut rx).await;
        assert_eq!(ev.revision(), last + 1, "events are consecutive");
        last = ev.revision();
    }
    assert_eq!(last, s.current_revision().await.unwrap());
}
