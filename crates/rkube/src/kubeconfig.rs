//! The admin kubeconfig written once the API answers.

use crate::pki::Pki;
use base64::Engine;
use serde_json::json;

/// A kubeconfig whose cluster, user and context are all named `rkube`.
pub fn admin(server_url: &str, pki: &Pki) -> String {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s.as_bytes());
    let cfg = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "rkube", "cluster": {"server": server_url, "certificate-authority-data": b64(&pki.ca_cert)}}],
        "users": [{"name": "rkube", "user": {"client-certificate-data": b64(&pki.admin_cert), "client-key-data": b64(&pki.admin_key)}}],
        "contexts": [{"name": "rkube", "context": {"cluster": "rkube", "user": "rkube", "namespace": "default"}}],
        "current-context": "rkube",
        "preferences": {},
    });
    serde_yaml::to_string(&cfg).unwrap_or_default()
}
