//! etcd backend: the [`Store`] operations mapped onto the etcd v3 API (`etcd-client`).
//!
//! - create: `txn(create_revision(key) == 0) put else get`
//! - update / delete with a precondition: `txn(mod_revision(key) == expected && version(key) >
//!   0) put|delete(prev_kv) else get` (the version check keeps `expected == 0` from creating a
//!   missing key)
//! - range: `[max(prefix, start_after + "\0"), prefix_end(prefix))` with limit and revision
//! - watch: `start_revision = after + 1` with `prev_kv`
//!
//! etcd does not report its compaction floor. The store keeps the highest floor it has seen
//! (its own compactions, compaction errors) and [`Store::compacted_revision`] confirms it with
//! one cheap historical read, falling back to a binary search over historical reads when
//! someone else compacted further.

use crate::{
    Error, Event, EventType, KeyValue, RangeOptions, RangeResult, Result, Revision, Store,
    WatchStream,
};
use async_trait::async_trait;
use etcd_client::{
    Client, Compare, CompareOp, ConnectOptions, DeleteOptions, GetOptions, KvClient, PutOptions,
    Txn, TxnOp, TxnOpResponse, TxnResponse, WatchOptions,
};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;
use tokio::sync::mpsc;

const WATCH_BUFFER: usize = 256;
const COMPACTED_MSG: &str = "required revision has been compacted";
const FUTURE_MSG: &str = "required revision is a future revision";

/// A store backed by an etcd cluster.
pub struct EtcdStore {
    client: Client,
    /// Highest compaction floor seen so far (a lower bound of etcd's).
    floor: AtomicI64,
}

/// What a failed etcd call means for us.
enum Failure {
    Compacted,
    Future,
    Other(Error),
}

fn classify(e: etcd_client::Error) -> Failure {
    let text = match &e {
        etcd_client::Error::GRpcStatus(status) => status.message().to_string(),
        other => other.to_string(),
    };
    if text.contains(COMPACTED_MSG) {
        Failure::Compacted
    } else if text.contains(FUTURE_MSG) {
        Failure::Future
    } else {
        Failure::Other(Error::Backend(format!("etcd: {text}")))
    }
}

fn other(e: etcd_client::Error) -> Error {
    match classify(e) {
        Failure::Other(e) => e,
        Failure::Compacted => Error::Backend(format!("etcd: {COMPACTED_MSG}")),
        Failure::Future => Error::Backend(format!("etcd: {FUTURE_MSG}")),
    }
}

/// The end of the key range of `prefix` (etcd's `GetPrefixRangeEnd`); `"\0"` means "to the end".
fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

/// Start key and range end of `prefix`, above `start_after` when given.
fn key_range(prefix: &str, start_after: Option<&str>) -> (Vec<u8>, Vec<u8>) {
    let end = prefix_end(prefix.as_bytes());
    let mut start = if prefix.is_empty() {
        vec![0]
    } else {
        prefix.as_bytes().to_vec()
    };
    if let Some(after) = start_after {
        let mut next = after.as_bytes().to_vec();
        next.push(0);
        if next > start {
            start = next;
        }
    }
    (start, end)
}

fn convert_kv(kv: &etcd_client::KeyValue) -> Result<KeyValue> {
    let key = kv
        .key_str()
        .map_err(|e| Error::Backend(format!("etcd: key is not utf-8: {e}")))?;
    Ok(KeyValue {
        key: key.to_string(),
        value: kv.value().to_vec(),
        create_revision: kv.create_revision(),
        mod_revision: kv.mod_revision(),
    })
}

