//! Whole catch-ups: by deltas, by snapshot, resumed after a crash.

use super::harness::{Behaviour, Net, assert_same_ledger, chain, config, genesis_only, target_of};
use crate::ledger::Ledger;
use crate::statetransfer::{Config, Output, StateBasis, WriteKind, state_basis};

#[test]
fn a_fresh_ledger_catches_up_30_blocks_by_deltas() {
    let source = chain(30, 500);
    let mut net = Net::new(genesis_only(), config()).peer("vp1", source.clone(), Behaviour::Honest);
    net.start(target_of(&source), &["vp1"]);
    let end = net.run();
    assert!(
        matches!(end, Output::Done { ref info } if info.height == 31),
        "{end:?}"
    );
    assert_same_ledger(net.st.store(), &source);
    assert_eq!(state_basis(net.st.store()).unwrap(), StateBasis::Head);
    let deltas = net
        .log
        .iter()
        .filter(|o| {
            matches!(
                o,
                Output::Write {
                    what: WriteKind::Delta { .. },
                    ..
                }
            )
        })
        .count();
    assert_eq!(deltas, 30);
    // Deltas are kept, so this ledger can serve them in turn.
    let ledger = Ledger::new(net.st.store());
    assert_eq!(
        ledger.state_delta(30).unwrap(),
        Ledger::new(&source).state_delta(30).unwrap()
    );
}

#[test]
fn a_gap_past_max_deltas_is_caught_up_by_snapshot_even_with_pruned_deltas() {
    // The source keeps only 5 deltas, so replaying 40 is impossible.
    let source = chain(40, 5);
    let cfg = Config {
        max_deltas: 10,
        ..config()
    };
    let mut net = Net::new(genesis_only(), cfg).peer("vp1", source.clone(), Behaviour::Honest);
    net.start(target_of(&source), &["vp1"]);
    let end = net.run();
    assert!(
        matches!(end, Output::Done { ref info } if info.height == 41),
        "{end:?}"
    );
    assert_same_ledger(net.st.store(), &source);
    assert!(net.log.iter().any(|o| matches!(
        o,
        Output::Write {
            what: WriteKind::WipeState,
            ..
        }
    )));
    assert!(!net.log.iter().any(|o| matches!(
        o,
        Output::Write {
            what: WriteKind::Delta { .. },
            ..
        }
    )));
    assert_eq!(state_basis(net.st.store()).unwrap(), StateBasis::Head);
}

#[test]
fn a_ledger_behind_by_a_few_blocks_fetches_only_the_missing_ones() {
    let source = chain(25, 500);
    let local = chain(20, 500);
    let mut net = Net::new(local, config()).peer("vp1", source.clone(), Behaviour::Honest);
    net.start(target_of(&source), &["vp1"]);
    assert!(matches!(net.run(), Output::Done { .. }));
    assert_same_ledger(net.st.store(), &source);
    let stored: Vec<_> = net
        .log
        .iter()
        .filter_map(|o| match o {
            Output::Write {
                what: WriteKind::Blocks { high, low },
                ..
            } => Some((*high, *low)),
            _ => None,
        })
        .collect();
    assert_eq!(stored, vec![(25, 21)]);
}

#[test]
fn a_transfer_interrupted_by_a_crash_resumes_from_the_marker() {
    let source = chain(30, 500);
    let mut net = Net::new(genesis_only(), config()).peer("vp1", source.clone(), Behaviour::Honest);
    net.start(target_of(&source), &["vp1"]);
    // Run until 10 deltas are durable, then "crash": keep only the store.
    while net
        .log
        .iter()
        .filter(|o| {
            matches!(
                o,
                Output::Write {
                    what: WriteKind::Delta { .. },
                    ..
                }
            )
        })
        .count()
        < 10
    {
        let input = net.queue.pop_front().unwrap();
        net.feed(input);
    }
    let store = net.st.store().clone();
    assert_eq!(state_basis(&store).unwrap(), StateBasis::Height(11));
    let mut net = Net::new(store, config()).peer("vp1", source.clone(), Behaviour::Honest);
    net.start(target_of(&source), &["vp1"]);
    assert!(matches!(net.run(), Output::Done { .. }));
    assert_same_ledger(net.st.store(), &source);
}

#[test]
fn a_crash_mid_snapshot_leaves_an_unknown_state_that_the_next_transfer_replaces() {
    let source = chain(30, 500);
    let cfg = Config {
        max_deltas: 5,
        ..config()
    };
    let mut net =
        Net::new(genesis_only(), cfg.clone()).peer("vp1", source.clone(), Behaviour::Honest);
    net.start(target_of(&source), &["vp1"]);
    while !net.log.iter().any(|o| {
        matches!(
            o,
            Output::Write {
                what: WriteKind::SnapshotChunk { sequence: 0 },
                ..
            }
        )
    }) {
        let input = net.queue.pop_front().unwrap();
        net.feed(input);
    }
    let store = net.st.store().clone();
    assert_eq!(state_basis(&store).unwrap(), StateBasis::Unknown);
    let mut net = Net::new(store, config()).peer("vp1", source.clone(), Behaviour::Honest);
    net.start(target_of(&source), &["vp1"]);
    assert!(matches!(net.run(), Output::Done { .. }));
    assert_same_ledger(net.st.store(), &source);
}
