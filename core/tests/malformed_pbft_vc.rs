//! Malformed-input corpus, PBFT view changes, signatures and requests
//! (issue #8 item 3): VIEW-CHANGEs with bad signatures or broken structure,
//! NEW-VIEWs from non-primaries or with bad vsets, stale views, duplicates,
//! replayed and unsigned client requests, and undecodable `BatchMessage`
//! payloads.
//!
//! Rows are checked by `common::run` (typed reason and its counter label,
//! per-sender counter +1, `Misbehavior` output iff misbehavior, no state
//! change, no panic); the decoder rows check the typed reason and label
//! the io layer counts. Run: `cargo nextest run -p fabrik-core --test
//! malformed_pbft_vc`.

mod common;

use common::*;
use fabrik_core::pbft::{Input, PeerMsg, RejectReason as R, batch_digest};
use fabrik_proto::Timestamp;
use fabrik_proto::pbft::{
    BatchMessage, Message, NewView, Prepare, ViewChange, batch_message, message,
    view_change::{C, Pq},
};
use prost::Message as _;

/// Documented in tests/MALFORMED.md.
const VIEW_CHANGE_CASES: usize = 58;
const DECODE_CASES: usize = 10;

fn vcm(from: u64, vc: ViewChange) -> Input {
    peer(from, message::Payload::ViewChange(vc))
}

fn nvm(from: u64, nv: NewView) -> Input {
    peer(from, message::Payload::NewView(nv))
}

fn relayed(from: u64, r: fabrik_proto::pbft::Request) -> Input {
    Input::Peer {
        from,
        msg: PeerMsg::Request(r),
    }
}

fn pq(seq: u64, view: u64) -> Pq {
    Pq {
        sequence_number: seq,
        batch_digest: d1(),
        view,
    }
}

/// A signed VIEW-CHANGE of 2 for view 1, changed after signing.
fn tampered(f: impl FnOnce(&mut ViewChange)) -> ViewChange {
    let mut v = vc(2, 1);
    f(&mut v);
    v
}

fn nv_with(f: impl FnOnce(&mut NewView)) -> NewView {
    let mut nv = nv1();
    f(&mut nv);
    nv
}

fn invalid(what: &'static str) -> R {
    R::InvalidViewChange(what)
}

fn signed_req(origin: u64, ts: i64, sig: &[u8]) -> fabrik_proto::pbft::Request {
    let mut r = req(origin, ts);
    r.signature = sig.to_vec();
    r
}

