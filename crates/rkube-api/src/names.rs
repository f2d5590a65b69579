//! Name validation with the messages upstream Kubernetes returns.
//!
//! The syntax checks mirror `k8s.io/apimachinery/pkg/util/validation` (DNS-1123 labels and
//! subdomains, DNS-1035 labels, qualified names, label values) and
//! `k8s.io/apimachinery/pkg/api/validation/path` (path segment names). Each check returns the
//! list of problems, empty when the value is valid, so callers can turn them into
//! `field.Invalid` causes exactly as upstream does.
//!
//! [`validate_object_name`] picks the rule upstream applies to `metadata.name` of each built-in
//! kind (for example DNS-1123 label for namespaces, DNS-1035 label for services, path segment
//! names for RBAC objects). The checks are hand-written: no regex engine is needed for these
//! small grammars.

use serde_json::Value;

use crate::registry::ResourceInfo;

/// Maximum length of a DNS-1123 label (and of a DNS-1035 label).
pub const DNS1123_LABEL_MAX_LENGTH: usize = 63;
/// Maximum length of a DNS-1123 subdomain.
pub const DNS1123_SUBDOMAIN_MAX_LENGTH: usize = 253;
/// Maximum length of a DNS-1035 label.
pub const DNS1035_LABEL_MAX_LENGTH: usize = 63;
/// Maximum length of the name part of a qualified name (label and annotation keys).
pub const QUALIFIED_NAME_MAX_LENGTH: usize = 63;
/// Maximum length of a label value.
pub const LABEL_VALUE_MAX_LENGTH: usize = 63;
/// Maximum length of a CronJob name: Jobs it creates append an 11 character suffix and must
/// still fit a DNS-1035 label.
pub const CRONJOB_NAME_MAX_LENGTH: usize = 52;

const DNS1123_LABEL_FMT: &str = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
const DNS1123_LABEL_ERR: &str = "a lowercase RFC 1123 label must consist of lower case \
     alphanumeric characters or '-', and must start and end with an alphanumeric character";
const DNS1123_SUBDOMAIN_FMT: &str =
    "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";
const DNS1123_SUBDOMAIN_ERR: &str = "a lowercase RFC 1123 subdomain must consist of lower case \
     alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character";
const DNS1035_LABEL_FMT: &str = "[a-z]([-a-z0-9]*[a-z0-9])?";
const DNS1035_LABEL_ERR: &str = "a DNS-1035 label must consist of lower case alphanumeric \
     characters or '-', start with an alphabetic character, and end with an alphanumeric character";
const QUALIFIED_NAME_FMT: &str = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
const QUALIFIED_NAME_ERR: &str = "must consist of alphanumeric characters, '-', '_' or '.', \
     and must start and end with an alphanumeric character";
const LABEL_VALUE_FMT: &str = "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?";
const LABEL_VALUE_ERR: &str = "a valid label must be an empty string or consist of alphanumeric \
     characters, '-', '_' or '.', and must start and end with an alphanumeric character";

/// "must be no more than N characters", as upstream `MaxLenError`.
pub fn max_len_error(length: usize) -> String {
    format!("must be no more than {length} characters")
}

/// "must be non-empty", as upstream `EmptyError`.
pub fn empty_error() -> String {
    "must be non-empty".to_string()
}

/// The message upstream `RegexError` builds: the explanation, examples, and the regex.
/// Upstream separates examples with `", " + " or "`, hence the double space, kept on purpose.
pub fn regex_error(msg: &str, fmt: &str, examples: &[&str]) -> String {
    let mut out = String::from(msg);
    if examples.is_empty() {
        out.push_str(" (regex used for validation is '");
    } else {
        out.push_str(" (e.g. ");
        for (i, example) in examples.iter().enumerate() {
            if i > 0 {
                out.push_str(" or ");
            }
            out.push('\'');
            out.push_str(example);
            out.push_str("', ");
        }
        out.push_str("regex used for validation is '");
    }
    out.push_str(fmt);
    out.push_str("')");
    out
}

