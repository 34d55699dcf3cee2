//! The simulated cluster: instances (replica + store + ledger), the event
//! queue with virtual time, the netem-like network, the fault schedule and
//! the client driver. [`run`] plays one seed to the end.

use std::collections::BTreeMap;

use fabrik_proto::Timestamp;
use fabrik_proto::pbft::Request;

use super::checker::{Checker, Violation};
use super::executor::Chain;
use super::options::{Byzantine, SimOptions};
use super::rng::Rng;
use crate::machine::Machine;
use crate::pbft::{Config, Input, Keys, PeerMsg, PersistedState, Replica, request_digest};
use crate::time::{Duration, Instant};

mod route;

/// Most client requests in flight at once.
const MAX_INFLIGHT: usize = 64;

/// The outcome of one run.
#[derive(Debug, Clone)]
pub struct Report {
    /// The seed.
    pub seed: u64,
    /// Replicas.
    pub n: usize,
    /// Distinct non-null sequence numbers executed by correct replicas.
    pub committed_batches: u64,
    /// Broken invariants (empty on success).
    pub violations: Vec<Violation>,
    /// Whether the liveness probe committed in time (None: not checked).
    pub liveness: Option<bool>,
    /// Simulated time at the end.
    pub sim_time: Duration,
    /// Steps taken.
    pub steps: u64,
    /// Highest view reached.
    pub max_view: u64,
    /// Crashes injected.
    pub crashes: u64,
    /// State transfers performed.
    pub state_transfers: u64,
    /// Per-instance state at the end (for failing seeds).
    pub detail: String,
}

impl Report {
    /// No violation and liveness held where checked.
    pub fn ok(&self) -> bool {
        self.violations.is_empty() && self.liveness != Some(false)
    }

    /// The command that replays this seed.
    pub fn reproduce(&self) -> String {
        format!("reproduce with FABRIK_SEED={} (n = {})", self.seed, self.n)
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "seed {} n={}: {} batches, view {}, {} crashes, {} transfers, liveness {:?}, {:?} simulated, {} steps",
            self.seed,
            self.n,
            self.committed_batches,
            self.max_view,
            self.crashes,
            self.state_transfers,
            self.liveness,
            self.sim_time,
            self.steps
        )?;
        for v in &self.violations {
            write!(
                f,
                "\n  VIOLATION at {} ns, instance {}: {}",
                v.at_nanos, v.instance, v.what
            )?;
        }
        if !self.ok() {
            write!(f, "{}\n  {}", self.detail, self.reproduce())?;
        }
        Ok(())
    }
}

struct Instance {
    id: u64,
    replica: Option<Replica>,
    config: Config,
    store: PersistedState,
    chain: Chain,
    epoch: u64,
    skew: u64,
    behaviour: Option<Byzantine>,
    tear_next_persist: bool,
}

impl Instance {
    fn correct(&self) -> bool {
        self.behaviour.is_none()
    }
    fn local(&self, now: Instant) -> Instant {
        Instant::from_nanos(
            u64::try_from(u128::from(now.as_nanos()) * u128::from(self.skew) / 1000)
                .unwrap_or(u64::MAX),
        )
    }
    fn wake(&self) -> Option<Instant> {
        let d = self.replica.as_ref()?.poll_timeout()?;
        let g = (u128::from(d.as_nanos()) * 1000).div_ceil(u128::from(self.skew.max(1)));
        Some(Instant::from_nanos(u64::try_from(g).unwrap_or(u64::MAX)))
    }
}

#[derive(Debug)]
enum Event {
    Deliver {
        to: usize,
        from: u64,
        msg: PeerMsg,
    },
    Executed {
        inst: usize,
        epoch: u64,
        seq: u64,
        content: String,
    },
    Transferred {
        inst: usize,
        epoch: u64,
        seq: u64,
        id: String,
    },
    Submit,
    Crash,
    Restart {
        inst: usize,
    },
    Partition,
    Heal,
    EndFaults,
    Probe,
}

#[derive(PartialEq, Eq)]
enum Phase {
    Faults,
    Liveness { since: Instant },
    Done,
}

