//! `gen-protobuf`: generate the protobuf descriptor table of `rkube-api`.
//!
//! Input: a directory holding checkouts (or `git archive` extracts) of the Kubernetes API
//! repositories, for example
//!
//! ```text
//! <dir>/api                        github.com/kubernetes/api                      (v0.33.x)
//! <dir>/apimachinery               github.com/kubernetes/apimachinery             (v0.33.x)
//! <dir>/apiextensions-apiserver    github.com/kubernetes/apiextensions-apiserver  (v0.33.x)
//! <dir>/kube-aggregator            github.com/kubernetes/kube-aggregator          (v0.33.x)
//! ```
//!
//! Every `generated.proto` under `<dir>` is read (except test API groups). Upstream names proto
//! fields after their JSON names, but the proto alone does not say everything the JSON form
//! needs, so the Go types next to each proto file (`types.go` and friends) are read too, with a
//! line parser over `type X struct { ... }` blocks and their struct tags:
//!
//! - the JSON name (`json:"$ref"` where the proto says `ref`, `x-kubernetes-*` names);
//! - `json:",inline"` embedded structs that carry a protobuf tag (Volume's `VolumeSource`,
//!   `LocalObjectReference` in key selectors, Probe's `ProbeHandler`): their fields are merged
//!   into the parent JSON object;
//! - `omitempty` on a non-pointer scalar: Go's JSON drops the zero value, while gogo-protobuf
//!   always writes such fields, so the decoder must drop it too. Pointer fields (`replicas
//!   *int32`) are written only when set, and are kept even when zero;
//! - Go field order, which is the JSON key order;
//! - which structs embed `TypeMeta` (the kinds), and the API group (`+groupName=` or
//!   `GroupName = "..."`).
//!
//! Output: `crates/rkube-api/src/protobuf/descriptors.rs`, plain static data for
//! `rkube-api/src/protobuf/schema.rs`. No upstream text (comments) is copied.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

/// The default output path, relative to the workspace root (xtask's parent directory).
pub fn default_out() -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap_or(Path::new("."));
    root.join("crates/rkube-api/src/protobuf/descriptors.rs")
        .display()
        .to_string()
}

