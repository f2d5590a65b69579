//! The scheduling queue, after upstream's `PriorityQueue` (pkg/scheduler/backend/queue), as a
//! pure data structure: no IO, no threads, and no real time. Every call that depends on time
//! takes `now`, a [`Duration`] on the caller's clock (e.g. since process start).
//!
//! Pods (`serde_json::Value`s keyed by `namespace/name`) live in one of three sub-queues:
//! - the **active queue**, popped in order of `spec.priority` (higher first, default 0) and
//!   then of the time the pod was queued (earlier first);
//! - the **backoff queue**, for pods that failed and wait out a per-pod exponential backoff
//!   (1s after the first attempt, doubling per attempt, capped at 10s); [`SchedulingQueue::pop`]
//!   moves pods whose backoff has expired to the active queue first;
//! - the **unschedulable set**, for pods no node could take. A cluster event
//!   ([`SchedulingQueue::move_all_to_active_or_backoff`]) moves them back, to the backoff queue
//!   if they are still backing off and to the active queue otherwise, and
//!   [`SchedulingQueue::flush_unschedulable_leftover`] does so for pods waiting over 5 minutes.
//!
//! Each pop starts a scheduling cycle. A move request during a pod's in-flight attempt sends
//! that pod to backoff/active instead of the unschedulable set when the attempt fails, so an
//! event that might have made it schedulable is not missed (upstream's `moveRequestCycle`).

use std::cmp::Reverse;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::Duration;

use serde_json::Value;

/// Upstream's `DefaultPodInitialBackoffDuration`.
pub const DEFAULT_POD_INITIAL_BACKOFF: Duration = Duration::from_secs(1);
/// Upstream's `DefaultPodMaxBackoffDuration`.
pub const DEFAULT_POD_MAX_BACKOFF: Duration = Duration::from_secs(10);
/// Upstream's `DefaultPodMaxInUnschedulablePodsDuration`.
pub const DEFAULT_POD_MAX_IN_UNSCHEDULABLE: Duration = Duration::from_secs(5 * 60);

/// A cluster event that may make unschedulable pods schedulable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClusterEvent {
    /// A node was added.
    NodeAdd,
    /// A node changed (labels, taints, allocatable, unschedulable, …).
    NodeUpdate,
    /// An unassigned pod was deleted.
    PodDelete,
    /// A pod bound to a node was added.
    AssignedPodAdd,
    /// A pod bound to a node changed.
    AssignedPodUpdate,
    /// A pod bound to a node was deleted, freeing its resources.
    AssignedPodDelete,
    /// A pod waited in the unschedulable set longer than the maximum.
    UnschedulableTimeout,
}

/// Why the queue refused a pod.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueueError {
    /// The pod has no `metadata.name`.
    #[error("pod has no metadata.name")]
    MissingName,
    /// `add_unschedulable` for a pod that is already queued.
    #[error("pod {0} is already in the scheduling queue")]
    AlreadyQueued(String),
    /// `add_unschedulable` for a pod that was not popped, or was deleted or finished since.
    #[error("pod {0} is not being scheduled")]
    NotInFlight(String),
}

/// A pod with its queueing state, as returned by [`SchedulingQueue::pop`].
#[derive(Debug, Clone, PartialEq)]
pub struct QueuedPod {
    /// The Pod object.
    pub pod: Value,
    /// `namespace/name`.
    pub key: String,
    /// How many times the pod has been popped for scheduling.
    pub attempts: u32,
    /// When the pod was first popped.
    pub initial_attempt_time: Option<Duration>,
    /// When the pod was last queued (or failed); orders the active queue and starts backoff.
    pub timestamp: Duration,
    /// The scheduling cycle of the pod's last pop.
    pub cycle: u64,
}

/// The `namespace/name` key of a pod; a missing namespace counts as `default`.
pub fn pod_key(pod: &Value) -> Result<String, QueueError> {
    let meta = &pod["metadata"];
    let name = meta["name"].as_str().ok_or(QueueError::MissingName)?;
    let ns = meta["namespace"].as_str().unwrap_or("default");
    Ok(format!("{ns}/{name}"))
}

fn priority(pod: &Value) -> i64 {
    pod["spec"]["priority"].as_i64().unwrap_or(0)
}

