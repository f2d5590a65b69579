//! Container probes: startup, liveness and readiness, each by exec (CRI `ExecSync`), httpGet
//! (HTTP or HTTPS without certificate checks, as upstream), tcpSocket or grpc (the standard
//! `grpc.health.v1.Health/Check`).
//!
//! Timing follows upstream: a probe first runs `initialDelaySeconds` after the container
//! started, then every `periodSeconds`, each run bounded by `timeoutSeconds`; a result flips
//! after `successThreshold` successes or `failureThreshold` failures in a row. The startup
//! probe holds the other two back until it succeeds. A failed startup or liveness probe kills
//! the container (after the probe's own `terminationGracePeriodSeconds`, else the pod's), and
//! the pod's restartPolicy decides what happens next; readiness only sets the container's
//! `ready`.
//!
//! State is kept per container id, so a restarted container starts over.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use k8s_openapi::api::core::v1::{Container, Pod, Probe};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The three kinds, in upstream's words ("Liveness probe failed: …").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Startup,
    Liveness,
    Readiness,
}

impl Kind {
    pub fn word(self) -> &'static str {
        match self {
            Kind::Startup => "Startup",
            Kind::Liveness => "Liveness",
            Kind::Readiness => "Readiness",
        }
    }
}

#[derive(Debug, Default, Clone)]
struct Counter {
    successes: i32,
    failures: i32,
    next: Option<SystemTime>,
}

/// What the probes say about one running container.
#[derive(Debug, Default, Clone)]
pub struct ContainerProbes {
    /// The startup probe succeeded (or there is none).
    pub started: bool,
    /// The readiness probe's verdict (or `started` when there is none).
    pub ready: bool,
    /// A kill was requested; no more probes for this container.
    pub killing: bool,
    counters: HashMap<Kind, Counter>,
}

/// Probe state of a pod's containers, by container id.
pub type ProbeStates = HashMap<String, ContainerProbes>;

/// What a probe run asks the caller to do.
#[derive(Debug, PartialEq)]
pub enum Action {
    /// An `Unhealthy` warning event with this message.
    Unhealthy(String),
    /// Kill the container (`Killing` event message, grace period).
    Kill {
        id: String,
        message: String,
        grace: Duration,
    },
}

/// A running container to probe.
pub struct Target<'a> {
    pub container: &'a Container,
    pub id: &'a str,
    /// Nanoseconds since the epoch.
    pub started_at: i64,
}

