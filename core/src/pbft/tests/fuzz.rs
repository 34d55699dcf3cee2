//! A seeded random-input test (a cheap stand-in for the cargo-fuzz
//! `pbft_replica` target): arbitrary sequences of peer messages, local
//! inputs and timeouts never panic and never grow a buffer past its bound.

use fabrik_proto::pbft::view_change::{C, Pq};
use fabrik_proto::pbft::{FetchRequestBatch, NewView, ViewChange, message};

use super::*;

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn random_payload(rng: &mut XorShift, digests: &[String]) -> message::Payload {
    let view = rng.below(3);
    let seq = rng.below(20);
    let from = rng.below(5);
    let d = digests[rng.below(digests.len() as u64) as usize].clone();
    let pq = Pq {
        sequence_number: seq,
        batch_digest: d.clone(),
        view,
    };
    match rng.below(9) {
        0 => pre_prepare(view, seq, &batch(&[req(from, rng.below(9) as i64)]), from),
        1 => prepare(view, seq, &d, from),
        2 => commit(view, seq, &d, from),
        3 => checkpoint(seq, from, &d),
        4 => message::Payload::ViewChange(ViewChange {
            view,
            h: rng.below(10),
            cset: vec![C {
                sequence_number: seq,
                id: d.clone(),
            }],
            pset: vec![pq.clone()],
            qset: vec![pq],
            replica_id: from,
            signature: vec![rng.below(255) as u8; 64],
        }),
        5 => message::Payload::NewView(NewView {
            view,
            vset: vec![],
            xset: [(seq, d)].into_iter().collect(),
            replica_id: from,
        }),
        6 => message::Payload::FetchRequestBatch(FetchRequestBatch {
            batch_digest: d,
            replica_id: from,
        }),
        7 => message::Payload::ReturnRequestBatch(batch(&[req(from, 1)])),
        _ => message::Payload::RequestBatch(batch(&[])),
    }
}

#[test]
fn random_inputs_never_panic_and_buffers_stay_bounded() {
    let digests: Vec<String> = vec![
        String::new(),
        "x".into(),
        batch_digest(&batch(&[req(0, 1)])),
        batch_digest(&batch(&[req(1, 2)])),
    ];
    for seed in 1..=40u64 {
        let mut rng = XorShift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let mut r = replica(rng.below(4));
        let mut now = T0;
        for _ in 0..500 {
            let input = match rng.below(10) {
                0 => Input::Request(req(r.id(), rng.below(50) as i64)),
                1 => Input::Executed {
                    seq: rng.below(20),
                    info: info(rng.below(5)),
                },
                2 => Input::StateTransferred {
                    seq: rng.below(20),
                    info: info(rng.below(5)),
                },
                3 => {
                    now = now + Duration::from_millis(rng.below(3000));
                    r.handle_timeout(now);
                    continue;
                }
                _ => Input::Peer {
                    from: rng.below(5),
                    msg: pbft(random_payload(&mut rng, &digests)),
                },
            };
            let _ = r.handle(now, input);
            drain(&mut r);
            let b = r.buffer_sizes();
            assert!(
                b.certs <= 3 * 8 && b.checkpoints <= 4 * 10 && b.view_changes <= 8 && b.qset <= 32,
                "{b:?}"
            );
        }
    }
}
