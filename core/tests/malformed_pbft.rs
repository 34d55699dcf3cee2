//! Malformed-input corpus, PBFT normal case (issue #8 item 3): named cases
//! of PRE-PREPARE, PREPARE, COMMIT, CHECKPOINT, FETCH/RETURN-REQUEST-BATCH
//! and local inputs that a replica must refuse — unknown senders, sender ≠
//! `replica_id`, PRE-PREPARE from a non-primary, conflicting digests,
//! sequence numbers outside (h, h+L], stale and future views, duplicates.
//!
//! Each row is checked by `common::run`: the typed [`RejectReason`] (and so
//! its `label()`, the `reason` of `fabrik_consensus_rejected_messages_total`),
//! the per-sender rejection counter moved by one, a `Misbehavior` output
//! exactly when the reason proves misbehavior, the replica's state
//! unchanged, and no panic. Run: `cargo nextest run -p fabrik-core --test
//! malformed_pbft`.

mod common;

use common::*;
use fabrik_core::machine::Machine;
use fabrik_core::pbft::{Input, PeerMsg, RejectReason as R, batch_digest};
use fabrik_proto::pbft::{FetchRequestBatch, Message, message};
use fabrik_proto::protos::BlockchainInfo;

/// Documented in tests/MALFORMED.md.
const NORMAL_CASES: usize = 86;

fn oow(seq: u64, low: u64, high: u64) -> R {
    R::OutOfWindow { seq, low, high }
}

fn wrong_id(claimed: u64, actual: u64) -> R {
    R::WrongReplicaId { claimed, actual }
}

fn fetch(digest: &str, id: u64) -> message::Payload {
    message::Payload::FetchRequestBatch(FetchRequestBatch {
        batch_digest: digest.into(),
        replica_id: id,
    })
}

fn relayed(from: u64, r: fabrik_proto::pbft::Request) -> Input {
    Input::Peer {
        from,
        msg: PeerMsg::Request(r),
    }
}

