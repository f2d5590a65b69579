//! The Rust types (from `k8s-openapi`, Kubernetes v1.33) behind each group-version-kind we can
//! describe, and their registration with a schema generator. The same table drives the typed
//! decoding checks of `crate::typed`, so there is one list of typed kinds.
//!
//! `k8s-openapi`'s `JsonSchema` impls carry the upstream definition names
//! (`io.k8s.api.core.v1.Pod`) and the upstream field docs, and register every referenced
//! definition transitively.

use k8s_openapi::api::{
    admissionregistration, apps, authentication, authorization, autoscaling, batch, certificates,
    coordination, core, discovery, events, flowcontrol, networking, node, policy, rbac, scheduling,
    storage,
};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions;
use k8s_openapi::apimachinery::pkg::apis::meta;
use k8s_openapi::kube_aggregator::pkg::apis::apiregistration;
use k8s_openapi::Resource;
use schemars::{JsonSchema, SchemaGenerator};

/// One describable kind: its GVK and its definition name.
#[derive(Debug, Clone)]
pub(super) struct KindSchema {
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    pub name: String,
}

macro_rules! kind_table {
    ($($ty:ty),* $(,)?) => {
        /// Registers the schema of `group/version, kind` (and everything it references) with
        /// `generator`; returns its definition name, or `None` for a kind we have no type for.
        pub(super) fn register(
            generator: &mut SchemaGenerator,
            group: &str,
            version: &str,
            kind: &str,
        ) -> Option<String> {
            $(
                if <$ty as Resource>::GROUP == group
                    && <$ty as Resource>::VERSION == version
                    && <$ty as Resource>::KIND == kind
                {
                    generator.subschema_for::<$ty>();
                    return Some(<$ty as JsonSchema>::schema_name().into_owned());
                }
            )*
            None
        }

        /// Whether the table has a type for `group/version, kind`.
        pub(crate) fn known(group: &str, version: &str, kind: &str) -> bool {
            $(
                if <$ty as Resource>::GROUP == group
                    && <$ty as Resource>::VERSION == version
                    && <$ty as Resource>::KIND == kind
                {
                    return true;
                }
            )*
            false
        }

        /// Decode `value` into the type of `group/version, kind` (used by `crate::typed` to
        /// find wrongly typed fields); `None` for a kind we have no type for.
        pub(crate) fn decode(
            group: &str,
            version: &str,
            kind: &str,
            value: &serde_json::Value,
        ) -> Option<Result<(), serde_json::Error>> {
            $(
                if <$ty as Resource>::GROUP == group
                    && <$ty as Resource>::VERSION == version
                    && <$ty as Resource>::KIND == kind
                {
                    return Some(<$ty as serde::Deserialize>::deserialize(value).map(|_| ()));
                }
            )*
            None
        }

        /// Every kind of the table, to tag definitions with `x-kubernetes-group-version-kind`.
        pub(super) fn all() -> Vec<KindSchema> {
            vec![$(
                KindSchema {
                    group: <$ty as Resource>::GROUP,
                    version: <$ty as Resource>::VERSION,
                    kind: <$ty as Resource>::KIND,
                    name: <$ty as JsonSchema>::schema_name().into_owned(),
                },
            )*]
        }
    };
}

kind_table![
    admissionregistration::v1::MutatingWebhookConfiguration,
    admissionregistration::v1::ValidatingAdmissionPolicy,
    admissionregistration::v1::ValidatingAdmissionPolicyBinding,
    admissionregistration::v1::ValidatingWebhookConfiguration,
    apps::v1::ControllerRevision,
    apps::v1::DaemonSet,
    apps::v1::Deployment,
    apps::v1::ReplicaSet,
    apps::v1::StatefulSet,
    authentication::v1::SelfSubjectReview,
    authentication::v1::TokenRequest,
    authentication::v1::TokenReview,
    authorization::v1::LocalSubjectAccessReview,
    authorization::v1::SelfSubjectAccessReview,
    authorization::v1::SelfSubjectRulesReview,
    authorization::v1::SubjectAccessReview,
    autoscaling::v1::HorizontalPodAutoscaler,
    autoscaling::v1::Scale,
    autoscaling::v2::HorizontalPodAutoscaler,
    batch::v1::CronJob,
    batch::v1::Job,
    certificates::v1::CertificateSigningRequest,
    coordination::v1::Lease,
    core::v1::Binding,
    core::v1::ComponentStatus,
    core::v1::ConfigMap,
    core::v1::Endpoints,
    core::v1::Event,
    core::v1::LimitRange,
    core::v1::Namespace,
    core::v1::Node,
    core::v1::PersistentVolume,
    core::v1::PersistentVolumeClaim,
    core::v1::Pod,
    core::v1::PodTemplate,
    core::v1::ReplicationController,
    core::v1::ResourceQuota,
    core::v1::Secret,
    core::v1::Service,
    core::v1::ServiceAccount,
    discovery::v1::EndpointSlice,
    events::v1::Event,
    flowcontrol::v1::FlowSchema,
    flowcontrol::v1::PriorityLevelConfiguration,
    networking::v1::Ingress,
    networking::v1::IngressClass,
    networking::v1::IPAddress,
    networking::v1::NetworkPolicy,
    networking::v1::ServiceCIDR,
    node::v1::RuntimeClass,
    policy::v1::Eviction,
    policy::v1::PodDisruptionBudget,
    rbac::v1::ClusterRole,
    rbac::v1::ClusterRoleBinding,
    rbac::v1::Role,
    rbac::v1::RoleBinding,
    scheduling::v1::PriorityClass,
    storage::v1::CSIDriver,
    storage::v1::CSINode,
    storage::v1::CSIStorageCapacity,
    storage::v1::StorageClass,
    storage::v1::VolumeAttachment,
    apiextensions::v1::CustomResourceDefinition,
    apiregistration::v1::APIService,
    meta::v1::APIResourceList,
    meta::v1::Status,
];

/// Definition names of the meta types every document references from its operations.
pub(super) const DELETE_OPTIONS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions";
pub(super) const LIST_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta";
pub(super) const PATCH: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Patch";
pub(super) const STATUS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Status";
pub(super) const WATCH_EVENT: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.WatchEvent";
pub(super) const API_RESOURCE_LIST: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.APIResourceList";

/// Registers the meta definitions operations refer to (Status, DeleteOptions, WatchEvent,
/// Patch, ListMeta, APIResourceList).
pub(super) fn register_meta(generator: &mut SchemaGenerator) {
    generator.subschema_for::<meta::v1::Status>();
    generator.subschema_for::<meta::v1::DeleteOptions>();
    generator.subschema_for::<meta::v1::WatchEvent<core::v1::Pod>>();
    generator.subschema_for::<meta::v1::Patch>();
    generator.subschema_for::<meta::v1::ListMeta>();
    generator.subschema_for::<meta::v1::APIResourceList>();
}