/// Whether an update may make the pod schedulable: anything changed besides resourceVersion,
/// generation, managedFields and status (upstream's `isPodUpdated`).
fn pod_updated(old: &Value, new: &Value) -> bool {
    fn strip(p: &Value) -> Value {
        let mut p = p.clone();
        if let Some(o) = p.as_object_mut() {
            o.remove("status");
            if let Some(m) = o.get_mut("metadata").and_then(Value::as_object_mut) {
                for f in ["resourceVersion", "generation", "managedFields"] {
                    m.remove(f);
                }
            }
        }
        p
    }
    strip(old) != strip(new)
}

/// Tunables; [`Default`] gives upstream's defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueConfig {
    /// Backoff after the first failed attempt.
    pub initial_backoff: Duration,
    /// Backoff cap.
    pub max_backoff: Duration,
    /// How long a pod may wait in the unschedulable set before a flush requeues it.
    pub max_in_unschedulable: Duration,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            initial_backoff: DEFAULT_POD_INITIAL_BACKOFF,
            max_backoff: DEFAULT_POD_MAX_BACKOFF,
            max_in_unschedulable: DEFAULT_POD_MAX_IN_UNSCHEDULABLE,
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Location {
    Active,
    Backoff,
    Unschedulable,
}

/// Active-queue order: higher priority, then earlier timestamp, then insertion order.
type ActiveKey = (Reverse<i64>, Duration, u64, String);
/// Backoff-queue order: earlier expiry, then insertion order.
type BackoffKey = (Duration, u64, String);

/// Where a queued pod is, with its key in that sub-queue's index.
#[derive(Debug)]
enum Slot {
    Active(ActiveKey),
    Backoff(BackoffKey),
    Unschedulable,
}

#[derive(Debug)]
struct Entry {
    qp: QueuedPod,
    slot: Slot,
}

/// The scheduling queue; see the module documentation.
#[derive(Debug, Default)]
pub struct SchedulingQueue {
    config: QueueConfig,
    pods: HashMap<String, Entry>,
    active: BTreeSet<ActiveKey>,
    backoff: BTreeSet<BackoffKey>,
    unschedulable: BTreeSet<String>,
    in_flight: HashSet<String>,
    seq: u64,
    cycle: u64,
    move_request_cycle: Option<u64>,
}

impl SchedulingQueue {
    /// An empty queue with upstream's default backoff and flush durations.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty queue with the given tunables.
    pub fn with_config(config: QueueConfig) -> Self {
        SchedulingQueue {
            config,
            ..Self::default()
        }
    }

    /// The backoff after `attempts` failed attempts: initial, doubled per further attempt,
    /// capped at the maximum.
    pub fn backoff_duration(&self, attempts: u32) -> Duration {
        let mut d = self.config.initial_backoff;
        for _ in 1..attempts {
            if d >= self.config.max_backoff.saturating_sub(d) {
                return self.config.max_backoff;
            }
            d += d;
        }
        d.min(self.config.max_backoff)
    }

    fn backoff_expiry(&self, qp: &QueuedPod) -> Duration {
        qp.timestamp
            .saturating_add(self.backoff_duration(qp.attempts))
    }

    /// Removes the pod from whichever sub-queue holds it.
    fn take(&mut self, key: &str) -> Option<(QueuedPod, Location)> {
        let e = self.pods.remove(key)?;
        let loc = match e.slot {
            Slot::Active(k) => {
                self.active.remove(&k);
                Location::Active
            }
            Slot::Backoff(k) => {
                self.backoff.remove(&k);
                Location::Backoff
            }
            Slot::Unschedulable => {
                self.unschedulable.remove(key);
                Location::Unschedulable
            }
        };
        Some((e.qp, loc))
    }

    fn insert(&mut self, qp: QueuedPod, loc: Location) {
        self.seq += 1;
        let key = qp.key.clone();
        let slot = match loc {
            Location::Active => {
                let k = (
                    Reverse(priority(&qp.pod)),
                    qp.timestamp,
                    self.seq,
                    key.clone(),
                );
                self.active.insert(k.clone());
                Slot::Active(k)
            }
            Location::Backoff => {
                let k = (self.backoff_expiry(&qp), self.seq, key.clone());
                self.backoff.insert(k.clone());
                Slot::Backoff(k)
            }
            Location::Unschedulable => {
                self.unschedulable.insert(key.clone());
                Slot::Unschedulable
            }
        };
        self.pods.insert(key, Entry { qp, slot });
    }

