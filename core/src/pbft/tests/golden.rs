//! Golden-output tests: one replica in a known state, one input, the exact
//! outputs (openraft style).

use fabrik_proto::pbft::view_change::Pq;
use fabrik_proto::pbft::{PQset, PrePrepare, message};

use super::*;
use crate::pbft::{Alarm, PersistOp, RejectReason, Timer};

fn pq(seq: u64, d: &str, view: u64) -> PQset {
    PQset {
        set: vec![Pq {
            sequence_number: seq,
            batch_digest: d.into(),
            view,
        }],
    }
}

fn bcast(p: message::Payload) -> Output {
    Output::Broadcast(pbft(p))
}

#[test]
fn backup_stores_batch_persists_qset_then_prepares() {
    let mut r = replica(1);
    let b = batch(&[req(1, 1)]);
    let d = batch_digest(&b);
    deliver(&mut r, 0, pre_prepare(0, 1, &b, 0)).unwrap();
    assert_eq!(
        drain(&mut r),
        vec![
            Output::Persist(PersistOp::StoreBatch {
                digest: d.clone(),
                batch: b.clone()
            }),
            Output::Persist(PersistOp::QSet(pq(1, &d, 0))),
            bcast(prepare(0, 1, &d, 1)),
        ]
    );
    assert!(r.timers.is_set(&Timer::Request), "a batch is outstanding");
}

#[test]
fn prepared_persists_pset_before_commit_and_committed_executes() {
    let mut r = replica(1);
    let b = batch(&[req(1, 1)]);
    let d = batch_digest(&b);
    deliver(&mut r, 0, pre_prepare(0, 1, &b, 0)).unwrap();
    drain(&mut r);
    deliver(&mut r, 2, prepare(0, 1, &d, 2)).unwrap();
    assert_eq!(
        drain(&mut r),
        vec![
            Output::Persist(PersistOp::PSet(pq(1, &d, 0))),
            bcast(commit(0, 1, &d, 1))
        ]
    );
    deliver(&mut r, 0, commit(0, 1, &d, 0)).unwrap();
    assert_eq!(drain(&mut r), vec![]);
    deliver(&mut r, 2, commit(0, 1, &d, 2)).unwrap();
    assert_eq!(
        drain(&mut r),
        vec![
            Output::Committed {
                seq: 1,
                digest: d.clone()
            },
            Output::Execute { seq: 1, batch: b }
        ]
    );
    assert!(
        !r.timers.is_set(&Timer::Request),
        "commit stops the request timer"
    );
}

#[test]
fn executing_a_checkpoint_boundary_persists_then_broadcasts_the_checkpoint() {
    let mut r = replica(1);
    r.last_exec = 1;
    r.current_exec = Some(2);
    r.handle(
        T0,
        Input::Executed {
            seq: 2,
            info: info(3),
        },
    )
    .unwrap();
    let id = id_of(&info(3));
    use prost::Message as _;
    assert_eq!(
        drain(&mut r),
        vec![
            Output::Persist(PersistOp::Checkpoint {
                seq: 2,
                info: info(3).encode_to_vec()
            }),
            bcast(checkpoint(2, 1, &id)),
        ]
    );
    assert_eq!(r.last_exec(), 2);
}

#[test]
fn executed_for_the_wrong_seq_is_a_local_reject() {
    let mut r = replica(1);
    let err = r
        .handle(
            T0,
            Input::Executed {
                seq: 5,
                info: info(2),
            },
        )
        .unwrap_err();
    assert!(matches!(err.reason, RejectReason::UnexpectedInput(_)));
    assert_eq!(err.from, None);
}

#[test]
fn idle_primary_cuts_a_batch_at_once() {
    let mut r = replica(0);
    let q = req(0, 1);
    r.handle(T0, Input::Request(q.clone())).unwrap();
    let b = batch(std::slice::from_ref(&q));
    let d = batch_digest(&b);
    assert_eq!(
        drain(&mut r),
        vec![
            Output::Broadcast(PeerMsg::Request(q)),
            Output::Persist(PersistOp::StoreBatch {
                digest: d.clone(),
                batch: b.clone()
            }),
            Output::Persist(PersistOp::QSet(pq(1, &d, 0))),
            bcast(pre_prepare(0, 1, &b, 0)),
        ]
    );
}

