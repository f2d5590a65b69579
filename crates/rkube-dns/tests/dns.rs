//! Component tests: an in-process API server, Services and EndpointSlices created by hand,
//! rkube-dns on 127.0.0.1:0 queried over UDP and TCP with raw hickory-proto messages, and a
//! fake upstream resolver of our own on 127.0.0.1.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::{A, SOA};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use rkube_apiserver::Server;
use rkube_dns::{Dns, Upstreams};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};

async fn api_server() -> (Arc<Server>, kube::Client) {
    let srv = Server::start_in_memory().await.unwrap();
    let client = srv.component_client("dns-test");
    (srv, client)
}

/// Polls `f` every 50 ms until it returns `Some`, failing the test after `secs` seconds.
async fn eventually<T, F, Fut>(secs: u64, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn start_dns(client: &kube::Client, upstreams: Vec<SocketAddr>) -> Dns {
    rkube_dns::spawn(
        client.clone(),
        rkube_dns::Config {
            listen: vec!["127.0.0.1:0".parse().unwrap()],
            upstreams: Upstreams::Static(upstreams),
            upstream_timeout: Duration::from_millis(500),
            ..rkube_dns::Config::default()
        },
    )
    .unwrap()
}

async fn create_service(client: &kube::Client, ns: &str, name: &str, spec: serde_json::Value) {
    let api: Api<Service> = Api::namespaced(client.clone(), ns);
    let svc: Service =
        serde_json::from_value(json!({"metadata": {"name": name}, "spec": spec})).unwrap();
    api.create(&PostParams::default(), &svc).await.unwrap();
}

async fn create_slice(
    client: &kube::Client,
    ns: &str,
    name: &str,
    svc: &str,
    body: serde_json::Value,
) {
    let api: Api<EndpointSlice> = Api::namespaced(client.clone(), ns);
    let mut obj = json!({"metadata": {"name": name,
                                      "labels": {"kubernetes.io/service-name": svc}},
                         "addressType": "IPv4"});
    for (k, v) in body.as_object().unwrap() {
        obj[k] = v.clone();
    }
    let slice: EndpointSlice = serde_json::from_value(obj).unwrap();
    api.create(&PostParams::default(), &slice).await.unwrap();
}

#[derive(Clone, Copy, Debug)]
enum Proto {
    Udp,
    Tcp,
}

fn query_message(name: &str, qtype: RecordType, edns: bool) -> Message {
    let mut m = Message::query();
    m.metadata.id = 4242;
    m.metadata.recursion_desired = true;
    m.add_query(Query::query(Name::from_ascii(name).unwrap(), qtype));
    if edns {
        let mut e = Edns::new();
        e.set_max_payload(1232);
        m.set_edns(e);
    }
    m
}

/// Sends one query and returns the reply (fails the test after 5 s).
async fn ask_with(
    addr: SocketAddr,
    proto: Proto,
    name: &str,
    qtype: RecordType,
    edns: bool,
) -> Message {
    let bytes = query_message(name, qtype, edns).to_vec().unwrap();
    let reply = tokio::time::timeout(Duration::from_secs(5), async {
        match proto {
            Proto::Udp => {
                let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
                sock.send_to(&bytes, addr).await.unwrap();
                let mut buf = vec![0u8; 65535];
                let n = sock.recv(&mut buf).await.unwrap();
                buf.truncate(n);
                buf
            }
            Proto::Tcp => {
                let mut s = TcpStream::connect(addr).await.unwrap();
                let mut framed = (bytes.len() as u16).to_be_bytes().to_vec();
                framed.extend_from_slice(&bytes);
                s.write_all(&framed).await.unwrap();
                let mut len = [0u8; 2];
                s.read_exact(&mut len).await.unwrap();
                let mut buf = vec![0u8; u16::from_be_bytes(len) as usize];
                s.read_exact(&mut buf).await.unwrap();
                buf
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no reply to {name} {qtype} over {proto:?}"));
    let m = Message::from_vec(&reply).unwrap();
    assert_eq!(m.metadata.id, 4242);
    assert_eq!(m.metadata.message_type, MessageType::Response);
    m
}

async fn ask(addr: SocketAddr, proto: Proto, name: &str, qtype: RecordType) -> Message {
    ask_with(addr, proto, name, qtype, true).await
}

/// Answers as `type rdata` strings, sorted.
fn answers(m: &Message) -> Vec<String> {
    let mut v: Vec<String> = m
        .answers
        .iter()
        .map(|r| format!("{} {}", r.record_type(), r.data))
        .collect();
    v.sort();
    v
}

/// Waits until `name` has answers (the watches have caught up) and returns them.
async fn resolves(addr: SocketAddr, name: &str, qtype: RecordType, want: &[&str]) {
    let want: Vec<String> = want.iter().map(|s| s.to_string()).collect();
    eventually(10, &format!("{name} {qtype} to be {want:?}"), || {
        let want = want.clone();
        async move {
            let m = ask(addr, Proto::Udp, name, qtype).await;
            (m.metadata.response_code == ResponseCode::NoError && answers(&m) == want).then_some(())
        }
    })
    .await;
}

/// Waits until `name` is NXDOMAIN.
async fn nxdomain(addr: SocketAddr, name: &str) {
    eventually(10, &format!("{name} to be NXDOMAIN"), || async move {
        let m = ask(addr, Proto::Udp, name, RecordType::A).await;
        (m.metadata.response_code == ResponseCode::NXDomain).then_some(())
    })
    .await;
}

/// A resolver on 127.0.0.1 (UDP and TCP, one port) that knows a few example.com names and
/// counts the queries it gets.
struct FakeUpstream {
    addr: SocketAddr,
    queries: Arc<AtomicUsize>,
}

fn fake_answer(q: &Message, over_udp: bool) -> Message {
    let mut m = Message::new(q.metadata.id, MessageType::Response, OpCode::Query);
    m.metadata.recursion_desired = true;
    m.metadata.recursion_available = true;
    m.add_queries(q.queries.clone());
    let Some(query) = q.queries.first() else {
        m.metadata.response_code = ResponseCode::FormErr;
        return m;
    };
    let name = query.name().to_lowercase().to_ascii();
    let a =
        |ip: [u8; 4], ttl| Record::from_rdata(query.name().clone(), ttl, RData::A(A(ip.into())));
    match (name.as_str(), query.query_type()) {
        ("www.example.com.", RecordType::A) => {
            m.add_answer(a([192, 0, 2, 10], 300));
        }
        ("big.example.com.", RecordType::A) if over_udp => m.metadata.truncation = true,
        ("big.example.com.", RecordType::A) => {
            for i in 1..=40 {
                m.add_answer(a([192, 0, 2, i], 300));
            }
        }
        ("nx.example.com.", _) => {
            m.metadata.response_code = ResponseCode::NXDomain;
            let zone = Name::from_ascii("example.com.").unwrap();
            m.add_authority(Record::from_rdata(
                zone.clone(),
                60,
                RData::SOA(SOA::new(zone.clone(), zone, 1, 3600, 600, 86400, 20)),
            ));
        }
        _ => m.metadata.response_code = ResponseCode::Refused,
    }
    m
}

async fn fake_upstream() -> FakeUpstream {
    let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = udp.local_addr().unwrap();
    let tcp = TcpListener::bind(addr).await.unwrap();
    let queries = Arc::new(AtomicUsize::new(0));
    let count = queries.clone();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        loop {
            let Ok((n, from)) = udp.recv_from(&mut buf).await else {
                return;
            };
            let Ok(q) = Message::from_vec(&buf[..n]) else {
                continue;
            };
            count.fetch_add(1, Ordering::SeqCst);
            let reply = fake_answer(&q, true).to_vec().unwrap();
            let _ = udp.send_to(&reply, from).await;
        }
    });
    let count = queries.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = tcp.accept().await {
            let count = count.clone();
            tokio::spawn(async move {
                let mut len = [0u8; 2];
                if s.read_exact(&mut len).await.is_err() {
                    return;
                }
                let mut buf = vec![0u8; u16::from_be_bytes(len) as usize];
                if s.read_exact(&mut buf).await.is_err() {
                    return;
                }
                let Ok(q) = Message::from_vec(&buf) else {
                    return;
                };
                count.fetch_add(1, Ordering::SeqCst);
                let reply = fake_answer(&q, false).to_vec().unwrap();
                let mut framed = (reply.len() as u16).to_be_bytes().to_vec();
                framed.extend_from_slice(&reply);
                let _ = s.write_all(&framed).await;
            });
        }
    });
    FakeUpstream { addr, queries }
}

#[tokio::test]
async fn cluster_records_over_udp_and_tcp() {
    let (_srv, client) = api_server().await;
    let upstream = fake_upstream().await;
    create_service(
        &client,
        "default",
        "web",
        json!({"clusterIP": "10.43.0.50",
        "ports": [{"name": "http", "port": 80}, {"name": "metrics", "port": 9090}]}),
    )
    .await;
    create_service(
        &client,
        "default",
        "db",
        json!({"clusterIP": "None",
        "ports": [{"name": "pg", "port": 5432}]}),
    )
    .await;
    create_slice(
        &client,
        "default",
        "db-x1",
        "db",
        json!({
        "ports": [{"name": "pg", "port": 5432, "protocol": "TCP"}],
        "endpoints": [
            {"addresses": ["10.42.0.5"], "hostname": "db-0", "conditions": {"ready": true}},
            {"addresses": ["10.42.0.6"], "hostname": "db-1", "conditions": {"ready": true}},
            {"addresses": ["10.42.0.7"], "hostname": "db-2", "conditions": {"ready": false}},
        ]}),
    )
    .await;
    create_service(
        &client,
        "default",
        "ext",
        json!({"type": "ExternalName",
        "externalName": "www.example.com"}),
    )
    .await;
    create_service(
        &client,
        "default",
        "alias",
        json!({"type": "ExternalName", "externalName": "web.default.svc.cluster.local"}),
    )
    .await;
    let dns = start_dns(&client, vec![upstream.addr]);
    let addr = dns.local_addrs()[0];

    resolves(
        addr,
        "web.default.svc.cluster.local.",
        RecordType::A,
        &["A 10.43.0.50"],
    )
    .await;
    // An ExternalName pointing into the cluster is followed without leaving it.
    let m = ask(
        addr,
        Proto::Udp,
        "alias.default.svc.cluster.local.",
        RecordType::A,
    )
    .await;
    assert_eq!(
        answers(&m),
        vec!["A 10.43.0.50", "CNAME web.default.svc.cluster.local."]
    );
    for proto in [Proto::Udp, Proto::Tcp] {
        let m = ask(addr, proto, "web.default.svc.cluster.local.", RecordType::A).await;
        assert_eq!(answers(&m), vec!["A 10.43.0.50"], "{proto:?}");
        assert!(m.metadata.authoritative);
        assert_eq!(m.answers[0].ttl, 5);

        // Headless: the ready endpoints, and each endpoint by its hostname.
        let m = ask(addr, proto, "db.default.svc.cluster.local.", RecordType::A).await;
        assert_eq!(answers(&m), vec!["A 10.42.0.5", "A 10.42.0.6"], "{proto:?}");
        let m = ask(
            addr,
            proto,
            "db-1.db.default.svc.cluster.local.",
            RecordType::A,
        )
        .await;
        assert_eq!(answers(&m), vec!["A 10.42.0.6"]);

        // SRV for named ports, with the target addresses in the additional section.
        let m = ask(
            addr,
            proto,
            "_http._tcp.web.default.svc.cluster.local.",
            RecordType::SRV,
        )
        .await;
        assert_eq!(
            answers(&m),
            vec!["SRV 0 100 80 web.default.svc.cluster.local."]
        );
        assert_eq!(m.additionals.len(), 1);
        let m = ask(
            addr,
            proto,
            "_pg._tcp.db.default.svc.cluster.local.",
            RecordType::SRV,
        )
        .await;
        assert_eq!(
            answers(&m),
            vec![
                "SRV 0 50 5432 db-0.db.default.svc.cluster.local.",
                "SRV 0 50 5432 db-1.db.default.svc.cluster.local.",
            ]
        );

        // ExternalName: the CNAME, then its target resolved upstream.
        let m = ask(addr, proto, "ext.default.svc.cluster.local.", RecordType::A).await;
        assert_eq!(answers(&m), vec!["A 192.0.2.10", "CNAME www.example.com."]);
        assert_eq!(m.metadata.response_code, ResponseCode::NoError);

        // Pods by dashed address.
        let m = ask(
            addr,
            proto,
            "10-42-1-9.default.pod.cluster.local.",
            RecordType::A,
        )
        .await;
        assert_eq!(answers(&m), vec!["A 10.42.1.9"]);

        // PTR for cluster IPs and endpoints.
        let m = ask(addr, proto, "50.0.43.10.in-addr.arpa.", RecordType::PTR).await;
        assert_eq!(answers(&m), vec!["PTR web.default.svc.cluster.local."]);
        let m = ask(addr, proto, "5.0.42.10.in-addr.arpa.", RecordType::PTR).await;
        assert_eq!(answers(&m), vec!["PTR db-0.db.default.svc.cluster.local."]);

        // NXDOMAIN vs NODATA, both with the zone's SOA.
        let m = ask(
            addr,
            proto,
            "nope.default.svc.cluster.local.",
            RecordType::A,
        )
        .await;
        assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
        assert_eq!(m.authorities[0].record_type(), RecordType::SOA);
        let m = ask(addr, proto, "web.nowhere.svc.cluster.local.", RecordType::A).await;
        assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
        let m = ask(
            addr,
            proto,
            "web.default.svc.cluster.local.",
            RecordType::AAAA,
        )
        .await;
        assert_eq!(m.metadata.response_code, ResponseCode::NoError);
        assert!(m.answers.is_empty());
        assert_eq!(m.authorities[0].record_type(), RecordType::SOA);

        let m = ask(addr, proto, "dns-version.cluster.local.", RecordType::TXT).await;
        assert_eq!(answers(&m), vec!["TXT 1.1.0"]);
    }
    dns.abort();
}

#[tokio::test]
async fn records_follow_the_cluster() {
    let (_srv, client) = api_server().await;
    let dns = start_dns(&client, vec![]);
    let addr = dns.local_addrs()[0];

    create_service(
        &client,
        "default",
        "api",
        json!({"clusterIP": "10.43.0.60",
        "ports": [{"name": "http", "port": 80}]}),
    )
    .await;
    create_service(&client, "default", "db", json!({"clusterIP": "None"})).await;
    resolves(
        addr,
        "api.default.svc.cluster.local.",
        RecordType::A,
        &["A 10.43.0.60"],
    )
    .await;
    // A headless service without ready endpoints does not resolve yet.
    nxdomain(addr, "db.default.svc.cluster.local.").await;

    create_slice(
        &client,
        "default",
        "db-a",
        "db",
        json!({
        "endpoints": [{"addresses": ["10.42.0.20"], "conditions": {"ready": true}}]}),
    )
    .await;
    resolves(
        addr,
        "db.default.svc.cluster.local.",
        RecordType::A,
        &["A 10.42.0.20"],
    )
    .await;
    // An endpoint without a hostname is named by its dashed address.
    resolves(
        addr,
        "10-42-0-20.db.default.svc.cluster.local.",
        RecordType::A,
        &["A 10.42.0.20"],
    )
    .await;

    // Endpoints becoming ready and not ready.
    let slices: Api<EndpointSlice> = Api::namespaced(client.clone(), "default");
    let patch = json!({"endpoints": [
        {"addresses": ["10.42.0.20"], "conditions": {"ready": false}},
        {"addresses": ["10.42.0.21"], "conditions": {"ready": true}}]});
    slices
        .patch("db-a", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    resolves(
        addr,
        "db.default.svc.cluster.local.",
        RecordType::A,
        &["A 10.42.0.21"],
    )
    .await;

    // Deleting a service removes its names and reverse records.
    let services: Api<Service> = Api::namespaced(client.clone(), "default");
    services
        .delete("api", &DeleteParams::default())
        .await
        .unwrap();
    nxdomain(addr, "api.default.svc.cluster.local.").await;
    let m = ask(
        addr,
        Proto::Tcp,
        "api.default.svc.cluster.local.",
        RecordType::A,
    )
    .await;
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);

    // Names in a namespace created later resolve once it exists.
    let ns: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    let obj = serde_json::from_value(json!({"metadata": {"name": "prod"}})).unwrap();
    ns.create(&PostParams::default(), &obj).await.unwrap();
    create_service(
        &client,
        "prod",
        "api",
        json!({"clusterIP": "10.43.0.61",
        "ports": [{"name": "http", "port": 80}]}),
    )
    .await;
    resolves(
        addr,
        "api.prod.svc.cluster.local.",
        RecordType::A,
        &["A 10.43.0.61"],
    )
    .await;
    dns.abort();
}

#[tokio::test]
async fn forwards_other_names_with_a_cache() {
    let (_srv, client) = api_server().await;
    let upstream = fake_upstream().await;
    let dns = start_dns(&client, vec![upstream.addr]);
    let addr = dns.local_addrs()[0];

    for proto in [Proto::Udp, Proto::Tcp] {
        let m = ask(addr, proto, "www.example.com.", RecordType::A).await;
        assert_eq!(answers(&m), vec!["A 192.0.2.10"], "{proto:?}");
        assert!(!m.metadata.authoritative);
        assert!(m.metadata.recursion_available);
        // Capped at the cache's 30 s.
        assert!(m.answers[0].ttl <= 30, "{}", m.answers[0].ttl);
    }
    // The second answer came from the cache.
    assert_eq!(upstream.queries.load(Ordering::SeqCst), 1);

    // Negative answers are passed on with their SOA and cached too.
    let m = ask(addr, Proto::Udp, "nx.example.com.", RecordType::A).await;
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(m.authorities.len(), 1);
    let m = ask(addr, Proto::Udp, "NX.example.com.", RecordType::A).await;
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(upstream.queries.load(Ordering::SeqCst), 2);

    // A truncated upstream answer is fetched again over TCP; a UDP client without EDNS gets
    // it truncated and retries over TCP, as resolvers do.
    let m = ask(addr, Proto::Tcp, "big.example.com.", RecordType::A).await;
    assert_eq!(m.answers.len(), 40);
    let m = ask_with(addr, Proto::Udp, "big.example.com.", RecordType::A, false).await;
    assert!(m.metadata.truncation);

    // Upstream errors are passed on, and not cached.
    let m = ask(addr, Proto::Udp, "refused.example.org.", RecordType::A).await;
    assert_eq!(m.metadata.response_code, ResponseCode::Refused);
    dns.abort();
}

#[tokio::test]
async fn servfail_when_no_upstream_answers() {
    let (_srv, client) = api_server().await;
    // A port with nothing behind it.
    let closed = {
        let s = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        s.local_addr().unwrap()
    };
    let dns = start_dns(&client, vec![closed]);
    let addr = dns.local_addrs()[0];
    let m = ask(addr, Proto::Udp, "www.example.com.", RecordType::A).await;
    assert_eq!(m.metadata.response_code, ResponseCode::ServFail);
    // Cluster names still answer.
    create_service(
        &client,
        "default",
        "local",
        json!({"clusterIP": "10.43.0.70",
        "ports": [{"name": "http", "port": 80}]}),
    )
    .await;
    resolves(
        addr,
        "local.default.svc.cluster.local.",
        RecordType::A,
        &["A 10.43.0.70"],
    )
    .await;
    dns.abort();
}

/// Queries per second for a service name, from 64 concurrent UDP clients for 5 s (a load
/// generator on this machine, as the benchmark in BENCHMARKS.md). Run with
/// `cargo test --release -p rkube-dns --test dns -- --ignored --nocapture qps`.
#[tokio::test(flavor = "multi_thread")]
#[ignore]
async fn qps_for_a_service_name() {
    let (_srv, client) = api_server().await;
    create_service(
        &client,
        "default",
        "demo",
        json!({"clusterIP": "10.43.0.50", "ports": [{"port": 80}]}),
    )
    .await;
    let dns = start_dns(&client, vec![]);
    let addr = dns.local_addrs()[0];
    resolves(
        addr,
        "demo.default.svc.cluster.local.",
        RecordType::A,
        &["A 10.43.0.50"],
    )
    .await;
    let bytes = query_message("demo.default.svc.cluster.local.", RecordType::A, false)
        .to_vec()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let mut tasks = Vec::new();
    for _ in 0..64 {
        let bytes = bytes.clone();
        tasks.push(tokio::spawn(async move {
            let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            sock.connect(addr).await.unwrap();
            let mut buf = vec![0u8; 1500];
            let mut n = 0u64;
            while std::time::Instant::now() < deadline {
                sock.send(&bytes).await.unwrap();
                if tokio::time::timeout(Duration::from_secs(1), sock.recv(&mut buf))
                    .await
                    .is_ok()
                {
                    n += 1;
                }
            }
            n
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    let qps = total as f64 / 5.0;
    println!("rkube-dns: {total} answers in 5 s from 64 UDP clients: {qps:.0} queries/s");
    assert!(total > 0);
}
