//! Shared harness of the PBFT malformed-input corpus (`malformed_pbft*.rs`):
//! replica fixtures in known states, signed VIEW-CHANGE builders, a tiny
//! lossless cluster that executes real batches, and the table runner that
//! checks every named case for the typed rejection, the per-sender
//! rejection counter, the misbehavior report, no state change and no panic.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::panic::{AssertUnwindSafe, catch_unwind};

use fabrik_core::crypto::{SigningKey, b64, hash};
use fabrik_core::machine::Machine;
use fabrik_core::pbft::{
    Config, GENESIS_CHECKPOINT, Input, Keys, Output, PeerMsg, RejectReason, Replica, ReplicaId,
    batch_digest,
};
use fabrik_core::time::Instant;
use fabrik_proto::Timestamp;
use fabrik_proto::pbft::{
    Checkpoint, Commit, Message, NewView, PrePrepare, Prepare, Request, RequestBatch, ViewChange,
    message, view_change::C,
};
use fabrik_proto::protos::BlockchainInfo;
use prost::Message as _;

pub const T0: Instant = Instant::ZERO;
const SEED: u64 = 7;

/// N = 4, f = 1, K = 2, L = 8, batch size 2: the window of a fresh replica
/// is (0, 8].
pub fn cfg(id: ReplicaId) -> Config {
    let mut c = Config::new(id, 4, 1, Keys::from_seed(SEED, 4, id));
    c.k = 2;
    c.log_multiplier = 4;
    c.batch_size = 2;
    c
}

pub fn genesis() -> BlockchainInfo {
    BlockchainInfo {
        height: 1,
        current_block_hash: vec![1],
        previous_block_hash: vec![],
    }
}

pub fn replica_with(c: Config) -> Replica {
    let mut r = Replica::new(c, 0, &genesis(), T0).expect("valid config");
    drain(&mut r);
    r
}

pub fn drain(r: &mut Replica) -> Vec<Output> {
    std::iter::from_fn(|| r.poll_output()).collect()
}

pub fn req(origin: ReplicaId, ts: i64) -> Request {
    Request {
        timestamp: Some(Timestamp {
            seconds: ts,
            nanos: 0,
        }),
        payload: vec![ts as u8, origin as u8],
        replica_id: origin,
        signature: vec![],
    }
}

pub fn batch(reqs: &[Request]) -> RequestBatch {
    RequestBatch {
        batch: reqs.to_vec(),
    }
}

/// The batch the Prepared fixture pre-prepared at (0, 1).
pub fn b1() -> RequestBatch {
    batch(&[req(0, 1)])
}

pub fn d1() -> String {
    batch_digest(&b1())
}

pub fn peer(from: ReplicaId, p: message::Payload) -> Input {
    Input::Peer {
        from,
        msg: PeerMsg::Pbft(Message { payload: Some(p) }),
    }
}

pub fn pp(
    view: u64,
    seq: u64,
    b: Option<RequestBatch>,
    digest: &str,
    id: ReplicaId,
) -> message::Payload {
    message::Payload::PrePrepare(PrePrepare {
        view,
        sequence_number: seq,
        batch_digest: digest.into(),
        request_batch: b,
        replica_id: id,
    })
}

/// A well-formed PRE-PREPARE of `b`.
pub fn pp_of(view: u64, seq: u64, b: &RequestBatch, id: ReplicaId) -> message::Payload {
    pp(view, seq, Some(b.clone()), &batch_digest(b), id)
}

pub fn prepare(view: u64, seq: u64, digest: &str, id: ReplicaId) -> message::Payload {
    message::Payload::Prepare(Prepare {
        view,
        sequence_number: seq,
        batch_digest: digest.into(),
        replica_id: id,
    })
}

pub fn commit(view: u64, seq: u64, digest: &str, id: ReplicaId) -> message::Payload {
    message::Payload::Commit(Commit {
        view,
        sequence_number: seq,
        batch_digest: digest.into(),
        replica_id: id,
    })
}

