use std::collections::BTreeMap;

use fabrik_proto::protos::transaction::Type as TxType;
use proptest::prelude::*;

use super::*;
use crate::crypto::{b64, hash};
use crate::ledger::buckettree::compute_from_scratch;
use crate::ledger::codec::varint;
use crate::ledger::delta::UpdatedValue;
use crate::ledger::kv::MemKv;

const GENESIS_HASH: &str =
    "RrndKwuojRMjOz/rdD7rJD/NUupiuBuCtQwnZG7Vdi/XXcTd2MDyAMsFAZ1ntZL2/IIcSUeatIZAKS6ss7fEvg==";

fn ts(seconds: i64) -> Timestamp {
    Timestamp { seconds, nanos: 0 }
}

fn tx(txid: &str, kind: TxType) -> Transaction {
    Transaction {
        txid: txid.into(),
        r#type: kind as i32,
        payload: txid.as_bytes().to_vec(),
        ..Transaction::default()
    }
}

fn get(batch: &TxBatch, kv: &MemKv, key: &str) -> Option<Vec<u8>> {
    batch.get(kv, "mycc", key).unwrap()
}

/// v0.6 leaf content of a single key.
fn leaf(chaincode: &str, key: &str, value: &[u8]) -> Hash {
    let mut c = varint(chaincode.len() as u64);
    c.extend_from_slice(chaincode.as_bytes());
    c.extend(varint(1));
    c.extend(varint(key.len() as u64));
    c.extend_from_slice(key.as_bytes());
    c.extend(varint(value.len() as u64));
    c.extend_from_slice(value);
    hash(&c)
}

/// Genesis, then a block with a deploy (a=100, b=200), a failed tx and an
/// invoke moving 10 from a to b. Returns the store and the two commits.
fn example02(config: &BucketTreeConfig, time: i64) -> (MemKv, Committed, Committed) {
    let mut kv = MemKv::new();
    let genesis = TxBatch::new()
        .commit(&kv, CommitParams::empty(ts(time), config))
        .unwrap();
    kv.apply(&genesis.writes);

    let mut batch = TxBatch::new();
    batch.tx_begin("deploy").unwrap();
    batch.set(&kv, "mycc", "a", b"100".to_vec()).unwrap();
    batch.set(&kv, "mycc", "b", b"200".to_vec()).unwrap();
    assert_eq!(get(&batch, &kv, "a"), Some(b"100".to_vec()));
    batch.tx_finished("deploy", true).unwrap();

    batch.tx_begin("bad").unwrap();
    batch.set(&kv, "mycc", "a", b"0".to_vec()).unwrap();
    batch.delete(&kv, "mycc", "b").unwrap();
    batch.set(&kv, "mycc", "c", b"1".to_vec()).unwrap();
    assert_eq!(get(&batch, &kv, "a"), Some(b"0".to_vec()));
    assert_eq!(get(&batch, &kv, "b"), None);
    batch.tx_finished("bad", false).unwrap();
    assert_eq!(get(&batch, &kv, "a"), Some(b"100".to_vec()));

    batch.tx_begin("invoke").unwrap();
    batch.set(&kv, "mycc", "a", b"90".to_vec()).unwrap();
    batch.set(&kv, "mycc", "b", b"210".to_vec()).unwrap();
    batch.tx_finished("invoke", true).unwrap();

    let params = CommitParams {
        transactions: vec![
            tx("deploy", TxType::ChaincodeDeploy),
            tx("invoke", TxType::ChaincodeInvoke),
        ],
        chaincode_events: vec![ChaincodeEvent::default(); 3],
        consensus_metadata: Some(vec![8, 1]),
        commit_timestamp: ts(time + 1),
        delta_history_size: DEFAULT_DELTA_HISTORY_SIZE,
        state_config: config,
    };
    let block1 = batch.commit(&kv, params).unwrap();
    kv.apply(&block1.writes);
    (kv, genesis, block1)
}

#[test]
fn genesis_is_block_zero_with_the_v06_hash() {
    let config = BucketTreeConfig::default();
    let kv = MemKv::new();
    let g = TxBatch::new()
        .commit(&kv, CommitParams::empty(ts(99), &config))
        .unwrap();
    assert_eq!(g.block_number, 0);
    assert_eq!(b64(&g.block_hash), GENESIS_HASH);
    assert_eq!(g.state_hash, None);
    assert_eq!(
        g.info,
        BlockchainInfo {
            height: 1,
            current_block_hash: g.block_hash.to_vec(),
            previous_block_hash: vec![]
        }
    );
    assert_eq!(g.block, crate::ledger::block::genesis_block(ts(99)));
    let mut kv = kv;
    kv.apply(&g.writes);
    let l = Ledger::new(&kv);
    assert_eq!(l.height(), Ok(1));
    assert_eq!(l.state_delta(0), Ok(StateDelta::new()));
    assert_eq!(l.block_number_by_hash(&g.block_hash), Ok(0));
}

