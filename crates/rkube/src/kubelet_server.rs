//! The kubelet's HTTPS server on agent nodes (port 10250 by default), which the API server
//! calls for pods on that node: `/containerLogs/{ns}/{pod}/{container}` (`kubectl logs`),
//! `/rkube/cri/{exec,attach,portforward}` (upgrades spliced to the runtime's streaming
//! server), `/stats/summary` and `/healthz`. The certificate is self-signed (the API server does
//! not verify kubelet certificates, as upstream without `--kubelet-certificate-authority`);
//! every request must carry the cluster's join secret as a bearer token.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context, Result};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use rkube_apiserver::rest::logs::{file_response, LogOptions, PodLogs};
use rkube_apiserver::rest::streams::{NodeProxy, PodStreams, StreamKind, StreamRequest};

use crate::node_agent::{LocalKubelet, LocalLogs, LocalStreams};

/// What the server answers with.
pub struct Kubelet {
    pub logs: Arc<LocalLogs>,
    pub streams: Arc<LocalStreams>,
    pub stats: Arc<LocalKubelet>,
    pub token: String,
}

fn text(code: StatusCode, msg: &str) -> Response {
    (
        code,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        msg.to_string(),
    )
        .into_response()
}

/// A self-signed serving certificate and key (PEM) for `names`.
fn self_signed(names: Vec<String>) -> Result<(String, String)> {
    let key = rcgen::KeyPair::generate().context("generate kubelet key")?;
    let params = rcgen::CertificateParams::new(names).context("kubelet certificate names")?;
    let cert = params
        .self_signed(&key)
        .context("sign kubelet certificate")?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// Listens on `addr` and serves until the task is aborted.
pub async fn spawn(addr: SocketAddr, kubelet: Kubelet) -> Result<tokio::task::JoinHandle<()>> {
    let (cert, key) = self_signed(vec![addr.ip().to_string(), kubelet.logs.node.clone()])?;
    let tls = rkube_apiserver::serve::tls_config(cert.as_bytes(), key.as_bytes(), cert.as_bytes())
        .context("kubelet tls config")?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("listen on {addr} (kubelet)"))?;
    tracing::info!(%addr, "kubelet server listening");
    let router = axum::Router::new()
        .fallback(handle)
        .with_state(Arc::new(kubelet));
    Ok(tokio::spawn(rkube_apiserver::serve::serve_tls(
        listener,
        tls,
        router,
        std::future::pending(),
    )))
}

fn query(req: &Request) -> Vec<(String, String)> {
    rkube_apiserver::request::query_pairs(req.uri().query())
}

async fn handle(State(k): State<Arc<Kubelet>>, req: Request) -> Response {
    let authorized = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|t| t == k.token);
    if !authorized {
        return text(StatusCode::UNAUTHORIZED, "Unauthorized");
    }
    let path = req.uri().path().trim_matches('/').to_string();
    let segs: Vec<&str> = path.split('/').collect();
    match segs.as_slice() {
        ["healthz"] | ["stats", "summary"] => {
            let (code, ct, body) = k.stats.get(&path).await;
            Response::builder()
                .status(StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
                .header(header::CONTENT_TYPE, ct)
                .body(Body::from(body))
                .unwrap_or_default()
        }
        ["containerLogs", ns, pod, container] => {
            let (ns, pod, container) = (ns.to_string(), pod.to_string(), container.to_string());
            let q: HashMap<String, String> = query(&req).into_iter().collect();
            drop(req);
            logs(&k, q, ns, pod, container).await
        }
        ["rkube", "cri", kind] => {
            let kind = kind.to_string();
            cri(&k, req, &kind).await
        }
        _ => text(StatusCode::NOT_FOUND, "404 page not found\n"),
    }
}

async fn logs(
    k: &Arc<Kubelet>,
    q: HashMap<String, String>,
    ns: String,
    pod: String,
    container: String,
) -> Response {
    let flag = |n: &str| q.get(n).is_some_and(|v| v == "true");
    let uid = q.get("podUID").cloned().unwrap_or_default();
    let previous = flag("previous");
    let Some(file) = k.logs.file(&ns, &pod, &uid, &container, previous) else {
        let msg = if previous {
            format!("previous terminated container \"{container}\" in pod \"{pod}\" not found")
        } else {
            format!("no logs yet for container \"{container}\" in pod \"{pod}\"")
        };
        return text(StatusCode::BAD_REQUEST, &msg);
    };
    let opts = LogOptions {
        timestamps: flag("timestamps"),
        tail_lines: q.get("tailLines").and_then(|v| v.parse().ok()),
        limit_bytes: q.get("limitBytes").and_then(|v| v.parse().ok()),
        follow: flag("follow") && !previous,
        since: rkube_apiserver::rest::logs::since(
            q.get("sinceSeconds").map(String::as_str),
            q.get("sinceTime").map(String::as_str),
        ),
    };
    let (logs, rt, followed) = (k.logs.clone(), k.streams.runtime.clone(), file.clone());
    let alive = move || {
        let (logs, rt, followed) = (logs.clone(), rt.clone(), followed.clone());
        let (ns, pod, uid, container) = (ns.clone(), pod.clone(), uid.clone(), container.clone());
        let fut: std::pin::Pin<Box<dyn std::future::Future<Output = bool> + Send>> =
            Box::pin(async move {
                rkube_kubelet::streams::running_container(rt.as_ref(), &uid, &container)
                    .await
                    .is_ok()
                    && logs.file(&ns, &pod, &uid, &container, false).as_ref() == Some(&followed)
            });
        fut
    };
    file_response(file, opts, alive).await
}

async fn cri(k: &Arc<Kubelet>, req: Request, kind: &str) -> Response {
    let q = query(&req);
    let get = |n: &str| {
        q.iter()
            .find(|(a, _)| a == n)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let flag = |n: &str| matches!(get(n).as_str(), "true" | "1");
    let kind = match kind {
        "exec" => StreamKind::Exec {
            command: q
                .iter()
                .filter(|(a, _)| a == "command")
                .map(|(_, v)| v.clone())
                .collect(),
        },
        "attach" => StreamKind::Attach,
        "portforward" => StreamKind::PortForward {
            ports: q
                .iter()
                .filter(|(a, _)| a == "ports")
                .flat_map(|(_, v)| {
                    v.split(',')
                        .filter_map(|p| p.trim().parse().ok())
                        .collect::<Vec<i32>>()
                })
                .collect(),
        },
        _ => return text(StatusCode::NOT_FOUND, "404 page not found\n"),
    };
    let request = StreamRequest {
        namespace: get("namespace"),
        pod: get("pod"),
        uid: get("podUID"),
        container: get("container"),
        kind,
        tty: flag("tty"),
        stdin: flag("stdin") || flag("input"),
        stdout: flag("stdout") || flag("output"),
        stderr: flag("stderr") || flag("error"),
    };
    match k.streams.url(request).await {
        Ok(url) => rkube_apiserver::rest::streams::splice_to_runtime(req, &url).await,
        Err(msg) => text(StatusCode::INTERNAL_SERVER_ERROR, &msg),
    }
}
