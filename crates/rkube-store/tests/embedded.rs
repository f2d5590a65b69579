//! Tests of the embedded (redb) backend beyond the conformance suite: persistence across
//! reopen, automatic compaction, corrupt files, concurrent writers, close.

use rkube_store::{EmbeddedConfig, EmbeddedStore, Error, RangeOptions, Store};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

const DEADLINE: Duration = Duration::from_secs(30);

fn manual_config() -> EmbeddedConfig {
    EmbeddedConfig {
        compact_interval: Duration::ZERO,
        ..Default::default()
    }
}

fn open(path: &Path, config: EmbeddedConfig) -> EmbeddedStore {
    EmbeddedStore::open(path, config).expect("open store")
}

fn at(revision: i64) -> RangeOptions {
    RangeOptions {
        revision: Some(revision),
        ..Default::default()
    }
}

#[tokio::test]
async fn data_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.redb");
    let s = open(&path, manual_config());
    let a = s.create("/p/a", b"a1".to_vec()).await.unwrap(); // 2
    s.create("/p/b", b"b1".to_vec()).await.unwrap(); // 3
    s.update("/p/a", b"a2".to_vec(), a.mod_revision)
        .await
        .unwrap(); // 4
    s.delete("/p/b", None).await.unwrap(); // 5
    s.create("/p/c", b"c1".to_vec()).await.unwrap(); // 6
    s.compact(3).await.unwrap();
    s.close().await.unwrap();
    assert!(matches!(s.create("/p/x", vec![]).await, Err(Error::Closed)));

    let s = open(&path, manual_config());
    assert_eq!(s.current_revision().await.unwrap(), 6);
    assert_eq!(s.compacted_revision().await.unwrap(), 3);
    let now = s.range("/p/", RangeOptions::default()).await.unwrap();
    assert_eq!(
        now.kvs
            .iter()
            .map(|kv| kv.value.as_slice())
            .collect::<Vec<_>>(),
        [b"a2", b"c1"]
    );
    let old = s.range("/p/", at(3)).await.unwrap();
    assert_eq!(
        old.kvs
            .iter()
            .map(|kv| kv.value.as_slice())
            .collect::<Vec<_>>(),
        [b"a1", b"b1"]
    );
    assert!(matches!(
        s.range("/p/", at(2)).await,
        Err(Error::Compacted { .. })
    ));
    assert!(matches!(
        s.watch("/p/", 2).await,
        Err(Error::Compacted { .. })
    ));

    let mut rx = s.watch("/p/", 3).await.unwrap();
    for rev in 4..=6 {
        let ev = rx.recv().await.unwrap().unwrap();
        assert_eq!(ev.revision(), rev);
    }
    let d = s.create("/p/d", b"d".to_vec()).await.unwrap();
    assert_eq!(d.mod_revision, 7, "revisions continue after reopen");
    assert_eq!(rx.recv().await.unwrap().unwrap().kv, d);
    s.close().await.unwrap();
    assert!(rx.recv().await.is_none(), "close ends watches");
}

