//! The `paths` section of a group-version document: the REST operations of every resource,
//! each tagged with `x-kubernetes-action` and `x-kubernetes-group-version-kind`, shaped like
//! a v1.33 kube-apiserver's (`/apis/apps/v1/namespaces/{namespace}/deployments/{name}` with
//! `get`, `put`, `patch`, `delete`, and so on).
//!
//! What kubectl reads from here:
//! - the PATCH operation of a GVK declaring the `fieldValidation` query parameter (server-side
//!   validation, `cli-runtime` `query_param_verifier_v3.go`);
//! - the PATCH operation's request body listing `application/strategic-merge-patch+json`
//!   (client-side apply, `kubectl` `apply/patcher.go`);
//! - the GVK of the operations of `/…/<plural>` and `/…/<plural>/{name}` (`kubectl explain`).

use serde_json::{json, Map, Value};

use super::kinds;
use super::schemas::{schema_ref, Components};
use crate::registry::{ResourceInfo, Subresource};

const JSON: &str = "application/json";
const YAML: &str = "application/yaml";
const PROTOBUF: &str = "application/vnd.kubernetes.protobuf";
const RESPONSE_TYPES: &[&str] = &[JSON, PROTOBUF, YAML];
const WATCH_TYPES: &[&str] = &[
    JSON,
    "application/json;stream=watch",
    PROTOBUF,
    "application/vnd.kubernetes.protobuf;stream=watch",
    YAML,
];
const PATCH_TYPES: &[&str] = &[
    "application/apply-patch+yaml",
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
];

