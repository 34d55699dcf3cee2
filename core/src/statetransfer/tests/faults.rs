//! Faulty peers: forged blocks, forged deltas, silence.

use super::harness::{Behaviour, Net, assert_same_ledger, chain, config, genesis_only, target_of};
use crate::ledger::Ledger;
use crate::statetransfer::{Output, StateBasis, TransferError, WriteKind, state_basis};

fn peer_failures(net: &Net) -> Vec<(String, TransferError)> {
    net.log
        .iter()
        .filter_map(|o| match o {
            Output::PeerFailed { peer, error } => Some((peer.clone(), error.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn a_block_with_a_wrong_hash_is_rejected_and_the_next_peer_used() {
    let source = chain(30, 500);
    let mut net = Net::new(genesis_only(), config())
        .peer("vp1", source.clone(), Behaviour::TamperBlock(25))
        .peer("vp2", source.clone(), Behaviour::Honest);
    net.start(target_of(&source), &["vp1", "vp2"]);
    assert!(matches!(net.run(), Output::Done { .. }));
    let failures = peer_failures(&net);
    assert_eq!(failures.len(), 1);
    assert!(
        matches!(&failures[0], (p, TransferError::BlockHashMismatch { block: 25, .. }) if p == "vp1")
    );
    assert_same_ledger(net.st.store(), &source);
}

#[test]
fn a_delta_giving_the_wrong_state_hash_is_not_applied() {
    let source = chain(12, 500);
    let mut net =
        Net::new(genesis_only(), config()).peer("vp1", source.clone(), Behaviour::TamperDelta(5));
    net.start(target_of(&source), &["vp1"]);
    let end = net.run();
    assert!(
        matches!(&end, Output::Failed { retry: true, error: TransferError::AllPeersFailed { last, .. } }
            if matches!(**last, TransferError::DeltaStateHashMismatch { block: 5, .. })),
        "{end:?}"
    );
    assert!(!net.log.iter().any(|o| matches!(
        o,
        Output::Write {
            what: WriteKind::Delta { block: 5 },
            ..
        }
    )));
    // The state is that after block 4, checked, and recorded as such.
    let store = net.st.store();
    assert_eq!(state_basis(store).unwrap(), StateBasis::Height(5));
    let ledger = Ledger::new(store);
    let hash = ledger.state_hash(&config().state_config).unwrap().unwrap();
    assert_eq!(ledger.block(4).unwrap().state_hash, hash.to_vec());
    // A retry with an honest peer finishes from there.
    let store = store.clone();
    let mut net = Net::new(store, config()).peer("vp2", source.clone(), Behaviour::Honest);
    net.start(target_of(&source), &["vp2"]);
    assert!(matches!(net.run(), Output::Done { .. }));
    assert_same_ledger(net.st.store(), &source);
}

#[test]
fn a_forged_delta_makes_the_transfer_move_to_the_next_peer() {
    let source = chain(12, 500);
    let mut net = Net::new(genesis_only(), config())
        .peer("vp1", source.clone(), Behaviour::TamperDelta(5))
        .peer("vp2", source.clone(), Behaviour::Honest);
    net.start(target_of(&source), &["vp1", "vp2"]);
    assert!(matches!(net.run(), Output::Done { .. }));
    assert_same_ledger(net.st.store(), &source);
}

#[test]
fn timeouts_move_to_the_next_peer() {
    let source = chain(30, 500);
    let mut net = Net::new(genesis_only(), config())
        .peer("vp1", source.clone(), Behaviour::Silent)
        .peer("vp2", source.clone(), Behaviour::Honest);
    net.start(target_of(&source), &["vp1", "vp2"]);
    assert!(matches!(net.run(), Output::Done { .. }));
    let failures = peer_failures(&net);
    assert!(
        matches!(&failures[..], [(p, TransferError::Timeout { what: "blocks", block: 30, .. })] if p == "vp1")
    );
    assert_same_ledger(net.st.store(), &source);
}

#[test]
fn only_silent_peers_fail_the_transfer_retriably() {
    let source = chain(3, 500);
    let mut net = Net::new(genesis_only(), config())
        .peer("vp1", source.clone(), Behaviour::Silent)
        .peer("vp2", source.clone(), Behaviour::Silent);
    net.start(target_of(&source), &["vp1", "vp2"]);
    assert!(matches!(net.run(), Output::Failed { retry: true, .. }));
    assert_eq!(peer_failures(&net).len(), 2);
}

#[test]
fn a_forged_snapshot_is_caught_by_the_state_hash_and_replaced() {
    use crate::statetransfer::Config;
    let source = chain(30, 500);
    // vp1 serves a different chain's state under the same block number.
    let mut other = chain(30, 500);
    let mut batch = crate::ledger::kv::WriteBatch::new();
    let (_, writes) = crate::ledger::apply_delta_writes(
        &other,
        &{
            let mut d = crate::ledger::StateDelta::new();
            d.set("cc", "evil", b"1".to_vec(), None);
            d
        },
        &config().state_config,
    )
    .unwrap();
    batch.extend(writes);
    other.apply(&batch);
    let cfg = Config {
        max_deltas: 5,
        ..config()
    };
    let mut net = Net::new(genesis_only(), cfg)
        .peer("vp1", other, Behaviour::Honest)
        .peer("vp2", source.clone(), Behaviour::Honest);
    net.start(target_of(&source), &["vp1", "vp2"]);
    assert!(matches!(net.run(), Output::Done { .. }));
    let failures = peer_failures(&net);
    assert!(
        matches!(&failures[..], [(p, TransferError::SnapshotStateMismatch { block: 30, .. })] if p == "vp1")
    );
    assert_same_ledger(net.st.store(), &source);
}

#[test]
fn a_peer_reported_unavailable_is_skipped() {
    let source = chain(5, 500);
    let mut net = Net::new(genesis_only(), config())
        .peer("vp1", source.clone(), Behaviour::Silent)
        .peer("vp2", source.clone(), Behaviour::Honest);
    net.start(target_of(&source), &["vp1", "vp2"]);
    net.feed(crate::statetransfer::Input::PeerUnavailable { peer: "vp1".into() });
    assert!(matches!(net.run(), Output::Done { .. }));
    assert!(
        matches!(&peer_failures(&net)[..], [(p, TransferError::PeerUnavailable { .. })] if p == "vp1")
    );
    net.advance(crate::time::Duration::ZERO);
}