#[tokio::test]
async fn background_compaction_bounds_history() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.redb");
    let config = EmbeddedConfig {
        history_revisions: 100,
        compact_interval: Duration::from_millis(20),
        ..Default::default()
    };
    let s = Arc::new(open(&path, config));
    for k in 0..20 {
        s.create(&format!("/k/{k}"), vec![0; 512]).await.unwrap();
    }
    // Churn a fixed key set: 20 writers updating their own key.
    let churn = |rounds: usize| {
        let s = s.clone();
        async move {
            let tasks: Vec<_> = (0..20)
                .map(|k| {
                    let s = s.clone();
                    tokio::spawn(async move {
                        let key = format!("/k/{k}");
                        for _ in 0..rounds {
                            let cur = s.get(&key).await.unwrap().unwrap();
                            s.update(&key, vec![1; 512], cur.mod_revision)
                                .await
                                .unwrap();
                        }
                    })
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
        }
    };
    let settled = |s: Arc<EmbeddedStore>| async move {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let current = s.current_revision().await.unwrap();
            let floor = s.compacted_revision().await.unwrap();
            if floor >= current - 100 {
                return (current, floor);
            }
            assert!(
                Instant::now() < deadline,
                "no compaction: floor {floor}, current {current}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    churn(50).await;
    let (current, floor) = settled(s.clone()).await;
    assert!(floor > 1);
    assert!(matches!(
        s.watch("/k/", floor - 1).await,
        Err(Error::Compacted { .. })
    ));
    assert_eq!(s.range("/k/", at(floor)).await.unwrap().kvs.len(), 20);
    assert_eq!(s.range("/k/", at(current)).await.unwrap().kvs.len(), 20);
    let size_after_first = std::fs::metadata(&path).unwrap().len();

    for _ in 0..4 {
        churn(50).await;
        settled(s.clone()).await;
    }
    let size_after_more = std::fs::metadata(&path).unwrap().len();
    assert!(
        size_after_more <= size_after_first * 2,
        "file grows under churn: {size_after_first} → {size_after_more}"
    );
}

#[tokio::test]
async fn corrupt_file_is_an_error() {
    let dir = tempfile::tempdir().unwrap();

    let garbage = dir.path().join("garbage.redb");
    std::fs::write(&garbage, vec![0x5a; 64 * 1024]).unwrap();
    match EmbeddedStore::open(&garbage, manual_config()) {
        Err(Error::Backend(msg)) => assert!(msg.contains("garbage.redb"), "{msg}"),
        Err(e) => panic!("expected a backend error, got {e}"),
        Ok(_) => panic!("opened a garbage file"),
    }

    // A real store whose data pages are overwritten.
    let damaged = dir.path().join("damaged.redb");
    let s = open(&damaged, manual_config());
    for i in 0..300 {
        s.create(&format!("/x/{i}"), vec![7; 1000]).await.unwrap();
    }
    s.close().await.unwrap();
    let mut bytes = std::fs::read(&damaged).unwrap();
    let len = bytes.len();
    for b in &mut bytes[8192..len] {
        *b ^= 0xa5;
    }
    std::fs::write(&damaged, bytes).unwrap();
    match EmbeddedStore::open(&damaged, manual_config()) {
        Err(Error::Backend(msg)) => assert!(msg.contains("damaged.redb"), "{msg}"),
        Err(e) => panic!("expected a backend error, got {e}"),
        Ok(_) => panic!("opened a damaged file"),
    }

    // An empty file is initialized as a new store.
    let empty = dir.path().join("empty.redb");
    std::fs::write(&empty, b"").unwrap();
    open(&empty, manual_config()).close().await.unwrap();
}

#[tokio::test]
async fn second_open_of_the_same_file_fails() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.redb");
    let s = open(&path, manual_config());
    match EmbeddedStore::open(&path, manual_config()) {
        Err(Error::Backend(_)) => {}
        Err(e) => panic!("expected a backend error, got {e}"),
        Ok(_) => panic!("opened the same file twice"),
    }
    s.close().await.unwrap();
    open(&path, manual_config()).close().await.unwrap();
}

#[tokio::test]
async fn concurrent_writers_get_consecutive_revisions() {
    let dir = tempfile::tempdir().unwrap();
    let s = Arc::new(open(&dir.path().join("store.redb"), manual_config()));
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let s = s.clone();
            tokio::spawn(async move { s.create(&format!("/c/{i}"), vec![i as u8]).await })
        })
        .collect();
    let mut revisions = Vec::new();
    for t in tasks {
        let kv = t.await.unwrap().unwrap();
        assert_eq!(kv.create_revision, kv.mod_revision);
        revisions.push(kv.mod_revision);
    }
    revisions.sort_unstable();
    assert_eq!(revisions, (2..=51).collect::<Vec<_>>());
    assert_eq!(s.current_revision().await.unwrap(), 51);
    assert_eq!(
        s.range("/c/", RangeOptions::default())
            .await
            .unwrap()
            .kvs
            .len(),
        50
    );

    // Conflicting writers on one key: exactly one CAS wins per revision.
    let base = s.get("/c/0").await.unwrap().unwrap();
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let s = s.clone();
            let expected = base.mod_revision;
            tokio::spawn(async move { s.update("/c/0", vec![i], expected).await })
        })
        .collect();
    let mut won = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => won += 1,
            Err(Error::Conflict { .. }) => {}
            Err(e) => panic!("unexpected error {e}"),
        }
    }
    assert_eq!(won, 1);
}

/// Rough write throughput (run with `--ignored --nocapture`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn throughput() {
    let dir = tempfile::tempdir().unwrap();
    let s = Arc::new(open(
        &dir.path().join("store.redb"),
        EmbeddedConfig::default(),
    ));
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
        println!("embedded: {writers} writers: {n} creates, {rate:.0}/s");
    }
}

const CRASH_ENV: &str = "RKUBE_STORE_CRASH_CHILD_PATH";

/// Child half of `survives_kill_during_writes`: writes until killed, printing each
/// acknowledged write. Does nothing unless started by the parent.
#[test]
#[ignore]
fn crash_child() {
    let Some(path) = std::env::var_os(CRASH_ENV) else {
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let s = Arc::new(open(Path::new(&path), manual_config()));
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        for w in 0..16 {
            let (s, tx) = (s.clone(), tx.clone());
            tokio::spawn(async move {
                for i in 0.. {
                    let key = format!("/crash/{w}/{i}");
                    let kv = s.create(&key, vec![w as u8; 100]).await.unwrap();
                    if tx.send((key, kv.mod_revision)).is_err() {
                        return;
                    }
                }
            });
        }
        drop(tx);
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        while let Some((key, rev)) = rx.recv().await {
            writeln!(out, "ack {key} {rev}").unwrap();
            out.flush().unwrap();
        }
    });
}

/// Kill -9 a process in the middle of concurrent writes: every acknowledged write is there
/// after reopening, and the history has no holes.
#[tokio::test]
async fn survives_kill_during_writes() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.redb");
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            // The test's path inside the crate's one test binary (tests/main.rs).
            concat!(module_path!(), "::crash_child")
                .split_once("::")
                .unwrap()
                .1,
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CRASH_ENV, &path)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let acked = tokio::task::spawn_blocking(move || {
        let mut acked = Vec::new();
        for line in std::io::BufReader::new(stdout).lines() {
            let line = line.unwrap();
            let Some(rest) = line.strip_prefix("ack ") else {
                continue;
            };
            let (key, rev) = rest.split_once(' ').unwrap();
            acked.push((key.to_string(), rev.parse::<i64>().unwrap()));
            if acked.len() == 2000 {
                break;
            }
        }
        acked
    })
    .await
    .unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(acked.len(), 2000, "child stopped early");

    let s = open(&path, manual_config());
    let current = s.current_revision().await.unwrap();
    for (key, rev) in &acked {
        let kv = s
            .get(key)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{key} lost"));
        assert_eq!(kv.mod_revision, *rev);
        assert!(*rev <= current);
    }
    let all = s.range("/crash/", RangeOptions::default()).await.unwrap();
    assert_eq!(all.kvs.len() as i64, current - 1, "one key per revision");
    let mut rx = s.watch("/crash/", 1).await.unwrap();
    for rev in 2..=current {
        assert_eq!(rx.recv().await.unwrap().unwrap().revision(), rev);
    }
    s.close().await.unwrap();
}
