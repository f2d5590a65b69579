//! The merge itself: upstream's `mergeMap` / `mergeSlice` semantics on `serde_json` values.
//!
//! Order of work inside one object, as upstream: a `$patch` directive decides alone; then
//! `$retainKeys`; then every `$setElementOrder/<list>` together with its list; then the
//! remaining keys in patch order (`$deleteFromPrimitiveList/<list>` being one of them).

use serde_json::{Map, Value};

use super::gofmt;
use super::schema::{Schema, Ty};

use super::SmpError;

type Obj = Map<String, Value>;

const DIRECTIVE: &str = "$patch";
const DELETE: &str = "delete";
const REPLACE: &str = "replace";
const MERGE: &str = "merge";
const RETAIN_KEYS_STRATEGY: &str = "retainKeys";
const RETAIN_KEYS: &str = "$retainKeys";
const DELETE_FROM_PRIMITIVE_LIST: &str = "$deleteFromPrimitiveList";
const SET_ELEMENT_ORDER: &str = "$setElementOrder";

const MAP_TYPE: &str = "map[string]interface {}";
const SLICE_TYPE: &str = "[]interface {}";

/// Go's dynamic type of a decoded JSON value (integers and floats differ, as upstream decodes
/// integers to `int64` and the rest to `float64`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum GoType {
    Nil,
    Bool,
    Int,
    Float,
    String,
    Slice,
    Map,
}

fn go_type(value: &Value) -> GoType {
    match value {
        Value::Null => GoType::Nil,
        Value::Bool(_) => GoType::Bool,
        Value::Number(n) if n.is_i64() => GoType::Int,
        Value::Number(_) => GoType::Float,
        Value::String(_) => GoType::String,
        Value::Array(_) => GoType::Slice,
        Value::Object(_) => GoType::Map,
    }
}

fn fail(message: impl Into<String>) -> SmpError {
    SmpError::Failed(message.into())
}

fn no_merge_key(map: &Obj, key: &str) -> SmpError {
    fail(format!(
        "map: {} does not contain declared merge key: {key}",
        gofmt::v_map(map)
    ))
}

fn bad_arg_type(expected: &str, actual: &Value) -> SmpError {
    fail(format!(
        "expected a {expected}, but received a {}",
        gofmt::type_name(actual)
    ))
}

fn bad_patch_type(directive: &Value, map: &Obj) -> SmpError {
    fail(format!(
        "unknown patch type: {} in map: {}",
        gofmt::s(directive),
        gofmt::v_map(map)
    ))
}

/// A Go map lookup keyed by this value would panic (maps and slices are not hashable).
fn unhashable(value: &Value) -> Option<SmpError> {
    matches!(value, Value::Object(_) | Value::Array(_)).then(|| {
        fail(format!(
            "runtime error: hash of unhashable type {}",
            gofmt::type_name(value)
        ))
    })
}

fn take_obj(value: &mut Value) -> Obj {
    match std::mem::take(value) {
        Value::Object(map) => map,
        _ => Obj::new(),
    }
}

fn take_list(value: &mut Value) -> Vec<Value> {
    match std::mem::take(value) {
        Value::Array(list) => list,
        _ => Vec::new(),
    }
}

