//! The [`Replica`] struct, its constructor, the [`Machine`] implementation
//! and the dispatch of inputs to the per-message handlers in `handle/`,
//! plus the small helpers every handler shares (emitting outputs, the
//! watermark window, moving the watermarks).

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use fabrik_proto::pbft::{Message, PQset, Request, RequestBatch, message};
use fabrik_proto::protos::BlockchainInfo;
use prost::Message as _;

use super::ReplicaId;
use super::config::{Config, ConfigError};
use super::error::{Reject, RejectReason};
use super::input::{Input, PeerMsg};
use super::log::Log;
use super::output::{Output, PersistOp};
use super::requests::RequestStore;
use super::state::{Dedup, Timer, Transfer, ViewChanges};
use crate::crypto::{SigningKey, b64, hash};
use crate::machine::Machine;
use crate::time::{Instant, TimerTable};

/// The checkpoint id of sequence number 0 (v0.6 `"XXX GENESIS"`).
pub const GENESIS_CHECKPOINT: &str = "XXX GENESIS";

/// A PBFT replica as v0.6 runs it (`pbftCore` + `obcBatch`), as a pure
/// state machine. See the module documentation of [`super`] for the flow.
#[derive(Debug)]
pub struct Replica {
    pub(crate) cfg: Config,
    pub(crate) signer: SigningKey,
    pub(crate) view: u64,
    pub(crate) active_view: bool,
    /// The last sequence number the primary assigned (v0.6 `seqNo`).
    pub(crate) seq_no: u64,
    /// Low watermark.
    pub(crate) h: u64,
    pub(crate) last_exec: u64,
    pub(crate) current_exec: Option<u64>,
    /// Marshalled BlockchainInfo after the last executed block.
    pub(crate) head: Vec<u8>,
    pub(crate) log: Log,
    pub(crate) reqs: RequestStore,
    pub(crate) dedup: Dedup,
    pub(crate) vc: ViewChanges,
    pub(crate) xfer: Transfer,
    pub(crate) timers: TimerTable<Timer>,
    pub(crate) outputs: VecDeque<Output>,
    pub(crate) rejects: BTreeMap<Option<ReplicaId>, u64>,
    /// Periodic view change at this sequence number (0 = none).
    pub(crate) view_change_seq_no: u64,
    pub(crate) broadcasts: u64,
    pub(crate) halted: bool,
    pub(crate) now: Instant,
}

impl Replica {
    /// A fresh replica in view 0 whose ledger head is `head` at sequence
    /// number `last_exec` (0 and the genesis info for a new network);
    /// `now` is the driver's current time.
    ///
    /// # Errors
    /// The configuration error, naming the v0.6 key.
    pub fn new(
        config: Config,
        last_exec: u64,
        head: &BlockchainInfo,
        now: Instant,
    ) -> Result<Self, ConfigError> {
        let cfg = config.validated()?;
        let signer = cfg.keys.signing_key();
        let vc = ViewChanges::new(cfg.timeout_view_change);
        let mut r = Replica {
            signer,
            view: 0,
            active_view: true,
            seq_no: last_exec,
            h: 0,
            last_exec,
            current_exec: None,
            head: head.encode_to_vec(),
            log: Log::default(),
            reqs: RequestStore::default(),
            dedup: Dedup::default(),
            vc,
            xfer: Transfer::default(),
            timers: TimerTable::new(),
            outputs: VecDeque::new(),
            rejects: BTreeMap::new(),
            view_change_seq_no: 0,
            broadcasts: 0,
            halted: false,
            now,
            cfg,
        };
        r.h = last_exec / r.cfg.k * r.cfg.k;
        // v0.6 seeds chkpts with the genesis checkpoint (`"XXX GENESIS"`),
        // the same on every replica, so a view change is possible before
        // the first real checkpoint.
        r.log.chkpts.insert(0, GENESIS_CHECKPOINT.to_owned());
        if last_exec.is_multiple_of(r.cfg.k) && last_exec > 0 {
            r.log.chkpts.insert(last_exec, b64(&r.head));
        }
        // View 0 starts at seqNo 0 on every replica, restarted or not, so
        // all agree on the first periodic view change.
        r.seq_no = 0;
        r.update_view_change_seq_no();
        r.seq_no = last_exec;
        r.null_request_timer_reset();
        Ok(r)
    }

