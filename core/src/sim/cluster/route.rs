//! Draining a replica's outputs: persisting, routing messages through the
//! simulated network (with Byzantine rewriting and twins), running the
//! executor and state transfer, and feeding the checker.

use fabrik_proto::pbft::{Message, message};

use super::{Cluster, Event};
use crate::machine::Machine;
use crate::pbft::{Input, Output, PeerMsg, batch_digest, request_digest};
use crate::sim::byzantine;
use crate::sim::options::Byzantine;
use crate::time::Duration;

impl Cluster {
    /// Performs every output of instance `i` in order. A torn persist
    /// crashes the instance before the persist and everything after it.
    pub(super) fn drain(&mut self, i: usize) {
        let outs: Vec<Output> = match self.inst.get_mut(i).and_then(|x| x.replica.as_mut()) {
            Some(r) => std::iter::from_fn(|| r.poll_output()).collect(),
            None => return,
        };
        for out in outs {
            let tear = self.inst.get(i).is_some_and(|x| x.tear_next_persist);
            if tear && matches!(out, Output::Persist(_)) {
                self.crash(i);
                return;
            }
            self.perform(i, out);
        }
        self.inject_random(i);
        let Some(x) = self.inst.get(i) else { return };
        let Some(r) = x.replica.as_ref() else { return };
        let (view, sizes) = (r.view(), r.buffer_sizes());
        let (n, l, max) = (
            x.config.n,
            x.config.k.saturating_mul(x.config.log_multiplier),
            x.config.max_outstanding_requests,
        );
        self.checker.on_view(i, view);
        self.checker.on_buffers(i, sizes, n, l, max);
    }

    fn perform(&mut self, i: usize, out: Output) {
        if self
            .opts
            .trace_from
            .is_some_and(|t| self.now >= crate::time::Instant::ZERO + t)
        {
            println!("{:?} #{i} -> {:?}", self.now, out);
        }
        match out {
            Output::Persist(op) => {
                if let Some(x) = self.inst.get_mut(i) {
                    x.store.apply(&op);
                }
            }
            Output::Broadcast(msg) => self.broadcast(i, msg),
            Output::Send { to, msg } => self.send_to_identity(i, to, msg),
            Output::Execute { seq, batch } => {
                self.checker.on_execute(i, seq, &batch);
                self.note_probe(i, &batch);
                let epoch = self.inst.get(i).map_or(0, |x| x.epoch);
                let d = self.ms(0, 5);
                self.at(
                    d,
                    Event::Executed {
                        inst: i,
                        epoch,
                        seq,
                        content: batch_digest(&batch),
                    },
                );
            }
            Output::Committed { seq, digest } => self.checker.on_committed(i, seq, &digest),
            Output::StateTransfer { seq, id, .. } => {
                let epoch = self.inst.get(i).map_or(0, |x| x.epoch);
                let d = self.ms(10, 100);
                self.at(
                    d,
                    Event::Transferred {
                        inst: i,
                        epoch,
                        seq,
                        id,
                    },
                );
            }
            Output::Alarm(a) => self.checker.on_alarm(i, &a),
            // A refused client request is the client's to retry (the probe
            // is resubmitted until it executes).
            Output::ViewChanged { .. }
            | Output::StateInvalid
            | Output::StateValid
            | Output::RequestRefused { .. }
            | Output::Misbehavior { .. } => {}
        }
    }

    fn note_probe(&mut self, i: usize, batch: &fabrik_proto::pbft::RequestBatch) {
        for r in &batch.batch {
            self.inflight.remove(&request_digest(r));
        }
        let Some(probe) = self.probe.as_ref() else {
            return;
        };
        let correct = self.inst.get(i).is_some_and(|x| x.correct());
        if correct
            && batch.batch.iter().any(|r| request_digest(r) == *probe)
            && !self.probe_seen.contains(&i)
        {
            self.probe_seen.push(i);
        }
    }

    fn observe(&mut self, i: usize, msg: &PeerMsg) {
        if let PeerMsg::Pbft(Message {
            payload: Some(message::Payload::Checkpoint(c)),
        }) = msg
        {
            self.checker.on_checkpoint(i, c.sequence_number, &c.id);
        }
    }