/// Merges `patch` into `original` (upstream's `mergeMap` with `MergeParallelList` and
/// `IgnoreUnmatchedNulls`, as the API server applies patches).
pub(super) fn merge_map(
    mut original: Obj,
    mut patch: Obj,
    schema: Schema,
) -> Result<Obj, SmpError> {
    if let Some(directive) = patch.get(DIRECTIVE) {
        let directive = directive.clone();
        return directive_in_map(&directive, patch);
    }
    apply_retain_keys(&mut original, &mut patch)?;
    merge_set_element_order(&mut original, &mut patch, schema)?;

    for (key, patch_v) in patch {
        let (key, is_delete_list) = if key.starts_with(DELETE_FROM_PRIMITIVE_LIST) {
            let list_key = extract_key(&key, DELETE_FROM_PRIMITIVE_LIST)?;
            (if list_key.is_empty() { key } else { list_key }, true)
        } else {
            (key, false)
        };
        if patch_v.is_null() {
            original.shift_remove(&key);
            continue;
        }
        let Some(original_v) = original.get_mut(&key) else {
            if !is_delete_list {
                set_raw(&mut original, key, patch_v);
            }
            continue;
        };
        if go_type(original_v) != go_type(&patch_v) {
            if !is_delete_list {
                set_raw(&mut original, key, patch_v);
            }
            continue;
        }
        match patch_v {
            Value::Object(patch_map) => {
                let (sub, meta) = schema.lookup_struct(&key);
                let (_, strategy) = retain_keys_strategy(meta.strategies)?;
                let original_map = take_obj(original_v);
                let merged = if strategy == REPLACE {
                    patch_map
                } else {
                    merge_map(original_map, patch_map, sub)?
                };
                *original_v = Value::Object(merged);
            }
            Value::Array(patch_list) => {
                let (sub, meta) = schema.lookup_slice(&key);
                let (_, strategy) = retain_keys_strategy(meta.strategies)?;
                let original_list = take_list(original_v);
                let merged = merge_slice_handler(
                    original_list,
                    patch_list,
                    sub,
                    strategy,
                    meta.merge_key,
                    is_delete_list,
                )?;
                *original_v = Value::Array(merged);
            }
            scalar => *original_v = scalar,
        }
    }
    Ok(original)
}

/// Takes a patch value as it is (for a key the original lacks, or of another type): nulls
/// inside dropped, maps carrying `$patch` dropped.
fn set_raw(original: &mut Obj, key: String, mut value: Value) {
    discard_nulls(&mut value);
    match remove_directives(value) {
        Some(value) => {
            original.insert(key, value);
        }
        None => {
            original.shift_remove(&key);
        }
    }
}

fn discard_nulls(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(discard_nulls);
        }
        Value::Array(list) => list.iter_mut().for_each(discard_nulls),
        _ => {}
    }
}

/// Upstream's `removeDirectives`: `None` for a map carrying `$patch` (it is not kept);
/// such maps are dropped from nested maps and lists too.
fn remove_directives(value: Value) -> Option<Value> {
    match value {
        Value::Object(map) => {
            if map.contains_key(DIRECTIVE) {
                return None;
            }
            let mut out = Obj::new();
            for (k, v) in map {
                if let Some(v) = remove_directives(v) {
                    out.insert(k, v);
                }
            }
            Some(Value::Object(out))
        }
        Value::Array(list) => Some(Value::Array(
            list.into_iter().filter_map(remove_directives).collect(),
        )),
        other => Some(other),
    }
}

/// `$patch` in a map being merged: `replace` takes the rest of the patch map as the result,
/// `delete` gives an empty map, anything else (`merge` included) is an error.
fn directive_in_map(directive: &Value, mut patch: Obj) -> Result<Obj, SmpError> {
    match directive.as_str() {
        Some(REPLACE) => {
            patch.shift_remove(DIRECTIVE);
            Ok(patch)
        }
        Some(DELETE) => Ok(Obj::new()),
        _ => Err(bad_patch_type(directive, &patch)),
    }
}

/// `$retainKeys`: every non-null key of the patch must be listed; keys of the original not
/// listed are cleared.
fn apply_retain_keys(original: &mut Obj, patch: &mut Obj) -> Result<(), SmpError> {
    let Some(retain) = patch.shift_remove(RETAIN_KEYS) else {
        return Ok(());
    };
    let Value::Array(retain) = retain else {
        return Err(SmpError::BadRetainKeys);
    };
    let listed = |key: &str| retain.iter().any(|v| v.as_str() == Some(key));
    for (k, v) in patch.iter() {
        if v.is_null()
            || k.starts_with(DELETE_FROM_PRIMITIVE_LIST)
            || k.starts_with(SET_ELEMENT_ORDER)
        {
            continue;
        }
        if !listed(k) {
            return Err(SmpError::BadRetainKeys);
        }
    }
    original.retain(|k, _| listed(k));
    Ok(())
}

