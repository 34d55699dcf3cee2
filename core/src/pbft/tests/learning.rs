//! A replica outside the view the others work in follows their decisions
//! and, when it is behind, joins their view (`handle/learn.rs`).

use super::*;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn voted_in(net: &Net, id: u64, view: u64) -> bool {
    net.outputs.iter().any(|(from, out)| {
        *from == id
            && match out {
                Output::Broadcast(PeerMsg::Pbft(Message {
                    payload: Some(message::Payload::Prepare(p)),
                })) => p.view == view,
                Output::Broadcast(PeerMsg::Pbft(Message {
                    payload: Some(message::Payload::Commit(c)),
                })) => c.view == view,
                _ => false,
            }
    })
}

#[test]
fn a_replica_that_changed_view_alone_follows_the_others_decisions() {
    let mut net = Net::standard();
    // Replica 3 is cut off with a request only it has: its request timer
    // fires and it asks for view 1 alone; the others stay in view 0.
    net.drop = Box::new(|from, to, _| from == 3 || to == 3);
    net.submit(3, req(3, 1));
    net.advance(secs(10));
    net.drop = Box::new(|_, _, _| false);
    let lone = net.replicas[3].as_ref().unwrap();
    assert!(lone.view() >= 1 && !lone.is_view_active());
    assert_eq!(net.views()[..3], [0, 0, 0]);
    net.outputs.clear();

    for ts in 2..=4 {
        net.submit(1, req(1, ts));
        net.advance(secs(1));
    }

    assert_eq!(net.last_exec(0), 3);
    assert_eq!(
        net.last_exec(3),
        net.last_exec(0),
        "the lone replica executes what the others commit in view 0"
    );
    assert_eq!(net.head(3), net.head(0));
    assert!(!net.replicas[3].as_ref().unwrap().is_view_active());
    assert!(
        !voted_in(&net, 3, 0),
        "it never votes in a view it left, so its VIEW-CHANGE stays true"
    );
    net.assert_agreement();
}

#[test]
fn a_restarted_primary_joins_the_view_the_others_moved_to() {
    let mut net = Net::standard();
    net.submit(1, req(1, 1));
    assert_eq!(net.last_exec(0), 1);
    net.crash(0);
    net.submit(1, req(1, 2));
    net.advance(secs(10));
    assert_eq!(net.views(), vec![1, 1, 1]);
    assert_eq!(net.last_exec(1), 2);

    // Back from its own store: it still believes it leads view 0.
    net.restart(0, cfg(0));
    assert_eq!(net.replicas[0].as_ref().unwrap().view(), 0);
    net.submit(2, req(2, 3));
    let old_primary = net.replicas[0].as_ref().unwrap();
    assert_eq!(
        (old_primary.view(), old_primary.is_view_active()),
        (1, true),
        "f+1 replicas working in view 1 bring it there"
    );

    // It missed the commits of seq 2; the next stable checkpoint brings
    // it level, and from then on it executes with the others.
    for ts in 4..=6 {
        net.submit(2, req(2, ts));
        net.advance(secs(1));
    }
    assert_eq!(net.last_exec(1), 6);
    assert_eq!(net.last_exec(0), net.last_exec(1));
    assert_eq!(net.head(0), net.head(1));
    net.assert_agreement();
}

#[test]
fn votes_from_a_view_the_sender_already_left_are_refused() {
    let mut r = replica(3);
    let b = batch(&[req(1, 1)]);
    let d = batch_digest(&b);
    deliver(&mut r, 1, prepare(2, 1, &d, 1)).unwrap();
    let err = deliver(&mut r, 1, commit(1, 1, &d, 1)).unwrap_err();
    assert!(
        matches!(
            err.reason,
            crate::pbft::RejectReason::WrongView { view: 1, .. }
        ),
        "{err:?}"
    );
    assert_eq!(r.buffer_sizes().certs, 1, "only the view-2 prepare is kept");
}

#[test]
fn a_learned_pre_prepare_must_come_from_that_views_primary() {
    let mut r = replica(3);
    let b = batch(&[req(1, 1)]);
    let err = deliver(&mut r, 2, pre_prepare(1, 1, &b, 2)).unwrap_err();
    assert!(
        matches!(
            err.reason,
            crate::pbft::RejectReason::NotPrimary { from: 2, view: 1 }
        ),
        "{err:?}"
    );
    deliver(&mut r, 1, pre_prepare(1, 1, &b, 1)).unwrap();
    let outs = drain(&mut r);
    assert!(
        !outs.iter().any(|o| matches!(o, Output::Broadcast(_))),
        "a learned pre-prepare is never answered: {outs:?}"
    );
}
