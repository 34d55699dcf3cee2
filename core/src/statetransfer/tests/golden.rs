//! Exact outputs of single steps.

use fabrik_proto::protos::{SyncBlockRange, SyncStateSnapshotRequest};

use super::harness::{chain, config, genesis_only, target_of};
use crate::ledger::kv::MemKv;
use crate::machine::Machine;
use crate::statetransfer::{
    Config, Input, Output, Progress, RejectReason, StateTransfer, SyncRequest, Target,
    TransferError,
};
use crate::time::{Duration, Instant};

fn drain(st: &mut StateTransfer<MemKv>) -> Vec<Output> {
    std::iter::from_fn(|| st.poll_output()).collect()
}

fn start(st: &mut StateTransfer<MemKv>, target: Target, peers: &[&str]) {
    let peers = peers.iter().map(|p| p.to_string()).collect();
    st.handle(Instant::ZERO, Input::Start { target, peers })
        .unwrap();
}

#[test]
fn first_step_of_a_delta_catch_up_asks_the_first_peer_for_the_top_page() {
    let source = chain(30, 500);
    let mut st = StateTransfer::new(genesis_only(), config());
    start(&mut st, target_of(&source), &["vp1", "vp2"]);
    assert_eq!(
        drain(&mut st),
        vec![
            Output::Progress(Progress::Started {
                target: 30,
                height: 1,
                snapshot: false
            }),
            Output::Request {
                to_peer: "vp1".into(),
                request: SyncRequest::Blocks(SyncBlockRange {
                    correlation_id: 1,
                    start: 30,
                    end: 11
                }),
            },
        ]
    );
    assert_eq!(
        st.poll_timeout(),
        Some(Instant::ZERO + Duration::from_secs(2))
    );
}

#[test]
fn a_gap_beyond_max_deltas_wipes_the_state_then_asks_for_a_snapshot() {
    let source = chain(30, 500);
    let cfg = Config {
        max_deltas: 10,
        ..config()
    };
    let mut st = StateTransfer::new(genesis_only(), cfg);
    start(&mut st, target_of(&source), &["vp1"]);
    let out = drain(&mut st);
    assert_eq!(out.len(), 2);
    assert!(matches!(
        out[1],
        Output::Write {
            id: 0,
            what: crate::statetransfer::WriteKind::WipeState,
            ..
        }
    ));
    st.handle(Instant::ZERO, Input::Applied { write: 0 })
        .unwrap();
    assert_eq!(
        drain(&mut st),
        vec![Output::Request {
            to_peer: "vp1".into(),
            request: SyncRequest::Snapshot(SyncStateSnapshotRequest { correlation_id: 1 }),
        }]
    );
}

#[test]
fn a_ledger_already_at_the_target_is_done_without_asking_anyone() {
    let source = chain(5, 500);
    let mut st = StateTransfer::new(source.clone(), config());
    start(&mut st, target_of(&source), &[]);
    let out = drain(&mut st);
    assert!(matches!(out.last(), Some(Output::Done { info }) if info.height == 6));
    assert!(
        !out.iter()
            .any(|o| matches!(o, Output::Request { .. } | Output::Write { .. }))
    );
}

#[test]
fn stale_and_foreign_replies_are_rejected_without_effect() {
    let source = chain(3, 500);
    let mut st = StateTransfer::new(genesis_only(), config());
    start(&mut st, target_of(&source), &["vp1", "vp2"]);
    drain(&mut st);
    let block = crate::ledger::Ledger::new(&source).block(3).unwrap();
    let reply = |peer: &str, id| Input::Blocks {
        from_peer: peer.into(),
        correlation_id: id,
        range: crate::statetransfer::BlockRange { start: 3, end: 3 },
        blocks: vec![block.clone()],
    };
    let err = st.handle(Instant::ZERO, reply("vp1", 7)).unwrap_err();
    assert_eq!(
        err.reason,
        RejectReason::Stale {
            got: 7,
            outstanding: Some(1)
        }
    );
    let err = st.handle(Instant::ZERO, reply("vp2", 1)).unwrap_err();
    assert_eq!(
        err.reason,
        RejectReason::WrongPeer {
            asked: "vp1".into()
        }
    );
    assert!(drain(&mut st).is_empty());
    // The first peer times out; its late reply is stale.
    st.handle_timeout(Instant::ZERO + Duration::from_secs(2));
    let out = drain(&mut st);
    assert_eq!(
        out[0],
        Output::PeerFailed {
            peer: "vp1".into(),
            error: TransferError::Timeout {
                peer: "vp1".into(),
                what: "blocks",
                block: 3
            }
        }
    );
    assert!(matches!(&out[1], Output::Request { to_peer, request }
        if to_peer == "vp2" && request.correlation_id() == 2));
    let err = st.handle(Instant::ZERO, reply("vp1", 1)).unwrap_err();
    assert!(matches!(err.reason, RejectReason::Stale { got: 1, .. }));
    st.handle(Instant::ZERO, reply("vp2", 2)).unwrap();
    // Block 3 is verified; blocks 2 and 1 of the page are still due.
    assert!(drain(&mut st).is_empty());
    let err = st
        .handle(Instant::ZERO, Input::Applied { write: 42 })
        .unwrap_err();
    assert_eq!(err.reason, RejectReason::UnknownWrite { write: 42 });
}

#[test]
fn a_start_with_an_empty_hash_is_refused() {
    let mut st = StateTransfer::new(genesis_only(), config());
    let target = Target {
        number: 3,
        hash: Vec::new(),
    };
    let err = st
        .handle(
            Instant::ZERO,
            Input::Start {
                target,
                peers: vec![],
            },
        )
        .unwrap_err();
    assert!(matches!(err.reason, RejectReason::InvalidTarget(_)));
    assert!(!st.is_running());
}
