//! The smoke subset with each kubectl the issue names: the dispatcher on PATH (which picks the
//! kubectl matching the server), and kubectl.1.32 / kubectl.1.33 called directly.

use rkube_e2e::smoke::smoke;
use rkube_e2e::*;

#[test]
fn smoke_dispatcher() {
    let s = Server::start_default();
    smoke(&s.kc(), Some("33"));
}

#[test]
fn smoke_kubectl_1_32() {
    let s = Server::start_default();
    smoke(&s.kc_at("1.32"), Some("32"));
}

#[test]
fn smoke_kubectl_1_33() {
    let s = Server::start_default();
    smoke(&s.kc_at("1.33"), Some("33"));
}
