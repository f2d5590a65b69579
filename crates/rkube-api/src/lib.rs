//! `rkube-api`: what the API server knows about Kubernetes kinds, without any IO.
//!
//! - [`registry`]: every built-in resource (group, version, kind, plural, short names, scope,
//!   verbs, categories, subresources, selectable fields, storage prefix).
//! - [`selectors`]: label and field selectors (parse + match).
//! - [`names`]: DNS-1123 / path-segment name validation with upstream messages.
//! - [`table`]: server-side Table columns and cells per kind, as `kubectl get` prints them.
//! - [`convert`]: conversion between versions that share storage (events, HPA).
//!
//! Invariant: no IO, no async, no HTTP. Objects are `serde_json::Value`.

pub mod convert;
pub mod names;
pub mod object;
pub mod registry;
pub mod selectors;
pub mod table;

pub use registry::{ResourceInfo, Subresource};
