//! A small HTTPS client for the API: mTLS from the admin kubeconfig, HTTP/1.1 kept alive.

use anyhow::{anyhow, bail, Context, Result};
use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use tokio_rustls::TlsConnector;

/// Where the API is and how to authenticate to it.
#[derive(Clone)]
pub struct Api {
    pub addr: SocketAddr,
    pub host: String,
    tls: Arc<rustls::ClientConfig>,
}

fn b64(v: &serde_yaml::Value, what: &str) -> Result<Vec<u8>> {
    let s = v
        .as_str()
        .with_context(|| format!("kubeconfig has no {what}"))?;
    base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .with_context(|| format!("kubeconfig {what} is not base64"))
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

impl Api {
    /// Read the admin kubeconfig (embedded CA, client certificate and key).
    pub fn from_kubeconfig(path: &Path) -> Result<Api> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
        let cfg: serde_yaml::Value =
            serde_yaml::from_str(&text).with_context(|| format!("parse {}", path.display()))?;
        let cluster = &cfg["clusters"][0]["cluster"];
        let user = &cfg["users"][0]["user"];
        let server = cluster["server"]
            .as_str()
            .context("kubeconfig has no server")?;
        let ca = b64(
            &cluster["certificate-authority-data"],
            "certificate-authority-data",
        )?;
        let cert = b64(&user["client-certificate-data"], "client-certificate-data")?;
        let key = b64(&user["client-key-data"], "client-key-data")?;

        let hostport = server
            .strip_prefix("https://")
            .with_context(|| format!("server {server} is not https"))?;
        let hostport = hostport.trim_end_matches('/');
        let addr: SocketAddr = hostport
            .parse()
            .with_context(|| format!("server address {hostport}"))?;
        let host = addr.ip().to_string();

        let mut roots = rustls::RootCertStore::empty();
        for c in rustls_pemfile::certs(&mut &ca[..]) {
            roots.add(c.context("parse CA")?).context("add CA")?;
        }
        let certs: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut &cert[..])
            .collect::<Result<_, _>>()
            .context("parse client certificate")?;
        let key: PrivateKeyDer<'static> = rustls_pemfile::private_key(&mut &key[..])
            .context("parse client key")?
            .context("no client key in kubeconfig")?;
        let tls = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_client_auth_cert(certs, key)
            .context("client certificate")?;
        Ok(Api {
            addr,
            host,
            tls: Arc::new(tls),
        })
    }

    /// A client that trusts any server certificate and sends none: for `/readyz` before the
    /// kubeconfig exists.
    pub fn insecure(addr: SocketAddr) -> Api {
        let tls = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("default protocol versions")
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerify(provider())))
            .with_no_client_auth();
        Api {
            addr,
            host: addr.ip().to_string(),
            tls: Arc::new(tls),
        }
    }

    /// Open one kept-alive connection.
    pub async fn connect(&self) -> Result<Conn> {
        let tcp = tokio::net::TcpStream::connect(self.addr)
            .await
            .with_context(|| format!("connect {}", self.addr))?;
        tcp.set_nodelay(true)?;
        let name = ServerName::try_from(self.host.clone())
            .map_err(|e| anyhow!("server name {}: {e}", self.host))?;
        let tls = TlsConnector::from(self.tls.clone())
            .connect(name, tcp)
            .await
            .context("TLS handshake")?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .context("HTTP handshake")?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Conn {
            sender,
            host: format!("{}", self.addr),
        })
    }
}

/// One HTTP/1.1 connection.
pub struct Conn {
    sender: SendRequest<Full<Bytes>>,
    host: String,
}

pub const JSON: &str = "application/json";
pub const TABLE: &str = "application/json;as=Table;v=v1;g=meta.k8s.io";

impl Conn {
    /// Send a request; the response body is left to the caller (for watches).
    pub async fn send(
        &mut self,
        method: Method,
        path: &str,
        accept: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Response<Incoming>> {
        self.send_as(method, path, accept, JSON, body).await
    }

    /// As [`Conn::send`], with the body's content type (e.g. a patch type).
    pub async fn send_as(
        &mut self,
        method: Method,
        path: &str,
        accept: &str,
        content_type: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Response<Incoming>> {
        self.sender.ready().await.context("connection closed")?;
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header("host", &self.host)
            .header("accept", accept);
        if body.is_some() {
            req = req.header("content-type", content_type);
        }
        let req = req.body(Full::new(Bytes::from(body.unwrap_or_default())))?;
        self.sender
            .send_request(req)
            .await
            .with_context(|| format!("request {path}"))
    }

    /// Send a request and read the whole response.
    pub async fn call(
        &mut self,
        method: Method,
        path: &str,
        accept: &str,
        body: Option<Vec<u8>>,
    ) -> Result<(StatusCode, Bytes)> {
        let resp = self.send(method, path, accept, body).await?;
        let status = resp.status();
        let body = resp
            .into_body()
            .collect()
            .await
            .with_context(|| format!("read response of {path}"))?
            .to_bytes();
        Ok((status, body))
    }

    /// Like [`Conn::call`], failing unless the status is 2xx; returns the body parsed as JSON.
    pub async fn json(
        &mut self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<serde_json::Value> {
        let (status, bytes) = self.call(method.clone(), path, JSON, body).await?;
        if !status.is_success() {
            bail!(
                "{method} {path}: {status}: {}",
                String::from_utf8_lossy(&bytes[..bytes.len().min(500)])
            );
        }
        serde_json::from_slice(&bytes)
            .with_context(|| format!("{method} {path}: response is not JSON"))
    }
}

#[derive(Debug)]
struct NoVerify(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
