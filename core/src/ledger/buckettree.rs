//! The v0.6 bucket-tree state hash (reference §5.3, `statemgmt/buckettree`).
//!
//! Keys hash (FNV-1a-32 of the composite key, mod `num_buckets`, plus one)
//! into leaf buckets at the lowest level; each level above groups
//! `max_grouping` buckets, up to a single root at level 0. A leaf's hash is
//! computed from its data nodes; an internal node is nil with no non-nil
//! child, propagates a single non-nil child's hash unchanged, and otherwise
//! hashes the concatenation of its non-nil children's hashes in order. The
//! state hash is the root's hash; an empty state hashes to `None` (nil).
//!
//! Storage (State partition, see [`super::keys`]): data nodes at
//! `ordered-varint(bucket) ‖ compositeKey`; internal nodes (levels
//! `0..lowest`) at `0x00 ‖ varint(level) ‖ varint(bucket)`, holding v0.6's
//! encoding of their children: for each of the `max_grouping` child slots in
//! order, `varint(len) ‖ hash`, with len 0 for a nil child. A node whose
//! children are all nil is deleted. Leaves have no node of their own. We also
//! maintain the ordered index `0xFF ‖ compositeKey → value` used for range
//! reads.
//!
//! [`apply_delta`] updates incrementally, reading only the data nodes of the
//! leaves a delta touches and the internal nodes on their paths to the root.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use super::codec::{Reader, decode_ordered_varint, put_bytes, put_varint};
use super::delta::StateDelta;
use super::error::LedgerError;
use super::keys::{
    bucket_node_key, composite_key, data_node_key, data_node_prefix, split_composite_key,
    state_index_key,
};
use super::kv::{KvRead, Partition, WriteBatch};
use super::scan;
use crate::crypto::{HASH_LEN, Hash, hash, hash_parts};

/// Largest accepted `max_grouping` (bounds the size of a node in memory).
pub const MAX_GROUPING_LIMIT: u64 = 1 << 16;

/// Why a bucket-tree configuration is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// Fewer than two buckets (v0.6 cannot build a tree of one).
    #[error("numBuckets must be at least 2, got {0}")]
    TooFewBuckets(u64),
    /// Grouping below two never reaches a root.
    #[error("maxGroupingAtEachLevel must be between 2 and {MAX_GROUPING_LIMIT}, got {0}")]
    BadGrouping(u64),
}

/// Shape of the bucket tree (`ledger.state.dataStructure.configs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketTreeConfig {
    num_buckets: u64,
    max_grouping: u64,
    /// Buckets per level; index 0 is the root level (one bucket).
    level_sizes: Vec<u64>,
}

impl Default for BucketTreeConfig {
    /// v0.6 `core.yaml`: 1000003 buckets, grouping 5.
    fn default() -> Self {
        Self::build(Self::DEFAULT_NUM_BUCKETS, Self::DEFAULT_MAX_GROUPING)
    }
}

impl BucketTreeConfig {
    /// `numBuckets` in v0.6 `core.yaml`.
    pub const DEFAULT_NUM_BUCKETS: u64 = 1_000_003;
    /// `maxGroupingAtEachLevel` in v0.6 `core.yaml`.
    pub const DEFAULT_MAX_GROUPING: u64 = 5;

    /// A tree of `num_buckets` leaves grouped `max_grouping` at a time.
    ///
    /// # Errors
    /// [`ConfigError`] for fewer than 2 buckets or a grouping outside
    /// `2..=MAX_GROUPING_LIMIT`.
    pub fn new(num_buckets: u64, max_grouping: u64) -> Result<Self, ConfigError> {
        if num_buckets < 2 {
            return Err(ConfigError::TooFewBuckets(num_buckets));
        }
        if !(2..=MAX_GROUPING_LIMIT).contains(&max_grouping) {
            return Err(ConfigError::BadGrouping(max_grouping));
        }
        Ok(Self::build(num_buckets, max_grouping))
    }