/// Runs the probes that are due. `exec` runs a command in a container and returns its output
/// and exit code. Updates `states` (dropping containers no longer running) and `wake` (when
/// the next probe is due); returns what the caller must do.
pub async fn run_due<E, F>(
    pod: &Pod,
    pod_ip: &str,
    targets: &[Target<'_>],
    states: &mut ProbeStates,
    wake: &mut Option<Duration>,
    exec: E,
) -> Vec<Action>
where
    E: Fn(String, Vec<String>, Duration) -> F,
    F: std::future::Future<Output = Result<(String, i32), String>>,
{
    states.retain(|id, _| targets.iter().any(|t| t.id == id));
    let mut actions = Vec::new();
    let now = SystemTime::now();
    for t in targets {
        let c = t.container;
        let st = states
            .entry(t.id.to_string())
            .or_insert_with(|| ContainerProbes {
                started: c.startup_probe.is_none(),
                ready: c.startup_probe.is_none() && c.readiness_probe.is_none(),
                ..Default::default()
            });
        if st.killing {
            continue;
        }
        let started_at = SystemTime::UNIX_EPOCH + Duration::from_nanos(t.started_at.max(0) as u64);
        let kinds: Vec<(Kind, &Probe)> = if !st.started {
            c.startup_probe.iter().map(|p| (Kind::Startup, p)).collect()
        } else {
            c.liveness_probe
                .iter()
                .map(|p| (Kind::Liveness, p))
                .chain(c.readiness_probe.iter().map(|p| (Kind::Readiness, p)))
                .collect()
        };
        for (kind, probe) in kinds {
            let period = Duration::from_secs(probe.period_seconds.unwrap_or(10).max(1) as u64);
            let counter = st.counters.entry(kind).or_default();
            let due = counter.next.unwrap_or_else(|| {
                started_at
                    + Duration::from_secs(probe.initial_delay_seconds.unwrap_or(0).max(0) as u64)
            });
            if due > now {
                wake_min(wake, due.duration_since(now).unwrap_or_default());
                continue;
            }
            let timeout = Duration::from_secs(probe.timeout_seconds.unwrap_or(1).max(1) as u64);
            let result = run_probe(probe, c, pod_ip, t.id, timeout, &exec).await;
            counter.next = Some(SystemTime::now() + period);
            wake_min(wake, period);
            let counter = st.counters.get_mut(&kind).expect("inserted above");
            match result {
                Ok(()) => {
                    counter.successes += 1;
                    counter.failures = 0;
                    let needed = if kind == Kind::Readiness {
                        probe.success_threshold.unwrap_or(1).max(1)
                    } else {
                        1
                    };
                    if counter.successes >= needed {
                        match kind {
                            Kind::Startup => {
                                st.started = true;
                                st.ready = c.readiness_probe.is_none();
                                // Liveness and readiness start now.
                                wake_min(wake, Duration::ZERO);
                            }
                            Kind::Readiness => st.ready = true,
                            Kind::Liveness => {}
                        }
                    }
                }
                Err(why) => {
                    counter.failures += 1;
                    counter.successes = 0;
                    actions.push(Action::Unhealthy(format!(
                        "{} probe failed: {why}",
                        kind.word()
                    )));
                    if counter.failures >= probe.failure_threshold.unwrap_or(3).max(1) {
                        match kind {
                            Kind::Readiness => st.ready = false,
                            Kind::Startup | Kind::Liveness => {
                                st.killing = true;
                                st.ready = false;
                                actions.push(Action::Kill {
                                    id: t.id.to_string(),
                                    message: format!(
                                        "Container {} failed {} probe, will be restarted",
                                        c.name,
                                        kind.word().to_lowercase()
                                    ),
                                    grace: grace(pod, probe),
                                });
                                break;
                            }
                        }
                    }
                }
            }
        }
    }
    actions
}

fn wake_min(a: &mut Option<Duration>, b: Duration) {
    *a = Some(a.map_or(b, |x| x.min(b)));
}

/// The grace period of a kill after a failed probe: the probe's own, else the pod's.
fn grace(pod: &Pod, probe: &Probe) -> Duration {
    let secs = probe
        .termination_grace_period_seconds
        .or_else(|| {
            pod.spec
                .as_ref()
                .and_then(|s| s.termination_grace_period_seconds)
        })
        .unwrap_or(30);
    Duration::from_secs(secs.max(1) as u64)
}

/// A port given by number or by the name of one of the container's ports.
fn resolve_port(port: &IntOrString, c: &Container) -> Result<u16, String> {
    match port {
        IntOrString::Int(n) => u16::try_from(*n).map_err(|_| format!("invalid port {n}")),
        IntOrString::String(name) => {
            if let Ok(n) = name.parse::<u16>() {
                return Ok(n);
            }
            c.ports
                .iter()
                .flatten()
                .find(|p| p.name.as_deref() == Some(name.as_str()))
                .and_then(|p| u16::try_from(p.container_port).ok())
                .ok_or_else(|| format!("couldn't find port: {name} in {}", c.name))
        }
    }
}

/// One run of an exec-less probe (httpGet, tcpSocket, grpc), for lifecycle hooks.
pub(crate) async fn check_once(
    probe: &Probe,
    c: &Container,
    pod_ip: &str,
    id: &str,
    timeout: Duration,
) -> Result<(), String> {
    async fn no_exec(_: String, _: Vec<String>, _: Duration) -> Result<(String, i32), String> {
        Err("exec is not available here".into())
    }
    run_probe(probe, c, pod_ip, id, timeout, &no_exec).await
}

/// One probe run: Ok, or why it failed (upstream's wording where it has one).
async fn run_probe<E, F>(
    probe: &Probe,
    c: &Container,
    pod_ip: &str,
    id: &str,
    timeout: Duration,
    exec: &E,
) -> Result<(), String>
where
    E: Fn(String, Vec<String>, Duration) -> F,
    F: std::future::Future<Output = Result<(String, i32), String>>,
{
    if let Some(e) = &probe.exec {
        let cmd = e.command.clone().unwrap_or_default();
        let (output, code) = exec(id.to_string(), cmd.clone(), timeout).await?;
        return if code == 0 {
            Ok(())
        } else if output.is_empty() {
            Err(format!("command {cmd:?} exited with {code}"))
        } else {
            Err(output)
        };
    }
    if let Some(h) = &probe.http_get {
        let port = resolve_port(&h.port, c)?;
        let host = h
            .host
            .clone()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| pod_ip.to_string());
        let path = h
            .path
            .clone()
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| "/".into());
        let https = h.scheme.as_deref() == Some("HTTPS");
        let headers: Vec<(String, String)> = h
            .http_headers
            .iter()
            .flatten()
            .map(|h| (h.name.clone(), h.value.clone()))
            .collect();
        return match tokio::time::timeout(timeout, http_get(&host, port, &path, https, &headers)).await {
            Ok(Ok(code)) if (200..400).contains(&code) => Ok(()),
            Ok(Ok(code)) => Err(format!("HTTP probe failed with statuscode: {code}")),
            Ok(Err(e)) => Err(format!(
                "Get \"{}://{}{path}\": {e}",
                if https { "https" } else { "http" },
                join_host_port(&host, port)
            )),
            Err(_) => Err(format!(
                "Get \"{}://{}{path}\": context deadline exceeded (Client.Timeout exceeded while awaiting headers)",
                if https { "https" } else { "http" },
                join_host_port(&host, port)
            )),
        };
    }
    if let Some(t) = &probe.tcp_socket {
        let port = resolve_port(&t.port, c)?;
        let host = t
            .host
            .clone()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| pod_ip.to_string());
        let addr = join_host_port(&host, port);
        return match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(&addr)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(format!("dial tcp {addr}: connect: {}", lower_io(&e))),
            Err(_) => Err(format!("dial tcp {addr}: i/o timeout")),
        };
    }
    if let Some(g) = &probe.grpc {
        let addr = join_host_port(
            pod_ip,
            u16::try_from(g.port).map_err(|_| "invalid port".to_string())?,
        );
        let service = g.service.clone().unwrap_or_default();
        return match tokio::time::timeout(timeout, grpc_check(&addr, &service)).await {
            Ok(Ok(1)) => Ok(()),
            Ok(Ok(status)) => Err(format!(
                "service unhealthy (responded with \"{}\")",
                match status {
                    2 => "NOT_SERVING",
                    3 => "SERVICE_UNKNOWN",
                    _ => "UNKNOWN",
                }
            )),
            Ok(Err(e)) => Err(format!(
                "failed to connect service {addr:?} within {}s: {e}",
                timeout.as_secs()
            )),
            Err(_) => Err(format!(
                "timeout: health rpc did not complete within {}s",
                timeout.as_secs()
            )),
        };
    }
    Ok(())
}