/// `<prefix>/<key>` → `<key>`.
fn extract_key(key: &str, prefix: &str) -> Result<String, SmpError> {
    match key.split_once('/') {
        Some((head, rest)) if head == prefix => Ok(rest.to_string()),
        _ if prefix == DELETE_FROM_PRIMITIVE_LIST => Err(SmpError::BadPrimitiveList),
        _ => Err(SmpError::BadSetElementOrder),
    }
}

/// Splits "merge,retainKeys"-style strategies into (retainKeys present, the other strategy).
fn retain_keys_strategy(strategies: &[String]) -> Result<(bool, &str), SmpError> {
    match strategies {
        [] => Ok((false, "")),
        [one] if one == RETAIN_KEYS_STRATEGY => Ok((true, "")),
        [one] => Ok((false, one.as_str())),
        [a, b] if a == RETAIN_KEYS_STRATEGY => Ok((true, b.as_str())),
        [a, b] if b == RETAIN_KEYS_STRATEGY => Ok((true, a.as_str())),
        _ => Err(fail(format!(
            "unexpected patch strategy: [{}]",
            strategies.join(" ")
        ))),
    }
}

/// Every `$setElementOrder/<list>` of `patch`, merged with `<list>` of the patch and ordered:
/// the order list first, then the patch list's order, then the original's.
fn merge_set_element_order(
    original: &mut Obj,
    patch: &mut Obj,
    schema: Schema,
) -> Result<(), SmpError> {
    let keys: Vec<String> = patch
        .keys()
        .filter(|k| k.starts_with(SET_ELEMENT_ORDER))
        .cloned()
        .collect();
    for key in keys {
        let Some(order) = patch.shift_remove(&key) else {
            continue;
        };
        let Value::Array(order) = order else {
            return Err(bad_arg_type(SLICE_TYPE, &order));
        };
        let list_key = extract_key(&key, SET_ELEMENT_ORDER)?;
        let original_list: Option<Vec<Value>> = match original.get(&list_key) {
            Some(Value::Array(list)) => Some(list.clone()),
            Some(other) => return Err(bad_arg_type(SLICE_TYPE, other)),
            None => None,
        };
        let patch_list: Option<Vec<Value>> = match patch.shift_remove(&list_key) {
            Some(Value::Array(list)) => Some(list),
            Some(other) => return Err(bad_arg_type(SLICE_TYPE, &other)),
            None => None,
        };
        let (sub, meta) = schema.lookup_slice(&list_key);
        let (_, strategy) = retain_keys_strategy(meta.strategies)?;
        let merge_key = meta.merge_key;
        validate_patch_with_set_order_list(
            patch_list.as_deref().unwrap_or_default(),
            &order,
            merge_key,
        )?;
        let original_items = original_list.clone().unwrap_or_default();
        let kind = slice_element_type(&[
            original_list.as_deref().unwrap_or_default(),
            patch_list.as_deref().unwrap_or_default(),
        ]);
        let merged = match (original_list, patch_list) {
            (Some(list), None) => list,
            (None, Some(list)) => match remove_directives(Value::Array(list)) {
                Some(Value::Array(list)) => list,
                _ => continue,
            },
            (Some(o), Some(p)) => merge_slice_handler(o, p, sub, strategy, merge_key, false)?,
            (None, None) => continue,
        };
        let (patch_items, server_only) = if merge_key.is_empty() {
            partition_primitives(merged, &order)?
        } else {
            partition_maps(merged, &order, merge_key)?
        };
        let kind = kind?;
        let both = normalize_element_order(
            patch_items,
            server_only,
            &order,
            &original_items,
            merge_key,
            kind,
        )?;
        original.insert(list_key, Value::Array(both));
    }
    Ok(())
}

fn contains_directive(value: &Value) -> bool {
    value.as_object().is_some_and(|m| m.contains_key(DIRECTIVE))
}