pub fn checkpoint(seq: u64, id: ReplicaId, cp: &str) -> message::Payload {
    message::Payload::Checkpoint(Checkpoint {
        sequence_number: seq,
        replica_id: id,
        id: cp.into(),
    })
}

/// Replica `id`'s signing key, derived as `Keys::from_seed` derives it.
pub fn signer(id: ReplicaId) -> SigningKey {
    let h = hash(&[SEED.to_le_bytes(), id.to_le_bytes()].concat());
    let mut secret = [0u8; 32];
    secret.copy_from_slice(&h[..32]);
    SigningKey::from_bytes(&secret)
}

/// Signs `vc` as replica `key` (over the message with an empty signature).
pub fn sign_as(mut vc: ViewChange, key: ReplicaId) -> ViewChange {
    vc.signature.clear();
    vc.signature = signer(key).sign(&vc.encode_to_vec()).to_vec();
    vc
}

/// A correctly signed VIEW-CHANGE of replica `id` for `view` from a fresh
/// replica (h = 0, only the genesis checkpoint), after `tweak`.
pub fn vc_with(id: ReplicaId, view: u64, tweak: impl FnOnce(&mut ViewChange)) -> ViewChange {
    let mut vc = ViewChange {
        view,
        h: 0,
        cset: vec![C {
            sequence_number: 0,
            id: GENESIS_CHECKPOINT.into(),
        }],
        pset: vec![],
        qset: vec![],
        replica_id: id,
        signature: vec![],
    };
    tweak(&mut vc);
    sign_as(vc, id)
}

pub fn vc(id: ReplicaId, view: u64) -> ViewChange {
    vc_with(id, view, |_| {})
}

/// A NEW-VIEW for view 1 (primary 1) carrying VIEW-CHANGEs of 0, 2 and 3.
pub fn nv1() -> NewView {
    NewView {
        view: 1,
        vset: vec![vc(0, 1), vc(2, 1), vc(3, 1)],
        xset: BTreeMap::new(),
        replica_id: 1,
    }
}

/// Known replica states the cases start from (the receiver is replica 1
/// unless the name says otherwise).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fx {
    /// Replica 1, fresh: view 0 (primary 0), window (0, 8].
    Fresh,
    /// Replica 0, fresh: the primary of view 0.
    Primary,
    /// Replica 1 that accepted PRE-PREPARE (0, 1, b1) from 0, PREPARE and
    /// COMMIT from 2 for it, CHECKPOINT 2 from 2 and a request relayed by 2.
    Prepared,
    /// Replica 1 that timed out of view 0: view 1, inactive.
    ViewChanging,
    /// Replica 1 in view 2 (inactive) after two timeouts.
    ViewTwo,
    /// Replica 1 that stored replica 2's VIEW-CHANGE for view 1.
    VcStored,
    /// Replica 1 of a cluster that executed seq 1 (request of 0, ts 1) and
    /// seq 2 (request of 1, ts 2): stable checkpoint 2, window (2, 10].
    Executed,
    /// Replica 1 whose request verifier wants the signature `b"ok"`.
    Verifying,
    /// Replica 1 with at most one outstanding request, holding one.
    Full,
}

fn verify_ok(r: &Request) -> bool {
    r.signature == b"ok"
}

