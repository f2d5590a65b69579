//! Private registries: k3s-style `registries.yaml` (`--registry-config`) turned into
//! containerd's registry configuration, and `imagePullSecrets` turned into CRI pull
//! credentials.
//!
//! `registries.yaml` has `mirrors` (registry → endpoints, tried in order, then the registry
//! itself) and `configs` (endpoint host → `auth` and `tls`). Mirrors and TLS settings become
//! one `hosts.toml` per registry under `DATA/agent/containerd/certs.d/` (containerd's
//! `config_path`); credentials become `registry.configs."<host>".auth` entries in its
//! config. An `http://` endpoint is a plain-HTTP registry.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use base64::Engine;
use k8s_cri::v1 as cri;
use serde::Deserialize;

use crate::error::{Error, Result};

#[derive(Debug, Default, Deserialize)]
pub struct Registries {
    #[serde(default)]
    pub mirrors: BTreeMap<String, Mirror>,
    #[serde(default)]
    pub configs: BTreeMap<String, RegistryConfig>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Mirror {
    #[serde(default)]
    pub endpoint: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RegistryConfig {
    pub auth: Option<Auth>,
    pub tls: Option<Tls>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Auth {
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub password: String,
    #[serde(default)]
    pub auth: String,
    #[serde(default)]
    pub identity_token: String,
}

#[derive(Debug, Default, Deserialize)]
pub struct Tls {
    #[serde(default)]
    pub cert_file: String,
    #[serde(default)]
    pub key_file: String,
    #[serde(default)]
    pub ca_file: String,
    #[serde(default)]
    pub insecure_skip_verify: bool,
}

/// Reads a `registries.yaml`.
pub fn load(path: &Path) -> Result<Registries> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::Config(format!("cannot read {}: {e}", path.display())))?;
    serde_yaml::from_str(&text)
        .map_err(|e| Error::Config(format!("invalid registry config {}: {e}", path.display())))
}

fn toml(s: &str) -> String {
    format!("{s:?}")
}

/// The host part of an endpoint URL (`http://127.0.0.1:5000/v2` → `127.0.0.1:5000`).
fn endpoint_host(url: &str) -> &str {
    let rest = url.split_once("://").map(|x| x.1).unwrap_or(url);
    rest.split('/').next().unwrap_or(rest)
}

/// Writes the hosts dir and returns the config.toml lines for `[plugins."…cri".registry]`.
pub fn render(reg: &Registries, hosts_dir: &Path) -> Result<String> {
    let io =
        |e: std::io::Error| Error::Config(format!("cannot write {}: {e}", hosts_dir.display()));
    if hosts_dir.exists() {
        std::fs::remove_dir_all(hosts_dir).map_err(io)?;
    }
    std::fs::create_dir_all(hosts_dir).map_err(io)?;
    let host_block = |url: &str, out: &mut String| {
        let _ = writeln!(out, "[host.{}]", toml(url));
        let _ = writeln!(out, "  capabilities = [\"pull\", \"resolve\"]");
        if let Some(tls) = reg
            .configs
            .get(endpoint_host(url))
            .and_then(|c| c.tls.as_ref())
        {
            if tls.insecure_skip_verify {
                let _ = writeln!(out, "  skip_verify = true");
            }
            if !tls.ca_file.is_empty() {
                let _ = writeln!(out, "  ca = {}", toml(&tls.ca_file));
            }
            if !tls.cert_file.is_empty() && !tls.key_file.is_empty() {
                let _ = writeln!(
                    out,
                    "  client = [[{}, {}]]",
                    toml(&tls.cert_file),
                    toml(&tls.key_file)
                );
            }
        }
    };
    let mut hosts: BTreeMap<String, String> = BTreeMap::new();
    for (registry, m) in &reg.mirrors {
        let dir = if registry == "*" {
            "_default".to_string()
        } else {
            registry.clone()
        };
        let mut out = String::new();
        if registry != "*" {
            let server = if registry == "docker.io" {
                "https://registry-1.docker.io".to_string()
            } else {
                format!("https://{registry}")
            };
            let _ = writeln!(out, "server = {}\n", toml(&server));
        }
        for e in &m.endpoint {
            let url = if e.contains("://") {
                e.clone()
            } else {
                format!("https://{e}")
            };
            host_block(&url, &mut out);
            out.push('\n');
        }
        hosts.insert(dir, out);
    }
    // TLS settings of registries used directly (not only as mirror endpoints).
    for (host, c) in &reg.configs {
        if c.tls.is_some() && !hosts.contains_key(host) {
            let url = format!("https://{host}");
            let mut out = format!("server = {}\n\n", toml(&url));
            host_block(&url, &mut out);
            hosts.insert(host.clone(), out);
        }
    }
    for (dir, text) in &hosts {
        let d = hosts_dir.join(dir);
        std::fs::create_dir_all(&d).map_err(io)?;
        std::fs::write(d.join("hosts.toml"), text).map_err(io)?;
    }
    let mut out = format!(
        "[plugins.\"io.containerd.grpc.v1.cri\".registry]\n  config_path = {}\n",
        toml(&hosts_dir.to_string_lossy())
    );
    for (host, c) in &reg.configs {
        if let Some(a) = &c.auth {
            let _ = writeln!(
                out,
                "\n[plugins.\"io.containerd.grpc.v1.cri\".registry.configs.{}.auth]",
                toml(host)
            );
            for (k, v) in [
                ("username", &a.username),
                ("password", &a.password),
                ("auth", &a.auth),
                ("identitytoken", &a.identity_token),
            ] {
                if !v.is_empty() {
                    let _ = writeln!(out, "  {k} = {}", toml(v));
                }
            }
        }
    }
    Ok(out)
}

/// The registry host of an image reference (`busybox` → `docker.io`).
pub fn image_registry(image: &str) -> String {
    let first = image.split('/').next().unwrap_or(image);
    if image.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost") {
        first.to_string()
    } else {
        "docker.io".to_string()
    }
}

