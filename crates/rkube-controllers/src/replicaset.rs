//! The ReplicaSet and ReplicationController controllers (not implemented yet).

use std::sync::Arc;

use crate::Context;

/// Runs the ReplicaSet controller until the process ends.
pub async fn run(_ctx: Arc<Context>) {}

/// Runs the ReplicationController controller until the process ends.
pub async fn run_replication_controllers(_ctx: Arc<Context>) {}
