//! The rkube node agent. [`agent`] is the real kubelet: it supervises containerd
//! ([`containerd`]), talks CRI to it ([`runtime`]), imports offline images ([`images`]),
//! private registries and pull secrets ([`registries`]), registers the node ([`node`]), writes the pod network config ([`cni`]) and runs the pods
//! bound to the node ([`pod`]), and finds the runtime's streaming URLs for exec, attach and
//! port-forward ([`streams`]); static pods from a manifests directory become mirror pods
//! ([`static_pods`]); host-gw routes to other nodes' pod networks come from [`routes`]; the Summary API for `kubectl top` comes from [`stats`]. [`fake`] has kwok-style fake nodes whose "kubelet" runs pods
//! without containers, for scheduler and controller tests and benchmarks at scale.

pub mod agent;
pub mod cni;
pub mod containerd;
pub mod error;
pub mod fake;
pub mod images;
pub mod node;
pub mod pod;
pub mod registries;
pub mod routes;
pub mod runtime;
pub mod static_pods;
pub mod stats;
pub mod streams;