fn is_lower_alnum(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

/// `[a-z0-9]([-a-z0-9]*[a-z0-9])?` matched against the whole string.
fn matches_dns1123_label(s: &str) -> bool {
    let b = s.as_bytes();
    match (b.first(), b.last()) {
        (Some(&first), Some(&last)) => {
            is_lower_alnum(first)
                && is_lower_alnum(last)
                && b.iter().all(|&c| is_lower_alnum(c) || c == b'-')
        }
        _ => false,
    }
}

/// DNS-1123 labels joined by single dots, matched against the whole string.
fn matches_dns1123_subdomain(s: &str) -> bool {
    !s.is_empty() && s.split('.').all(matches_dns1123_label)
}

/// `[a-z]([-a-z0-9]*[a-z0-9])?` matched against the whole string.
fn matches_dns1035_label(s: &str) -> bool {
    let b = s.as_bytes();
    match (b.first(), b.last()) {
        (Some(&first), Some(&last)) => {
            first.is_ascii_lowercase()
                && is_lower_alnum(last)
                && b.iter().all(|&c| is_lower_alnum(c) || c == b'-')
        }
        _ => false,
    }
}

/// `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]` matched against the whole string.
fn matches_qualified_name_part(s: &str) -> bool {
    let b = s.as_bytes();
    match (b.first(), b.last()) {
        (Some(&first), Some(&last)) => {
            first.is_ascii_alphanumeric()
                && last.is_ascii_alphanumeric()
                && b.iter()
                    .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        }
        _ => false,
    }
}

/// Problems with `value` as a DNS-1123 label (upstream `IsDNS1123Label`): at most 63
/// characters of `[a-z0-9-]`, starting and ending with an alphanumeric character.
pub fn is_dns1123_label(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > DNS1123_LABEL_MAX_LENGTH {
        errs.push(max_len_error(DNS1123_LABEL_MAX_LENGTH));
    }
    if !matches_dns1123_label(value) {
        if matches_dns1123_subdomain(value) {
            // A valid subdomain but not a label: the length is already reported, so it
            // can only be the dots.
            errs.push("must not contain dots".to_string());
        } else {
            errs.push(regex_error(
                DNS1123_LABEL_ERR,
                DNS1123_LABEL_FMT,
                &["my-name", "123-abc"],
            ));
        }
    }
    errs
}

/// Problems with `value` as a DNS-1123 subdomain (upstream `IsDNS1123Subdomain`): at most 253
/// characters, dot-separated DNS-1123 labels.
pub fn is_dns1123_subdomain(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > DNS1123_SUBDOMAIN_MAX_LENGTH {
        errs.push(max_len_error(DNS1123_SUBDOMAIN_MAX_LENGTH));
    }
    if !matches_dns1123_subdomain(value) {
        errs.push(regex_error(
            DNS1123_SUBDOMAIN_ERR,
            DNS1123_SUBDOMAIN_FMT,
            &["example.com"],
        ));
    }
    errs
}

/// Problems with `value` as a DNS-1035 label (upstream `IsDNS1035Label`), the rule for
/// Service names: like a DNS-1123 label but starting with a letter.
pub fn is_dns1035_label(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > DNS1035_LABEL_MAX_LENGTH {
        errs.push(max_len_error(DNS1035_LABEL_MAX_LENGTH));
    }
    if !matches_dns1035_label(value) {
        errs.push(regex_error(
            DNS1035_LABEL_ERR,
            DNS1035_LABEL_FMT,
            &["my-name", "abc-123"],
        ));
    }
    errs
}

/// Problems with `name` as one segment of a URL path (upstream `IsValidPathSegmentName`): it
/// may not be `.` or `..` and may not contain `/` or `%`. Every object name must pass this,
/// because it becomes part of the request path and of the storage key.
pub fn is_path_segment_name(name: &str) -> Vec<String> {
    for illegal in [".", ".."] {
        if name == illegal {
            return vec![format!("may not be '{illegal}'")];
        }
    }
    let mut errs = Vec::new();
    for illegal in ["/", "%"] {
        if name.contains(illegal) {
            errs.push(format!("may not contain '{illegal}'"));
        }
    }
    errs
}

/// Problems with `value` as a qualified name (upstream `IsQualifiedName`), the rule for label
/// and annotation keys: an optional DNS-1123 subdomain prefix and `/`, then a name of at most
/// 63 characters.
pub fn is_qualified_name(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    let parts: Vec<&str> = value.split('/').collect();
    let name = match parts.as_slice() {
        [name] => *name,
        [prefix, name] => {
            if prefix.is_empty() {
                errs.push(format!("prefix part {}", empty_error()));
            } else {
                errs.extend(
                    is_dns1123_subdomain(prefix)
                        .into_iter()
                        .map(|m| format!("prefix part {m}")),
                );
            }
            *name
        }
        _ => {
            errs.push(format!(
                "a qualified name {} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
                regex_error(QUALIFIED_NAME_ERR, QUALIFIED_NAME_FMT, &["MyName", "my.name", "123-abc"])
            ));
            return errs;
        }
    };
    if name.is_empty() {
        errs.push(format!("name part {}", empty_error()));
    } else if name.len() > QUALIFIED_NAME_MAX_LENGTH {
        errs.push(format!(
            "name part {}",
            max_len_error(QUALIFIED_NAME_MAX_LENGTH)
        ));
    }
    if !matches_qualified_name_part(name) {
        errs.push(format!(
            "name part {}",
            regex_error(
                QUALIFIED_NAME_ERR,
                QUALIFIED_NAME_FMT,
                &["MyName", "my.name", "123-abc"]
            )
        ));
    }
    errs
}

/// Problems with `value` as a label value (upstream `IsValidLabelValue`): empty, or at most
/// 63 characters of `[-A-Za-z0-9_.]` starting and ending with an alphanumeric character.
pub fn is_valid_label_value(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > LABEL_VALUE_MAX_LENGTH {
        errs.push(max_len_error(LABEL_VALUE_MAX_LENGTH));
    }
    if !value.is_empty() && !matches_qualified_name_part(value) {
        errs.push(regex_error(
            LABEL_VALUE_ERR,
            LABEL_VALUE_FMT,
            &["MyValue", "my_value", "12345"],
        ));
    }
    errs
}

/// The rule a kind applies to `metadata.name`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameRule {
    /// DNS-1123 subdomain (`NameIsDNSSubdomain`), the default.
    Dns1123Subdomain,
    /// DNS-1123 label (`NameIsDNSLabel`): namespaces, statefulsets.
    Dns1123Label,
    /// DNS-1035 label (`NameIsDNS1035Label`): services.
    Dns1035Label,
    /// Only the path-segment check every name gets (RBAC objects, core events, CSRs, PDBs,
    /// APIServices, which upstream validates no further by name).
    PathSegment,
    /// DNS-1123 subdomain of at most 52 characters: cronjobs.
    CronJob,
    /// At most 63 characters, a DNS-1123 subdomain once lower-cased: CSIDriver names.
    CsiDriver,
    /// A canonical IP address: networking.k8s.io IPAddress objects.
    IpAddress,
    /// Not validated (create-only review objects that are never stored).
    None,
}

