//! Consistency checks over the resource table.

use std::collections::HashSet;

use crate::registry::{all, groups, lookup, lookup_kind, resources_of, ResourceInfo};

fn by_short_name(short: &str) -> Vec<&'static ResourceInfo> {
    all()
        .iter()
        .filter(|r| r.short_names.contains(&short))
        .collect()
}

#[test]
fn short_names_resolve() {
    let cases: &[(&str, &str, &str)] = &[
        ("po", "", "pods"),
        ("svc", "", "services"),
        ("ns", "", "namespaces"),
        ("no", "", "nodes"),
        ("cm", "", "configmaps"),
        ("sa", "", "serviceaccounts"),
        ("ep", "", "endpoints"),
        ("ev", "", "events"),
        ("limits", "", "limitranges"),
        ("quota", "", "resourcequotas"),
        ("pv", "", "persistentvolumes"),
        ("pvc", "", "persistentvolumeclaims"),
        ("rc", "", "replicationcontrollers"),
        ("cs", "", "componentstatuses"),
        ("deploy", "apps", "deployments"),
        ("rs", "apps", "replicasets"),
        ("ds", "apps", "daemonsets"),
        ("sts", "apps", "statefulsets"),
        ("hpa", "autoscaling", "horizontalpodautoscalers"),
        ("cj", "batch", "cronjobs"),
        ("netpol", "networking.k8s.io", "networkpolicies"),
        ("ing", "networking.k8s.io", "ingresses"),
        ("ip", "networking.k8s.io", "ipaddresses"),
        ("pdb", "policy", "poddisruptionbudgets"),
        ("pc", "scheduling.k8s.io", "priorityclasses"),
        ("sc", "storage.k8s.io", "storageclasses"),
        ("csr", "certificates.k8s.io", "certificatesigningrequests"),
        ("crd", "apiextensions.k8s.io", "customresourcedefinitions"),
        ("crds", "apiextensions.k8s.io", "customresourcedefinitions"),
    ];
    for (short, group, plural) in cases {
        let found = by_short_name(short);
        assert!(!found.is_empty(), "short name {short} resolves to nothing");
        // The first match in discovery order is what kubectl picks (core events before
        // events.k8s.io, autoscaling/v2 before v1).
        let first = found[0];
        assert_eq!(
            (first.group, first.plural),
            (*group, *plural),
            "short name {short}"
        );
        assert!(
            found.iter().all(|r| r.plural == *plural),
            "short name {short} is ambiguous"
        );
    }
}

#[test]
fn no_duplicate_group_version_plural_or_kind() {
    let mut seen = HashSet::new();
    let mut kinds = HashSet::new();
    for r in all() {
        assert!(
            seen.insert((r.group, r.version, r.plural)),
            "duplicate {}/{}/{}",
            r.group,
            r.version,
            r.plural
        );
        assert!(
            kinds.insert((r.group, r.version, r.kind)),
            "duplicate kind {}/{}/{}",
            r.group,
            r.version,
            r.kind
        );
    }
}

#[test]
fn every_subresource_has_a_response_kind_and_verbs() {
    for r in all() {
        let mut names = HashSet::new();
        for s in r.subresources {
            assert!(
                !s.kind.is_empty() && !s.version.is_empty(),
                "{}/{} has no response kind",
                r.plural,
                s.name
            );
            assert!(!s.verbs.is_empty(), "{}/{} has no verbs", r.plural, s.name);
            assert!(names.insert(s.name), "{}/{} listed twice", r.plural, s.name);
        }
        let sorted = r.subresources.windows(2).all(|w| w[0].name < w[1].name);
        assert!(sorted, "{} subresources are not sorted", r.plural);
    }
}

#[test]
fn has_status_matches_status_subresource() {
    for r in all() {
        assert_eq!(
            r.has_status,
            r.subresource("status").is_some(),
            "{}.{}",
            r.plural,
            r.group
        );
        if let Some(s) = r.subresource("status") {
            assert_eq!(
                (s.group, s.version, s.kind),
                (r.group, r.version, r.kind),
                "{} status kind",
                r.plural
            );
        }
    }
}

#[test]
fn basic_shape() {
    for r in all() {
        assert!(!r.kind.is_empty() && !r.plural.is_empty() && !r.singular.is_empty());
        assert_eq!(r.plural, r.plural.to_ascii_lowercase());
        assert_eq!(r.singular, r.singular.to_ascii_lowercase());
        assert!(!r.verbs.is_empty(), "{} has no verbs", r.plural);
        assert!(!r.storage.is_empty() && !r.storage.starts_with('/') && !r.storage.ends_with('/'));
        let sorted = r.verbs.windows(2).all(|w| w[0] < w[1]);
        assert!(sorted, "{} verbs are not sorted", r.plural);
    }
}

#[test]
fn resources_sorted_within_group_version() {
    for g in groups() {
        for v in &g.versions {
            let names: Vec<&str> = resources_of(g.name, v).map(|r| r.plural).collect();
            let mut sorted = names.clone();
            sorted.sort_unstable();
            assert_eq!(names, sorted, "{}/{}", g.name, v);
        }
    }
}

