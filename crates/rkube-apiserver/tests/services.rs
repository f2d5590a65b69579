//! Component tests of Service allocation (`rest::service`): cluster IPs from the service CIDR,
//! node ports, health-check node ports, type changes, release on delete and failed writes,
//! dry runs, rebuilding after a restart, and the `kubernetes` Service with its endpoints.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use rkube_apiserver::auth::{TokenAuth, User};
use rkube_apiserver::rest::service::ServiceRanges;
use rkube_apiserver::{Config, ConnIdentity, Server};
use rkube_store::DynStore;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceExt;

const SVCS: &str = "/api/v1/namespaces/default/services";

struct T {
    srv: Arc<Server>,
}

fn config(store: DynStore) -> Config {
    Config {
        store,
        tokens: TokenAuth::default(),
        watch_cache_window: 1000,
        event_ttl: Duration::from_secs(3600),
        compact_interval: None,
        advertise_address: "192.0.2.10:6443".into(),
    }
}

impl T {
    async fn new() -> T {
        Self::on(Arc::new(rkube_store::memory::MemoryStore::new())).await
    }

    async fn on(store: DynStore) -> T {
        T {
            srv: Server::start(config(store)).await.unwrap(),
        }
    }

    async fn call(&self, method: Method, uri: &str, body: Option<Value>) -> (StatusCode, Value) {
        let ct = if method == Method::PATCH {
            "application/merge-patch+json"
        } else {
            "application/json"
        };
        let b = body
            .map(|v| serde_json::to_vec(&v).unwrap())
            .unwrap_or_default();
        let mut req = Request::builder()
            .method(method)
            .uri(uri)
            .header("content-type", ct)
            .body(Body::from(b))
            .unwrap();
        req.extensions_mut().insert(ConnIdentity(Some(User {
            name: "admin".into(),
            uid: String::new(),
            groups: vec!["system:masters".into()],
        })));
        let resp = self.srv.router().oneshot(req).await.unwrap();
        let code = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        (code, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    async fn create(&self, svc: Value) -> Value {
        let (code, out) = self.call(Method::POST, SVCS, Some(svc)).await;
        assert_eq!(code, StatusCode::CREATED, "{out}");
        out
    }

    /// The error message of a create that must fail with `code`.
    async fn create_fails(&self, svc: Value, code: u16) -> String {
        let (got, out) = self.call(Method::POST, SVCS, Some(svc)).await;
        assert_eq!(got.as_u16(), code, "{out}");
        out["message"].as_str().unwrap_or_default().to_string()
    }

    async fn patch(&self, name: &str, patch: Value) -> (StatusCode, Value) {
        self.call(Method::PATCH, &format!("{SVCS}/{name}"), Some(patch))
            .await
    }

    async fn delete(&self, name: &str) {
        let (code, out) = self
            .call(Method::DELETE, &format!("{SVCS}/{name}"), None)
            .await;
        assert_eq!(code, StatusCode::OK, "{out}");
    }
}

fn svc(name: &str, spec: Value) -> Value {
    let mut spec = spec;
    if spec.get("ports").is_none() && spec.get("type") != Some(&json!("ExternalName")) {
        spec["ports"] = json!([{"port": 80, "targetPort": 8080}]);
    }
    if spec.get("selector").is_none() {
        spec["selector"] = json!({"app": name});
    }
    json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name}, "spec": spec})
}

fn node_port(s: &Value, i: usize) -> i64 {
    s["spec"]["ports"][i]["nodePort"].as_i64().unwrap_or(0)
}

