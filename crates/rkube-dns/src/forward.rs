//! Forwarding of names outside the cluster to the upstream resolvers, behind a response
//! cache that honours TTLs — the `forward . /etc/resolv.conf` and `cache 30` of the usual
//! Corefile. Upstreams are tried in turn (rotating the first) over UDP, retrying over TCP
//! when the answer is truncated; SERVFAIL and REFUSED move on to the next one. Positive
//! answers are cached for their smallest TTL and negative ones for their SOA's negative TTL
//! (RFC 2308), both capped at `max_ttl`; cached answers are served with the TTL left.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hickory_proto::op::{Edns, Message, MessageType, Query, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

use crate::Error;

/// The UDP payload size we advertise upstream (the DNS flag day 2020 value).
const UDP_PAYLOAD: u16 = 1232;

/// An upstream answer: the parts a response to our client is built from.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Response {
    pub rcode: ResponseCode,
    pub answers: Vec<Record>,
    pub authorities: Vec<Record>,
    pub additionals: Vec<Record>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq)]
struct CacheKey {
    name: Name,
    qtype: RecordType,
    qclass: DNSClass,
}

impl CacheKey {
    fn of(q: &Query) -> CacheKey {
        CacheKey {
            name: q.name().to_lowercase(),
            qtype: q.query_type(),
            qclass: q.query_class(),
        }
    }
}

struct Entry {
    response: Response,
    stored: Instant,
    ttl: u32,
}

/// A bounded map of answers with their expiry; time is passed in.
pub struct Cache {
    entries: HashMap<CacheKey, Entry>,
    capacity: usize,
    max_ttl: u32,
}

impl Cache {
    pub fn new(capacity: usize, max_ttl: u32) -> Cache {
        Cache {
            entries: HashMap::new(),
            capacity,
            max_ttl,
        }
    }

    /// The cached answer to `q` with every TTL set to the time left, if still fresh.
    pub fn get(&mut self, q: &Query, now: Instant) -> Option<Response> {
        let key = CacheKey::of(q);
        let entry = self.entries.get(&key)?;
        let age = now.saturating_duration_since(entry.stored).as_secs();
        let left = u64::from(entry.ttl).saturating_sub(age);
        if left == 0 {
            self.entries.remove(&key);
            return None;
        }
        let left = u32::try_from(left).unwrap_or(entry.ttl);
        let mut r = entry.response.clone();
        for rec in r
            .answers
            .iter_mut()
            .chain(r.authorities.iter_mut())
            .chain(r.additionals.iter_mut())
        {
            rec.ttl = left;
        }
        Some(r)
    }

