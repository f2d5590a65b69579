//! On-disk encoding of the `embedded` backend's key-values and log events.
//!
//! Little-endian, length-prefixed, versioned by the `format` meta entry. Decoding never panics:
//! malformed bytes give [`Error::Backend`].
//!
//! - key-value (table `kvs`, key = the key): `create i64 | mod i64 | value…`
//! - event (table `log`, key = revision): `tag u8 | key_len u32 | key | create i64 | mod i64 |`
//!   then for a put `value_len u32 | value | has_prev u8 [| prev_create i64 | prev_mod i64 |
//!   prev_value_len u32 | prev_value]`, for a delete `prev_mod i64 | value_len u32 | value`
//!   (a delete's value and create revision are those of the deleted key-value).

use crate::{Error, Event, EventType, KeyValue, Result};

const TAG_PUT: u8 = 1;
const TAG_DELETE: u8 = 2;

/// Encode the stored form of a key-value (the key is the table key).
pub(crate) fn encode_kv(kv: &KeyValue) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + kv.value.len());
    out.extend_from_slice(&kv.create_revision.to_le_bytes());
    out.extend_from_slice(&kv.mod_revision.to_le_bytes());
    out.extend_from_slice(&kv.value);
    out
}

pub(crate) fn decode_kv(key: &str, bytes: &[u8]) -> Result<KeyValue> {
    let mut r = Reader {
        bytes,
        pos: 0,
        what: "key-value",
    };
    let create_revision = r.i64()?;
    let mod_revision = r.i64()?;
    let value = r.rest().to_vec();
    Ok(KeyValue {
        key: key.to_string(),
        value,
        create_revision,
        mod_revision,
    })
}

pub(crate) fn encode_event(ev: &Event) -> Vec<u8> {
    let prev_len = ev.prev_kv.as_ref().map_or(0, |p| p.value.len() + 20);
    let mut out = Vec::with_capacity(32 + ev.kv.key.len() + ev.kv.value.len() + prev_len);
    let put_bytes = |out: &mut Vec<u8>, b: &[u8]| {
        // Lengths are bounded by redb's value size limit (< 4 GiB).
        out.extend_from_slice(&(b.len() as u32).to_le_bytes());
        out.extend_from_slice(b);
    };
    match ev.event_type {
        EventType::Put => out.push(TAG_PUT),
        EventType::Delete => out.push(TAG_DELETE),
    }
    put_bytes(&mut out, ev.kv.key.as_bytes());
    out.extend_from_slice(&ev.kv.create_revision.to_le_bytes());
    out.extend_from_slice(&ev.kv.mod_revision.to_le_bytes());
    match (ev.event_type, &ev.prev_kv) {
        (EventType::Put, prev) => {
            put_bytes(&mut out, &ev.kv.value);
            match prev {
                None => out.push(0),
                Some(p) => {
                    out.push(1);
                    out.extend_from_slice(&p.create_revision.to_le_bytes());
                    out.extend_from_slice(&p.mod_revision.to_le_bytes());
                    put_bytes(&mut out, &p.value);
                }
            }
        }
        (EventType::Delete, prev) => {
            let prev_mod = prev.as_ref().map_or(0, |p| p.mod_revision);
            out.extend_from_slice(&prev_mod.to_le_bytes());
            put_bytes(&mut out, &ev.kv.value);
        }
    }
    out
}

/// The key of an encoded event, without decoding the rest.
pub(crate) fn event_key(bytes: &[u8]) -> Result<&str> {
    let mut r = Reader {
        bytes,
        pos: 0,
        what: "event",
    };
    r.u8()?;
    r.str()
}

pub(crate) fn decode_event(bytes: &[u8]) -> Result<Event> {
    let mut r = Reader {
        bytes,
        pos: 0,
        what: "event",
    };
    let tag = r.u8()?;
    let key = r.str()?.to_string();
    let create_revision = r.i64()?;
    let mod_revision = r.i64()?;
    match tag {
        TAG_PUT => {
            let value = r.bytes()?.to_vec();
            let prev_kv = match r.u8()? {
                0 => None,
                1 => {
                    let create_revision = r.i64()?;
                    let mod_revision = r.i64()?;
                    let value = r.bytes()?.to_vec();
                    Some(KeyValue {
                        key: key.clone(),
                        value,
                        create_revision,
                        mod_revision,
                    })
                }
                _ => return Err(r.corrupt()),
            };
            let kv = KeyValue {
                key,
                value,
                create_revision,
                mod_revision,
            };
            Ok(Event {
                event_type: EventType::Put,
                kv,
                prev_kv,
            })
        }
        TAG_DELETE => {
            let prev_mod = r.i64()?;
            let value = r.bytes()?.to_vec();
            let prev = KeyValue {
                key: key.clone(),
                value: value.clone(),
                create_revision,
                mod_revision: prev_mod,
            };
            let kv = KeyValue {
                key,
                value,
                create_revision,
                mod_revision,
            };
            Ok(Event {
                event_type: EventType::Delete,
                kv,
                prev_kv: Some(prev),
            })
        }
        _ => Err(r.corrupt()),
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    what: &'static str,
}

impl<'a> Reader<'a> {
    fn corrupt(&self) -> Error {
        Error::Backend(format!(
            "corrupt {} record in store file (offset {})",
            self.what, self.pos
        ))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|end| *end <= self.bytes.len());
        let Some(end) = end else {
            return Err(self.corrupt());
        };
        let out = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }

    fn i64(&mut self) -> Result<i64> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(i64::from_le_bytes(a))
    }

    fn bytes(&mut self) -> Result<&'a [u8]> {
        let b = self.take(4)?;
        let mut a = [0u8; 4];
        a.copy_from_slice(b);
        self.take(u32::from_le_bytes(a) as usize)
    }

    fn str(&mut self) -> Result<&'a str> {
        let b = self.bytes()?;
        std::str::from_utf8(b).map_err(|_| self.corrupt())
    }

    fn rest(&mut self) -> &'a [u8] {
        let out = &self.bytes[self.pos..];
        self.pos = self.bytes.len();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(key: &str, value: &str, c: i64, m: i64) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: value.into(),
            create_revision: c,
            mod_revision: m,
        }
    }

    #[test]
    fn roundtrip() {
        let events = [
            Event {
                event_type: EventType::Put,
                kv: kv("/a", "x", 2, 2),
                prev_kv: None,
            },
            Event {
                event_type: EventType::Put,
                kv: kv("/a", "y", 2, 3),
                prev_kv: Some(kv("/a", "x", 2, 2)),
            },
            Event {
                event_type: EventType::Delete,
                kv: kv("/a", "y", 2, 4),
                prev_kv: Some(kv("/a", "y", 2, 3)),
            },
        ];
        for ev in events {
            let bytes = encode_event(&ev);
            assert_eq!(decode_event(&bytes).unwrap(), ev);
            assert_eq!(event_key(&bytes).unwrap(), "/a");
            for cut in 0..bytes.len() {
                assert!(decode_event(&bytes[..cut]).is_err());
            }
        }
        let k = kv("/b", "value", 5, 7);
        assert_eq!(decode_kv("/b", &encode_kv(&k)).unwrap(), k);
        assert!(decode_kv("/b", &[1, 2, 3]).is_err());
    }
}
