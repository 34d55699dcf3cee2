//! Catching up when the network has moved on and then gone quiet (issue
//! #17, seen on a real network): scripts of inputs and the outputs the
//! replica must give. K = 2 and L = 8 (`cfg`), so the window is (h, h + 8].

use super::*;
use crate::pbft::Input;

fn transfer(seq: u64, id: &str, replicas: Vec<ReplicaId>) -> Output {
    Output::StateTransfer {
        seq,
        id: id.to_owned(),
        replicas,
    }
}

/// Replica 1 falls behind (f+1 checkpoints at 10 above its window) and
/// starts a transfer to the weak certificate at 12.
fn behind_and_transferring_to_12() -> Replica {
    let mut r = replica(1);
    let id10 = id_of(&info(11));
    deliver(&mut r, 2, checkpoint(10, 2, &id10)).unwrap();
    deliver(&mut r, 3, checkpoint(10, 3, &id10)).unwrap();
    let id12 = id_of(&info(13));
    deliver(&mut r, 2, checkpoint(12, 2, &id12)).unwrap();
    deliver(&mut r, 3, checkpoint(12, 3, &id12)).unwrap();
    assert_eq!(drain(&mut r).last(), Some(&transfer(12, &id12, vec![2, 3])));
    r
}

#[test]
fn a_transfer_overtaken_by_checkpoints_above_the_window_goes_on_to_them() {
    let mut r = behind_and_transferring_to_12();
    // While it transfers, replicas 2 and 3 checkpoint 20 and 2 also 22, all
    // above the high watermark 18: f+1 of them move the window to 20.
    let id20 = id_of(&info(21));
    deliver(&mut r, 2, checkpoint(20, 2, &id20)).unwrap();
    deliver(&mut r, 2, checkpoint(22, 2, &id_of(&info(23)))).unwrap();
    deliver(&mut r, 3, checkpoint(20, 3, &id20)).unwrap();
    assert_eq!(r.low_watermark(), 20);
    drain(&mut r);
    // The transfer to 12 ends below the window; then the network is quiet.
    // Replicas 2 and 3 vouched for 20, so the replica goes on there at once.
    r.handle(
        T0,
        Input::StateTransferred {
            seq: 12,
            info: info(13),
        },
    )
    .unwrap();
    assert_eq!(drain(&mut r), vec![transfer(20, &id20, vec![2, 3])]);
    r.handle(
        T0,
        Input::StateTransferred {
            seq: 20,
            info: info(21),
        },
    )
    .unwrap();
    assert!(drain(&mut r).contains(&Output::StateValid));
    assert_eq!((r.last_exec(), r.is_state_invalid()), (20, false));
}

#[test]
fn a_failed_transfer_is_retried_with_doubling_backoff_while_the_network_is_quiet() {
    let mut r = behind_and_transferring_to_12();
    let id12 = id_of(&info(13));
    let mut now = T0;
    for wait in [1, 2, 4] {
        r.handle(now, Input::StateTransferFailed).unwrap();
        assert_eq!(drain(&mut r), vec![]);
        assert_eq!(r.poll_timeout(), Some(now + Duration::from_secs(wait)));
        now = now + Duration::from_secs(wait);
        r.handle_timeout(now);
        assert_eq!(drain(&mut r), vec![transfer(12, &id12, vec![2, 3])]);
    }
    r.handle(
        now,
        Input::StateTransferred {
            seq: 12,
            info: info(13),
        },
    )
    .unwrap();
    assert!(drain(&mut r).contains(&Output::StateValid));
    // Caught up: no retry is left armed, and the backoff starts afresh.
    r.handle_timeout(now + Duration::from_secs(600));
    assert!(
        !drain(&mut r)
            .iter()
            .any(|o| matches!(o, Output::StateTransfer { .. })),
    );
}

#[test]
fn the_retry_backoff_is_bounded() {
    let mut r = behind_and_transferring_to_12();
    let mut now = T0;
    let mut last_wait = Duration::ZERO;
    for _ in 0..12 {
        r.handle(now, Input::StateTransferFailed).unwrap();
        let due = r.poll_timeout().expect("a retry is armed");
        last_wait = due - now;
        now = due;
        r.handle_timeout(now);
        drain(&mut r);
    }
    assert_eq!(last_wait, Duration::from_secs(30));
}