fn lower_io(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::ConnectionRefused => "connection refused".into(),
        _ => e.to_string(),
    }
}

fn join_host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// A GET with upstream's probe headers; the status code.
async fn http_get(
    host: &str,
    port: u16,
    path: &str,
    https: bool,
    headers: &[(String, String)],
) -> Result<u16, String> {
    let addr = join_host_port(host, port);
    let tcp = tokio::net::TcpStream::connect(&addr)
        .await
        .map_err(|e| format!("dial tcp {addr}: connect: {}", lower_io(&e)))?;
    let mut req = format!("GET {path} HTTP/1.1\r\n");
    let has = |n: &str| headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(n));
    if !has("host") {
        req.push_str(&format!("Host: {addr}\r\n"));
    }
    if !has("user-agent") {
        req.push_str("User-Agent: kube-probe/1.33\r\n");
    }
    if !has("accept") {
        req.push_str("Accept: */*\r\n");
    }
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("Connection: close\r\n\r\n");
    let head = if https {
        let mut tls = tls_connector()
            .connect(
                rustls::pki_types::ServerName::try_from(host.to_string()).unwrap_or_else(|_| {
                    rustls::pki_types::ServerName::try_from("localhost").expect("valid name")
                }),
                tcp,
            )
            .await
            .map_err(|e| e.to_string())?;
        tls.write_all(req.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        read_head(&mut tls).await?
    } else {
        let mut tcp = tcp;
        tcp.write_all(req.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        read_head(&mut tcp).await?
    };
    head.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| "malformed HTTP response".to_string())
}

async fn read_head<R: tokio::io::AsyncRead + Unpin>(r: &mut R) -> Result<String, String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    while !buf.windows(2).any(|w| w == b"\r\n") {
        let n = r.read(&mut chunk).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("EOF".into());
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.len() > 16 * 1024 {
            break;
        }
    }
    Ok(String::from_utf8_lossy(&buf)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string())
}