fn convert_event(ev: &etcd_client::Event) -> Result<Event> {
    let event_type = catch_unwind(AssertUnwindSafe(|| ev.event_type()))
        .map_err(|_| Error::Backend("etcd: watch event of unknown type".into()))?;
    let kv = ev
        .kv()
        .ok_or_else(|| Error::Backend("etcd: watch event without key".into()))?;
    let prev_kv = ev.prev_kv().map(convert_kv).transpose()?;
    match event_type {
        etcd_client::EventType::Put => Ok(Event {
            event_type: EventType::Put,
            kv: convert_kv(kv)?,
            prev_kv,
        }),
        etcd_client::EventType::Delete => {
            let mut deleted = convert_kv(kv)?;
            if let Some(prev) = &prev_kv {
                deleted.value = prev.value.clone();
                deleted.create_revision = prev.create_revision;
            }
            Ok(Event {
                event_type: EventType::Delete,
                kv: deleted,
                prev_kv,
            })
        }
    }
}

fn header_revision(header: Option<&etcd_client::ResponseHeader>) -> Result<Revision> {
    header
        .map(|h| h.revision())
        .ok_or_else(|| Error::Backend("etcd: response without header".into()))
}

fn op_responses(resp: &TxnResponse) -> Result<Vec<TxnOpResponse>> {
    catch_unwind(AssertUnwindSafe(|| resp.op_responses()))
        .map_err(|_| Error::Backend("etcd: malformed transaction response".into()))
}

/// The key-value returned by the `get` of a failed transaction, if any.
fn txn_get(resp: &TxnResponse) -> Result<Option<KeyValue>> {
    for op in op_responses(resp)? {
        if let TxnOpResponse::Get(get) = op {
            return get.kvs().first().map(convert_kv).transpose();
        }
    }
    Ok(None)
}

impl EtcdStore {
    /// Connect to etcd at `endpoints` (e.g. `http://127.0.0.1:2379`) and check that it answers.
    pub async fn connect(endpoints: &[String]) -> Result<EtcdStore> {
        let options = ConnectOptions::new()
            .with_connect_timeout(Duration::from_secs(5))
            .with_keep_alive(Duration::from_secs(10), Duration::from_secs(10));
        Self::connect_with(endpoints, options).await
    }

    /// Like [`EtcdStore::connect`], with explicit client options (TLS, credentials, timeouts).
    /// Do not set a request timeout shorter than a watch should live.
    pub async fn connect_with(endpoints: &[String], options: ConnectOptions) -> Result<EtcdStore> {
        let client = Client::connect(endpoints, Some(options))
            .await
            .map_err(|e| Error::Backend(format!("etcd: connect to {endpoints:?}: {e}")))?;
        let store = EtcdStore {
            client,
            floor: AtomicI64::new(0),
        };
        let revision = store.current_revision().await?;
        tracing::info!(?endpoints, revision, "connected to etcd");
        Ok(store)
    }

    fn kv(&self) -> KvClient {
        self.client.kv_client()
    }

    /// Read one key at `revision`: Ok(true) if readable, Ok(false) if compacted.
    async fn readable_at(&self, revision: Revision) -> Result<bool> {
        let opts = GetOptions::new()
            .with_revision(revision)
            .with_keys_only()
            .with_limit(1);
        match self.kv().get(vec![0u8], Some(opts)).await {
            Ok(_) => Ok(true),
            Err(e) => match classify(e) {
                Failure::Compacted => Ok(false),
                Failure::Future => Ok(true),
                Failure::Other(e) => Err(e),
            },
        }
    }

    /// The exact compaction floor, knowing it is above `below`: the lowest readable revision.
    async fn discover_floor(&self, below: Revision) -> Result<Revision> {
        let mut lo = below.max(0) + 1; // maybe compacted
        let mut hi = self.current_revision().await?; // always readable
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.readable_at(mid).await? {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        self.floor.fetch_max(hi, Ordering::SeqCst);
        Ok(self.floor.load(Ordering::SeqCst))
    }

    /// [`Error::Compacted`] for a read at `requested` that etcd refused.
    async fn compacted(&self, requested: Revision) -> Error {
        let compacted = match self.discover_floor(requested).await {
            Ok(floor) => floor,
            Err(_) => self
                .floor
                .fetch_max(requested + 1, Ordering::SeqCst)
                .max(requested + 1),
        };
        Error::Compacted {
            requested,
            compacted,
        }
    }

    async fn future(&self, requested: Revision) -> Error {
        match self.current_revision().await {
            Ok(current) => Error::FutureRevision { requested, current },
            Err(e) => e,
        }
    }
}

#[async_trait]
impl Store for EtcdStore {
    async fn get(&self, key: &str) -> Result<Option<KeyValue>> {
        let resp = self.kv().get(key, None).await.map_err(other)?;
        resp.kvs().first().map(convert_kv).transpose()
    }

