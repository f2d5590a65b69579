//! Indexed completion mode: the completion index of a pod (annotation and label
//! `batch.kubernetes.io/job-completion-index`), `status.completedIndexes` as ordered intervals
//! (`1,3-5`), which indexes still need a pod, which active pods hold a duplicate or invalid
//! index, and the `JOB_COMPLETION_INDEX` environment variable upstream injects into pods.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{EnvVar, EnvVarSource, ObjectFieldSelector, Pod, PodTemplateSpec};

/// Annotation and label carrying a pod's completion index.
pub const COMPLETION_INDEX: &str = "batch.kubernetes.io/job-completion-index";
/// The environment variable holding the index inside containers.
pub const COMPLETION_INDEX_ENV: &str = "JOB_COMPLETION_INDEX";

/// The completion index annotation of a pod, if it is a valid non-negative integer.
pub fn completion_index(pod: &Pod) -> Option<i32> {
    let v = pod.metadata.annotations.as_ref()?.get(COMPLETION_INDEX)?;
    let ix: i32 = v.parse().ok()?;
    (ix >= 0 && v.bytes().all(|b| b.is_ascii_digit())).then_some(ix)
}

/// The index of a pod if it is valid for a job with `completions`.
pub fn valid_index(pod: &Pod, completions: i32) -> Option<i32> {
    completion_index(pod).filter(|ix| *ix < completions)
}

/// Sorted, disjoint, inclusive intervals of indexes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Intervals(Vec<(i32, i32)>);

impl Intervals {
    /// Parses `1,3-5`; malformed parts are ignored and indexes are clipped below
    /// `completions`, as upstream does.
    pub fn parse(s: &str, completions: i32) -> Intervals {
        let mut set = Vec::new();
        for part in s.split(',').filter(|p| !p.is_empty()) {
            let (a, b) = match part.split_once('-') {
                Some((a, b)) => (a.parse::<i32>(), b.parse::<i32>()),
                None => (part.parse::<i32>(), part.parse::<i32>()),
            };
            let (Ok(a), Ok(b)) = (a, b) else {
                continue;
            };
            if a < 0 || b < a || a >= completions {
                continue;
            }
            set.push((a, b.min(completions - 1)));
        }
        Intervals::from_sorted_pairs(set)
    }

    fn from_sorted_pairs(mut pairs: Vec<(i32, i32)>) -> Intervals {
        pairs.sort_unstable();
        let mut out: Vec<(i32, i32)> = Vec::with_capacity(pairs.len());
        for (a, b) in pairs {
            match out.last_mut() {
                Some(last) if a <= last.1.saturating_add(1) => last.1 = last.1.max(b),
                _ => out.push((a, b)),
            }
        }
        Intervals(out)
    }

    /// These intervals plus `indexes`.
    pub fn with_indexes(&self, indexes: impl IntoIterator<Item = i32>) -> Intervals {
        let mut pairs = self.0.clone();
        pairs.extend(indexes.into_iter().map(|i| (i, i)));
        Intervals::from_sorted_pairs(pairs)
    }

    /// How many indexes the intervals hold.
    pub fn total(&self) -> i32 {
        self.0.iter().map(|(a, b)| b - a + 1).sum()
    }

    /// Whether `ix` is in the intervals.
    pub fn has(&self, ix: i32) -> bool {
        self.0.iter().any(|(a, b)| (*a..=*b).contains(&ix))
    }
}

impl std::fmt::Display for Intervals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, (a, b)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            match b - a {
                0 => write!(f, "{a}")?,
                1 => write!(f, "{a},{b}")?,
                _ => write!(f, "{a}-{b}")?,
            }
        }
        Ok(())
    }
}

/// The first `count` indexes below `completions` that have neither succeeded nor an active pod.
pub fn first_pending_indexes(
    succeeded: &Intervals,
    active: &BTreeSet<i32>,
    count: usize,
    completions: i32,
) -> Vec<i32> {
    (0..completions)
        .filter(|ix| !succeeded.has(*ix) && !active.contains(ix))
        .take(count)
        .collect()
}