/// TLS for HTTPS probes: like upstream, the server's certificate is not verified.
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
    let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("default TLS versions")
    .dangerous()
    .with_custom_certificate_verifier(std::sync::Arc::new(AnyCert))
    .with_no_client_auth();
    tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
}

/// `grpc.health.v1.Health/Check` over plaintext HTTP/2; the serving status (1 = SERVING).
async fn grpc_check(addr: &str, service: &str) -> Result<i32, String> {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .map_err(|e| e.to_string())?
        .connect()
        .await
        .map_err(|e| e.to_string())?;
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.map_err(|e| e.to_string())?;
    // HealthCheckRequest { string service = 1; }, encoded by hand.
    let mut req = Vec::new();
    if !service.is_empty() {
        req.push(0x0a);
        encode_varint(service.len() as u64, &mut req);
        req.extend_from_slice(service.as_bytes());
    }
    let path = tonic::codegen::http::uri::PathAndQuery::from_static("/grpc.health.v1.Health/Check");
    let resp: tonic::Response<Vec<u8>> = grpc
        .unary(tonic::Request::new(req), path, RawCodec)
        .await
        .map_err(|s| format!("rpc error: code = {:?} desc = {}", s.code(), s.message()))?;
    // HealthCheckResponse { ServingStatus status = 1; } (a varint field).
    let body = resp.into_inner();
    let mut status = 0;
    let mut i = 0;
    while i < body.len() {
        let key = body[i];
        i += 1;
        let (v, n) = decode_varint(&body[i..]);
        i += n;
        if key == 0x08 {
            status = v as i32;
        } else if key & 7 == 2 {
            i += v as usize;
        }
    }
    Ok(status)
}

fn encode_varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn decode_varint(b: &[u8]) -> (u64, usize) {
    let mut v = 0u64;
    for (i, byte) in b.iter().enumerate().take(10) {
        v |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return (v, i + 1);
        }
    }
    (v, b.len())
}

/// A tonic codec passing message bytes through unchanged.
#[derive(Clone, Copy, Default)]
struct RawCodec;

impl tonic::codec::Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawCodec;
    type Decoder = RawCodec;
    fn encoder(&mut self) -> RawCodec {
        RawCodec
    }
    fn decoder(&mut self) -> RawCodec {
        RawCodec
    }
}

impl tonic::codec::Encoder for RawCodec {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn encode(
        &mut self,
        item: Vec<u8>,
        dst: &mut tonic::codec::EncodeBuf<'_>,
    ) -> Result<(), tonic::Status> {
        use bytes::BufMut;
        dst.put_slice(&item);
        Ok(())
    }
}

impl tonic::codec::Decoder for RawCodec {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn decode(
        &mut self,
        src: &mut tonic::codec::DecodeBuf<'_>,
    ) -> Result<Option<Vec<u8>>, tonic::Status> {
        use bytes::Buf;
        let mut out = vec![0u8; src.remaining()];
        src.copy_to_slice(&mut out);
        Ok(Some(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod_with(container: serde_json::Value) -> (Pod, Container) {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p", "namespace": "default", "uid": "u"},
            "spec": {"terminationGracePeriodSeconds": 5, "containers": [container]}
        }))
        .unwrap();
        let c = pod.spec.as_ref().unwrap().containers[0].clone();
        (pod, c)
    }

    async fn never_exec(_: String, _: Vec<String>, _: Duration) -> Result<(String, i32), String> {
        Err("no exec".into())
    }

    #[tokio::test]
    async fn liveness_kills_after_failure_threshold() {
        let (pod, c) = pod_with(serde_json::json!({
            "name": "app", "image": "busybox",
            "livenessProbe": {"exec": {"command": ["cat", "/tmp/healthy"]}, "periodSeconds": 1, "failureThreshold": 2}
        }));
        let mut states = ProbeStates::new();
        let target = [Target {
            container: &c,
            id: "c1",
            started_at: 0,
        }];
        let exec = |_id: String, _cmd: Vec<String>, _t: Duration| async {
            Ok((
                "cat: can't open '/tmp/healthy': No such file or directory\n".to_string(),
                1,
            ))
        };
        let mut wake = None;
        let a = run_due(&pod, "10.42.0.9", &target, &mut states, &mut wake, exec).await;
        assert_eq!(
            a,
            vec![Action::Unhealthy(
                "Liveness probe failed: cat: can't open '/tmp/healthy': No such file or directory\n".into()
            )]
        );
        assert_eq!(wake, Some(Duration::from_secs(1)));
        // Not due again yet.
        let a = run_due(&pod, "10.42.0.9", &target, &mut states, &mut None, exec).await;
        assert!(a.is_empty());
        states
            .get_mut("c1")
            .unwrap()
            .counters
            .get_mut(&Kind::Liveness)
            .unwrap()
            .next = None;
        let a = run_due(&pod, "10.42.0.9", &target, &mut states, &mut None, exec).await;
        assert_eq!(a.len(), 2);
        assert_eq!(
            a[1],
            Action::Kill {
                id: "c1".into(),
                message: "Container app failed liveness probe, will be restarted".into(),
                grace: Duration::from_secs(5),
            }
        );
        // A new container id starts over.
        let target = [Target {
            container: &c,
            id: "c2",
            started_at: 0,
        }];
        let a = run_due(&pod, "10.42.0.9", &target, &mut states, &mut None, exec).await;
        assert_eq!(a.len(), 1);
        assert!(!states.contains_key("c1"));
    }