const DRY_RUN: &str = "When present, indicates that modifications should not be persisted. An invalid or unrecognized dryRun directive will result in an error response and no further processing of the request. Valid values are: - All: all dry run stages will be processed";
const FIELD_MANAGER: &str = "fieldManager is a name associated with the actor or entity that is making these changes. The value must be less than or 128 characters long, and only contain printable characters, as defined by https://golang.org/pkg/unicode/#IsPrint.";
const FIELD_MANAGER_PATCH: &str = "fieldManager is a name associated with the actor or entity that is making these changes. The value must be less than or 128 characters long, and only contain printable characters, as defined by https://golang.org/pkg/unicode/#IsPrint. This field is required for apply requests (application/apply-patch) but optional for non-apply patch types (JsonPatch, MergePatch, StrategicMergePatch).";
const FIELD_VALIDATION: &str = "fieldValidation instructs the server on how to handle objects in the request (POST/PUT/PATCH) containing unknown or duplicate fields. Valid values are: - Ignore: This will ignore any unknown fields that are silently dropped from the object, and will ignore all but the last duplicate field that the decoder encounters. This is the default behavior prior to v1.23. - Warn: This will send a warning via the standard warning response header for each unknown field that is dropped from the object, and for each duplicate field that is encountered. The request will still succeed if there are no other errors, and will only persist the last of any duplicate fields. This is the default in v1.23+ - Strict: This will fail the request with a BadRequest error if any unknown fields would be dropped from the object, or if any duplicate fields are present. The error returned from the server will contain all unknown and duplicate fields encountered.";
const FORCE: &str = "Force is going to \"force\" Apply requests. It means user will re-acquire conflicting fields owned by other people. Force flag must be unset for non-apply patch requests.";
const PRETTY: &str = "If 'true', then the output is pretty printed. Defaults to 'false' unless the user-agent indicates a browser or command-line HTTP tool (curl and wget).";
const NAMESPACE: &str = "object name and auth scope, such as for teams and projects";
const GRACE_PERIOD: &str = "The duration in seconds before the object should be deleted. Value must be non-negative integer. The value zero indicates delete immediately. If this value is nil, the default grace period for the specified type will be used. Defaults to a per object value if not specified. zero means delete immediately.";
const ORPHAN: &str = "Deprecated: please use the PropagationPolicy, this field will be deprecated in 1.7. Should the dependent objects be orphaned. If true/false, the \"orphan\" finalizer will be added to/removed from the object's finalizers list. Either this field or PropagationPolicy may be set, but not both.";
const PROPAGATION: &str = "Whether and how garbage collection will be performed. Either this field or OrphanDependents may be set, but not both. The default policy is decided by the existing finalizer set in the metadata.finalizers and the resource-specific default policy. Acceptable values are: 'Orphan' - orphan the dependents; 'Background' - allow the garbage collector to delete the dependents in the background; 'Foreground' - a cascading policy that deletes all dependents in the foreground.";
const IGNORE_STORE_READ_ERROR: &str = "if set to true, it will trigger an unsafe deletion of the resource in case the normal deletion flow fails with a corrupt object error. A resource is considered corrupt if it can not be retrieved from the underlying storage successfully because of a) its data can not be transformed e.g. decryption failure, or b) it fails to decode into an object. NOTE: unsafe deletion ignores finalizer constraints, skips precondition checks, and removes the object from the storage. WARNING: This may potentially break the cluster if the workload associated with the resource being unsafe-deleted relies on normal deletion flow. Use only if you REALLY know what you are doing. The default value is false, and the user must opt in to enable it";
const LIST_PARAMS: &[(&str, &str, &str)] = &[
    ("allowWatchBookmarks", "boolean", "allowWatchBookmarks requests watch events with type \"BOOKMARK\". Servers that do not implement bookmarks may ignore this flag and bookmarks are sent at the server's discretion. Clients should not assume bookmarks are returned at any specific interval, nor may they assume the server will send any BOOKMARK event during a session. If this is not a watch, this field is ignored."),
    ("continue", "string", "The continue option should be set when retrieving more results from the server. Since this value is server defined, clients may only use the continue value from a previous query result with identical query parameters (except for the value of continue) and the server may reject a continue value it does not recognize."),
    ("fieldSelector", "string", "A selector to restrict the list of returned objects by their fields. Defaults to everything."),
    ("labelSelector", "string", "A selector to restrict the list of returned objects by their labels. Defaults to everything."),
    ("limit", "integer", "limit is a maximum number of responses to return for a list call. If more items exist, the server will set the `continue` field on the list metadata to a value that can be used with the same initial query to retrieve the next set of results."),
    ("resourceVersion", "string", "resourceVersion sets a constraint on what resource versions a request may be served from. See https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-versions for details.\n\nDefaults to unset"),
    ("resourceVersionMatch", "string", "resourceVersionMatch determines how resourceVersion is applied to list calls. It is highly recommended that resourceVersionMatch be set for list calls where resourceVersion is set See https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-versions for details.\n\nDefaults to unset"),
    ("sendInitialEvents", "boolean", "`sendInitialEvents=true` may be set together with `watch=true`. In that case, the watch stream will begin with synthetic events to produce the current state of objects in the collection. Once all such events have been sent, a synthetic \"Bookmark\" event will be sent."),
    ("timeoutSeconds", "integer", "Timeout for the list/watch call. This limits the duration of the call, regardless of any activity or inactivity."),
    ("watch", "boolean", "Watch for changes to the described resources and return them as a stream of add, update, and remove notifications. Specify resourceVersion."),
];
const LOG_PARAMS: &[(&str, &str, &str)] = &[
    ("container", "string", "The container for which to stream logs. Defaults to only container if there is one container in the pod."),
    ("follow", "boolean", "Follow the log stream of the pod. Defaults to false."),
    ("insecureSkipTLSVerifyBackend", "boolean", "insecureSkipTLSVerifyBackend indicates that the apiserver should not confirm the validity of the serving certificate of the backend it is connecting to."),
    ("limitBytes", "integer", "If set, the number of bytes to read from the server before terminating the log output. This may not display a complete final line of logging, and may return slightly more or slightly less than the specified limit."),
    ("previous", "boolean", "Return previous terminated container logs. Defaults to false."),
    ("sinceSeconds", "integer", "A relative time in seconds before the current time from which to show logs. If this value precedes the time a pod was started, only logs since the pod start will be returned. If this value is in the future, no logs will be returned. Only one of sinceSeconds or sinceTime may be specified."),
    ("stream", "string", "Specify which container log stream to return to the client. Acceptable values are \"All\", \"Stdout\" and \"Stderr\". If not specified, \"All\" is used, and both stdout and stderr are returned interleaved. Note that when \"TailLines\" is specified, \"Stream\" can only be set to nil or \"All\"."),
    ("tailLines", "integer", "If set, the number of lines from the end of the logs to show. If not specified, logs are shown from the creation of the container or sinceSeconds or sinceTime. Note that when \"TailLines\" is specified, \"Stream\" can only be set to nil or \"All\"."),
    ("timestamps", "boolean", "If true, add an RFC3339 or RFC3339Nano timestamp at the beginning of every line of log output. Defaults to false."),
];
const EXEC_PARAMS: &[(&str, &str, &str)] = &[
    ("command", "string", "Command is the remote command to execute. argv array. Not executed within a shell."),
    ("container", "string", "Container in which to execute the command. Defaults to only container if there is only one container in the pod."),
    ("stderr", "boolean", "Redirect the standard error stream of the pod for this call."),
    ("stdin", "boolean", "Redirect the standard input stream of the pod for this call. Defaults to false."),
    ("stdout", "boolean", "Redirect the standard output stream of the pod for this call."),
    ("tty", "boolean", "TTY if true indicates that a tty will be allocated for the exec call. Defaults to false."),
];
const ATTACH_PARAMS: &[(&str, &str, &str)] = &[
    ("container", "string", "The container in which to execute the command. Defaults to only container if there is only one container in the pod."),
    ("stderr", "boolean", "Stderr if true indicates that stderr is to be redirected for the attach call. Defaults to true."),
    ("stdin", "boolean", "Stdin if true, redirects the standard input stream of the pod for this call. Defaults to false."),
    ("stdout", "boolean", "Stdout if true indicates that stdout is to be redirected for the attach call. Defaults to true."),
    ("tty", "boolean", "TTY if true indicates that a tty will be allocated for the attach call. This is passed through the container runtime so the tty is allocated on the worker node by the container runtime. Defaults to false."),
];
const PORTFORWARD_PARAMS: &[(&str, &str, &str)] = &[(
    "ports",
    "integer",
    "List of ports to forward Required when using WebSockets",
)];
const PROXY_PARAMS: &[(&str, &str, &str)] = &[(
    "path",
    "string",
    "Path is the URL path to use for the current proxy request to pod.",
)];