#[test]
fn busy_primary_waits_for_batch_size_or_timeout() {
    let mut r = replica(0);
    r.handle(T0, Input::Request(req(0, 1))).unwrap();
    drain(&mut r);
    // seq 1 is in flight: the next request waits for the batch timer.
    r.handle(
        T0,
        Input::Peer {
            from: 2,
            msg: PeerMsg::Request(req(2, 1)),
        },
    )
    .unwrap();
    assert_eq!(drain(&mut r), vec![]);
    assert_eq!(
        r.timers.get(&Timer::Batch),
        Some(T0 + Duration::from_secs(1))
    );
    r.handle_timeout(T0 + Duration::from_secs(1));
    let outs = drain(&mut r);
    assert!(
        matches!(outs.last(), Some(Output::Broadcast(PeerMsg::Pbft(_)))),
        "{outs:?}"
    );
    // batch size 2 cuts without waiting
    r.handle(
        T0,
        Input::Peer {
            from: 2,
            msg: PeerMsg::Request(req(2, 2)),
        },
    )
    .unwrap();
    r.handle(
        T0,
        Input::Peer {
            from: 3,
            msg: PeerMsg::Request(req(3, 1)),
        },
    )
    .unwrap();
    let outs = drain(&mut r);
    let pp = outs.iter().find_map(|o| match o {
        Output::Broadcast(PeerMsg::Pbft(m)) => match &m.payload {
            Some(message::Payload::PrePrepare(pp)) => Some(pp.clone()),
            _ => None,
        },
        _ => None,
    });
    assert_eq!(
        pp.map(|p| (p.sequence_number, p.request_batch.unwrap().batch.len())),
        Some((3, 2))
    );
}

#[test]
fn non_adaptive_primary_waits_for_the_batch_timeout_even_when_idle() {
    let mut c = cfg(0);
    c.adaptive_batching = false;
    let mut r = with_cfg(c);
    r.handle(T0, Input::Request(req(0, 1))).unwrap();
    assert_eq!(
        drain(&mut r),
        vec![Output::Broadcast(PeerMsg::Request(req(0, 1)))]
    );
    assert_eq!(r.poll_timeout(), Some(T0 + Duration::from_secs(1)));
}

#[test]
fn primary_issues_only_up_to_h_plus_half_the_log() {
    let mut r = replica(0);
    // L = 8: seqs 1..=4 may be issued, the 5th waits.
    for ts in 1..=10 {
        r.handle(
            T0,
            Input::Peer {
                from: 1,
                msg: PeerMsg::Request(req(1, ts)),
            },
        )
        .unwrap();
    }
    r.handle_timeout(T0 + Duration::from_secs(1));
    assert_eq!(r.seq_no, 4);
    assert!(r.reqs.unassigned() > 0);
}

#[test]
fn wrong_replica_id_is_rejected_without_state_change() {
    let mut r = replica(1);
    let err = deliver(&mut r, 3, prepare(0, 1, "d", 2)).unwrap_err();
    assert_eq!(
        err.reason,
        RejectReason::WrongReplicaId {
            claimed: 2,
            actual: 3
        }
    );
    assert_eq!(err.from, Some(3));
    assert_eq!(
        drain(&mut r),
        vec![Output::Misbehavior {
            from: 3,
            reason: err.reason.clone()
        }]
    );
    assert!(r.log.certs.is_empty());
    assert_eq!(r.reject_counts().get(&Some(3)), Some(&1));
}

#[test]
fn unknown_sender_is_rejected() {
    let mut r = replica(1);
    let err = deliver(&mut r, 9, prepare(0, 1, "d", 9)).unwrap_err();
    assert_eq!(err.reason, RejectReason::UnknownReplica(9));
}

