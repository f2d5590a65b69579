//! The serviceaccount controller (upstream's `pkg/controller/serviceaccount`
//! `ServiceAccountsController`): every active namespace has a `default` ServiceAccount, created
//! when the namespace appears and again whenever it is deleted.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::ResourceExt;

use crate::common::is_conflict;
use crate::Context;

/// The ServiceAccounts every namespace gets.
pub const MANAGED_NAMES: &[&str] = &["default"];

/// A failed API call.
#[derive(Debug, thiserror::Error)]
#[error("create serviceaccount {namespace}/{name}: {source}")]
pub struct Error {
    namespace: String,
    name: String,
    #[source]
    source: kube::Error,
}

/// Runs the controller until the process ends.
pub async fn run(ctx: Arc<Context>) {
    let namespaces: Api<Namespace> = Api::all(ctx.client.clone());
    let accounts: Api<ServiceAccount> = Api::all(ctx.client.clone());
    Controller::new(namespaces, watcher::Config::default())
        .watches(accounts, watcher::Config::default(), |sa| {
            let managed = MANAGED_NAMES.contains(&sa.name_any().as_str());
            sa.namespace()
                .filter(|_| managed)
                .map(|ns| ObjectRef::<Namespace>::new(&ns))
        })
        .run(sync_namespace, error_policy, ctx)
        .for_each(|_| async {})
        .await;
}

fn error_policy(_ns: Arc<Namespace>, e: &Error, _ctx: Arc<Context>) -> Action {
    tracing::warn!("serviceaccount controller failed to {e:#}");
    Action::requeue(Duration::from_secs(5))
}

/// Whether the namespace takes new objects (upstream skips every phase but Active).
fn is_active(ns: &Namespace) -> bool {
    let phase = ns.status.as_ref().and_then(|s| s.phase.as_deref());
    ns.metadata.deletion_timestamp.is_none() && matches!(phase, None | Some("Active"))
}

/// Creates the managed ServiceAccounts missing from one namespace.
async fn sync_namespace(ns: Arc<Namespace>, ctx: Arc<Context>) -> Result<Action, Error> {
    if !is_active(&ns) {
        return Ok(Action::await_change());
    }
    let name = ns.name_any();
    let api: Api<ServiceAccount> = Api::namespaced(ctx.client.clone(), &name);
    for sa_name in MANAGED_NAMES {
        let err = |source| Error {
            namespace: name.clone(),
            name: sa_name.to_string(),
            source,
        };
        if api.get_opt(sa_name).await.map_err(err)?.is_some() {
            continue;
        }
        let sa = ServiceAccount {
            metadata: ObjectMeta {
                name: Some(sa_name.to_string()),
                ..Default::default()
            },
            ..Default::default()
        };
        match api.create(&PostParams::default(), &sa).await {
            Ok(_) => tracing::debug!("created serviceaccount {name}/{sa_name}"),
            // Someone else created it, or the namespace started terminating meanwhile.
            Err(e) if is_conflict(&e) => {}
            Err(kube::Error::Api(s)) if s.code == 403 && s.message.contains("being terminated") => {
            }
            Err(e) => return Err(err(e)),
        }
    }
    Ok(Action::await_change())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_active_namespaces_get_accounts() {
        let ns = |phase: Option<&str>, deleting: bool| {
            let mut v = serde_json::json!({"metadata": {"name": "x"}});
            if let Some(p) = phase {
                v["status"] = serde_json::json!({"phase": p});
            }
            if deleting {
                v["metadata"]["deletionTimestamp"] = serde_json::json!("2024-01-01T00:00:00Z");
            }
            serde_json::from_value::<Namespace>(v).expect("namespace")
        };
        assert!(is_active(&ns(Some("Active"), false)));
        assert!(is_active(&ns(None, false)));
        assert!(!is_active(&ns(Some("Terminating"), false)));
        assert!(!is_active(&ns(Some("Active"), true)));
    }
}