/// A query parameter in upstream's shape.
fn query(name: &str, ty: &str, description: &str) -> Value {
    json!({
        "description": description,
        "in": "query",
        "name": name,
        "schema": {"type": ty, "uniqueItems": true},
    })
}

fn path_param(name: &str, description: &str) -> Value {
    json!({
        "description": description,
        "in": "path",
        "name": name,
        "required": true,
        "schema": {"type": "string", "uniqueItems": true},
    })
}

/// `{"<type>": {"schema": …}, …}`.
fn content(schema: &Value, types: &[&str]) -> Value {
    let mut out = Map::new();
    for t in types {
        out.insert((*t).to_string(), json!({ "schema": schema }));
    }
    Value::Object(out)
}

fn response(schema: &Value, types: &[&str], description: &str) -> Value {
    json!({"content": content(schema, types), "description": description})
}

/// "apps" → "Apps", "rbac.authorization.k8s.io" → "RbacAuthorization", "" → "Core".
fn group_camel(group: &str) -> String {
    if group.is_empty() {
        return "Core".to_string();
    }
    group
        .trim_end_matches(".k8s.io")
        .split('.')
        .map(capitalize)
        .collect()
}

fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn lower_first(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The context shared by the operations of one group-version document.
struct Builder<'a> {
    group: &'a str,
    version: &'a str,
    components: &'a Components,
    paths: Map<String, Value>,
}

/// One operation to add.
struct Op<'a> {
    method: &'a str,
    action: &'a str,
    gvk: (&'a str, &'a str, &'a str),
    operation_id: String,
    description: String,
    parameters: Vec<Value>,
    request_body: Option<Value>,
    responses: Value,
}

