//! Byzantine behaviours, applied by the simulator to what a Byzantine
//! instance sends: equivocating PRE-PREPAREs (with or without a matching
//! digest) and random mutation or injection of well-formed and malformed
//! messages. Twins are handled by the cluster's routing.

use fabrik_proto::pbft::{
    Checkpoint, Commit, Message, PrePrepare, Prepare, Request, RequestBatch, message,
};

use super::options::Byzantine;
use super::rng::Rng;
use crate::pbft::{PeerMsg, batch_digest};

/// The message `behaviour` sends to the backup `to` instead of `msg`.
pub(crate) fn rewrite(
    behaviour: Byzantine,
    msg: &PeerMsg,
    to: u64,
    rng: &mut Rng,
) -> Option<PeerMsg> {
    match behaviour {
        Byzantine::Equivocate | Byzantine::EquivocateSameDigest => Some(equivocate(
            msg,
            to,
            behaviour == Byzantine::EquivocateSameDigest,
        )),
        Byzantine::Random => {
            if rng.chance(100) {
                return None; // omission
            }
            if rng.chance(300) {
                Some(mutate(msg, rng))
            } else {
                Some(msg.clone())
            }
        }
        Byzantine::Twin => Some(msg.clone()),
    }
}

/// Odd-numbered backups get a different batch at the same (view, seq).
fn equivocate(msg: &PeerMsg, to: u64, keep_digest: bool) -> PeerMsg {
    let PeerMsg::Pbft(Message {
        payload: Some(message::Payload::PrePrepare(pp)),
    }) = msg
    else {
        return msg.clone();
    };
    if to.is_multiple_of(2) || pp.batch_digest.is_empty() {
        return msg.clone();
    }
    let mut batch = pp.request_batch.clone().unwrap_or_default();
    batch.batch.push(Request {
        timestamp: None,
        payload: b"evil".to_vec(),
        replica_id: pp.replica_id,
        signature: vec![],
    });
    let digest = if keep_digest {
        pp.batch_digest.clone()
    } else {
        batch_digest(&batch)
    };
    let forged = PrePrepare {
        batch_digest: digest,
        request_batch: Some(batch),
        ..pp.clone()
    };
    PeerMsg::Pbft(Message {
        payload: Some(message::Payload::PrePrepare(forged)),
    })
}

fn tweak(v: u64, rng: &mut Rng) -> u64 {
    match rng.below(4) {
        0 => v.wrapping_add(1),
        1 => v.saturating_sub(1),
        2 => rng.below(64),
        _ => rng.next_u64(),
    }
}

fn mutate(msg: &PeerMsg, rng: &mut Rng) -> PeerMsg {
    let PeerMsg::Pbft(Message { payload: Some(p) }) = msg else {
        return msg.clone();
    };
    let mut p = p.clone();
    match &mut p {
        message::Payload::PrePrepare(m) => match rng.below(3) {
            0 => m.sequence_number = tweak(m.sequence_number, rng),
            1 => m.view = tweak(m.view, rng),
            _ => m.batch_digest = format!("{:x}", rng.next_u64()),
        },
        message::Payload::Prepare(m) => m.batch_digest = format!("{:x}", rng.next_u64()),
        message::Payload::Commit(m) => m.sequence_number = tweak(m.sequence_number, rng),
        message::Payload::Checkpoint(m) => m.id = format!("{:x}", rng.next_u64()),
        message::Payload::ViewChange(m) => m.h = tweak(m.h, rng),
        message::Payload::NewView(m) => {
            m.xset.insert(tweak(1, rng), String::new());
        }
        _ => {}
    }
    PeerMsg::Pbft(Message { payload: Some(p) })
}

/// A random message claiming to come from `from`: well formed or not.
pub(crate) fn random_message(from: u64, view: u64, rng: &mut Rng) -> PeerMsg {
    let seq = rng.below(64);
    let digest = format!("{:x}", rng.next_u64());
    let payload = match rng.below(7) {
        0 => return PeerMsg::Pbft(Message { payload: None }),
        1 => message::Payload::Prepare(Prepare {
            view,
            sequence_number: seq,
            batch_digest: digest,
            replica_id: from,
        }),
        2 => message::Payload::Commit(Commit {
            view,
            sequence_number: seq,
            batch_digest: digest,
            replica_id: from,
        }),
        3 => message::Payload::Checkpoint(Checkpoint {
            sequence_number: seq,
            replica_id: from,
            id: digest,
        }),
        4 => message::Payload::ReturnRequestBatch(RequestBatch::default()),
        5 => message::Payload::Prepare(Prepare {
            view,
            sequence_number: seq,
            batch_digest: digest,
            replica_id: tweak(from, rng),
        }),
        _ => {
            let batch = RequestBatch {
                batch: vec![Request {
                    timestamp: None,
                    payload: vec![1],
                    replica_id: from,
                    signature: vec![],
                }],
            };
            message::Payload::PrePrepare(PrePrepare {
                view,
                sequence_number: seq,
                batch_digest: batch_digest(&batch),
                request_batch: Some(batch),
                replica_id: from,
            })
        }
    };
    PeerMsg::Pbft(Message {
        payload: Some(payload),
    })
}
