//! Admission bounds: each origin replica holds at most 1/N of the
//! outstanding-request cap at every replica, and takes new client requests
//! only up to half of that share, so a request one replica accepted always
//! finds room at the others; a refused client request is reported.

use super::*;
use crate::pbft::RejectReason;

/// A backup (replica 1) with a cap of 16: origin share 4, local admission 2.
fn small_backup() -> Replica {
    let mut c = cfg(1);
    c.max_outstanding_requests = 16;
    with_cfg(c)
}

fn relayed(from: ReplicaId, req: Request) -> Input {
    Input::Peer {
        from,
        msg: PeerMsg::Request(req),
    }
}

#[test]
fn limits_follow_the_cap_and_the_network_size() {
    let r = small_backup();
    assert_eq!(r.config().origin_limit(), 4);
    assert_eq!(r.config().local_admission_limit(), 2);
}

#[test]
fn client_requests_beyond_half_the_share_are_refused_and_reported() {
    let mut r = small_backup();
    for ts in 1..=2 {
        r.handle(T0, Input::Request(req(1, ts))).unwrap();
        assert_eq!(
            drain(&mut r),
            vec![Output::Broadcast(PeerMsg::Request(req(1, ts)))]
        );
    }
    assert_eq!(r.own_outstanding_requests(), 2);
    let refused = r.handle(T0, Input::Request(req(1, 3))).unwrap_err();
    assert_eq!(
        refused.reason,
        RejectReason::BufferFull("outstanding requests of this peer")
    );
    assert_eq!(
        drain(&mut r),
        vec![Output::RequestRefused {
            request: req(1, 3),
            reason: RejectReason::BufferFull("outstanding requests of this peer"),
        }],
        "refused, not broadcast, and reported for its client"
    );
    // Requests relayed by other origins still have their own shares.
    r.handle(T0, relayed(2, req(2, 1))).unwrap();
    assert_eq!(r.outstanding_requests(), 3);
}

#[test]
fn a_duplicate_client_request_is_refused_without_a_report() {
    let mut r = small_backup();
    r.handle(T0, Input::Request(req(1, 1))).unwrap();
    drain(&mut r);
    let dup = r.handle(T0, Input::Request(req(1, 1))).unwrap_err();
    assert_eq!(dup.reason, RejectReason::Duplicate);
    assert_eq!(drain(&mut r), vec![], "its first copy is still on its way");
}

#[test]
fn relayed_requests_beyond_their_origins_share_are_refused() {
    let mut r = small_backup();
    for ts in 1..=4 {
        r.handle(T0, relayed(2, req(2, ts))).unwrap();
    }
    let refused = r.handle(T0, relayed(2, req(2, 5))).unwrap_err();
    assert_eq!(
        refused.reason,
        RejectReason::BufferFull("outstanding requests of one origin")
    );
    assert_eq!(
        drain(&mut r),
        vec![],
        "a relayed request is its origin's to report"
    );
    r.handle(T0, relayed(3, req(3, 1))).unwrap();
    assert_eq!(r.outstanding_requests(), 5);
}

#[test]
fn executing_a_batch_frees_its_origins_share() {
    // Replica 1 as a backup: its two requests are ordered by primary 0 and
    // executed, after which it admits two more.
    let mut r = small_backup();
    for ts in 1..=2 {
        r.handle(T0, Input::Request(req(1, ts))).unwrap();
    }
    drain(&mut r);
    let b = batch(&[req(1, 1), req(1, 2)]);
    let d = batch_digest(&b);
    deliver(&mut r, 0, pre_prepare(0, 1, &b, 0)).unwrap();
    for from in [2, 3] {
        deliver(&mut r, from, prepare(0, 1, &d, from)).unwrap();
    }
    for from in [0, 2, 3] {
        deliver(&mut r, from, commit(0, 1, &d, from)).unwrap();
    }
    drain(&mut r);
    r.handle(
        T0,
        Input::Executed {
            seq: 1,
            info: info(2),
        },
    )
    .unwrap();
    drain(&mut r);
    assert_eq!(r.own_outstanding_requests(), 0);
    for ts in 3..=4 {
        r.handle(T0, Input::Request(req(1, ts))).unwrap();
    }
    assert_eq!(r.own_outstanding_requests(), 2);
}