/// Whether a list item is `{"$patch": "delete", …}`; items must be maps.
fn is_delete_item(value: &Value) -> Result<bool, SmpError> {
    match value {
        Value::Object(map) => Ok(map.get(DIRECTIVE).and_then(Value::as_str) == Some(DELETE)),
        other => Err(bad_arg_type(MAP_TYPE, other)),
    }
}

/// The (non-deleting) patch items must appear in the `$setElementOrder` list, in its order.
fn validate_patch_with_set_order_list(
    patch_list: &[Value],
    order: &[Value],
    merge_key: &str,
) -> Result<(), SmpError> {
    if order.is_empty() || patch_list.is_empty() {
        return Ok(());
    }
    let mut kept: Vec<&Value> = Vec::new();
    for item in patch_list {
        if merge_key.is_empty() || !is_delete_item(item)? {
            kept.push(item);
        }
    }
    let (mut p, mut o) = (0, 0);
    while p < kept.len() && o < order.len() {
        if contains_directive(kept[p]) {
            p += 1;
            continue;
        }
        if merge_key_value_equal(kept[p], &order[o], merge_key)? {
            p += 1;
        }
        o += 1;
    }
    if p < kept.len() && o >= order.len() {
        return Err(fail(format!(
            "The order in patch list:\n{}\n doesn't match {SET_ELEMENT_ORDER} list:\n{}\n",
            gofmt::v_list(patch_list),
            gofmt::v_list(order)
        )));
    }
    Ok(())
}

fn merge_key_value_equal(left: &Value, right: &Value, merge_key: &str) -> Result<bool, SmpError> {
    if merge_key.is_empty() {
        return Ok(left == right);
    }
    let Value::Object(l) = left else {
        return Err(bad_arg_type(MAP_TYPE, left));
    };
    let Value::Object(r) = right else {
        return Err(bad_arg_type(MAP_TYPE, right));
    };
    let Some(lv) = l.get(merge_key) else {
        return Err(no_merge_key(l, merge_key));
    };
    let Some(rv) = r.get(merge_key) else {
        return Err(no_merge_key(r, merge_key));
    };
    Ok(lv == rv)
}

/// Lists merge only under the `merge` strategy (or as a `$deleteFromPrimitiveList`);
/// otherwise the patch list replaces the original.
fn merge_slice_handler(
    original: Vec<Value>,
    patch: Vec<Value>,
    schema: Schema,
    strategy: &str,
    merge_key: &str,
    is_delete_list: bool,
) -> Result<Vec<Value>, SmpError> {
    if strategy == MERGE || is_delete_list {
        merge_slice(original, patch, schema, merge_key, is_delete_list)
    } else {
        Ok(patch)
    }
}

fn merge_slice(
    original: Vec<Value>,
    patch: Vec<Value>,
    schema: Schema,
    merge_key: &str,
    is_delete_list: bool,
) -> Result<Vec<Value>, SmpError> {
    if original.is_empty() && patch.is_empty() {
        return Ok(original);
    }
    let kind = slice_element_type(&[&original, &patch])?;
    let (merged, server_order, patch_order) = if kind != GoType::Map {
        if is_delete_list {
            return delete_from_slice(original, &patch);
        }
        let server_order = original.clone();
        let mut both = original;
        both.extend(patch.iter().cloned());
        (dedup_scalars(both), server_order, patch)
    } else {
        if merge_key.is_empty() {
            return Err(fail(format!(
                "cannot merge lists without merge key for {}",
                schema.name()
            )));
        }
        let (original, patch) = merge_special_elements(original, patch, merge_key)?;
        let server_order = original.clone();
        let patch_order = patch.clone();
        let merged = merge_plain_elements(original, patch, merge_key, schema)?;
        (merged, server_order, patch_order)
    };
    let (patch_items, server_only) = if merge_key.is_empty() {
        partition_primitives(merged, &patch_order)?
    } else {
        partition_maps(merged, &patch_order, merge_key)?
    };
    normalize_element_order(
        patch_items,
        server_only,
        &patch_order,
        &server_order,
        merge_key,
        kind,
    )
}