    fn broadcast(&mut self, i: usize, msg: PeerMsg) {
        self.observe(i, &msg);
        let Some(me) = self.inst.get(i).map(|x| x.id) else {
            return;
        };
        for to in (0..self.opts.n as u64).filter(|t| *t != me) {
            self.send_to_identity(i, to, msg.clone());
        }
    }

    /// Routes to one instance of identity `to` (a twin pair splits traffic).
    fn send_to_identity(&mut self, i: usize, to: u64, msg: PeerMsg) {
        let targets: Vec<usize> = self
            .inst
            .iter()
            .enumerate()
            .filter(|(_, x)| x.id == to)
            .map(|(j, _)| j)
            .collect();
        // Twins: prefer the instance on our side of a partition.
        let near: Vec<usize> = targets
            .iter()
            .copied()
            .filter(|j| self.groups.get(*j) == self.groups.get(i))
            .collect();
        let Some(j) = self.pick(if near.is_empty() { &targets } else { &near }) else {
            return;
        };
        let behaviour = self.inst.get(i).and_then(|x| x.behaviour);
        let msg = match behaviour.filter(|b| self.in_faults() && *b != Byzantine::Twin) {
            Some(b) => match byzantine::rewrite(b, &msg, to, &mut self.rng) {
                Some(m) => m,
                None => return,
            },
            None => msg,
        };
        self.transmit(i, j, msg);
    }

    /// The netem-like link: partitions, loss, duplication, jittered delay.
    fn transmit(&mut self, i: usize, j: usize, msg: PeerMsg) {
        let from = self.inst.get(i).map_or(0, |x| x.id);
        let faults = self.in_faults();
        if self.groups.get(i) != self.groups.get(j) {
            return;
        }
        if faults && self.rng.chance(self.opts.drop_per_mille) {
            return;
        }
        let (lo, hi) = (
            self.opts.min_delay.as_millis() as u64,
            self.opts.max_delay.as_millis() as u64,
        );
        if faults && self.rng.chance(self.opts.dup_per_mille) {
            let d = self.jitter(lo, hi);
            self.at(
                d,
                Event::Deliver {
                    to: j,
                    from,
                    msg: msg.clone(),
                },
            );
        }
        let d = self.jitter(lo, hi);
        self.at(d, Event::Deliver { to: j, from, msg });
    }

    fn jitter(&mut self, lo_ms: u64, hi_ms: u64) -> Duration {
        Duration::from_micros(
            self.rng
                .range(lo_ms.saturating_mul(1000), hi_ms.saturating_mul(1000)),
        )
    }

    fn inject_random(&mut self, i: usize) {
        let Some(x) = self.inst.get(i) else { return };
        if x.behaviour != Some(Byzantine::Random) || !self.in_faults() || !self.rng.chance(200) {
            return;
        }
        let (me, view) = (x.id, x.replica.as_ref().map_or(0, |r| r.view()));
        let msg = byzantine::random_message(me, view, &mut self.rng);
        let to = self.rng.below(self.opts.n as u64);
        if to != me {
            self.send_to_identity(i, to, msg);
        }
    }

    pub(super) fn on_executed(&mut self, i: usize, epoch: u64, seq: u64, content: &str) {
        let Some(x) = self.inst.get_mut(i) else {
            return;
        };
        if x.epoch != epoch || x.replica.is_none() {
            return;
        }
        let info = x.chain.append(seq, content);
        self.checker.on_executed(i, seq, &info);
        self.feed(i, Input::Executed { seq, info });
    }

    /// State transfer: copy the chain of a correct instance whose head at
    /// `seq` has checkpoint id `id`.
    pub(super) fn on_transferred(&mut self, i: usize, epoch: u64, seq: u64, id: &str) {
        if self
            .inst
            .get(i)
            .is_none_or(|x| x.epoch != epoch || x.replica.is_none())
        {
            return;
        }
        let donor = self
            .inst
            .iter()
            .enumerate()
            .find(|(j, x)| *j != i && x.correct() && x.chain.matches(seq, id))
            .map(|(_, x)| x.chain.prefix(seq));
        let Some(chain) = donor else {
            self.feed(i, Input::StateTransferFailed);
            return;
        };
        let head = chain.info_at(seq);
        if let Some(x) = self.inst.get_mut(i) {
            x.chain = chain;
        }
        self.transfers = self.transfers.saturating_add(1);
        self.checker.on_jump(i, seq);
        self.feed(i, Input::StateTransferred { seq, info: head });
    }
}
