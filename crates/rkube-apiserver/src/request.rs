//! Request parsing: which resource a URL names, the query options, and content negotiation.

use crate::error::{ApiError, ApiResult};
use rkube_api::registry::{self, ResourceInfo};
use std::collections::HashMap;

/// A parsed resource URL: `/api/v1[/namespaces/{ns}]/{resource}[/{name}[/{sub}]]` or the same
/// under `/apis/{group}/{version}`.
#[derive(Debug, Clone)]
pub struct ResourcePath {
    pub info: &'static ResourceInfo,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub subresource: Option<String>,
}

/// What a path is, before resources are resolved.
pub enum Route {
    Resource(ResourcePath),
    /// Known group-version, unknown resource, or a malformed path.
    NotFound,
}

pub fn parse_path(path: &str) -> Route {
    let segs: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let (group, version, rest) = match segs.as_slice() {
        ["api", v, rest @ ..] => ("", *v, rest),
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => return Route::NotFound,
    };
    let resolve = |plural: &str| registry::lookup(group, version, plural);
    let (namespace, rest) = match rest {
        ["namespaces", ns, res, tail @ ..] if resolve(res).is_some_and(|r| r.namespaced) => (
            Some(ns.to_string()),
            std::iter::once(*res)
                .chain(tail.iter().copied())
                .collect::<Vec<_>>(),
        ),
        _ => (None, rest.to_vec()),
    };
    let Some(plural) = rest.first() else {
        return Route::NotFound;
    };
    let Some(info) = resolve(plural) else {
        return Route::NotFound;
    };
    if rest.len() > 3 {
        // Proxy subresources carry a trailing path; they are served elsewhere.
        if rest.get(2) != Some(&"proxy") {
            return Route::NotFound;
        }
    }
    Route::Resource(ResourcePath {
        info,
        namespace,
        name: rest.get(1).map(|s| s.to_string()),
        subresource: rest.get(2).map(|s| s.to_string()),
    })
}

/// Decoded query string (last value wins).
#[derive(Debug, Default, Clone)]
pub struct Query(pub HashMap<String, String>);

impl Query {
    pub fn parse(q: Option<&str>) -> Query {
        let mut m = HashMap::new();
        for pair in q.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            m.insert(decode(k), decode(v));
        }
        Query(m)
    }

    pub fn get(&self, k: &str) -> Option<&str> {
        self.0.get(k).map(|s| s.as_str())
    }

    pub fn flag(&self, k: &str) -> bool {
        matches!(self.get(k), Some("true") | Some("1"))
    }

    pub fn nonempty(&self, k: &str) -> Option<&str> {
        self.get(k).filter(|s| !s.is_empty())
    }

    pub fn int(&self, k: &str) -> ApiResult<Option<i64>> {
        match self.nonempty(k) {
            None => Ok(None),
            Some(v) => v
                .parse::<i64>()
                .map(Some)
                .map_err(|_| ApiError::bad_request(format!("invalid value for {k}: {v:?}"))),
        }
    }

    pub fn dry_run(&self) -> ApiResult<bool> {
        match self.get("dryRun") {
            None | Some("") => Ok(false),
            Some("All") => Ok(true),
            Some(other) => Err(ApiError::bad_request(format!(
                "Invalid dry run value: {other}; supported values: All"
            ))),
        }
    }
}