struct Cluster {
    opts: SimOptions,
    rng: Rng,
    now: Instant,
    events: BTreeMap<(Instant, u64), Event>,
    counter: u64,
    inst: Vec<Instance>,
    groups: Vec<u8>,
    phase: Phase,
    checker: Checker,
    steps: u64,
    next_ts: i64,
    probe: Option<String>,
    /// The client's requests not yet executed anywhere, by submit time
    /// (a closed loop: at most `MAX_INFLIGHT`, forgotten after 20 s).
    inflight: BTreeMap<String, Instant>,
    probe_seen: Vec<usize>,
    crashes: u64,
    transfers: u64,
    /// Teeth: twins of f+1 replicas split by a static partition.
    pub(crate) twins_fork: bool,
}

/// Plays one seed to the end and reports.
pub fn run(opts: SimOptions) -> Report {
    let mut c = Cluster::new(opts);
    c.play();
    c.report()
}

/// Plays the ">f Byzantine" twins scenario used to prove the checker has
/// teeth: replicas 0 and 1 each have a twin and a partition separates
/// {0, 1, 2} from {0', 1', 3}; both sides hold a quorum and must fork.
pub fn run_twins_fork(seed: u64) -> Report {
    let mut opts = SimOptions::quiet(seed, 4);
    opts.byzantine = vec![(0, Byzantine::Twin), (1, Byzantine::Twin)];
    opts.fault_phase = Duration::from_secs(20);
    let mut c = Cluster::new(opts);
    c.twins_fork = true;
    c.groups = c
        .inst
        .iter()
        .enumerate()
        .map(|(i, x)| u8::from(i >= 4 || x.id == 3))
        .collect();
    c.play();
    c.report()
}

impl Cluster {
    fn new(opts: SimOptions) -> Self {
        let mut rng = Rng::new(opts.seed);
        let mut inst = Vec::new();
        for id in 0..opts.n as u64 {
            inst.push(Self::instance(&opts, id, &mut rng));
        }
        for (id, kind) in opts.byzantine.clone() {
            if kind == Byzantine::Twin {
                inst.push(Self::instance(&opts, id, &mut rng));
            }
        }
        let correct = inst.iter().map(Instance::correct).collect();
        let groups = vec![0; inst.len()];
        let mut c = Cluster {
            opts,
            rng,
            now: Instant::ZERO,
            events: BTreeMap::new(),
            counter: 0,
            inst,
            groups,
            phase: Phase::Faults,
            checker: Checker::new(correct),
            steps: 0,
            next_ts: 0,
            probe: None,
            inflight: BTreeMap::new(),
            probe_seen: Vec::new(),
            crashes: 0,
            transfers: 0,
            twins_fork: false,
        };
        c.schedule_faults();
        c
    }

    fn instance(opts: &SimOptions, id: u64, rng: &mut Rng) -> Instance {
        let mut config = Config::new(id, opts.n, opts.f, Keys::from_seed(opts.seed, opts.n, id));
        config.k = opts.k;
        config.batch_size = opts.batch_size;
        config.max_view_change_timeout = Duration::from_secs(16);
        config.view_change_period = opts.view_change_period;
        if opts.null_requests {
            config.timeout_null_request = Duration::from_secs(3);
        }
        let behaviour = opts.behaviour(id);
        if behaviour.is_none() {
            config.planted_bug = opts.planted_bug;
        }
        let skew = if opts.timer_skew {
            rng.range(950, 1050)
        } else {
            1000
        };
        let replica = Replica::new(
            config.clone(),
            0,
            &super::executor::genesis(),
            Instant::ZERO,
        )
        .ok();
        Instance {
            id,
            replica,
            config,
            store: PersistedState::default(),
            chain: Chain::default(),
            epoch: 0,
            skew,
            behaviour,
            tear_next_persist: false,
        }
    }

    fn at(&mut self, after: Duration, ev: Event) {
        self.counter = self.counter.wrapping_add(1);
        self.events.insert((self.now + after, self.counter), ev);
    }

