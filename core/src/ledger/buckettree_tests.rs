use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;
use crate::ledger::codec::varint;
use crate::ledger::keys::STATE_INDEX_PREFIX;
use crate::ledger::kv::MemKv;

fn tiny() -> BucketTreeConfig {
    BucketTreeConfig::new(10, 2).unwrap()
}

/// The first key `k<i>` of `chaincode` that lands in `bucket`.
fn key_in_bucket(config: &BucketTreeConfig, chaincode: &str, bucket: u64) -> String {
    (0..10_000)
        .map(|i| format!("k{i}"))
        .find(|k| config.bucket_of(&composite_key(chaincode, k)) == bucket)
        .unwrap()
}

/// v0.6 leaf content for one chaincode's sorted (key, value) pairs.
fn leaf_content(chaincode: &str, kvs: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = varint(chaincode.len() as u64);
    out.extend_from_slice(chaincode.as_bytes());
    out.extend(varint(kvs.len() as u64));
    for (k, v) in kvs {
        out.extend(varint(k.len() as u64));
        out.extend_from_slice(k.as_bytes());
        out.extend(varint(v.len() as u64));
        out.extend_from_slice(v);
    }
    out
}

fn apply(kv: &mut MemKv, config: &BucketTreeConfig, delta: &StateDelta) -> Option<Hash> {
    let update = apply_delta(kv, config, delta).unwrap();
    kv.apply(&update.writes);
    assert_eq!(committed_state_hash(kv, config).unwrap(), update.state_hash);
    assert_eq!(compute_from_scratch(kv, config).unwrap(), update.state_hash);
    update.state_hash
}

fn set(pairs: &[(&str, &str, &[u8])]) -> StateDelta {
    let mut d = StateDelta::new();
    for (cc, k, v) in pairs {
        d.set(cc, k, v.to_vec(), None);
    }
    d
}

#[test]
fn fnv1a32_matches_go() {
    assert_eq!(fnv1a32(b""), 0x811c_9dc5);
    assert_eq!(fnv1a32(b"a"), 0xe40c_292c);
    assert_eq!(fnv1a32(b"foobar"), 0xbf9c_f968);
}

#[test]
fn levels_are_computed_as_v06() {
    let d = BucketTreeConfig::default();
    assert_eq!(
        d.level_sizes,
        vec![1, 3, 13, 65, 321, 1601, 8001, 40001, 200001, 1_000_003]
    );
    assert_eq!(d.lowest_level(), 9);
    let code_default = BucketTreeConfig::new(10009, 10).unwrap();
    assert_eq!(code_default.level_sizes, vec![1, 2, 11, 101, 1001, 10009]);
    assert_eq!(tiny().level_sizes, vec![1, 2, 3, 5, 10]);
    assert_eq!(tiny().num_buckets_at(4), Some(10));
    assert_eq!(tiny().num_buckets_at(5), None);
    assert_eq!(
        BucketTreeConfig::new(1, 5),
        Err(ConfigError::TooFewBuckets(1))
    );
    assert_eq!(
        BucketTreeConfig::new(10, 1),
        Err(ConfigError::BadGrouping(1))
    );
    let t = tiny();
    assert_eq!(t.parent_of(1), (1, 0));
    assert_eq!(t.parent_of(2), (1, 1));
    assert_eq!(t.parent_of(3), (2, 0));
    assert_eq!(t.parent_of(10), (5, 1));
    assert_eq!(
        t.bucket_of(b"cc\x00k"),
        u64::from(fnv1a32(b"cc\x00k")) % 10 + 1
    );
}

#[test]
fn empty_state_hashes_to_nil() {
    let kv = MemKv::new();
    let update = apply_delta(&kv, &tiny(), &StateDelta::new()).unwrap();
    assert_eq!(
        update,
        StateUpdate {
            state_hash: None,
            writes: WriteBatch::new()
        }
    );
    assert_eq!(compute_from_scratch(&kv, &tiny()).unwrap(), None);
}