    /// Backoff if the pod is still backing off at `now`, else active.
    fn requeue(&mut self, qp: QueuedPod, now: Duration) {
        let loc = if self.backoff_expiry(&qp) > now {
            Location::Backoff
        } else {
            Location::Active
        };
        self.insert(qp, loc);
    }

    /// Queues a new pod in the active queue. A pod with the same key, wherever it is queued,
    /// is replaced and its attempts are reset.
    pub fn add(&mut self, pod: Value, now: Duration) -> Result<(), QueueError> {
        let key = pod_key(&pod)?;
        self.take(&key);
        let qp = QueuedPod {
            pod,
            key,
            attempts: 0,
            initial_attempt_time: None,
            timestamp: now,
            cycle: 0,
        };
        self.insert(qp, Location::Active);
        Ok(())
    }

    /// Replaces a queued pod's object, keeping its place and attempts. An unschedulable pod
    /// whose update may make it schedulable moves to backoff or active; a pod not queued is
    /// added to the active queue.
    pub fn update(&mut self, pod: Value, now: Duration) -> Result<(), QueueError> {
        let key = pod_key(&pod)?;
        let Some((mut qp, loc)) = self.take(&key) else {
            return self.add(pod, now);
        };
        let updated = pod_updated(&qp.pod, &pod);
        qp.pod = pod;
        if matches!(loc, Location::Unschedulable) && updated {
            self.requeue(qp, now);
        } else {
            self.insert(qp, loc);
        }
        Ok(())
    }

    /// Removes a pod from the queue and forgets any in-flight attempt; returns whether it was
    /// queued.
    pub fn delete(&mut self, key: &str) -> bool {
        self.in_flight.remove(key);
        self.take(key).is_some()
    }

    /// Moves backoff pods whose backoff expired by `now` to the active queue.
    pub fn flush_backoff_completed(&mut self, now: Duration) {
        while let Some(k) = self.backoff.first().filter(|k| k.0 <= now).cloned() {
            self.backoff.remove(&k);
            if let Some((qp, _)) = self.take(&k.2) {
                self.insert(qp, Location::Active);
            }
        }
    }

    /// Pops the highest-priority, oldest active pod (after moving due backoff pods to active),
    /// starting a scheduling cycle. The pod stays in flight until [`Self::done`] or
    /// [`Self::add_unschedulable`].
    pub fn pop(&mut self, now: Duration) -> Option<QueuedPod> {
        self.flush_backoff_completed(now);
        let key = self.active.first()?.3.clone();
        let (mut qp, _) = self.take(&key)?;
        self.cycle += 1;
        qp.cycle = self.cycle;
        qp.attempts = qp.attempts.saturating_add(1);
        qp.initial_attempt_time.get_or_insert(now);
        self.in_flight.insert(key);
        Some(qp)
    }

    /// Requeues a pod whose attempt failed at `now`. It goes to the unschedulable set, unless
    /// a move request happened since it was popped, in which case it goes to backoff (or
    /// active, if its backoff is already over). Ends the pod's in-flight attempt.
    pub fn add_unschedulable(
        &mut self,
        mut qp: QueuedPod,
        now: Duration,
    ) -> Result<(), QueueError> {
        if self.pods.contains_key(&qp.key) {
            return Err(QueueError::AlreadyQueued(qp.key));
        }
        if !self.in_flight.remove(&qp.key) {
            return Err(QueueError::NotInFlight(qp.key));
        }
        qp.timestamp = now;
        if self.move_request_cycle.is_some_and(|c| c >= qp.cycle) {
            self.requeue(qp, now);
        } else {
            self.insert(qp, Location::Unschedulable);
        }
        Ok(())
    }

    /// Ends a pod's in-flight attempt (after it was bound, or given up on).
    pub fn done(&mut self, key: &str) {
        self.in_flight.remove(key);
    }

    /// Moves every unschedulable pod to backoff (if still backing off at `now`) or active, and
    /// records the move request so that pods in flight are not parked as unschedulable.
    /// Returns how many pods moved.
    pub fn move_all_to_active_or_backoff(&mut self, _event: ClusterEvent, now: Duration) -> usize {
        let keys = self.unschedulable.iter().cloned().collect();
        self.move_request_cycle = Some(self.cycle);
        self.move_keys(keys, now)
    }