    fn build(num_buckets: u64, max_grouping: u64) -> Self {
        let mut level_sizes = vec![num_buckets];
        let mut current = num_buckets;
        while current > 1 {
            current = current.div_ceil(max_grouping.max(2));
            level_sizes.push(current);
        }
        level_sizes.reverse();
        BucketTreeConfig {
            num_buckets,
            max_grouping,
            level_sizes,
        }
    }

    /// Number of leaf buckets.
    pub fn num_buckets(&self) -> u64 {
        self.num_buckets
    }

    /// Children per internal node.
    pub fn max_grouping(&self) -> u64 {
        self.max_grouping
    }

    /// The leaf level (the root is level 0).
    pub fn lowest_level(&self) -> u32 {
        u32::try_from(self.level_sizes.len().saturating_sub(1)).unwrap_or(u32::MAX)
    }

    /// Buckets at `level`, if the level exists.
    pub fn num_buckets_at(&self, level: u32) -> Option<u64> {
        self.level_sizes.get(usize::try_from(level).ok()?).copied()
    }

    /// Leaf bucket of a composite key: FNV-1a-32 mod `num_buckets`, plus 1.
    pub fn bucket_of(&self, composite: &[u8]) -> u64 {
        u64::from(fnv1a32(composite)) % self.num_buckets + 1
    }

    /// Parent bucket of `bucket` and its child slot in the parent.
    fn parent_of(&self, bucket: u64) -> (u64, usize) {
        let zero_based = bucket.saturating_sub(1);
        let slot = usize::try_from(zero_based % self.max_grouping).unwrap_or(usize::MAX);
        (zero_based / self.max_grouping + 1, slot)
    }

    fn grouping(&self) -> usize {
        usize::try_from(self.max_grouping).unwrap_or(usize::MAX)
    }
}

/// 32-bit FNV-1a (Go `hash/fnv` `New32a`).
pub fn fnv1a32(data: &[u8]) -> u32 {
    data.iter().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(*b)).wrapping_mul(0x0100_0193)
    })
}

/// The outcome of applying a delta to the bucket tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateUpdate {
    /// The new state hash (`None` for an empty state).
    pub state_hash: Option<Hash>,
    /// Data-node, bucket-node and index writes that make the store match.
    pub writes: WriteBatch,
}

/// Child hashes of one internal node, one slot per possible child.
type Children = Vec<Option<Hash>>;

/// One key's change inside a leaf bucket.
struct LeafUpdate<'a> {
    composite: Vec<u8>,
    value: Option<&'a [u8]>,
}

/// Applies `delta` to the committed tree in `store`: the new state hash and
/// the State-partition writes (data nodes, ordered index, changed internal
/// nodes). Only the leaves the delta touches are read, then the nodes on
/// their paths to the root. An empty delta yields the committed hash and no
/// writes.
///
/// # Errors
/// Store failures and corrupt stored nodes.
pub fn apply_delta<S: KvRead + ?Sized>(
    store: &S,
    config: &BucketTreeConfig,
    delta: &StateDelta,
) -> Result<StateUpdate, LedgerError> {
    let mut writes = WriteBatch::new();
    let mut changed = BTreeMap::new();
    for (bucket, updates) in group_by_bucket(config, delta) {
        let leaf = update_leaf(store, bucket, &updates, &mut writes)?;
        changed.insert(bucket, leaf);
    }
    let state_hash = if changed.is_empty() {
        committed_state_hash(store, config)?
    } else {
        propagate(store, config, changed, &mut writes)?
    };
    Ok(StateUpdate { state_hash, writes })
}

/// The state hash of the committed tree (the root node's hash).
///
/// # Errors
/// Store failures and a corrupt root node.
pub fn committed_state_hash<S: KvRead + ?Sized>(
    store: &S,
    config: &BucketTreeConfig,
) -> Result<Option<Hash>, LedgerError> {
    Ok(node_hash(&load_node(store, config, 0, 1)?))
}