pub fn run(dir: &Path, out: &Path) -> Result<(), String> {
    let mut protos = Vec::new();
    find_protos(dir, &mut protos)?;
    protos.sort();
    if protos.is_empty() {
        return Err(format!("no generated.proto files under {}", dir.display()));
    }
    let mut messages: Vec<Message> = Vec::new();
    let mut packages: BTreeMap<String, Package> = BTreeMap::new();
    for path in &protos {
        let text = fs::read_to_string(path).map_err(|e| format!("read {}: {e}", path.display()))?;
        let (package, msgs) = parse_proto(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        let pkg_dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
        let go = parse_go_dir(&pkg_dir)?;
        if packages.contains_key(&package) {
            return Err(format!(
                "package {package} defined twice (second in {})",
                path.display()
            ));
        }
        for m in msgs {
            messages.push(Message {
                package: package.clone(),
                ..m
            });
        }
        packages.insert(package, go);
    }
    messages.sort_by_key(Message::full_name);
    let table = build(&messages, &packages)?;
    let text = emit(&table, dir, &protos);
    if let Some(parent) = out.parent() {
        fs::create_dir_all(parent).map_err(|e| format!("create {}: {e}", parent.display()))?;
    }
    fs::write(out, text).map_err(|e| format!("write {}: {e}", out.display()))?;
    eprintln!(
        "wrote {} ({} messages, {} fields, {} kinds)",
        out.display(),
        table.messages.len(),
        table.messages.iter().map(|m| m.fields.len()).sum::<usize>(),
        table.kinds.len()
    );
    Ok(())
}

fn find_protos(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), String> {
    let entries = fs::read_dir(dir).map_err(|e| format!("read dir {}: {e}", dir.display()))?;
    for entry in entries {
        let entry = entry.map_err(|e| format!("read dir {}: {e}", dir.display()))?;
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        let file_type = entry
            .file_type()
            .map_err(|e| format!("stat {}: {e}", path.display()))?;
        if file_type.is_dir() {
            // Test API groups, vendored copies and VCS metadata are not part of the API.
            if matches!(
                name.as_str(),
                ".git" | "vendor" | "testdata" | "testapigroup" | "third_party"
            ) {
                continue;
            }
            find_protos(&path, out)?;
        } else if name == "generated.proto" {
            out.push(path);
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// proto parsing

#[derive(Debug, Clone)]
struct Message {
    package: String,
    name: String,
    fields: Vec<ProtoField>,
}

impl Message {
    fn full_name(&self) -> String {
        format!("{}.{}", self.package, self.name)
    }
}

#[derive(Debug, Clone)]
struct ProtoField {
    repeated: bool,
    /// `map<string, V>`; `ty` is then `V`.
    map: bool,
    ty: String,
    name: String,
    tag: u32,
}

fn parse_proto(text: &str) -> Result<(String, Vec<Message>), String> {
    let mut package = None;
    let mut stack: Vec<Message> = Vec::new();
    let mut done = Vec::new();
    let mut in_block_comment = false;
    for (lineno, raw) in text.lines().enumerate() {
        let err = |m: String| format!("line {}: {m}", lineno + 1);
        let mut line = raw.trim();
        if in_block_comment {
            match line.find("*/") {
                Some(i) => {
                    in_block_comment = false;
                    line = line[i + 2..].trim();
                }
                None => continue,
            }
        }
        if let Some(i) = line.find("//") {
            line = line[..i].trim();
        }
        // Upstream only has block comments on lines of their own (the license header).
        if let Some(rest) = line.strip_prefix("/*") {
            match rest.find("*/") {
                Some(i) => line = rest[i + 2..].trim(),
                None => {
                    in_block_comment = true;
                    continue;
                }
            }
        }
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("package ") {
            package = Some(rest.trim_end_matches(';').trim().to_string());
        } else if line.starts_with("syntax ")
            || line.starts_with("import ")
            || line.starts_with("option ")
        {
            if line.starts_with("syntax ") && !line.contains("\"proto2\"") {
                return Err(err(format!("unsupported syntax: {line}")));
            }
        } else if let Some(rest) = line.strip_prefix("message ") {
            let name = rest.trim_end_matches('{').trim();
            if !rest.ends_with('{') || name.is_empty() || name.contains(char::is_whitespace) {
                return Err(err(format!("unsupported message line: {line}")));
            }
            let name = match stack.last() {
                Some(parent) => format!("{}.{}", parent.name, name),
                None => name.to_string(),
            };
            stack.push(Message {
                package: String::new(),
                name,
                fields: Vec::new(),
            });
        } else if line == "}" {
            let m = stack.pop().ok_or_else(|| err("unbalanced '}'".into()))?;
            done.push(m);
        } else {
            let current = stack
                .last_mut()
                .ok_or_else(|| err(format!("field outside message: {line}")))?;
            current.fields.push(parse_field(line).map_err(err)?);
        }
    }
    if !stack.is_empty() || in_block_comment {
        return Err("unterminated message or comment".into());
    }
    let package = package.ok_or("no package statement")?;
    Ok((package, done))
}

fn parse_field(line: &str) -> Result<ProtoField, String> {
    let body = line
        .strip_suffix(';')
        .ok_or_else(|| format!("unsupported line (no ';'): {line}"))?;
    if body.contains('[') {
        return Err(format!("field options are not supported: {line}"));
    }
    let (decl, tag) = body
        .rsplit_once('=')
        .ok_or_else(|| format!("no tag: {line}"))?;
    let tag: u32 = tag.trim().parse().map_err(|_| format!("bad tag: {line}"))?;
    let decl = decl.trim();
    if let Some(rest) = decl.strip_prefix("map<") {
        let (types, name) = rest
            .split_once('>')
            .ok_or_else(|| format!("bad map: {line}"))?;
        let (key, value) = types
            .split_once(',')
            .ok_or_else(|| format!("bad map: {line}"))?;
        if key.trim() != "string" {
            return Err(format!("only string map keys are supported: {line}"));
        }
        return Ok(ProtoField {
            repeated: false,
            map: true,
            ty: value.trim().to_string(),
            name: name.trim().to_string(),
            tag,
        });
    }
    let parts: Vec<&str> = decl.split_whitespace().collect();
    let [label, ty, name] = parts[..] else {
        return Err(format!("unsupported field: {line}"));
    };
    let repeated = match label {
        "optional" | "required" => false,
        "repeated" => true,
        _ => return Err(format!("unsupported label: {line}")),
    };
    Ok(ProtoField {
        repeated,
        map: false,
        ty: ty.to_string(),
        name: name.to_string(),
        tag,
    })
}

// ---------------------------------------------------------------------------------------------
// Go parsing

#[derive(Debug, Default)]
struct Package {
    /// API group (`""` for core), when the package is an API group-version.
    group: Option<String>,
    structs: HashMap<String, GoStruct>,
    /// `type X []T` declarations (wrapper messages whose JSON form is a bare array).
    slice_types: HashSet<String>,
    /// Types with a hand-written `MarshalJSON`.
    custom_json: HashSet<String>,
    /// `type X pkg.Y` declarations: X -> "pkg.Y".
    aliases: HashMap<String, String>,
}

#[derive(Debug, Default)]
struct GoStruct {
    fields: Vec<GoField>,
    has_type_meta: bool,
}

#[derive(Debug)]
struct GoField {
    go_type: String,
    json_name: Option<String>,
    omitempty: bool,
    inline: bool,
    tag: Option<u32>,
}

fn parse_go_dir(dir: &Path) -> Result<Package, String> {
    let mut pkg = Package::default();
    let mut files: Vec<PathBuf> = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| format!("read dir {}: {e}", dir.display()))? {
        let path = entry
            .map_err(|e| format!("read dir {}: {e}", dir.display()))?
            .path();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name.ends_with(".go")
            && !name.ends_with("_test.go")
            && !name.ends_with(".pb.go")
            && !name.starts_with("zz_generated")
            && !name.contains("swagger_doc_generated")
        {
            files.push(path);
        }
    }
    files.sort();
    let mut group_marker = None;
    let mut group_const = None;
    for path in files {
        let text =
            fs::read_to_string(&path).map_err(|e| format!("read {}: {e}", path.display()))?;
        parse_go_file(&text, &mut pkg);
        for line in text.lines() {
            let line = line.trim();
            if let Some(rest) = line.strip_prefix("// +groupName=") {
                group_marker.get_or_insert_with(|| rest.trim().to_string());
            }
            if let Some(rest) = line.strip_prefix("const GroupName = ") {
                group_const.get_or_insert_with(|| rest.trim().trim_matches('"').to_string());
            }
        }
    }
    pkg.group = group_marker.or(group_const);
    Ok(pkg)
}

fn parse_go_file(text: &str, pkg: &mut Package) {
    let mut current: Option<(String, GoStruct)> = None;
    let mut depth = 0usize;
    for raw in text.lines() {
        let line = raw.trim();
        if let Some((name, st)) = current.as_mut() {
            if raw.starts_with('}') && depth == 1 {
                let name = std::mem::take(name);
                let st = std::mem::take(st);
                pkg.structs.insert(name, st);
                current = None;
                depth = 0;
                continue;
            }
            let code = line.split("//").next().unwrap_or("");
            let code_outside_tag = code.split('`').next().unwrap_or("");
            let opens = code_outside_tag.matches('{').count();
            let closes = code_outside_tag.matches('}').count();
            if depth == 1 && !line.starts_with("//") && !line.is_empty() {
                if let Some(f) = parse_go_field(line) {
                    if f.json_name.is_none()
                        && f.inline
                        && f.tag.is_none()
                        && f.go_type.ends_with("TypeMeta")
                    {
                        st.has_type_meta = true;
                    }
                    st.fields.push(f);
                }
            }
            depth = (depth + opens).saturating_sub(closes);
            continue;
        }
        if let Some(rest) = raw.strip_prefix("type ") {
            let mut words = rest.split_whitespace();
            let (Some(name), Some(kind)) = (words.next(), words.next()) else {
                continue;
            };
            if kind == "struct" && rest.trim_end().ends_with('{') {
                current = Some((name.to_string(), GoStruct::default()));
                depth = 1;
            } else if kind.starts_with("[]") {
                pkg.slice_types.insert(name.to_string());
            } else if kind.contains('.') && words.next().is_none() {
                pkg.aliases.insert(name.to_string(), kind.to_string());
            }
        } else if let Some(rest) = raw.strip_prefix("func (") {
            if let Some((recv, after)) = rest.split_once(')') {
                if after.trim_start().starts_with("MarshalJSON(") {
                    let ty = recv
                        .split_whitespace()
                        .last()
                        .unwrap_or("")
                        .trim_start_matches('*');
                    pkg.custom_json.insert(ty.to_string());
                }
            }
        }
    }
}

fn parse_go_field(line: &str) -> Option<GoField> {
    let (decl, rest) = line.split_once('`')?;
    let tag_text = rest.split('`').next()?;
    let words: Vec<&str> = decl.split_whitespace().collect();
    let go_type = match words.len() {
        1 => words[0].to_string(),
        n if n >= 2 => words[1..].join(" "),
        _ => return None,
    };
    let json = struct_tag(tag_text, "json");
    let protobuf = struct_tag(tag_text, "protobuf");
    let (json_name, omitempty, inline) = match json {
        Some(j) => {
            let mut parts = j.split(',');
            let name = parts.next().unwrap_or("").to_string();
            let opts: Vec<&str> = parts.collect();
            let inline = opts.contains(&"inline");
            let omitempty = opts.contains(&"omitempty") || opts.contains(&"omitzero");
            ((!name.is_empty()).then_some(name), omitempty, inline)
        }
        None => (None, false, false),
    };
    let tag = protobuf.and_then(|p| p.split(',').nth(1).and_then(|n| n.parse().ok()));
    Some(GoField {
        go_type,
        json_name,
        omitempty,
        inline,
        tag,
    })
}

/// The value of `key:"value"` in a Go struct tag.
fn struct_tag<'a>(tag: &'a str, key: &str) -> Option<&'a str> {
    let mut rest = tag;
    loop {
        rest = rest.trim_start();
        let (k, after) = rest.split_once(':')?;
        let after = after.strip_prefix('"')?;
        let end = after.find('"')?;
        if k == key {
            return Some(&after[..end]);
        }
        rest = &after[end + 1..];
    }
}

// ---------------------------------------------------------------------------------------------
// table building

struct Table {
    messages: Vec<OutMessage>,
    kinds: Vec<(String, String, String, usize)>,
}

struct OutMessage {
    name: String,
    special: &'static str,
    fields: Vec<OutField>,
}

struct OutField {
    tag: u32,
    json: String,
    ty: String,
    flags: Vec<&'static str>,
}

const SCALARS: &[(&str, &str)] = &[
    ("string", "Str"),
    ("bytes", "Bytes"),
    ("bool", "Bool"),
    ("int32", "I32"),
    ("int64", "I64"),
    ("uint32", "U32"),
    ("uint64", "U64"),
    ("double", "F64"),
    ("float", "F32"),
];

const META: &str = "k8s.io.apimachinery.pkg.apis.meta.v1";

fn special_of(full: &str, name: &str, pkg: &Package, msg: &Message) -> &'static str {
    let special = match full {
        "k8s.io.apimachinery.pkg.apis.meta.v1.Time" => "Time",
        "k8s.io.apimachinery.pkg.apis.meta.v1.MicroTime" => "MicroTime",
        "k8s.io.apimachinery.pkg.apis.meta.v1.Duration" => "Duration",
        "k8s.io.apimachinery.pkg.apis.meta.v1.FieldsV1" => "RawJson",
        "k8s.io.apimachinery.pkg.runtime.RawExtension" => "RawExtension",
        "k8s.io.apimachinery.pkg.util.intstr.IntOrString" => "IntOrString",
        "k8s.io.apimachinery.pkg.api.resource.Quantity"
        | "k8s.io.apimachinery.pkg.api.resource.QuantityValue" => "Quantity",
        _ => "Plain",
    };
    if special != "Plain" {
        return special;
    }
    if msg.package.starts_with("k8s.io.apiextensions_apiserver.") {
        match name {
            "JSON" => return "RawJson",
            "JSONSchemaPropsOrArray" => return "SchemaOrArray",
            "JSONSchemaPropsOrBool" => return "SchemaOrBool",
            "JSONSchemaPropsOrStringArray" => return "SchemaOrStringArray",
            _ => {}
        }
    }
    let single_items = msg.fields.len() == 1
        && msg.fields[0].name == "items"
        && msg.fields[0].tag == 1
        && msg.fields[0].repeated;
    if pkg.slice_types.contains(name) && single_items {
        return "Array";
    }
    "Plain"
}