/// The rule upstream applies to `metadata.name` of this resource on create.
pub fn name_rule(info: &ResourceInfo) -> NameRule {
    match (info.group, info.plural) {
        ("", "namespaces") => NameRule::Dns1123Label,
        ("", "services") => NameRule::Dns1035Label,
        // Core events only get the legacy checks, which say nothing about the name.
        ("", "events") | ("", "bindings") => NameRule::PathSegment,
        ("apps", "statefulsets") => NameRule::Dns1123Label,
        ("batch", "cronjobs") => NameRule::CronJob,
        ("rbac.authorization.k8s.io", _) => NameRule::PathSegment,
        ("policy", "poddisruptionbudgets") => NameRule::PathSegment,
        ("certificates.k8s.io", "certificatesigningrequests") => NameRule::PathSegment,
        ("apiregistration.k8s.io", "apiservices") => NameRule::PathSegment,
        ("storage.k8s.io", "csidrivers") => NameRule::CsiDriver,
        ("networking.k8s.io", "ipaddresses") => NameRule::IpAddress,
        ("authentication.k8s.io", _) | ("authorization.k8s.io", _) => NameRule::None,
        _ => NameRule::Dns1123Subdomain,
    }
}

/// Problems with `name` under `rule`. `prefix` is true when the value is a `generateName`
/// prefix, in which case a trailing dash is tolerated as upstream does.
pub fn check_name(rule: NameRule, name: &str, prefix: bool) -> Vec<String> {
    let masked;
    let name = if prefix && !matches!(rule, NameRule::PathSegment | NameRule::None) {
        masked = mask_trailing_dash(name);
        masked.as_str()
    } else {
        name
    };
    match rule {
        NameRule::Dns1123Subdomain => is_dns1123_subdomain(name),
        NameRule::Dns1123Label => is_dns1123_label(name),
        NameRule::Dns1035Label => is_dns1035_label(name),
        NameRule::PathSegment => is_path_segment_name(name),
        NameRule::CronJob => {
            let mut errs = is_dns1123_subdomain(name);
            if name.len() > CRONJOB_NAME_MAX_LENGTH {
                errs.push(max_len_error(CRONJOB_NAME_MAX_LENGTH));
            }
            errs
        }
        NameRule::CsiDriver => {
            let mut errs = Vec::new();
            if name.len() > DNS1123_LABEL_MAX_LENGTH {
                errs.push(max_len_error(DNS1123_LABEL_MAX_LENGTH));
            }
            errs.extend(is_dns1123_subdomain(&name.to_ascii_lowercase()));
            errs
        }
        NameRule::IpAddress => is_canonical_ip(name),
        NameRule::None => Vec::new(),
    }
}