/// Applies the `$patch` elements of a merge list: `delete` removes the original elements
/// with that key, `replace` makes the other patch elements the whole list.
fn merge_special_elements(
    mut original: Vec<Value>,
    patch: Vec<Value>,
    merge_key: &str,
) -> Result<(Vec<Value>, Vec<Value>), SmpError> {
    let mut plain = Vec::new();
    let mut replace = false;
    for item in patch {
        let Value::Object(map) = &item else {
            return Err(bad_arg_type(MAP_TYPE, &item));
        };
        let Some(directive) = map.get(DIRECTIVE) else {
            plain.push(item);
            continue;
        };
        match directive.as_str() {
            Some(DELETE) => match map.get(merge_key) {
                Some(value) => original = delete_matching_entries(original, merge_key, value)?,
                None => return Err(no_merge_key(map, merge_key)),
            },
            Some(REPLACE) => replace = true,
            Some(MERGE) => return Err(fail("merging lists cannot yet be specified in the patch")),
            _ => return Err(bad_patch_type(directive, map)),
        }
    }
    if replace {
        Ok((plain, Vec::new()))
    } else {
        Ok((original, plain))
    }
}

/// The index of the first map of `list` whose `key` is `value`; an error for a non-map met
/// before it.
fn find_map(list: &[Value], key: &str, value: &Value) -> Result<Option<usize>, SmpError> {
    for (i, item) in list.iter().enumerate() {
        let Value::Object(map) = item else {
            return Err(fail(format!("value for key {i} is not a map")));
        };
        if map.get(key) == Some(value) {
            return Ok(Some(i));
        }
    }
    Ok(None)
}

fn delete_matching_entries(
    mut original: Vec<Value>,
    key: &str,
    value: &Value,
) -> Result<Vec<Value>, SmpError> {
    while let Some(i) = find_map(&original, key, value)? {
        original.remove(i);
    }
    Ok(original)
}

/// Merges each patch element into the original element with the same key, or appends it.
fn merge_plain_elements(
    mut original: Vec<Value>,
    patch: Vec<Value>,
    merge_key: &str,
    schema: Schema,
) -> Result<Vec<Value>, SmpError> {
    for item in patch {
        let Value::Object(patch_map) = item else {
            return Err(bad_arg_type(MAP_TYPE, &item));
        };
        let Some(value) = patch_map.get(merge_key) else {
            return Err(no_merge_key(&patch_map, merge_key));
        };
        match find_map(&original, merge_key, value)? {
            Some(i) => {
                let original_map = take_obj(&mut original[i]);
                original[i] = Value::Object(merge_map(original_map, patch_map, schema)?);
            }
            None => original.push(Value::Object(patch_map)),
        }
    }
    Ok(original)
}

fn delete_from_slice(current: Vec<Value>, to_delete: &[Value]) -> Result<Vec<Value>, SmpError> {
    if let Some(err) = to_delete.iter().chain(current.iter()).find_map(unhashable) {
        return Err(err);
    }
    Ok(current
        .into_iter()
        .filter(|v| !to_delete.contains(v))
        .collect())
}

/// Upstream's in-place deduplication (a later duplicate is overwritten by the last element).
fn dedup_scalars(mut s: Vec<Value>) -> Vec<Value> {
    if s.is_empty() {
        return s;
    }
    let mut last = s.len() - 1;
    let mut i = 0;
    while i < last {
        let mut j = i + 1;
        while j <= last {
            if s[i] == s[j] {
                s.swap(j, last);
                s.truncate(last);
                last -= 1;
            } else {
                j += 1;
            }
        }
        i += 1;
    }
    s
}