impl Builder<'_> {
    fn prefix(&self) -> String {
        if self.group.is_empty() {
            format!("/api/{}", self.version)
        } else {
            format!("/apis/{}/{}", self.group, self.version)
        }
    }

    /// The operationId stem, e.g. "AppsV1".
    fn gv_camel(&self) -> String {
        format!("{}{}", group_camel(self.group), capitalize(self.version))
    }

    fn tag(&self) -> String {
        format!("{}_{}", lower_first(&group_camel(self.group)), self.version)
    }

    /// A `$ref` to the definition of `group/version, kind` if this document has it, else a
    /// free-form object.
    fn kind_schema(&self, group: &str, version: &str, kind: &str) -> Value {
        match self.components.name_of(group, version, kind) {
            Some(name) => schema_ref(name),
            None => json!({"type": "object"}),
        }
    }

    fn meta_schema(&self, name: &str) -> Value {
        if self.components.has(name) {
            schema_ref(name)
        } else {
            json!({"type": "object"})
        }
    }

    fn add(&mut self, path: &str, path_params: &[Value], op: Op<'_>) {
        let tag = self.tag();
        let entry = self
            .paths
            .entry(path.to_string())
            .or_insert_with(|| json!({ "parameters": path_params }));
        let Some(entry) = entry.as_object_mut() else {
            return;
        };
        let mut operation = Map::new();
        operation.insert("description".into(), Value::String(op.description));
        operation.insert("operationId".into(), Value::String(op.operation_id));
        if !op.parameters.is_empty() {
            operation.insert("parameters".into(), Value::Array(op.parameters));
        }
        if let Some(body) = op.request_body {
            operation.insert("requestBody".into(), body);
        }
        operation.insert("responses".into(), op.responses);
        operation.insert("tags".into(), json!([tag]));
        operation.insert(
            "x-kubernetes-action".into(),
            Value::String(op.action.to_string()),
        );
        let (group, version, kind) = op.gvk;
        operation.insert(
            "x-kubernetes-group-version-kind".into(),
            json!({"group": group, "kind": kind, "version": version}),
        );
        entry.insert(op.method.to_string(), Value::Object(operation));
    }

    /// GET, PUT and PATCH (as `verbs` allow) on an object path; `tail` is the operationId after
    /// the verb and group-version ("NamespacedDeploymentScale").
    fn object_ops(
        &mut self,
        path: &str,
        path_params: &[Value],
        verbs: &[&str],
        gvk: (&str, &str, &str),
        tail: &str,
        what: &str,
    ) {
        let schema = self.kind_schema(gvk.0, gvk.1, gvk.2);
        let gv = self.gv_camel();
        if verbs.contains(&"get") {
            let op = Op {
                method: "get",
                action: "get",
                gvk,
                operation_id: format!("read{gv}{tail}"),
                description: format!("read {what}"),
                parameters: vec![],
                request_body: None,
                responses: json!({
                    "200": response(&schema, RESPONSE_TYPES, "OK"),
                    "401": {"description": "Unauthorized"},
                }),
            };
            self.add(path, path_params, op);
        }
        if verbs.contains(&"update") {
            let op = Op {
                method: "put",
                action: "put",
                gvk,
                operation_id: format!("replace{gv}{tail}"),
                description: format!("replace {what}"),
                parameters: write_params(FIELD_MANAGER, false),
                request_body: Some(json!({"content": content(&schema, &[JSON]), "required": true})),
                responses: json!({
                    "200": response(&schema, RESPONSE_TYPES, "OK"),
                    "201": response(&schema, RESPONSE_TYPES, "Created"),
                    "401": {"description": "Unauthorized"},
                }),
            };
            self.add(path, path_params, op);
        }
        if verbs.contains(&"patch") {
            let patch = self.meta_schema(kinds::PATCH);
            let op = Op {
                method: "patch",
                action: "patch",
                gvk,
                operation_id: format!("patch{gv}{tail}"),
                description: format!("partially update {what}"),
                parameters: write_params(FIELD_MANAGER_PATCH, true),
                request_body: Some(
                    json!({"content": content(&patch, PATCH_TYPES), "required": true}),
                ),
                responses: json!({
                    "200": response(&schema, RESPONSE_TYPES, "OK"),
                    "201": response(&schema, RESPONSE_TYPES, "Created"),
                    "401": {"description": "Unauthorized"},
                }),
            };
            self.add(path, path_params, op);
        }
    }

    /// Every path of one resource.
    fn resource(&mut self, r: &ResourceInfo) {
        let prefix = self.prefix();
        let gv = self.gv_camel();
        let gvk = (r.group, r.version, r.kind);
        let kind = r.kind;
        let scope = if r.namespaced { "Namespaced" } else { "" };
        let (collection, item, watch_collection, watch_item) = if r.namespaced {
            (
                format!("{prefix}/namespaces/{{namespace}}/{}", r.plural),
                format!("{prefix}/namespaces/{{namespace}}/{}/{{name}}", r.plural),
                format!("{prefix}/watch/namespaces/{{namespace}}/{}", r.plural),
                format!(
                    "{prefix}/watch/namespaces/{{namespace}}/{}/{{name}}",
                    r.plural
                ),
            )
        } else {
            (
                format!("{prefix}/{}", r.plural),
                format!("{prefix}/{}/{{name}}", r.plural),
                format!("{prefix}/watch/{}", r.plural),
                format!("{prefix}/watch/{}/{{name}}", r.plural),
            )
        };
        let pretty = query("pretty", "string", PRETTY);
        let name_param = path_param("name", &format!("name of the {kind}"));
        let mut collection_params = Vec::new();
        if r.namespaced {
            collection_params.push(path_param("namespace", NAMESPACE));
        }
        collection_params.push(pretty.clone());
        let mut item_params = vec![name_param.clone()];
        item_params.extend(collection_params.iter().cloned());
        let list_params: Vec<Value> = LIST_PARAMS.iter().map(|(n, t, d)| query(n, t, d)).collect();
        let schema = self.kind_schema(r.group, r.version, kind);
        let list_schema = match self.components.list_name_of(r.group, r.version, kind) {
            Some(name) => schema_ref(name),
            None => json!({"type": "object"}),
        };
        let status = self.meta_schema(kinds::STATUS);
        let delete_options = self.meta_schema(kinds::DELETE_OPTIONS);
        let watch_event = self.meta_schema(kinds::WATCH_EVENT);

        if r.has_verb("list") {
            let op = Op {
                method: "get",
                action: "list",
                gvk,
                operation_id: format!("list{gv}{scope}{kind}"),
                description: format!("list or watch objects of kind {kind}"),
                parameters: list_params.clone(),
                request_body: None,
                responses: json!({
                    "200": response(&list_schema, WATCH_TYPES, "OK"),
                    "401": {"description": "Unauthorized"},
                }),
            };
            self.add(&collection, &collection_params, op);
            if r.namespaced {
                let all = format!("{prefix}/{}", r.plural);
                let mut params = list_params.clone();
                params.push(pretty.clone());
                let op = Op {
                    method: "get",
                    action: "list",
                    gvk,
                    operation_id: format!("list{gv}{kind}ForAllNamespaces"),
                    description: format!("list or watch objects of kind {kind}"),
                    parameters: vec![],
                    request_body: None,
                    responses: json!({
                        "200": response(&list_schema, WATCH_TYPES, "OK"),
                        "401": {"description": "Unauthorized"},
                    }),
                };
                self.add(&all, &params, op);
            }
        }
        if r.has_verb("create") {
            let op = Op {
                method: "post",
                action: "post",
                gvk,
                operation_id: format!("create{gv}{scope}{kind}"),
                description: format!("create {} {kind}", article(kind)),
                parameters: write_params(FIELD_MANAGER, false),
                request_body: Some(json!({"content": content(&schema, &[JSON]), "required": true})),
                responses: json!({
                    "200": response(&schema, RESPONSE_TYPES, "OK"),
                    "201": response(&schema, RESPONSE_TYPES, "Created"),
                    "202": response(&schema, RESPONSE_TYPES, "Accepted"),
                    "401": {"description": "Unauthorized"},
                }),
            };
            self.add(&collection, &collection_params, op);
        }
        if r.has_verb("deletecollection") {
            let mut parameters = delete_params();
            parameters.extend(list_params.iter().cloned());
            let op = Op {
                method: "delete",
                action: "deletecollection",
                gvk,
                operation_id: format!("delete{gv}Collection{scope}{kind}"),
                description: format!("delete collection of {kind}"),
                parameters,
                request_body: Some(json!({"content": content(&delete_options, &[JSON])})),
                responses: json!({
                    "200": response(&status, RESPONSE_TYPES, "OK"),
                    "401": {"description": "Unauthorized"},
                }),
            };
            self.add(&collection, &collection_params, op);
        }
        let tail = format!("{scope}{kind}");
        self.object_ops(
            &item,
            &item_params,
            r.verbs,
            gvk,
            &tail,
            &format!("the specified {kind}"),
        );
        if r.has_verb("delete") {
            let op = Op {
                method: "delete",
                action: "delete",
                gvk,
                operation_id: format!("delete{gv}{scope}{kind}"),
                description: format!("delete {} {kind}", article(kind)),
                parameters: delete_params(),
                request_body: Some(json!({"content": content(&delete_options, &[JSON])})),
                responses: json!({
                    "200": response(&schema, RESPONSE_TYPES, "OK"),
                    "202": response(&schema, RESPONSE_TYPES, "Accepted"),
                    "401": {"description": "Unauthorized"},
                }),
            };
            self.add(&item, &item_params, op);
        }
        if r.has_verb("watch") {
            let mut params = list_params.clone();
            params.extend(collection_params.iter().cloned());
            let op = Op {
                method: "get",
                action: "watchlist",
                gvk,
                operation_id: format!("watch{gv}{scope}{kind}List"),
                description: format!("watch individual changes to a list of {kind}. deprecated: use the 'watch' parameter with a list operation instead."),
                parameters: vec![],
                request_body: None,
                responses: json!({"200": response(&watch_event, WATCH_TYPES, "OK"), "401": {"description": "Unauthorized"}}),
            };
            self.add(&watch_collection, &params, op);
            let mut params = list_params.clone();
            params.extend(item_params.iter().cloned());
            let op = Op {
                method: "get",
                action: "watch",
                gvk,
                operation_id: format!("watch{gv}{scope}{kind}"),
                description: format!("watch changes to an object of kind {kind}. deprecated: use the 'watch' parameter with a list operation instead, filtered to a single item with the 'fieldSelector' parameter."),
                parameters: vec![],
                request_body: None,
                responses: json!({"200": response(&watch_event, WATCH_TYPES, "OK"), "401": {"description": "Unauthorized"}}),
            };
            self.add(&watch_item, &params, op);
            if r.namespaced {
                let all = format!("{prefix}/watch/{}", r.plural);
                let mut params = list_params.clone();
                params.push(pretty.clone());
                let op = Op {
                    method: "get",
                    action: "watchlist",
                    gvk,
                    operation_id: format!("watch{gv}{kind}ListForAllNamespaces"),
                    description: format!("watch individual changes to a list of {kind}. deprecated: use the 'watch' parameter with a list operation instead."),
                    parameters: vec![],
                    request_body: None,
                    responses: json!({"200": response(&watch_event, WATCH_TYPES, "OK"), "401": {"description": "Unauthorized"}}),
                };
                self.add(&all, &params, op);
            }
        }
        for s in r.subresources {
            self.subresource(r, s, &item, &item_params);
        }
    }

    /// The operations of `…/{name}/<subresource>`.
    fn subresource(
        &mut self,
        r: &ResourceInfo,
        s: &Subresource,
        item: &str,
        item_params: &[Value],
    ) {
        let path = format!("{item}/{}", s.name);
        let gv = self.gv_camel();
        let scope = if r.namespaced { "Namespaced" } else { "" };
        let sub = capitalize(s.name);
        let kind = r.kind;
        let gvk = (s.group, s.version, s.kind);
        let mut params = item_params.to_vec();
        if s.kind.ends_with("Options") {
            // exec, attach, portforward, proxy: "connect" operations answering a stream.
            let extra: &[(&str, &str, &str)] = match s.name {
                "exec" => EXEC_PARAMS,
                "attach" => ATTACH_PARAMS,
                "portforward" => PORTFORWARD_PARAMS,
                "proxy" => PROXY_PARAMS,
                _ => &[],
            };
            params.retain(|p| p.get("name") != Some(&json!("pretty")));
            params.extend(extra.iter().map(|(n, t, d)| query(n, t, d)));
            let text = json!({"type": "string"});
            for (verb, method) in [
                ("get", "get"),
                ("create", "post"),
                ("update", "put"),
                ("delete", "delete"),
                ("patch", "patch"),
            ] {
                if !s.verbs.contains(&verb) {
                    continue;
                }
                let op = Op {
                    method,
                    action: "connect",
                    gvk,
                    operation_id: format!("connect{gv}{}{scope}{kind}{sub}", capitalize(method)),
                    description: format!(
                        "connect {} requests to {} of {kind}",
                        method.to_uppercase(),
                        s.name
                    ),
                    parameters: vec![],
                    request_body: None,
                    responses: json!({"200": response(&text, &["*/*"], "OK"), "401": {"description": "Unauthorized"}}),
                };
                self.add(&path, &params, op);
            }
            return;
        }
        if s.name == "log" {
            params.extend(LOG_PARAMS.iter().map(|(n, t, d)| query(n, t, d)));
            let text = json!({"type": "string"});
            let op = Op {
                method: "get",
                action: "get",
                gvk,
                operation_id: format!("read{gv}{scope}{kind}Log"),
                description: format!("read log of the specified {kind}"),
                parameters: vec![],
                request_body: None,
                responses: json!({"200": response(&text, &["text/plain", JSON, YAML, PROTOBUF], "OK"), "401": {"description": "Unauthorized"}}),
            };
            self.add(&path, &params, op);
            return;
        }
        if s.verbs == ["create"] {
            // eviction, binding, token: POST of the subresource kind.
            let schema = self.kind_schema(s.group, s.version, s.kind);
            let op = Op {
                method: "post",
                action: "post",
                gvk,
                operation_id: format!("create{gv}{scope}{kind}{sub}"),
                description: format!("create {} of {} {kind}", s.name, article(kind)),
                parameters: write_params(FIELD_MANAGER, false),
                request_body: Some(json!({"content": content(&schema, &[JSON]), "required": true})),
                responses: json!({
                    "200": response(&schema, RESPONSE_TYPES, "OK"),
                    "201": response(&schema, RESPONSE_TYPES, "Created"),
                    "202": response(&schema, RESPONSE_TYPES, "Accepted"),
                    "401": {"description": "Unauthorized"},
                }),
            };
            self.add(&path, &params, op);
            return;
        }
        let tail = format!("{scope}{kind}{sub}");
        let what = format!("{} of the specified {kind}", s.name);
        self.object_ops(&path, &params, s.verbs, gvk, &tail, &what);
    }

    /// `GET /apis/<group>/<version>/`: the APIResourceList.
    fn root(&mut self) {
        let path = format!("{}/", self.prefix());
        let schema = self.meta_schema(kinds::API_RESOURCE_LIST);
        let gv = self.gv_camel();
        let tag = self.tag();
        self.paths.insert(
            path,
            json!({"get": {
                "description": "get available resources",
                "operationId": format!("get{gv}APIResources"),
                "responses": {
                    "200": response(&schema, &[JSON, PROTOBUF, YAML], "OK"),
                    "401": {"description": "Unauthorized"},
                },
                "tags": [tag],
            }}),
        );
    }
}