#[test]
fn single_key_propagates_its_leaf_hash_to_the_root() {
    let t = tiny();
    let k = key_in_bucket(&t, "cc", 7);
    let mut kv = MemKv::new();
    let root = apply(&mut kv, &t, &set(&[("cc", &k, b"v")]));
    let leaf = hash(&leaf_content("cc", &[(&k, b"v")]));
    assert_eq!(root, Some(leaf));
    // bucket 7 -> (3,4) slot 0 -> (2,2) slot 1 -> (1,1) slot 1 -> (0,1) slot 0
    let node = |level, bucket| {
        kv.get(Partition::State, &bucket_node_key(level, bucket))
            .unwrap()
    };
    let mut first = vec![64];
    first.extend_from_slice(&leaf);
    first.push(0);
    let mut second = vec![0, 64];
    second.extend_from_slice(&leaf);
    assert_eq!(node(3, 4), Some(first.clone()));
    assert_eq!(node(2, 2), Some(second.clone()));
    assert_eq!(node(1, 1), Some(second));
    assert_eq!(node(0, 1), Some(first));
    assert_eq!(
        kv.get(
            Partition::State,
            &data_node_key(7, &composite_key("cc", &k))
        )
        .unwrap(),
        Some(b"v".to_vec())
    );
    assert_eq!(
        kv.get(Partition::State, &state_index_key(&composite_key("cc", &k)))
            .unwrap(),
        Some(b"v".to_vec())
    );
}

#[test]
fn leaf_groups_keys_by_chaincode_in_sorted_order() {
    let t = tiny();
    let k1 = key_in_bucket(&t, "cc", 3);
    let k2 = (0..10_000)
        .map(|i| format!("x{i}"))
        .find(|k| t.bucket_of(&composite_key("cc", k)) == 3)
        .unwrap();
    let k3 = key_in_bucket(&t, "cd", 3);
    let mut kv = MemKv::new();
    // inserted in two deltas, out of order
    apply(&mut kv, &t, &set(&[("cd", &k3, b"3"), ("cc", &k2, b"2")]));
    let root = apply(&mut kv, &t, &set(&[("cc", &k1, b"1")]));
    let mut content = leaf_content("cc", &[(&k1, b"1"), (&k2, b"2")]);
    content.extend(leaf_content("cd", &[(&k3, b"3")]));
    assert_eq!(root, Some(hash(&content)));
}

#[test]
fn internal_nodes_hash_their_non_nil_children_in_order() {
    let t = tiny();
    let keys: Vec<String> = [1, 2, 3]
        .iter()
        .map(|b| key_in_bucket(&t, "cc", *b))
        .collect();
    let leaf = |i: usize, v: &[u8]| hash(&leaf_content("cc", &[(&keys[i], v)]));
    let mut kv = MemKv::new();
    let root = apply(
        &mut kv,
        &t,
        &set(&[
            ("cc", &keys[2], b"c"),
            ("cc", &keys[0], b"a"),
            ("cc", &keys[1], b"b"),
        ]),
    );
    // level 3: (1) = hash(L1 ‖ L2), (2) = L3; level 2: (1) = hash(that ‖ L3)
    let left = hash(&[leaf(0, b"a"), leaf(1, b"b")].concat());
    assert_eq!(root, Some(hash(&[left, leaf(2, b"c")].concat())));
    // two leaves far apart meet only at the root
    let k10 = key_in_bucket(&t, "cc", 10);
    let mut kv = MemKv::new();
    let root = apply(
        &mut kv,
        &t,
        &set(&[("cc", &keys[0], b"a"), ("cc", &k10, b"z")]),
    );
    let l10 = hash(&leaf_content("cc", &[(&k10, b"z")]));
    assert_eq!(root, Some(hash(&[leaf(0, b"a"), l10].concat())));
}