    #[tokio::test]
    async fn readiness_and_startup_gate() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (pod, c) = pod_with(serde_json::json!({
            "name": "app", "image": "busybox",
            "ports": [{"name": "http", "containerPort": port}],
            "startupProbe": {"tcpSocket": {"port": "http"}, "periodSeconds": 1},
            "readinessProbe": {"tcpSocket": {"port": port}, "periodSeconds": 1, "successThreshold": 1}
        }));
        let mut states = ProbeStates::new();
        let target = [Target {
            container: &c,
            id: "c1",
            started_at: 0,
        }];
        let a = run_due(
            &pod,
            "127.0.0.1",
            &target,
            &mut states,
            &mut None,
            never_exec,
        )
        .await;
        assert!(a.is_empty(), "{a:?}");
        let st = &states["c1"];
        assert!(st.started);
        assert!(!st.ready, "readiness has not run yet");
        let a = run_due(
            &pod,
            "127.0.0.1",
            &target,
            &mut states,
            &mut None,
            never_exec,
        )
        .await;
        assert!(a.is_empty(), "{a:?}");
        assert!(states["c1"].ready);
        drop(listener);
        for _ in 0..3 {
            states
                .get_mut("c1")
                .unwrap()
                .counters
                .get_mut(&Kind::Readiness)
                .unwrap()
                .next = None;
            let a = run_due(
                &pod,
                "127.0.0.1",
                &target,
                &mut states,
                &mut None,
                never_exec,
            )
            .await;
            assert_eq!(
                a,
                vec![Action::Unhealthy(format!(
                    "Readiness probe failed: dial tcp 127.0.0.1:{port}: connect: connection refused"
                ))]
            );
        }
        assert!(!states["c1"].ready);
        assert!(!states["c1"].killing, "readiness never kills");
    }

    #[tokio::test]
    async fn http_probe_codes_and_headers() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            let mut seen = Vec::new();
            for code in [200, 500] {
                let (mut s, _) = listener.accept().await.unwrap();
                let mut buf = vec![0u8; 4096];
                let n = s.read(&mut buf).await.unwrap();
                seen.push(String::from_utf8_lossy(&buf[..n]).to_string());
                s.write_all(format!("HTTP/1.1 {code} X\r\nContent-Length: 0\r\n\r\n").as_bytes())
                    .await
                    .unwrap();
            }
            seen
        });
        let (pod, c) = pod_with(serde_json::json!({
            "name": "app", "image": "busybox",
            "livenessProbe": {"httpGet": {"path": "/healthz", "port": port,
                "httpHeaders": [{"name": "X-Custom", "value": "yes"}]}, "periodSeconds": 1}
        }));
        let probe = c.liveness_probe.clone().unwrap();
        let t = Duration::from_secs(2);
        assert_eq!(
            run_probe(&probe, &c, "127.0.0.1", "c", t, &never_exec).await,
            Ok(())
        );
        assert_eq!(
            run_probe(&probe, &c, "127.0.0.1", "c", t, &never_exec).await,
            Err("HTTP probe failed with statuscode: 500".into())
        );
        let seen = server.await.unwrap();
        assert!(
            seen[0].starts_with("GET /healthz HTTP/1.1\r\n"),
            "{}",
            seen[0]
        );
        assert!(seen[0].contains("User-Agent: kube-probe/1.33\r\n"));
        assert!(seen[0].contains("X-Custom: yes\r\n"));
        let _ = pod;
    }
}
