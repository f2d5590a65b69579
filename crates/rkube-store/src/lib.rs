//! `rkube-store`: a revisioned key-value store with etcd v3 semantics.
//!
//! Every write bumps one global revision; a key remembers the revision that created it and the
//! revision that last modified it. The API server uses the revision as `resourceVersion`.
//! Watches deliver every event after a revision, in revision order. History below the
//! compaction floor is gone: reads and watches that need it fail with [`Error::Compacted`].
//!
//! Backends: [`embedded`] (default; one redb file), [`etcd`] (etcd v3 API) and [`memory`]
//! (tests). All three pass the same conformance suite (`tests/conformance.rs`).
//!
//! Invariant: only this crate knows how values are laid out on disk; values are opaque bytes.

use async_trait::async_trait;
use std::sync::Arc;

/// A store revision. Starts at 1 for an empty store (like etcd); every successful write
/// (create, update, delete) increases it by exactly one.
pub type Revision = i64;

/// One key and its current value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyValue {
    pub key: String,
    pub value: Vec<u8>,
    /// Revision of the write that created this key (since it last did not exist).
    pub create_revision: Revision,
    /// Revision of the last write to this key.
    pub mod_revision: Revision,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    Put,
    Delete,
}

/// One change, as delivered by [`Store::watch`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub event_type: EventType,
    /// For `Put`: the new key-value. For `Delete`: the key, with `mod_revision` set to the
    /// revision of the delete and `value` set to the last value before the delete.
    pub kv: KeyValue,
    /// The previous key-value, if any (always present for `Delete`).
    pub prev_kv: Option<KeyValue>,
}

impl Event {
    pub fn revision(&self) -> Revision {
        self.kv.mod_revision
    }
}

/// The answer to [`Store::range`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RangeResult {
    /// Matching key-values in ascending key order, at most `limit` of them (when limit > 0).
    pub kvs: Vec<KeyValue>,
    /// True when more keys match after the last returned one.
    pub more: bool,
    /// The revision the read was served at (the requested one, or the current revision).
    pub revision: Revision,
}

/// Options of a [`Store::range`] call.
#[derive(Clone, Debug, Default)]
pub struct RangeOptions {
    /// Only keys strictly greater than this (for paging with `continue`).
    pub start_after: Option<String>,
    /// 0 = no limit.
    pub limit: usize,
    /// Read at this revision instead of the current one. Below the compaction floor this fails
    /// with [`Error::Compacted`]; above the current revision it fails with
    /// [`Error::FutureRevision`].
    pub revision: Option<Revision>,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("key {0} already exists")]
    AlreadyExists(String),
    #[error("key {0} not found")]
    NotFound(String),
    /// CAS failed: the key's mod revision is not the expected one. Carries the current value
    /// (None when the key no longer exists).
    #[error("key {key} was modified (expected revision {expected})")]
    Conflict {
        key: String,
        expected: Revision,
        current: Option<KeyValue>,
    },
    /// The requested revision was compacted away.
    #[error("required revision {requested} has been compacted (floor {compacted})")]
    Compacted {
        requested: Revision,
        compacted: Revision,
    },
    #[error("required revision {requested} is a future revision (current {current})")]
    FutureRevision {
        requested: Revision,
        current: Revision,
    },
    #[error("store is closed")]
    Closed,
    #[error("backend: {0}")]
    Backend(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A stream of watch events. Ends (returns None) when the store closes; an `Err` item
/// (e.g. [`Error::Compacted`] when a slow watcher fell behind the floor) is the last item.
pub type WatchStream = tokio::sync::mpsc::Receiver<Result<Event>>;

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Current value of one key.
    async fn get(&self, key: &str) -> Result<Option<KeyValue>>;

    /// Keys starting with `prefix`, in ascending order, honouring `opts`.
    async fn range(&self, prefix: &str, opts: RangeOptions) -> Result<RangeResult>;

    /// Create `key`; fails with [`Error::AlreadyExists`] if it exists. Returns the new key-value.
    async fn create(&self, key: &str, value: Vec<u8>) -> Result<KeyValue>;

    /// Compare-and-swap: write `value` only if the key's mod revision is `expected`.
    /// [`Error::NotFound`] if the key does not exist, [`Error::Conflict`] if it changed.
    async fn update(&self, key: &str, value: Vec<u8>, expected: Revision) -> Result<KeyValue>;

    /// Delete `key`, only if its mod revision is `expected` when given. Returns the deleted
    /// key-value, with `mod_revision` set to the revision of the delete.
    async fn delete(&self, key: &str, expected: Option<Revision>) -> Result<KeyValue>;

    /// Every event on keys starting with `prefix` with revision > `after`, in order, then live
    /// events as they happen. `after` below the compaction floor fails with [`Error::Compacted`].
    async fn watch(&self, prefix: &str, after: Revision) -> Result<WatchStream>;

    /// The current revision (the revision of the last write, or 1 for an empty store).
    async fn current_revision(&self) -> Result<Revision>;

    /// Drop history at and below `revision`; the floor becomes `revision`.
    async fn compact(&self, revision: Revision) -> Result<()>;

    /// The compaction floor: reads at revisions below it fail.
    async fn compacted_revision(&self) -> Result<Revision>;
}

pub type DynStore = Arc<dyn Store>;

mod codec;
pub mod embedded;
pub mod etcd;
mod history;
mod hub;
pub mod memory;
pub mod testing;

pub use embedded::{EmbeddedConfig, EmbeddedStore};
pub use etcd::EtcdStore;
pub use memory::MemoryStore;