    fn ms(&mut self, lo: u64, hi: u64) -> Duration {
        Duration::from_millis(self.rng.range(lo, hi))
    }

    fn schedule_faults(&mut self) {
        self.at(Duration::from_millis(10), Event::Submit);
        let end = self.opts.fault_phase;
        self.at(end, Event::EndFaults);
        if self.opts.partitions {
            let d = self.ms(1_000, 10_000);
            self.at(d, Event::Partition);
        }
        if self.opts.crashes {
            let d = self.ms(500, 8_000);
            self.at(d, Event::Crash);
        }
    }

    fn play(&mut self) {
        while self.phase != Phase::Done {
            self.steps = self.steps.saturating_add(1);
            if self.steps > self.opts.max_steps {
                self.checker.violations.push(Violation {
                    at_nanos: self.now.as_nanos(),
                    instance: 0,
                    what: "step limit reached".into(),
                });
                break;
            }
            let timer = self
                .inst
                .iter()
                .enumerate()
                .filter_map(|(i, x)| x.wake().map(|t| (t, i)))
                .min();
            let event = self.events.keys().next().copied();
            match (timer, event) {
                (Some((t, i)), e) if e.is_none_or(|(et, _)| t <= et) => {
                    self.now = self.now.max(t);
                    self.fire_timer(i);
                }
                (_, Some(key)) => {
                    self.now = self.now.max(key.0);
                    if let Some(ev) = self.events.remove(&key) {
                        self.on_event(ev);
                    }
                }
                _ => break,
            }
            self.check_phase();
        }
    }

    fn check_phase(&mut self) {
        self.checker.set_time(self.now.as_nanos());
        match self.phase {
            Phase::Faults
                if self.checker.committed_batches() >= self.opts.min_commits
                    && !self.twins_fork =>
            {
                self.end_faults();
            }
            Phase::Liveness { since }
                if self.probe_done() || self.now > since + self.opts.liveness_bound =>
            {
                self.phase = Phase::Done;
            }
            _ => {}
        }
    }

    fn fire_timer(&mut self, i: usize) {
        let Some(x) = self.inst.get_mut(i) else {
            return;
        };
        let local = x.local(self.now);
        if let Some(r) = x.replica.as_mut() {
            r.handle_timeout(local);
        }
        self.drain(i);
    }

    fn feed(&mut self, i: usize, input: Input) {
        let Some(x) = self.inst.get_mut(i) else {
            return;
        };
        let local = x.local(self.now);
        let Some(r) = x.replica.as_mut() else { return };
        let trace = self
            .opts
            .trace_from
            .is_some_and(|t| self.now >= Instant::ZERO + t);
        let shown = if trace {
            format!("{input:?}")
        } else {
            String::new()
        };
        let result = r.handle(local, input);
        if trace {
            println!(
                "{:?} #{i} <- {:.300} => {:?}",
                self.now,
                shown,
                result.err()
            );
        }
        self.drain(i);
    }

    fn on_event(&mut self, ev: Event) {
        match ev {
            Event::Deliver { to, from, msg } => self.feed(to, Input::Peer { from, msg }),
            Event::Executed {
                inst,
                epoch,
                seq,
                content,
            } => self.on_executed(inst, epoch, seq, &content),
            Event::Transferred {
                inst,
                epoch,
                seq,
                id,
            } => self.on_transferred(inst, epoch, seq, &id),
            Event::Submit => self.on_submit(),
            Event::Crash => self.on_crash(),
            Event::Restart { inst } => self.restart(inst),
            Event::Partition => self.on_partition(),
            Event::Heal => self.groups.iter_mut().for_each(|g| *g = 0),
            Event::EndFaults => self.end_faults(),
            Event::Probe => self.on_probe(),
        }
    }

    fn in_faults(&self) -> bool {
        self.phase == Phase::Faults
    }

    fn live_correct(&self) -> Vec<usize> {
        self.inst
            .iter()
            .enumerate()
            .filter(|(_, x)| x.correct() && x.replica.is_some())
            .map(|(i, _)| i)
            .collect()
    }

