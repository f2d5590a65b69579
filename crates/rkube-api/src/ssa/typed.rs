//! Schema-driven walks over JSON values, as structured-merge-diff's `typed` package does them:
//! validation, the field set of a value, merging an applied configuration into an object,
//! comparing two objects, and removing items.
//!
//! A value is walked with its type: a map (struct fields and map keys), a list (atomic, set, or
//! map keyed by key fields), or a leaf (scalars, atomic maps and lists, and maps or lists empty
//! on both sides of a merge or comparison). A value whose JSON kind does not fit its type is a
//! leaf.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use super::fieldpath::{path_string, value_equals, Path, PathElement, Set};
use super::schema::{
    types, Atom, ListRel, ListType, MapType, Ty, Types, DEDUCED, DEDUCED_LIST, DEDUCED_MAP,
};

/// The shape a value is walked with.
enum Shape<'a> {
    Map(&'a MapType, bool),
    List(&'a ListType),
    Leaf,
}

/// Which JSON kind a value is, for shape deduction (`None` for null and scalars).
fn json_kind(v: Option<&Value>) -> Option<u8> {
    match v {
        Some(Value::Object(_)) => Some(1),
        Some(Value::Array(_)) => Some(2),
        Some(Value::Null) | None => None,
        Some(_) => Some(3),
    }
}

/// The shape of a type for the values on both sides (either may be absent).
fn shape<'a>(types: &'a Types, ty: &'a Ty, lhs: Option<&Value>, rhs: Option<&Value>) -> Shape<'a> {
    let (lk, rk) = (json_kind(lhs), json_kind(rhs));
    if let (Some(l), Some(r)) = (lk, rk) {
        if l != r {
            return Shape::Leaf;
        }
    }
    let kind = rk.or(lk);
    let (atom, atomic_override) = types.resolve(ty);
    match atom {
        Atom::Map(map) if kind.is_none() || kind == Some(1) => {
            Shape::Map(map, atomic_override.unwrap_or(map.atomic))
        }
        Atom::List(list) if kind.is_none() || kind == Some(2) => Shape::List(list),
        Atom::Deduced => match kind {
            Some(1) => Shape::Map(&DEDUCED_MAP, false),
            Some(2) => Shape::List(&DEDUCED_LIST),
            _ => Shape::Leaf,
        },
        _ => Shape::Leaf,
    }
}

/// The type of a map key, and whether it is a declared field (or an allowed map key).
fn map_child<'a>(map: &'a MapType, key: &str) -> (&'a Ty, bool) {
    if let Some(ty) = map.fields.get(key) {
        return (ty, true);
    }
    match &map.elem {
        Some(ty) => (ty, true),
        None => (&DEDUCED, false),
    }
}

fn is_declared_field(map: &MapType, key: &str) -> bool {
    map.fields.contains_key(key)
}

fn as_object(v: Option<&Value>) -> Option<&Map<String, Value>> {
    v.and_then(Value::as_object)
}

fn as_array(v: Option<&Value>) -> Option<&Vec<Value>> {
    v.and_then(Value::as_array)
}

/// The path element of a list item, or upstream's error text.
fn item_element(types: &Types, list: &ListType, item: &Value) -> Result<PathElement, String> {
    match &list.rel {
        ListRel::Map(keys) => {
            let Some(fields) = item.as_object() else {
                return Err(if item.is_null() {
                    "associative list with keys may not have a null element".to_string()
                } else {
                    "associative list with keys may not have non-map elements".to_string()
                });
            };
            let defaults = match types.resolve(&list.elem).0 {
                Atom::Map(map) => Some(&map.defaults),
                _ => None,
            };
            let mut key = Vec::new();
            for name in keys {
                if let Some(v) = fields.get(name) {
                    key.push((name.clone(), v.clone()));
                } else if let Some(default) = defaults.and_then(|d| d.get(name)) {
                    key.push((name.clone(), default.clone()));
                }
            }
            if !keys.is_empty() && key.is_empty() {
                let quoted: Vec<String> =
                    keys.iter().map(|k| super::fieldpath::go_quote(k)).collect();
                return Err(format!(
                    "associative list with keys has an element that omits all key fields [{}] (and doesn't have default values for any key fields)",
                    quoted.join(" ")
                ));
            }
            key.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            Ok(PathElement::Key(key))
        }
        ListRel::Set => match item {
            Value::Object(_) => {
                Err("associative list without keys has an element that's a map type".to_string())
            }
            Value::Array(_) => {
                Err("not supported: associative list with lists as elements".to_string())
            }
            Value::Null => Err(
                "associative list without keys has an element that's an explicit null".to_string(),
            ),
            v => Ok(PathElement::Value(v.clone())),
        },
        ListRel::Atomic => Err("invalid indexing of non-associative list".to_string()),
    }
}

