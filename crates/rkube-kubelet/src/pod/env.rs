//! A container's environment: `envFrom` (ConfigMaps and Secrets, with prefix and optional),
//! then `env` with literal values (`$(VAR)` expanded against what came before) and
//! `valueFrom` (fieldRef, resourceFieldRef, configMapKeyRef, secretKeyRef); and `$(VAR)`
//! expansion of command and args. A missing reference is a `CreateContainerConfigError`
//! with upstream's message.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, Pod};

/// Reads ConfigMaps and Secrets (the API in production, a map in tests).
#[async_trait::async_trait]
pub trait ObjectSource: Send + Sync {
    /// The data of a ConfigMap (None when it does not exist).
    async fn config_map(
        &self,
        ns: &str,
        name: &str,
    ) -> Result<Option<BTreeMap<String, String>>, String>;
    /// The decoded data of a Secret (None when it does not exist).
    async fn secret(
        &self,
        ns: &str,
        name: &str,
    ) -> Result<Option<BTreeMap<String, String>>, String>;
}

/// Whatever serves volumes serves env too (see [`super::volumes::VolumeSource`]); values are
/// text here.
#[async_trait::async_trait]
impl<T: super::volumes::VolumeSource> ObjectSource for T {
    async fn config_map(
        &self,
        ns: &str,
        name: &str,
    ) -> Result<Option<BTreeMap<String, String>>, String> {
        super::volumes::VolumeSource::config_map(self, ns, name)
            .await
            .map(|d| d.map(text))
    }

    async fn secret(
        &self,
        ns: &str,
        name: &str,
    ) -> Result<Option<BTreeMap<String, String>>, String> {
        super::volumes::VolumeSource::secret(self, ns, name)
            .await
            .map(|d| d.map(text))
    }
}

fn text(data: BTreeMap<String, Vec<u8>>) -> BTreeMap<String, String> {
    data.into_iter()
        .map(|(k, v)| (k, String::from_utf8_lossy(&v).into_owned()))
        .collect()
}