#[rustfmt::skip]
fn cases() -> Vec<Case> {
    use Fx::*;
    let b = b1();
    let d = d1();
    let b2 = batch(&[req(0, 2)]);
    let d2 = batch_digest(&b2);
    let two = batch(&[req(0, 3), req(0, 4)]);
    let swapped = batch(&[req(0, 4), req(0, 3)]);
    let mut tampered = b.clone();
    tampered.batch[0].payload.push(0xee);
    let empty_digest = batch_digest(&batch(&[]));
    vec![
        // ---- envelope and transport identity ----
        case("sender_outside_network_4", Fresh, peer(4, prepare(0, 1, &d, 4)), R::UnknownReplica(4)),
        case("sender_outside_network_max", Fresh, peer(u64::MAX, prepare(0, 1, &d, u64::MAX)), R::UnknownReplica(u64::MAX)),
        case("sender_is_the_receiver_itself", Fresh, peer(1, prepare(0, 1, &d, 1)), R::UnknownReplica(1)),
        case("unknown_sender_relays_request", Fresh, relayed(9, req(9, 1)), R::UnknownReplica(9)),
        case("pbft_message_without_payload", Fresh, Input::Peer { from: 2, msg: PeerMsg::Pbft(Message { payload: None }) }, R::Malformed("empty message".into())),
        case("request_batch_as_pbft_payload", Fresh, peer(2, message::Payload::RequestBatch(b.clone())), R::Unsupported("request_batch")),
        // ---- sender ≠ replica_id ----
        case("pre_prepare_replica_id_not_sender", Fresh, peer(0, pp_of(0, 1, &b, 2)), wrong_id(2, 0)),
        case("pre_prepare_forged_primary_id", Fresh, peer(2, pp_of(0, 1, &b, 0)), wrong_id(0, 2)),
        case("prepare_replica_id_not_sender", Fresh, peer(2, prepare(0, 1, &d, 3)), wrong_id(3, 2)),
        case("prepare_replica_id_outside_network", Fresh, peer(2, prepare(0, 1, &d, 9)), wrong_id(9, 2)),
        case("prepare_claims_receiver_id", Fresh, peer(2, prepare(0, 1, &d, 1)), wrong_id(1, 2)),
        case("commit_replica_id_not_sender", Fresh, peer(3, commit(0, 1, &d, 2)), wrong_id(2, 3)),
        case("commit_replica_id_max", Fresh, peer(3, commit(0, 1, &d, u64::MAX)), wrong_id(u64::MAX, 3)),
        case("checkpoint_replica_id_not_sender", Fresh, peer(2, checkpoint(2, 3, "cp")), wrong_id(3, 2)),
        case("checkpoint_claims_primary", Fresh, peer(3, checkpoint(2, 0, "cp")), wrong_id(0, 3)),
        case("fetch_batch_replica_id_not_sender", Fresh, peer(2, fetch(&d, 3)), wrong_id(3, 2)),
        case("relayed_request_origin_not_sender", Fresh, relayed(2, req(3, 1)), wrong_id(3, 2)),
        case("relayed_request_claims_receiver", Fresh, relayed(2, req(1, 1)), wrong_id(1, 2)),
        // ---- PRE-PREPARE from a non-primary ----
        case("pre_prepare_from_backup_2", Fresh, peer(2, pp_of(0, 1, &b, 2)), R::NotPrimary { from: 2, view: 0 }),
        case("pre_prepare_from_backup_3", Fresh, peer(3, pp_of(0, 1, &b, 3)), R::NotPrimary { from: 3, view: 0 }),
        case("null_pre_prepare_from_backup", Fresh, peer(2, pp(0, 1, None, "", 2)), R::NotPrimary { from: 2, view: 0 }),
        case("pre_prepare_from_backup_to_primary", Primary, peer(1, pp_of(0, 1, &b, 1)), R::NotPrimary { from: 1, view: 0 }),
        case("pre_prepare_from_backup_far_seq", Fresh, peer(3, pp_of(0, 7, &b, 3)), R::NotPrimary { from: 3, view: 0 }),
        case("pre_prepare_from_old_primary_after_window_moved", Executed, peer(2, pp_of(0, 3, &b2, 2)), R::NotPrimary { from: 2, view: 0 }),
        // ---- conflicting or inconsistent digests ----
        case("pre_prepare_digest_of_other_batch", Fresh, peer(0, pp(0, 1, Some(b.clone()), &d2, 0)), R::DigestMismatch),
        case("pre_prepare_digest_garbage_text", Fresh, peer(0, pp(0, 1, Some(b.clone()), "not-a-digest", 0)), R::DigestMismatch),
        case("pre_prepare_digest_of_empty_batch", Fresh, peer(0, pp(0, 1, Some(b.clone()), &empty_digest, 0)), R::DigestMismatch),
        case("pre_prepare_batch_tampered_after_digest", Fresh, peer(0, pp(0, 1, Some(tampered), &d, 0)), R::DigestMismatch),
        case("pre_prepare_batch_reordered_after_digest", Fresh, peer(0, pp(0, 1, Some(swapped), &batch_digest(&two), 0)), R::DigestMismatch),
        case("pre_prepare_null_digest_with_requests", Fresh, peer(0, pp(0, 1, Some(b.clone()), "", 0)), R::IncompletePayload),
        case("pre_prepare_digest_without_batch", Fresh, peer(0, pp(0, 1, None, &d, 0)), R::IncompletePayload),
        case("pre_prepare_digest_without_batch_high_seq", Fresh, peer(0, pp(0, 8, None, &d2, 0)), R::IncompletePayload),
        case("prepare_second_digest_same_slot", Prepared, peer(2, prepare(0, 1, &d2, 2)), R::Conflict { view: 0, seq: 1 }),
        case("prepare_null_digest_after_real_one", Prepared, peer(2, prepare(0, 1, "", 2)), R::Conflict { view: 0, seq: 1 }),
        case("commit_second_digest_same_slot", Prepared, peer(2, commit(0, 1, &d2, 2)), R::Conflict { view: 0, seq: 1 }),
        case("commit_null_digest_after_real_one", Prepared, peer(2, commit(0, 1, "", 2)), R::Conflict { view: 0, seq: 1 }),
        case("checkpoint_second_id_same_seq", Prepared, peer(2, checkpoint(2, 2, "cp-other")), R::Conflict { view: 0, seq: 2 }),
        // ---- sequence numbers outside (h, h+L] ----
        case("pre_prepare_seq_zero", Fresh, peer(0, pp_of(0, 0, &b, 0)), oow(0, 0, 8)),
        case("pre_prepare_seq_just_above_window", Fresh, peer(0, pp_of(0, 9, &b, 0)), oow(9, 0, 8)),
        case("pre_prepare_seq_far_above_window", Fresh, peer(0, pp_of(0, 1000, &b, 0)), oow(1000, 0, 8)),
        case("pre_prepare_seq_max", Fresh, peer(0, pp_of(0, u64::MAX, &b, 0)), oow(u64::MAX, 0, 8)),
        case("null_pre_prepare_seq_above_window", Fresh, peer(0, pp(0, 9, None, "", 0)), oow(9, 0, 8)),
        case("prepare_seq_zero", Fresh, peer(2, prepare(0, 0, &d, 2)), oow(0, 0, 8)),
        case("prepare_seq_just_above_window", Fresh, peer(2, prepare(0, 9, &d, 2)), oow(9, 0, 8)),
        case("prepare_seq_max", Fresh, peer(3, prepare(0, u64::MAX, &d, 3)), oow(u64::MAX, 0, 8)),
        case("commit_seq_zero", Fresh, peer(2, commit(0, 0, &d, 2)), oow(0, 0, 8)),
        case("commit_seq_just_above_window", Fresh, peer(0, commit(0, 9, &d, 0)), oow(9, 0, 8)),
        case("commit_seq_max", Fresh, peer(3, commit(0, u64::MAX, &d, 3)), oow(u64::MAX, 0, 8)),
        case("checkpoint_seq_zero", Fresh, peer(2, checkpoint(0, 2, "cp")), oow(0, 0, 8)),
        case("pre_prepare_seq_below_moved_window", Executed, peer(0, pp_of(0, 1, &b2, 0)), oow(1, 2, 10)),
        case("pre_prepare_seq_at_low_watermark", Executed, peer(0, pp_of(0, 2, &b2, 0)), oow(2, 2, 10)),
        case("pre_prepare_seq_above_moved_window", Executed, peer(0, pp_of(0, 11, &b2, 0)), oow(11, 2, 10)),
        case("prepare_seq_at_low_watermark", Executed, peer(2, prepare(0, 2, &d2, 2)), oow(2, 2, 10)),
        case("commit_seq_below_low_watermark", Executed, peer(3, commit(0, 1, &d2, 3)), oow(1, 2, 10)),
        case("checkpoint_seq_at_low_watermark", Executed, peer(2, checkpoint(2, 2, "cp")), oow(2, 2, 10)),
        case("checkpoint_seq_below_low_watermark", Executed, peer(3, checkpoint(1, 3, "cp")), oow(1, 2, 10)),
        // ---- other views (followed without voting, see pbft/handle/learn.rs) ----
        case("pre_prepare_other_view_from_non_primary", Fresh, peer(0, pp_of(1, 1, &b, 0)), R::NotPrimary { from: 0, view: 1 }),
        case("pre_prepare_view_max_from_non_primary", Fresh, peer(0, pp_of(u64::MAX, 1, &b, 0)), R::NotPrimary { from: 0, view: u64::MAX }),
        case("pre_prepare_other_view_digest_mismatch", Fresh, peer(2, pp(2, 1, Some(b.clone()), &d2, 2)), R::DigestMismatch),
        case("pre_prepare_other_view_without_batch", Fresh, peer(2, pp(2, 1, None, &d, 2)), R::IncompletePayload),
        case("null_pre_prepare_other_view_with_requests", Fresh, peer(2, pp(2, 1, Some(b.clone()), "", 2)), R::IncompletePayload),
        case("pre_prepare_other_view_above_window", Fresh, peer(2, pp_of(2, 9, &b, 2)), oow(9, 0, 8)),
        case("prepare_other_view_from_its_primary", Fresh, peer(2, prepare(2, 1, &d, 2)), R::PrepareFromPrimary),
        case("prepare_other_view_above_window", Fresh, peer(2, prepare(1, 9, &d, 2)), oow(9, 0, 8)),
        case("commit_other_view_seq_zero", Fresh, peer(2, commit(5, 0, &d, 2)), oow(0, 0, 8)),
        // Before the NEW-VIEW a PRE-PREPARE of the coming view is kept for
        // it (handle/pre_prepare.rs), checked as any other first.
        case("pre_prepare_before_new_view_from_a_non_primary", ViewChanging, peer(2, pp_of(1, 1, &b, 2)), R::NotPrimary { from: 2, view: 1 }),
        case("pre_prepare_before_new_view_with_another_digest", ViewTwo, peer(2, pp(2, 1, Some(b.clone()), &d2, 2)), R::DigestMismatch),
        // ---- duplicates ----
        case("duplicate_pre_prepare", Prepared, peer(0, pp_of(0, 1, &b, 0)), R::Duplicate),
        case("duplicate_prepare", Prepared, peer(2, prepare(0, 1, &d, 2)), R::Duplicate),
        case("duplicate_commit", Prepared, peer(2, commit(0, 1, &d, 2)), R::Duplicate),
        case("duplicate_checkpoint", Prepared, peer(2, checkpoint(2, 2, "cp-2")), R::Duplicate),
        case("duplicate_relayed_request", Prepared, relayed(2, req(2, 50)), R::Duplicate),
        case("pre_prepare_repeat_without_its_batch", Prepared, peer(0, pp(0, 1, None, &d, 0)), R::IncompletePayload),
        case("duplicate_local_request", Full, Input::Request(req(1, 1)), R::Duplicate),
        // ---- prepare from the primary ----
        case("prepare_from_primary", Fresh, peer(0, prepare(0, 1, &d, 0)), R::PrepareFromPrimary),
        case("prepare_from_primary_out_of_window", Fresh, peer(0, prepare(0, 99, &d, 0)), R::PrepareFromPrimary),
        case("prepare_from_primary_of_future_view", Fresh, peer(2, prepare(2, 1, &d, 2)), R::PrepareFromPrimary),
        // ---- unsolicited batches, local inputs ----
        case("return_batch_never_requested", Fresh, peer(2, message::Payload::ReturnRequestBatch(b.clone())), R::Unsolicited),
        case("return_empty_batch_never_requested", Fresh, peer(3, message::Payload::ReturnRequestBatch(batch(&[]))), R::Unsolicited),
        case("return_batch_already_stored", Prepared, peer(0, message::Payload::ReturnRequestBatch(b.clone())), R::Unsolicited),
        case("executed_while_nothing_executes", Fresh, Input::Executed { seq: 1, info: BlockchainInfo::default() }, R::UnexpectedInput("Executed for a sequence number not being executed")),
        case("executed_future_seq", Prepared, Input::Executed { seq: 5, info: BlockchainInfo::default() }, R::UnexpectedInput("Executed for a sequence number not being executed")),
        case("executed_replayed_seq", Executed, Input::Executed { seq: 2, info: BlockchainInfo::default() }, R::UnexpectedInput("Executed for a sequence number not being executed")),
        case("local_request_with_other_replica_id", Fresh, Input::Request(req(2, 1)), R::UnexpectedInput("local request must carry our replica id")),
        case("local_request_when_full", Full, Input::Request(req(1, 2)), R::BufferFull("outstanding requests")),
        case("relayed_request_when_full", Full, relayed(2, req(2, 1)), R::BufferFull("outstanding requests")),
    ]
}

