//! The pod-failure back-off of a Job (upstream's `backoffStore`): how many pods failed since
//! the last success and when the latest did, so that replacements wait `base * 2^(n-1)`
//! (capped) after the last failure.

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;

/// The back-off state of one Job.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BackoffRecord {
    /// Failed pods since the last succeeded one.
    pub failures_after_last_success: u32,
    /// When the latest of those failed.
    pub last_failure_time: Option<Timestamp>,
}

impl BackoffRecord {
    /// The record after observing newly finished pods (not yet counted in the Job status).
    /// `now` stands in for pods whose finish time cannot be told.
    pub fn observe(
        &self,
        new_succeeded: &[&Pod],
        new_failed: &[&Pod],
        now: Timestamp,
    ) -> BackoffRecord {
        let mut failed: Vec<Timestamp> = new_failed.iter().map(|p| finish_time(p, now)).collect();
        failed.sort();
        let last_success = new_succeeded.iter().map(|p| finish_time(p, now)).max();
        match last_success {
            None => {
                let Some(last) = failed.last() else {
                    return self.clone();
                };
                BackoffRecord {
                    failures_after_last_success: self.failures_after_last_success
                        + failed.len() as u32,
                    last_failure_time: Some(*last),
                }
            }
            Some(success) => {
                let after: Vec<&Timestamp> = failed.iter().filter(|t| **t > success).collect();
                BackoffRecord {
                    failures_after_last_success: after.len() as u32,
                    last_failure_time: after.last().map(|t| **t),
                }
            }
        }
    }

    /// How long pod creation must still wait at `now`.
    pub fn remaining(&self, now: Timestamp, base: Duration, max: Duration) -> Duration {
        let Some(last) = self.last_failure_time else {
            return Duration::ZERO;
        };
        if self.failures_after_last_success == 0 {
            return Duration::ZERO;
        }
        let mut delay = base;
        for _ in 1..self.failures_after_last_success {
            delay = delay.saturating_mul(2);
            if delay >= max {
                delay = max;
                break;
            }
        }
        let delay = delay.min(max);
        let elapsed = now.duration_since(last);
        let elapsed = Duration::try_from(elapsed).unwrap_or(Duration::ZERO);
        delay.saturating_sub(elapsed)
    }
}

/// When a pod finished: the latest container termination, else when Ready turned False, else
/// its deletion timestamp, else `fallback`.
pub fn finish_time(pod: &Pod, fallback: Timestamp) -> Timestamp {
    let status = pod.status.as_ref();
    let terminated = status
        .into_iter()
        .flat_map(|s| {
            s.container_statuses
                .iter()
                .flatten()
                .chain(s.init_container_statuses.iter().flatten())
        })
        .filter_map(|c| c.state.as_ref()?.terminated.as_ref()?.finished_at.as_ref())
        .map(|t| t.0)
        .max();
    if let Some(t) = terminated {
        return t;
    }
    let ready_false = status
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| {
            cs.iter()
                .find(|c| c.type_ == "Ready" && c.status == "False")
        })
        .and_then(|c| c.last_transition_time.as_ref())
        .map(|t| t.0);
    if let Some(t) = ready_false {
        return t;
    }
    pod.metadata
        .deletion_timestamp
        .as_ref()
        .map(|t| t.0)
        .unwrap_or(fallback)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + s).unwrap()
    }

    fn pod_deleted_at(s: i64) -> Pod {
        let mut p = Pod::default();
        p.metadata.deletion_timestamp =
            Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(at(s)));
        p
    }

    #[test]
    fn exponential_delay_capped() {
        let base = Duration::from_secs(10);
        let max = Duration::from_secs(600);
        let cases = [(1, 10), (2, 20), (3, 40), (6, 320), (7, 600), (30, 600)];
        for (failures, want) in cases {
            let r = BackoffRecord {
                failures_after_last_success: failures,
                last_failure_time: Some(at(0)),
            };
            assert_eq!(
                r.remaining(at(0), base, max),
                Duration::from_secs(want),
                "{failures}"
            );
        }
        let r = BackoffRecord {
            failures_after_last_success: 2,
            last_failure_time: Some(at(0)),
        };
        assert_eq!(r.remaining(at(15), base, max), Duration::from_secs(5));
        assert_eq!(r.remaining(at(25), base, max), Duration::ZERO);
        assert_eq!(
            BackoffRecord::default().remaining(at(0), base, max),
            Duration::ZERO
        );
    }

    #[test]
    fn success_resets_failures() {
        let f1 = pod_deleted_at(1);
        let f2 = pod_deleted_at(2);
        let s3 = pod_deleted_at(3);
        let f4 = pod_deleted_at(4);
        let r = BackoffRecord::default().observe(&[], &[&f1, &f2], at(9));
        assert_eq!(r.failures_after_last_success, 2);
        assert_eq!(r.last_failure_time, Some(at(2)));
        let r = r.observe(&[&s3], &[&f4], at(9));
        assert_eq!(r.failures_after_last_success, 1);
        assert_eq!(r.last_failure_time, Some(at(4)));
        let r = r.observe(&[&s3], &[], at(9));
        assert_eq!(r, BackoffRecord::default());
    }
}