    async fn range(&self, prefix: &str, opts: RangeOptions) -> Result<RangeResult> {
        // etcd's gRPC replies are capped at 4 MiB here, so ranges are read in pages pinned to
        // one revision; a page that is still too large is split further.
        let mut out = RangeResult {
            kvs: Vec::new(),
            more: false,
            revision: 0,
        };
        let mut cursor = opts.start_after.clone();
        let mut revision = opts.revision.filter(|r| *r > 0);
        let mut page = RANGE_PAGE;
        loop {
            let want = if opts.limit > 0 {
                page.min(opts.limit - out.kvs.len())
            } else {
                page
            };
            let res = range_page(
                self,
                prefix,
                RangeOptions {
                    start_after: cursor.clone(),
                    limit: want,
                    revision,
                },
            )
            .await;
            let res = match res {
                Err(Error::Backend(m)) if m.contains("message length too large") && page > 1 => {
                    page /= 2;
                    continue;
                }
                other => other?,
            };
            revision = Some(res.revision);
            out.revision = res.revision;
            if let Some(last) = res.kvs.last() {
                cursor = Some(last.key.clone());
            }
            let page_more = res.more;
            out.kvs.extend(res.kvs);
            if opts.limit > 0 && out.kvs.len() >= opts.limit {
                out.more = page_more;
                return Ok(out);
            }
            if !page_more {
                return Ok(out);
            }
        }
    }

    async fn create(&self, key: &str, value: Vec<u8>) -> Result<KeyValue> {
        let txn = Txn::new()
            .when([Compare::create_revision(key, CompareOp::Equal, 0)])
            .and_then([TxnOp::put(key, value.clone(), None)])
            .or_else([TxnOp::get(key, None)]);
        let resp = self.kv().txn(txn).await.map_err(other)?;
        if !resp.succeeded() {
            return Err(Error::AlreadyExists(key.to_string()));
        }
        let rev = header_revision(resp.header())?;
        Ok(KeyValue {
            key: key.to_string(),
            value,
            create_revision: rev,
            mod_revision: rev,
        })
    }

    async fn update(&self, key: &str, value: Vec<u8>, expected: Revision) -> Result<KeyValue> {
        let txn = Txn::new()
            .when([
                Compare::mod_revision(key, CompareOp::Equal, expected),
                Compare::version(key, CompareOp::Greater, 0),
            ])
            .and_then([TxnOp::put(
                key,
                value.clone(),
                Some(PutOptions::new().with_prev_key()),
            )])
            .or_else([TxnOp::get(key, None)]);
        let resp = self.kv().txn(txn).await.map_err(other)?;
        if !resp.succeeded() {
            return match txn_get(&resp)? {
                None => Err(Error::NotFound(key.to_string())),
                Some(current) => Err(Error::Conflict {
                    key: key.to_string(),
                    expected,
                    current: Some(current),
                }),
            };
        }
        let rev = header_revision(resp.header())?;
        let prev = op_responses(&resp)?.into_iter().find_map(|op| match op {
            TxnOpResponse::Put(put) => put.prev_key().cloned(),
            _ => None,
        });
        let prev =
            prev.ok_or_else(|| Error::Backend("etcd: update returned no previous key".into()))?;
        Ok(KeyValue {
            key: key.to_string(),
            value,
            create_revision: prev.create_revision(),
            mod_revision: rev,
        })
    }