/// The common Go type of the elements of `slices`; lists of lists and mixed types are errors.
fn slice_element_type(slices: &[&[Value]]) -> Result<GoType, SmpError> {
    let mut prev: Option<GoType> = None;
    for slice in slices {
        for item in slice.iter() {
            let t = go_type(item);
            match prev {
                None => {
                    match t {
                        GoType::Slice => return Err(SmpError::ListOfLists),
                        // reflect.TypeOf(nil).Kind() dereferences a nil type upstream.
                        GoType::Nil => {
                            return Err(fail(
                                "runtime error: invalid memory address or nil pointer dereference",
                            ))
                        }
                        _ => {}
                    }
                    prev = Some(t);
                }
                Some(p) if p != t => {
                    let all: Vec<String> = slices.iter().map(|s| gofmt::v_list(s)).collect();
                    return Err(fail(format!(
                        "list element types are not identical: [{}]",
                        all.join(" ")
                    )));
                }
                Some(_) => {}
            }
        }
    }
    prev.ok_or_else(|| fail("no elements in any of the given slices"))
}

/// Splits `merged` into the maps whose key appears in `by` and the others.
fn partition_maps(
    merged: Vec<Value>,
    by: &[Value],
    merge_key: &str,
) -> Result<(Vec<Value>, Vec<Value>), SmpError> {
    let (mut inside, mut outside) = (Vec::new(), Vec::new());
    for item in merged {
        let Value::Object(map) = &item else {
            return Err(bad_arg_type(MAP_TYPE, &item));
        };
        let Some(value) = map.get(merge_key) else {
            return Err(no_merge_key(map, merge_key));
        };
        if find_map(by, merge_key, value)?.is_some() {
            inside.push(item);
        } else {
            outside.push(item);
        }
    }
    Ok((inside, outside))
}

/// Splits `merged` into the values present in `by` and the others.
fn partition_primitives(
    merged: Vec<Value>,
    by: &[Value],
) -> Result<(Vec<Value>, Vec<Value>), SmpError> {
    if let Some(err) = by.iter().chain(merged.iter()).find_map(unhashable) {
        return Err(err);
    }
    Ok(merged.into_iter().partition(|v| by.contains(v)))
}

/// What an item is compared by when ordering: its merge key value for maps (nil when absent),
/// itself otherwise.
fn order_key<'v>(item: &'v Value, merge_key: &str, kind: GoType) -> &'v Value {
    const NIL: &Value = &Value::Null;
    if kind == GoType::Map {
        item.as_object()
            .and_then(|m| m.get(merge_key))
            .unwrap_or(NIL)
    } else {
        item
    }
}

fn index_in(list: &[Value], item: &Value, merge_key: &str, kind: GoType) -> Option<usize> {
    let key = order_key(item, merge_key, kind);
    list.iter()
        .position(|v| order_key(v, merge_key, kind) == key)
}

/// Orders the patch items by `patch_order` and the server-only items by `server_order`, then
/// interleaves them.
fn normalize_element_order(
    patch_items: Vec<Value>,
    server_only: Vec<Value>,
    patch_order: &[Value],
    server_order: &[Value],
    merge_key: &str,
    kind: GoType,
) -> Result<Vec<Value>, SmpError> {
    let patch_items = normalize_slice_order(patch_items, patch_order, merge_key, kind)?;
    let server_only = normalize_slice_order(server_only, server_order, merge_key, kind)?;
    Ok(merge_sorted(
        server_only,
        patch_items,
        server_order,
        merge_key,
        kind,
    ))
}

/// Stable-sorts `to_sort` by position in `order` (items missing from `order` compare as
/// "less", as upstream's comparator does), with `$patch: delete` items moved to the end.
fn normalize_slice_order(
    to_sort: Vec<Value>,
    order: &[Value],
    merge_key: &str,
    kind: GoType,
) -> Result<Vec<Value>, SmpError> {
    let mut to_delete = Vec::new();
    let mut to_sort = to_sort;
    if kind == GoType::Map {
        validate_merge_key_in_lists(merge_key, &[&to_sort, order])?;
        let mut kept = Vec::with_capacity(to_sort.len());
        for item in to_sort {
            if is_delete_item(&item)? {
                to_delete.push(item);
            } else {
                kept.push(item);
            }
        }
        to_sort = kept;
    }
    let positions: Vec<Option<usize>> = to_sort
        .iter()
        .map(|item| index_in(order, item, merge_key, kind))
        .collect();
    let less = |a: usize, b: usize| match (positions[a], positions[b]) {
        (Some(pa), Some(pb)) => pa < pb,
        _ => true,
    };
    // Insertion sort, as Go's stable sort does on short runs.
    let mut perm: Vec<usize> = (0..to_sort.len()).collect();
    for i in 1..perm.len() {
        let mut j = i;
        while j > 0 && less(perm[j], perm[j - 1]) {
            perm.swap(j, j - 1);
            j -= 1;
        }
    }
    let mut slots: Vec<Option<Value>> = to_sort.into_iter().map(Some).collect();
    let mut out: Vec<Value> = perm.into_iter().filter_map(|i| slots[i].take()).collect();
    out.extend(to_delete);
    Ok(out)
}