fn group_by_bucket<'a>(
    config: &BucketTreeConfig,
    delta: &'a StateDelta,
) -> BTreeMap<u64, Vec<LeafUpdate<'a>>> {
    let mut by_bucket: BTreeMap<u64, Vec<LeafUpdate<'a>>> = BTreeMap::new();
    for (chaincode, updates) in delta.iter() {
        for (key, update) in updates {
            let composite = composite_key(chaincode, key);
            let bucket = config.bucket_of(&composite);
            let value = update.value.as_deref();
            by_bucket
                .entry(bucket)
                .or_default()
                .push(LeafUpdate { composite, value });
        }
    }
    for updates in by_bucket.values_mut() {
        updates.sort_by(|a, b| a.composite.cmp(&b.composite));
    }
    by_bucket
}

/// Reads the data nodes of leaf `bucket`, merges `updates` (sorted) into
/// them, returns the new leaf hash and records the data-node and index writes.
fn update_leaf<S: KvRead + ?Sized>(
    store: &S,
    bucket: u64,
    updates: &[LeafUpdate<'_>],
    writes: &mut WriteBatch,
) -> Result<Option<Hash>, LedgerError> {
    let existing = read_leaf(store, bucket)?;
    let prefix_len = data_node_prefix(bucket).len();
    let mut current = Vec::with_capacity(existing.len());
    for (key, value) in &existing {
        let composite = key.get(prefix_len..).ok_or_else(|| {
            LedgerError::corrupt_state(key, "data node key shorter than its prefix")
        })?;
        current.push((composite, value.as_slice()));
    }
    let merged = merge_sorted(&current, updates);
    let leaf = leaf_hash(&merged)?;
    for update in updates {
        let node_key = data_node_key(bucket, &update.composite);
        let index_key = state_index_key(&update.composite);
        match update.value {
            Some(value) => {
                writes.put(Partition::State, node_key, value.to_vec());
                writes.put(Partition::State, index_key, value.to_vec());
            }
            None => {
                writes.delete(Partition::State, node_key);
                writes.delete(Partition::State, index_key);
            }
        }
    }
    Ok(leaf)
}

/// Stored key/value pairs.
type Entries = Vec<(Vec<u8>, Vec<u8>)>;

fn read_leaf<S: KvRead + ?Sized>(store: &S, bucket: u64) -> Result<Entries, LedgerError> {
    let next = bucket.checked_add(1).ok_or(LedgerError::Overflow {
        what: "bucket number",
    })?;
    let start = data_node_prefix(bucket);
    let end = data_node_prefix(next);
    Ok(store.range(Partition::State, &start, &end, usize::MAX)?)
}

/// Merges sorted committed entries with sorted updates: updates win, deletes
/// drop the key.
fn merge_sorted<'a>(
    current: &[(&'a [u8], &'a [u8])],
    updates: &'a [LeafUpdate<'a>],
) -> Vec<(&'a [u8], &'a [u8])> {
    let mut out = Vec::with_capacity(current.len() + updates.len());
    let mut cur = current.iter().peekable();
    let mut upd = updates.iter().peekable();
    loop {
        let order = match (cur.peek(), upd.peek()) {
            (None, None) => break,
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (Some((c, _)), Some(u)) => (*c).cmp(u.composite.as_slice()),
        };
        if order == Ordering::Less {
            if let Some(entry) = cur.next() {
                out.push(*entry);
            }
            continue;
        }
        if order == Ordering::Equal {
            cur.next();
        }
        if let Some(LeafUpdate {
            composite,
            value: Some(value),
        }) = upd.next()
        {
            out.push((composite.as_slice(), *value));
        }
    }
    out
}