    async fn delete(&self, key: &str, expected: Option<Revision>) -> Result<KeyValue> {
        let (rev, prev) = match expected {
            None => {
                let opts = DeleteOptions::new().with_prev_key();
                let resp = self.kv().delete(key, Some(opts)).await.map_err(other)?;
                let prev = resp.prev_kvs().first().map(convert_kv).transpose()?;
                (header_revision(resp.header())?, prev)
            }
            Some(expected) => {
                let txn = Txn::new()
                    .when([
                        Compare::mod_revision(key, CompareOp::Equal, expected),
                        Compare::version(key, CompareOp::Greater, 0),
                    ])
                    .and_then([TxnOp::delete(
                        key,
                        Some(DeleteOptions::new().with_prev_key()),
                    )])
                    .or_else([TxnOp::get(key, None)]);
                let resp = self.kv().txn(txn).await.map_err(other)?;
                if !resp.succeeded() {
                    return match txn_get(&resp)? {
                        None => Err(Error::NotFound(key.to_string())),
                        Some(current) => Err(Error::Conflict {
                            key: key.to_string(),
                            expected,
                            current: Some(current),
                        }),
                    };
                }
                let prev = op_responses(&resp)?.into_iter().find_map(|op| match op {
                    TxnOpResponse::Delete(del) => del.prev_kvs().first().cloned(),
                    _ => None,
                });
                (
                    header_revision(resp.header())?,
                    prev.as_ref().map(convert_kv).transpose()?,
                )
            }
        };
        let prev = prev.ok_or_else(|| Error::NotFound(key.to_string()))?;
        Ok(KeyValue {
            mod_revision: rev,
            ..prev
        })
    }

    async fn watch(&self, prefix: &str, after: Revision) -> Result<WatchStream> {
        let known = self.floor.load(Ordering::SeqCst);
        if after < known {
            return Err(Error::Compacted {
                requested: after,
                compacted: known,
            });
        }
        // etcd refuses a watch only when after + 1 is compacted; our contract (like a read at
        // `after`) also refuses after == floor - 1. A read at `after` checks exactly that.
        if after >= 1 && !self.readable_at(after).await? {
            return Err(self.compacted(after).await);
        }
        let (start, end) = key_range(prefix, None);
        let options = WatchOptions::new()
            .with_range(end)
            .with_start_revision(after + 1)
            .with_prev_key();
        let mut stream = self
            .client
            .watch_client()
            .watch(start, Some(options))
            .await
            .map_err(other)?;
        // The first response confirms the watch (or refuses it).
        let first = stream.message().await.map_err(other)?;
        let Some(first) = first else {
            return Err(Error::Backend(
                "etcd: watch stream ended before it started".into(),
            ));
        };
        if first.canceled() {
            return Err(if first.compact_revision() > 0 {
                self.floor
                    .fetch_max(first.compact_revision(), Ordering::SeqCst);
                Error::Compacted {
                    requested: after,
                    compacted: first.compact_revision(),
                }
            } else {
                Error::Backend(format!("etcd: watch refused: {}", first.cancel_reason()))
            });
        }
        let (tx, rx) = mpsc::channel(WATCH_BUFFER);
        let floor_hint = first.compact_revision();
        if floor_hint > 0 {
            self.floor.fetch_max(floor_hint, Ordering::SeqCst);
        }
        tokio::spawn(async move {
            let mut last = after;
            let mut pending = Some(first);
            loop {
                let resp = match pending.take() {
                    Some(resp) => resp,
                    None => {
                        let msg = tokio::select! {
                            msg = stream.message() => msg,
                            () = tx.closed() => return, // receiver dropped: cancel the watch
                        };
                        match msg {
                            Ok(Some(resp)) => resp,
                            Ok(None) => {
                                let _ = tx
                                    .send(Err(Error::Backend("etcd: watch stream ended".into())))
                                    .await;
                                return;
                            }
                            Err(e) => {
                                let _ = tx.send(Err(other(e))).await;
                                return;
                            }
                        }
                    }
                };
                for ev in resp.events() {
                    let item = convert_event(ev);
                    let failed = item.is_err();
                    if let Ok(ev) = &item {
                        last = ev.revision();
                    }
                    if tx.send(item).await.is_err() || failed {
                        return; // receiver dropped, or the error ended the stream
                    }
                }
                if resp.canceled() {
                    let err = if resp.compact_revision() > 0 {
                        Error::Compacted {
                            requested: last,
                            compacted: resp.compact_revision(),
                        }
                    } else {
                        Error::Backend(format!("etcd: watch canceled: {}", resp.cancel_reason()))
                    };
                    tracing::debug!(error = %err, "etcd watch ends");
                    let _ = tx.send(Err(err)).await;
                    return;
                }
            }
        });
        Ok(rx)
    }