fn validate_merge_key_in_lists(merge_key: &str, lists: &[&[Value]]) -> Result<(), SmpError> {
    for list in lists {
        for item in list.iter() {
            let Value::Object(map) = item else {
                return Err(bad_arg_type(MAP_TYPE, item));
            };
            if !map.contains_key(merge_key) {
                return Err(no_merge_key(map, merge_key));
            }
        }
    }
    Ok(())
}

/// Interleaves server-only items (`left`) into the patch items (`right`): a server item goes
/// first only when both are in the original list and it came earlier there.
fn merge_sorted(
    left: Vec<Value>,
    right: Vec<Value>,
    server_order: &[Value],
    merge_key: &str,
    kind: GoType,
) -> Vec<Value> {
    let pos = |item: &Value| index_in(server_order, item, merge_key, kind);
    let left_pos: Vec<Option<usize>> = left.iter().map(pos).collect();
    let right_pos: Vec<Option<usize>> = right.iter().map(pos).collect();
    let (n, m) = (left.len(), right.len());
    let mut left = left.into_iter();
    let mut right = right.into_iter();
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::with_capacity(n + m);
    while i < n || j < m {
        let take_left = if i >= n {
            false
        } else if j >= m {
            true
        } else {
            matches!((left_pos[i], right_pos[j]), (Some(l), Some(r)) if l < r)
        };
        let next = if take_left {
            i += 1;
            left.next()
        } else {
            j += 1;
            right.next()
        };
        out.extend(next);
    }
    out
}

/// True for the directive keys a patch may carry in an object.
fn is_directive_key(key: &str) -> bool {
    key == DIRECTIVE
        || key == RETAIN_KEYS
        || key.starts_with(SET_ELEMENT_ORDER)
        || key.starts_with(DELETE_FROM_PRIMITIVE_LIST)
}

/// Drops directive keys left in typed objects (patch values taken as they are, such as a
/// new list element), as upstream's decoding into the Go type drops them. Opaque values
/// (`RawExtension`, apiextensions `JSON`) and map keys are left alone.
pub(super) fn strip_directives(value: &mut Value, schema: Schema) {
    match value {
        Value::Object(map) => match schema.ty() {
            Some(Ty::Struct(_)) => {
                if schema.fields().is_none() {
                    return;
                }
                map.retain(|k, _| !is_directive_key(k));
                for (k, v) in map.iter_mut() {
                    strip_directives(v, schema.lookup_struct(k).0);
                }
            }
            Some(Ty::Map(_)) => {
                for (k, v) in map.iter_mut() {
                    strip_directives(v, schema.lookup_struct(k).0);
                }
            }
            None => {
                map.retain(|k, _| !is_directive_key(k));
                for v in map.values_mut() {
                    strip_directives(v, schema);
                }
            }
            Some(Ty::List(_) | Ty::Scalar(_) | Ty::Any) => {}
        },
        Value::Array(list) => match schema.ty() {
            Some(Ty::List(elem)) => {
                let elem = schema.with(Some(elem));
                for v in list.iter_mut() {
                    strip_directives(v, elem);
                }
            }
            None => {
                for v in list.iter_mut() {
                    strip_directives(v, schema);
                }
            }
            _ => {}
        },
        _ => {}
    }
}