/// Upstream `maskTrailingDash`: a generated name gets a suffix appended, so a trailing dash in
/// the prefix is acceptable. Upstream drops two characters before appending "a"; kept as is.
fn mask_trailing_dash(name: &str) -> String {
    if name.len() > 1 && name.ends_with('-') {
        let cut = name.len() - 2;
        match name.get(..cut) {
            Some(head) => format!("{head}a"),
            None => name.to_string(),
        }
    } else {
        name.to_string()
    }
}

fn is_canonical_ip(name: &str) -> Vec<String> {
    match name.parse::<std::net::IpAddr>() {
        Err(_) => vec!["must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)".to_string()],
        Ok(ip) => {
            let canonical = ip.to_string();
            if canonical == name {
                Vec::new()
            } else {
                vec![format!("must be in canonical form (\"{canonical}\")")]
            }
        }
    }
}

/// Problems with `name` as `metadata.name` of a new object of this resource, using the rule
/// upstream picks for the kind (see [`name_rule`]). An empty name gives upstream's
/// "name or generateName is required" (except for kinds whose name is not validated).
pub fn validate_object_name(info: &ResourceInfo, name: &str) -> Vec<String> {
    let rule = name_rule(info);
    if rule == NameRule::None {
        return Vec::new();
    }
    if name.is_empty() {
        return vec!["name or generateName is required".to_string()];
    }
    // Every name becomes a path segment of the URL and of the storage key.
    let mut errs = check_name(rule, name, false);
    if !matches!(rule, NameRule::PathSegment) {
        for msg in is_path_segment_name(name) {
            if !errs.contains(&msg) {
                errs.push(msg);
            }
        }
    }
    errs
}

/// Problems with `metadata.generateName` of a new object of this resource: the same rule as
/// for names, with a trailing dash allowed.
pub fn validate_generate_name(info: &ResourceInfo, generate_name: &str) -> Vec<String> {
    check_name(name_rule(info), generate_name, true)
}