    /// Stores `r` if it may be cached.
    pub fn put(&mut self, q: &Query, r: &Response, now: Instant) {
        let Some(ttl) = cache_ttl(r).map(|t| t.min(self.max_ttl)) else {
            return;
        };
        if ttl == 0 || self.capacity == 0 {
            return;
        }
        if self.entries.len() >= self.capacity {
            self.entries.retain(|_, e| {
                now.saturating_duration_since(e.stored).as_secs() < u64::from(e.ttl)
            });
            // Still full of live entries: make room at random (HashMap order).
            while self.entries.len() >= self.capacity {
                let Some(k) = self.entries.keys().next().cloned() else {
                    break;
                };
                self.entries.remove(&k);
            }
        }
        self.entries.insert(
            CacheKey::of(q),
            Entry {
                response: r.clone(),
                stored: now,
                ttl,
            },
        );
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// How long `r` may be cached: the smallest TTL of a positive answer, or the negative TTL
/// of a NXDOMAIN/NODATA answer's SOA; `None` for errors and negative answers without SOA.
fn cache_ttl(r: &Response) -> Option<u32> {
    match r.rcode {
        ResponseCode::NoError if !r.answers.is_empty() => r
            .answers
            .iter()
            .chain(&r.authorities)
            .chain(&r.additionals)
            .map(|rec| rec.ttl)
            .min(),
        ResponseCode::NoError | ResponseCode::NXDomain => {
            r.authorities.iter().find_map(|rec| match &rec.data {
                RData::SOA(soa) => Some(rec.ttl.min(soa.minimum)),
                _ => None,
            })
        }
        _ => None,
    }
}

/// Sends queries to the upstream resolvers, through the cache.
pub struct Forwarder {
    upstreams: Vec<SocketAddr>,
    next: AtomicUsize,
    timeout: Duration,
    cache: Mutex<Cache>,
}

impl Forwarder {
    pub fn new(upstreams: Vec<SocketAddr>, timeout: Duration, cache: Cache) -> Forwarder {
        Forwarder {
            upstreams,
            next: AtomicUsize::new(0),
            timeout,
            cache: Mutex::new(cache),
        }
    }

    /// The answer to `q`, from the cache or the first upstream that gives one.
    pub async fn resolve(&self, q: &Query) -> Result<Response, Error> {
        if let Some(r) = self.lock().get(q, Instant::now()) {
            return Ok(r);
        }
        if self.upstreams.is_empty() {
            return Err(Error::Upstream("no upstream resolvers".into()));
        }
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let mut last: Result<Response, Error> = Err(Error::Upstream("no answer".into()));
        for i in 0..self.upstreams.len() {
            let upstream = self.upstreams[(start + i) % self.upstreams.len()];
            match self.exchange(upstream, q).await {
                Ok(r) if matches!(r.rcode, ResponseCode::ServFail | ResponseCode::Refused) => {
                    last = Ok(r);
                }
                Ok(r) => {
                    // Served as the cache will serve it, so TTLs do not jump from the
                    // upstream's to the capped ones on the next query (as CoreDNS).
                    let now = Instant::now();
                    let mut cache = self.lock();
                    cache.put(q, &r, now);
                    return Ok(cache.get(q, now).unwrap_or(r));
                }
                Err(e) => {
                    tracing::debug!("failed to forward {} to {upstream}: {e:#}", q.name());
                    if last.is_err() {
                        last = Err(e);
                    }
                }
            }
        }
        last
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// One query to one upstream: UDP, then TCP if the answer was truncated.
    async fn exchange(&self, upstream: SocketAddr, q: &Query) -> Result<Response, Error> {
        let id = random_id();
        let mut msg = Message::query();
        msg.metadata.id = id;
        msg.metadata.recursion_desired = true;
        msg.add_query(q.clone());
        let mut edns = Edns::new();
        edns.set_max_payload(UDP_PAYLOAD);
        msg.set_edns(edns);
        let bytes = msg
            .to_vec()
            .map_err(|e| Error::Upstream(format!("encode query: {e}")))?;
        let reply = tokio::time::timeout(self.timeout, udp_exchange(upstream, &bytes, id, q))
            .await
            .map_err(|_| Error::Upstream("timed out".into()))??;
        let reply = if reply.metadata.truncation {
            tokio::time::timeout(self.timeout, tcp_exchange(upstream, &bytes, id, q))
                .await
                .map_err(|_| Error::Upstream("timed out over tcp".into()))??
        } else {
            reply
        };
        Ok(Response {
            rcode: reply.metadata.response_code,
            answers: reply.answers,
            authorities: reply.authorities,
            additionals: reply.additionals,
        })
    }
}

/// Whether `m` is the reply to our query `id` for `q`.
fn is_reply(m: &Message, id: u16, q: &Query) -> bool {
    m.metadata.id == id
        && m.metadata.message_type == MessageType::Response
        && m.queries.len() == 1
        && m.queries[0].name() == q.name()
        && m.queries[0].query_type() == q.query_type()
}

async fn udp_exchange(
    upstream: SocketAddr,
    bytes: &[u8],
    id: u16,
    q: &Query,
) -> Result<Message, Error> {
    let bind: SocketAddr = if upstream.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        ([0u16; 8], 0).into()
    };
    let io = |e: std::io::Error| Error::Upstream(format!("udp: {e}"));
    let sock = UdpSocket::bind(bind).await.map_err(io)?;
    sock.connect(upstream).await.map_err(io)?;
    sock.send(bytes).await.map_err(io)?;
    let mut buf = vec![0u8; usize::from(UDP_PAYLOAD).max(4096)];
    loop {
        let n = sock.recv(&mut buf).await.map_err(io)?;
        // Anything that is not our reply (late or spoofed) is ignored.
        if let Ok(m) = Message::from_vec(&buf[..n]) {
            if is_reply(&m, id, q) {
                return Ok(m);
            }
        }
    }
}

async fn tcp_exchange(
    upstream: SocketAddr,
    bytes: &[u8],
    id: u16,
    q: &Query,
) -> Result<Message, Error> {
    let io = |e: std::io::Error| Error::Upstream(format!("tcp: {e}"));
    let len = u16::try_from(bytes.len()).map_err(|_| Error::Upstream("query too long".into()))?;
    let mut stream = TcpStream::connect(upstream).await.map_err(io)?;
    let mut framed = Vec::with_capacity(bytes.len() + 2);
    framed.extend_from_slice(&len.to_be_bytes());
    framed.extend_from_slice(bytes);
    stream.write_all(&framed).await.map_err(io)?;
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).await.map_err(io)?;
    let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut buf).await.map_err(io)?;
    let m = Message::from_vec(&buf).map_err(|e| Error::Upstream(format!("decode reply: {e}")))?;
    if !is_reply(&m, id, q) {
        return Err(Error::Upstream("reply does not match the query".into()));
    }
    Ok(m)
}

