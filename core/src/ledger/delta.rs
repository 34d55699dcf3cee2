//! [`StateDelta`]: the uncommitted changes of a transaction or a batch
//! (v0.6 `statemgmt.StateDelta`), its merge rule, its v0.6 wire encoding
//! (reference §5.4, used in the StateDelta partition and the SYNC_* messages)
//! and the per-transaction delta hash.
//!
//! Maps are `BTreeMap`s, so iteration, encoding and hashing are in sorted
//! order and deterministic (v0.6 encoded in Go map order; decoders accept any
//! order).

use std::collections::BTreeMap;

use super::codec::{ReadError, Reader, put_bytes, put_varint};
use crate::crypto::{Hash, hash};

/// The new value of a key and the committed value it replaces.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpdatedValue {
    /// The new value; `None` means the key is deleted.
    pub value: Option<Vec<u8>>,
    /// The committed value before the change; `None` if the key was absent.
    pub previous_value: Option<Vec<u8>>,
}

impl UpdatedValue {
    /// Whether this update deletes the key.
    pub fn is_delete(&self) -> bool {
        self.value.is_none()
    }
}

/// Updates of one chaincode, by key.
pub type ChaincodeUpdates = BTreeMap<String, UpdatedValue>;

/// Changes to the world state: chaincode id → key → [`UpdatedValue`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StateDelta {
    chaincodes: BTreeMap<String, ChaincodeUpdates>,
}

/// Why bytes are not a v0.6 state delta.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeltaDecodeError {
    /// A varint or a length-prefixed field is truncated or malformed.
    #[error("{what}: {source}")]
    Read {
        /// The field being read.
        what: &'static str,
        /// The failure.
        source: ReadError,
    },
    /// A value marker is neither 0 (nil) nor 1 (bytes follow).
    #[error("bad value marker {marker} at offset {offset}")]
    BadMarker {
        /// The marker read.
        marker: u64,
        /// Its offset.
        offset: usize,
    },
    /// A chaincode id or key is not UTF-8.
    #[error("{what} at offset {offset} is not UTF-8")]
    NotUtf8 {
        /// Which field.
        what: &'static str,
        /// Its offset.
        offset: usize,
    },
    /// A chaincode id appears twice.
    #[error("chaincode {chaincode} appears twice")]
    DuplicateChaincode {
        /// The chaincode id.
        chaincode: String,
    },
    /// A key appears twice within one chaincode.
    #[error("key {key:?} of chaincode {chaincode} appears twice")]
    DuplicateKey {
        /// The chaincode id.
        chaincode: String,
        /// The key.
        key: String,
    },
    /// Bytes remain after the delta.
    #[error("{count} trailing bytes after the delta")]
    TrailingBytes {
        /// How many.
        count: usize,
    },
}

impl StateDelta {
    /// An empty delta.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether the delta holds no chaincode.
    pub fn is_empty(&self) -> bool {
        self.chaincodes.is_empty()
    }

    /// Number of updated keys over all chaincodes.
    pub fn len(&self) -> usize {
        self.chaincodes.values().map(BTreeMap::len).sum()
    }

    /// The update of `key`, if the delta has one.
    pub fn get(&self, chaincode: &str, key: &str) -> Option<&UpdatedValue> {
        self.chaincodes.get(chaincode)?.get(key)
    }

    /// The updates of one chaincode, sorted by key.
    pub fn updates(&self, chaincode: &str) -> Option<&ChaincodeUpdates> {
        self.chaincodes.get(chaincode)
    }