#[rustfmt::skip]
fn cases() -> Vec<Case> {
    use Fx::*;
    let bad_sig = R::BadSignature(2);
    let out_of_range = invalid("P/Q entry out of range");
    let mut no_ts = req(0, 7);
    no_ts.timestamp = None;
    let mut replay_new_payload = req(0, 1);
    replay_new_payload.payload = b"different".to_vec();
    let mut ns = req(0, 1);
    ns.timestamp = Some(Timestamp {
        seconds: 1,
        nanos: 0,
    });
    vec![
        // ---- VIEW-CHANGE signatures ----
        case("vc_signature_bit_flipped", Fresh, vcm(2, tampered(|v| v.signature[0] ^= 1)), bad_sig.clone()),
        case("vc_signature_empty", Fresh, vcm(2, tampered(|v| v.signature.clear())), bad_sig.clone()),
        case("vc_signature_truncated", Fresh, vcm(2, tampered(|v| { v.signature.pop(); })), bad_sig.clone()),
        case("vc_signature_extended", Fresh, vcm(2, tampered(|v| v.signature.push(0))), bad_sig.clone()),
        case("vc_signature_all_zero", Fresh, vcm(2, tampered(|v| v.signature = vec![0; 64])), bad_sig.clone()),
        case("vc_signature_of_other_replica", Fresh, vcm(2, tampered(|v| v.signature = vc(3, 1).signature)), bad_sig.clone()),
        case("vc_signed_with_other_key", Fresh, vcm(2, sign_as(vc(2, 1), 3)), bad_sig.clone()),
        case("vc_signed_with_receiver_key", Fresh, vcm(2, sign_as(vc(2, 1), 1)), bad_sig.clone()),
        case("vc_view_changed_after_signing", Fresh, vcm(2, tampered(|v| v.view = 2)), bad_sig.clone()),
        case("vc_h_changed_after_signing", Fresh, vcm(2, tampered(|v| v.h = 2)), bad_sig.clone()),
        case("vc_pset_grown_after_signing", Fresh, vcm(2, tampered(|v| v.pset.push(pq(1, 0)))), bad_sig.clone()),
        case("vc_qset_grown_after_signing", Fresh, vcm(2, tampered(|v| v.qset.push(pq(1, 0)))), bad_sig.clone()),
        case("vc_checkpoint_id_changed_after_signing", Fresh, vcm(2, tampered(|v| v.cset[0].id = "forged".into())), bad_sig.clone()),
        case("vc_checkpoint_dropped_after_signing", Fresh, vcm(2, tampered(|v| v.cset.clear())), bad_sig.clone()),
        // ---- VIEW-CHANGE structure (validly signed) ----
        case("vc_for_view_zero", Fresh, vcm(2, vc(2, 0)), invalid("view 0")),
        case("vc_p_entry_from_its_own_view", Fresh, vcm(2, vc_with(2, 1, |v| v.pset.push(pq(1, 1)))), out_of_range.clone()),
        case("vc_p_entry_from_a_later_view", Fresh, vcm(2, vc_with(2, 1, |v| v.pset.push(pq(1, 5)))), out_of_range.clone()),
        case("vc_p_entry_at_low_watermark", Fresh, vcm(2, vc_with(2, 1, |v| v.pset.push(pq(0, 0)))), out_of_range.clone()),
        case("vc_p_entry_above_window", Fresh, vcm(2, vc_with(2, 1, |v| v.pset.push(pq(9, 0)))), out_of_range.clone()),
        case("vc_q_entry_above_window", Fresh, vcm(2, vc_with(2, 1, |v| v.qset.push(pq(u64::MAX, 0)))), out_of_range.clone()),
        case("vc_q_entry_from_its_own_view", Fresh, vcm(2, vc_with(2, 1, |v| v.qset.push(pq(3, 1)))), out_of_range.clone()),
        case("vc_checkpoint_below_its_h", Fresh, vcm(2, vc_with(2, 1, |v| v.h = 2)), invalid("checkpoint out of range")),
        case("vc_checkpoint_above_window", Fresh, vcm(2, vc_with(2, 1, |v| v.cset.push(C { sequence_number: 10, id: "x".into() }))), invalid("checkpoint out of range")),
        case("vc_oversized_p_set", Fresh, vcm(2, vc_with(2, 1, |v| v.pset = (1..=9).map(|n| pq(n.min(8), 0)).collect())), invalid("oversized P or Q set")),
        case("vc_oversized_q_set", Fresh, vcm(2, vc_with(2, 1, |v| v.qset = (0..33).map(|n| pq(1 + n % 8, 0)).collect())), invalid("oversized P or Q set")),
        case("vc_oversized_c_set", Fresh, vcm(2, vc_with(2, 1, |v| v.cset = (0..6).map(|n| C { sequence_number: n, id: "x".into() }).collect())), invalid("oversized C set")),
        // ---- VIEW-CHANGE sender, staleness, duplicates ----
        case("vc_relayed_by_other_replica", Fresh, vcm(2, vc(3, 1)), R::WrongReplicaId { claimed: 3, actual: 2 }),
        case("vc_claims_replica_outside_network", Fresh, vcm(2, vc_with(2, 1, |v| v.replica_id = 9)), R::WrongReplicaId { claimed: 9, actual: 2 }),
        case("vc_from_unknown_sender", Fresh, vcm(6, vc(2, 1)), R::UnknownReplica(6)),
        case("vc_stale_view", ViewTwo, vcm(2, vc(2, 1)), R::WrongView { view: 1, current: 2 }),
        case("vc_stale_view_from_other_replica", ViewTwo, vcm(3, vc(3, 1)), R::WrongView { view: 1, current: 2 }),
        case("vc_duplicate", VcStored, vcm(2, vc(2, 1)), R::Duplicate),
        case("vc_duplicate_with_other_content", VcStored, vcm(2, vc_with(2, 1, |v| v.qset.push(pq(1, 0)))), R::Duplicate),
        // ---- NEW-VIEW ----
        case("nv_for_view_zero", Fresh, nvm(2, nv_with(|n| { n.view = 0; n.replica_id = 0; })), R::NotPrimary { from: 0, view: 0 }),
        case("nv_from_non_primary", Fresh, nvm(2, nv_with(|n| n.replica_id = 2)), R::NotPrimary { from: 2, view: 1 }),
        case("nv_claims_primary_of_other_view", Fresh, nvm(3, nv_with(|n| n.view = 2)), R::NotPrimary { from: 1, view: 2 }),
        case("nv_replica_id_outside_network", Fresh, nvm(2, nv_with(|n| n.replica_id = 77)), R::NotPrimary { from: 77, view: 1 }),
        case("nv_stale_view", ViewTwo, nvm(2, nv1()), R::WrongView { view: 1, current: 2 }),
        case("nv_empty_vset", Fresh, nvm(2, nv_with(|n| n.vset.clear())), invalid("vset size")),
        case("nv_vset_below_quorum", Fresh, nvm(2, nv_with(|n| { n.vset.pop(); })), invalid("vset size")),
        case("nv_vset_above_n", Fresh, nvm(2, nv_with(|n| { n.vset.push(vc(1, 1)); n.vset.push(vc(1, 1)); })), invalid("vset size")),
        case("nv_vset_repeats_replica", Fresh, nvm(2, nv_with(|n| n.vset[2] = vc(2, 1))), invalid("vset repeats a replica")),
        case("nv_vset_for_other_view", Fresh, nvm(2, nv_with(|n| n.vset[1] = vc(2, 2))), invalid("vset view")),
        case("nv_vset_bad_signature", Fresh, nvm(2, nv_with(|n| n.vset[2].signature[5] ^= 0x40)), R::BadSignature(3)),
        case("nv_vset_member_signed_by_other_key", Fresh, nvm(2, nv_with(|n| n.vset[0] = sign_as(vc(0, 1), 2))), R::BadSignature(0)),
        case("nv_vset_unknown_replica", Fresh, nvm(2, nv_with(|n| n.vset[2] = vc_with(9, 1, |_| {}))), R::UnknownReplica(9)),
        case("nv_vset_invalid_member", Fresh, nvm(2, nv_with(|n| n.vset[1] = vc_with(2, 1, |v| v.pset.push(pq(20, 0))))), out_of_range.clone()),
        // ---- replayed requests (after seq 1 and 2 executed) ----
        case("replayed_executed_request", Executed, relayed(0, req(0, 1)), R::StaleRequest),
        case("replayed_request_same_timestamp_new_payload", Executed, relayed(0, replay_new_payload), R::StaleRequest),
        case("replayed_request_older_timestamp", Executed, relayed(0, req(0, 0)), R::StaleRequest),
        case("replayed_request_negative_timestamp", Executed, relayed(0, req(0, -5)), R::StaleRequest),
        case("replayed_request_without_timestamp", Executed, relayed(0, no_ts), R::StaleRequest),
        case("replayed_local_request", Executed, Input::Request(req(1, 2)), R::StaleRequest),
        case("replayed_request_explicit_zero_nanos", Executed, relayed(0, ns), R::StaleRequest),
        // ---- request signatures ----
        case("local_request_unsigned", Verifying, Input::Request(req(1, 1)), R::BadRequestSignature),
        case("relayed_request_unsigned", Verifying, relayed(2, req(2, 1)), R::BadRequestSignature),
        case("relayed_request_wrong_signature", Verifying, relayed(2, signed_req(2, 1, b"no")), R::BadRequestSignature),
        case("relayed_request_truncated_signature", Verifying, relayed(3, signed_req(3, 1, b"o")), R::BadRequestSignature),
    ]
}

