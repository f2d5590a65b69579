//! One test binary for the crate (each binary links the whole dependency tree,
//! so one per file filled CI's disk): every file here is a module of it.

mod netns;
mod scale;
mod support;