#[tokio::test]
async fn cluster_ips_come_from_the_upper_band_of_the_service_cidr() {
    let t = T::new().await;
    for i in 0..20 {
        let s = t.create(svc(&format!("s{i}"), json!({}))).await;
        let ip: std::net::Ipv4Addr = s["spec"]["clusterIP"].as_str().unwrap().parse().unwrap();
        let o = ip.octets();
        assert_eq!((o[0], o[1]), (10, 43), "{ip}");
        assert!(o[2] >= 1, "dynamic {ip} in the static band");
        assert_eq!(s["spec"]["clusterIPs"], json!([ip.to_string()]));
        assert_eq!(s["spec"]["ipFamilies"], json!(["IPv4"]));
        assert_eq!(s["spec"]["ipFamilyPolicy"], json!("SingleStack"));
        assert!(s["spec"]["ports"][0].get("nodePort").is_none());
    }
}

#[tokio::test]
async fn requested_cluster_ips_are_honoured_or_rejected_with_upstream_errors() {
    let t = T::new().await;
    let s = t
        .create(svc("dns", json!({"clusterIP": "10.43.0.10"})))
        .await;
    assert_eq!(s["spec"]["clusterIPs"], json!(["10.43.0.10"]));
    let cases: Vec<(Value, u16, &str)> = vec![
        (
            json!({"clusterIP": "10.43.0.10"}),
            422,
            r#"Service "x" is invalid: spec.clusterIPs: Invalid value: []string{"10.43.0.10"}: failed to allocate IP 10.43.0.10: provided IP is already allocated"#,
        ),
        (
            json!({"clusterIP": "10.43.0.1"}),
            422,
            "failed to allocate IP 10.43.0.1: provided IP is already allocated",
        ),
        (
            json!({"clusterIP": "10.0.0.5"}),
            422,
            r#"spec.clusterIPs: Invalid value: []string{"10.0.0.5"}: failed to allocate IP 10.0.0.5: the provided IP (10.0.0.5) is not in the valid range. The range of valid IPs is 10.43.0.0/16"#,
        ),
        (
            json!({"clusterIP": "fd00::5"}),
            422,
            r#"spec.clusterIPs[0]: Invalid value: []string{"fd00::5"}: IPv6 is not configured on this cluster"#,
        ),
        (
            json!({"ipFamilies": ["IPv6"]}),
            422,
            r#"spec.ipFamilies[0]: Invalid value: "IPv6": not configured on this cluster"#,
        ),
        (
            json!({"ipFamilyPolicy": "RequireDualStack"}),
            422,
            r#"spec.ipFamilyPolicy: Invalid value: "RequireDualStack": this cluster is not configured for dual-stack services"#,
        ),
        (
            json!({"ipFamilyPolicy": "SingleStack", "ipFamilies": ["IPv4", "IPv6"]}),
            422,
            "must be 'RequireDualStack' or 'PreferDualStack' when multiple IP families are specified",
        ),
    ];
    for (spec, code, want) in cases {
        let msg = t.create_fails(svc("x", spec.clone()), code).await;
        assert!(msg.contains(want), "{spec}: got {msg}");
    }
    // PreferDualStack on a single-stack cluster gets one family.
    let s = t
        .create(svc("pref", json!({"ipFamilyPolicy": "PreferDualStack"})))
        .await;
    assert_eq!(s["spec"]["ipFamilies"], json!(["IPv4"]));
    assert_eq!(s["spec"]["clusterIPs"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn node_ports_are_allocated_and_collisions_rejected() {
    let t = T::new().await;
    let a = t
        .create(svc(
            "np",
            json!({"type": "NodePort", "ports": [{"port": 80, "targetPort": 8080, "nodePort": 30080}]}),
        ))
        .await;
    assert_eq!(node_port(&a, 0), 30080);
    assert_eq!(a["spec"]["externalTrafficPolicy"], json!("Cluster"));
    let cases: Vec<(i64, &str)> = vec![
        (
            30080,
            r#"Service "np2" is invalid: spec.ports[0].nodePort: Invalid value: 30080: provided port is already allocated"#,
        ),
        (
            8080,
            r#"Service "np2" is invalid: spec.ports[0].nodePort: Invalid value: 8080: provided port is not in the valid range. The range of valid ports is 30000-32767"#,
        ),
    ];
    for (np, want) in cases {
        let msg = t
            .create_fails(
                svc(
                    "np2",
                    json!({"type": "NodePort", "ports": [{"port": 80, "nodePort": np}]}),
                ),
                422,
            )
            .await;
        assert_eq!(msg, want);
    }
    // Dynamic ports are in range; TCP and UDP on one port number share a node port.
    let dns = t
        .create(svc(
            "dns",
            json!({"type": "NodePort", "ports": [
                {"name": "dns", "port": 53, "protocol": "UDP"},
                {"name": "dns-tcp", "port": 53, "protocol": "TCP"},
                {"name": "metrics", "port": 9153, "protocol": "TCP"}]}),
        ))
        .await;
    let (p0, p1, p2) = (node_port(&dns, 0), node_port(&dns, 1), node_port(&dns, 2));
    assert!((30000..=32767).contains(&p0), "{p0}");
    assert_eq!(p0, p1);
    assert_ne!(p0, p2);
    assert!(t.srv.services.port_allocated(p2));
}

#[tokio::test]
async fn headless_and_external_name_services_get_no_cluster_ip() {
    let t = T::new().await;
    let h = t.create(svc("h", json!({"clusterIP": "None"}))).await;
    assert_eq!(h["spec"]["clusterIPs"], json!(["None"]));
    assert_eq!(h["spec"]["ipFamilies"], json!(["IPv4"]));
    assert_eq!(h["spec"]["ipFamilyPolicy"], json!("SingleStack"));
    // Headless without a selector defaults to dual-stack families, as upstream.
    let mut spec = svc("hs", json!({"clusterIP": "None"}));
    spec["spec"].as_object_mut().unwrap().remove("selector");
    let hs = t.create(spec).await;
    assert_eq!(hs["spec"]["ipFamilyPolicy"], json!("RequireDualStack"));
    assert_eq!(hs["spec"]["ipFamilies"], json!(["IPv4", "IPv6"]));
    let e = t
        .create(svc(
            "ext",
            json!({"type": "ExternalName", "externalName": "example.com"}),
        ))
        .await;
    for f in ["clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"] {
        assert!(e["spec"].get(f).is_none(), "{f} set: {e}");
    }
    let msg = t
        .create_fails(
            svc(
                "np",
                json!({"type": "NodePort", "clusterIP": "None", "ports": [{"port": 80}]}),
            ),
            422,
        )
        .await;
    assert!(
        msg.contains("may not be set to 'None' for NodePort services"),
        "{msg}"
    );
}

#[tokio::test]
async fn type_changes_allocate_and_release_what_they_need() {
    let t = T::new().await;
    let s = t.create(svc("web", json!({}))).await;
    let ip = s["spec"]["clusterIP"].as_str().unwrap().to_string();
    let (code, np) = t.patch("web", json!({"spec": {"type": "NodePort"}})).await;
    assert_eq!(code, StatusCode::OK, "{np}");
    let port = node_port(&np, 0);
    assert!(port >= 30000 && t.srv.services.port_allocated(port));
    assert_eq!(np["spec"]["clusterIP"], json!(ip));
    let (code, lb) = t
        .patch(
            "web",
            json!({"spec": {"type": "LoadBalancer", "externalTrafficPolicy": "Local"}}),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{lb}");
    assert_eq!(node_port(&lb, 0), port, "the node port is kept");
    let hc = lb["spec"]["healthCheckNodePort"].as_i64().unwrap();
    assert!(hc >= 30000 && hc != port && t.srv.services.port_allocated(hc));
    let (code, back) = t
        .patch(
            "web",
            json!({"spec": {"type": "ClusterIP", "externalTrafficPolicy": null}}),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{back}");
    assert_eq!(node_port(&back, 0), 0);
    assert!(back["spec"].get("healthCheckNodePort").is_none());
    assert!(!t.srv.services.port_allocated(port));
    assert!(!t.srv.services.port_allocated(hc));
    let (code, ext) = t
        .patch(
            "web",
            json!({"spec": {"type": "ExternalName", "externalName": "example.com"}}),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{ext}");
    assert!(ext["spec"].get("clusterIP").is_none(), "{ext}");
    assert!(!t.srv.services.ip_allocated(&ip));
    let (code, again) = t
        .patch(
            "web",
            json!({"spec": {"type": "ClusterIP", "externalName": null}}),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{again}");
    let ip2 = again["spec"]["clusterIP"].as_str().unwrap();
    assert!(t.srv.services.ip_allocated(ip2));
    assert_eq!(again["spec"]["ipFamilies"], json!(["IPv4"]));
    // A requested node port on update is checked too.
    t.create(svc(
        "taken",
        json!({"type": "NodePort", "ports": [{"port": 80, "nodePort": 30111}]}),
    ))
    .await;
    let (code, out) = t
        .patch(
            "web",
            json!({"spec": {"type": "NodePort", "ports": [{"port": 80, "targetPort": 8080, "nodePort": 30111}]}}),
        )
        .await;
    assert_eq!(code.as_u16(), 422, "{out}");
    assert!(out["message"].as_str().unwrap().contains(
        "spec.ports[0].nodePort: Invalid value: 30111: provided port is already allocated"
    ));
}

#[tokio::test]
async fn delete_failed_writes_and_dry_runs_give_values_back() {
    let t = T::new().await;
    t.create(svc(
        "a",
        json!({"type": "NodePort", "clusterIP": "10.43.0.50", "ports": [{"port": 80, "nodePort": 30050}]}),
    ))
    .await;
    t.delete("a").await;
    assert!(!t.srv.services.ip_allocated("10.43.0.50"));
    assert!(!t.srv.services.port_allocated(30050));
    // The IP is allocated first, then the port fails: the IP must be given back.
    t.create(svc(
        "b",
        json!({"type": "NodePort", "ports": [{"port": 80, "nodePort": 30050}]}),
    ))
    .await;
    t.create_fails(
        svc(
            "c",
            json!({"type": "NodePort", "clusterIP": "10.43.0.60", "ports": [{"port": 80, "nodePort": 30050}]}),
        ),
        422,
    )
    .await;
    assert!(!t.srv.services.ip_allocated("10.43.0.60"));
    // A name clash fails after allocation.
    t.create_fails(svc("b", json!({"clusterIP": "10.43.0.61"})), 409)
        .await;
    assert!(!t.srv.services.ip_allocated("10.43.0.61"));
    // Dry runs show values without keeping them.
    let (code, out) = t
        .call(
            Method::POST,
            &format!("{SVCS}?dryRun=All"),
            Some(svc(
                "d",
                json!({"clusterIP": "10.43.0.62", "type": "NodePort", "ports": [{"port": 80}]}),
            )),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED, "{out}");
    assert!(node_port(&out, 0) >= 30000);
    assert!(!t.srv.services.ip_allocated("10.43.0.62"));
    assert!(!t.srv.services.port_allocated(node_port(&out, 0)));
}

#[tokio::test]
async fn a_restarted_server_rebuilds_its_allocators_from_the_services() {
    let store: DynStore = Arc::new(rkube_store::memory::MemoryStore::new());
    let first = T::on(store.clone()).await;
    let s = first
        .create(svc(
            "np",
            json!({"type": "NodePort", "ports": [{"port": 80, "nodePort": 30080}]}),
        ))
        .await;
    let ip = s["spec"]["clusterIP"].as_str().unwrap().to_string();
    drop(first);
    let second = T::on(store).await;
    let msg = second
        .create_fails(svc("x", json!({"clusterIP": ip})), 422)
        .await;
    assert!(msg.contains("provided IP is already allocated"), "{msg}");
    let msg = second
        .create_fails(
            svc(
                "y",
                json!({"type": "NodePort", "ports": [{"port": 80, "nodePort": 30080}]}),
            ),
            422,
        )
        .await;
    assert!(msg.contains("provided port is already allocated"), "{msg}");
}

#[tokio::test]
async fn the_kubernetes_service_points_at_the_api_server() {
    let t = T::new().await;
    let (code, s) = t
        .call(Method::GET, &format!("{SVCS}/kubernetes"), None)
        .await;
    assert_eq!(code, StatusCode::OK, "{s}");
    assert_eq!(s["spec"]["clusterIP"], json!("10.43.0.1"));
    assert_eq!(s["spec"]["type"], json!("ClusterIP"));
    assert_eq!(
        s["spec"]["ports"],
        json!([{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}])
    );
    assert_eq!(s["metadata"]["labels"]["component"], json!("apiserver"));
    assert!(s.get("status").is_some());
    let (_, ep) = t
        .call(
            Method::GET,
            "/api/v1/namespaces/default/endpoints/kubernetes",
            None,
        )
        .await;
    assert_eq!(
        ep["subsets"],
        json!([{"addresses": [{"ip": "192.0.2.10"}],
                "ports": [{"name": "https", "port": 6443, "protocol": "TCP"}]}])
    );
    let (_, slice) = t
        .call(
            Method::GET,
            "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices/kubernetes",
            None,
        )
        .await;
    assert_eq!(slice["addressType"], json!("IPv4"));
    assert_eq!(slice["endpoints"][0]["addresses"], json!(["192.0.2.10"]));
    assert_eq!(
        slice["metadata"]["labels"]["kubernetes.io/service-name"],
        json!("kubernetes")
    );
    // Reconciling again changes nothing; a broken port is repaired.
    let rv = s["metadata"]["resourceVersion"].clone();
    rkube_apiserver::rest::service::ensure_kubernetes_service(&t.srv)
        .await
        .unwrap();
    let (_, s2) = t
        .call(Method::GET, &format!("{SVCS}/kubernetes"), None)
        .await;
    assert_eq!(s2["metadata"]["resourceVersion"], rv);
    let (code, _) = t
        .patch(
            "kubernetes",
            json!({"spec": {"ports": [{"name": "https", "port": 444, "targetPort": 6443}]}}),
        )
        .await;
    assert_eq!(code, StatusCode::OK);
    rkube_apiserver::rest::service::ensure_kubernetes_service(&t.srv)
        .await
        .unwrap();
    let (_, s3) = t
        .call(Method::GET, &format!("{SVCS}/kubernetes"), None)
        .await;
    assert_eq!(s3["spec"]["ports"][0]["port"], json!(443));
}

#[tokio::test]
async fn the_service_cidr_is_configurable() {
    let store: DynStore = Arc::new(rkube_store::memory::MemoryStore::new());
    let ranges = ServiceRanges::new("10.96.0.0/12", "31000-31010").unwrap();
    let t = T {
        srv: Server::start_with(config(store), ranges).await.unwrap(),
    };
    let (_, k) = t
        .call(Method::GET, &format!("{SVCS}/kubernetes"), None)
        .await;
    assert_eq!(k["spec"]["clusterIP"], json!("10.96.0.1"));
    let s = t
        .create(svc(
            "np",
            json!({"type": "NodePort", "ports": [{"port": 80}]}),
        ))
        .await;
    let np = node_port(&s, 0);
    assert!((31000..=31010).contains(&np), "{np}");
    let msg = t
        .create_fails(
            svc(
                "np2",
                json!({"type": "NodePort", "ports": [{"port": 80, "nodePort": 30080}]}),
            ),
            422,
        )
        .await;
    assert!(
        msg.ends_with("The range of valid ports is 31000-31010"),
        "{msg}"
    );
}