impl Fx {
    pub fn build(self) -> Replica {
        match self {
            Fx::Fresh => replica_with(cfg(1)),
            Fx::Primary => replica_with(cfg(0)),
            Fx::Prepared => {
                let mut r = replica_with(cfg(1));
                let b = b1();
                let d = d1();
                for (from, p) in [
                    (0, pp_of(0, 1, &b, 0)),
                    (2, prepare(0, 1, &d, 2)),
                    (2, commit(0, 1, &d, 2)),
                    (2, checkpoint(2, 2, "cp-2")),
                ] {
                    r.handle(T0, peer(from, p)).expect("fixture input accepted");
                }
                r.handle(
                    T0,
                    Input::Peer {
                        from: 2,
                        msg: PeerMsg::Request(req(2, 50)),
                    },
                )
                .expect("fixture request accepted");
                drain(&mut r);
                r
            }
            Fx::ViewChanging => time_out_to_view(1),
            Fx::ViewTwo => time_out_to_view(2),
            Fx::VcStored => {
                let mut r = time_out_to_view(1);
                r.handle(T0, peer(2, message::Payload::ViewChange(vc(2, 1))))
                    .expect("fixture view change accepted");
                drain(&mut r);
                r
            }
            Fx::Executed => {
                let mut c = Cluster::new();
                c.submit(0, req(0, 1));
                c.submit(1, req(1, 2));
                let r = c.replicas[1].take().expect("replica 1");
                assert_eq!((r.last_exec(), r.low_watermark()), (2, 2), "fixture");
                r
            }
            Fx::Verifying => {
                let mut c = cfg(1);
                c.request_verifier = Some(verify_ok);
                replica_with(c)
            }
            Fx::Full => {
                let mut c = cfg(1);
                c.max_outstanding_requests = 1;
                let mut r = replica_with(c);
                r.handle(T0, Input::Request(req(1, 1)))
                    .expect("fixture request accepted");
                drain(&mut r);
                r
            }
        }
    }
}

/// Replica 1, given a request so its request timer runs, then timed out
/// until it reaches `view` (view changes in progress, never completed).
fn time_out_to_view(view: u64) -> Replica {
    let mut r = replica_with(cfg(1));
    r.handle(T0, Input::Request(req(1, 1))).expect("request");
    drain(&mut r);
    for _ in 0..20 {
        if r.view() == view {
            break;
        }
        let at = r.poll_timeout().expect("a timer runs");
        r.handle_timeout(at);
        drain(&mut r);
        // Replica 2 follows into each view, so replica 1 is not alone in
        // it and escalates at the next timeout (alone, it would wait).
        if r.view() < view && !r.is_view_active() {
            let _ = r.handle(at, peer(2, message::Payload::ViewChange(vc(2, r.view()))));
            drain(&mut r);
        }
    }
    assert_eq!((r.view(), r.is_view_active()), (view, false), "fixture");
    r
}

/// A lossless 4-replica cluster whose executor hash-chains batches.
pub struct Cluster {
    pub replicas: Vec<Option<Replica>>,
    heads: Vec<BlockchainInfo>,
    queue: VecDeque<(ReplicaId, ReplicaId, PeerMsg)>,
}

impl Cluster {
    pub fn new() -> Self {
        Cluster {
            replicas: (0..4).map(|i| Some(replica_with(cfg(i)))).collect(),
            heads: vec![genesis(); 4],
            queue: VecDeque::new(),
        }
    }

    fn pump(&mut self, id: usize) {
        let Some(r) = self.replicas[id].as_mut() else {
            return;
        };
        for out in drain(r) {
            match out {
                Output::Broadcast(msg) => {
                    for to in (0..4u64).filter(|t| *t != id as u64) {
                        self.queue.push_back((id as u64, to, msg.clone()));
                    }
                }
                Output::Send { to, msg } => self.queue.push_back((id as u64, to, msg)),
                Output::Execute { seq, batch } => {
                    let prev = self.heads[id].clone();
                    let next = BlockchainInfo {
                        height: prev.height + 1,
                        current_block_hash: hash(
                            &[
                                prev.current_block_hash.clone(),
                                batch_digest(&batch).into_bytes(),
                            ]
                            .concat(),
                        )
                        .to_vec(),
                        previous_block_hash: prev.current_block_hash,
                    };
                    self.heads[id] = next.clone();
                    let r = self.replicas[id].as_mut().expect("live");
                    r.handle(T0, Input::Executed { seq, info: next })
                        .expect("execution accepted");
                    self.pump(id);
                }
                _ => {}
            }
        }
    }

    pub fn submit(&mut self, at: usize, r: Request) {
        let rep = self.replicas[at].as_mut().expect("live");
        rep.handle(T0, Input::Request(r)).expect("request accepted");
        self.pump(at);
        let mut steps = 0;
        while let Some((from, to, msg)) = self.queue.pop_front() {
            steps += 1;
            assert!(steps < 100_000, "no quiescence");
            if let Some(r) = self.replicas[to as usize].as_mut() {
                let _ = r.handle(T0, Input::Peer { from, msg });
                self.pump(to as usize);
            }
        }
    }
}