#[test]
fn malicious_pre_prepare_with_wrong_digest_is_rejected() {
    let mut r = replica(1);
    let b = batch(&[req(1, 1)]);
    let mut p = PrePrepare {
        view: 0,
        sequence_number: 1,
        batch_digest: "forged".into(),
        request_batch: Some(b),
        replica_id: 0,
    };
    let err = deliver(&mut r, 0, message::Payload::PrePrepare(p.clone())).unwrap_err();
    assert_eq!(err.reason, RejectReason::DigestMismatch);
    p.request_batch = None;
    let err = deliver(&mut r, 0, message::Payload::PrePrepare(p)).unwrap_err();
    assert_eq!(err.reason, RejectReason::IncompletePayload);
    assert!(r.log.certs.is_empty() && r.log.batches.is_empty());
}

#[test]
fn pre_prepare_from_a_backup_or_out_of_window_or_wrong_view_is_rejected() {
    let mut r = replica(1);
    let b = batch(&[req(1, 1)]);
    assert_eq!(
        deliver(&mut r, 2, pre_prepare(0, 1, &b, 2))
            .unwrap_err()
            .reason,
        RejectReason::NotPrimary { from: 2, view: 0 }
    );
    assert_eq!(
        deliver(&mut r, 0, pre_prepare(0, 9, &b, 0))
            .unwrap_err()
            .reason,
        RejectReason::OutOfWindow {
            seq: 9,
            low: 0,
            high: 8
        }
    );
    // Another view's pre-prepare is learned from only if that view's
    // primary sent it, and only for the latest view its sender used.
    assert_eq!(
        deliver(&mut r, 0, pre_prepare(1, 1, &b, 0))
            .unwrap_err()
            .reason,
        RejectReason::NotPrimary { from: 0, view: 1 }
    );
    deliver(&mut r, 2, commit(6, 1, &batch_digest(&b), 2)).unwrap();
    assert_eq!(
        deliver(&mut r, 2, pre_prepare(2, 1, &b, 2))
            .unwrap_err()
            .reason,
        RejectReason::WrongView {
            view: 2,
            current: 0
        }
    );
}

#[test]
fn inconsistent_pre_prepare_starts_a_view_change() {
    let mut r = replica(1);
    deliver(&mut r, 0, pre_prepare(0, 1, &batch(&[req(1, 1)]), 0)).unwrap();
    drain(&mut r);
    deliver(&mut r, 0, pre_prepare(0, 1, &batch(&[req(1, 2)]), 0)).unwrap();
    let outs = drain(&mut r);
    assert!(matches!(
        outs.first(),
        Some(Output::Misbehavior {
            from: 0,
            reason: RejectReason::Conflict { view: 0, seq: 1 }
        })
    ));
    assert!(
        matches!(outs.get(1), Some(Output::Persist(PersistOp::ViewChange(vc))) if vc.view == 1 && vc.qset.len() == 1)
    );
    assert_eq!(r.view(), 1);
    assert!(!r.is_view_active());
}

#[test]
fn duplicate_and_equivocating_prepares_are_rejected() {
    let mut r = replica(1);
    deliver(&mut r, 2, prepare(0, 1, "d", 2)).unwrap();
    assert_eq!(
        deliver(&mut r, 2, prepare(0, 1, "d", 2))
            .unwrap_err()
            .reason,
        RejectReason::Duplicate
    );
    assert_eq!(
        deliver(&mut r, 2, prepare(0, 1, "e", 2))
            .unwrap_err()
            .reason,
        RejectReason::Conflict { view: 0, seq: 1 }
    );
    assert_eq!(
        deliver(&mut r, 0, prepare(0, 1, "d", 0))
            .unwrap_err()
            .reason,
        RejectReason::PrepareFromPrimary
    );
}