#[test]
fn pbft_normal_case_corpus() {
    run(cases(), NORMAL_CASES);
}

#[test]
fn local_state_transfer_inputs_without_transfer_are_refused() {
    run(
        vec![
            case(
                "state_transferred_without_transfer",
                Fx::Fresh,
                Input::StateTransferred {
                    seq: 4,
                    info: BlockchainInfo::default(),
                },
                state_transfer_reason(Input::StateTransferred {
                    seq: 4,
                    info: BlockchainInfo::default(),
                }),
            ),
            case(
                "state_transfer_failed_without_transfer",
                Fx::Fresh,
                Input::StateTransferFailed,
                state_transfer_reason(Input::StateTransferFailed),
            ),
        ],
        2,
    );
}

/// The reason a fresh replica gives (checked by the runner to be an
/// `unexpected_input` and to leave the replica unchanged).
fn state_transfer_reason(input: Input) -> R {
    let mut r = Fx::Fresh.build();
    let reason = r.handle(T0, input).expect_err("refused").reason;
    assert_eq!(reason.label(), "unexpected_input");
    reason
}

/// Positive controls: the fixtures accept the well-formed versions of the
/// corpus messages, so the rejections above are for the stated reason.
#[test]
fn controls_are_accepted() {
    let b = b1();
    let d = d1();
    let ok = |fx: Fx, input: Input| {
        let mut r = fx.build();
        r.handle(T0, input).expect("well-formed input accepted");
    };
    ok(Fx::Fresh, peer(0, pp_of(0, 1, &b, 0)));
    ok(Fx::Fresh, peer(0, pp_of(0, 8, &b, 0)));
    ok(Fx::Fresh, peer(0, pp(0, 1, None, "", 0)));
    ok(Fx::Fresh, peer(2, prepare(0, 1, &d, 2)));
    ok(Fx::Fresh, peer(3, commit(0, 8, &d, 3)));
    ok(Fx::Fresh, peer(2, checkpoint(2, 2, "cp")));
    ok(Fx::Fresh, peer(2, fetch(&d, 2)));
    ok(Fx::Fresh, relayed(2, req(2, 1)));
    ok(Fx::Prepared, peer(3, prepare(0, 1, &d, 3)));
    ok(Fx::Executed, peer(0, pp_of(0, 3, &batch(&[req(0, 9)]), 0)));
    ok(Fx::Executed, relayed(0, req(0, 3)));
    ok(Fx::Primary, peer(2, prepare(0, 1, &d, 2)));
}

/// An equivocating primary (a second digest for a slot) is not a plain
/// rejection: as v0.6 does, the backup reports it and starts a view change.
#[test]
fn conflicting_pre_prepare_reports_the_primary_and_changes_view() {
    let mut r = Fx::Prepared.build();
    let b2 = batch(&[req(0, 2)]);
    r.handle(T0, peer(0, pp_of(0, 1, &b2, 0)))
        .expect("handled by a view change");
    let outs = drain(&mut r);
    assert!(outs.contains(&fabrik_core::pbft::Output::Misbehavior {
        from: 0,
        reason: R::Conflict { view: 0, seq: 1 }
    }));
    assert_eq!((r.view(), r.is_view_active()), (1, false));
}
