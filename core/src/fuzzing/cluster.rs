//! Machine oracles for PBFT: one replica fed fuzzed input, and a fuzz-scheduled
//! four-replica cluster checked by the simulator.

use super::*;

/// Replicas in the fuzzed networks.
const N: usize = 4;
fn pbft_config(id: u64) -> core_pbft::Config {
    let mut cfg = core_pbft::Config::new(id, N, 1, core_pbft::Keys::from_seed(7, N, id));
    cfg.k = 2;
    cfg.log_multiplier = 2;
    cfg.batch_size = 2;
    cfg.timeout_batch = Duration::from_millis(100);
    cfg.timeout_request = Duration::from_millis(400);
    cfg.timeout_view_change = Duration::from_millis(500);
    cfg.timeout_resend_view_change = Duration::from_millis(300);
    cfg.max_outstanding_requests = 16;
    cfg
}

fn request(r: &mut Reader<'_>, origin: u64) -> Request {
    Request {
        timestamp: Some(Timestamp {
            seconds: i64::from(r.u8() % 8),
            nanos: 0,
        }),
        payload: vec![r.u8() % 4],
        replica_id: origin,
        signature: Vec::new(),
    }
}

fn batch(r: &mut Reader<'_>) -> RequestBatch {
    RequestBatch {
        batch: (0..r.u8() % 3).map(|_| request(r, 0)).collect(),
    }
}

fn digest_for(r: &mut Reader<'_>, b: &RequestBatch) -> String {
    match r.u8() % 4 {
        0 => String::new(),
        1 => "bogus".into(),
        _ => batch_digest(b),
    }
}

/// A PBFT message from `from`, mostly well-formed, with byte-chosen view,
/// sequence number, digest and claimed sender.
fn pbft_message(r: &mut Reader<'_>, from: u64) -> PeerMsg {
    use pbft::message::Payload;
    let view = u64::from(r.u8() % 4);
    let seq = u64::from(r.u8() % 12);
    let rid = if r.u8().is_multiple_of(8) {
        u64::from(r.u8() % 6)
    } else {
        from
    };
    let b = batch(r);
    let digest = digest_for(r, &b);
    let payload = match r.u8() % 10 {
        0 => return PeerMsg::Request(request(r, rid)),
        1 => Payload::PrePrepare(PrePrepare {
            view,
            sequence_number: seq,
            batch_digest: digest,
            request_batch: Some(b),
            replica_id: rid,
        }),
        2 | 3 => Payload::Prepare(Prepare {
            view,
            sequence_number: seq,
            batch_digest: digest,
            replica_id: rid,
        }),
        4 | 5 => Payload::Commit(Commit {
            view,
            sequence_number: seq,
            batch_digest: digest,
            replica_id: rid,
        }),
        6 => Payload::Checkpoint(Checkpoint {
            sequence_number: seq,
            replica_id: rid,
            id: r.pick(&[core_pbft::GENESIS_CHECKPOINT, "x", ""]).to_owned(),
        }),
        7 => Payload::ViewChange(ViewChange {
            view,
            h: seq,
            replica_id: rid,
            signature: r.bytes(64),
            ..ViewChange::default()
        }),
        8 => Payload::NewView(NewView {
            view,
            vset: Vec::new(),
            xset: [(seq, digest)].into_iter().collect(),
            replica_id: rid,
        }),
        _ => {
            if r.bool() {
                Payload::FetchRequestBatch(FetchRequestBatch {
                    batch_digest: digest,
                    replica_id: rid,
                })
            } else {
                Payload::ReturnRequestBatch(b)
            }
        }
    };
    PeerMsg::Pbft(pbft::Message {
        payload: Some(payload),
    })
}