#[test]
fn lookups() {
    let pods = lookup("", "v1", "pods").expect("pods");
    assert_eq!(pods.kind, "Pod");
    assert_eq!(pods.api_version(), "v1");
    assert_eq!(
        pods.key(Some("default"), "web"),
        "/registry/pods/default/web"
    );
    assert!(pods.categories.contains(&"all"));
    assert_eq!(
        pods.subresource("eviction")
            .map(|s| (s.group, s.version, s.kind)),
        Some(("policy", "v1", "Eviction"))
    );
    assert_eq!(pods.subresource("log").map(|s| s.verbs), Some(&["get"][..]));

    let deploy = lookup_kind("apps", "v1", "Deployment").expect("deployments");
    assert_eq!(deploy.plural, "deployments");
    assert_eq!(deploy.qualified(), "deployments.apps");
    assert_eq!(
        deploy
            .subresource("scale")
            .map(|s| (s.group, s.version, s.kind)),
        Some(("autoscaling", "v1", "Scale"))
    );

    assert_eq!(
        lookup("", "v1", "nodes").map(|r| r.key(None, "n1")),
        Some("/registry/minions/n1".to_string())
    );
    assert_eq!(
        lookup("", "v1", "services").map(|r| r.key_prefix()),
        Some("/registry/services/specs/".to_string())
    );
    assert_eq!(
        lookup("", "v1", "endpoints").map(|r| r.storage),
        Some("services/endpoints")
    );
    assert_eq!(
        lookup("", "v1", "replicationcontrollers").map(|r| r.storage),
        Some("controllers")
    );
    assert_eq!(
        lookup("networking.k8s.io", "v1", "ingresses").map(|r| r.storage),
        Some("ingress")
    );
    assert_eq!(
        lookup("apiextensions.k8s.io", "v1", "customresourcedefinitions")
            .map(|r| r.key(None, "foos.example.com")),
        Some(
            "/registry/apiextensions.k8s.io/customresourcedefinitions/foos.example.com".to_string()
        )
    );
    assert!(lookup("", "v1", "nothing").is_none());
    assert!(lookup("apps", "v2", "deployments").is_none());

    let ns = lookup("", "v1", "namespaces").expect("namespaces");
    assert!(!ns.has_verb("deletecollection"));
    assert_eq!(
        ns.subresource("finalize").map(|s| s.verbs),
        Some(&["update"][..])
    );
    let cs = lookup("", "v1", "componentstatuses").expect("componentstatuses");
    assert_eq!(cs.verbs, &["get", "list"]);
    assert_eq!(
        lookup("", "v1", "bindings").map(|r| r.verbs),
        Some(&["create"][..])
    );
}

#[test]
fn shared_storage() {
    let v2 = lookup("autoscaling", "v2", "horizontalpodautoscalers").expect("hpa v2");
    let v1 = lookup("autoscaling", "v1", "horizontalpodautoscalers").expect("hpa v1");
    assert_eq!(v1.storage, v2.storage);
    assert_eq!(v1.storage, "horizontalpodautoscalers");
    let core = lookup("", "v1", "events").expect("events");
    let new = lookup("events.k8s.io", "v1", "events").expect("events.k8s.io");
    assert_eq!(core.storage, new.storage);
}

#[test]
fn groups_in_discovery_order() {
    let names: Vec<&str> = groups().iter().map(|g| g.name).collect();
    assert_eq!(
        names,
        [
            "apiregistration.k8s.io",
            "apps",
            "events.k8s.io",
            "authentication.k8s.io",
            "authorization.k8s.io",
            "autoscaling",
            "batch",
            "certificates.k8s.io",
            "networking.k8s.io",
            "policy",
            "rbac.authorization.k8s.io",
            "storage.k8s.io",
            "admissionregistration.k8s.io",
            "apiextensions.k8s.io",
            "scheduling.k8s.io",
            "coordination.k8s.io",
            "node.k8s.io",
            "discovery.k8s.io",
            "flowcontrol.apiserver.k8s.io",
        ]
    );
    let autoscaling = groups()
        .into_iter()
        .find(|g| g.name == "autoscaling")
        .expect("autoscaling");
    assert_eq!(autoscaling.versions, ["v2", "v1"]);
    assert!(
        all().first().is_some_and(|r| r.group.is_empty()),
        "core group comes first"
    );
}

#[test]
fn all_category_members() {
    let mut members: Vec<String> = all()
        .iter()
        .filter(|r| r.categories.contains(&"all"))
        .map(|r| r.qualified())
        .collect();
    members.dedup();
    assert_eq!(
        members,
        [
            "pods",
            "replicationcontrollers",
            "services",
            "daemonsets.apps",
            "deployments.apps",
            "replicasets.apps",
            "statefulsets.apps",
            "horizontalpodautoscalers.autoscaling",
            "cronjobs.batch",
            "jobs.batch",
        ]
    );
    let ext: Vec<&str> = all()
        .iter()
        .filter(|r| r.categories.contains(&"api-extensions"))
        .map(|r| r.plural)
        .collect();
    assert_eq!(
        ext,
        [
            "apiservices",
            "mutatingwebhookconfigurations",
            "validatingadmissionpolicies",
            "validatingadmissionpolicybindings",
            "validatingwebhookconfigurations",
            "customresourcedefinitions",
        ]
    );
}

#[test]
fn create_only_reviews() {
    for plural in ["tokenreviews", "selfsubjectreviews"] {
        assert_eq!(
            lookup("authentication.k8s.io", "v1", plural).map(|r| r.verbs),
            Some(&["create"][..])
        );
    }
    for plural in [
        "selfsubjectaccessreviews",
        "subjectaccessreviews",
        "localsubjectaccessreviews",
        "selfsubjectrulesreviews",
    ] {
        assert_eq!(
            lookup("authorization.k8s.io", "v1", plural).map(|r| r.verbs),
            Some(&["create"][..])
        );
    }
    assert!(
        lookup("authorization.k8s.io", "v1", "localsubjectaccessreviews")
            .is_some_and(|r| r.namespaced)
    );
}