/// v0.6 leaf hash over entries sorted by composite key: per chaincode,
/// `varint(len) ‖ id ‖ varint(#keys)`, then per key `varint(len) ‖ key ‖
/// varint(len) ‖ value`; `None` for an empty leaf.
fn leaf_hash(entries: &[(&[u8], &[u8])]) -> Result<Option<Hash>, LedgerError> {
    if entries.is_empty() {
        return Ok(None);
    }
    let mut split = Vec::with_capacity(entries.len());
    for (composite, value) in entries {
        let (chaincode, key) = split_composite_key(composite)
            .ok_or_else(|| LedgerError::corrupt_state(composite, "composite key has no 0x00"))?;
        split.push((chaincode, key, *value));
    }
    // Each field carries a varint length of at most 10 bytes.
    let size: usize = split
        .iter()
        .map(|(chaincode, key, value)| chaincode.len() + key.len() + value.len() + 40)
        .sum();
    let mut buf = Vec::with_capacity(size);
    for group in split.chunk_by(|a, b| a.0 == b.0) {
        let Some((chaincode, _, _)) = group.first() else {
            continue;
        };
        put_bytes(&mut buf, chaincode);
        put_varint(&mut buf, group.len() as u64);
        for (_, key, value) in group {
            put_bytes(&mut buf, key);
            put_bytes(&mut buf, value);
        }
    }
    Ok(Some(hash(&buf)))
}

/// Recomputes the internal nodes above the `changed` leaves, level by level,
/// recording their writes; returns the root hash.
fn propagate<S: KvRead + ?Sized>(
    store: &S,
    config: &BucketTreeConfig,
    mut changed: BTreeMap<u64, Option<Hash>>,
    writes: &mut WriteBatch,
) -> Result<Option<Hash>, LedgerError> {
    for level in (0..config.lowest_level()).rev() {
        let mut parents: BTreeMap<u64, Vec<(usize, Option<Hash>)>> = BTreeMap::new();
        for (bucket, child_hash) in changed {
            let (parent, slot) = config.parent_of(bucket);
            parents.entry(parent).or_default().push((slot, child_hash));
        }
        let mut next = BTreeMap::new();
        for (bucket, updates) in parents {
            let mut children = load_node(store, config, level, bucket)?;
            for (slot, child_hash) in updates {
                if let Some(entry) = children.get_mut(slot) {
                    *entry = child_hash;
                }
            }
            write_node(writes, level, bucket, &children);
            next.insert(bucket, node_hash(&children));
        }
        changed = next;
    }
    Ok(changed.get(&1).copied().flatten())
}

fn write_node(writes: &mut WriteBatch, level: u32, bucket: u64, children: &[Option<Hash>]) {
    let key = bucket_node_key(level, bucket);
    if children.iter().all(Option::is_none) {
        writes.delete(Partition::State, key);
    } else {
        writes.put(Partition::State, key, encode_node(children));
    }
}

/// The hash of an internal node from its children (see the module doc).
pub fn node_hash(children: &[Option<Hash>]) -> Option<Hash> {
    let mut present = children.iter().flatten();
    let first = present.next()?;
    let Some(second) = present.next() else {
        return Some(*first);
    };
    let mut parts: Vec<&[u8]> = vec![first, second];
    parts.extend(present.map(|h| h.as_slice()));
    Some(hash_parts(&parts))
}

/// v0.6 bucket-node encoding: `varint(len) ‖ hash` per child slot.
fn encode_node(children: &[Option<Hash>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(children.len() * (HASH_LEN + 1));
    for child in children {
        put_bytes(&mut out, child.as_ref().map_or(&[][..], |h| h.as_slice()));
    }
    out
}

fn decode_node(bytes: &[u8], grouping: usize) -> Result<Children, String> {
    let mut r = Reader::new(bytes);
    let mut children = Vec::with_capacity(grouping);
    for slot in 0..grouping {
        let child = r.bytes().map_err(|e| format!("child {slot}: {e}"))?;
        if child.is_empty() {
            children.push(None);
        } else {
            let h: Hash = child
                .try_into()
                .map_err(|_| format!("child {slot} hash has {} bytes", child.len()))?;
            children.push(Some(h));
        }
    }
    if !r.is_empty() {
        return Err(format!("{} trailing bytes", r.remaining()));
    }
    Ok(children)
}

fn load_node<S: KvRead + ?Sized>(
    store: &S,
    config: &BucketTreeConfig,
    level: u32,
    bucket: u64,
) -> Result<Children, LedgerError> {
    let grouping = config.grouping();
    match store.get(Partition::State, &bucket_node_key(level, bucket))? {
        None => Ok(vec![None; grouping]),
        Some(bytes) => {
            decode_node(&bytes, grouping).map_err(|reason| LedgerError::CorruptBucketNode {
                level,
                bucket,
                reason,
            })
        }
    }
}

/// The whole tree recomputed from the stored data nodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScratchTree {
    /// The state hash.
    pub state_hash: Option<Hash>,
    /// Every internal node that has a non-nil child, by (level, bucket).
    pub nodes: BTreeMap<(u32, u64), Vec<Option<Hash>>>,
}

