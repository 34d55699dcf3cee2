//! Quorum, watermark and new-view arithmetic (v0.6 `intersectionQuorum`,
//! `selectInitialCheckpoint`, `assignSequenceNumbers`).

use std::collections::BTreeMap;

use fabrik_proto::pbft::ViewChange;
use fabrik_proto::pbft::view_change::{C, Pq};

use super::*;
use crate::pbft::handle::{assign_sequence_numbers, select_initial_checkpoint};

#[test]
fn quorums_match_v06() {
    for (n, f, q, vc) in [(4, 1, 3, 3), (7, 2, 5, 5), (16, 5, 11, 11), (5, 1, 4, 4)] {
        let c = Config::new(0, n, f, Keys::from_seed(1, n, 0));
        assert_eq!(
            (c.quorum(), c.all_correct_quorum(), c.weak_quorum()),
            (q, vc, f + 1),
            "N={n} f={f}"
        );
    }
    let c = cfg(0);
    assert_eq!(c.log_size(), 8);
    assert_eq!((c.primary(0), c.primary(5)), (0, 1));
}

#[test]
fn window_is_h_exclusive_to_h_plus_l_inclusive() {
    let mut r = replica(1);
    r.h = 4;
    assert!(!r.in_window(4));
    assert!(r.in_window(5) && r.in_window(12));
    assert!(!r.in_window(13));
}

#[test]
fn move_watermarks_rounds_down_to_k() {
    let mut r = replica(1);
    r.move_watermarks(5);
    assert_eq!(r.low_watermark(), 4);
}

fn vc(
    id: u64,
    h: u64,
    cset: &[(u64, &str)],
    pset: &[(u64, &str, u64)],
    qset: &[(u64, &str, u64)],
) -> ViewChange {
    let pq = |s: &[(u64, &str, u64)]| {
        s.iter()
            .map(|(n, d, v)| Pq {
                sequence_number: *n,
                batch_digest: (*d).into(),
                view: *v,
            })
            .collect()
    };
    ViewChange {
        view: 1,
        h,
        cset: cset
            .iter()
            .map(|(n, id)| C {
                sequence_number: *n,
                id: (*id).into(),
            })
            .collect(),
        pset: pq(pset),
        qset: pq(qset),
        replica_id: id,
        signature: vec![],
    }
}

#[test]
fn initial_checkpoint_needs_a_weak_cert_and_q_low_watermarks_below_it() {
    let vset = vec![
        vc(0, 0, &[(0, "g"), (2, "a")], &[], &[]),
        vc(1, 0, &[(0, "g"), (2, "a")], &[], &[]),
        vc(2, 2, &[(2, "a")], &[], &[]),
    ];
    let cp = select_initial_checkpoint(&vset, 1, 3).unwrap();
    assert_eq!(
        (cp.seq, cp.id.as_str(), cp.replicas),
        (2, "a", vec![0, 1, 2])
    );
    let vset = vec![
        vc(0, 0, &[(4, "b")], &[], &[]),
        vc(1, 0, &[(0, "g")], &[], &[]),
        vc(2, 0, &[(0, "g")], &[], &[]),
    ];
    let cp = select_initial_checkpoint(&vset, 1, 3).unwrap();
    assert_eq!(cp.seq, 0, "checkpoint 4 has only one voucher");
    // Repeating a C entry in one message does not make a weak certificate.
    let vset = vec![
        vc(0, 0, &[(4, "b"), (4, "b")], &[], &[]),
        vc(1, 0, &[], &[], &[]),
        vc(2, 0, &[], &[], &[]),
    ];
    assert!(select_initial_checkpoint(&vset, 1, 3).is_none());
}

#[test]
fn xset_keeps_prepared_requests_and_fills_gaps_with_nulls() {
    // seq 1 prepared at 0,1 (view 0), pre-prepared at 0,1,2; seq 2 prepared nowhere; seq 3 prepared at 0.
    let p = [(1, "d1", 0), (3, "d3", 0)];
    let vset = vec![
        vc(0, 0, &[(0, "g")], &p, &[(1, "d1", 0), (3, "d3", 0)]),
        vc(
            1,
            0,
            &[(0, "g")],
            &[(1, "d1", 0)],
            &[(1, "d1", 0), (3, "d3", 0)],
        ),
        vc(2, 0, &[(0, "g")], &[], &[(1, "d1", 0)]),
    ];
    let x = assign_sequence_numbers(&vset, 0, 8, 1, 3).unwrap();
    let want: BTreeMap<u64, String> = [(1, "d1"), (2, ""), (3, "d3")]
        .into_iter()
        .map(|(n, d)| (n, d.to_string()))
        .collect();
    assert_eq!(x, want);
}

#[test]
fn xset_only_null_request_when_nothing_prepared() {
    let vset = vec![
        vc(0, 0, &[], &[], &[]),
        vc(1, 0, &[], &[], &[]),
        vc(2, 0, &[], &[], &[]),
    ];
    let x = assign_sequence_numbers(&vset, 0, 8, 1, 3).unwrap();
    assert_eq!(x, [(1, String::new())].into_iter().collect());
}

#[test]
fn xset_undecidable_without_a2_support() {
    // Prepared at 0 and 1 but pre-prepared only at 0: neither A2 nor the null rule.
    let vset = vec![
        vc(0, 0, &[], &[(1, "d", 0)], &[(1, "d", 0)]),
        vc(1, 0, &[], &[(1, "d", 0)], &[]),
        vc(2, 0, &[], &[], &[]),
    ];
    assert!(assign_sequence_numbers(&vset, 0, 8, 1, 3).is_none());
}

#[test]
fn xset_prefers_the_later_view() {
    let vset = vec![
        vc(0, 0, &[], &[(1, "old", 0)], &[(1, "old", 0), (1, "new", 1)]),
        vc(1, 0, &[], &[(1, "new", 1)], &[(1, "new", 1)]),
        vc(2, 0, &[], &[(1, "new", 1)], &[(1, "new", 1)]),
    ];
    let mut vset = vset;
    for v in &mut vset {
        v.view = 2;
    }
    let x = assign_sequence_numbers(&vset, 0, 8, 1, 3).unwrap();
    assert_eq!(x.get(&1).map(String::as_str), Some("new"));
}