    /// This replica's id.
    pub fn id(&self) -> ReplicaId {
        self.cfg.id
    }

    /// The configuration in force (after v0.6 adjustments).
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// The current view.
    pub fn view(&self) -> u64 {
        self.view
    }

    /// Whether the current view is active (no view change in progress).
    pub fn is_view_active(&self) -> bool {
        self.active_view
    }

    /// The primary of the current view.
    pub fn primary(&self) -> ReplicaId {
        self.cfg.primary(self.view)
    }

    /// The last executed sequence number.
    pub fn last_exec(&self) -> u64 {
        self.last_exec
    }

    /// The low watermark h.
    pub fn low_watermark(&self) -> u64 {
        self.h
    }

    /// Whether the state is marked invalid (state transfer in progress).
    pub fn is_state_invalid(&self) -> bool {
        self.xfer.skip
    }

    /// Whether the driver was told to refuse queries: during a state
    /// transfer, and while the replica knows the network committed past it
    /// (`handle/staleness.rs`).
    pub fn refuses_queries(&self) -> bool {
        self.xfer.queries_refused
    }

    /// Whether the replica halted after detecting its own divergence.
    pub fn is_halted(&self) -> bool {
        self.halted
    }

    /// Number of outstanding (unexecuted) requests.
    pub fn outstanding_requests(&self) -> usize {
        self.reqs.len()
    }

    /// Outstanding requests submitted at this replica; new ones are refused
    /// from [`super::Config::local_admission_limit`] on.
    pub fn own_outstanding_requests(&self) -> usize {
        self.reqs.outstanding_of(self.cfg.id)
    }

    /// Rejections counted per sender (`None` = local inputs, `Some(u64::MAX)`
    /// = senders outside the network).
    pub fn reject_counts(&self) -> &BTreeMap<Option<ReplicaId>, u64> {
        &self.rejects
    }

    /// Sizes of every buffer, for the simulator's boundedness checker.
    pub fn buffer_sizes(&self) -> BufferSizes {
        BufferSizes {
            certs: self.log.certs.len(),
            batches: self.log.batches.len(),
            checkpoints: self.log.checkpoints.len(),
            view_changes: self.vc.store.len(),
            requests: self.reqs.len(),
            qset: self.log.qset.len(),
            outputs: self.outputs.len(),
        }
    }

    pub(crate) fn is_primary(&self) -> bool {
        self.cfg.primary(self.view) == self.cfg.id
    }

    pub(crate) fn quorum(&self) -> usize {
        self.cfg.quorum()
    }

    pub(crate) fn commit_quorum(&self) -> usize {
        if self.cfg.bug(super::config::PlantedBug::CommitOneShort) {
            return self.cfg.quorum().saturating_sub(1);
        }
        self.cfg.quorum()
    }

    /// h < n ≤ h + L.
    pub(crate) fn in_window(&self, seq: u64) -> bool {
        if self.cfg.bug(super::config::PlantedBug::NoWatermarkCheck) {
            return seq > 0;
        }
        seq > self.h && seq <= self.high_watermark()
    }

    pub(crate) fn high_watermark(&self) -> u64 {
        self.h.saturating_add(self.cfg.log_size())
    }

    pub(crate) fn out_of_window(&self, seq: u64) -> RejectReason {
        RejectReason::OutOfWindow {
            seq,
            low: self.h,
            high: self.high_watermark(),
        }
    }

    pub(crate) fn emit(&mut self, out: Output) {
        self.outputs.push_back(out);
    }

    pub(crate) fn persist(&mut self, op: PersistOp) {
        self.emit(Output::Persist(op));
    }

    pub(crate) fn persist_pset(&mut self) {
        let set = self.log.pset.values().cloned().collect();
        self.persist(PersistOp::PSet(PQset { set }));
    }

    pub(crate) fn persist_qset(&mut self) {
        let set = self.log.qset.values().cloned().collect();
        self.persist(PersistOp::QSet(PQset { set }));
    }