/// A query ID that is hard to guess (std's per-instance random SipHash keys).
fn random_id() -> u16 {
    use std::hash::{BuildHasher, Hasher};
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_usize(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.finish() as u16
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::rr::rdata::{A, SOA};

    fn q(name: &str) -> Query {
        Query::query(Name::from_ascii(name).unwrap(), RecordType::A)
    }

    fn a(name: &str, ttl: u32) -> Record {
        Record::from_rdata(
            Name::from_ascii(name).unwrap(),
            ttl,
            RData::A(A([192, 0, 2, 1].into())),
        )
    }

    fn soa(ttl: u32, minimum: u32) -> Record {
        let n = Name::from_ascii("example.").unwrap();
        Record::from_rdata(
            n.clone(),
            ttl,
            RData::SOA(SOA::new(n.clone(), n, 1, 1, 1, 1, minimum)),
        )
    }

    #[test]
    fn cache_ttls() {
        let pos = |ttls: &[u32]| Response {
            answers: ttls.iter().map(|t| a("x.example.", *t)).collect(),
            ..Response::default()
        };
        let neg = |rcode, auth: Vec<Record>| Response {
            rcode,
            authorities: auth,
            ..Response::default()
        };
        let cases = [
            ("smallest answer ttl", pos(&[300, 60]), Some(60)),
            (
                "nxdomain uses soa minimum",
                neg(ResponseCode::NXDomain, vec![soa(900, 120)]),
                Some(120),
            ),
            (
                "nodata uses soa ttl when smaller",
                neg(ResponseCode::NoError, vec![soa(30, 120)]),
                Some(30),
            ),
            (
                "negative without soa",
                neg(ResponseCode::NXDomain, vec![]),
                None,
            ),
            (
                "servfail",
                neg(ResponseCode::ServFail, vec![soa(30, 30)]),
                None,
            ),
        ];
        for (what, r, want) in cases {
            assert_eq!(cache_ttl(&r), want, "{what}");
        }
    }

    #[test]
    fn cache_serves_remaining_ttl_and_expires() {
        let mut c = Cache::new(10, 30);
        let t0 = Instant::now();
        let r = Response {
            answers: vec![a("x.example.", 300)],
            ..Response::default()
        };
        c.put(&q("X.example."), &r, t0);
        // Capped at max_ttl, case-insensitive key.
        let got = c.get(&q("x.example."), t0).unwrap();
        assert_eq!(got.answers[0].ttl, 30);
        let got = c
            .get(&q("x.example."), t0 + Duration::from_secs(25))
            .unwrap();
        assert_eq!(got.answers[0].ttl, 5);
        assert!(c
            .get(&q("x.example."), t0 + Duration::from_secs(30))
            .is_none());
        assert!(c.is_empty());
    }

    #[test]
    fn cache_is_bounded() {
        let mut c = Cache::new(2, 30);
        let t0 = Instant::now();
        let r = Response {
            answers: vec![a("x.example.", 10)],
            ..Response::default()
        };
        c.put(&q("a.example."), &r, t0);
        c.put(&q("b.example."), &r, t0);
        c.put(&q("c.example."), &r, t0 + Duration::from_secs(1));
        assert_eq!(c.len(), 2);
        assert!(c
            .get(&q("c.example."), t0 + Duration::from_secs(1))
            .is_some());
        // Expired entries make room first.
        c.put(&q("d.example."), &r, t0 + Duration::from_secs(10));
        assert!(c
            .get(&q("d.example."), t0 + Duration::from_secs(10))
            .is_some());
    }
}
