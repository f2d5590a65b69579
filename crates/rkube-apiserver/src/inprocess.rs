//! The in-process transport: a kube-rs [`kube::Client`] whose requests go straight into the
//! router as a tower `Service`, with no TCP and no TLS. The all-in-one server's scheduler,
//! controllers and local agent use it, so they run the same code as remote components and
//! pass through the same authentication, validation and admission as any other client.

use std::sync::Arc;

use axum::extract::Request;
use tower::ServiceExt;

use crate::auth::User;
use crate::{ConnIdentity, Server};

impl Server {
    /// A client acting as `user` (e.g. `system:kube-scheduler`), talking to this server
    /// in-process. Must be called inside a tokio runtime.
    pub fn client(self: &Arc<Self>, user: User) -> kube::Client {
        let identity = ConnIdentity(Some(user));
        let svc = self
            .router()
            .map_request(move |mut req: Request<kube::client::Body>| {
                req.extensions_mut().insert(identity.clone());
                req.map(axum::body::Body::new)
            });
        kube::Client::new(svc, "default")
    }

    /// A client in the `system:masters` group, for the control plane's own loops.
    pub fn component_client(self: &Arc<Self>, name: &str) -> kube::Client {
        self.client(User {
            name: name.to_string(),
            uid: String::new(),
            groups: vec!["system:masters".into(), "system:authenticated".into()],
        })
    }
}
