//! One test binary for the crate (each binary links the whole dependency tree,
//! so one per file filled CI's disk): every file here is a module of it.

mod agent;
mod auth;
mod create;
mod delete;
mod deployment;
mod describe;
mod discovery;
mod drain;
mod errors;
mod etcd;
mod gc;
mod get;
mod job;
mod lifecycle;
mod patch;
mod python_client;
mod real_node;
mod scheduling;
mod server_side_apply;
mod services;
mod smoke;
mod status;
mod typed;
mod validation;
mod watch;
mod workloads;