    /// Broadcasts a PBFT message. With `general.byzantine` every third
    /// broadcast skips one replica (v0.6 `innerBroadcast`), chosen by a
    /// counter instead of a random draw so runs stay deterministic.
    pub(crate) fn broadcast(&mut self, payload: message::Payload) {
        let msg = PeerMsg::Pbft(Message {
            payload: Some(payload),
        });
        self.broadcasts = self.broadcasts.wrapping_add(1);
        if self.cfg.byzantine && self.broadcasts.is_multiple_of(3) {
            let n = self.cfg.n as u64;
            let skip = self.broadcasts / 3 % n.max(1);
            let me = self.cfg.id;
            for to in (0..n).filter(|to| *to != me && *to != skip) {
                self.emit(Output::Send {
                    to,
                    msg: msg.clone(),
                });
            }
            return;
        }
        self.emit(Output::Broadcast(msg));
    }

    pub(crate) fn send(&mut self, to: ReplicaId, payload: message::Payload) {
        let msg = PeerMsg::Pbft(Message {
            payload: Some(payload),
        });
        self.emit(Output::Send { to, msg });
    }

    pub(crate) fn set_timer(&mut self, timer: Timer, after: crate::time::Duration) {
        self.timers.set(timer, self.now + after);
    }

    pub(crate) fn soft_start_timer(&mut self, timer: Timer, after: crate::time::Duration) {
        self.timers.set_if_unset(timer, self.now + after);
    }

    /// v0.6 `moveWatermarks`: h = n rounded down to a multiple of K, and
    /// everything at or below h is garbage-collected (persisted deletions
    /// included).
    pub(crate) fn move_watermarks(&mut self, n: u64) {
        let h = n / self.cfg.k * self.cfg.k;
        if h <= self.h && !self.log.certs.keys().any(|(_, s)| *s <= h) {
            return;
        }
        self.h = self.h.max(h);
        let keep: BTreeSet<String> = self.vc.missing.clone();
        let (old_chkpts, dead) = self.log.gc(self.h, &keep);
        for seq in old_chkpts {
            self.persist(PersistOp::DeleteCheckpoint { seq });
        }
        for digest in dead {
            self.persist(PersistOp::DeleteBatch { digest });
        }
        self.persist_pset();
        self.persist_qset();
        self.xfer.hchkpts.retain(|_, s| *s > self.h);
        let h = self.h;
        self.xfer.evidence.retain(|(s, _), _| *s >= h);
        tracing::debug!(replica = self.cfg.id, h = self.h, "moved watermarks");
        self.maybe_cut_batch(false);
    }

    /// v0.6 `updateViewChangeSeqNo`: the next periodic view change falls on
    /// a checkpoint boundary `period × K` after the current seqNo.
    pub(crate) fn update_view_change_seq_no(&mut self) {
        if self.cfg.view_change_period == 0 {
            return;
        }
        let span = self.cfg.view_change_period.saturating_mul(self.cfg.k);
        self.view_change_seq_no = self
            .seq_no
            .saturating_add(span)
            .saturating_sub(self.seq_no % self.cfg.k);
    }

    fn dispatch(&mut self, input: Input) -> Result<(), RejectReason> {
        match input {
            Input::Request(req) => self.on_local_request(req),
            Input::Peer { from, msg } => {
                let result = self.on_peer(from, msg);
                if result.is_ok() {
                    self.refetch_missing_batches();
                }
                result
            }
            Input::Executed { seq, info } => self.on_executed(seq, &info),
            Input::StateTransferred { seq, info } => self.on_state_transferred(seq, &info),
            Input::StateTransferFailed => self.on_state_transfer_failed(),
        }
    }

