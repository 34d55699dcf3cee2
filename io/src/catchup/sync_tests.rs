//! Serving-side tests over MemKv (names carry `sync` for the test filter).

use fabrik_core::ledger::batch::{CommitParams, TxBatch};
use fabrik_core::ledger::kv::{MemKv, Partition, WriteBatch};
use fabrik_core::ledger::{BucketTreeConfig, StateDelta};
use fabrik_core::statetransfer::STATE_MARKER_KEY;
use fabrik_proto::protos::{
    SyncBlockRange, SyncBlocks, SyncStateDeltas, SyncStateDeltasRequest, SyncStateSnapshot,
    SyncStateSnapshotRequest,
};
use prost::Message as _;

use super::serve::{ServeError, ServeLimits, serve_blocks, serve_deltas, serve_snapshot};

fn chain(blocks: u64, history: u64) -> MemKv {
    let cfg = BucketTreeConfig::default();
    let mut kv = MemKv::new();
    for n in 0..=blocks {
        let mut batch = TxBatch::new();
        if n > 0 {
            batch.tx_begin("t").unwrap();
            for k in 0..3 {
                batch
                    .set(&kv, "cc", &format!("k{n}-{k}"), b"v".to_vec())
                    .unwrap();
            }
            batch.tx_finished("t", true).unwrap();
        }
        let mut params = CommitParams::empty(prost_types::Timestamp::default(), &cfg);
        params.delta_history_size = history;
        let c = batch.commit(&kv, params).unwrap();
        kv.apply(&c.writes);
    }
    kv
}

#[test]
fn sync_get_blocks_sends_one_message_per_block_and_stops_at_the_first_missing() {
    let kv = chain(5, 500);
    let req = SyncBlockRange {
        correlation_id: 9,
        start: 3,
        end: 8,
    };
    let out = serve_blocks(&kv, &req, &ServeLimits::default()).unwrap();
    let numbers: Vec<_> = out
        .iter()
        .map(|m| {
            assert_eq!(m.r#type, 12);
            let b = SyncBlocks::decode(m.payload.as_slice()).unwrap();
            let r = b.range.unwrap();
            assert_eq!((r.correlation_id, r.start, b.blocks.len()), (9, r.end, 1));
            r.start
        })
        .collect();
    assert_eq!(numbers, vec![3, 4, 5]);
    let down = SyncBlockRange {
        correlation_id: 1,
        start: 5,
        end: 0,
    };
    let limits = ServeLimits {
        max_blocks: 4,
        ..ServeLimits::default()
    };
    let out = serve_blocks(&kv, &down, &limits).unwrap();
    let first = SyncBlocks::decode(out[0].payload.as_slice()).unwrap();
    assert_eq!((out.len(), first.range.unwrap().start), (4, 5));
}

#[test]
fn sync_get_deltas_stops_where_deltas_were_pruned() {
    let kv = chain(10, 3);
    let ask = |start, end| {
        let req = SyncStateDeltasRequest {
            range: Some(SyncBlockRange {
                correlation_id: 2,
                start,
                end,
            }),
        };
        serve_deltas(&kv, &req, &ServeLimits::default()).unwrap()
    };
    assert!(ask(1, 10).is_empty(), "block 1's delta is pruned");
    let out = ask(8, 12);
    assert_eq!(out.len(), 3);
    let d = SyncStateDeltas::decode(out[0].payload.as_slice()).unwrap();
    assert_eq!(out[0].r#type, 17);
    assert_eq!(StateDelta::decode(&d.deltas[0]).unwrap().len(), 3);
}

#[test]
fn sync_snapshot_sends_chunks_then_an_empty_terminator() {
    let kv = chain(4, 500);
    let limits = ServeLimits {
        snapshot_chunk_keys: 5,
        ..ServeLimits::default()
    };
    let req = SyncStateSnapshotRequest { correlation_id: 7 };
    let chunks: Vec<_> = serve_snapshot(&kv, &req, &limits)
        .unwrap()
        .map(|m| {
            let m = m.unwrap();
            assert_eq!(m.r#type, 15);
            SyncStateSnapshot::decode(m.payload.as_slice()).unwrap()
        })
        .collect();
    // 12 keys in chunks of 5: 5, 5, 2, then the terminator.
    assert_eq!(chunks.len(), 4);
    for (i, c) in chunks.iter().enumerate() {
        assert_eq!((c.sequence, c.block_number), (i as u64, 4));
        assert_eq!(c.request.unwrap().correlation_id, 7);
    }
    let keys: usize = chunks[..3]
        .iter()
        .map(|c| StateDelta::decode(&c.delta).unwrap().len())
        .sum();
    assert_eq!(keys, 12);
    assert!(chunks[3].delta.is_empty());
}

#[test]
fn sync_snapshot_is_refused_while_our_own_state_is_being_caught_up() {
    let mut kv = chain(2, 500);
    let mut b = WriteBatch::new();
    b.put(Partition::Persist, STATE_MARKER_KEY.to_vec(), Vec::new());
    kv.apply(&b);
    let req = SyncStateSnapshotRequest { correlation_id: 1 };
    let err = serve_snapshot(&kv, &req, &ServeLimits::default()).unwrap_err();
    assert!(matches!(err, ServeError::StateNotServable(_)));
}