    fn pick(&mut self, from: &[usize]) -> Option<usize> {
        from.get(self.rng.below(from.len() as u64) as usize)
            .copied()
    }

    fn new_request(&mut self, origin: u64) -> Request {
        self.next_ts = self.next_ts.saturating_add(1);
        let payload = self.rng.next_u64().to_le_bytes().to_vec();
        Request {
            timestamp: Some(Timestamp {
                seconds: self.next_ts,
                nanos: 0,
            }),
            payload,
            replica_id: origin,
            signature: vec![],
        }
    }

    fn on_submit(&mut self) {
        if !self.in_faults() {
            return;
        }
        let live = self.live_correct();
        let horizon = Duration::from_secs(20);
        let now = self.now;
        self.inflight.retain(|_, at| *at + horizon > now);
        if self.inflight.len() < MAX_INFLIGHT
            && let Some(i) = self.pick(&live)
        {
            let origin = self.inst.get(i).map_or(0, |x| x.id);
            let req = self.new_request(origin);
            self.inflight.insert(request_digest(&req), now);
            self.feed(i, Input::Request(req));
        }
        let d = self.ms(5, 60);
        self.at(d, Event::Submit);
    }

    /// Whether the probe executed on enough correct replicas: f+1, or with
    /// `converge` every live correct one.
    fn probe_done(&self) -> bool {
        if !self.opts.converge {
            return self.probe_seen.len() > self.opts.f;
        }
        let live = self.live_correct();
        !live.is_empty() && live.iter().all(|i| self.probe_seen.contains(i))
    }

    fn on_probe(&mut self) {
        if self.probe_done() {
            return;
        }
        self.probe_seen.clear();
        let live = self.live_correct();
        let Some(i) = self.pick(&live) else { return };
        let origin = self.inst.get(i).map_or(0, |x| x.id);
        let req = self.new_request(origin);
        self.probe = Some(request_digest(&req));
        // A client retries: outstanding requests are dropped by a replica
        // that state-transfers (v0.6), so the probe is resubmitted. While
        // converging, the client keeps a trickle going (one request every
        // 2 s): a lagging replica learns of new checkpoints only from new
        // sequence numbers.
        let retry = if self.opts.converge { 2 } else { 10 };
        self.at(Duration::from_secs(retry), Event::Probe);
        if self.opts.trace_from.is_some() {
            println!("{:?} PROBE at #{i}: {req:?}", self.now);
        }
        self.feed(i, Input::Request(req));
    }

    fn crash_budget(&self) -> usize {
        let byz = self.opts.byzantine.len();
        let down = self
            .inst
            .iter()
            .filter(|x| x.correct() && (x.replica.is_none() || x.tear_next_persist))
            .count();
        self.opts.f.saturating_sub(byz).saturating_sub(down)
    }

    fn on_crash(&mut self) {
        if !self.in_faults() {
            return;
        }
        let live = self.live_correct();
        if self.crash_budget() > 0
            && let Some(i) = self.pick(&live)
        {
            if self.opts.torn_persists && self.rng.chance(500) {
                if let Some(x) = self.inst.get_mut(i) {
                    x.tear_next_persist = true;
                }
            } else {
                self.crash(i);
            }
        }
        let d = self.ms(1_000, 10_000);
        self.at(d, Event::Crash);
    }

    fn tracing(&self) -> bool {
        self.opts
            .trace_from
            .is_some_and(|t| self.now >= Instant::ZERO + t)
    }

    fn crash(&mut self, i: usize) {
        if self.tracing() {
            println!("{:?} #{i} CRASH", self.now);
        }
        let Some(x) = self.inst.get_mut(i) else {
            return;
        };
        x.replica = None;
        x.epoch = x.epoch.wrapping_add(1);
        x.tear_next_persist = false;
        self.crashes = self.crashes.saturating_add(1);
        if self.in_faults() {
            let d = self.ms(200, 8_000);
            self.at(d, Event::Restart { inst: i });
        }
    }