    async fn current_revision(&self) -> Result<Revision> {
        let opts = GetOptions::new().with_count_only();
        let resp = self.kv().get(vec![0u8], Some(opts)).await.map_err(other)?;
        header_revision(resp.header())
    }

    async fn compact(&self, revision: Revision) -> Result<()> {
        match self.kv().compact(revision, None).await {
            Ok(_) => {
                self.floor.fetch_max(revision, Ordering::SeqCst);
                Ok(())
            }
            Err(e) => match classify(e) {
                // Already compacted at or above `revision`: nothing to do.
                Failure::Compacted => Ok(()),
                Failure::Future => Err(self.future(revision).await),
                Failure::Other(e) => Err(e),
            },
        }
    }

    async fn compacted_revision(&self) -> Result<Revision> {
        let known = self.floor.load(Ordering::SeqCst);
        if self.readable_at(known.max(1)).await? {
            return Ok(known);
        }
        self.discover_floor(known.max(1)).await
    }
}

/// Keys per request when a range is read in pages.
const RANGE_PAGE: usize = 1000;

/// One etcd range request.
async fn range_page(store: &EtcdStore, prefix: &str, opts: RangeOptions) -> Result<RangeResult> {
    let (start, end) = key_range(prefix, opts.start_after.as_deref());
    let mut get = GetOptions::new().with_range(end);
    if opts.limit > 0 {
        get = get.with_limit(i64::try_from(opts.limit).unwrap_or(i64::MAX));
    }
    let requested = opts.revision.filter(|r| *r > 0);
    if let Some(r) = requested {
        get = get.with_revision(r);
    }
    let resp = match store.kv().get(start, Some(get)).await {
        Ok(resp) => resp,
        Err(e) => {
            let r = requested.unwrap_or(0);
            return Err(match classify(e) {
                Failure::Compacted => store.compacted(r).await,
                Failure::Future => store.future(r).await,
                Failure::Other(e) => e,
            });
        }
    };
    let kvs = resp
        .kvs()
        .iter()
        .map(convert_kv)
        .collect::<Result<Vec<_>>>()?;
    let revision = match requested {
        Some(r) => r,
        None => header_revision(resp.header())?,
    };
    Ok(RangeResult {
        kvs,
        more: resp.more(),
        revision,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_ranges() {
        assert_eq!(prefix_end(b"/a/"), b"/a0".to_vec());
        assert_eq!(prefix_end(b"a\xff"), b"b".to_vec());
        assert_eq!(prefix_end(b""), vec![0]);
        assert_eq!(key_range("", None), (vec![0], vec![0]));
        assert_eq!(
            key_range("/p/", Some("/p/x")),
            (b"/p/x\0".to_vec(), b"/p0".to_vec())
        );
        assert_eq!(
            key_range("/p/", Some("/a")),
            (b"/p/".to_vec(), b"/p0".to_vec())
        );
    }
}