#[test]
fn request_dedup_rejects_duplicates_and_executed_requests() {
    let mut r = replica(1);
    let q = req(2, 5);
    r.handle(
        T0,
        Input::Peer {
            from: 2,
            msg: PeerMsg::Request(q.clone()),
        },
    )
    .unwrap();
    let err = r
        .handle(
            T0,
            Input::Peer {
                from: 2,
                msg: PeerMsg::Request(q.clone()),
            },
        )
        .unwrap_err();
    assert_eq!(err.reason, RejectReason::Duplicate);
    r.dedup.executed(&q);
    let err = r
        .handle(
            T0,
            Input::Peer {
                from: 2,
                msg: PeerMsg::Request(q),
            },
        )
        .unwrap_err();
    assert_eq!(err.reason, RejectReason::StaleRequest);
    let err = r
        .handle(
            T0,
            Input::Peer {
                from: 3,
                msg: PeerMsg::Request(req(2, 6)),
            },
        )
        .unwrap_err();
    assert_eq!(
        err.reason,
        RejectReason::WrongReplicaId {
            claimed: 2,
            actual: 3
        }
    );
}

#[test]
fn stable_checkpoint_moves_the_watermark_and_collects_garbage() {
    let mut r = replica(1);
    let id = id_of(&info(3));
    r.log.cert_mut(0, 1).digest = Some("x".into());
    r.last_exec = 1;
    r.current_exec = Some(2);
    r.handle(
        T0,
        Input::Executed {
            seq: 2,
            info: info(3),
        },
    )
    .unwrap();
    drain(&mut r);
    deliver(&mut r, 2, checkpoint(2, 2, &id)).unwrap();
    assert_eq!(r.low_watermark(), 0);
    deliver(&mut r, 3, checkpoint(2, 3, &id)).unwrap();
    assert_eq!(r.low_watermark(), 2);
    assert!(r.log.certs.is_empty());
    let outs = drain(&mut r);
    assert!(
        outs.contains(&Output::Persist(PersistOp::DeleteCheckpoint { seq: 0 })),
        "{outs:?}"
    );
}

#[test]
fn own_checkpoint_differing_from_weak_certificate_raises_alarm_and_halts() {
    let mut r = replica(1);
    r.last_exec = 1;
    r.current_exec = Some(2);
    r.handle(
        T0,
        Input::Executed {
            seq: 2,
            info: info(3),
        },
    )
    .unwrap();
    drain(&mut r);
    let other = id_of(&info(99));
    deliver(&mut r, 2, checkpoint(2, 2, &other)).unwrap();
    deliver(&mut r, 3, checkpoint(2, 3, &other)).unwrap();
    let outs = drain(&mut r);
    assert!(
        matches!(
            outs.last(),
            Some(Output::Alarm(Alarm::OwnCheckpointDiverged { seq: 2, .. }))
        ),
        "{outs:?}"
    );
    assert!(r.is_halted());
    assert_eq!(
        deliver(&mut r, 2, prepare(0, 1, "d", 2))
            .unwrap_err()
            .reason,
        RejectReason::Halted
    );
}

#[test]
fn f_plus_two_distinct_checkpoint_ids_raise_an_alarm_not_a_panic() {
    let mut r = replica(1);
    deliver(&mut r, 0, checkpoint(2, 0, "a")).unwrap();
    deliver(&mut r, 2, checkpoint(2, 2, "b")).unwrap();
    deliver(&mut r, 3, checkpoint(2, 3, "c")).unwrap();
    assert_eq!(
        drain(&mut r),
        vec![Output::Alarm(Alarm::NoStableCertificate { seq: 2 })]
    );
    assert_eq!(
        deliver(&mut r, 3, checkpoint(2, 3, "d"))
            .unwrap_err()
            .reason,
        RejectReason::Conflict { view: 0, seq: 2 }
    );
}

