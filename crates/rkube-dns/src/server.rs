//! The DNS protocol side: a `hickory_server::RequestHandler` that answers each query from the
//! index (`lookup`), chases ExternalName CNAMEs, and forwards everything else (`forward`).
//! hickory-server owns the sockets, framing, EDNS payload limits and truncation.

use std::sync::{Arc, RwLock};

use hickory_proto::op::{Edns, Header, HeaderCounts, Metadata, OpCode, Query, ResponseCode};
use hickory_proto::rr::{DNSClass, Record};
use hickory_server::net::runtime::Time;
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::MessageResponseBuilder;

use crate::forward::Forwarder;
use crate::index::Index;
use crate::lookup::{lookup, Outcome, Zone};

/// How many CNAMEs are followed for one query.
const MAX_CHASE: usize = 8;

/// Everything a query needs, shared by all of them.
pub struct Shared {
    pub index: Arc<RwLock<Index>>,
    pub zone: Zone,
    pub forwarder: Forwarder,
}

/// The records of a response and its flags.
#[derive(Debug, Default)]
pub struct Reply {
    pub rcode: ResponseCode,
    pub authoritative: bool,
    pub answers: Vec<Record>,
    pub authorities: Vec<Record>,
    pub additionals: Vec<Record>,
}

impl Shared {
    /// The reply to one question.
    pub async fn answer(&self, q: &Query) -> Reply {
        let outcome = if q.query_class() == DNSClass::IN {
            self.lookup(q)
        } else {
            Outcome::Forward
        };
        let mut a = match outcome {
            Outcome::Answer(a) => a,
            Outcome::Forward => return self.forward(q).await,
        };
        let mut next = a.chase.take();
        let mut hops = 0;
        while let Some(target) = next.take() {
            hops += 1;
            if hops > MAX_CHASE {
                break;
            }
            let sub = Query::query(target, q.query_type());
            let sub = match self.lookup(&sub) {
                Outcome::Answer(mut s) => {
                    next = s.chase.take();
                    Reply {
                        rcode: s.rcode,
                        answers: s.answers,
                        authorities: s.authorities,
                        ..Reply::default()
                    }
                }
                Outcome::Forward => self.forward(&sub).await,
            };
            a.answers.extend(sub.answers);
            // The final name's NXDOMAIN is the answer's (RFC 6604); a failure to resolve
            // the target still returns the CNAME.
            if sub.rcode == ResponseCode::NXDomain {
                a.rcode = ResponseCode::NXDomain;
                a.authorities = sub.authorities;
            }
        }
        Reply {
            rcode: a.rcode,
            authoritative: true,
            answers: a.answers,
            authorities: a.authorities,
            additionals: a.additionals,
        }
    }

    fn lookup(&self, q: &Query) -> Outcome {
        let index = self.index.read().unwrap_or_else(|e| e.into_inner());
        lookup(&index, &self.zone, q.name(), q.query_type())
    }

    async fn forward(&self, q: &Query) -> Reply {
        match self.forwarder.resolve(q).await {
            Ok(r) => Reply {
                rcode: r.rcode,
                authoritative: false,
                answers: r.answers,
                authorities: r.authorities,
                additionals: r.additionals,
            },
            // Logged at debug: one bad upstream would otherwise log every query.
            Err(e) => {
                tracing::debug!("failed to resolve {} upstream: {e:#}", q.name());
                Reply {
                    rcode: ResponseCode::ServFail,
                    ..Reply::default()
                }
            }
        }
    }
}

/// The hickory-server request handler.
pub struct Handler(pub Arc<Shared>);

#[async_trait::async_trait]
impl RequestHandler for Handler {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        mut response_handle: R,
    ) -> ResponseInfo {
        let resp_edns = request.edns.as_ref().map(|req| {
            let mut e = Edns::new();
            e.set_max_payload(req.max_payload().max(512));
            e.set_version(0);
            e
        });
        let mut builder = MessageResponseBuilder::from_message_request(request);
        if let Some(e) = resp_edns.as_ref() {
            builder.edns(e);
        }
        let bad_version = request.edns.as_ref().is_some_and(|e| e.version() > 0);
        let error = if bad_version {
            Some(ResponseCode::BADVERS)
        } else if request.metadata.op_code != OpCode::Query {
            Some(ResponseCode::NotImp)
        } else {
            None
        };
        let query = match (error, request.request_info()) {
            (None, Ok(info)) => info.query.original().clone(),
            (error, _) => {
                let code = error.unwrap_or(ResponseCode::FormErr);
                let resp = builder.error_msg(&request.metadata, code);
                return send(&mut response_handle, resp, &request.metadata, code).await;
            }
        };
        let reply = self.0.answer(&query).await;
        let mut meta = Metadata::response_from_request(&request.metadata);
        meta.authoritative = reply.authoritative;
        meta.recursion_available = true;
        meta.response_code = reply.rcode;
        let resp = builder.build(
            meta,
            reply.answers.iter(),
            reply.authorities.iter(),
            std::iter::empty(),
            reply.additionals.iter(),
        );
        send(&mut response_handle, resp, &request.metadata, reply.rcode).await
    }
}

async fn send<'a, R: ResponseHandler>(
    handle: &mut R,
    resp: hickory_server::zone_handler::MessageResponse<
        '_,
        'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
    >,
    request: &Metadata,
    rcode: ResponseCode,
) -> ResponseInfo {
    match handle.send_response(resp).await {
        Ok(info) => info,
        Err(e) => {
            // The client went away; nothing else to do.
            tracing::debug!("failed to send dns response: {e}");
            let mut metadata = Metadata::response_from_request(request);
            metadata.response_code = rcode;
            ResponseInfo::from(Header {
                metadata,
                counts: HeaderCounts::default(),
            })
        }
    }
}