/// Expands `$(VAR)` references with upstream's rules: `$$` is an escaped `$`, unknown
/// references stay as written.
pub fn expand(input: &str, vars: &BTreeMap<String, String>) -> String {
    let mut out = String::with_capacity(input.len());
    let bytes: Vec<char> = input.chars().collect();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == '$' && i + 1 < bytes.len() {
            match bytes[i + 1] {
                '$' => {
                    out.push('$');
                    i += 2;
                    continue;
                }
                '(' => {
                    if let Some(end) = bytes[i + 2..].iter().position(|c| *c == ')') {
                        let name: String = bytes[i + 2..i + 2 + end].iter().collect();
                        match vars.get(&name) {
                            Some(v) => out.push_str(v),
                            None => {
                                out.push_str("$(");
                                out.push_str(&name);
                                out.push(')');
                            }
                        }
                        i += 3 + end;
                        continue;
                    }
                }
                _ => {}
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

/// The value of a `fieldRef` path.
pub(crate) fn field_value(
    pod: &Pod,
    path: &str,
    pod_ip: &str,
    host_ip: &str,
) -> Result<String, String> {
    let meta = &pod.metadata;
    let spec = pod.spec.clone().unwrap_or_default();
    let item = |prefix: &str, map: &Option<BTreeMap<String, String>>| -> Option<String> {
        let key = path.strip_prefix(prefix)?.strip_suffix("']")?;
        Some(
            map.as_ref()
                .and_then(|m| m.get(key).cloned())
                .unwrap_or_default(),
        )
    };
    if let Some(v) = item("metadata.labels['", &meta.labels) {
        return Ok(v);
    }
    if let Some(v) = item("metadata.annotations['", &meta.annotations) {
        return Ok(v);
    }
    Ok(match path {
        "metadata.name" => meta.name.clone().unwrap_or_default(),
        "metadata.namespace" => meta.namespace.clone().unwrap_or_default(),
        "metadata.uid" => meta.uid.clone().unwrap_or_default(),
        "spec.nodeName" => spec.node_name.unwrap_or_default(),
        "spec.serviceAccountName" => spec.service_account_name.unwrap_or_default(),
        "status.podIP" | "status.podIPs" => pod_ip.to_string(),
        "status.hostIP" | "status.hostIPs" => host_ip.to_string(),
        other => return Err(format!("unsupported fieldRef path {other:?}")),
    })
}

pub(crate) fn resource_value(c: &Container, resource: &str, divisor: Option<&str>) -> String {
    let r = c.resources.clone().unwrap_or_default();
    let (map, key) = match resource.split_once('.') {
        Some(("limits", k)) => (r.limits, k),
        Some(("requests", k)) => (r.requests, k),
        _ => (None, resource),
    };
    let raw = map.and_then(|m| m.get(key).map(|q| q.0.clone()));
    let Some(raw) = raw else {
        // Unset limits fall back to the node's allocatable; report the node's CPU count.
        return match key {
            "cpu" => std::thread::available_parallelism()
                .map(|n| n.get().to_string())
                .unwrap_or_else(|_| "1".into()),
            _ => "0".into(),
        };
    };
    use rkube_api::quantity::Quantity;
    let (Some(v), Some(d)) = (
        Quantity::parse(&raw),
        Quantity::parse(divisor.unwrap_or("1")),
    ) else {
        return raw;
    };
    if d.nanos <= 0 {
        return raw;
    }
    // Rounded up, as upstream does.
    let q = v.nanos / d.nanos + i128::from(v.nanos % d.nanos > 0);
    q.to_string()
}

/// The environment of container `c`, or the `CreateContainerConfigError` message.
pub async fn container_env(
    src: &dyn ObjectSource,
    pod: &Pod,
    c: &Container,
    pod_ip: &str,
    host_ip: &str,
) -> Result<Vec<(String, String)>, String> {
    let ns = pod
        .metadata
        .namespace
        .clone()
        .unwrap_or_else(|| "default".into());
    let mut vars: BTreeMap<String, String> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    let mut set = |vars: &mut BTreeMap<String, String>, k: String, v: String| {
        if !vars.contains_key(&k) {
            order.push(k.clone());
        }
        vars.insert(k, v);
    };
    for from in c.env_from.iter().flatten() {
        let prefix = from.prefix.clone().unwrap_or_default();
        if let Some(r) = &from.config_map_ref {
            match src.config_map(&ns, &r.name).await? {
                Some(data) => {
                    for (k, v) in data {
                        set(&mut vars, format!("{prefix}{k}"), v);
                    }
                }
                None if r.optional == Some(true) => {}
                None => return Err(format!("configmap \"{}\" not found", r.name)),
            }
        }
        if let Some(r) = &from.secret_ref {
            match src.secret(&ns, &r.name).await? {
                Some(data) => {
                    for (k, v) in data {
                        set(&mut vars, format!("{prefix}{k}"), v);
                    }
                }
                None if r.optional == Some(true) => {}
                None => return Err(format!("secret \"{}\" not found", r.name)),
            }
        }
    }
    for e in c.env.iter().flatten() {
        let value = match &e.value_from {
            None => expand(e.value.as_deref().unwrap_or_default(), &vars),
            Some(from) => {
                if let Some(f) = &from.field_ref {
                    field_value(pod, &f.field_path, pod_ip, host_ip)?
                } else if let Some(r) = &from.resource_field_ref {
                    let target = match r.container_name.as_deref().filter(|n| !n.is_empty()) {
                        Some(n) => pod
                            .spec
                            .as_ref()
                            .and_then(|s| s.containers.iter().find(|c| c.name == n))
                            .cloned()
                            .unwrap_or_else(|| c.clone()),
                        None => c.clone(),
                    };
                    resource_value(
                        &target,
                        &r.resource,
                        r.divisor.as_ref().map(|d| d.0.as_str()),
                    )
                } else if let Some(r) = &from.config_map_key_ref {
                    match src.config_map(&ns, &r.name).await? {
                        Some(data) => match data.get(&r.key) {
                            Some(v) => v.clone(),
                            None if r.optional == Some(true) => continue,
                            None => {
                                return Err(format!(
                                    "couldn't find key {} in ConfigMap {ns}/{}",
                                    r.key, r.name
                                ))
                            }
                        },
                        None if r.optional == Some(true) => continue,
                        None => return Err(format!("configmap \"{}\" not found", r.name)),
                    }
                } else if let Some(r) = &from.secret_key_ref {
                    match src.secret(&ns, &r.name).await? {
                        Some(data) => match data.get(&r.key) {
                            Some(v) => v.clone(),
                            None if r.optional == Some(true) => continue,
                            None => {
                                return Err(format!(
                                    "couldn't find key {} in Secret {ns}/{}",
                                    r.key, r.name
                                ))
                            }
                        },
                        None if r.optional == Some(true) => continue,
                        None => return Err(format!("secret \"{}\" not found", r.name)),
                    }
                } else {
                    String::new()
                }
            }
        };
        set(&mut vars, e.name.clone(), value);
    }
    Ok(order
        .into_iter()
        .map(|k| {
            let v = vars.get(&k).cloned().unwrap_or_default();
            (k, v)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    struct Fake(BTreeMap<String, BTreeMap<String, String>>);

    #[async_trait::async_trait]
    impl ObjectSource for Fake {
        async fn config_map(
            &self,
            _: &str,
            name: &str,
        ) -> Result<Option<BTreeMap<String, String>>, String> {
            Ok(self.0.get(&format!("cm/{name}")).cloned())
        }
        async fn secret(
            &self,
            _: &str,
            name: &str,
        ) -> Result<Option<BTreeMap<String, String>>, String> {
            Ok(self.0.get(&format!("secret/{name}")).cloned())
        }
    }

    #[test]
    fn expansion() {
        let vars: BTreeMap<String, String> = [("A".to_string(), "1".to_string())].into();
        for (input, want) in [
            ("$(A)", "1"),
            ("x$(A)y", "x1y"),
            ("$$(A)", "$(A)"),
            ("$(B)", "$(B)"),
            ("$(A", "$(A"),
            ("$", "$"),
        ] {
            assert_eq!(expand(input, &vars), want, "{input}");
        }
    }

    #[tokio::test]
    async fn env_sources_and_errors() {
        let src = Fake(
            [
                (
                    "cm/app".to_string(),
                    [("COLOR".to_string(), "blue".to_string())].into(),
                ),
                (
                    "secret/db".to_string(),
                    [("PASS".to_string(), "s3cret".to_string())].into(),
                ),
            ]
            .into(),
        );
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": "p", "namespace": "ns1", "labels": {"app": "web"}},
            "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "busybox",
                "envFrom": [{"configMapRef": {"name": "app"}, "prefix": "CM_"}],
                "env": [
                    {"name": "X", "value": "v-$(CM_COLOR)"},
                    {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                    {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
                    {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                    {"name": "PASS", "valueFrom": {"secretKeyRef": {"name": "db", "key": "PASS"}}},
                    {"name": "C", "valueFrom": {"configMapKeyRef": {"name": "app", "key": "COLOR"}}},
                ]}]},
        }))
        .unwrap();
        let c = pod.spec.as_ref().unwrap().containers[0].clone();
        let env = container_env(&src, &pod, &c, "10.42.0.9", "192.0.2.2")
            .await
            .unwrap();
        let m: BTreeMap<_, _> = env.into_iter().collect();
        assert_eq!(m["CM_COLOR"], "blue");
        assert_eq!(m["X"], "v-blue");
        assert_eq!(m["POD"], "p");
        assert_eq!(m["APP"], "web");
        assert_eq!(m["IP"], "10.42.0.9");
        assert_eq!(m["PASS"], "s3cret");
        assert_eq!(m["C"], "blue");

        let mut bad = c.clone();
        bad.env = Some(vec![serde_json::from_value(json!(
            {"name": "Y", "valueFrom": {"configMapKeyRef": {"name": "app", "key": "NOPE"}}}))
        .unwrap()]);
        assert_eq!(
            container_env(&src, &pod, &bad, "", "").await.unwrap_err(),
            "couldn't find key NOPE in ConfigMap ns1/app"
        );
        bad.env = Some(vec![serde_json::from_value(json!(
            {"name": "Y", "valueFrom": {"secretKeyRef": {"name": "gone", "key": "k"}}}))
        .unwrap()]);
        assert_eq!(
            container_env(&src, &pod, &bad, "", "").await.unwrap_err(),
            "secret \"gone\" not found"
        );
    }
}