    fn on_peer(&mut self, from: ReplicaId, msg: PeerMsg) -> Result<(), RejectReason> {
        if !self.cfg.is_replica(from) || from == self.cfg.id {
            return Err(RejectReason::UnknownReplica(from));
        }
        let payload = match msg {
            PeerMsg::Request(req) => return self.on_peer_request(from, req),
            PeerMsg::Pbft(Message { payload: None }) => {
                return Err(RejectReason::Malformed("empty message".into()));
            }
            PeerMsg::Pbft(Message { payload: Some(p) }) => p,
        };
        // A NEW-VIEW may be relayed by any replica: it is self-certifying
        // (signed VIEW-CHANGEs, xset recomputed by the receiver).
        let relayable = matches!(payload, message::Payload::NewView(_));
        let claimed = claimed_sender(&payload).filter(|_| !relayable);
        if let Some(claimed) = claimed.filter(|c| *c != from) {
            return Err(RejectReason::WrongReplicaId {
                claimed,
                actual: from,
            });
        }
        match payload {
            message::Payload::PrePrepare(pp) => self.on_pre_prepare(from, pp),
            message::Payload::Prepare(p) => self.on_prepare(from, &p),
            message::Payload::Commit(c) => self.on_commit(from, &c),
            message::Payload::Checkpoint(c) => self.on_checkpoint(from, &c),
            message::Payload::ViewChange(vc) => self.on_view_change(from, vc),
            message::Payload::NewView(nv) => self.on_new_view(from, nv),
            message::Payload::FetchRequestBatch(f) => self.on_fetch_request_batch(from, &f),
            message::Payload::ReturnRequestBatch(b) => self.on_return_request_batch(from, b),
            message::Payload::RequestBatch(_) => Err(RejectReason::Unsupported("request_batch")),
        }
    }

    fn on_timer(&mut self, timer: Timer) {
        match timer {
            Timer::Request | Timer::NewView => self.on_progress_timeout(timer),
            Timer::ResendViewChange => self.on_resend_view_change(),
            Timer::NullRequest => self.on_null_request_timeout(),
            Timer::Batch => self.maybe_cut_batch(true),
            Timer::RetryStateTransfer => self.retry_state_transfer(None),
        }
    }
}

/// The `replica_id` a message claims, where it has one.
fn claimed_sender(payload: &message::Payload) -> Option<ReplicaId> {
    match payload {
        message::Payload::PrePrepare(m) => Some(m.replica_id),
        message::Payload::Prepare(m) => Some(m.replica_id),
        message::Payload::Commit(m) => Some(m.replica_id),
        message::Payload::Checkpoint(m) => Some(m.replica_id),
        message::Payload::ViewChange(m) => Some(m.replica_id),
        message::Payload::NewView(m) => Some(m.replica_id),
        message::Payload::FetchRequestBatch(m) => Some(m.replica_id),
        message::Payload::RequestBatch(_) | message::Payload::ReturnRequestBatch(_) => None,
    }
}

/// v0.6 `hash(RequestBatch)`: base64 of SHAKE-256 of the marshalled batch.
pub fn batch_digest(batch: &RequestBatch) -> String {
    b64(&hash(&batch.encode_to_vec()))
}

/// v0.6 `hash(Request)`.
pub fn request_digest(req: &Request) -> String {
    b64(&hash(&req.encode_to_vec()))
}

/// Sizes of the replica's buffers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BufferSizes {
    /// Certificates.
    pub certs: usize,
    /// Stored batches.
    pub batches: usize,
    /// Received checkpoints.
    pub checkpoints: usize,
    /// Stored view changes.
    pub view_changes: usize,
    /// Outstanding requests.
    pub requests: usize,
    /// Q-set entries.
    pub qset: usize,
    /// Undrained outputs.
    pub outputs: usize,
}

impl Machine for Replica {
    type Input = Input;
    type Output = Output;
    type Reject = Reject;

    fn handle(&mut self, now: Instant, input: Input) -> Result<(), Reject> {
        self.now = self.now.max(now);
        let from = match &input {
            Input::Peer { from, .. } => Some(*from),
            _ => None,
        };
        let result = if self.halted {
            Err(RejectReason::Halted)
        } else {
            self.dispatch(input)
        };
        self.report_staleness();
        result.map_err(|reason| {
            // Unknown ids share one counter, so the map stays bounded.
            let key = from.map(|f| {
                if self.cfg.is_replica(f) {
                    f
                } else {
                    ReplicaId::MAX
                }
            });
            let count = self.rejects.entry(key).or_default();
            *count = count.saturating_add(1);
            if let Some(f) = from.filter(|_| reason.is_misbehavior()) {
                self.emit(Output::Misbehavior {
                    from: f,
                    reason: reason.clone(),
                });
            }
            tracing::debug!(replica = self.cfg.id, ?from, %reason, "rejected input");
            Reject { from, reason }
        })
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.now = self.now.max(now);
        if self.halted {
            return;
        }
        for timer in self.timers.expire(self.now) {
            self.on_timer(timer);
        }
        self.report_staleness();
    }

    fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        if self.halted {
            return None;
        }
        self.timers.next_deadline()
    }
}