#[test]
fn example02_end_to_end() {
    let config = BucketTreeConfig::default();
    let (kv, genesis, block1) = example02(&config, 1000);
    let l = Ledger::new(&kv);
    assert_eq!(l.height(), Ok(2));
    assert_eq!(block1.block_number, 1);
    assert_eq!(l.blockchain_info(), Ok(block1.info.clone()));
    assert_eq!(block1.info.height, 2);
    assert_eq!(block1.info.previous_block_hash, genesis.block_hash.to_vec());
    let stored = l.block(1).unwrap();
    assert_eq!(stored, block1.block);
    assert_eq!(stored.previous_block_hash, genesis.block_hash.to_vec());
    assert_eq!(stored.consensus_metadata, vec![8, 1]);
    assert_eq!(
        stored
            .non_hash_data
            .as_ref()
            .map(|n| n.chaincode_events.len()),
        Some(3)
    );
    assert_eq!(l.block_hash(1), Ok(block1.block_hash));
    assert_eq!(l.block_number_by_hash(&block1.block_hash), Ok(1));

    assert_eq!(l.state("mycc", "a"), Ok(Some(b"90".to_vec())));
    assert_eq!(l.state("mycc", "b"), Ok(Some(b"210".to_vec())));
    assert_eq!(l.state("mycc", "c"), Ok(None));
    assert_eq!(
        l.range_state("mycc", "", "", None, 100),
        Ok(vec![
            ("a".into(), b"90".to_vec()),
            ("b".into(), b"210".to_vec())
        ])
    );

    assert_eq!(l.transaction_location("invoke"), Ok((1, 1)));
    assert_eq!(
        l.transaction("deploy"),
        Ok(tx("deploy", TxType::ChaincodeDeploy))
    );
    assert_eq!(
        l.transaction("bad"),
        Err(LedgerError::TransactionNotFound { txid: "bad".into() })
    );

    // the state hash, by hand: two non-empty leaves meet at the root
    let (ba, bb) = (config.bucket_of(b"mycc\0a"), config.bucket_of(b"mycc\0b"));
    assert_ne!(ba, bb);
    let (la, lb) = (leaf("mycc", "a", b"90"), leaf("mycc", "b", b"210"));
    let expected = if ba < bb {
        hash(&[la, lb].concat())
    } else {
        hash(&[lb, la].concat())
    };
    assert_eq!(block1.state_hash, Some(expected));
    assert_eq!(stored.state_hash, expected.to_vec());
    assert_eq!(compute_from_scratch(&kv, &config), Ok(Some(expected)));

    // the failed tx left no trace: not in the delta, the block or the state
    let mut delta = StateDelta::new();
    delta.set("mycc", "a", b"90".to_vec(), None);
    delta.set("mycc", "b", b"210".to_vec(), None);
    assert_eq!(l.state_delta(1), Ok(delta));
}

#[test]
fn recommitting_gives_identical_hashes() {
    let config = BucketTreeConfig::default();
    let (_, g1, b1) = example02(&config, 1000);
    let (_, g2, b2) = example02(&config, 5555);
    assert_eq!(g1.block_hash, g2.block_hash);
    assert_eq!(b1.block_hash, b2.block_hash);
    assert_eq!(b1.state_hash, b2.state_hash);
    assert_ne!(b1.block, b2.block); // only nonHashData differs
}

#[test]
fn previous_values_are_the_committed_ones() {
    let config = BucketTreeConfig::new(10, 2).unwrap();
    let (kv, _, _) = example02(&config, 0);
    let mut batch = TxBatch::new();
    for (txid, v) in [("t1", "1"), ("t2", "2")] {
        batch.tx_begin(txid).unwrap();
        batch.set(&kv, "mycc", "a", v.as_bytes().to_vec()).unwrap();
        batch.tx_finished(txid, true).unwrap();
    }
    batch.tx_begin("t3").unwrap();
    batch.delete(&kv, "mycc", "b").unwrap();
    batch.tx_finished("t3", true).unwrap();
    assert_eq!(
        batch.delta().get("mycc", "a"),
        Some(&UpdatedValue {
            value: Some(b"2".to_vec()),
            previous_value: Some(b"90".to_vec())
        })
    );
    assert_eq!(
        batch.delta().get("mycc", "b"),
        Some(&UpdatedValue {
            value: None,
            previous_value: Some(b"210".to_vec())
        })
    );
    let mut t1 = StateDelta::new();
    t1.set("mycc", "a", b"1".to_vec(), None);
    assert_eq!(batch.tx_delta_hashes().get("t1"), Some(&t1.crypto_hash()));
}