#[test]
fn pbft_view_change_and_request_corpus() {
    run(cases(), VIEW_CHANGE_CASES);
}

/// Controls: the unmodified signed messages and requests are accepted.
#[test]
fn controls_are_accepted() {
    let ok = |fx: Fx, input: Input| {
        let mut r = fx.build();
        r.handle(T0, input).expect("well-formed input accepted");
    };
    ok(Fx::Fresh, vcm(2, vc(2, 1)));
    ok(Fx::Fresh, vcm(3, vc_with(3, 1, |v| v.qset.push(pq(1, 0)))));
    ok(Fx::ViewTwo, vcm(2, vc(2, 2)));
    ok(Fx::VcStored, vcm(3, vc(3, 1)));
    ok(Fx::Fresh, nvm(3, nv1()));
    ok(Fx::Executed, relayed(0, req(0, 3)));
    ok(Fx::Verifying, relayed(2, signed_req(2, 1, b"ok")));
}

use fabrik_core::machine::Machine;

fn pbft_bytes(p: message::Payload) -> Vec<u8> {
    Message { payload: Some(p) }.encode_to_vec()
}

#[rustfmt::skip]
fn decode_cases() -> Vec<(&'static str, BatchMessage, &'static str)> {
    use batch_message::Payload as P;
    let valid = pbft_bytes(pp_of(0, 1, &b1(), 0));
    let mut bad_utf8 = pbft_bytes(message::Payload::Prepare(Prepare {
        view: 0,
        sequence_number: 1,
        batch_digest: "ab".into(),
        replica_id: 2,
    }));
    let at = bad_utf8.len() - 4;
    bad_utf8[at] = 0xff;
    let bm = |p: P| BatchMessage { payload: Some(p) };
    vec![
        ("batch_message_without_payload", BatchMessage { payload: None }, "malformed"),
        ("batch_message_complaint", bm(P::Complaint(req(2, 1))), "unsupported"),
        ("batch_message_request_batch", bm(P::RequestBatch(b1())), "unsupported"),
        ("pbft_bytes_garbage", bm(P::PbftMessage(vec![0xff, 0xff, 0xff])), "malformed"),
        ("pbft_bytes_truncated", bm(P::PbftMessage(valid[..valid.len() - 1].to_vec())), "malformed"),
        ("pbft_bytes_truncated_to_tag", bm(P::PbftMessage(valid[..1].to_vec())), "malformed"),
        ("pbft_bytes_length_overruns", bm(P::PbftMessage(vec![0x1a, 0x7f, 0x08, 0x01])), "malformed"),
        ("pbft_bytes_invalid_wire_type", bm(P::PbftMessage(vec![0x0f, 0x00])), "malformed"),
        ("pbft_bytes_varint_overflow", bm(P::PbftMessage([vec![0x1a, 0x0b, 0x08], vec![0xff; 10]].concat())), "malformed"),
        ("pbft_bytes_digest_not_utf8", bm(P::PbftMessage(bad_utf8)), "malformed"),
    ]
}

/// `PeerMsg::from_batch_message` is what the io layer runs on every
/// CONSENSUS payload before the replica sees it; its reason's label is the
/// `reason` it counts in `fabrik_consensus_rejected_messages_total`.
#[test]
fn undecodable_batch_messages_are_typed_rejections() {
    let cases = decode_cases();
    assert!(cases.len() >= DECODE_CASES);
    let mut failures = Vec::new();
    for (name, bm, label) in cases {
        match std::panic::catch_unwind(|| PeerMsg::from_batch_message(bm)) {
            Ok(Err(reason)) if reason.label() == label => {}
            Ok(other) => failures.push(format!("{name}: got {other:?}, expected {label}")),
            Err(_) => failures.push(format!("{name}: PANICKED")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let _ = batch_digest(&b1());
}
