//! API machinery and access groups: aggregation, authentication, authorization, RBAC,
//! certificates, admission, CRDs and API priority and fairness.

use super::{res, status, sub, CAT_API_EXTENSIONS, CREATE, GET_PATCH_UPDATE};
use crate::registry::ResourceInfo;

/// apiregistration.k8s.io/v1 (served by the aggregator upstream).
pub(super) const APIREGISTRATION_V1: &[ResourceInfo] = &[ResourceInfo {
    categories: CAT_API_EXTENSIONS,
    subresources: &[status("apiregistration.k8s.io", "v1", "APIService")],
    storage: "apiregistration.k8s.io/apiservices",
    has_status: true,
    ..res(
        "apiregistration.k8s.io",
        "v1",
        "APIService",
        "apiservices",
        "apiservice",
        false,
    )
}];

/// authentication.k8s.io/v1: create-only reviews.
pub(super) const AUTHENTICATION_V1: &[ResourceInfo] = &[
    ResourceInfo {
        verbs: CREATE,
        ..res(
            "authentication.k8s.io",
            "v1",
            "SelfSubjectReview",
            "selfsubjectreviews",
            "selfsubjectreview",
            false,
        )
    },
    ResourceInfo {
        verbs: CREATE,
        ..res(
            "authentication.k8s.io",
            "v1",
            "TokenReview",
            "tokenreviews",
            "tokenreview",
            false,
        )
    },
];

/// authorization.k8s.io/v1: create-only reviews.
pub(super) const AUTHORIZATION_V1: &[ResourceInfo] = &[
    ResourceInfo {
        verbs: CREATE,
        ..res(
            "authorization.k8s.io",
            "v1",
            "LocalSubjectAccessReview",
            "localsubjectaccessreviews",
            "localsubjectaccessreview",
            true,
        )
    },
    ResourceInfo {
        verbs: CREATE,
        ..res(
            "authorization.k8s.io",
            "v1",
            "SelfSubjectAccessReview",
            "selfsubjectaccessreviews",
            "selfsubjectaccessreview",
            false,
        )
    },
    ResourceInfo {
        verbs: CREATE,
        ..res(
            "authorization.k8s.io",
            "v1",
            "SelfSubjectRulesReview",
            "selfsubjectrulesreviews",
            "selfsubjectrulesreview",
            false,
        )
    },
    ResourceInfo {
        verbs: CREATE,
        ..res(
            "authorization.k8s.io",
            "v1",
            "SubjectAccessReview",
            "subjectaccessreviews",
            "subjectaccessreview",
            false,
        )
    },
];

/// certificates.k8s.io/v1.
pub(super) const CERTIFICATES_V1: &[ResourceInfo] = &[ResourceInfo {
    short_names: &["csr"],
    subresources: &[
        sub(
            "approval",
            "certificates.k8s.io",
            "v1",
            "CertificateSigningRequest",
            GET_PATCH_UPDATE,
        ),
        status("certificates.k8s.io", "v1", "CertificateSigningRequest"),
    ],
    fields: &["spec.signerName"],
    has_status: true,
    ..res(
        "certificates.k8s.io",
        "v1",
        "CertificateSigningRequest",
        "certificatesigningrequests",
        "certificatesigningrequest",
        false,
    )
}];

/// rbac.authorization.k8s.io/v1.
pub(super) const RBAC_V1: &[ResourceInfo] = &[
    res(
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRoleBinding",
        "clusterrolebindings",
        "clusterrolebinding",
        false,
    ),
    res(
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRole",
        "clusterroles",
        "clusterrole",
        false,
    ),
    res(
        "rbac.authorization.k8s.io",
        "v1",
        "RoleBinding",
        "rolebindings",
        "rolebinding",
        true,
    ),
    res(
        "rbac.authorization.k8s.io",
        "v1",
        "Role",
        "roles",
        "role",
        true,
    ),
];

/// admissionregistration.k8s.io/v1.
pub(super) const ADMISSIONREGISTRATION_V1: &[ResourceInfo] = &[
    ResourceInfo {
        categories: CAT_API_EXTENSIONS,
        ..res(
            "admissionregistration.k8s.io",
            "v1",
            "MutatingWebhookConfiguration",
            "mutatingwebhookconfigurations",
            "mutatingwebhookconfiguration",
            false,
        )
    },
    ResourceInfo {
        categories: CAT_API_EXTENSIONS,
        subresources: &[status(
            "admissionregistration.k8s.io",
            "v1",
            "ValidatingAdmissionPolicy",
        )],
        has_status: true,
        ..res(
            "admissionregistration.k8s.io",
            "v1",
            "ValidatingAdmissionPolicy",
            "validatingadmissionpolicies",
            "validatingadmissionpolicy",
            false,
        )
    },
    ResourceInfo {
        categories: CAT_API_EXTENSIONS,
        ..res(
            "admissionregistration.k8s.io",
            "v1",
            "ValidatingAdmissionPolicyBinding",
            "validatingadmissionpolicybindings",
            "validatingadmissionpolicybinding",
            false,
        )
    },
    ResourceInfo {
        categories: CAT_API_EXTENSIONS,
        ..res(
            "admissionregistration.k8s.io",
            "v1",
            "ValidatingWebhookConfiguration",
            "validatingwebhookconfigurations",
            "validatingwebhookconfiguration",
            false,
        )
    },
];

/// apiextensions.k8s.io/v1 (CRDs are stored; serving custom resources is out of scope here).
pub(super) const APIEXTENSIONS_V1: &[ResourceInfo] = &[ResourceInfo {
    short_names: &["crd", "crds"],
    categories: CAT_API_EXTENSIONS,
    subresources: &[status(
        "apiextensions.k8s.io",
        "v1",
        "CustomResourceDefinition",
    )],
    storage: "apiextensions.k8s.io/customresourcedefinitions",
    has_status: true,
    ..res(
        "apiextensions.k8s.io",
        "v1",
        "CustomResourceDefinition",
        "customresourcedefinitions",
        "customresourcedefinition",
        false,
    )
}];

/// flowcontrol.apiserver.k8s.io/v1.
pub(super) const FLOWCONTROL_V1: &[ResourceInfo] = &[
    ResourceInfo {
        subresources: &[status("flowcontrol.apiserver.k8s.io", "v1", "FlowSchema")],
        has_status: true,
        ..res(
            "flowcontrol.apiserver.k8s.io",
            "v1",
            "FlowSchema",
            "flowschemas",
            "flowschema",
            false,
        )
    },
    ResourceInfo {
        subresources: &[status(
            "flowcontrol.apiserver.k8s.io",
            "v1",
            "PriorityLevelConfiguration",
        )],
        has_status: true,
        ..res(
            "flowcontrol.apiserver.k8s.io",
            "v1",
            "PriorityLevelConfiguration",
            "prioritylevelconfigurations",
            "prioritylevelconfiguration",
            false,
        )
    },
];