#[test]
fn temp_state_hash_matches_the_commit() {
    let config = BucketTreeConfig::new(10, 2).unwrap();
    let (kv, _, _) = example02(&config, 0);
    let mut batch = TxBatch::new();
    batch.tx_begin("t").unwrap();
    batch.set(&kv, "mycc", "z", b"9".to_vec()).unwrap();
    assert_eq!(
        batch.temp_state_hash(&kv, &config),
        Ledger::new(&kv).state_hash(&config)
    );
    batch.tx_finished("t", true).unwrap();
    let temp = batch.temp_state_hash(&kv, &config).unwrap();
    assert_ne!(
        Some(temp),
        Some(Ledger::new(&kv).state_hash(&config).unwrap())
    );
    let c = batch
        .commit(&kv, CommitParams::empty(ts(0), &config))
        .unwrap();
    assert_eq!(c.state_hash, temp);
    let mut kv = kv;
    kv.apply(&c.writes);
    assert_eq!(compute_from_scratch(&kv, &config), Ok(temp));
}

#[test]
fn misuse_is_reported() {
    let kv = MemKv::new();
    let mut batch = TxBatch::new();
    assert_eq!(
        batch.set(&kv, "cc", "k", b"v".to_vec()),
        Err(LedgerError::NoTxOpen { operation: "set" })
    );
    assert_eq!(
        batch.delete(&kv, "cc", "k"),
        Err(LedgerError::NoTxOpen {
            operation: "delete"
        })
    );
    assert_eq!(
        batch.tx_finished("t", true),
        Err(LedgerError::NoTxOpen {
            operation: "tx_finished"
        })
    );
    batch.tx_begin("t").unwrap();
    assert_eq!(
        batch.tx_begin("u"),
        Err(LedgerError::TxAlreadyOpen {
            open: "t".into(),
            requested: "u".into()
        })
    );
    assert_eq!(
        batch.tx_finished("u", true),
        Err(LedgerError::TxMismatch {
            open: "t".into(),
            finished: "u".into()
        })
    );
    assert_eq!(batch.open_txid(), Some("t"));
    assert_eq!(
        batch.set(&kv, "cc", "", b"v".to_vec()),
        Err(LedgerError::EmptyKeyOrValue {
            chaincode: "cc".into(),
            key: "".into()
        })
    );
    let err = batch.set(&kv, "cc", "k", vec![]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "An empty string key or a nil value is not supported"
    );
    assert_eq!(
        batch.set(&kv, "cc", "k", vec![]),
        Err(LedgerError::EmptyKeyOrValue {
            chaincode: "cc".into(),
            key: "k".into()
        })
    );
    let config = BucketTreeConfig::default();
    assert_eq!(
        batch
            .commit(&kv, CommitParams::empty(ts(0), &config))
            .unwrap_err(),
        LedgerError::TxStillOpen { txid: "t".into() }
    );
}

#[test]
fn deltas_are_pruned_to_the_history_size() {
    let config = BucketTreeConfig::new(10, 2).unwrap();
    let mut kv = MemKv::new();
    for n in 0..5 {
        let mut params = CommitParams::empty(ts(n), &config);
        params.delta_history_size = 2;
        let c = TxBatch::new().commit(&kv, params).unwrap();
        kv.apply(&c.writes);
    }
    let l = Ledger::new(&kv);
    let kept: Vec<u64> = (0..5).filter(|n| l.state_delta(*n).is_ok()).collect();
    assert_eq!(kept, vec![3, 4]);
    assert_eq!(l.height(), Ok(5));
}

#[test]
fn a_received_delta_replays_to_the_block_state_hash() {
    let config = BucketTreeConfig::new(10, 2).unwrap();
    let (kv, genesis, block1) = example02(&config, 0);
    let delta = Ledger::new(&kv).state_delta(1).unwrap();
    let mut fresh = MemKv::new();
    fresh.apply(&genesis.writes);
    let (state_hash, writes) = apply_delta_writes(&fresh, &delta, &config).unwrap();
    assert_eq!(state_hash, block1.state_hash);
    fresh.apply(&writes);
    assert_eq!(
        Ledger::new(&fresh).state("mycc", "b"),
        Ok(Some(b"210".to_vec()))
    );
}

