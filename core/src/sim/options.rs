//! What one simulated run does: cluster size, network faults, crashes,
//! Byzantine behaviour, planted bugs — all drawn from the seed
//! ("swarm testing": every seed gets its own mix of faults).

use crate::pbft::PlantedBug;
use crate::time::Duration;

use super::rng::Rng;

/// How a Byzantine replica misbehaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Byzantine {
    /// Its PRE-PREPAREs go out with a different batch (and matching digest)
    /// to half of the backups.
    Equivocate,
    /// Like `Equivocate` but the digest is kept: only a replica that skips
    /// the digest check is fooled.
    EquivocateSameDigest,
    /// Mutates its outgoing messages and injects random ones, well formed
    /// and malformed.
    Random,
    /// A second instance with the same identity and keys; each incoming
    /// message reaches only one of the two.
    Twin,
}

/// Options of one run.
#[derive(Debug, Clone)]
pub struct SimOptions {
    /// The seed everything derives from.
    pub seed: u64,
    /// Replicas (4 or 7 in the sweeps).
    pub n: usize,
    /// Tolerated faults.
    pub f: usize,
    /// Committed batches to reach before the faults stop.
    pub min_commits: u64,
    /// Simulated time limit of the fault phase.
    pub fault_phase: Duration,
    /// After healing, a new request must commit within this.
    pub liveness_bound: Duration,
    /// After healing, every correct replica (not only f+1) must execute
    /// the probe: a replica left behind in an old view or below a
    /// checkpoint must find its way back while a client keeps submitting.
    pub converge: bool,
    /// Message loss, per mille.
    pub drop_per_mille: u64,
    /// Message duplication, per mille.
    pub dup_per_mille: u64,
    /// Minimum one-way delay.
    pub min_delay: Duration,
    /// Maximum one-way delay (jitter reorders messages).
    pub max_delay: Duration,
    /// Partitions (halves, one node, the primary) that heal.
    pub partitions: bool,
    /// Crash and restart up to f replicas.
    pub crashes: bool,
    /// A crash may lose the persist the replica was waiting for.
    pub torn_persists: bool,
    /// Per-node timer skew of up to ±5 %.
    pub timer_skew: bool,
    /// Byzantine replicas (by id) and how they behave.
    pub byzantine: Vec<(u64, Byzantine)>,
    /// A bug planted in every correct replica (teeth checks).
    pub planted_bug: Option<PlantedBug>,
    /// PBFT checkpoint period K.
    pub k: u64,
    /// PBFT batch size.
    pub batch_size: usize,
    /// Null-request heartbeats.
    pub null_requests: bool,
    /// Periodic view change (`viewchangeperiod`).
    pub view_change_period: u64,
    /// Safety-net step limit (catches livelock in the harness).
    pub max_steps: u64,
    /// Print every input and its result from this simulated time on.
    pub trace_from: Option<Duration>,
}

impl SimOptions {
    /// A fault-free run with v0.6-like settings scaled for simulation.
    pub fn quiet(seed: u64, n: usize) -> Self {
        SimOptions {
            seed,
            n,
            f: (n.saturating_sub(1)) / 3,
            min_commits: 50,
            fault_phase: Duration::from_secs(120),
            liveness_bound: Duration::from_secs(120),
            converge: true,
            drop_per_mille: 0,
            dup_per_mille: 0,
            min_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(10),
            partitions: false,
            crashes: false,
            torn_persists: false,
            timer_skew: false,
            byzantine: Vec::new(),
            planted_bug: None,
            k: 4,
            batch_size: 4,
            null_requests: false,
            view_change_period: 0,
            max_steps: 2_000_000,
            trace_from: None,
        }
    }

    /// Faults drawn from the seed: loss 0–10 %, duplication 0–5 %, delays
    /// up to 200 ms, partitions, crashes with and without torn persists,
    /// timer skew, and at most f Byzantine replicas.
    pub fn swarm(seed: u64, n: usize) -> Self {
        let mut rng = Rng::new(seed ^ 0x5157_A12D);
        let mut o = SimOptions::quiet(seed, n);
        o.drop_per_mille = rng.range(0, 100);
        o.dup_per_mille = rng.range(0, 50);
        o.max_delay = Duration::from_millis(rng.range(2, 200));
        o.partitions = rng.chance(600);
        o.crashes = rng.chance(600);
        o.torn_persists = rng.chance(500);
        o.timer_skew = rng.chance(500);
        o.k = rng.range(2, 10);
        o.batch_size = usize::try_from(rng.range(1, 10)).unwrap_or(1);
        o.null_requests = rng.chance(200);
        o.view_change_period = if rng.chance(150) { rng.range(1, 3) } else { 0 };
        if rng.chance(400) {
            let kinds = [Byzantine::Equivocate, Byzantine::Random, Byzantine::Twin];
            let count = rng.range(1, o.f as u64);
            for _ in 0..count {
                let id = rng.below(n as u64);
                let kind = kinds
                    .get(rng.below(kinds.len() as u64) as usize)
                    .copied()
                    .unwrap_or(Byzantine::Random);
                if !o.byzantine.iter().any(|(b, _)| *b == id) {
                    o.byzantine.push((id, kind));
                }
            }
        }
        o
    }

    /// Whether replica `id` is Byzantine.
    pub fn is_byzantine(&self, id: u64) -> bool {
        self.byzantine.iter().any(|(b, _)| *b == id)
    }

    pub(crate) fn behaviour(&self, id: u64) -> Option<Byzantine> {
        self.byzantine
            .iter()
            .find(|(b, _)| *b == id)
            .map(|(_, k)| *k)
    }
}