/// `<job>-<index>-`, shortened so the generated name stays within 63 characters.
pub fn pod_generate_name(job: &str, index: i32) -> String {
    const MAX_GENERATED_NAME: usize = 58;
    let suffix = format!("-{index}-");
    let prefix = format!("{job}{suffix}");
    if prefix.len() <= MAX_GENERATED_NAME {
        return prefix;
    }
    let mut keep = MAX_GENERATED_NAME.saturating_sub(suffix.len());
    while !job.is_char_boundary(keep) {
        keep -= 1;
    }
    format!("{}{suffix}", &job[..keep])
}

/// Splits active pods into those to remove (no valid index, or a duplicate of an index held by
/// a more advanced pod) and those to keep. `rank_less(a, b)` orders pods from "delete first".
pub fn duplicated_index_pods<'a>(
    pods: &[&'a Pod],
    completions: i32,
    rank_less: impl Fn(&Pod, &Pod) -> std::cmp::Ordering,
) -> (Vec<&'a Pod>, Vec<&'a Pod>) {
    let mut rm = Vec::new();
    let mut by_index: BTreeMap<i32, Vec<&'a Pod>> = BTreeMap::new();
    for p in pods {
        match valid_index(p, completions) {
            Some(ix) => by_index.entry(ix).or_default().push(p),
            None => rm.push(*p),
        }
    }
    let mut left = Vec::new();
    for (_, mut same) in by_index {
        same.sort_by(|a, b| rank_less(a, b));
        if let Some(keep) = same.pop() {
            left.push(keep);
        }
        rm.extend(same);
    }
    (rm, left)
}

/// Adds the index annotation, label and hostname `<job>-<index>` to a pod template.
pub fn set_index(template: &mut PodTemplateSpec, job: &str, index: i32) {
    let meta = template.metadata.get_or_insert_with(Default::default);
    meta.annotations
        .get_or_insert_with(Default::default)
        .insert(COMPLETION_INDEX.into(), index.to_string());
    meta.labels
        .get_or_insert_with(Default::default)
        .insert(COMPLETION_INDEX.into(), index.to_string());
    if let Some(spec) = template.spec.as_mut() {
        spec.hostname = Some(format!("{job}-{index}"));
    }
}

/// Adds `JOB_COMPLETION_INDEX` (from the index annotation) to every container and init
/// container that does not define it yet.
pub fn add_index_env(template: &mut PodTemplateSpec) {
    let Some(spec) = template.spec.as_mut() else {
        return;
    };
    let env = EnvVar {
        name: COMPLETION_INDEX_ENV.into(),
        value: None,
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                api_version: None,
                field_path: format!("metadata.annotations['{COMPLETION_INDEX}']"),
            }),
            ..Default::default()
        }),
    };
    let containers = spec
        .containers
        .iter_mut()
        .chain(spec.init_containers.iter_mut().flatten());
    for c in containers {
        let vars = c.env.get_or_insert_with(Vec::new);
        if !vars.iter().any(|v| v.name == COMPLETION_INDEX_ENV) {
            vars.push(env.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_parse_and_print() {
        let cases = [
            ("", 5, "", 0),
            ("0", 5, "0", 1),
            ("0,1", 5, "0,1", 2),
            ("0-2,4", 5, "0-2,4", 4),
            ("3-9", 5, "3,4", 2),
            ("1,x,2-1,7", 5, "1", 1),
            ("4,0-1,2", 10, "0-2,4", 4),
        ];
        for (s, completions, want, total) in cases {
            let iv = Intervals::parse(s, completions);
            assert_eq!(iv.to_string(), want, "{s}");
            assert_eq!(iv.total(), total, "{s}");
        }
        let iv = Intervals::parse("1,5-6", 10).with_indexes([2, 3, 8]);
        assert_eq!(iv.to_string(), "1-3,5,6,8");
        assert!(iv.has(6) && !iv.has(4));
    }

    #[test]
    fn pending_indexes() {
        let succeeded = Intervals::parse("0,2", 6);
        let active = BTreeSet::from([1, 4]);
        assert_eq!(first_pending_indexes(&succeeded, &active, 5, 6), vec![3, 5]);
        assert_eq!(first_pending_indexes(&succeeded, &active, 1, 6), vec![3]);
    }

    #[test]
    fn generate_names() {
        assert_eq!(pod_generate_name("pi", 3), "pi-3-");
        let long = "a".repeat(70);
        let g = pod_generate_name(&long, 12);
        assert_eq!(g.len(), 58);
        assert!(g.ends_with("a-12-"));
    }
}