    fn restart(&mut self, i: usize) {
        if self.tracing() && self.inst.get(i).is_some_and(|x| x.replica.is_none()) {
            println!("{:?} #{i} RESTART", self.now);
        }
        let now = self.now;
        let Some(x) = self.inst.get_mut(i) else {
            return;
        };
        if x.replica.is_some() {
            return;
        }
        let last = x.chain.last_seq();
        let local = x.local(now);
        match Replica::restore(x.config.clone(), &x.store, last, &x.chain.head(), local) {
            Ok(r) => x.replica = Some(r),
            Err(e) => {
                let what = format!("restore failed: {e}");
                self.checker.violations.push(Violation {
                    at_nanos: now.as_nanos(),
                    instance: i,
                    what,
                });
                return;
            }
        }
        self.checker.on_jump(i, last);
        self.drain(i);
    }

    fn on_partition(&mut self) {
        if !self.in_faults() {
            return;
        }
        let n = self.inst.len();
        let kind = self.rng.below(3);
        let primary = self
            .inst
            .iter()
            .filter(|x| x.correct())
            .filter_map(|x| x.replica.as_ref())
            .map(|r| r.view())
            .max()
            .unwrap_or(0)
            % self.opts.n as u64;
        let lone = self.rng.below(self.opts.n as u64);
        let groups: Vec<u8> = (0..n)
            .map(|i| {
                let id = self.inst.get(i).map_or(0, |x| x.id);
                match kind {
                    0 => u8::from(self.rng.chance(500)),
                    1 => u8::from(id == lone),
                    _ => u8::from(id == primary),
                }
            })
            .collect();
        self.groups = groups;
        let heal = self.ms(500, 8_000);
        self.at(heal, Event::Heal);
        let next = heal + self.ms(1_000, 10_000);
        self.at(next, Event::Partition);
    }

    fn end_faults(&mut self) {
        if !self.in_faults() {
            return;
        }
        if self.twins_fork {
            self.phase = Phase::Done;
            return;
        }
        self.phase = Phase::Liveness { since: self.now };
        self.groups.iter_mut().for_each(|g| *g = 0);
        for i in 0..self.inst.len() {
            let byz = self.inst.get(i).is_some_and(|x| !x.correct());
            if byz {
                if let Some(x) = self.inst.get_mut(i) {
                    x.replica = None; // Byzantine replicas fall silent
                }
            } else {
                if let Some(x) = self.inst.get_mut(i) {
                    x.tear_next_persist = false;
                }
                self.restart(i);
            }
        }
        self.at(Duration::from_millis(100), Event::Probe);
    }

    fn detail(&self) -> String {
        let mut out = format!(
            "\n  probe {:?} executed at {:?}",
            self.probe, self.probe_seen
        );
        for (i, x) in self.inst.iter().enumerate() {
            let line = match x.replica.as_ref() {
                Some(r) => format!(
                    "\n  #{i} id {} {:?}: view {} active {} last_exec {} h {} invalid {} outstanding {} chain {} timeout {:?}",
                    x.id,
                    x.behaviour,
                    r.view(),
                    r.is_view_active(),
                    r.last_exec(),
                    r.low_watermark(),
                    r.is_state_invalid(),
                    r.outstanding_requests(),
                    x.chain.last_seq(),
                    r.poll_timeout(),
                ),
                None => format!("\n  #{i} id {} down", x.id),
            };
            out.push_str(&line);
        }
        out
    }

    fn report(&self) -> Report {
        let liveness = (!self.twins_fork).then_some(self.probe_done());
        Report {
            seed: self.opts.seed,
            n: self.opts.n,
            committed_batches: self.checker.committed_batches(),
            violations: self.checker.violations.clone(),
            liveness,
            sim_time: Duration::from_nanos(self.now.as_nanos()),
            steps: self.steps,
            max_view: self
                .inst
                .iter()
                .filter_map(|x| x.replica.as_ref())
                .map(|r| r.view())
                .max()
                .unwrap_or(0),
            crashes: self.crashes,
            state_transfers: self.transfers,
            detail: self.detail(),
        }
    }
}
