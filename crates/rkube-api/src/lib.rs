//! `rkube-api`: what the API server knows about Kubernetes kinds, without any IO.
//!
//! - [`registry`]: every built-in resource (group, version, kind, plural, short names, scope,
//!   verbs, categories, subresources, selectable fields, storage prefix).
//! - [`selectors`]: label and field selectors (parse + match).
//! - [`names`]: DNS-1123 / path-segment name validation with upstream messages.
//! - [`table`]: server-side Table columns and cells per kind, as `kubectl get` prints them.
//! - [`typed`]: typed decoding checks against `k8s-openapi` (wrong JSON types are a 400).
//! - [`fieldcheck`]: `fieldValidation=Strict|Warn|Ignore`: unknown and duplicate fields of
//!   request bodies, with upstream's messages and `Warning` headers.
//! - [`convert`]: conversion between versions that share storage (events, HPA).
//! - [`openapi`]: the OpenAPI v3 documents (`/openapi/v3` index and one document per
//!   group-version), from the registry and `k8s-openapi`'s schemas.
//! - [`smp`]: strategic merge patch, as upstream applies it (merge keys and patch strategies
//!   from the OpenAPI documents).
//! - [`ssa`]: server-side apply and `metadata.managedFields`, as upstream's structured-merge-diff
//!   and field manager compute them (`apply`, `track_update`, conflicts).
//! - [`protobuf`]: `application/vnd.kubernetes.protobuf` request bodies to JSON, driven by a
//!   descriptor table generated from the upstream `.proto` files (`scripts/gen-protobuf.sh`).
//! - [`defaults`]: upstream defaulting of built-in kinds (`apply_defaults`).
//! - [`validation`]: upstream semantic validation (`validate_create`, `validate_update`) with
//!   field errors worded as upstream's.
//!
//! Invariant: no IO, no async, no HTTP. Objects are `serde_json::Value`.

pub mod convert;
pub mod defaults;
pub mod duration;
pub mod fieldcheck;
pub mod names;
pub mod object;
pub mod openapi;
pub mod protobuf;
pub mod quantity;
pub mod registry;
pub mod selectors;
pub mod smp;
pub mod ssa;
pub mod table;
pub mod typed;
pub mod validation;

pub use registry::{ResourceInfo, Subresource};
