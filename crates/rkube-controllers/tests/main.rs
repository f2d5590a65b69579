//! One test binary for the crate (each binary links the whole dependency tree,
//! so one per file filled CI's disk): every file here is a module of it.

mod cronjob;
mod daemonset;
mod deployment;
mod disruption;
mod endpoints;
mod endpointslice;
mod garbagecollector;
mod job;
mod podgc;
mod replicaset;
mod serviceaccount;
mod statefulset;
mod support;
mod ttlafterfinished;