fn child_path(path: &Path, pe: PathElement) -> Path {
    let mut p = path.clone();
    p.push(pe);
    p
}

/// Typed operations over values of one kind.
#[derive(Clone, Copy)]
pub(crate) struct Typed {
    types: &'static Types,
    root: &'static Ty,
}

/// The result of comparing two objects.
#[derive(Debug, Default)]
pub(crate) struct Comparison {
    pub removed: Set,
    pub modified: Set,
    pub added: Set,
}

impl Comparison {
    pub(crate) fn exclude(&self, ignored: &Set) -> Comparison {
        Comparison {
            removed: self.removed.recursive_difference(ignored),
            modified: self.modified.recursive_difference(ignored),
            added: self.added.recursive_difference(ignored),
        }
    }
}

impl Typed {
    pub(crate) fn for_kind(group: &str, version: &str, kind: &str) -> Typed {
        let types = types();
        Typed {
            types,
            root: types.kind(group, version, kind),
        }
    }

    pub(crate) fn root(&self) -> &'static Ty {
        self.root
    }

    pub(crate) fn types(&self) -> &'static Types {
        self.types
    }

    // -----------------------------------------------------------------------------------------
    // Validation

    /// Upstream's validation errors (`.path: message`) of an object: list elements without
    /// their key fields, duplicate elements (unless allowed), and, when `strict`, fields the
    /// schema does not declare.
    pub(crate) fn validate(
        &self,
        value: &Value,
        allow_duplicates: bool,
        strict: bool,
    ) -> Vec<String> {
        let mut errors = Vec::new();
        self.validate_at(
            self.root,
            value,
            &Vec::new(),
            allow_duplicates,
            strict,
            &mut errors,
        );
        errors
    }

    fn validate_at(
        &self,
        ty: &'static Ty,
        value: &Value,
        path: &Path,
        allow_duplicates: bool,
        strict: bool,
        errors: &mut Vec<String>,
    ) {
        let err = |errors: &mut Vec<String>, path: &Path, msg: String| {
            let prefix = path_string(path);
            errors.push(if prefix.is_empty() {
                msg
            } else {
                format!("{prefix}: {msg}")
            });
        };
        match shape(self.types, ty, Some(value), None) {
            Shape::Leaf => {}
            Shape::Map(map, atomic) => {
                let Some(obj) = value.as_object() else { return };
                for (k, v) in obj {
                    let (child, allowed) = map_child(map, k);
                    let p = child_path(path, PathElement::Field(k.clone()));
                    if !allowed && strict {
                        err(errors, &p, "field not declared in schema".to_string());
                        continue;
                    }
                    if !atomic {
                        self.validate_at(child, v, &p, allow_duplicates, strict, errors);
                    }
                }
            }
            Shape::List(list) => {
                let Some(items) = value.as_array() else {
                    return;
                };
                if list.rel == ListRel::Atomic {
                    return;
                }
                let mut seen: BTreeSet<PathElement> = BTreeSet::new();
                for (i, item) in items.iter().enumerate() {
                    match item_element(self.types, list, item) {
                        Err(msg) => err(errors, path, format!("element {i}: {msg}")),
                        Ok(pe) => {
                            if !seen.insert(pe.clone()) {
                                if !allow_duplicates {
                                    err(errors, path, format!("duplicate entries for key {pe}"));
                                }
                                continue;
                            }
                            let p = child_path(path, pe);
                            self.validate_at(
                                &list.elem,
                                item,
                                &p,
                                allow_duplicates,
                                strict,
                                errors,
                            );
                        }
                    }
                }
            }
        }
    }

    // -----------------------------------------------------------------------------------------
    // Field sets

    /// Every leaf field and list or map item the value mentions.
    pub(crate) fn field_set(&self, value: &Value) -> Set {
        let mut set = Set::new();
        self.field_set_at(self.root, value, &Vec::new(), &mut set);
        set
    }

    fn field_set_at(&self, ty: &'static Ty, value: &Value, path: &Path, set: &mut Set) {
        match shape(self.types, ty, Some(value), None) {
            Shape::Leaf => set.insert(path),
            Shape::Map(map, atomic) => {
                if atomic {
                    set.insert(path);
                    return;
                }
                let Some(obj) = value.as_object() else { return };
                for (k, v) in obj {
                    let (child, _) = map_child(map, k);
                    let p = child_path(path, PathElement::Field(k.clone()));
                    self.field_set_at(child, v, &p, set);
                    let empty_map = v.as_object().is_some_and(Map::is_empty);
                    if v.is_null() || empty_map || !is_declared_field(map, k) {
                        set.insert(&p);
                    }
                }
            }
            Shape::List(list) => {
                if list.rel == ListRel::Atomic {
                    set.insert(path);
                    return;
                }
                let Some(items) = value.as_array() else {
                    return;
                };
                let elements: Vec<Option<PathElement>> = items
                    .iter()
                    .map(|item| item_element(self.types, list, item).ok())
                    .collect();
                let mut seen: BTreeSet<&PathElement> = BTreeSet::new();
                let mut duplicates: BTreeSet<&PathElement> = BTreeSet::new();
                for pe in elements.iter().flatten() {
                    if !seen.insert(pe) {
                        duplicates.insert(pe);
                    }
                }
                for pe in &duplicates {
                    set.insert(&child_path(path, (*pe).clone()));
                }
                for (item, pe) in items.iter().zip(elements.iter()) {
                    let Some(pe) = pe else { continue };
                    if duplicates.contains(pe) {
                        continue;
                    }
                    let p = child_path(path, pe.clone());
                    self.field_set_at(&list.elem, item, &p, set);
                    set.insert(&p);
                }
            }
        }
    }

    /// The set with every named (declared struct) field that has members below it made a
    /// member too, as upstream does before removing items.
    pub(crate) fn ensure_named_fields_are_members(&self, set: &Set) -> Set {
        self.ensure_at(self.root, set)
    }

    fn ensure_at(&self, ty: &'static Ty, set: &Set) -> Set {
        let (atom, _) = self.types.resolve(ty);
        let mut out = Set::new();
        for pe in set.members() {
            out.add_member(pe.clone());
        }
        for (pe, child) in set.children() {
            let child_ty: &'static Ty = match (pe, atom) {
                (PathElement::Field(name), Atom::Map(map)) => {
                    if is_declared_field(map, name) {
                        out.add_member(pe.clone());
                    }
                    map_child(map, name).0
                }
                (PathElement::Key(_), Atom::List(list)) => &list.elem,
                _ => &DEDUCED,
            };
            out.set_child(pe.clone(), self.ensure_at(child_ty, child));
        }
        out
    }

    // -----------------------------------------------------------------------------------------
    // Merge

    /// `live` with `config` merged in: config's leaves win; associative lists merge by key;
    /// atomic values are replaced. Errors are upstream's validation texts.
    pub(crate) fn merge(&self, live: &Value, config: &Value) -> Result<Value, Vec<String>> {
        let mut errors = Vec::new();
        let out = self.merge_at(
            self.root,
            Some(live),
            Some(config),
            &Vec::new(),
            &mut errors,
        );
        if errors.is_empty() {
            Ok(out.unwrap_or(Value::Null))
        } else {
            Err(errors)
        }
    }

    fn merge_at(
        &self,
        ty: &'static Ty,
        lhs: Option<&Value>,
        rhs: Option<&Value>,
        path: &Path,
        errors: &mut Vec<String>,
    ) -> Option<Value> {
        let keep_rhs = || rhs.or(lhs).cloned();
        match shape(self.types, ty, lhs, rhs) {
            Shape::Leaf => keep_rhs(),
            Shape::Map(map, atomic) => {
                let (lm, rm) = (as_object(lhs), as_object(rhs));
                let empty = lm.is_none_or(Map::is_empty) && rm.is_none_or(Map::is_empty);
                if atomic || empty {
                    return keep_rhs();
                }
                let mut out = Map::new();
                let mut keys: Vec<&String> = lm.map(|m| m.keys().collect()).unwrap_or_default();
                if let Some(rm) = rm {
                    for k in rm.keys() {
                        if lm.is_none_or(|lm| !lm.contains_key(k)) {
                            keys.push(k);
                        }
                    }
                }
                for k in keys {
                    let (child, _) = map_child(map, k);
                    let p = child_path(path, PathElement::Field(k.clone()));
                    let l = lm.and_then(|m| m.get(k));
                    let r = rm.and_then(|m| m.get(k));
                    if let Some(v) = self.merge_at(child, l, r, &p, errors) {
                        out.insert(k.clone(), v);
                    }
                }
                if out.is_empty() {
                    None
                } else {
                    Some(Value::Object(out))
                }
            }
            Shape::List(list) => {
                let (ll, rl) = (as_array(lhs), as_array(rhs));
                let empty = ll.is_none_or(Vec::is_empty) && rl.is_none_or(Vec::is_empty);
                if list.rel == ListRel::Atomic || empty {
                    return keep_rhs();
                }
                self.merge_list(list, ll, rl, path, errors)
            }
        }
    }

    /// Indexes list items by element: (elements in order, element → item). With
    /// `allow_duplicates`, a repeated element maps to null (upstream does not merge those).
    fn index_items<'v>(
        &self,
        list: &ListType,
        items: Option<&'v Vec<Value>>,
        allow_duplicates: bool,
        path: &Path,
        errors: &mut Vec<String>,
    ) -> (Vec<PathElement>, BTreeMap<PathElement, Option<&'v Value>>) {
        let mut order = Vec::new();
        let mut observed: BTreeMap<PathElement, Option<&'v Value>> = BTreeMap::new();
        let prefix = path_string(path);
        let at = |msg: String| {
            if prefix.is_empty() {
                msg
            } else {
                format!("{prefix}: {msg}")
            }
        };
        for (i, item) in items
            .map(|v| v.as_slice())
            .unwrap_or_default()
            .iter()
            .enumerate()
        {
            let pe = match item_element(self.types, list, item) {
                Ok(pe) => pe,
                Err(msg) => {
                    errors.push(at(format!("element {i}: {msg}")));
                    continue;
                }
            };
            if let Some(entry) = observed.get_mut(&pe) {
                if !allow_duplicates {
                    errors.push(at(format!("duplicate entries for key {pe}")));
                    continue;
                }
                *entry = None;
            } else {
                observed.insert(pe.clone(), Some(item));
            }
            order.push(pe);
        }
        (order, observed)
    }

    fn merge_list(
        &self,
        list: &'static ListType,
        lhs: Option<&Vec<Value>>,
        rhs: Option<&Vec<Value>>,
        path: &Path,
        errors: &mut Vec<String>,
    ) -> Option<Value> {
        static NULL: Value = Value::Null;
        let (rhs_pes, observed_rhs) = self.index_items(list, rhs, false, path, errors);
        let (lhs_pes, observed_lhs) = self.index_items(list, lhs, true, path, errors);
        if !errors.is_empty() {
            return None;
        }
        let lhs_items: &[Value] = lhs.map(|v| v.as_slice()).unwrap_or_default();
        // A duplicated element maps to null: upstream does not merge duplicates.
        let get_l = |pe: &PathElement| -> Option<&Value> {
            observed_lhs.get(pe).map(|v| v.unwrap_or(&NULL))
        };
        let get_r = |pe: &PathElement| -> Option<&Value> {
            observed_rhs.get(pe).map(|v| v.unwrap_or(&NULL))
        };

        let mut shared: std::collections::VecDeque<&PathElement> =
            rhs_pes.iter().filter(|pe| get_l(pe).is_some()).collect();
        let mut next_shared = shared.pop_front();
        let mut merged_rhs: BTreeSet<&PathElement> = BTreeSet::new();
        let mut out: Vec<Value> = Vec::new();
        let (l_len, r_len) = (lhs_pes.len(), rhs_pes.len());
        let (mut li, mut ri) = (0usize, 0usize);
        let merge_item = |pe: &PathElement,
                          l: Option<&Value>,
                          r: Option<&Value>,
                          out: &mut Vec<Value>,
                          errors: &mut Vec<String>| {
            if l.is_none() && r.is_none() {
                return;
            }
            let p = child_path(path, pe.clone());
            if let Some(v) = self.merge_at(&list.elem, l, r, &p, errors) {
                out.push(v);
            }
        };
        while li < l_len || ri < r_len {
            if li < l_len && ri < r_len {
                let pe = &lhs_pes[li];
                if *pe == rhs_pes[ri] {
                    merged_rhs.insert(pe);
                    merge_item(pe, get_l(pe), get_r(pe), &mut out, errors);
                    li += 1;
                    ri += 1;
                    next_shared = shared.pop_front();
                    continue;
                }
                if get_r(pe).is_some() && next_shared.is_some_and(|n| n != pe) {
                    li += 1;
                    continue;
                }
            }
            if li < l_len {
                let pe = &lhs_pes[li];
                if get_r(pe).is_none() {
                    merge_item(pe, lhs_items.get(li), None, &mut out, errors);
                    li += 1;
                    continue;
                } else if merged_rhs.contains(pe) {
                    li += 1;
                }
            }
            if ri < r_len {
                let pe = &rhs_pes[ri];
                merged_rhs.insert(pe);
                merge_item(pe, get_l(pe), get_r(pe), &mut out, errors);
                ri += 1;
                if next_shared.is_some_and(|n| n == pe) {
                    next_shared = shared.pop_front();
                }
            }
        }
        if out.is_empty() {
            None
        } else {
            Some(Value::Array(out))
        }
    }

    // -----------------------------------------------------------------------------------------
    // Compare

    /// The fields `new` added, modified (leaves only) and removed relative to `old`.
    pub(crate) fn compare(&self, old: &Value, new: &Value) -> Comparison {
        let mut cmp = Comparison::default();
        self.compare_at(self.root, Some(old), Some(new), &Vec::new(), &mut cmp);
        cmp
    }

    fn compare_leaf(lhs: Option<&Value>, rhs: Option<&Value>, path: &Path, cmp: &mut Comparison) {
        match (lhs, rhs) {
            (None, Some(_)) => cmp.added.insert(path),
            (Some(_), None) => cmp.removed.insert(path),
            (Some(l), Some(r)) => {
                if !value_equals(l, r) {
                    cmp.modified.insert(path);
                }
            }
            (None, None) => {}
        }
    }

    fn compare_at(
        &self,
        ty: &'static Ty,
        lhs: Option<&Value>,
        rhs: Option<&Value>,
        path: &Path,
        cmp: &mut Comparison,
    ) {
        match shape(self.types, ty, lhs, rhs) {
            Shape::Leaf => return Self::compare_leaf(lhs, rhs, path, cmp),
            Shape::Map(map, atomic) => {
                let (lm, rm) = (as_object(lhs), as_object(rhs));
                let empty = lm.is_none_or(Map::is_empty) && rm.is_none_or(Map::is_empty);
                if atomic || empty {
                    return Self::compare_leaf(lhs, rhs, path, cmp);
                }
                let mut keys: Vec<&String> = lm.map(|m| m.keys().collect()).unwrap_or_default();
                if let Some(rm) = rm {
                    for k in rm.keys() {
                        if lm.is_none_or(|lm| !lm.contains_key(k)) {
                            keys.push(k);
                        }
                    }
                }
                for k in keys {
                    let (child, _) = map_child(map, k);
                    let p = child_path(path, PathElement::Field(k.clone()));
                    self.compare_at(
                        child,
                        lm.and_then(|m| m.get(k)),
                        rm.and_then(|m| m.get(k)),
                        &p,
                        cmp,
                    );
                }
            }
            Shape::List(list) => {
                let (ll, rl) = (as_array(lhs), as_array(rhs));
                let empty = ll.is_none_or(Vec::is_empty) && rl.is_none_or(Vec::is_empty);
                if list.rel == ListRel::Atomic || empty {
                    return Self::compare_leaf(lhs, rhs, path, cmp);
                }
                self.compare_list(list, ll, rl, path, cmp);
            }
        }
        if lhs.is_none() {
            cmp.added.insert(path);
        } else if rhs.is_none() {
            cmp.removed.insert(path);
        }
    }

    fn compare_list(
        &self,
        list: &'static ListType,
        lhs: Option<&Vec<Value>>,
        rhs: Option<&Vec<Value>>,
        path: &Path,
        cmp: &mut Comparison,
    ) {
        // Element → items with it, in first-seen order over lhs then rhs.
        let mut all: Vec<PathElement> = Vec::new();
        let mut l_values: BTreeMap<PathElement, Vec<&Value>> = BTreeMap::new();
        let mut r_values: BTreeMap<PathElement, Vec<&Value>> = BTreeMap::new();
        for item in lhs.map(|v| v.as_slice()).unwrap_or_default() {
            let Ok(pe) = item_element(self.types, list, item) else {
                continue;
            };
            match l_values.get_mut(&pe) {
                Some(items) => items.push(item),
                None => {
                    l_values.insert(pe.clone(), vec![item]);
                    all.push(pe);
                }
            }
        }
        for item in rhs.map(|v| v.as_slice()).unwrap_or_default() {
            let Ok(pe) = item_element(self.types, list, item) else {
                continue;
            };
            match r_values.get_mut(&pe) {
                Some(items) => items.push(item),
                None => {
                    r_values.insert(pe.clone(), vec![item]);
                    if !l_values.contains_key(&pe) {
                        all.push(pe);
                    }
                }
            }
        }
        let empty: Vec<&Value> = Vec::new();
        for pe in all {
            let l = l_values.get(&pe).unwrap_or(&empty);
            let r = r_values.get(&pe).unwrap_or(&empty);
            let p = child_path(path, pe);
            if l.len() <= 1 && r.len() <= 1 {
                self.compare_at(&list.elem, l.first().copied(), r.first().copied(), &p, cmp);
            } else if l.len() >= 2 && r.len() >= 2 {
                let same =
                    l.len() == r.len() && l.iter().zip(r.iter()).all(|(a, b)| value_equals(a, b));
                if !same {
                    cmp.modified.insert(&p);
                }
            } else if l.len() >= 2 {
                if let Some(first) = r.first() {
                    self.compare_at(&list.elem, None, Some(first), &p, cmp);
                }
                cmp.removed.insert(&p);
            } else {
                if let Some(first) = l.first() {
                    self.compare_at(&list.elem, Some(first), None, &p, cmp);
                }
                cmp.added.insert(&p);
            }
        }
    }

    // -----------------------------------------------------------------------------------------
    // Remove items

    /// The value without the given fields and list or map items. A map or list emptied by the
    /// removal is dropped from its parent.
    pub(crate) fn remove_items(&self, value: &Value, to_remove: &Set) -> Value {
        self.remove_at(self.root, value, to_remove)
            .unwrap_or_else(|| Value::Object(Map::new()))
    }

    fn remove_at(&self, ty: &'static Ty, value: &Value, to_remove: &Set) -> Option<Value> {
        match shape(self.types, ty, Some(value), None) {
            Shape::Leaf => Some(value.clone()),
            Shape::Map(map, atomic) => {
                let obj = match value.as_object() {
                    Some(obj) if !obj.is_empty() && !atomic => obj,
                    _ => return Some(value.clone()),
                };
                let mut out = Map::new();
                for (k, v) in obj {
                    let pe = PathElement::Field(k.clone());
                    if to_remove.has_member(&pe) {
                        continue;
                    }
                    match to_remove.with_prefix(&pe) {
                        Some(sub) => {
                            let (child, _) = map_child(map, k);
                            if let Some(v) = self.remove_at(child, v, sub) {
                                out.insert(k.clone(), v);
                            }
                        }
                        None => {
                            out.insert(k.clone(), v.clone());
                        }
                    }
                }
                if out.is_empty() {
                    None
                } else {
                    Some(Value::Object(out))
                }
            }
            Shape::List(list) => {
                let items = match value.as_array() {
                    Some(items) if !items.is_empty() && list.rel != ListRel::Atomic => items,
                    _ => return Some(value.clone()),
                };
                let mut out = Vec::new();
                for item in items {
                    let Ok(pe) = item_element(self.types, list, item) else {
                        out.push(item.clone());
                        continue;
                    };
                    if to_remove.has_member(&pe) {
                        continue;
                    }
                    match to_remove.with_prefix(&pe) {
                        Some(sub) => {
                            if let Some(v) = self.remove_at(&list.elem, item, sub) {
                                out.push(v);
                            }
                        }
                        None => out.push(item.clone()),
                    }
                }
                if out.is_empty() {
                    None
                } else {
                    Some(Value::Array(out))
                }
            }
        }
    }
}