#[test]
fn falling_behind_invalidates_state_and_transfers_to_the_weak_certificate() {
    let mut r = replica(1);
    let id = id_of(&info(11));
    // H = 8; f+1 = 2 replicas report checkpoint 10.
    deliver(&mut r, 2, checkpoint(10, 2, &id)).unwrap();
    assert!(!r.is_state_invalid());
    deliver(&mut r, 3, checkpoint(10, 3, &id)).unwrap();
    assert!(r.is_state_invalid());
    let outs = drain(&mut r);
    assert!(outs.contains(&Output::StateInvalid), "{outs:?}");
    assert_eq!(r.low_watermark(), 10);
    // Checkpoint 12 gets a weak certificate: transfer there.
    let id12 = id_of(&info(13));
    deliver(&mut r, 2, checkpoint(12, 2, &id12)).unwrap();
    deliver(&mut r, 3, checkpoint(12, 3, &id12)).unwrap();
    assert_eq!(
        drain(&mut r),
        vec![Output::StateTransfer {
            seq: 12,
            id: id12.clone(),
            replicas: vec![2, 3]
        }]
    );
    r.handle(
        T0,
        Input::StateTransferred {
            seq: 12,
            info: info(13),
        },
    )
    .unwrap();
    let outs = drain(&mut r);
    assert!(outs.contains(&Output::StateValid), "{outs:?}");
    assert!(outs.contains(&bcast(checkpoint(12, 1, &id12))), "{outs:?}");
    assert_eq!(
        (r.last_exec(), r.low_watermark(), r.is_state_invalid()),
        (12, 12, false)
    );
}

#[test]
fn request_timeout_sends_a_signed_view_change() {
    let mut r = replica(1);
    r.handle(
        T0,
        Input::Peer {
            from: 2,
            msg: PeerMsg::Request(req(2, 1)),
        },
    )
    .unwrap();
    drain(&mut r);
    assert_eq!(r.poll_timeout(), Some(T0 + Duration::from_secs(2)));
    r.handle_timeout(T0 + Duration::from_secs(2));
    let outs = drain(&mut r);
    let Some(Output::Persist(PersistOp::ViewChange(vc))) = outs.first() else {
        panic!("{outs:?}")
    };
    assert_eq!((vc.view, vc.h, vc.replica_id), (1, 0, 1));
    assert!(r.verify_view_change(vc).is_ok());
    assert_eq!(
        outs.get(1),
        Some(&bcast(message::Payload::ViewChange(vc.clone())))
    );
    let mut forged = vc.clone();
    forged.h = 0;
    forged.view = 2;
    assert_eq!(
        r.verify_view_change(&forged),
        Err(RejectReason::BadSignature(1))
    );
}

#[test]
fn config_validation_names_the_key_and_adjusts_timeouts() {
    let mut c = cfg(0);
    c.log_multiplier = 1;
    assert_eq!(c.validated().unwrap_err().key, "general.logmultiplier");
    let mut c = cfg(0);
    c.n = 3;
    assert_eq!(c.validated().unwrap_err().key, "general.N");
    let mut c = cfg(0);
    c.timeout_request = Duration::from_millis(500);
    c.timeout_null_request = Duration::from_millis(100);
    let c = c.validated().unwrap();
    assert_eq!(c.timeout_request, Duration::from_millis(1500));
    assert_eq!(c.timeout_null_request, Duration::from_millis(2250));
}

fn view_change_of(id: ReplicaId) -> fabrik_proto::pbft::ViewChange {
    let mut r = replica(id);
    r.send_view_change();
    drain(&mut r)
        .into_iter()
        .find_map(|o| match o {
            Output::Persist(PersistOp::ViewChange(vc)) => Some(vc),
            _ => None,
        })
        .unwrap()
}

#[test]
fn fetch_is_answered_by_unicast_and_unsolicited_returns_are_rejected() {
    let mut r = replica(1);
    let b = batch(&[req(1, 1)]);
    let d = batch_digest(&b);
    deliver(&mut r, 0, pre_prepare(0, 1, &b, 0)).unwrap();
    drain(&mut r);
    let fetch = fabrik_proto::pbft::FetchRequestBatch {
        batch_digest: d,
        replica_id: 2,
    };
    deliver(&mut r, 2, message::Payload::FetchRequestBatch(fetch)).unwrap();
    assert_eq!(
        drain(&mut r),
        vec![Output::Send {
            to: 2,
            msg: pbft(message::Payload::ReturnRequestBatch(b.clone()))
        }]
    );
    let err = deliver(&mut r, 2, message::Payload::ReturnRequestBatch(b)).unwrap_err();
    assert_eq!(err.reason, RejectReason::Unsolicited);
}

