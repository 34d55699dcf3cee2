use fabrik_proto::protos::NonHashData;

use super::*;
use crate::ledger::batch::{CommitParams, TxBatch, apply_delta_writes};
use crate::ledger::buckettree::compute_from_scratch;
use crate::ledger::kv::MemKv;

fn put_state(kv: &mut MemKv, entries: &[(&str, &str, &str)]) {
    let mut d = StateDelta::new();
    for (cc, k, v) in entries {
        d.set(cc, k, v.as_bytes().to_vec(), None);
    }
    let (_, writes) = apply_delta_writes(kv, &d, &BucketTreeConfig::default()).unwrap();
    kv.apply(&writes);
}

fn keys(entries: &[(String, Vec<u8>)]) -> Vec<&str> {
    entries.iter().map(|(k, _)| k.as_str()).collect()
}

#[test]
fn empty_store_reads() {
    let kv = MemKv::new();
    let l = Ledger::new(&kv);
    assert_eq!(l.height(), Ok(0));
    assert_eq!(l.blockchain_info(), Ok(BlockchainInfo::default()));
    assert_eq!(l.block(0), Err(LedgerError::BlockNotFound { number: 0 }));
    assert!(l.block(0).unwrap_err().is_not_found());
    assert_eq!(
        l.transaction("t"),
        Err(LedgerError::TransactionNotFound { txid: "t".into() })
    );
    assert_eq!(
        l.state_delta(3),
        Err(LedgerError::StateDeltaNotFound { number: 3 })
    );
    assert_eq!(
        l.block_number_by_hash(&[1, 2]),
        Err(LedgerError::BlockHashNotFound {
            hash_b64: "AQI=".into()
        })
    );
    assert_eq!(l.state("cc", "k"), Ok(None));
    assert_eq!(l.state_hash(&BucketTreeConfig::default()), Ok(None));
}

#[test]
fn corrupt_entries_are_named() {
    let mut kv = MemKv::new();
    let mut b = WriteBatch::new();
    b.put(Partition::Blocks, BLOCK_COUNT_KEY.to_vec(), vec![1, 2, 3]);
    b.put(Partition::Blocks, block_key(4), vec![0xff]);
    b.put(Partition::StateDelta, state_delta_key(4), vec![1]);
    b.put(Partition::Indexes, txid_index_key("t"), vec![4]);
    kv.apply(&b);
    let l = Ledger::new(&kv);
    assert_eq!(l.height(), Err(LedgerError::CorruptBlockCount { len: 3 }));
    assert!(matches!(
        l.block(4),
        Err(LedgerError::CorruptBlock { number: 4, .. })
    ));
    assert!(matches!(
        l.state_delta(4),
        Err(LedgerError::CorruptStateDelta { number: 4, .. })
    ));
    assert!(matches!(
        l.transaction_location("t"),
        Err(LedgerError::CorruptIndex { .. })
    ));
}

#[test]
fn range_is_per_chaincode_inclusive_and_paged() {
    let mut kv = MemKv::new();
    put_state(
        &mut kv,
        &[
            ("a", "k1", "1"),
            ("a", "k2", "2"),
            ("a", "k3", "3"),
            ("a", "k4", "4"),
            ("ab", "k0", "x"),
            ("", "k9", "y"),
        ],
    );
    let l = Ledger::new(&kv);
    let all = l.range_state("a", "", "", None, 100).unwrap();
    assert_eq!(keys(&all), vec!["k1", "k2", "k3", "k4"]);
    assert_eq!(all[0].1, b"1".to_vec());
    assert_eq!(
        keys(&l.range_state("a", "k2", "k3", None, 100).unwrap()),
        vec!["k2", "k3"]
    );
    assert_eq!(
        keys(&l.range_state("a", "k2", "", Some("k2"), 100).unwrap()),
        vec!["k3", "k4"]
    );
    assert_eq!(
        keys(&l.range_state("a", "k2", "", Some("k0"), 100).unwrap()),
        vec!["k2", "k3", "k4"]
    );
    assert_eq!(
        keys(&l.range_state("a", "", "", None, 2).unwrap()),
        vec!["k1", "k2"]
    );
    assert_eq!(
        keys(&l.range_state("a", "k3", "k2", None, 9).unwrap()),
        Vec::<&str>::new()
    );
    assert_eq!(
        keys(&l.range_state("ab", "", "", None, 9).unwrap()),
        vec!["k0"]
    );
    assert_eq!(
        keys(&l.range_state("", "", "", None, 9).unwrap()),
        vec!["k9"]
    );
    assert_eq!(l.range_state("a", "", "", None, 0).unwrap(), vec![]);
}