#[test]
fn range_merges_uncommitted_writes() {
    let config = BucketTreeConfig::new(10, 2).unwrap();
    let mut kv = MemKv::new();
    let mut seed = TxBatch::new();
    seed.tx_begin("seed").unwrap();
    for k in ["k1", "k2", "k3", "k4", "k5"] {
        seed.set(&kv, "cc", k, k.as_bytes().to_vec()).unwrap();
    }
    seed.tx_finished("seed", true).unwrap();
    let c = seed
        .commit(&kv, CommitParams::empty(ts(0), &config))
        .unwrap();
    kv.apply(&c.writes);

    let mut batch = TxBatch::new();
    batch.tx_begin("a").unwrap();
    batch.delete(&kv, "cc", "k2").unwrap();
    batch.set(&kv, "cc", "k6", b"new6".to_vec()).unwrap();
    batch.tx_finished("a", true).unwrap();
    batch.tx_begin("b").unwrap();
    batch.set(&kv, "cc", "k3", b"new3".to_vec()).unwrap();
    batch.delete(&kv, "cc", "k4").unwrap();
    batch.set(&kv, "cc", "k2", b"back2".to_vec()).unwrap();
    let all = batch.range(&kv, "cc", "", "", None, 100).unwrap();
    let expect = |pairs: &[(&str, &str)]| -> Vec<(String, Vec<u8>)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
            .collect()
    };
    assert_eq!(
        all,
        expect(&[
            ("k1", "k1"),
            ("k2", "back2"),
            ("k3", "new3"),
            ("k5", "k5"),
            ("k6", "new6")
        ])
    );
    assert_eq!(
        batch.range(&kv, "cc", "k2", "k5", Some("k2"), 2).unwrap(),
        expect(&[("k3", "new3"), ("k5", "k5")])
    );
    assert_eq!(
        batch.range(&kv, "cc", "", "", None, 1).unwrap(),
        expect(&[("k1", "k1")])
    );
    assert_eq!(batch.range(&kv, "other", "", "", None, 10).unwrap(), vec![]);
}

fn arb_ops() -> impl Strategy<Value = Vec<(u8, Option<u8>)>> {
    proptest::collection::vec((0u8..12, proptest::option::of(1u8..255)), 0..12)
}

proptest! {
    #[test]
    fn range_equals_a_model(
        committed in arb_ops(), batch_ops in arb_ops(), tx_ops in arb_ops(),
        start in 0u8..13, end in 0u8..13, after in proptest::option::of(0u8..13), limit in 0usize..15,
    ) {
        let config = BucketTreeConfig::new(10, 2).unwrap();
        let key = |k: u8| format!("k{k:02}");
        let mut model: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        let mut kv = MemKv::new();
        let mut seed = TxBatch::new();
        let mut batch = TxBatch::new();
        for (b, ops) in [(&mut seed, &committed), (&mut batch, &batch_ops)] {
            b.tx_begin("t").unwrap();
            for (k, v) in ops {
                match v {
                    Some(v) => { b.set(&kv, "cc", &key(*k), vec![*v]).unwrap(); model.insert(key(*k), vec![*v]); }
                    None => { b.delete(&kv, "cc", &key(*k)).unwrap(); model.remove(&key(*k)); }
                }
            }
            b.tx_finished("t", true).unwrap();
            if b.open_txid().is_none() && std::ptr::eq(ops, &committed) {
                let c = std::mem::take(b).commit(&kv, CommitParams::empty(ts(0), &config)).unwrap();
                kv.apply(&c.writes);
            }
        }
        batch.tx_begin("u").unwrap();
        for (k, v) in &tx_ops {
            match v {
                Some(v) => { batch.set(&kv, "cc", &key(*k), vec![*v]).unwrap(); model.insert(key(*k), vec![*v]); }
                None => { batch.delete(&kv, "cc", &key(*k)).unwrap(); model.remove(&key(*k)); }
            }
        }
        let (s, e) = (key(start), if end == 12 { String::new() } else { key(end) });
        let a = after.map(key);
        let got = batch.range(&kv, "cc", &s, &e, a.as_deref(), limit).unwrap();
        let want: Vec<(String, Vec<u8>)> = model
            .into_iter()
            .filter(|(k, _)| *k >= s && (e.is_empty() || *k <= e) && a.as_ref().is_none_or(|a| k > a))
            .take(limit)
            .collect();
        prop_assert_eq!(got, want);
    }
}