    /// Moves pods that waited in the unschedulable set longer than the maximum (5 minutes by
    /// default) to backoff or active. Returns how many pods moved.
    pub fn flush_unschedulable_leftover(&mut self, now: Duration) -> usize {
        let max = self.config.max_in_unschedulable;
        let keys: Vec<String> = self
            .unschedulable
            .iter()
            .filter(|k| {
                self.pods
                    .get(*k)
                    .is_some_and(|e| now.saturating_sub(e.qp.timestamp) > max)
            })
            .cloned()
            .collect();
        if keys.is_empty() {
            return 0;
        }
        self.move_request_cycle = Some(self.cycle);
        self.move_keys(keys, now)
    }

    fn move_keys(&mut self, keys: Vec<String>, now: Duration) -> usize {
        let mut moved = 0;
        for key in keys {
            if let Some((qp, _)) = self.take(&key) {
                self.requeue(qp, now);
                moved += 1;
            }
        }
        moved
    }

    /// The number of the last scheduling cycle (pops so far).
    pub fn scheduling_cycle(&self) -> u64 {
        self.cycle
    }

    /// When the earliest backoff expires, for a caller deciding when to pop next.
    pub fn next_backoff_expiry(&self) -> Option<Duration> {
        self.backoff.first().map(|k| k.0)
    }

    /// Whether the pod is queued (in any sub-queue).
    pub fn contains(&self, key: &str) -> bool {
        self.pods.contains_key(key)
    }

    /// Pods in all sub-queues.
    pub fn len(&self) -> usize {
        self.pods.len()
    }

    /// Whether no pod is queued.
    pub fn is_empty(&self) -> bool {
        self.pods.is_empty()
    }

    /// Pods in the active queue.
    pub fn active_len(&self) -> usize {
        self.active.len()
    }

    /// Pods in the backoff queue.
    pub fn backoff_len(&self) -> usize {
        self.backoff.len()
    }

    /// Pods in the unschedulable set.
    pub fn unschedulable_len(&self) -> usize {
        self.unschedulable.len()
    }

    /// Pods popped and not yet done or requeued.
    pub fn in_flight_len(&self) -> usize {
        self.in_flight.len()
    }

