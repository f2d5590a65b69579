//! The rkube scheduler's decision logic: the framework (filter and score extension points over
//! [`framework::NodeInfo`] snapshots), one module per upstream plugin under [`plugins`], and
//! [`fit_error::FitError`], whose message mirrors upstream's `FailedScheduling` text.
//!
//! Everything here is pure: objects are `serde_json::Value` Pods and Nodes as the API returns
//! them, there is no IO and no async. Queueing, caching and binding wrap this crate elsewhere.

pub mod cache;
pub mod fit_error;
pub mod framework;
pub mod plugins;
pub mod queue;
pub mod run;
mod resources;

pub use fit_error::FitError;
pub use framework::{
    schedule_one, Code, FilterPlugin, Framework, NodeInfo, Plugin, ScorePlugin, Status,
    MAX_NODE_SCORE,
};
pub use queue::{ClusterEvent, QueueConfig, QueueError, QueuedPod, SchedulingQueue};
pub use resources::Resources;
