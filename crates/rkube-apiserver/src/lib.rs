//! `rkube-apiserver`: the Kubernetes API over HTTPS.
//!
//! - [`discovery`]: `/api`, `/apis` (legacy + aggregated), `/version`
//! - [`rest`]: one generic REST implementation for every kind in the registry
//! - [`cache`]: the watch cache that serves lists and watches
//! - [`auth`]: client certificates and bearer tokens
//! - [`serve`]: TLS listener, per-connection identity, HTTP/1.1 + HTTP/2
//! - [`lifecycle`]: bootstrap namespaces, namespace termination, event TTL, store compaction
//!
//! Invariants: only this crate knows HTTP; it talks to storage only through `rkube-store`;
//! errors become `metav1.Status` only here.

pub mod auth;
pub mod cache;
pub mod discovery;
pub mod error;
pub mod inprocess;
pub mod kubelet;
pub mod lifecycle;
pub mod request;
pub mod response;
pub mod rest;
pub mod serve;
pub mod table;

use auth::{TokenAuth, User};
use axum::body::Body;
use axum::extract::{Request as HttpRequest, State};
use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use error::ApiError;
use request::{parse_path, Query, Route};
use rkube_store::DynStore;
use std::sync::Arc;
use std::time::Duration;

/// How the API server is set up.
pub struct Config {
    pub store: DynStore,
    pub tokens: TokenAuth,
    /// Events kept in the watch cache's window (older watches get 410).
    pub watch_cache_window: usize,
    /// Events expire this long after their last update.
    pub event_ttl: Duration,
    /// Compact the store periodically (for etcd; the embedded store compacts itself).
    pub compact_interval: Option<Duration>,
    /// host:port clients use to reach us (legacy discovery).
    pub advertise_address: String,
}

pub struct Server {
    pub store: DynStore,
    pub cache: Arc<cache::WatchCache>,
    pub tokens: TokenAuth,
    pub advertise_address: String,
    /// The cluster CA certificate (PEM), served unauthenticated at `/cacerts` so joining
    /// agents can check it against the hash in their token before trusting it.
    pub ca_pem: std::sync::OnceLock<String>,
    /// The local node agent's container logs, for `pods/log` (set by the binary).
    pub pod_logs: std::sync::OnceLock<Arc<dyn rest::logs::PodLogs>>,
    /// The local node agent's streaming endpoints, for `pods/exec|attach|portforward`.
    pub pod_streams: std::sync::OnceLock<Arc<dyn rest::streams::PodStreams>>,
    /// The secret other nodes' kubelets accept from this server (the join token's secret).
    pub kubelet_token: std::sync::OnceLock<String>,
    /// The local kubelet's HTTP endpoints (`/stats/summary`, `/healthz`), for `nodes/proxy`.
    pub node_proxy: std::sync::OnceLock<Arc<dyn rest::streams::NodeProxy>>,
    /// Cluster IP and node port allocation for Services (`rest::service`).
    pub services: Arc<rest::service::Allocators>,
}

/// The identity established by the TLS layer for one connection.
#[derive(Clone, Debug, Default)]
pub struct ConnIdentity(pub Option<User>);

impl Server {
    /// Fill the watch cache, create the default namespaces and start background loops.
    pub async fn start(cfg: Config) -> Result<Arc<Server>, ApiError> {
        Self::start_with(cfg, rest::service::ServiceRanges::default()).await
    }

    /// [`Server::start`] with the service CIDR and node-port range to allocate from
    /// (`--service-cidr`, `--service-node-port-range`; default 10.43.0.0/16, 30000-32767).
    pub async fn start_with(
        cfg: Config,
        service_ranges: rest::service::ServiceRanges,
    ) -> Result<Arc<Server>, ApiError> {
        let cache = cache::WatchCache::start(cfg.store.clone(), cfg.watch_cache_window).await?;
        let srv = Arc::new(Server {
            store: cfg.store,
            cache,
            tokens: cfg.tokens,
            advertise_address: cfg.advertise_address,
            ca_pem: std::sync::OnceLock::new(),
            pod_logs: std::sync::OnceLock::new(),
            pod_streams: std::sync::OnceLock::new(),
            node_proxy: std::sync::OnceLock::new(),
            kubelet_token: std::sync::OnceLock::new(),
            services: Arc::new(rest::service::Allocators::new(service_ranges)),
        });
        lifecycle::bootstrap(&srv).await?;
        lifecycle::spawn_loops(&srv, cfg.event_ttl, cfg.compact_interval);
        Ok(srv)
    }

    /// A server over a fresh in-memory store with default settings, for tests of this and
    /// other crates (components driven through [`Server::client`]).
    pub async fn start_in_memory() -> Result<Arc<Server>, ApiError> {
        Server::start(Config {
            store: Arc::new(rkube_store::memory::MemoryStore::new()),
            tokens: TokenAuth::default(),
            watch_cache_window: 10_000,
            event_ttl: Duration::from_secs(3600),
            compact_interval: None,
            advertise_address: "127.0.0.1:6443".into(),
        })
        .await
    }

    pub fn router(self: &Arc<Self>) -> axum::Router {
        axum::Router::new()
            .fallback(handle)
            .with_state(self.clone())
    }