/// One replica (id chosen by the input) fed byte-chosen peer messages from
/// the other replicas (which the input controls, so more than f may lie),
/// client requests, execution results, state-transfer answers and timer
/// firings. Checks after every operation: no panic; view, low watermark
/// and executed sequence numbers never go back (except via an explicit
/// state transfer); buffers stay within the simulator's bounds.
pub fn pbft_replica(data: &[u8]) {
    let mut r = Reader::new(data);
    let id = u64::from(r.u8()) % N as u64;
    let cfg = pbft_config(id);
    let (l, max_req) = (cfg.log_size(), cfg.max_outstanding_requests);
    let mut now = Instant::ZERO;
    let Ok(mut rep) = Replica::new(cfg, 0, &genesis(), now) else {
        panic!("valid config refused");
    };
    let mut checker = Checker::new(vec![true]);
    let mut chain = Chain::default();
    let mut pending_exec: Vec<(u64, String)> = Vec::new();
    let mut pending_xfer: Option<u64> = None;
    let (mut view, mut low, mut last_exec_out) = (0u64, 0u64, 0u64);
    for _ in 0..MAX_OPS {
        if r.is_empty() {
            break;
        }
        match r.u8() % 10 {
            0 => {
                let req = request(&mut r, id);
                let _ = rep.handle(now, core_pbft::Input::Request(req));
            }
            1 => {
                now = now + Duration::from_millis(u64::from(r.u8()) * 5);
                rep.handle_timeout(now);
            }
            2 => {
                if let Some(t) = rep.poll_timeout() {
                    now = now.max(t);
                    rep.handle_timeout(now);
                }
            }
            3 => {
                if !pending_exec.is_empty() {
                    let (seq, content) = pending_exec.remove(0);
                    let info = chain.append(seq, &content);
                    checker.on_executed(0, seq, &info);
                    let _ = rep.handle(now, core_pbft::Input::Executed { seq, info });
                }
            }
            4 => {
                if let Some(seq) = pending_xfer.take() {
                    let input = if r.bool() {
                        // The fuzzer plays the donor: it can only hand over
                        // a chain that extends ours.
                        let base = chain.last_seq();
                        for s in base.saturating_add(1)..=seq {
                            chain.append(s, "xfer");
                        }
                        checker.on_jump(0, seq.max(base));
                        pending_exec.clear();
                        last_exec_out = last_exec_out.max(seq);
                        core_pbft::Input::StateTransferred {
                            seq: seq.max(base),
                            info: chain.head(),
                        }
                    } else {
                        core_pbft::Input::StateTransferFailed
                    };
                    let _ = rep.handle(now, input);
                }
            }
            5 => {
                let raw = r.bytes(48);
                if let Ok(bm) = BatchMessage::decode(raw.as_slice())
                    && let Ok(msg) = PeerMsg::from_batch_message(bm)
                {
                    let from = u64::from(r.u8() % 5);
                    let _ = rep.handle(now, core_pbft::Input::Peer { from, msg });
                }
            }
            _ => {
                let from = u64::from(r.u8() % 5);
                let msg = pbft_message(&mut r, from);
                let _ = rep.handle(now, core_pbft::Input::Peer { from, msg });
            }
        }
        while let Some(out) = rep.poll_output() {
            match out {
                core_pbft::Output::Execute { seq, batch } => {
                    assert!(
                        seq > last_exec_out,
                        "execution not monotone: {seq} after {last_exec_out}"
                    );
                    last_exec_out = seq;
                    pending_exec.push((seq, batch_digest(&batch)));
                }
                core_pbft::Output::StateTransfer { seq, .. } => pending_xfer = Some(seq),
                _ => {}
            }
        }
        assert!(rep.view() >= view, "view went back");
        assert!(rep.low_watermark() >= low, "low watermark went back");
        view = rep.view();
        low = rep.low_watermark();
        checker.on_view(0, view);
        checker.on_buffers(0, rep.buffer_sizes(), N, l, max_req);
        assert!(
            checker.violations.is_empty(),
            "replica {id}: {:?}",
            checker.violations
        );
    }
}

// ──────────────────────── fuzz-scheduled cluster ────────────────────────

struct Node {
    rep: Replica,
    chain: Chain,
}