/// Normalizes a docker config key (`https://index.docker.io/v1/`, `host:port`, a URL) to a
/// registry host.
fn config_host(key: &str) -> String {
    let host = endpoint_host(key).to_string();
    match host.as_str() {
        "index.docker.io" | "registry-1.docker.io" => "docker.io".into(),
        _ => host,
    }
}

/// The credentials for `image` in `kubernetes.io/dockerconfigjson` (or legacy `dockercfg`)
/// secret data, in order.
pub fn credentials(image: &str, secrets: &[BTreeMap<String, Vec<u8>>]) -> Vec<cri::AuthConfig> {
    let registry = image_registry(image);
    let mut out = Vec::new();
    for data in secrets {
        let parsed: Option<serde_json::Value> = data
            .get(".dockerconfigjson")
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(b).ok())
            .map(|v| v["auths"].clone())
            .or_else(|| {
                data.get(".dockercfg")
                    .and_then(|b| serde_json::from_slice(b).ok())
            });
        let Some(serde_json::Value::Object(auths)) = parsed else {
            continue;
        };
        for (key, entry) in auths {
            if config_host(&key) != registry {
                continue;
            }
            let s = |k: &str| entry[k].as_str().unwrap_or_default().to_string();
            let (mut username, mut password) = (s("username"), s("password"));
            if username.is_empty() {
                if let Some((u, p)) = base64::engine::general_purpose::STANDARD
                    .decode(s("auth"))
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    .and_then(|t| {
                        t.split_once(':')
                            .map(|(u, p)| (u.to_string(), p.to_string()))
                    })
                {
                    username = u;
                    password = p;
                }
            }
            out.push(cri::AuthConfig {
                username,
                password,
                // Left empty: containerd drops credentials whose server address does not parse
                // as a URL for the host (a bare `host:port` key does not); the key matched above.
                server_address: String::new(),
                identity_token: s("identitytoken"),
                registry_token: s("registrytoken"),
                ..Default::default()
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirrors_tls_and_auth_become_containerd_config() {
        let reg: Registries = serde_yaml::from_str(
            r#"
mirrors:
  docker.io:
    endpoint: ["http://127.0.0.1:5000"]
  registry.example:
    endpoint: ["https://mirror.example:8443"]
configs:
  "127.0.0.1:5000":
    auth: {username: u, password: p}
  "mirror.example:8443":
    tls: {insecure_skip_verify: true}
"#,
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let hosts = dir.path().join("certs.d");
        let cfg = render(&reg, &hosts).unwrap();
        assert!(
            cfg.contains(&format!("config_path = {:?}", hosts.to_string_lossy())),
            "{cfg}"
        );
        assert!(cfg.contains("[plugins.\"io.containerd.grpc.v1.cri\".registry.configs.\"127.0.0.1:5000\".auth]\n  username = \"u\"\n  password = \"p\"\n"), "{cfg}");
        let docker = std::fs::read_to_string(hosts.join("docker.io/hosts.toml")).unwrap();
        assert!(
            docker.starts_with("server = \"https://registry-1.docker.io\""),
            "{docker}"
        );
        assert!(
            docker.contains(
                "[host.\"http://127.0.0.1:5000\"]\n  capabilities = [\"pull\", \"resolve\"]\n"
            ),
            "{docker}"
        );
        let ex = std::fs::read_to_string(hosts.join("registry.example/hosts.toml")).unwrap();
        assert!(ex.contains("skip_verify = true"), "{ex}");
    }

    #[test]
    fn pull_secrets_match_the_image_registry() {
        assert_eq!(image_registry("busybox"), "docker.io");
        assert_eq!(image_registry("library/busybox:1"), "docker.io");
        assert_eq!(image_registry("127.0.0.1:5000/x/y:1"), "127.0.0.1:5000");
        assert_eq!(image_registry("localhost/x"), "localhost");
        assert_eq!(image_registry("ghcr.io/a/b"), "ghcr.io");
        let secret = BTreeMap::from([(
            ".dockerconfigjson".to_string(),
            br#"{"auths":{"127.0.0.1:5000":{"auth":"dTpw"},"https://index.docker.io/v1/":{"username":"d","password":"h"}}}"#.to_vec(),
        )]);
        let c = credentials(
            "127.0.0.1:5000/test/busybox:1",
            std::slice::from_ref(&secret),
        );
        assert_eq!(c.len(), 1);
        assert_eq!((c[0].username.as_str(), c[0].password.as_str()), ("u", "p"));
        let c = credentials("busybox", &[secret]);
        assert_eq!((c[0].username.as_str(), c[0].password.as_str()), ("d", "h"));
        assert!(credentials("quay.io/x", &[]).is_empty());
    }
}
