//! The rkube scheduler's decision logic: the framework (upstream's extension points over
//! [`framework::NodeInfo`] snapshots), one module per upstream plugin under [`plugins`],
//! preemption ([`preemption`]), profiles from a `KubeSchedulerConfiguration` ([`config`]),
//! and [`fit_error::FitError`], whose message mirrors upstream's `FailedScheduling` text.
//!
//! Everything here is pure: objects are `serde_json::Value` Pods and Nodes as the API returns
//! them, there is no IO and no async. Queueing, caching and binding wrap this crate elsewhere.

pub mod cache;
pub mod config;
pub mod fit_error;
pub mod framework;
pub mod plugins;
pub mod preemption;
pub mod queue;
mod resources;
pub mod run;

pub use config::{ConfigError, Profiles};
pub use fit_error::FitError;
pub use framework::{
    binding_object, schedule_one, BindPlugin, Code, CycleState, FilterPlugin, Framework,
    Namespaces, NodeInfo, Permit, PermitPlugin, Plugin, PodInfo, PostFilterPlugin, PreFilterPlugin,
    PreScorePlugin, ReservePlugin, ScheduleResult, ScorePlugin, Snapshot, Status, MAX_NODE_SCORE,
};
pub use preemption::Candidate;
pub use queue::{ClusterEvent, QueueConfig, QueueError, QueuedPod, SchedulingQueue};
pub use resources::Resources;
