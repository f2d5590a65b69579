//! Shared helpers of the `memory` and `embedded` backends: revision checks, and historical
//! reads done by undoing the event log on top of the current state.
//!
//! Both backends keep the current key-values plus a log of every event above the compaction
//! floor. The state of a key at revision `r` is the `prev_kv` of its first event after `r`
//! (None when that event created the key), or its current value when it has no event after
//! `r`. [`overrides_at`] computes those per-key overrides and [`merge_range`] merges them into an
//! ordered scan of the current state.

use crate::{Error, Event, KeyValue, Result, Revision};
use std::collections::BTreeMap;

/// Whether `key` is in the range of `prefix`, above `start_after`.
pub(crate) fn in_range(key: &str, prefix: &str, start_after: Option<&str>) -> bool {
    key.starts_with(prefix) && start_after.is_none_or(|after| key > after)
}

/// The revision a read is served at: the requested one (checked against the floor and the
/// current revision) or the current one. `Some(r)` with `r <= 0` means "current", like etcd.
pub(crate) fn read_revision(
    requested: Option<Revision>,
    current: Revision,
    floor: Revision,
) -> Result<Revision> {
    match requested {
        Some(r) if r > 0 => {
            if r < floor {
                Err(Error::Compacted {
                    requested: r,
                    compacted: floor,
                })
            } else if r > current {
                Err(Error::FutureRevision {
                    requested: r,
                    current,
                })
            } else {
                Ok(r)
            }
        }
        _ => Ok(current),
    }
}

/// Per-key state at revision `at`, for every key in range touched by `events` (which must be
/// the events after `at`, in ascending revision order). `None` means "did not exist at `at`".
pub(crate) fn overrides_at(
    events: impl IntoIterator<Item = Event>,
    prefix: &str,
    start_after: Option<&str>,
) -> BTreeMap<String, Option<KeyValue>> {
    let mut overrides = BTreeMap::new();
    for ev in events {
        if in_range(&ev.kv.key, prefix, start_after) && !overrides.contains_key(&ev.kv.key) {
            overrides.insert(ev.kv.key, ev.prev_kv);
        }
    }
    overrides
}

/// Merge the ordered current key-values of a range with the `overrides` of a historical read,
/// returning at most `limit` (0 = all) key-values in key order and whether more follow.
pub(crate) fn merge_range<I>(
    current: I,
    overrides: BTreeMap<String, Option<KeyValue>>,
    limit: usize,
) -> Result<(Vec<KeyValue>, bool)>
where
    I: Iterator<Item = Result<KeyValue>>,
{
    let mut out = Vec::new();
    let mut current = current;
    let mut overrides = overrides.into_iter();
    let mut cur = current.next().transpose()?;
    let mut ovr = overrides.next();
    loop {
        // Take the smaller key of the two sources; an override replaces the current value.
        let take_current = match (&cur, &ovr) {
            (None, None) => break,
            (Some(c), Some((okey, _))) => c.key < *okey,
            (Some(_), None) => true,
            (None, Some(_)) => false,
        };
        let next = if take_current {
            std::mem::replace(&mut cur, current.next().transpose()?)
        } else {
            let taken = std::mem::replace(&mut ovr, overrides.next());
            if let (Some(c), Some((okey, _))) = (&cur, &taken) {
                if c.key == *okey {
                    cur = current.next().transpose()?;
                }
            }
            taken.and_then(|(_, v)| v)
        };
        if let Some(kv) = next {
            if limit > 0 && out.len() == limit {
                return Ok((out, true));
            }
            out.push(kv);
        }
    }
    Ok((out, false))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EventType;

    fn kv(key: &str, value: &str, c: Revision, m: Revision) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: value.into(),
            create_revision: c,
            mod_revision: m,
        }
    }

    #[test]
    fn undo_restores_old_state() {
        // rev 2: create a; rev 3: create b; rev 4: update a; rev 5: delete b; rev 6: create c
        let events = vec![
            Event {
                event_type: EventType::Put,
                kv: kv("a", "a2", 2, 4),
                prev_kv: Some(kv("a", "a1", 2, 2)),
            },
            Event {
                event_type: EventType::Delete,
                kv: kv("b", "b1", 3, 5),
                prev_kv: Some(kv("b", "b1", 3, 3)),
            },
            Event {
                event_type: EventType::Put,
                kv: kv("c", "c1", 6, 6),
                prev_kv: None,
            },
        ];
        let current = vec![kv("a", "a2", 2, 4), kv("c", "c1", 6, 6)];
        let ov = overrides_at(events, "", None);
        let (kvs, more) = merge_range(current.clone().into_iter().map(Ok), ov.clone(), 0).unwrap();
        assert_eq!(kvs, vec![kv("a", "a1", 2, 2), kv("b", "b1", 3, 3)]);
        assert!(!more);
        let (kvs, more) = merge_range(current.into_iter().map(Ok), ov, 1).unwrap();
        assert_eq!(kvs, vec![kv("a", "a1", 2, 2)]);
        assert!(more);
    }

    #[test]
    fn read_revision_bounds() {
        assert_eq!(read_revision(None, 10, 3).unwrap(), 10);
        assert_eq!(read_revision(Some(0), 10, 3).unwrap(), 10);
        assert_eq!(read_revision(Some(3), 10, 3).unwrap(), 3);
        assert!(matches!(
            read_revision(Some(2), 10, 3),
            Err(Error::Compacted { .. })
        ));
        assert!(matches!(
            read_revision(Some(11), 10, 3),
            Err(Error::FutureRevision { .. })
        ));
    }
}