#[test]
fn deleting_everything_returns_to_nil_and_an_empty_partition() {
    let t = tiny();
    let mut kv = MemKv::new();
    let keys: Vec<String> = (0..30).map(|i| format!("key{i}")).collect();
    let mut d = StateDelta::new();
    for k in &keys {
        d.set("cc", k, k.as_bytes().to_vec(), None);
    }
    assert!(apply(&mut kv, &t, &d).is_some());
    let mut d = StateDelta::new();
    for k in &keys[..15] {
        d.delete("cc", k, None);
    }
    assert!(apply(&mut kv, &t, &d).is_some());
    let mut d = StateDelta::new();
    for k in &keys[15..] {
        d.delete("cc", k, None);
    }
    assert_eq!(apply(&mut kv, &t, &d), None);
    assert_eq!(
        kv.range(Partition::State, b"", b"", usize::MAX).unwrap(),
        vec![]
    );
}

#[test]
fn corrupt_nodes_are_reported() {
    let t = tiny();
    let mut kv = MemKv::new();
    let mut b = WriteBatch::new();
    b.put(Partition::State, bucket_node_key(0, 1), vec![3, 1, 2, 3, 0]);
    kv.apply(&b);
    assert_eq!(
        committed_state_hash(&kv, &t),
        Err(LedgerError::CorruptBucketNode {
            level: 0,
            bucket: 1,
            reason: "child 0 hash has 3 bytes".into()
        })
    );
}

/// Reads every internal node stored in `kv`.
fn stored_nodes(kv: &MemKv, config: &BucketTreeConfig) -> BTreeMap<(u32, u64), Vec<Option<Hash>>> {
    let mut out = BTreeMap::new();
    for (key, value) in kv.range(Partition::State, &[0], &[1], usize::MAX).unwrap() {
        let mut r = Reader::new(&key[1..]);
        let level = r.varint().unwrap() as u32;
        let bucket = r.varint().unwrap();
        out.insert(
            (level, bucket),
            decode_node(&value, config.grouping()).unwrap(),
        );
    }
    out
}

fn arb_deltas() -> impl Strategy<Value = Vec<Vec<(u8, u8, Option<u8>)>>> {
    let op = (0u8..3, 0u8..40, proptest::option::of(any::<u8>()));
    proptest::collection::vec(proptest::collection::vec(op, 0..25), 1..8)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn incremental_equals_from_scratch(deltas in arb_deltas(), shape in 0usize..3) {
        let config = [tiny(), BucketTreeConfig::new(7, 3).unwrap(), BucketTreeConfig::new(50, 4).unwrap()][shape].clone();
        let mut kv = MemKv::new();
        let mut model: BTreeMap<(String, String), Vec<u8>> = BTreeMap::new();
        for ops in deltas {
            let mut d = StateDelta::new();
            for (cc, k, v) in ops {
                let (cc, k) = (format!("cc{cc}"), format!("k{k}"));
                match v {
                    Some(v) => { d.set(&cc, &k, vec![v; 3], None); model.insert((cc, k), vec![v; 3]); }
                    None => { d.delete(&cc, &k, None); model.remove(&(cc, k)); }
                }
            }
            let update = apply_delta(&kv, &config, &d).unwrap();
            kv.apply(&update.writes);
            let scratch = build_from_scratch(&kv, &config).unwrap();
            prop_assert_eq!(update.state_hash, scratch.state_hash);
            prop_assert_eq!(stored_nodes(&kv, &config), scratch.nodes);
            // an independent store holding only the model's data nodes agrees
            let mut fresh = MemKv::new();
            let mut b = WriteBatch::new();
            for ((cc, k), v) in &model {
                let c = composite_key(cc, k);
                b.put(Partition::State, data_node_key(config.bucket_of(&c), &c), v.clone());
            }
            fresh.apply(&b);
            prop_assert_eq!(compute_from_scratch(&fresh, &config).unwrap(), update.state_hash);
            // the ordered index mirrors the model
            let index: Vec<(Vec<u8>, Vec<u8>)> = kv.range(Partition::State, &[STATE_INDEX_PREFIX], b"", usize::MAX).unwrap();
            let expected: Vec<(Vec<u8>, Vec<u8>)> = model.iter().map(|((cc, k), v)| (state_index_key(&composite_key(cc, k)), v.clone())).collect();
            prop_assert_eq!(index, expected);
        }
    }
}
