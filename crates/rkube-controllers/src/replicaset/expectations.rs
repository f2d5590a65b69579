//! Upstream's `ControllerExpectations` (UID-tracking variant for deletions): after a sync
//! creates or deletes pods, the controller's key waits until its watch has seen those
//! changes (or five minutes pass) before it computes another diff, so a sync on a stale cache
//! never creates or deletes twice.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long unobserved expectations hold a controller back (upstream's `ExpectationsTimeout`).
pub(crate) const EXPECTATIONS_TIMEOUT: Duration = Duration::from_secs(5 * 60);

struct Expectation {
    adds: i64,
    deletes: HashSet<String>,
    since: Instant,
}

/// Pending creations and deletions per controller key.
#[derive(Default)]
pub(crate) struct Expectations {
    inner: Mutex<HashMap<String, Expectation>>,
}

impl Expectations {
    /// Whether `key` may sync: nothing pending, or what is pending timed out.
    pub(crate) fn satisfied(&self, key: &str) -> bool {
        let Ok(m) = self.inner.lock() else {
            return true;
        };
        match m.get(key) {
            None => true,
            Some(e) => {
                (e.adds <= 0 && e.deletes.is_empty()) || e.since.elapsed() > EXPECTATIONS_TIMEOUT
            }
        }
    }

    /// Records that `key` is about to create `n` pods.
    pub(crate) fn expect_creations(&self, key: &str, n: usize) {
        self.set(key, n as i64, HashSet::new());
    }

    /// Records that `key` is about to delete the pods with these `namespace/name` keys.
    pub(crate) fn expect_deletions(&self, key: &str, pods: HashSet<String>) {
        self.set(key, 0, pods);
    }

    fn set(&self, key: &str, adds: i64, deletes: HashSet<String>) {
        if let Ok(mut m) = self.inner.lock() {
            m.insert(
                key.to_string(),
                Expectation {
                    adds,
                    deletes,
                    since: Instant::now(),
                },
            );
        }
    }

    /// A pod of `key` appeared (or a create failed, so it never will).
    pub(crate) fn creation_observed(&self, key: &str) {
        if let Ok(mut m) = self.inner.lock() {
            if let Some(e) = m.get_mut(key) {
                e.adds -= 1;
            }
        }
    }

    /// The pod `pod_key` of `key` is gone or terminating (or its delete failed).
    pub(crate) fn deletion_observed(&self, key: &str, pod_key: &str) {
        if let Ok(mut m) = self.inner.lock() {
            if let Some(e) = m.get_mut(key) {
                e.deletes.remove(pod_key);
            }
        }
    }

    /// Forgets `key` (its controller is gone).
    pub(crate) fn delete(&self, key: &str) {
        if let Ok(mut m) = self.inner.lock() {
            m.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creations_and_deletions_must_be_observed() {
        let e = Expectations::default();
        assert!(e.satisfied("ns/rs"));
        e.expect_creations("ns/rs", 2);
        assert!(!e.satisfied("ns/rs"));
        e.creation_observed("ns/rs");
        assert!(!e.satisfied("ns/rs"));
        e.creation_observed("ns/rs");
        assert!(e.satisfied("ns/rs"));
        e.expect_deletions("ns/rs", ["ns/a".to_string(), "ns/b".to_string()].into());
        e.deletion_observed("ns/rs", "ns/a");
        e.deletion_observed("ns/rs", "ns/zzz");
        assert!(!e.satisfied("ns/rs"));
        e.deletion_observed("ns/rs", "ns/b");
        assert!(e.satisfied("ns/rs"));
        e.expect_creations("ns/rs", 1);
        e.delete("ns/rs");
        assert!(e.satisfied("ns/rs"));
    }
}