    fn authenticate(&self, req: &HttpRequest) -> Option<User> {
        if let Some(ConnIdentity(Some(u))) = req.extensions().get::<ConnIdentity>() {
            return Some(u.clone());
        }
        let auth = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
        let token = auth
            .strip_prefix("Bearer ")
            .or_else(|| auth.strip_prefix("bearer "))?
            .trim();
        self.tokens.lookup(token).cloned()
    }
}

async fn handle(State(srv): State<Arc<Server>>, req: HttpRequest) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let started = std::time::Instant::now();
    let resp = route(srv, req).await;
    tracing::debug!(method = %method, path = %path, status = resp.status().as_u16(), elapsed_us = started.elapsed().as_micros() as u64, "request");
    resp
}

async fn route(srv: Arc<Server>, req: HttpRequest) -> Response {
    let path = req.uri().path().trim_end_matches('/').to_string();
    match path.as_str() {
        "/healthz" | "/livez" | "/readyz" => return response::text(StatusCode::OK, "ok"),
        "/version" => return response::json(StatusCode::OK, &discovery::version()),
        "/cacerts" => {
            return match srv.ca_pem.get() {
                Some(pem) => Response::builder()
                    .status(StatusCode::OK)
                    .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
                    .body(Body::from(pem.clone()))
                    .unwrap_or_default(),
                None => ApiError::not_found_path().into_response(),
            }
        }
        _ => {}
    }
    let user = srv.authenticate(&req);
    if user.is_none() {
        // Read the body first: answering before the client finished sending makes HTTP/2
        // clients see a reset stream instead of the 401.
        let _ = axum::body::to_bytes(req.into_body(), rest::write::MAX_BODY).await;
        return ApiError::unauthorized().into_response();
    }
    if path == "/openapi/v3" || path.starts_with("/openapi/v3/") {
        return openapi_v3(path).await;
    }
    if path == "/openapi/v2" {
        let accept = req
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        return openapi_v2(accept.contains("protobuf")).await;
    }
    let accept = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    let get = req.method() == Method::GET;
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match segs.as_slice() {
        ["api"] if get => return discovery::api(accept.as_deref(), &srv.advertise_address),
        ["apis"] if get => return discovery::apis(accept.as_deref()),
        ["api", v] if get => return discovery::resource_list("", v),
        ["apis", g] if get => return discovery::group(g),
        ["apis", g, v] if get => return discovery::resource_list(g, v),
        _ => {}
    }
    if let ["api", "v1", "nodes", node, "proxy", rest @ ..] = segs.as_slice() {
        return rest::streams::node_proxy(&srv, node, &rest.join("/")).await;
    }
    let Route::Resource(rp) = parse_path(&path) else {
        return ApiError::not_found_path().into_response();
    };
    if rp.info.group.is_empty()
        && rp.info.plural == "pods"
        && rp.name.is_some()
        && matches!(
            rp.subresource.as_deref(),
            Some("exec" | "attach" | "portforward")
        )
    {
        // Upgrade requests keep their connection: the body is never read here.
        return rest::streams::connect(srv, rp, req).await;
    }
    let (parts, body) = req.into_parts();
    let body = match axum::body::to_bytes(body, rest::write::MAX_BODY + 1).await {
        Ok(b) if b.len() > rest::write::MAX_BODY => return ApiError::too_large().into_response(),
        Ok(b) => b,
        Err(_) => return ApiError::too_large().into_response(),
    };
    let r = rest::Request {
        srv,
        user,
        path: rp,
        query: Query::parse(parts.uri.query()),
        headers: parts.headers,
        body,
    };
    match rest::dispatch(r, &parts.method).await {
        Ok(resp) => resp,
        Err(e) => e.into_response(),
    }
}

/// `/openapi/v3` (the index) and `/openapi/v3/<group-version>`. Documents are built per
/// request, off the async threads; only their hashes are kept (see `rkube_api::openapi`).
async fn openapi_v3(path: String) -> Response {
    let doc = tokio::task::spawn_blocking(move || {
        if path == "/openapi/v3" {
            serde_json::to_vec(&rkube_api::openapi::v3_index())
                .ok()
                .map(|b| (std::sync::Arc::new(b), String::new()))
        } else {
            rkube_api::openapi::v3_document_bytes(&path)
        }
    })
    .await
    .ok()
    .flatten();
    match doc {
        Some((bytes, _hash)) => Response::builder()
            .status(StatusCode::OK)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(bytes.as_ref().clone()))
            .unwrap_or_default(),
        None => ApiError::not_found_path().into_response(),
    }
}

/// `/openapi/v2`, in the gnostic protobuf form kubectl asks for when `/openapi/v3` is missing.
async fn openapi_v2(protobuf: bool) -> Response {
    if !protobuf {
        return ApiError::new(
            406,
            "NotAcceptable",
            "only application/com.github.proto-openapi.spec.v2@v1.0+protobuf is served at /openapi/v2",
        )
        .into_response();
    }
    match tokio::task::spawn_blocking(rkube_api::openapi::v2::v2_protobuf)
        .await
        .ok()
        .flatten()
    {
        Some(bytes) => Response::builder()
            .status(StatusCode::OK)
            // The dotted form: kubectl's mime parser rejects the '@' of the Accept form.
            .header(
                header::CONTENT_TYPE,
                "application/com.github.proto-openapi.spec.v2.v1.0+protobuf",
            )
            .body(Body::from(bytes.as_ref().clone()))
            .unwrap_or_default(),
        None => ApiError::not_found_path().into_response(),
    }
}
