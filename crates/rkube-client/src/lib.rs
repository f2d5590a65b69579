//! Building blocks shared by rkube's API clients (scheduler, controllers, node agents):
//!
//! - [`leader`]: leader election over a `coordination.k8s.io/v1` Lease, as client-go's
//!   `leaderelection` package does it, so several `rkube server`s on one etcd run one
//!   scheduler and one controller manager between them;
//! - [`events`]: an event recorder writing `core/v1` Events in client-go's shape (name
//!   `<object>.<hex nanos>`, count, first and last timestamps, source component), aggregating
//!   repeats of the same event into one object with a growing count.
//!
//! Invariant: everything here talks to the cluster only through a `kube::Client`; nothing
//! knows whether that client is in-process or remote.

pub mod events;
pub mod leader;

/// Errors of this crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The API server answered with an error or could not be reached.
    #[error(transparent)]
    Kube(#[from] kube::Error),
}

/// The current time in the RFC 3339 form (second precision) the API uses for `Time` fields.
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The current time with microseconds, for `MicroTime` fields.
pub fn now_micro() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}
