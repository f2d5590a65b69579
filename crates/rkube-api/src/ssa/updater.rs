//! Ownership bookkeeping of managers, as structured-merge-diff's `merge.Updater` does it.
//!
//! - **Update** (create, update, patch): every field the write added or modified is taken from
//!   the other managers and given to the writer; removed fields leave every manager.
//! - **Apply**: the configuration is merged into the live object; the applier owns exactly the
//!   configuration's fields; fields it owned before and no longer applies are removed from the
//!   object unless another manager owns them (prune); fields owned by others whose values the
//!   apply changes are conflicts, unless forced, which takes them over.

use std::collections::BTreeMap;

use serde_json::Value;

use super::fieldpath::{value_equals, Path, Set};
use super::typed::{Comparison, Typed};

/// The fields one manager owns, at an API version, and whether it got them by applying.
#[derive(Debug, Clone)]
pub(crate) struct VersionedSet {
    pub set: Set,
    pub api_version: String,
    pub applied: bool,
}

/// Managers by identifier.
pub(crate) type Managers = BTreeMap<String, VersionedSet>;

/// A field another manager owns that an apply would change.
#[derive(Debug, Clone)]
pub(crate) struct RawConflict {
    pub manager: String,
    pub path: Path,
}

/// Why an apply failed inside the updater.
#[derive(Debug)]
pub(crate) enum Failure {
    Conflicts(Vec<RawConflict>),
    Invalid(Vec<String>),
}

pub(crate) struct Updater {
    pub typed: Typed,
    /// Fields nobody owns (upstream's reset fields: `status` of a main resource, …).
    pub ignored: Set,
}

impl Updater {
    fn compare(&self, old: &Value, new: &Value) -> Comparison {
        self.typed.compare(old, new).exclude(&self.ignored)
    }

    /// Moves changed fields away from every manager but `workflow`; conflicts when `!force`.
    fn update_managers(
        &self,
        old: &Value,
        new: &Value,
        managers: &mut Managers,
        workflow: &str,
        force: bool,
    ) -> Result<Comparison, Vec<RawConflict>> {
        let compare = self.compare(old, new);
        let changed = compare.modified.union(&compare.added);
        let mut conflicts: Vec<(String, Set)> = Vec::new();
        for (manager, vs) in managers.iter() {
            if manager == workflow {
                continue;
            }
            let conflict = vs.set.intersection(&changed);
            if !conflict.is_empty() {
                conflicts.push((manager.clone(), conflict));
            }
        }
        if !force && !conflicts.is_empty() {
            let mut out = Vec::new();
            for (manager, set) in conflicts {
                for path in set.paths() {
                    out.push(RawConflict {
                        manager: manager.clone(),
                        path,
                    });
                }
            }
            return Err(out);
        }
        for (manager, conflict) in conflicts {
            if let Some(vs) = managers.get_mut(&manager) {
                vs.set = vs.set.difference(&conflict);
            }
        }
        if !compare.removed.is_empty() {
            for (manager, vs) in managers.iter_mut() {
                if manager != workflow {
                    vs.set = vs.set.difference(&compare.removed);
                }
            }
        }
        managers.retain(|_, vs| !vs.set.is_empty());
        Ok(compare)
    }

    /// Records a non-apply write by `manager`.
    pub(crate) fn update(
        &self,
        live: &Value,
        new: &Value,
        version: &str,
        managers: &mut Managers,
        manager: &str,
    ) {
        let compare = match self.update_managers(live, new, managers, manager, true) {
            Ok(compare) => compare,
            Err(_) => return,
        };
        let previous = managers
            .get(manager)
            .map(|vs| vs.set.clone())
            .unwrap_or_default();
        let set = previous
            .difference(&compare.removed)
            .union(&compare.modified)
            .union(&compare.added)
            .recursive_difference(&self.ignored);
        if set.is_empty() {
            managers.remove(manager);
        } else {
            managers.insert(
                manager.to_string(),
                VersionedSet {
                    set,
                    api_version: version.to_string(),
                    applied: false,
                },
            );
        }
    }

    /// Applies `config` as `manager`: the new object (`None` when nothing changed).
    pub(crate) fn apply(
        &self,
        live: &Value,
        config: &Value,
        version: &str,
        managers: &mut Managers,
        manager: &str,
        force: bool,
    ) -> Result<Option<Value>, Failure> {
        let merged = self.typed.merge(live, config).map_err(Failure::Invalid)?;
        let last = managers.get(manager).map(|vs| vs.set.clone());
        let set = self
            .typed
            .field_set(config)
            .recursive_difference(&self.ignored);
        managers.insert(
            manager.to_string(),
            VersionedSet {
                set,
                api_version: version.to_string(),
                applied: true,
            },
        );
        let new = match last {
            Some(last) if !last.is_empty() => self.prune(&merged, managers, &last),
            _ => merged,
        };
        let mut updated = managers.clone();
        self.update_managers(live, &new, &mut updated, manager, force)
            .map_err(Failure::Conflicts)?;
        *managers = updated;
        if value_equals(live, &new) {
            Ok(None)
        } else {
            Ok(Some(new))
        }
    }

    /// Removes what the applier owned last time and no longer applies, unless another
    /// manager (or this configuration) owns it, and keeps items it never owned.
    fn prune(&self, merged: &Value, managers: &Managers, last: &Set) -> Value {
        let typed = &self.typed;
        let ensure = |s: &Set| typed.ensure_named_fields_are_members(s);
        let pruned = typed.remove_items(merged, &ensure(last));

        // Add back what some manager owns.
        let mut managed = Set::new();
        for vs in managers.values() {
            managed = managed.union(&vs.set);
        }
        let merged_set = ensure(&typed.field_set(merged));
        let pruned_set = ensure(&typed.field_set(&pruned));
        let pruned = typed.remove_items(
            merged,
            &merged_set.difference(&pruned_set.union(&ensure(&managed))),
        );

        // Add back what was removed but never owned by the applier.
        let pruned_set = ensure(&typed.field_set(&pruned));
        typed.remove_items(
            merged,
            &merged_set
                .difference(&pruned_set)
                .intersection(&ensure(last)),
        )
    }
}
