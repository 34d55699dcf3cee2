//! Random input sequences: the handler never panics, emits at most one
//! Close, and answers every Execute with exactly one Finished.

use super::*;
use fabrik_proto::protos::{PutStateInfo, RangeQueryState, RangeQueryStateNext};
use proptest::prelude::*;
use std::collections::BTreeMap;

const TXIDS: [&str; 4] = ["t0", "t1", "t2", "t3"];

#[derive(Debug, Clone)]
enum Op {
    /// REGISTER, asking for every fabrik extension when `true`.
    Register(bool),
    Execute(usize, u8, u64),
    Message(i32, usize, Vec<u8>),
    Put(usize),
    Range(usize),
    Next(usize, u8),
    StateValue(usize),
    WriteDone(usize, bool),
    RangePage(usize, u8, bool),
    InvokeDone(usize, i32),
    Refused,
    Accepted,
    Advance(u64),
    StreamClosed,
}

fn op() -> impl Strategy<Value = Op> {
    let t = 0..TXIDS.len();
    prop_oneof![
        2 => any::<bool>().prop_map(Op::Register),
        4 => (t.clone(), 0u8..4, 1u64..50).prop_map(|(t, k, d)| Op::Execute(t, k, d)),
        6 => (0i32..24, t.clone(), proptest::collection::vec(any::<u8>(), 0..6))
            .prop_map(|(ty, t, p)| Op::Message(ty, t, p)),
        2 => t.clone().prop_map(Op::Put),
        2 => t.clone().prop_map(Op::Range),
        2 => (t.clone(), 0u8..4).prop_map(|(t, n)| Op::Next(t, n)),
        2 => t.clone().prop_map(Op::StateValue),
        2 => (t.clone(), any::<bool>()).prop_map(|(t, ok)| Op::WriteDone(t, ok)),
        2 => (t.clone(), 0u8..5, any::<bool>()).prop_map(|(t, n, m)| Op::RangePage(t, n, m)),
        1 => (t.clone(), 0i32..20).prop_map(|(t, ty)| Op::InvokeDone(t, ty)),
        1 => Just(Op::Refused),
        3 => Just(Op::Accepted),
        3 => (0u64..60).prop_map(Op::Advance),
        1 => Just(Op::StreamClosed),
    ]
}

fn kind(k: u8) -> ExecKind {
    match k {
        0 => ExecKind::Init,
        1 => ExecKind::Ready,
        2 => ExecKind::Transaction,
        _ => ExecKind::Query,
    }
}

struct Run {
    h: Handler,
    now: u64,
    executes: BTreeMap<String, usize>,
    finished: BTreeMap<String, usize>,
    closes: usize,
}

impl Run {
    fn step(&mut self, op: Op) {
        let now = Instant::from_nanos(self.now);
        let tx = |i: usize| TXIDS.get(i).copied().unwrap_or("t0").to_owned();
        let input = match op {
            Op::Register(extended) => {
                let mut register = register_msg("cc");
                if extended {
                    register.txid = Features::ALL.marker();
                }
                Input::FromChaincode(register)
            }
            Op::Execute(t, k, d) => {
                *self.executes.entry(tx(t)).or_default() += 1;
                Input::Execute {
                    txid: tx(t),
                    kind: kind(k),
                    input: input(&["f"]),
                    tx_timestamp: None,
                    deadline: Instant::from_nanos(self.now + d),
                }
            }
            Op::Message(ty, t, p) => Input::FromChaincode(ChaincodeMessage {
                r#type: if ty == 23 { 99 } else { ty },
                payload: p,
                txid: tx(t),
                ..Default::default()
            }),
            Op::Put(t) => {
                let info = PutStateInfo {
                    key: "k".into(),
                    value: vec![1],
                };
                Input::FromChaincode(msg(Type::PutState, &tx(t), &info.encode_to_vec()))
            }
            Op::Range(t) => {
                let q = RangeQueryState {
                    start_key: "a".into(),
                    end_key: "z".into(),
                };
                Input::FromChaincode(msg(Type::RangeQueryState, &tx(t), &q.encode_to_vec()))
            }
            Op::Next(t, n) => {
                let next = RangeQueryStateNext {
                    id: format!("{}-{n}", tx(t)),
                };
                Input::FromChaincode(msg(
                    Type::RangeQueryStateNext,
                    &tx(t),
                    &next.encode_to_vec(),
                ))
            }
            Op::StateValue(t) => Input::StateValue {
                txid: tx(t),
                value: Some(vec![2]),
            },
            Op::WriteDone(t, ok) => Input::WriteDone {
                txid: tx(t),
                result: if ok { Ok(()) } else { Err("e".into()) },
            },
            Op::RangePage(t, n, more) => {
                let page = (0..n).map(|i| (format!("k{i}"), vec![i])).collect();
                Input::RangePage {
                    txid: tx(t),
                    result: Ok((page, more)),
                }
            }
            Op::InvokeDone(t, ty) => Input::InvokeDone {
                txid: tx(t),
                result: Ok(msg(Type::Completed, "", &[ty as u8])),
            },
            Op::Refused => Input::RegisterRefused {
                reason: "dup".into(),
            },
            Op::Accepted => Input::RegisterAccepted,
            Op::Advance(d) => {
                self.now += d;
                self.h.handle_timeout(Instant::from_nanos(self.now));
                self.drain();
                return;
            }
            Op::StreamClosed => Input::StreamClosed,
        };
        let _ = self.h.handle(now, input);
        self.drain();
    }

    fn drain(&mut self) {
        while let Some(out) = self.h.poll_output() {
            match out {
                Output::Finished { txid, .. } => *self.finished.entry(txid).or_default() += 1,
                Output::Close { .. } => self.closes += 1,
                _ => {}
            }
        }
        for (txid, n) in &self.finished {
            assert!(
                *n <= self.executes.get(txid).copied().unwrap_or(0),
                "extra Finished for {txid}"
            );
        }
        assert!(self.closes <= 1, "more than one Close");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn every_execute_gets_exactly_one_finished(ops in proptest::collection::vec(op(), 0..60)) {
        let config = Config { max_in_flight: 3, max_iterators: 2, range_page_size: 3, keepalive: Some(Duration::from_nanos(7)), features: Features::ALL };
        let mut run = Run { h: Handler::new(config), now: 0, executes: BTreeMap::new(), finished: BTreeMap::new(), closes: 0 };
        for op in ops {
            run.step(op);
        }
        run.step(Op::StreamClosed);
        prop_assert_eq!(&run.executes, &run.finished);
        prop_assert_eq!(run.closes, 1);
        prop_assert_eq!(run.h.in_flight(), 0);
        prop_assert_eq!(run.h.poll_timeout(), None);
    }
}