#[test]
fn snapshot_pages_cover_the_state_and_rebuild_it() {
    let config = BucketTreeConfig::new(10, 2).unwrap();
    let mut kv = MemKv::new();
    let mut d = StateDelta::new();
    for (cc, k) in [("a", "x"), ("a", "y"), ("b", "x"), ("b", "z"), ("c", "q")] {
        d.set(cc, k, format!("{cc}{k}").into_bytes(), None);
    }
    let (state_hash, writes) = apply_delta_writes(&kv, &d, &config).unwrap();
    kv.apply(&writes);
    let l = Ledger::new(&kv);
    let mut fresh = MemKv::new();
    let mut cursor = None;
    let mut pages = 0;
    loop {
        let page = l.state_snapshot(cursor.as_ref(), 2).unwrap();
        let (_, writes) = apply_delta_writes(&fresh, &page.delta, &config).unwrap();
        fresh.apply(&writes);
        pages += 1;
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(compute_from_scratch(&fresh, &config).unwrap(), state_hash);
    assert_eq!(Ledger::new(&fresh).state_hash(&config).unwrap(), state_hash);
    let first = l.state_snapshot(None, 2).unwrap();
    assert_eq!(
        first.delta.get("a", "x").unwrap().value,
        Some(b"ax".to_vec())
    );
    assert_eq!(first.delta.len(), 2);
    // wiping removes every State key
    let wipe = l.wipe_state_writes().unwrap();
    kv.apply(&wipe);
    assert_eq!(
        kv.range(Partition::State, b"", b"", usize::MAX).unwrap(),
        vec![]
    );
}

#[test]
fn raw_blocks_rebuild_a_chain_out_of_order() {
    let config = BucketTreeConfig::new(10, 2).unwrap();
    let mut src = MemKv::new();
    for t in 0..3 {
        let mut batch = TxBatch::new();
        let txid = format!("tx{t}");
        batch.tx_begin(&txid).unwrap();
        batch.set(&src, "cc", "k", vec![b'0' + t as u8]).unwrap();
        batch.tx_finished(&txid, true).unwrap();
        let tx = Transaction {
            txid,
            ..Transaction::default()
        };
        let mut params = CommitParams::empty(
            fabrik_proto::Timestamp {
                seconds: t,
                nanos: 0,
            },
            &config,
        );
        params.transactions = vec![tx];
        let c = batch.commit(&src, params).unwrap();
        src.apply(&c.writes);
    }
    let source = Ledger::new(&src);
    let mut dst = MemKv::new();
    for n in [2, 1, 0] {
        let block = source.block(n).unwrap();
        let writes = Ledger::new(&dst).raw_block_writes(&block, n).unwrap();
        dst.apply(&writes);
    }
    let copy = Ledger::new(&dst);
    assert_eq!(copy.height(), Ok(3));
    assert_eq!(copy.blockchain_info(), source.blockchain_info());
    assert_eq!(copy.transaction_location("tx1"), Ok((1, 0)));
    assert_eq!(
        copy.block_number_by_hash(&source.block_hash(2).unwrap()),
        Ok(2)
    );
    let b = copy.block(2).unwrap();
    assert_eq!(
        b.non_hash_data
            .map(|n: NonHashData| n.local_ledger_commit_timestamp),
        Some(Some(fabrik_proto::Timestamp {
            seconds: 2,
            nanos: 0
        }))
    );
}
