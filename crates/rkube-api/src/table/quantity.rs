//! Canonical form of resource quantities (`resource.Quantity.String()`), used by the printers
//! of PersistentVolumes, claims, quotas, HPAs and CSI capacities.
//!
//! The arithmetic is `crate::quantity`; this module only adapts JSON values and upstream's
//! printing of missing and pointer quantities.

use serde_json::Value;

/// `Quantity.String()` of a JSON quantity (a string such as `"10Gi"`, or a bare number);
/// `"0"` when missing (upstream's zero quantity).
pub(super) fn quantity(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => canonical(s),
        Some(Value::Number(n)) => canonical(&n.to_string()),
        _ => "0".to_string(),
    }
}

/// `(*Quantity).String()` of an optional pointer field: `<nil>` when missing.
pub(super) fn quantity_ptr(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => "<nil>".to_string(),
        some => quantity(some),
    }
}

/// The canonical form of a quantity string; the input unchanged when it cannot be parsed.
pub(super) fn canonical(s: &str) -> String {
    crate::quantity::Quantity::parse(s)
        .map(|q| q.canonical())
        .unwrap_or_else(|| s.to_string())
}
