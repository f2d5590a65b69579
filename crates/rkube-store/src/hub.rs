//! Watch fan-out shared by the `memory` and `embedded` backends.
//!
//! Every watcher is a small task (the *pump*) that first catches up from the backend's event
//! log and then forwards live events published to the [`Hub`]. The pump registers with the hub
//! *before* it reads history, so every event committed after the history snapshot is also in
//! its live queue; events it already delivered from history are skipped by revision. That
//! gives no gaps and no duplicates.
//!
//! Writers never block on watchers: the hub pushes into each watcher's bounded live queue with
//! `try_send`. When a queue is full the hub unregisters that watcher and flags it as lagging;
//! its pump then catches up from the event log again (from the last revision it delivered) and
//! re-registers. If the log was compacted past that revision in the meantime, the watcher ends
//! with [`Error::Compacted`], exactly as etcd does with slow watchers.

use crate::{Error, Event, Result, Revision, WatchStream};
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::mpsc;

/// Capacity of the channel handed to the caller of `watch`.
pub(crate) const OUT_BUFFER: usize = 256;
/// Most events read from the log per catch-up step.
const CHUNK_EVENTS: usize = 512;

/// One step of catch-up from a backend's event log.
pub(crate) struct HistoryChunk {
    /// Matching events with revision > the requested one, in order.
    pub events: Vec<Event>,
    /// Every event with revision <= this was considered (delivered if it matched).
    pub scanned_to: Revision,
    /// The current revision of the snapshot that was read.
    pub current: Revision,
}

/// A backend's event log, as needed by watchers.
#[async_trait]
pub(crate) trait HistorySource: Send + Sync + 'static {
    /// Events on keys under `prefix` with revision > `after`, at most `max` of them.
    /// Fails with [`Error::Compacted`] when `after` is below the compaction floor.
    async fn read_events(&self, prefix: &str, after: Revision, max: usize) -> Result<HistoryChunk>;
}

struct Slot {
    prefix: String,
    tx: mpsc::Sender<Event>,
    lagged: Arc<AtomicBool>,
}

#[derive(Default)]
struct HubInner {
    next_id: u64,
    slots: HashMap<u64, Slot>,
    closed: bool,
}

/// Fan-out of committed events to live watchers.
pub(crate) struct Hub {
    inner: Mutex<HubInner>,
    live_buffer: usize,
}

struct Registration {
    id: u64,
    rx: mpsc::Receiver<Event>,
    lagged: Arc<AtomicBool>,
}

impl Hub {
    pub(crate) fn new(live_buffer: usize) -> Self {
        Hub {
            inner: Mutex::new(HubInner::default()),
            live_buffer: live_buffer.max(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HubInner> {
        // A panic while holding this lock cannot leave the map inconsistent; keep going.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Deliver committed events to live watchers. Must be called in revision order, and for
    /// each event only after it is visible to [`HistorySource::read_events`].
    pub(crate) fn publish(&self, events: &[Event]) {
        if events.is_empty() {
            return;
        }
        let mut inner = self.lock();
        inner.slots.retain(|id, slot| {
            for ev in events {
                if !ev.kv.key.starts_with(&slot.prefix) {
                    continue;
                }
                match slot.tx.try_send(ev.clone()) {
                    Ok(()) => {}
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        tracing::debug!(watcher = id, "watcher fell behind, switching to catch-up");
                        slot.lagged.store(true, Ordering::SeqCst);
                        return false;
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => return false,
                }
            }
            true
        });
    }

    /// End every watcher; later registrations fail.
    pub(crate) fn close(&self) {
        let mut inner = self.lock();
        inner.closed = true;
        inner.slots.clear();
    }

    fn register(&self, prefix: &str) -> Option<Registration> {
        let mut inner = self.lock();
        if inner.closed {
            return None;
        }
        let (tx, rx) = mpsc::channel(self.live_buffer);
        let lagged = Arc::new(AtomicBool::new(false));
        let id = inner.next_id;
        inner.next_id += 1;
        inner.slots.insert(
            id,
            Slot {
                prefix: prefix.to_string(),
                tx,
                lagged: lagged.clone(),
            },
        );
        Some(Registration { id, rx, lagged })
    }

    fn unregister(&self, id: u64) {
        self.lock().slots.remove(&id);
    }

    #[cfg(test)]
    pub(crate) fn watcher_count(&self) -> usize {
        self.lock().slots.len()
    }
}

/// Removes the pump's registration when it stops, whatever the reason.
struct RegistrationGuard<'a> {
    hub: &'a Hub,
    id: u64,
}

impl Drop for RegistrationGuard<'_> {
    fn drop(&mut self) {
        self.hub.unregister(self.id);
    }
}

/// Start a watcher: events on `prefix` with revision > `after`, from `source`'s log, then live
/// from `hub`. The caller checks `after` against the floor first, so an immediate
/// [`Error::Compacted`] is returned from `watch` itself rather than as a stream item.
pub(crate) fn spawn_watch(
    source: Arc<dyn HistorySource>,
    hub: Arc<Hub>,
    prefix: String,
    after: Revision,
) -> WatchStream {
    let (out, rx) = mpsc::channel(OUT_BUFFER);
    tokio::spawn(async move {
        pump(&*source, &hub, &prefix, after, &out).await;
    });
    rx
}

async fn pump(
    source: &dyn HistorySource,
    hub: &Hub,
    prefix: &str,
    after: Revision,
    out: &mpsc::Sender<Result<Event>>,
) {
    // Every matching event with revision <= pos has been delivered.
    let mut pos = after;
    loop {
        let Some(reg) = hub.register(prefix) else {
            return; // store closed
        };
        let _guard = RegistrationGuard { hub, id: reg.id };
        let Registration { mut rx, lagged, .. } = reg;

        // Catch up from the log.
        loop {
            let chunk = match source.read_events(prefix, pos, CHUNK_EVENTS).await {
                Ok(chunk) => chunk,
                Err(e) => {
                    if !matches!(e, Error::Closed) {
                        tracing::debug!(error = %e, "watcher ends");
                        let _ = out.send(Err(e)).await;
                    }
                    return;
                }
            };
            for ev in chunk.events {
                if ev.revision() <= pos {
                    continue;
                }
                pos = ev.revision();
                if out.send(Ok(ev)).await.is_err() {
                    return; // receiver dropped
                }
            }
            pos = pos.max(chunk.scanned_to);
            if pos >= chunk.current {
                break;
            }
        }

        // Live.
        loop {
            let ev = tokio::select! {
                ev = rx.recv() => ev,
                () = out.closed() => return,
            };
            match ev {
                Some(ev) => {
                    if ev.revision() <= pos {
                        continue;
                    }
                    pos = ev.revision();
                    if out.send(Ok(ev)).await.is_err() {
                        return;
                    }
                }
                None if lagged.load(Ordering::SeqCst) => break, // catch up again
                None => return,                                 // store closed
            }
        }
    }
}