/// The state hash recomputed from every stored data node, ignoring the
/// stored internal nodes (for verification and tests).
///
/// # Errors
/// Store failures and corrupt data nodes.
pub fn compute_from_scratch<S: KvRead + ?Sized>(
    store: &S,
    config: &BucketTreeConfig,
) -> Result<Option<Hash>, LedgerError> {
    Ok(build_from_scratch(store, config)?.state_hash)
}

/// Like [`compute_from_scratch`], also returning every internal node.
///
/// # Errors
/// Store failures and corrupt data nodes.
pub fn build_from_scratch<S: KvRead + ?Sized>(
    store: &S,
    config: &BucketTreeConfig,
) -> Result<ScratchTree, LedgerError> {
    let mut leaves: BTreeMap<u64, Hash> = BTreeMap::new();
    let mut group: Entries = Vec::new();
    let mut group_bucket = 0u64;
    // Data-node keys start with 1..=8 (ordered varint of a bucket >= 1).
    scan::for_each(
        store,
        Partition::State,
        &[1],
        &[9],
        scan::SCAN_PAGE,
        |key, value| {
            let (bucket, used) = decode_ordered_varint(&key)
                .ok_or_else(|| LedgerError::corrupt_state(&key, "bad bucket prefix"))?;
            if bucket != group_bucket {
                flush_leaf(&mut leaves, group_bucket, &mut group)?;
                group_bucket = bucket;
            }
            let composite = key.get(used..).unwrap_or_default().to_vec();
            group.push((composite, value));
            Ok(())
        },
    )?;
    flush_leaf(&mut leaves, group_bucket, &mut group)?;
    Ok(tree_from_leaves(config, leaves))
}

fn flush_leaf(
    leaves: &mut BTreeMap<u64, Hash>,
    bucket: u64,
    group: &mut Entries,
) -> Result<(), LedgerError> {
    let entries: Vec<(&[u8], &[u8])> = group
        .iter()
        .map(|(k, v)| (k.as_slice(), v.as_slice()))
        .collect();
    if let Some(h) = leaf_hash(&entries)? {
        leaves.insert(bucket, h);
    }
    group.clear();
    Ok(())
}

/// Builds every internal node bottom-up from the non-nil leaf hashes.
fn tree_from_leaves(config: &BucketTreeConfig, leaves: BTreeMap<u64, Hash>) -> ScratchTree {
    let mut nodes = BTreeMap::new();
    let mut current = leaves;
    for level in (0..config.lowest_level()).rev() {
        let mut parents: BTreeMap<u64, Children> = BTreeMap::new();
        for (bucket, h) in current {
            let (parent, slot) = config.parent_of(bucket);
            let children = parents
                .entry(parent)
                .or_insert_with(|| vec![None; config.grouping()]);
            if let Some(entry) = children.get_mut(slot) {
                *entry = Some(h);
            }
        }
        current = BTreeMap::new();
        for (bucket, children) in parents {
            if let Some(h) = node_hash(&children) {
                current.insert(bucket, h);
            }
            nodes.insert((level, bucket), children);
        }
    }
    ScratchTree {
        state_hash: current.get(&1).copied(),
        nodes,
    }
}

#[cfg(test)]
#[path = "buckettree_tests.rs"]
mod tests;
