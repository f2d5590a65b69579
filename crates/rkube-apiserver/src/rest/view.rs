//! Serialising stored objects for clients without copying them: a [`View`] writes the cached
//! `Arc<Value>` with the endpoint's apiVersion/kind and the revision as resourceVersion, so a
//! LIST of 10k objects does not deep-copy 10k objects first.

use super::for_client;
use rkube_api::ResourceInfo;
use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
use serde_json::Value;
use std::sync::Arc;

/// An object in storage form with its revision.
#[derive(Clone, Debug)]
pub struct Item {
    pub value: Arc<Value>,
    pub rev: i64,
}

impl Item {
    /// A copy in the client's form.
    pub fn client(&self, info: &ResourceInfo) -> Value {
        for_client(info, &self.value, self.rev)
    }
}

/// `item` as the client sees it through `info`'s endpoint.
pub struct View<'a> {
    pub info: &'static ResourceInfo,
    pub item: &'a Item,
}

struct MetaView<'a> {
    meta: &'a serde_json::Map<String, Value>,
    rev: i64,
}

impl Serialize for MetaView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        for (k, v) in self.meta {
            if k != "resourceVersion" {
                m.serialize_entry(k, v)?;
            }
        }
        m.serialize_entry("resourceVersion", &self.rev.to_string())?;
        m.end()
    }
}

impl Serialize for View<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let obj = match self.item.value.as_object() {
            Some(o) if !rkube_api::convert::needs_conversion(self.info) => o,
            _ => return self.item.client(self.info).serialize(s),
        };
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("apiVersion", &self.info.api_version())?;
        m.serialize_entry("kind", self.info.kind)?;
        let empty = serde_json::Map::new();
        let meta = obj
            .get("metadata")
            .and_then(|v| v.as_object())
            .unwrap_or(&empty);
        m.serialize_entry(
            "metadata",
            &MetaView {
                meta,
                rev: self.item.rev,
            },
        )?;
        for (k, v) in obj {
            if !matches!(k.as_str(), "apiVersion" | "kind" | "metadata") {
                m.serialize_entry(k, v)?;
            }
        }
        m.end()
    }
}

/// A list body (`<Kind>List`) over views.
pub struct ListView<'a> {
    pub info: &'static ResourceInfo,
    pub metadata: Value,
    pub items: &'a [Item],
}

impl Serialize for ListView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        struct Items<'b>(&'static ResourceInfo, &'b [Item]);
        impl Serialize for Items<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_seq(self.1.iter().map(|item| View { info: self.0, item }))
            }
        }
        let mut m = s.serialize_map(Some(4))?;
        m.serialize_entry("kind", &self.info.list_kind())?;
        m.serialize_entry("apiVersion", &self.info.api_version())?;
        m.serialize_entry("metadata", &self.metadata)?;
        m.serialize_entry("items", &Items(self.info, self.items))?;
        m.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn view_matches_for_client() {
        let cm = rkube_api::registry::lookup("", "v1", "configmaps").unwrap();
        let ev = rkube_api::registry::lookup("events.k8s.io", "v1", "events").unwrap();
        let cases = [
            (
                cm,
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "resourceVersion": "1"}, "data": {"k": "v"}}),
            ),
            (cm, json!({"data": {}})),
            (
                ev,
                json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e"}, "involvedObject": {"name": "p"}, "message": "m"}),
            ),
        ];
        for (info, v) in cases {
            let item = Item {
                value: Arc::new(v),
                rev: 42,
            };
            let via_view: Value = serde_json::to_value(View { info, item: &item }).unwrap();
            assert_eq!(via_view, item.client(info));
            assert_eq!(via_view["metadata"]["resourceVersion"], "42");
        }
    }
}