    /// All queued pods (active in pop order, then backoff by expiry, then unschedulable by
    /// key) and a summary such as `activeQ:1; backoffQ:0; unschedulablePods:2`, as upstream's
    /// `PendingPods`.
    pub fn pending_pods(&self) -> (Vec<&Value>, String) {
        let keys = self
            .active
            .iter()
            .map(|k| &k.3)
            .chain(self.backoff.iter().map(|k| &k.2))
            .chain(self.unschedulable.iter());
        let pods = keys
            .filter_map(|k| self.pods.get(k).map(|e| &e.qp.pod))
            .collect();
        let summary = format!(
            "activeQ:{}; backoffQ:{}; unschedulablePods:{}",
            self.active_len(),
            self.backoff_len(),
            self.unschedulable_len()
        );
        (pods, summary)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(name: &str, prio: Option<i64>) -> Value {
        let mut p = json!({"metadata": {"namespace": "ns", "name": name}, "spec": {}});
        if let Some(v) = prio {
            p["spec"]["priority"] = json!(v);
        }
        p
    }

    fn s(secs: u64) -> Duration {
        Duration::from_secs(secs)
    }

    fn pop_key(q: &mut SchedulingQueue, now: Duration) -> Option<String> {
        q.pop(now).map(|qp| qp.key)
    }

    /// Pops one pod at `now` and fails it at `fail_at`.
    fn fail(q: &mut SchedulingQueue, now: Duration, fail_at: Duration) -> QueuedPod {
        let qp = q.pop(now).expect("pod");
        q.add_unschedulable(qp.clone(), fail_at).expect("requeue");
        qp
    }

    fn lens(q: &SchedulingQueue) -> (usize, usize, usize) {
        (q.active_len(), q.backoff_len(), q.unschedulable_len())
    }

    #[test]
    fn priority_then_fifo() {
        type Case<'a> = (&'a [(&'a str, Option<i64>, u64)], &'a [&'a str]);
        let cases: &[Case] = &[
            (
                &[
                    ("low", Some(-5), 0),
                    ("a", None, 1),
                    ("hi", Some(100), 2),
                    ("b", Some(0), 3),
                ],
                &["ns/hi", "ns/a", "ns/b", "ns/low"],
            ),
            // equal timestamps keep insertion order
            (
                &[("z", None, 0), ("y", None, 0), ("x", None, 0)],
                &["ns/z", "ns/y", "ns/x"],
            ),
        ];
        for (pods, want) in cases {
            let mut q = SchedulingQueue::new();
            for (name, prio, t) in pods.iter() {
                q.add(pod(name, *prio), s(*t)).expect("add");
            }
            let order: Vec<_> = std::iter::from_fn(|| pop_key(&mut q, s(10))).collect();
            assert_eq!(order, *want);
            assert_eq!(q.scheduling_cycle(), want.len() as u64);
            assert_eq!(q.in_flight_len(), want.len());
        }
    }

    #[test]
    fn backoff_via_manual_clock() {
        let mut q = SchedulingQueue::new();
        for (attempts, want) in [(0, 1), (1, 1), (2, 2), (3, 4), (4, 8), (5, 10), (99, 10)] {
            assert_eq!(q.backoff_duration(attempts), s(want), "attempts {attempts}");
        }
        // attempt n fails, a move event sends the pod to backoff for min(2^(n-1), 10)s
        q.add(pod("p", None), s(0)).expect("add");
        let mut now = s(0);
        for (n, want) in [1, 2, 4, 8, 10, 10].into_iter().enumerate() {
            let qp = fail(&mut q, now, now);
            assert_eq!(qp.attempts as usize, n + 1);
            assert_eq!(qp.initial_attempt_time, Some(s(0)));
            assert_eq!(lens(&q), (0, 0, 1));
            q.move_all_to_active_or_backoff(ClusterEvent::AssignedPodDelete, now);
            assert_eq!(lens(&q), (0, 1, 0));
            assert_eq!(q.next_backoff_expiry(), Some(now + s(want)));
            assert!(q.pop(now + s(want) - Duration::from_millis(1)).is_none());
            now += s(want);
        }
    }

    #[test]
    fn unschedulable_waits_for_move_event() {
        // (event, failed at, moved at, want (active, backoff, unschedulable) after the move)
        let cases = [
            (ClusterEvent::NodeAdd, 0, 60, (1, 0, 0)),
            (ClusterEvent::NodeUpdate, 10, 10, (0, 1, 0)),
            (ClusterEvent::PodDelete, 10, 11, (1, 0, 0)),
            (ClusterEvent::AssignedPodDelete, 10, 10, (0, 1, 0)),
        ];
        for (event, failed, moved, want) in cases {
            let mut q = SchedulingQueue::new();
            q.add(pod("p", None), s(0)).expect("add");
            fail(&mut q, s(0), s(failed));
            assert!(q.pop(s(moved)).is_none(), "{event:?}");
            assert_eq!(q.move_all_to_active_or_backoff(event, s(moved)), 1);
            assert_eq!(lens(&q), want, "{event:?}");
            assert_eq!(pop_key(&mut q, s(failed + 1)).as_deref(), Some("ns/p"));
        }
    }

    #[test]
    fn move_during_attempt_skips_unschedulable() {
        let mut q = SchedulingQueue::new();
        q.add(pod("p", None), s(0)).expect("add");
        q.add(pod("q", None), s(0)).expect("add");
        let p = q.pop(s(0)).expect("p");
        // nothing is unschedulable, but the request is remembered for the in-flight pod
        assert_eq!(
            q.move_all_to_active_or_backoff(ClusterEvent::NodeAdd, s(0)),
            0
        );
        q.add_unschedulable(p, s(0)).expect("requeue");
        assert_eq!(lens(&q), (1, 1, 0));
        // a move before the pod was popped does not count
        fail(&mut q, s(0), s(0));
        assert_eq!(lens(&q), (0, 1, 1));
        assert_eq!(pop_key(&mut q, s(1)).as_deref(), Some("ns/p"));
    }

    #[test]
    fn leftover_flush_after_five_minutes() {
        let mut q = SchedulingQueue::new();
        q.add(pod("mid", Some(5)), s(0)).expect("add");
        q.add(pod("high", Some(10)), s(0)).expect("add");
        fail(&mut q, s(0), s(0));
        fail(&mut q, s(0), s(100));
        assert_eq!(q.flush_unschedulable_leftover(s(300)), 0);
        assert_eq!(q.flush_unschedulable_leftover(s(301)), 1);
        assert_eq!(pop_key(&mut q, s(301)).as_deref(), Some("ns/high"));
        assert_eq!(q.flush_unschedulable_leftover(s(401)), 1);
        assert_eq!(pop_key(&mut q, s(401)).as_deref(), Some("ns/mid"));
    }

    #[test]
    fn update_and_delete() {
        let mut q = SchedulingQueue::new();
        q.add(pod("a", None), s(0)).expect("add");
        q.add(pod("b", None), s(1)).expect("add");
        // raising b's priority reorders the active queue; b keeps its timestamp
        q.update(pod("b", Some(9)), s(2)).expect("update");
        assert_eq!(q.len(), 2);
        let b = q.pop(s(3)).expect("b");
        assert_eq!((b.key.as_str(), b.timestamp), ("ns/b", s(1)));
        assert!(q.delete("ns/a") && !q.delete("ns/a") && q.is_empty());
        // a status-only update leaves an unschedulable pod parked; a spec update moves it
        q.add_unschedulable(b.clone(), s(3)).expect("requeue");
        let mut status_only = b.pod.clone();
        status_only["status"] = json!({"phase": "Pending"});
        status_only["metadata"]["resourceVersion"] = json!("7");
        q.update(status_only, s(3)).expect("update");
        assert_eq!(lens(&q), (0, 0, 1));
        let mut changed = b.pod.clone();
        changed["spec"]["nodeSelector"] = json!({"disk": "ssd"});
        q.update(changed, s(3)).expect("update");
        assert_eq!(lens(&q), (0, 1, 0));
        // updating an unknown pod adds it; deleting an in-flight pod drops its attempt
        q.update(pod("c", None), s(3)).expect("update");
        let c = q.pop(s(3)).expect("c");
        assert_eq!(c.key, "ns/c");
        assert!(!q.delete("ns/c"));
        let err = q.add_unschedulable(c, s(5));
        assert_eq!(err, Err(QueueError::NotInFlight("ns/c".into())));
    }

    #[test]
    fn duplicate_add_replaces() {
        let mut q = SchedulingQueue::new();
        q.add(pod("a", Some(1)), s(0)).expect("add");
        q.add(pod("a", Some(2)), s(1)).expect("add");
        assert_eq!(q.len(), 1);
        // re-adding a backing-off pod puts it straight into active with attempts reset
        fail(&mut q, s(1), s(1));
        q.move_all_to_active_or_backoff(ClusterEvent::NodeAdd, s(1));
        assert_eq!(lens(&q), (0, 1, 0));
        q.add(pod("a", Some(3)), s(1)).expect("add");
        assert_eq!(lens(&q), (1, 0, 0));
        let a = q.pop(s(1)).expect("a");
        assert_eq!(
            (a.attempts, a.pod["spec"]["priority"].as_i64()),
            (1, Some(3))
        );
    }

    #[test]
    fn errors_and_pending_pods() {
        let mut q = SchedulingQueue::new();
        let err = q.add(json!({"metadata": {}}), s(0));
        assert_eq!(err, Err(QueueError::MissingName));
        q.add(json!({"metadata": {"name": "d"}}), s(0))
            .expect("add");
        q.add(pod("u", None), s(1)).expect("add");
        q.add(pod("x", None), s(2)).expect("add");
        let d = q.pop(s(3)).expect("d");
        assert_eq!(d.key, "default/d");
        q.add(d.pod.clone(), s(3)).expect("re-add while in flight");
        let err = q.add_unschedulable(d, s(3));
        assert_eq!(err, Err(QueueError::AlreadyQueued("default/d".into())));
        fail(&mut q, s(3), s(3));
        q.done("default/d");
        assert_eq!(q.in_flight_len(), 0);
        let (pods, summary) = q.pending_pods();
        let names: Vec<_> = pods.iter().map(|p| p["metadata"]["name"].clone()).collect();
        assert_eq!(names, [json!("x"), json!("d"), json!("u")]);
        assert_eq!(summary, "activeQ:2; backoffQ:0; unschedulablePods:1");
        assert!(q.contains("ns/u") && !q.contains("ns/d"));
    }
}