#[test]
fn f_plus_one_view_changes_make_a_replica_join_and_the_new_primary_sends_new_view() {
    let mut r = replica(1); // primary of view 1
    deliver(&mut r, 2, message::Payload::ViewChange(view_change_of(2))).unwrap();
    assert_eq!(r.view(), 0, "one view change is not enough to join");
    deliver(&mut r, 3, message::Payload::ViewChange(view_change_of(3))).unwrap();
    assert_eq!(r.view(), 1);
    let outs = drain(&mut r);
    let kinds: Vec<&str> = outs
        .iter()
        .map(|o| match o {
            Output::Persist(PersistOp::ViewChange(_)) => "persist-vc",
            Output::Broadcast(PeerMsg::Pbft(m)) => match &m.payload {
                Some(message::Payload::ViewChange(_)) => "vc",
                Some(message::Payload::NewView(_)) => "nv",
                _ => "other",
            },
            Output::Persist(PersistOp::NewView(_)) => "persist-nv",
            Output::Persist(PersistOp::QSet(_)) => "persist-qset",
            Output::ViewChanged { .. } => "view-changed",
            _ => "other",
        })
        .collect();
    assert_eq!(
        kinds,
        vec![
            "persist-vc",
            "vc",
            "nv",
            "persist-nv",
            "persist-qset",
            "view-changed"
        ],
        "{outs:?}"
    );
    assert!(r.is_view_active());
    assert_eq!(r.poll_timeout(), None, "nothing outstanding");
}

#[test]
fn new_view_from_a_non_primary_or_with_a_short_vset_is_rejected() {
    let mut r = replica(2);
    let nv = fabrik_proto::pbft::NewView {
        view: 1,
        vset: vec![view_change_of(3)],
        xset: Default::default(),
        replica_id: 3,
    };
    assert_eq!(
        deliver(&mut r, 3, message::Payload::NewView(nv.clone()))
            .unwrap_err()
            .reason,
        RejectReason::NotPrimary { from: 3, view: 1 }
    );
    let nv = fabrik_proto::pbft::NewView {
        replica_id: 1,
        ..nv
    };
    assert_eq!(
        deliver(&mut r, 1, message::Payload::NewView(nv))
            .unwrap_err()
            .reason,
        RejectReason::InvalidViewChange("vset size")
    );
    assert_eq!(r.view(), 0);
}

#[test]
fn view_change_with_a_bad_signature_is_misbehavior() {
    let mut r = replica(1);
    let mut vc = view_change_of(2);
    vc.h = 0;
    vc.signature[0] ^= 1;
    let err = deliver(&mut r, 2, message::Payload::ViewChange(vc)).unwrap_err();
    assert_eq!(err.reason, RejectReason::BadSignature(2));
    assert_eq!(
        drain(&mut r),
        vec![Output::Misbehavior {
            from: 2,
            reason: RejectReason::BadSignature(2)
        }]
    );
}

#[test]
fn the_request_verifier_hook_rejects_unsigned_requests() {
    let mut c = cfg(1);
    c.request_verifier = Some(|r| !r.signature.is_empty());
    let mut r = with_cfg(c);
    let err = r
        .handle(
            T0,
            Input::Peer {
                from: 2,
                msg: PeerMsg::Request(req(2, 1)),
            },
        )
        .unwrap_err();
    assert_eq!(err.reason, RejectReason::BadRequestSignature);
    let mut signed = req(2, 1);
    signed.signature = vec![1];
    r.handle(
        T0,
        Input::Peer {
            from: 2,
            msg: PeerMsg::Request(signed),
        },
    )
    .unwrap();
}
