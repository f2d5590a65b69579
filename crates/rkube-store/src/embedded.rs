//! Embedded backend: one [redb](https://docs.rs/redb) file, crash-safe, every commit fsynced.
//!
//! Tables: `meta` (compaction floor, format version), `kvs` (key → current key-value) and
//! `log` (revision → event with its previous value). The log holds every event above the
//! floor, so the current revision is its last key (or the floor, or 1 when both are empty) and
//! is persisted by the same write as the event. Historical reads undo the log on top of the
//! current state; watchers catch up from the log, then follow the shared watch hub.
//!
//! All writes go through one writer thread that does **group commit**: it takes every queued
//! operation (up to [`EmbeddedConfig::max_batch`]), applies them in order in one write
//! transaction (one fsync), then answers each caller and publishes the events. Reads run on
//! tokio's blocking pool in redb read transactions (MVCC), so they never wait for writes.
//!
//! History is bounded: every [`EmbeddedConfig::compact_interval`] the writer moves the floor to
//! `current - history_revisions`. Log entries at or below the floor are removed in small
//! chunks piggy-backed on write transactions (or on their own when idle), so compaction never
//! stalls writers and freed pages are reused: the file does not grow under churn of a fixed
//! key set.

use crate::codec::{decode_event, decode_kv, encode_event, encode_kv, event_key};
use crate::history::{in_range, merge_range, overrides_at, read_revision};
use crate::hub::{spawn_watch, HistoryChunk, HistorySource, Hub};
use crate::{
    Error, Event, EventType, KeyValue, RangeOptions, RangeResult, Result, Revision, Store,
    WatchStream,
};
use async_trait::async_trait;
use redb::{
    Database, ReadTransaction, ReadableDatabase, ReadableTable, Table, TableDefinition,
    WriteTransaction,
};
use std::ops::Bound;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{mpsc, Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

const META: TableDefinition<&str, i64> = TableDefinition::new("meta");
const KVS: TableDefinition<&str, &[u8]> = TableDefinition::new("kvs");
const LOG: TableDefinition<i64, &[u8]> = TableDefinition::new("log");

const META_FLOOR: &str = "floor";
const META_FORMAT: &str = "format";
const FORMAT_VERSION: i64 = 1;

/// Most log entries one catch-up step of a watcher looks at.
const SCAN_LIMIT: usize = 8192;
/// Fewest compacted log entries removed per write transaction while some remain.
const GC_CHUNK: usize = 2048;

/// Settings of [`EmbeddedStore::open`].
#[derive(Clone, Debug)]
pub struct EmbeddedConfig {
    /// Revisions of history kept by the automatic compaction (default 10 000).
    pub history_revisions: i64,
    /// How often the automatic compaction runs (default 30 s). Zero disables it.
    pub compact_interval: Duration,
    /// Most operations applied in one write transaction (default 1024).
    pub max_batch: usize,
    /// Events of room per watcher before a slow watcher falls back to catching up from the log
    /// (default 1024).
    pub watch_buffer: usize,
    /// redb page cache size in bytes (default 64 MiB).
    pub cache_size: usize,
    /// Verify the checksums of the whole file when opening it (default true). Without it, a
    /// file damaged outside redb may be detected later than at open.
    pub verify_on_open: bool,
}

impl Default for EmbeddedConfig {
    fn default() -> Self {
        EmbeddedConfig {
            history_revisions: 10_000,
            compact_interval: Duration::from_secs(30),
            max_batch: 1024,
            watch_buffer: 1024,
            cache_size: 64 << 20,
            verify_on_open: true,
        }
    }
}

fn backend(context: &str, e: impl std::fmt::Display) -> Error {
    Error::Backend(format!("{context}: {e}"))
}

/// State shared by the store handle, the writer thread, readers and watchers. Holds no way to
/// submit writes, so watchers do not keep the writer alive.
struct Shared {
    /// `None` once closed.
    db: RwLock<Option<Database>>,
    hub: Arc<Hub>,
    revision: AtomicI64,
    floor: AtomicI64,
}

impl Shared {
    /// Run `f` in a read transaction on the blocking pool.
    async fn read<T, F>(self: &Arc<Self>, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&ReadTransaction) -> Result<T> + Send + 'static,
    {
        let shared = self.clone();
        let task = tokio::task::spawn_blocking(move || {
            let guard = shared.db.read().unwrap_or_else(|e| e.into_inner());
            let db = guard.as_ref().ok_or(Error::Closed)?;
            let txn = db.begin_read().map_err(|e| backend("begin read", e))?;
            catch_unwind(AssertUnwindSafe(|| f(&txn)))
                .unwrap_or_else(|_| Err(Error::Backend("store file read failed (panic)".into())))
        });
        task.await.map_err(|e| backend("read task", e))?
    }
}

/// The current revision: the last logged event's, the floor (everything up to it compacted),
/// or 1 (empty store).
fn revision_of(floor: Revision, last_logged: Option<Revision>) -> Revision {
    floor.max(last_logged.unwrap_or(0)).max(1)
}

fn last_logged(log: &impl ReadableTable<i64, &'static [u8]>) -> Result<Option<Revision>> {
    let last = log.last().map_err(|e| backend("read log", e))?;
    Ok(last.map(|(k, _)| k.value()))
}

fn floor_of(meta: &impl ReadableTable<&'static str, i64>) -> Result<Revision> {
    let v = meta.get(META_FLOOR).map_err(|e| backend("read meta", e))?;
    v.map(|g| g.value())
        .ok_or_else(|| Error::Backend("store file has no floor entry".into()))
}

/// (current revision, floor) of a read snapshot.
fn revisions(txn: &ReadTransaction) -> Result<(Revision, Revision)> {
    let meta = txn.open_table(META).map_err(|e| backend("open meta", e))?;
    let log = txn.open_table(LOG).map_err(|e| backend("open log", e))?;
    let floor = floor_of(&meta)?;
    Ok((revision_of(floor, last_logged(&log)?), floor))
}

/// Watchers' view of the log.
struct LogSource {
    shared: Arc<Shared>,
}

#[async_trait]
impl HistorySource for LogSource {
    async fn read_events(&self, prefix: &str, after: Revision, max: usize) -> Result<HistoryChunk> {
        let prefix = prefix.to_string();
        self.shared
            .read(move |txn| {
                let (current, floor) = revisions(txn)?;
                if after < floor {
                    return Err(Error::Compacted {
                        requested: after,
                        compacted: floor,
                    });
                }
                let log = txn.open_table(LOG).map_err(|e| backend("open log", e))?;
                let mut events = Vec::new();
                let mut scanned_to = after.max(floor);
                let mut complete = true;
                let entries = log
                    .range((after + 1)..)
                    .map_err(|e| backend("read log", e))?;
                for (scanned, entry) in entries.enumerate() {
                    if events.len() >= max || scanned >= SCAN_LIMIT {
                        complete = false;
                        break;
                    }
                    let (rev, bytes) = entry.map_err(|e| backend("read log", e))?;
                    let bytes = bytes.value();
                    scanned_to = rev.value();
                    if event_key(bytes)?.starts_with(prefix.as_str()) {
                        events.push(decode_event(bytes)?);
                    }
                }
                if complete {
                    scanned_to = scanned_to.max(current);
                }
                Ok(HistoryChunk {
                    events,
                    scanned_to,
                    current,
                })
            })
            .await
    }
}

enum Op {
    Create {
        key: String,
        value: Vec<u8>,
    },
    Update {
        key: String,
        value: Vec<u8>,
        expected: Revision,
    },
    Delete {
        key: String,
        expected: Option<Revision>,
    },
    Compact {
        revision: Revision,
    },
}

enum Reply {
    Kv(KeyValue),
    Done,
}

struct Request {
    op: Op,
    reply: Option<oneshot::Sender<Result<Reply>>>,
}

/// The embedded store. Dropping it stops the writer thread and closes the file once pending
/// writes are done; [`EmbeddedStore::close`] does the same and waits for it.
pub struct EmbeddedStore {
    shared: Arc<Shared>,
    requests: Mutex<Option<mpsc::Sender<Request>>>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl EmbeddedStore {
    /// Open (or create) the store file at `path`. Blocks while the file is opened and checked.
    /// A file that is not a valid store gives [`Error::Backend`].
    pub fn open(path: &Path, config: EmbeddedConfig) -> Result<EmbeddedStore> {
        let context = format!("open store file {}", path.display());
        let opened = catch_unwind(AssertUnwindSafe(|| -> Result<(Database, i64, i64)> {
            let db = redb::Builder::new()
                .set_cache_size(config.cache_size)
                .set_check_integrity_on_open(config.verify_on_open)
                .create(path)
                .map_err(|e| backend(&context, e))?;
            let (revision, floor) = init_meta(&db).map_err(|e| match e {
                Error::Backend(m) => Error::Backend(format!("{context}: {m}")),
                e => e,
            })?;
            Ok((db, revision, floor))
        }));
        let (db, revision, floor) = opened
            .unwrap_or_else(|_| Err(Error::Backend(format!("{context}: file is corrupt"))))?;
        tracing::info!(path = %path.display(), revision, floor, "opened embedded store");

        let shared = Arc::new(Shared {
            db: RwLock::new(Some(db)),
            hub: Arc::new(Hub::new(config.watch_buffer)),
            revision: AtomicI64::new(revision),
            floor: AtomicI64::new(floor),
        });
        let (tx, rx) = mpsc::channel();
        let writer = Writer {
            shared: shared.clone(),
            config,
            gc_pending: true,
        };
        let handle = std::thread::Builder::new()
            .name("rkube-store-writer".into())
            .spawn(move || writer.run(rx))
            .map_err(|e| backend("start writer thread", e))?;
        Ok(EmbeddedStore {
            shared,
            requests: Mutex::new(Some(tx)),
            writer: Mutex::new(Some(handle)),
        })
    }

    /// Stop accepting writes, finish pending ones, end all watches and close the file. Later
    /// calls fail with [`Error::Closed`].
    pub async fn close(&self) -> Result<()> {
        drop(
            self.requests
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take(),
        );
        let handle = self.writer.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(handle) = handle {
            tokio::task::spawn_blocking(move || handle.join())
                .await
                .map_err(|e| backend("close", e))?
                .map_err(|_| Error::Backend("store writer thread panicked".into()))?;
        }
        Ok(())
    }

    async fn submit(&self, op: Op) -> Result<Reply> {
        let (tx, rx) = oneshot::channel();
        {
            let guard = self.requests.lock().unwrap_or_else(|e| e.into_inner());
            let sender = guard.as_ref().ok_or(Error::Closed)?;
            sender
                .send(Request {
                    op,
                    reply: Some(tx),
                })
                .map_err(|_| Error::Closed)?;
        }
        rx.await.map_err(|_| Error::Closed)?
    }

    async fn submit_kv(&self, op: Op) -> Result<KeyValue> {
        match self.submit(op).await? {
            Reply::Kv(kv) => Ok(kv),
            Reply::Done => Err(Error::Backend(
                "internal error: writer gave no key-value".into(),
            )),
        }
    }
}

/// Create the tables on a new file, or check and read them on an existing one.
fn init_meta(db: &Database) -> Result<(Revision, Revision)> {
    let txn = db.begin_write().map_err(|e| backend("begin write", e))?;
    let (revision, floor) = {
        let mut meta = txn.open_table(META).map_err(|e| backend("open meta", e))?;
        txn.open_table(KVS).map_err(|e| backend("open kvs", e))?;
        let log = txn.open_table(LOG).map_err(|e| backend("open log", e))?;
        let format = meta
            .get(META_FORMAT)
            .map_err(|e| backend("read meta", e))?
            .map(|g| g.value());
        match format {
            None => {
                for (name, value) in [(META_FORMAT, FORMAT_VERSION), (META_FLOOR, 0)] {
                    meta.insert(name, value)
                        .map_err(|e| backend("write meta", e))?;
                }
                (revision_of(0, last_logged(&log)?), 0)
            }
            Some(FORMAT_VERSION) => {
                let floor = floor_of(&meta)?;
                if floor < 0 {
                    return Err(Error::Backend(format!("invalid floor {floor}")));
                }
                (revision_of(floor, last_logged(&log)?), floor)
            }
            Some(v) => return Err(Error::Backend(format!("unsupported format version {v}"))),
        }
    };
    txn.commit().map_err(|e| backend("commit", e))?;
    Ok((revision, floor))
}

/// The writer thread.
struct Writer {
    shared: Arc<Shared>,
    config: EmbeddedConfig,
    /// Log entries at or below the floor may remain.
    gc_pending: bool,
}

impl Writer {
    fn run(mut self, rx: mpsc::Receiver<Request>) {
        let interval = self.config.compact_interval;
        let mut next_compact = (!interval.is_zero()).then(|| Instant::now() + interval);
        loop {
            let received = if self.gc_pending {
                rx.try_recv().map_err(|e| match e {
                    mpsc::TryRecvError::Empty => mpsc::RecvTimeoutError::Timeout,
                    mpsc::TryRecvError::Disconnected => mpsc::RecvTimeoutError::Disconnected,
                })
            } else if let Some(at) = next_compact {
                rx.recv_timeout(at.saturating_duration_since(Instant::now()))
            } else {
                rx.recv().map_err(|_| mpsc::RecvTimeoutError::Disconnected)
            };
            match received {
                Ok(first) => {
                    let mut batch = vec![first];
                    while batch.len() < self.config.max_batch.max(1) {
                        match rx.try_recv() {
                            Ok(req) => batch.push(req),
                            Err(_) => break,
                        }
                    }
                    self.apply(batch);
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if self.gc_pending {
                        // Idle: remove compacted log entries on their own.
                        self.apply(Vec::new());
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
            if let Some(at) = next_compact {
                if Instant::now() >= at {
                    next_compact = Some(Instant::now() + interval);
                    let target =
                        self.shared.revision.load(Ordering::SeqCst) - self.config.history_revisions;
                    if target > self.shared.floor.load(Ordering::SeqCst) {
                        tracing::debug!(revision = target, "automatic compaction");
                        self.apply(vec![Request {
                            op: Op::Compact { revision: target },
                            reply: None,
                        }]);
                    }
                }
            }
        }
        self.shared.hub.close();
        let db = self
            .shared
            .db
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(db) = db {
            if let Err(e) = db.close() {
                tracing::warn!(error = %e, "closing embedded store failed");
            }
        }
        tracing::debug!("embedded store writer stopped");
    }

    /// Apply a batch in one write transaction, then answer and publish.
    fn apply(&mut self, batch: Vec<Request>) {
        let guard = self.shared.db.read().unwrap_or_else(|e| e.into_inner());
        let Some(db) = guard.as_ref() else {
            for req in batch {
                if let Some(reply) = req.reply {
                    let _ = reply.send(Err(Error::Closed));
                }
            }
            return;
        };
        let gc_budget = if self.gc_pending {
            GC_CHUNK.max(2 * batch.len())
        } else {
            0
        };
        let (ops, replies): (Vec<Op>, Vec<_>) = batch.into_iter().map(|r| (r.op, r.reply)).unzip();
        let outcome = catch_unwind(AssertUnwindSafe(|| apply_txn(db, ops, gc_budget)))
            .unwrap_or_else(|_| Err(Error::Backend("store write failed (panic)".into())));
        drop(guard);
        match outcome {
            Ok(applied) => {
                self.shared
                    .revision
                    .store(applied.revision, Ordering::SeqCst);
                self.shared.floor.store(applied.floor, Ordering::SeqCst);
                self.gc_pending = applied.gc_pending;
                self.shared.hub.publish(&applied.events);
                for (reply, result) in replies.into_iter().zip(applied.results) {
                    if let Some(reply) = reply {
                        let _ = reply.send(result);
                    }
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "store write transaction failed");
                // Do not spin on idle garbage collection against a failing file; it is retried
                // with the next compaction or after a restart.
                self.gc_pending = false;
                for reply in replies.into_iter().flatten() {
                    let _ = reply.send(Err(Error::Backend(e.to_string())));
                }
            }
        }
    }
}

struct Applied {
    revision: Revision,
    floor: Revision,
    events: Vec<Event>,
    results: Vec<Result<Reply>>,
    gc_pending: bool,
}

/// One write transaction: every op in order, then (when `gc_budget` > 0 or the floor moved)
/// some log garbage collection, one commit. `Err` means the transaction failed as a whole and
/// nothing was written.
fn apply_txn(db: &Database, ops: Vec<Op>, gc_budget: usize) -> Result<Applied> {
    let txn = db.begin_write().map_err(|e| backend("begin write", e))?;
    let applied = {
        let mut tables = Tables::open(&txn)?;
        let mut events = Vec::new();
        let mut results = Vec::with_capacity(ops.len());
        for op in ops {
            results.push(tables.apply(op, &mut events)?);
        }
        tables.store_meta()?;
        let gc_pending = if gc_budget > 0 || tables.floor_moved {
            tables.gc(gc_budget.max(GC_CHUNK))?
        } else {
            false
        };
        Applied {
            revision: tables.revision,
            floor: tables.floor,
            events,
            results,
            gc_pending,
        }
    };
    txn.commit().map_err(|e| backend("commit", e))?;
    Ok(applied)
}

struct Tables<'t> {
    meta: Table<'t, &'static str, i64>,
    kvs: Table<'t, &'static str, &'static [u8]>,
    log: Table<'t, i64, &'static [u8]>,
    revision: Revision,
    floor: Revision,
    floor_moved: bool,
}

impl<'t> Tables<'t> {
    fn open(txn: &'t WriteTransaction) -> Result<Self> {
        let meta = txn.open_table(META).map_err(|e| backend("open meta", e))?;
        let kvs = txn.open_table(KVS).map_err(|e| backend("open kvs", e))?;
        let log = txn.open_table(LOG).map_err(|e| backend("open log", e))?;
        let floor = floor_of(&meta)?;
        let revision = revision_of(floor, last_logged(&log)?);
        Ok(Tables {
            meta,
            kvs,
            log,
            revision,
            floor,
            floor_moved: false,
        })
    }

    fn current(&self, key: &str) -> Result<Option<KeyValue>> {
        let found = self.kvs.get(key).map_err(|e| backend("read kvs", e))?;
        found.map(|v| decode_kv(key, v.value())).transpose()
    }

    /// Apply one op. The outer `Result` is a storage failure (the whole batch fails), the inner
    /// one is the op's own answer.
    fn apply(&mut self, op: Op, events: &mut Vec<Event>) -> Result<Result<Reply>> {
        let event = match op {
            Op::Create { key, value } => {
                if self.current(&key)?.is_some() {
                    return Ok(Err(Error::AlreadyExists(key)));
                }
                let rev = self.revision + 1;
                let kv = KeyValue {
                    key,
                    value,
                    create_revision: rev,
                    mod_revision: rev,
                };
                Event {
                    event_type: EventType::Put,
                    kv,
                    prev_kv: None,
                }
            }
            Op::Update {
                key,
                value,
                expected,
            } => {
                let Some(prev) = self.current(&key)? else {
                    return Ok(Err(Error::NotFound(key)));
                };
                if prev.mod_revision != expected {
                    return Ok(Err(Error::Conflict {
                        key,
                        expected,
                        current: Some(prev),
                    }));
                }
                let rev = self.revision + 1;
                let kv = KeyValue {
                    key,
                    value,
                    create_revision: prev.create_revision,
                    mod_revision: rev,
                };
                Event {
                    event_type: EventType::Put,
                    kv,
                    prev_kv: Some(prev),
                }
            }
            Op::Delete { key, expected } => {
                let Some(prev) = self.current(&key)? else {
                    return Ok(Err(Error::NotFound(key)));
                };
                if let Some(expected) = expected {
                    if prev.mod_revision != expected {
                        return Ok(Err(Error::Conflict {
                            key,
                            expected,
                            current: Some(prev),
                        }));
                    }
                }
                let kv = KeyValue {
                    mod_revision: self.revision + 1,
                    ..prev.clone()
                };
                Event {
                    event_type: EventType::Delete,
                    kv,
                    prev_kv: Some(prev),
                }
            }
            Op::Compact { revision } => {
                if revision > self.revision {
                    return Ok(Err(Error::FutureRevision {
                        requested: revision,
                        current: self.revision,
                    }));
                }
                if revision > self.floor {
                    self.floor = revision;
                    self.floor_moved = true;
                }
                return Ok(Ok(Reply::Done));
            }
        };
        let rev = event.revision();
        match event.event_type {
            EventType::Put => {
                self.kvs
                    .insert(event.kv.key.as_str(), encode_kv(&event.kv).as_slice())
                    .map_err(|e| backend("write kvs", e))?;
            }
            EventType::Delete => {
                self.kvs
                    .remove(event.kv.key.as_str())
                    .map_err(|e| backend("write kvs", e))?;
            }
        }
        self.log
            .insert(rev, encode_event(&event).as_slice())
            .map_err(|e| backend("write log", e))?;
        self.revision = rev;
        let kv = event.kv.clone();
        events.push(event);
        Ok(Ok(Reply::Kv(kv)))
    }

    fn store_meta(&mut self) -> Result<()> {
        if self.floor_moved {
            self.meta
                .insert(META_FLOOR, self.floor)
                .map_err(|e| backend("write meta", e))?;
        }
        Ok(())
    }

    /// Remove up to `budget` log entries at or below the floor; true if some may remain.
    fn gc(&mut self, budget: usize) -> Result<bool> {
        let mut removed = 0;
        let mut doomed = self
            .log
            .extract_from_if(..=self.floor, |_, _| true)
            .map_err(|e| backend("gc log", e))?;
        while removed < budget {
            match doomed.next() {
                Some(entry) => {
                    entry.map_err(|e| backend("gc log", e))?;
                    removed += 1;
                }
                None => return Ok(false),
            }
        }
        Ok(true)
    }
}

#[async_trait]
impl Store for EmbeddedStore {
    async fn get(&self, key: &str) -> Result<Option<KeyValue>> {
        let key = key.to_string();
        self.shared
            .read(move |txn| {
                let kvs = txn.open_table(KVS).map_err(|e| backend("open kvs", e))?;
                let found = kvs.get(key.as_str()).map_err(|e| backend("read kvs", e))?;
                found.map(|v| decode_kv(&key, v.value())).transpose()
            })
            .await
    }

    async fn range(&self, prefix: &str, opts: RangeOptions) -> Result<RangeResult> {
        let prefix = prefix.to_string();
        self.shared
            .read(move |txn| range_in(txn, &prefix, &opts))
            .await
    }

    async fn create(&self, key: &str, value: Vec<u8>) -> Result<KeyValue> {
        self.submit_kv(Op::Create {
            key: key.to_string(),
            value,
        })
        .await
    }

    async fn update(&self, key: &str, value: Vec<u8>, expected: Revision) -> Result<KeyValue> {
        self.submit_kv(Op::Update {
            key: key.to_string(),
            value,
            expected,
        })
        .await
    }

    async fn delete(&self, key: &str, expected: Option<Revision>) -> Result<KeyValue> {
        self.submit_kv(Op::Delete {
            key: key.to_string(),
            expected,
        })
        .await
    }

    async fn watch(&self, prefix: &str, after: Revision) -> Result<WatchStream> {
        if self
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_none()
        {
            return Err(Error::Closed);
        }
        let floor = self.shared.floor.load(Ordering::SeqCst);
        if after < floor {
            return Err(Error::Compacted {
                requested: after,
                compacted: floor,
            });
        }
        let source: Arc<dyn HistorySource> = Arc::new(LogSource {
            shared: self.shared.clone(),
        });
        Ok(spawn_watch(
            source,
            self.shared.hub.clone(),
            prefix.to_string(),
            after,
        ))
    }

    async fn current_revision(&self) -> Result<Revision> {
        Ok(self.shared.revision.load(Ordering::SeqCst))
    }

    async fn compact(&self, revision: Revision) -> Result<()> {
        self.submit(Op::Compact { revision }).await.map(|_| ())
    }

    async fn compacted_revision(&self) -> Result<Revision> {
        Ok(self.shared.floor.load(Ordering::SeqCst))
    }
}

/// A range read in one read transaction.
fn range_in(txn: &ReadTransaction, prefix: &str, opts: &RangeOptions) -> Result<RangeResult> {
    let (current, floor) = revisions(txn)?;
    let at = read_revision(opts.revision, current, floor)?;
    let start_after = opts.start_after.as_deref();
    let overrides = if at < current {
        let log = txn.open_table(LOG).map_err(|e| backend("open log", e))?;
        let mut events = Vec::new();
        for entry in log.range((at + 1)..).map_err(|e| backend("read log", e))? {
            let (_, bytes) = entry.map_err(|e| backend("read log", e))?;
            let bytes = bytes.value();
            if in_range(event_key(bytes)?, prefix, start_after) {
                events.push(decode_event(bytes)?);
            }
        }
        overrides_at(events, prefix, start_after)
    } else {
        Default::default()
    };
    let kvs = txn.open_table(KVS).map_err(|e| backend("open kvs", e))?;
    let lower = match start_after {
        Some(after) if after >= prefix => Bound::Excluded(after),
        _ => Bound::Included(prefix),
    };
    let mut iter = kvs
        .range::<&str>((lower, Bound::Unbounded))
        .map_err(|e| backend("read kvs", e))?;
    let mut failed = false;
    let current_kvs = std::iter::from_fn(move || {
        if failed {
            return None;
        }
        match iter.next()? {
            Ok((k, v)) => {
                let key = k.value();
                if !key.starts_with(prefix) {
                    return None;
                }
                Some(decode_kv(key, v.value()))
            }
            Err(e) => {
                failed = true;
                Some(Err(backend("read kvs", e)))
            }
        }
    });
    let (kvs, more) = merge_range(current_kvs, overrides, opts.limit)?;
    Ok(RangeResult {
        kvs,
        more,
        revision: at,
    })
}