/// Problems with the name of `obj`, including the rules that tie the name to the object's
/// content: a CustomResourceDefinition must be named `<spec.names.plural>.<spec.group>` and an
/// APIService `<spec.version>.<spec.group>`.
pub fn validate_object_name_of(info: &ResourceInfo, obj: &Value) -> Vec<String> {
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let mut errs = validate_object_name(info, name);
    if name.is_empty() {
        return errs;
    }
    let text = |ptr: &str| {
        obj.pointer(ptr)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    match (info.group, info.plural) {
        ("apiextensions.k8s.io", "customresourcedefinitions") => {
            let required = format!("{}.{}", text("/spec/names/plural"), text("/spec/group"));
            if name != required {
                errs.push("must be spec.names.plural+\".\"+spec.group".to_string());
            }
        }
        ("apiregistration.k8s.io", "apiservices") => {
            // The legacy core group's APIService is "v1." (empty group after the dot).
            let required = format!("{}.{}", text("/spec/version"), text("/spec/group"));
            if errs.is_empty() && name != required {
                errs.push(format!(
                    "must be `spec.version+\".\"+spec.group`: \"{required}\""
                ));
            }
        }
        _ => {}
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::lookup;

    const SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
    const LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
    const DNS1035_MSG: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";

    #[test]
    fn dns1123_subdomain_table() {
        let long = "a".repeat(254);
        let max = format!(
            "{}.{}.{}.{}",
            "a".repeat(63),
            "b".repeat(63),
            "c".repeat(63),
            "d".repeat(61)
        );
        assert_eq!(max.len(), 253);
        let cases: &[(&str, &[&str])] = &[
            ("a", &[]),
            ("example.com", &[]),
            ("a-b.c-d", &[]),
            ("0", &[]),
            ("1.2.3.4", &[]),
            (&max, &[]),
            ("", &[SUBDOMAIN_MSG]),
            ("A", &[SUBDOMAIN_MSG]),
            ("-a", &[SUBDOMAIN_MSG]),
            ("a-", &[SUBDOMAIN_MSG]),
            ("a..b", &[SUBDOMAIN_MSG]),
            (".a", &[SUBDOMAIN_MSG]),
            ("a.", &[SUBDOMAIN_MSG]),
            ("a_b", &[SUBDOMAIN_MSG]),
            ("a b", &[SUBDOMAIN_MSG]),
            ("ä", &[SUBDOMAIN_MSG]),
            (&long, &["must be no more than 253 characters"]),
        ];
        for (input, want) in cases {
            assert_eq!(is_dns1123_subdomain(input), *want, "input {input:?}");
        }
    }

    #[test]
    fn dns1123_label_table() {
        let cases: &[(&str, &[&str])] = &[
            ("a", &[]),
            ("abc-123", &[]),
            ("123", &[]),
            (&"a".repeat(63), &[]),
            ("a.b", &["must not contain dots"]),
            ("", &[LABEL_MSG]),
            ("Abc", &[LABEL_MSG]),
            ("-abc", &[LABEL_MSG]),
            ("abc-", &[LABEL_MSG]),
            ("a_b", &[LABEL_MSG]),
            (&"a".repeat(64), &["must be no more than 63 characters"]),
        ];
        for (input, want) in cases {
            assert_eq!(is_dns1123_label(input), *want, "input {input:?}");
        }
    }

    #[test]
    fn dns1035_label_table() {
        let cases: &[(&str, &[&str])] = &[
            ("a", &[]),
            ("my-svc", &[]),
            ("a1", &[]),
            ("1a", &[DNS1035_MSG]),
            ("a.b", &[DNS1035_MSG]),
            ("a-", &[DNS1035_MSG]),
            ("", &[DNS1035_MSG]),
            (&"a".repeat(64), &["must be no more than 63 characters"]),
        ];
        for (input, want) in cases {
            assert_eq!(is_dns1035_label(input), *want, "input {input:?}");
        }
    }

    #[test]
    fn path_segment_table() {
        let cases: &[(&str, &[&str])] = &[
            ("system:admin", &[]),
            ("Foo Bar", &[]),
            (".a", &[]),
            (".", &["may not be '.'"]),
            ("..", &["may not be '..'"]),
            ("a/b", &["may not contain '/'"]),
            ("a%b", &["may not contain '%'"]),
            ("a/%", &["may not contain '/'", "may not contain '%'"]),
        ];
        for (input, want) in cases {
            assert_eq!(is_path_segment_name(input), *want, "input {input:?}");
        }
    }

    #[test]
    fn qualified_name_and_label_value() {
        assert!(is_qualified_name("app").is_empty());
        assert!(is_qualified_name("app.kubernetes.io/name").is_empty());
        assert!(is_qualified_name("My_Key.1").is_empty());
        assert_eq!(
            is_qualified_name("/a"),
            vec!["prefix part must be non-empty".to_string()]
        );
        let errs = is_qualified_name("a/");
        assert_eq!(errs.len(), 2);
        assert_eq!(errs[0], "name part must be non-empty");
        assert!(errs[1].starts_with("name part must consist of alphanumeric characters"));
        assert!(is_qualified_name("a/b/c")[0].starts_with("a qualified name must consist"));
        assert!(is_qualified_name("Bad_/x")[0].starts_with("prefix part a lowercase RFC 1123"));
        assert_eq!(
            is_qualified_name(&"a".repeat(64)),
            vec!["name part must be no more than 63 characters".to_string()]
        );
        assert!(is_qualified_name("a b")[0].ends_with(
            "(e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
        ));

        assert!(is_valid_label_value("").is_empty());
        assert!(is_valid_label_value("v1.2_3-x").is_empty());
        assert_eq!(is_valid_label_value("-x").len(), 1);
        assert_eq!(
            is_valid_label_value(&"a".repeat(64)),
            vec!["must be no more than 63 characters".to_string()]
        );
    }

    #[test]
    fn object_name_rules_per_kind() {
        let cases: &[(&str, &str, &str, bool)] = &[
            // (group, plural, name, valid)
            ("", "namespaces", "kube-system", true),
            ("", "namespaces", "a.b", false),
            ("", "services", "my-svc", true),
            ("", "services", "1svc", false),
            ("", "pods", "web-0.x", true),
            ("", "pods", "Web", false),
            ("", "nodes", "node-1.example.com", true),
            ("", "configmaps", "kube-root-ca.crt", true),
            ("", "events", "web.17a2b3:Foo", true),
            ("", "events", "a/b", false),
            ("events.k8s.io", "events", "web.17a2b3:Foo", false),
            ("apps", "statefulsets", "web", true),
            ("apps", "statefulsets", "web.v1", false),
            ("apps", "deployments", "web.v1", true),
            ("batch", "cronjobs", &"a".repeat(52), true),
            ("batch", "cronjobs", &"a".repeat(53), false),
            (
                "rbac.authorization.k8s.io",
                "clusterroles",
                "system:controller:foo",
                true,
            ),
            ("rbac.authorization.k8s.io", "rolebindings", "..", false),
            (
                "certificates.k8s.io",
                "certificatesigningrequests",
                "node-csr-ABC_def",
                true,
            ),
            ("policy", "poddisruptionbudgets", "My PDB", true),
            ("storage.k8s.io", "csidrivers", "Example.CSI.driver", true),
            ("storage.k8s.io", "csidrivers", &"a".repeat(64), false),
            ("networking.k8s.io", "ipaddresses", "10.0.0.1", true),
            ("networking.k8s.io", "ipaddresses", "2001:db8::1", true),
            ("networking.k8s.io", "ipaddresses", "2001:DB8::1", false),
            ("networking.k8s.io", "ipaddresses", "10.0.0", false),
            ("authorization.k8s.io", "selfsubjectaccessreviews", "", true),
            ("", "pods", "", false),
        ];
        for (group, plural, name, valid) in cases {
            let info = crate::registry::all()
                .iter()
                .find(|r| r.group == *group && r.plural == *plural)
                .unwrap_or_else(|| panic!("no resource {group}/{plural}"));
            let errs = validate_object_name(info, name);
            assert_eq!(
                errs.is_empty(),
                *valid,
                "{group}/{plural} {name:?}: {errs:?}"
            );
        }
    }

    #[test]
    fn generate_name_prefix_allows_trailing_dash() {
        let pods = lookup("", "v1", "pods").expect("pods");
        assert!(validate_generate_name(pods, "web-").is_empty());
        assert!(!validate_generate_name(pods, "Web-").is_empty());
        assert!(!validate_object_name(pods, "web-").is_empty());
    }

    #[test]
    fn crd_and_apiservice_names_follow_content() {
        let crds = lookup("apiextensions.k8s.io", "v1", "customresourcedefinitions").expect("crds");
        let good = serde_json::json!({"metadata":{"name":"foos.example.com"},"spec":{"group":"example.com","names":{"plural":"foos"}}});
        assert!(validate_object_name_of(crds, &good).is_empty());
        let bad = serde_json::json!({"metadata":{"name":"bars.example.com"},"spec":{"group":"example.com","names":{"plural":"foos"}}});
        assert_eq!(
            validate_object_name_of(crds, &bad),
            vec!["must be spec.names.plural+\".\"+spec.group".to_string()]
        );

        let apis = lookup("apiregistration.k8s.io", "v1", "apiservices").expect("apiservices");
        let good = serde_json::json!({"metadata":{"name":"v1beta1.metrics.k8s.io"},"spec":{"group":"metrics.k8s.io","version":"v1beta1"}});
        assert!(validate_object_name_of(apis, &good).is_empty());
        let core =
            serde_json::json!({"metadata":{"name":"v1."},"spec":{"group":"","version":"v1"}});
        assert!(validate_object_name_of(apis, &core).is_empty());
        let core = serde_json::json!({"metadata":{"name":"v1"},"spec":{"version":"v1"}});
        assert_eq!(
            validate_object_name_of(apis, &core),
            vec!["must be `spec.version+\".\"+spec.group`: \"v1.\"".to_string()]
        );
    }
}