fn build(messages: &[Message], packages: &BTreeMap<String, Package>) -> Result<Table, String> {
    let index: HashMap<String, usize> = messages
        .iter()
        .enumerate()
        .map(|(i, m)| (m.full_name(), i))
        .collect();
    if messages.len() > usize::from(u16::MAX) {
        return Err("too many messages for u16 indices".into());
    }
    let referenced: HashSet<String> = messages
        .iter()
        .flat_map(|m| m.fields.iter().map(move |f| (m, f)))
        .map(|(m, f)| match f.ty.strip_prefix('.') {
            Some(abs) => abs.to_string(),
            None => format!("{}.{}", m.package, f.ty),
        })
        .collect();
    let mut out = Vec::new();
    let mut kinds = Vec::new();
    let mut warnings = Vec::new();
    for msg in messages {
        let full = msg.full_name();
        let pkg = &packages[&msg.package];
        let special = special_of(&full, &msg.name, pkg, msg);
        if special == "Plain" && pkg.custom_json.contains(&msg.name) && referenced.contains(&full) {
            warnings.push(format!(
                "{full}: Go type has a custom MarshalJSON but no special case"
            ));
        }
        // `type List metav1.List` (core/v1) and the like: the struct lives in meta/v1.
        let go = pkg.structs.get(&msg.name).or_else(|| {
            let target = pkg.aliases.get(&msg.name)?.strip_prefix("metav1.")?;
            packages.get(META)?.structs.get(target)
        });
        let mut tags = HashSet::new();
        for f in &msg.fields {
            if !tags.insert(f.tag) {
                return Err(format!("{full}: duplicate tag {}", f.tag));
            }
        }
        // Go struct order first (the JSON key order), then anything only the proto has.
        let mut ordered: Vec<(&ProtoField, Option<&GoField>)> = Vec::new();
        if let Some(go) = go {
            for gf in &go.fields {
                if let Some(pf) = gf.tag.and_then(|t| msg.fields.iter().find(|f| f.tag == t)) {
                    if !ordered.iter().any(|(f, _)| f.tag == pf.tag) {
                        ordered.push((pf, Some(gf)));
                    }
                }
            }
        } else if special == "Plain" && !msg.fields.is_empty() {
            warnings.push(format!("{full}: no Go struct found; using proto names"));
        }
        let mut rest: Vec<&ProtoField> = msg
            .fields
            .iter()
            .filter(|f| !ordered.iter().any(|(o, _)| o.tag == f.tag))
            .collect();
        rest.sort_by_key(|f| f.tag);
        if go.is_some() && special == "Plain" {
            for f in &rest {
                warnings.push(format!("{full}.{}: no Go field with tag {}", f.name, f.tag));
            }
        }
        ordered.extend(rest.into_iter().map(|f| (f, None)));

        let mut fields = Vec::new();
        let mut json_names = HashSet::new();
        for (pf, gf) in ordered {
            let ty = match SCALARS.iter().find(|(s, _)| *s == pf.ty) {
                Some((_, t)) => t.to_string(),
                None => {
                    let target = match pf.ty.strip_prefix('.') {
                        Some(abs) => abs.to_string(),
                        None => format!("{}.{}", msg.package, pf.ty),
                    };
                    let i = index
                        .get(&target)
                        .ok_or_else(|| format!("{full}.{}: unknown type {}", pf.name, pf.ty))?;
                    format!("M({i})")
                }
            };
            let scalar = !ty.starts_with('M');
            let mut flags = Vec::new();
            if pf.repeated {
                flags.push("R");
            }
            if pf.map {
                flags.push("MAP");
            }
            let mut json = pf.name.clone();
            if let Some(gf) = gf {
                if gf.inline && gf.json_name.is_none() {
                    if scalar || pf.repeated || pf.map {
                        return Err(format!("{full}.{}: inline field is not a message", pf.name));
                    }
                    flags.push("IN");
                } else if let Some(name) = &gf.json_name {
                    if name != "-" {
                        json = name.clone();
                    }
                } else if special == "Plain" && referenced.contains(&full) {
                    warnings.push(format!("{full}.{}: Go field has no JSON name", pf.name));
                }
                let pointer = gf.go_type.starts_with('*');
                if gf.omitempty && scalar && !pf.repeated && !pf.map && !pointer {
                    flags.push("OE");
                }
            }
            if !flags.contains(&"IN") && !json_names.insert(json.clone()) {
                return Err(format!("{full}: duplicate JSON name {json}"));
            }
            fields.push(OutField {
                tag: pf.tag,
                json,
                ty,
                flags,
            });
        }
        let i = out.len();
        out.push(OutMessage {
            name: full.clone(),
            special,
            fields,
        });

        if let Some(group) = &pkg.group {
            let version = msg.package.rsplit('.').next().unwrap_or("").to_string();
            let is_kind = go.is_some_and(|g| g.has_type_meta)
                || (msg.package == META && msg.name == "WatchEvent");
            if is_kind && !msg.name.contains('.') {
                kinds.push((group.clone(), version, msg.name.clone(), i));
            }
        }
    }
    kinds.sort();
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    Ok(Table {
        messages: out,
        kinds,
    })
}

