//! Label and field selectors, parsed and matched as upstream Kubernetes does.
//!
//! - [`LabelSelector`]: the `labelSelector` query syntax (`k=v`, `k!=v`, `k in (a,b)`,
//!   `k notin (a,b)`, `k`, `!k`, `k>n`, `k<n`) and `metav1.LabelSelector` objects
//!   (`matchLabels`, `matchExpressions`), with upstream's key and value validation.
//! - [`FieldSelector`]: the `fieldSelector` query syntax (`f=v`, `f==v`, `f!=v`, with `\`
//!   escapes) and [`field_value`], which reads a selectable field of an object of a given
//!   resource and rejects the fields upstream rejects for that kind.
//!
//! Every error's `Display` is the message upstream returns, so the API server can put it in a
//! `metav1.Status` as is (upstream wraps field-label errors in
//! `Unable to find "<resource>" that match label selector ..., field selector ...: <message>`;
//! that wrapping belongs to the API server).

mod fields;
mod labels;

pub use fields::{escape_value, field_value, FieldOperator, FieldRequirement, FieldSelector};
pub use labels::{LabelSelector, Operator, Requirement};

/// A selector that does not parse, or names something the resource does not support.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectorError {
    /// A label selector string or `metav1.LabelSelector` that is malformed or names an
    /// invalid key or value (e.g. `unable to parse requirement: found 'b' expected: '('`).
    #[error("{0}")]
    InvalidLabelSelector(String),
    /// A field selector string that does not parse
    /// (e.g. `invalid selector: 'a'; can't understand 'a'`).
    #[error("{0}")]
    InvalidFieldSelector(String),
    /// A field the resource does not support in field selectors; `message` is upstream's
    /// (e.g. `field label not supported: spec.foo`).
    #[error("{message}")]
    UnsupportedField { field: String, message: String },
}
