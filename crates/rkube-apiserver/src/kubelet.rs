//! Talking to other nodes' kubelets, as upstream's API server does for logs, exec, attach,
//! port-forward and `nodes/proxy`: HTTPS to the node's InternalIP on the port its Node status
//! gives (`daemonEndpoints.kubeletEndpoint.Port`, 10250 by default). As upstream without
//! `--kubelet-certificate-authority`, the kubelet's (self-signed) certificate is not verified;
//! requests carry the cluster's join secret as a bearer token, which the kubelet checks.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, Request as HttpRequest, StatusCode};
use axum::response::Response;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::error::{ApiError, ApiResult};
use crate::Server;

/// A bidirectional byte stream (plain TCP or TLS).
pub trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin> Io for T {}

/// `ip:port` of node `node`'s kubelet.
pub async fn address(srv: &Server, node: &str) -> ApiResult<String> {
    let info = rkube_api::registry::lookup("", "v1", "nodes")
        .ok_or_else(|| ApiError::internal("nodes are not registered"))?;
    let key = info.key(None, node);
    let kv = srv
        .store
        .get(&key)
        .await?
        .ok_or_else(|| ApiError::not_found(info, node))?;
    let n = crate::rest::decode_stored(&key, &kv.value)?;
    let ip = n["status"]["addresses"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|a| a["type"] == "InternalIP")
        .and_then(|a| a["address"].as_str())
        .ok_or_else(|| {
            ApiError::new(
                503,
                "ServiceUnavailable",
                format!("node \"{node}\" has no InternalIP"),
            )
        })?
        .to_string();
    let port = n["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"]
        .as_u64()
        .filter(|p| *p > 0)
        .unwrap_or(10250);
    Ok(if ip.contains(':') {
        format!("[{ip}]:{port}")
    } else {
        format!("{ip}:{port}")
    })
}

/// The bearer token kubelets accept.
fn token(srv: &Server) -> ApiResult<String> {
    srv.kubelet_token.get().cloned().ok_or_else(|| {
        ApiError::new(
            503,
            "ServiceUnavailable",
            "this server cannot reach kubelets (no join secret)",
        )
    })
}

/// A TLS connection to node `node`'s kubelet, and the `Authorization` header value to send.
pub async fn connect(srv: &Server, node: &str) -> ApiResult<(Box<dyn Io>, String, String)> {
    let addr = address(srv, node).await?;
    let unreachable = |e: String| {
        ApiError::new(
            502,
            "InternalError",
            format!("error dialing backend: dial tcp {addr}: {e}"),
        )
    };
    let tcp = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        TcpStream::connect(&addr),
    )
    .await
    .map_err(|_| unreachable("i/o timeout".into()))?
    .map_err(|e| unreachable(e.to_string()))?;
    let host = addr
        .rsplit_once(':')
        .map(|x| x.0)
        .unwrap_or(&addr)
        .trim_matches(['[', ']']);
    let name = rustls::pki_types::ServerName::try_from(host.to_string()).unwrap_or_else(|_| {
        rustls::pki_types::ServerName::try_from("localhost").expect("valid name")
    });
    let tls = tls_connector()
        .connect(name, tcp)
        .await
        .map_err(|e| unreachable(format!("tls: {e}")))?;
    Ok((Box::new(tls), addr, format!("Bearer {}", token(srv)?)))
}

/// Proxies `GET path?query` to node `node`'s kubelet, streaming the answer back.
pub async fn get(
    srv: &Arc<Server>,
    node: &str,
    path: &str,
    query: &[(&str, String)],
) -> ApiResult<Response> {
    let (io, addr, auth) = connect(srv, node).await?;
    let mut target = path.to_string();
    if !query.is_empty() {
        let q: Vec<String> = query
            .iter()
            .map(|(k, v)| format!("{k}={}", crate::request::encode(v)))
            .collect();
        target = format!("{target}?{}", q.join("&"));
    }
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| ApiError::internal(format!("kubelet {addr}: {e}")))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let req = HttpRequest::get(target)
        .header(header::HOST, addr.as_str())
        .header(header::AUTHORIZATION, auth)
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let resp = sender
        .send_request(req)
        .await
        .map_err(|e| ApiError::internal(format!("kubelet {addr}: {e}")))?;
    let (parts, body) = resp.into_parts();
    let mut out = Response::builder().status(parts.status);
    if let Some(ct) = parts.headers.get(header::CONTENT_TYPE) {
        out = out.header(header::CONTENT_TYPE, ct);
    }
    if parts.status == StatusCode::UNAUTHORIZED {
        return Err(ApiError::internal(format!(
            "kubelet {addr} refused this server's credentials"
        )));
    }
    Ok(out.body(Body::new(body)).unwrap_or_default())
}

/// TLS without certificate verification (kubelet serving certificates are self-signed).
fn tls_connector() -> tokio_rustls::TlsConnector {
    #[derive(Debug)]
    struct AnyCert;
    impl rustls::client::danger::ServerCertVerifier for AnyCert {
        fn verify_server_cert(
            &self,
            _: &rustls::pki_types::CertificateDer<'_>,
            _: &[rustls::pki_types::CertificateDer<'_>],
            _: &rustls::pki_types::ServerName<'_>,
            _: &[u8],
            _: rustls::pki_types::UnixTime,
        ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
            Ok(rustls::client::danger::ServerCertVerified::assertion())
        }
        fn verify_tls12_signature(
            &self,
            _: &[u8],
            _: &rustls::pki_types::CertificateDer<'_>,
            _: &rustls::DigitallySignedStruct,
        ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
        }
        fn verify_tls13_signature(
            &self,
            _: &[u8],
            _: &rustls::pki_types::CertificateDer<'_>,
            _: &rustls::DigitallySignedStruct,
        ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
        }
        fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
            rustls::crypto::ring::default_provider()
                .signature_verification_algorithms
                .supported_schemes()
        }
    }
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("default TLS versions")
    .dangerous()
    .with_custom_certificate_verifier(Arc::new(AnyCert))
    .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    tokio_rustls::TlsConnector::from(Arc::new(config))
}