// ---------------------------------------------------------------------------------------------
// output

fn emit(table: &Table, dir: &Path, protos: &[PathBuf]) -> String {
    let mut s = String::new();
    s.push_str(
        "// @generated by `cargo run -p xtask -- gen-protobuf <dir>` (see `scripts/gen-protobuf.sh`,\n\
         // which fetches the pinned Kubernetes API repositories). Do not edit by hand.\n\
         //\n\
         // Derived from the `generated.proto` files and Go struct tags of:\n",
    );
    let mut sources: Vec<String> = protos
        .iter()
        .filter_map(|p| p.strip_prefix(dir).ok())
        .filter_map(|p| p.components().next())
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    sources.dedup();
    for src in sources {
        let version = fs::read_to_string(dir.join(&src).join(".version")).unwrap_or_default();
        let version = version.trim();
        if version.is_empty() {
            let _ = writeln!(s, "//   {src}");
        } else {
            let _ = writeln!(s, "//   {src} {version}");
        }
    }
    s.push_str(
        "//\n\
         // MESSAGES is sorted by full name; `M(i)` refers to MESSAGES[i]. KINDS is sorted by\n\
         // (group, version, kind).\n\n\
         use super::schema::Special::*;\n\
         use super::schema::Ty::*;\n\
         use super::schema::{f, k, m, KindDesc, MessageDesc, IN, MAP, OE, R};\n\n",
    );
    let _ = writeln!(
        s,
        "pub(super) static MESSAGES: [MessageDesc; {}] = [",
        table.messages.len()
    );
    for (i, msg) in table.messages.iter().enumerate() {
        let _ = writeln!(s, "    // {i}");
        let _ = write!(s, "    m({:?}, {}, &[", msg.name, msg.special);
        for (j, f) in msg.fields.iter().enumerate() {
            if j > 0 {
                s.push_str(", ");
            }
            let flags = if f.flags.is_empty() {
                "0".to_string()
            } else {
                f.flags.join("|")
            };
            let _ = write!(s, "f({}, {:?}, {}, {})", f.tag, f.json, f.ty, flags);
        }
        s.push_str("]),\n");
    }
    s.push_str("];\n\n");
    let _ = writeln!(
        s,
        "pub(super) static KINDS: [KindDesc; {}] = [",
        table.kinds.len()
    );
    for (group, version, kind, i) in &table.kinds {
        let _ = writeln!(s, "    k({group:?}, {version:?}, {kind:?}, {i}),");
    }
    s.push_str("];\n");
    s
}