/// Four correct replicas; the bytes choose the schedule: which in-flight
/// message is delivered next (reordering), drops, duplicates, which
/// replica's timer fires, and client requests. Execution and state transfer
/// (copying a correct donor's chain) are immediate. The simulator's
/// [`Checker`] (agreement on commits and executions, identical hash chains
/// and checkpoint ids, monotone views, bounded buffers, no alarms) must
/// report no violation.
pub fn pbft_cluster(data: &[u8]) {
    let mut r = Reader::new(data);
    let mut now = Instant::ZERO;
    let mut nodes: Vec<Node> = (0..N as u64)
        .map(|i| Node {
            rep: Replica::new(pbft_config(i), 0, &genesis(), now).expect("valid config"),
            chain: Chain::default(),
        })
        .collect();
    let (l, max_req) = (
        nodes[0].rep.config().log_size(),
        nodes[0].rep.config().max_outstanding_requests,
    );
    let mut checker = Checker::new(vec![true; N]);
    let mut net: Vec<(usize, usize, PeerMsg)> = Vec::new();
    let mut drops = 0usize;
    let mut nonce = 0u8;
    for _ in 0..MAX_OPS * 2 {
        if r.is_empty() {
            break;
        }
        checker.set_time(now.as_nanos());
        let mut fed: Vec<(usize, core_pbft::Input)> = Vec::new();
        let mut timed: Option<usize> = None;
        match r.u8() % 16 {
            0..=8 => {
                if !net.is_empty() {
                    let (from, to, msg) = net.remove(r.below(net.len()));
                    fed.push((
                        to,
                        core_pbft::Input::Peer {
                            from: from as u64,
                            msg,
                        },
                    ));
                }
            }
            9 => {
                // At most a few drops, so the run stays interesting.
                if !net.is_empty() && drops < 8 {
                    drops += 1;
                    net.remove(r.below(net.len()));
                }
            }
            10 => {
                if !net.is_empty() {
                    let m = net[r.below(net.len())].clone();
                    net.push(m);
                }
            }
            11 | 12 => timed = Some(r.below(N)),
            _ => {
                nonce = nonce.wrapping_add(1);
                let to = r.below(N);
                let req = Request {
                    timestamp: Some(Timestamp {
                        seconds: i64::from(nonce),
                        nanos: 0,
                    }),
                    payload: vec![nonce, r.u8()],
                    replica_id: to as u64,
                    signature: Vec::new(),
                };
                fed.push((to, core_pbft::Input::Request(req)));
            }
        }
        if let Some(i) = timed {
            if let Some(t) = nodes[i].rep.poll_timeout() {
                now = now.max(t);
            }
            for n in &mut nodes {
                n.rep.handle_timeout(now);
            }
        }
        // Feed, then route outputs; executions and transfers feed back.
        let mut guard = 0;
        loop {
            for (i, input) in fed.drain(..) {
                let _ = nodes[i].rep.handle(now, input);
            }
            for i in 0..N {
                while let Some(out) = nodes[i].rep.poll_output() {
                    route(i, out, &mut nodes, &mut net, &mut checker, &mut fed);
                }
                checker.on_view(i, nodes[i].rep.view());
                checker.on_buffers(i, nodes[i].rep.buffer_sizes(), N, l, max_req);
            }
            guard += 1;
            if fed.is_empty() || guard > 64 {
                break;
            }
        }
        net.truncate(4096);
        assert!(
            checker.violations.is_empty(),
            "cluster violation: {:?}",
            checker.violations
        );
    }
}

fn route(
    i: usize,
    out: core_pbft::Output,
    nodes: &mut [Node],
    net: &mut Vec<(usize, usize, PeerMsg)>,
    checker: &mut Checker,
    fed: &mut Vec<(usize, core_pbft::Input)>,
) {
    use core_pbft::{Input, Output};
    match out {
        Output::Broadcast(msg) => {
            if let PeerMsg::Pbft(pbft::Message {
                payload: Some(pbft::message::Payload::Checkpoint(c)),
            }) = &msg
            {
                checker.on_checkpoint(i, c.sequence_number, &c.id);
            }
            for to in (0..N).filter(|t| *t != i) {
                net.push((i, to, msg.clone()));
            }
        }
        Output::Send { to, msg } => {
            if let Ok(to) = usize::try_from(to)
                && to < N
                && to != i
            {
                net.push((i, to, msg));
            }
        }
        Output::Execute { seq, batch } => {
            checker.on_execute(i, seq, &batch);
            let info = nodes[i].chain.append(seq, &batch_digest(&batch));
            checker.on_executed(i, seq, &info);
            fed.push((i, Input::Executed { seq, info }));
        }
        Output::Committed { seq, digest } => checker.on_committed(i, seq, &digest),
        Output::StateTransfer { seq, id, .. } => {
            let donor = (0..N)
                .find(|j| *j != i && nodes[*j].chain.matches(seq, &id))
                .map(|j| nodes[j].chain.prefix(seq));
            match donor {
                Some(chain) => {
                    let head = chain.info_at(seq);
                    nodes[i].chain = chain;
                    checker.on_jump(i, seq);
                    fed.push((i, Input::StateTransferred { seq, info: head }));
                }
                None => fed.push((i, Input::StateTransferFailed)),
            }
        }
        Output::Alarm(a) => checker.on_alarm(i, &a),
        Output::Persist(_)
        | Output::ViewChanged { .. }
        | Output::StateInvalid
        | Output::StateValid
        | Output::RequestRefused { .. }
        | Output::Misbehavior { .. } => {}
    }
}
