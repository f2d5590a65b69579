//! The rkube node agent. For now: [`fake`], kwok-style fake nodes whose "kubelet" runs pods
//! without containers, for scheduler and controller tests and benchmarks at scale.

pub mod fake;