    /// Every chaincode's updates, sorted by chaincode id.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &ChaincodeUpdates)> {
        self.chaincodes.iter()
    }

    /// Sets `key` to `value`. If the key already has an update only its value
    /// changes and the first `previous_value` is kept (v0.6 `set`).
    pub fn set(&mut self, chaincode: &str, key: &str, value: Vec<u8>, previous: Option<Vec<u8>>) {
        self.upsert(chaincode, key, Some(value), previous);
    }

    /// Deletes `key`, keeping the first `previous_value` (v0.6 `remove`).
    pub fn delete(&mut self, chaincode: &str, key: &str, previous: Option<Vec<u8>>) {
        self.upsert(chaincode, key, None, previous);
    }

    fn upsert(
        &mut self,
        chaincode: &str,
        key: &str,
        value: Option<Vec<u8>>,
        previous: Option<Vec<u8>>,
    ) {
        if !self.chaincodes.contains_key(chaincode) {
            self.chaincodes
                .insert(chaincode.to_owned(), ChaincodeUpdates::new());
        }
        let Some(updates) = self.chaincodes.get_mut(chaincode) else {
            return;
        };
        match updates.get_mut(key) {
            Some(existing) => existing.value = value,
            None => {
                updates.insert(
                    key.to_owned(),
                    UpdatedValue {
                        value,
                        previous_value: previous,
                    },
                );
            }
        }
    }

    /// Merges `other` (a later delta, e.g. a finished transaction's) into
    /// `self`: `other`'s values win, and for keys `self` already holds the
    /// previous value of `self` is kept (v0.6 `ApplyChanges`).
    pub fn apply_changes(&mut self, other: StateDelta) {
        for (chaincode, updates) in other.chaincodes {
            let mine = self.chaincodes.entry(chaincode).or_default();
            for (key, update) in updates {
                match mine.get_mut(&key) {
                    Some(existing) => existing.value = update.value,
                    None => {
                        mine.insert(key, update);
                    }
                }
            }
        }
    }

    /// v0.6 per-transaction delta hash (`StateDelta.ComputeCryptoHash`):
    /// hash over sorted chaincode ids, each followed by its sorted keys, each
    /// followed by its value (left out for deletes); `None` when empty.
    pub fn crypto_hash(&self) -> Option<Hash> {
        if self.is_empty() {
            return None;
        }
        let mut buf = Vec::new();
        for (chaincode, updates) in &self.chaincodes {
            buf.extend_from_slice(chaincode.as_bytes());
            for (key, update) in updates {
                buf.extend_from_slice(key.as_bytes());
                if let Some(value) = &update.value {
                    buf.extend_from_slice(value);
                }
            }
        }
        Some(hash(&buf))
    }

    /// The v0.6 wire encoding (§5.4), in sorted order: varint(#chaincodes),
    /// then per chaincode: bytes(id), varint(#keys), then per key: bytes(key),
    /// marked(value), marked(previous), where marked(None) = `0` and
    /// marked(Some(v)) = `1 ‖ bytes(v)`; bytes(x) = varint(len) ‖ x.
    pub fn encode(&self) -> Vec<u8> {
        let mut buf = Vec::new();
        put_varint(&mut buf, self.chaincodes.len() as u64);
        for (chaincode, updates) in &self.chaincodes {
            put_bytes(&mut buf, chaincode.as_bytes());
            put_varint(&mut buf, updates.len() as u64);
            for (key, update) in updates {
                put_bytes(&mut buf, key.as_bytes());
                put_marked(&mut buf, update.value.as_deref());
                put_marked(&mut buf, update.previous_value.as_deref());
            }
        }
        buf
    }

    /// Decodes the v0.6 wire encoding. Total: any input gives a delta or a
    /// typed error; lengths are checked against the remaining input before
    /// anything is allocated. An empty marked value (`1 ‖ 0`) decodes as
    /// `Some(vec![])`, as in v0.6.
    ///
    /// # Errors
    /// [`DeltaDecodeError`] naming the offending field.
    pub fn decode(bytes: &[u8]) -> Result<Self, DeltaDecodeError> {
        let mut r = Reader::new(bytes);
        let count = read_varint(&mut r, "chaincode count")?;
        let mut delta = StateDelta::new();
        for _ in 0..count {
            let chaincode = read_string(&mut r, "chaincode id")?;
            let updates = decode_updates(&mut r, &chaincode)?;
            if delta.chaincodes.contains_key(&chaincode) {
                return Err(DeltaDecodeError::DuplicateChaincode { chaincode });
            }
            delta.chaincodes.insert(chaincode, updates);
        }
        if !r.is_empty() {
            return Err(DeltaDecodeError::TrailingBytes {
                count: r.remaining(),
            });
        }
        Ok(delta)
    }
}

fn decode_updates(
    r: &mut Reader<'_>,
    chaincode: &str,
) -> Result<ChaincodeUpdates, DeltaDecodeError> {
    let count = read_varint(r, "key count")?;
    let mut updates = ChaincodeUpdates::new();
    for _ in 0..count {
        let key = read_string(r, "key")?;
        let value = read_marked(r, "value")?;
        let previous_value = read_marked(r, "previous value")?;
        if updates.contains_key(&key) {
            return Err(DeltaDecodeError::DuplicateKey {
                chaincode: chaincode.to_owned(),
                key,
            });
        }
        updates.insert(
            key,
            UpdatedValue {
                value,
                previous_value,
            },
        );
    }
    Ok(updates)
}

fn put_marked(buf: &mut Vec<u8>, value: Option<&[u8]>) {
    match value {
        None => buf.push(0),
        Some(v) => {
            buf.push(1);
            put_bytes(buf, v);
        }
    }
}

fn read_varint(r: &mut Reader<'_>, what: &'static str) -> Result<u64, DeltaDecodeError> {
    r.varint()
        .map_err(|source| DeltaDecodeError::Read { what, source })
}

fn read_string(r: &mut Reader<'_>, what: &'static str) -> Result<String, DeltaDecodeError> {
    let offset = r.offset();
    let bytes = r
        .bytes()
        .map_err(|source| DeltaDecodeError::Read { what, source })?;
    let text =
        std::str::from_utf8(bytes).map_err(|_| DeltaDecodeError::NotUtf8 { what, offset })?;
    Ok(text.to_owned())
}

fn read_marked(
    r: &mut Reader<'_>,
    what: &'static str,
) -> Result<Option<Vec<u8>>, DeltaDecodeError> {
    let offset = r.offset();
    match read_varint(r, what)? {
        0 => Ok(None),
        1 => {
            let bytes = r
                .bytes()
                .map_err(|source| DeltaDecodeError::Read { what, source })?;
            Ok(Some(bytes.to_vec()))
        }
        marker => Err(DeltaDecodeError::BadMarker { marker, offset }),
    }
}

#[cfg(test)]
#[path = "delta_tests.rs"]
mod tests;
