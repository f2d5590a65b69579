//! A work queue in client-go's style for the garbage collector's workers: an item waits at
//! most once however often it is added, is never handed to two workers at once (an item added
//! while it is processed is queued again when it is done), and failed items come back after an
//! exponential backoff.

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Notify;

/// First retry delay of a failing item; doubles per failure up to [`MAX_BACKOFF`].
const BASE_BACKOFF: Duration = Duration::from_millis(10);
const MAX_BACKOFF: Duration = Duration::from_secs(60);

struct State<T> {
    queue: VecDeque<T>,
    dirty: HashSet<T>,
    processing: HashSet<T>,
    failures: HashMap<T, u32>,
}

/// A deduplicating, per-item exclusive work queue; cheap to clone.
pub struct WorkQueue<T> {
    state: Arc<Mutex<State<T>>>,
    notify: Arc<Notify>,
}

impl<T> Clone for WorkQueue<T> {
    fn clone(&self) -> Self {
        WorkQueue {
            state: self.state.clone(),
            notify: self.notify.clone(),
        }
    }
}

impl<T: Hash + Eq + Clone + Send + 'static> WorkQueue<T> {
    pub fn new() -> Self {
        WorkQueue {
            state: Arc::new(Mutex::new(State {
                queue: VecDeque::new(),
                dirty: HashSet::new(),
                processing: HashSet::new(),
                failures: HashMap::new(),
            })),
            notify: Arc::new(Notify::new()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // A worker that panicked cannot leave the sets half-updated; keep going.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `item` unless it is already waiting.
    pub fn add(&self, item: T) {
        let mut s = self.lock();
        if !s.dirty.insert(item.clone()) {
            return;
        }
        if s.processing.contains(&item) {
            return;
        }
        s.queue.push_back(item);
        drop(s);
        self.notify.notify_one();
    }

    /// Waits for the next item; call [`WorkQueue::done`] when finished with it.
    pub async fn get(&self) -> T {
        loop {
            {
                let mut s = self.lock();
                if let Some(item) = s.queue.pop_front() {
                    s.dirty.remove(&item);
                    s.processing.insert(item.clone());
                    if !s.queue.is_empty() {
                        // Let another idle worker pick up the rest.
                        self.notify.notify_one();
                    }
                    return item;
                }
            }
            self.notify.notified().await;
        }
    }

    /// Marks `item` processed; `ok` forgets its failures, otherwise it comes back after a
    /// backoff.
    pub fn done(&self, item: T, ok: bool) {
        let mut s = self.lock();
        s.processing.remove(&item);
        let retry = if ok {
            s.failures.remove(&item);
            None
        } else {
            let n = s.failures.entry(item.clone()).or_insert(0);
            *n = n.saturating_add(1);
            Some(backoff(*n))
        };
        if s.dirty.contains(&item) {
            s.queue.push_back(item.clone());
            drop(s);
            self.notify.notify_one();
        } else {
            drop(s);
        }
        if let Some(delay) = retry {
            let q = self.clone();
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                q.add(item);
            });
        }
    }

    /// Items waiting or being processed (for tests and logs).
    #[cfg(test)]
    pub fn len(&self) -> usize {
        let s = self.lock();
        s.queue.len() + s.processing.len()
    }
}

fn backoff(failures: u32) -> Duration {
    let exp = failures.saturating_sub(1).min(16);
    (BASE_BACKOFF * 2u32.pow(exp)).min(MAX_BACKOFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn dedups_and_requeues_items_added_while_processing() {
        let q = WorkQueue::new();
        q.add(1);
        q.add(1);
        q.add(2);
        assert_eq!(q.len(), 2);
        let a = q.get().await;
        assert_eq!(a, 1);
        // Added again while processing: not handed out until done.
        q.add(1);
        assert_eq!(q.get().await, 2);
        q.done(2, true);
        q.done(1, true);
        assert_eq!(q.get().await, 1);
        q.done(1, true);
        assert_eq!(q.len(), 0);
    }

    #[tokio::test]
    async fn failed_items_come_back_after_backoff() {
        let q = WorkQueue::new();
        q.add("x");
        let x = q.get().await;
        q.done(x, false);
        assert_eq!(q.len(), 0);
        let got = tokio::time::timeout(Duration::from_secs(1), q.get()).await;
        assert_eq!(got.ok(), Some("x"));
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        assert_eq!(backoff(1), Duration::from_millis(10));
        assert_eq!(backoff(2), Duration::from_millis(20));
        assert_eq!(backoff(40), MAX_BACKOFF);
    }
}