/// Percent-decoding with '+' as space, as Go's url.ParseQuery does.
/// Every `key=value` pair of a query string, decoded, in order (keys may repeat, as
/// `command=` does for exec).
pub fn query_pairs(q: Option<&str>) -> Vec<(String, String)> {
    q.unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

/// Percent-encodes a query value (everything but unreserved characters).
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(v) => {
                        out.push(v);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What representation the client asked for in `Accept`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Representation {
    Object,
    /// meta.k8s.io Table, v1 or v1beta1.
    Table(&'static str),
    /// meta.k8s.io PartialObjectMetadata(List).
    PartialMetadata(&'static str),
}

pub fn representation(accept: Option<&str>) -> Representation {
    let Some(accept) = accept else {
        return Representation::Object;
    };
    for part in accept.split(',') {
        let params: Vec<&str> = part.split(';').map(|s| s.trim()).collect();
        let mime = params.first().copied().unwrap_or("");
        // Protobuf responses are not produced; JSON is always acceptable to Kubernetes clients.
        if mime != "application/json" && mime != "*/*" && mime != "application/*" {
            continue;
        }
        let get = |k: &str| {
            params
                .iter()
                .find_map(|p| p.strip_prefix(&format!("{k}=")[..]))
        };
        match (get("as"), get("g"), get("v")) {
            (Some("Table"), Some("meta.k8s.io"), Some("v1")) => {
                return Representation::Table("meta.k8s.io/v1")
            }
            (Some("Table"), Some("meta.k8s.io"), Some("v1beta1")) => {
                return Representation::Table("meta.k8s.io/v1beta1")
            }
            (Some("PartialObjectMetadata"), Some("meta.k8s.io"), Some(v))
            | (Some("PartialObjectMetadataList"), Some("meta.k8s.io"), Some(v)) => {
                return Representation::PartialMetadata(if v == "v1" {
                    "meta.k8s.io/v1"
                } else {
                    "meta.k8s.io/v1beta1"
                })
            }
            (None, _, _) => return Representation::Object,
            _ => continue,
        }
    }
    Representation::Object
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        // (path, (plural, namespace, name, subresource)); None = not found
        type Want = Option<(
            &'static str,
            Option<&'static str>,
            Option<&'static str>,
            Option<&'static str>,
        )>;
        let cases: &[(&str, Want)] = &[
            ("/api/v1/pods", Some(("pods", None, None, None))),
            (
                "/api/v1/namespaces/default/pods",
                Some(("pods", Some("default"), None, None)),
            ),
            (
                "/api/v1/namespaces/default/pods/web",
                Some(("pods", Some("default"), Some("web"), None)),
            ),
            (
                "/api/v1/namespaces/default/pods/web/status",
                Some(("pods", Some("default"), Some("web"), Some("status"))),
            ),
            ("/api/v1/namespaces", Some(("namespaces", None, None, None))),
            (
                "/api/v1/namespaces/kube-system",
                Some(("namespaces", None, Some("kube-system"), None)),
            ),
            (
                "/api/v1/namespaces/x/finalize",
                Some(("namespaces", None, Some("x"), Some("finalize"))),
            ),
            ("/api/v1/nodes/n1", Some(("nodes", None, Some("n1"), None))),
            (
                "/apis/apps/v1/namespaces/a/deployments/d/scale",
                Some(("deployments", Some("a"), Some("d"), Some("scale"))),
            ),
            (
                "/apis/apps/v1/deployments",
                Some(("deployments", None, None, None)),
            ),
            ("/apis/apps/v9/deployments", None),
            ("/api/v1/bogus", None),
            ("/api", None),
            ("/api/v1/namespaces/a/pods/b/status/extra", None),
        ];
        for (path, want) in cases {
            match (parse_path(path), want) {
                (Route::Resource(rp), Some((plural, ns, name, sub))) => {
                    assert_eq!(rp.info.plural, *plural, "{path}");
                    assert_eq!(rp.namespace.as_deref(), *ns, "{path}");
                    assert_eq!(rp.name.as_deref(), *name, "{path}");
                    assert_eq!(rp.subresource.as_deref(), *sub, "{path}");
                }
                (Route::NotFound, None) => {}
                (_, want) => panic!("{path}: expected {want:?}"),
            }
        }
    }

    #[test]
    fn query_decoding() {
        let q = Query::parse(Some(
            "labelSelector=app%3Dweb%2Ctier+in+%28a%29&limit=500&watch=true",
        ));
        assert_eq!(q.get("labelSelector"), Some("app=web,tier in (a)"));
        assert_eq!(q.int("limit").unwrap(), Some(500));
        assert!(q.flag("watch"));
        assert!(Query::parse(Some("limit=x")).int("limit").is_err());
        assert_eq!(decode("%zz%4"), "%zz%4");
    }

    #[test]
    fn accept_negotiation() {
        let kubectl = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
        assert_eq!(
            representation(Some(kubectl)),
            Representation::Table("meta.k8s.io/v1")
        );
        assert_eq!(
            representation(Some("application/json")),
            Representation::Object
        );
        assert_eq!(representation(None), Representation::Object);
        assert_eq!(
            representation(Some(
                "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io,application/json"
            )),
            Representation::PartialMetadata("meta.k8s.io/v1")
        );
        assert_eq!(
            representation(Some("application/vnd.kubernetes.protobuf,application/json")),
            Representation::Object
        );
    }
}