fn article(kind: &str) -> &'static str {
    match kind.chars().next() {
        Some('A' | 'E' | 'I' | 'O' | 'U') => "an",
        _ => "a",
    }
}

/// dryRun, (force,) fieldManager, fieldValidation: the query parameters of POST/PUT/PATCH.
fn write_params(field_manager: &str, patch: bool) -> Vec<Value> {
    let mut out = vec![query("dryRun", "string", DRY_RUN)];
    if patch {
        out.push(query("force", "boolean", FORCE));
    }
    out.push(query("fieldManager", "string", field_manager));
    out.push(query("fieldValidation", "string", FIELD_VALIDATION));
    out
}

fn delete_params() -> Vec<Value> {
    vec![
        query("dryRun", "string", DRY_RUN),
        query("gracePeriodSeconds", "integer", GRACE_PERIOD),
        query(
            "ignoreStoreReadErrorWithClusterBreakingPotential",
            "boolean",
            IGNORE_STORE_READ_ERROR,
        ),
        query("orphanDependents", "boolean", ORPHAN),
        query("propagationPolicy", "string", PROPAGATION),
    ]
}

/// The `paths` object of the document for `group/version`.
pub(super) fn build(
    group: &str,
    version: &str,
    resources: &[&ResourceInfo],
    components: &Components,
) -> Value {
    let mut builder = Builder {
        group,
        version,
        components,
        paths: Map::new(),
    };
    builder.root();
    for r in resources {
        builder.resource(r);
    }
    Value::Object(builder.paths)
}