impl Default for Cluster {
    fn default() -> Self {
        Self::new()
    }
}

/// The replica's whole observable state: its `Debug` rendering without the
/// rejection counters (which a rejection is meant to change).
pub fn snapshot(r: &Replica) -> String {
    let s = format!("{r:?}");
    match (s.find("rejects: "), s.find("view_change_seq_no: ")) {
        (Some(a), Some(b)) if a < b => format!("{}{}", &s[..a], &s[b..]),
        _ => panic!("Replica's Debug layout changed; update snapshot()"),
    }
}

/// What a case expects.
#[derive(Debug, Clone)]
pub enum Want {
    /// Exactly this reason.
    Is(RejectReason),
    /// Any reason with this counter label (for decoder texts).
    Label(&'static str),
}

/// One named case of the corpus.
pub struct Case {
    pub name: &'static str,
    pub fx: Fx,
    pub input: Input,
    pub want: Want,
}

pub fn case(name: &'static str, fx: Fx, input: Input, want: RejectReason) -> Case {
    Case {
        name,
        fx,
        input,
        want: Want::Is(want),
    }
}

fn check(c: Case) -> Result<(), String> {
    let mut r = c.fx.build();
    let before = snapshot(&r);
    let from = match &c.input {
        Input::Peer { from, .. } => Some(*from),
        _ => None,
    };
    let local_request = match &c.input {
        Input::Request(req) => Some(req.clone()),
        _ => None,
    };
    let key = from.map(|f| if f < 4 { f } else { ReplicaId::MAX });
    let count = |r: &Replica| r.reject_counts().get(&key).copied().unwrap_or(0);
    let counted = count(&r);
    let reject = match r.handle(T0, c.input) {
        Ok(()) => return Err("accepted; expected a rejection".into()),
        Err(e) => e,
    };
    if reject.from != from {
        return Err(format!(
            "reject names sender {:?}, expected {from:?}",
            reject.from
        ));
    }
    match &c.want {
        Want::Is(want) if reject.reason != *want => {
            return Err(format!("got {:?}, expected {want:?}", reject.reason));
        }
        Want::Label(l) if reject.reason.label() != *l => {
            return Err(format!("got {:?}, expected label {l}", reject.reason));
        }
        _ => {}
    }
    if count(&r) != counted + 1 {
        return Err(format!("rejection counter for {key:?} did not move by one"));
    }
    let outs = drain(&mut r);
    let expected: Vec<Output> = match (from, local_request) {
        (Some(f), _) if reject.reason.is_misbehavior() => vec![Output::Misbehavior {
            from: f,
            reason: reject.reason.clone(),
        }],
        // The submitter of a refused client request is told.
        (None, Some(request)) if reject.reason.refuses_request() => {
            vec![Output::RequestRefused {
                request,
                reason: reject.reason.clone(),
            }]
        }
        _ => vec![],
    };
    if outs != expected {
        return Err(format!("outputs {outs:?}, expected {expected:?}"));
    }
    if snapshot(&r) != before {
        return Err("state changed".into());
    }
    Ok(())
}

/// Runs every case; fails naming each case that did not hold.
pub fn run(cases: Vec<Case>, documented: usize) {
    assert!(
        cases.len() >= documented,
        "table has {} cases, MALFORMED.md documents {documented}",
        cases.len()
    );
    let mut names = BTreeSet::new();
    let mut failures = Vec::new();
    let total = cases.len();
    for c in cases {
        assert!(names.insert(c.name), "duplicate case name {}", c.name);
        let name = c.name;
        match catch_unwind(AssertUnwindSafe(|| check(c))) {
            Ok(Ok(())) => {}
            Ok(Err(why)) => failures.push(format!("{name}: {why}")),
            Err(_) => failures.push(format!("{name}: PANICKED")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {total} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The checkpoint id of a BlockchainInfo (base64 of its marshalling).
pub fn id_of(i: &BlockchainInfo) -> String {
    b64(&i.encode_to_vec())
}
