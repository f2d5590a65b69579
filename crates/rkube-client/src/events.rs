//! An event recorder in client-go's style: `core/v1` Events named `<object>.<hex nanos>`,
//! with `source.component`, `count`, `firstTimestamp` and `lastTimestamp`. A repeat of the
//! same (object, type, reason, message) within the cache bumps the count of the existing
//! Event instead of creating another, as client-go's correlator does. Recording never blocks
//! the caller and never fails it: errors are logged.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::{json, Value};

/// The object an event is about (`involvedObject`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjectRef {
    pub api_version: String,
    pub kind: String,
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub resource_version: String,
}

impl ObjectRef {
    /// The reference of an object given as JSON (with `apiVersion` and `kind`, or `kind`
    /// and `api_version` supplied when the object lacks them).
    pub fn from_json(obj: &Value, api_version: &str, kind: &str) -> ObjectRef {
        let m = &obj["metadata"];
        let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
        ObjectRef {
            api_version: obj["apiVersion"]
                .as_str()
                .unwrap_or(api_version)
                .to_string(),
            kind: obj["kind"].as_str().unwrap_or(kind).to_string(),
            namespace: s(&m["namespace"]),
            name: s(&m["name"]),
            uid: s(&m["uid"]),
            resource_version: s(&m["resourceVersion"]),
        }
    }
}

/// `Normal` or `Warning`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Normal,
    Warning,
}

impl EventType {
    fn as_str(self) -> &'static str {
        match self {
            EventType::Normal => "Normal",
            EventType::Warning => "Warning",
        }
    }
}

type Key = (String, &'static str, String, String);
/// Event name, first timestamp and count of an event already written.
type Seen = (String, String, i64);

/// Records events for one component (e.g. `default-scheduler`); cheap to clone.
#[derive(Clone)]
pub struct Recorder {
    client: kube::Client,
    component: String,
    host: String,
    seen: Arc<Mutex<HashMap<Key, Seen>>>,
}

const CACHE_LIMIT: usize = 4096;

impl Recorder {
    /// A recorder whose events name `component` (and `host`, if not empty) as their source.
    pub fn new(client: kube::Client, component: &str, host: &str) -> Recorder {
        Recorder {
            client,
            component: component.to_string(),
            host: host.to_string(),
            seen: Arc::default(),
        }
    }

    /// Records an event in the background.
    pub fn record(&self, obj: &ObjectRef, ty: EventType, reason: &str, message: &str) {
        let this = self.clone();
        let obj = obj.clone();
        let reason = reason.to_string();
        let message = message.to_string();
        tokio::spawn(async move {
            if let Err(e) = this.write(&obj, ty, &reason, &message).await {
                tracing::debug!(reason, object = %obj.name, "failed to record event: {e:#}");
            }
        });
    }

    /// Records an event and waits for it to be written.
    pub async fn write(
        &self,
        obj: &ObjectRef,
        ty: EventType,
        reason: &str,
        message: &str,
    ) -> Result<(), kube::Error> {
        let ns = if obj.namespace.is_empty() {
            "default"
        } else {
            &obj.namespace
        };
        let api: Api<k8s_openapi::api::core::v1::Event> = Api::namespaced(self.client.clone(), ns);
        let key: Key = (
            obj.uid.clone(),
            ty.as_str(),
            reason.to_string(),
            message.to_string(),
        );
        let now = crate::now_rfc3339();
        let previous = self.seen.lock().ok().and_then(|m| m.get(&key).cloned());
        if let Some((name, first, count)) = previous {
            let patch = json!({"count": count + 1, "lastTimestamp": now});
            match api
                .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                Ok(_) => {
                    if let Ok(mut m) = self.seen.lock() {
                        m.insert(key, (name, first, count + 1));
                    }
                    return Ok(());
                }
                Err(kube::Error::Api(s)) if s.code == 404 => {}
                Err(e) => return Err(e),
            }
        }
        let nanos = chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default();
        let name = format!("{}.{:x}", obj.name, nanos);
        let mut source = json!({"component": self.component});
        if !self.host.is_empty() {
            source["host"] = json!(self.host);
        }
        let mut involved = json!({
            "apiVersion": obj.api_version,
            "kind": obj.kind,
            "name": obj.name,
            "uid": obj.uid,
        });
        if !obj.namespace.is_empty() {
            involved["namespace"] = json!(obj.namespace);
        }
        if !obj.resource_version.is_empty() {
            involved["resourceVersion"] = json!(obj.resource_version);
        }
        let ev = json!({
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": name, "namespace": ns},
            "involvedObject": involved,
            "reason": reason,
            "message": message,
            "type": ty.as_str(),
            "source": source,
            "count": 1,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "reportingComponent": self.component,
            "reportingInstance": self.host,
        });
        let ev = serde_json::from_value(ev).map_err(kube::Error::SerdeError)?;
        api.create(&PostParams::default(), &ev).await?;
        if let Ok(mut m) = self.seen.lock() {
            if m.len() >= CACHE_LIMIT {
                m.clear();
            }
            m.insert(key, (name, now, 1));
        }
        Ok(())
    }
}
