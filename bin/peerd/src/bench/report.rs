//! What one `peerd bench` step measured, turned into the numbers a user
//! compares: offered, submitted and committed tx/s, the commit ratio,
//! submit-to-commit latency percentiles, CPU and memory per peer; the knee
//! rule; the printed table and the JSON document.

use super::load::StepLoad;
use super::procstat::{CpuTotal, PeerUsage};
use super::watch::Commits;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// A step passes the knee rule with at least this share committed...
pub const KNEE_COMMITTED: f64 = 0.95;
/// ...and a p99 commit latency under this.
pub const KNEE_P99_MS: f64 = 1000.0;

/// One step's results.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StepResult {
    /// Offered rate, tx/s (0 = closed loop).
    pub rate: u64,
    /// Seconds of load.
    pub seconds: f64,
    /// Transactions the schedule called for.
    pub offered: u64,
    /// Transactions the peers accepted.
    pub accepted: u64,
    /// Accepted transactions found in a block on every validator.
    pub committed: u64,
    /// Accepted transactions a hub reported rejected.
    pub rejected: u64,
    /// Accepted per second of load.
    pub submitted_tps: f64,
    /// Committed per second of load.
    pub committed_tps: f64,
    /// committed / offered.
    pub committed_ratio: f64,
    /// Submit-to-commit-everywhere latency percentiles, ms.
    pub p50_ms: f64,
    /// 90th percentile, ms.
    pub p90_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
    /// Refusals by reason.
    pub refused: BTreeMap<String, u64>,
    /// Sends skipped because a client was saturated.
    pub saturated: u64,
    /// Per-peer CPU and memory.
    pub usage: Vec<PeerUsage>,
    /// Blocks vp0 committed during the step and its drain.
    pub blocks: u64,
    /// View changes counted by the peers' metrics during the step.
    pub view_changes: u64,
    /// CPU per committed transaction of a peer process, µs (the mean over
    /// the peers; from the start of the step to the end of its drain).
    pub peer_cpu_us_per_tx: f64,
    /// The same for a peer's chaincode processes.
    pub chaincode_cpu_us_per_tx: f64,
}

impl StepResult {
    /// Joins what the clients sent with what the hubs saw.
    pub fn new(
        rate: u64,
        duration: Duration,
        load: &StepLoad,
        commits: &Commits,
        validators: usize,
    ) -> Self {
        let mut latencies: Vec<f64> = Vec::with_capacity(load.accepted.len());
        let mut rejected = 0;
        for (txid, sent) in &load.accepted {
            match commits.committed_everywhere(txid, validators) {
                Some(at) => latencies.push(at.saturating_duration_since(*sent).as_secs_f64() * 1e3),
                None if commits.rejection(txid).is_some() => rejected += 1,
                None => {}
            }
        }
        latencies.sort_by(f64::total_cmp);
        let secs = duration.as_secs_f64();
        let committed = latencies.len() as u64;
        Self {
            rate,
            seconds: secs,
            offered: load.offered,
            accepted: load.accepted.len() as u64,
            committed,
            rejected,
            submitted_tps: load.accepted.len() as f64 / secs,
            committed_tps: committed as f64 / secs,
            committed_ratio: committed as f64 / load.offered.max(1) as f64,
            p50_ms: percentile(&latencies, 0.50),
            p90_ms: percentile(&latencies, 0.90),
            p99_ms: percentile(&latencies, 0.99),
            refused: load.refused.clone(),
            saturated: load.saturated,
            usage: Vec::new(),
            blocks: commits.blocks(),
            view_changes: 0,
            peer_cpu_us_per_tx: 0.0,
            chaincode_cpu_us_per_tx: 0.0,
        }
    }

    /// Sets the CPU per committed transaction from the peers' CPU totals
    /// before the step and after its drain (0 when nothing committed).
    pub fn set_cpu_per_tx(&mut self, before: &[CpuTotal], after: &[CpuTotal]) {
        let peers = before.len().min(after.len());
        if peers == 0 || self.committed == 0 {
            return;
        }
        let per_tx = |used: f64| used * 1e6 / peers as f64 / self.committed as f64;
        let (mut peer, mut chaincode) = (0.0, 0.0);
        for (b, a) in before.iter().zip(after) {
            peer += (a.peer_seconds - b.peer_seconds).max(0.0);
            chaincode += (a.chaincode_seconds - b.chaincode_seconds).max(0.0);
        }
        self.peer_cpu_us_per_tx = per_tx(peer);
        self.chaincode_cpu_us_per_tx = per_tx(chaincode);
    }

    /// Whether the step is at or below the knee.
    pub fn passes_knee(&self) -> bool {
        self.committed_ratio >= KNEE_COMMITTED && self.p99_ms < KNEE_P99_MS
    }
}

/// The `q` quantile of sorted `values` (nearest rank); 0 when empty.
fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// Prints the table header.
pub fn print_header() {
    println!(
        "{:>8} {:>9} {:>9} {:>9} {:>7} {:>8} {:>8} {:>8} {:>9} {:>7} {:>7} {:>9} {:>6} {:>4}",
        "offered",
        "submit/s",
        "commit/s",
        "committed",
        "ratio",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "cpu% max",
        "peer µs",
        "cc µs",
        "rss MiB",
        "blocks",
        "vc"
    );
}

/// Prints one row (and the refusals, if any).
pub fn print_row(r: &StepResult) {
    let cpu = r.usage.iter().map(|u| u.cpu_percent).fold(0.0, f64::max);
    let rss = r.usage.iter().map(|u| u.peak_rss_mib).fold(0.0, f64::max);
    let offered = if r.rate == 0 {
        "closed".to_string()
    } else {
        r.rate.to_string()
    };
    println!(
        "{offered:>8} {:>9.0} {:>9.0} {:>9} {:>6.1}% {:>8.1} {:>8.1} {:>8.1} {:>9.0} {:>7.0} {:>7.0} {:>9.1} {:>6} {:>4}",
        r.submitted_tps,
        r.committed_tps,
        r.committed,
        r.committed_ratio * 100.0,
        r.p50_ms,
        r.p90_ms,
        r.p99_ms,
        cpu,
        r.peer_cpu_us_per_tx,
        r.chaincode_cpu_us_per_tx,
        rss,
        r.blocks,
        r.view_changes
    );
    for (reason, n) in &r.refused {
        println!("         refused {n}×: {reason}");
    }
    if r.saturated > 0 {
        println!("         {} sends skipped: clients saturated", r.saturated);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn total(peer_seconds: f64, chaincode_seconds: f64) -> CpuTotal {
        CpuTotal {
            peer_seconds,
            chaincode_seconds,
        }
    }

    #[test]
    fn cpu_per_transaction_is_the_mean_over_peers() {
        let mut r = StepResult {
            committed: 1_000,
            ..StepResult::default()
        };
        let before = [total(10.0, 1.0), total(20.0, 2.0)];
        // 0.2 s and 0.4 s of peer CPU, 0.1 s and 0.05 s of chaincode CPU.
        let after = [total(10.2, 1.1), total(20.4, 2.05)];
        r.set_cpu_per_tx(&before, &after);
        assert!(
            (r.peer_cpu_us_per_tx - 300.0).abs() < 1e-6,
            "{}",
            r.peer_cpu_us_per_tx
        );
        assert!((r.chaincode_cpu_us_per_tx - 75.0).abs() < 1e-6);
        let mut none = StepResult::default();
        none.set_cpu_per_tx(&before, &after);
        assert_eq!(none.peer_cpu_us_per_tx, 0.0, "nothing committed, no figure");
    }

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.5), 50.0);
        assert_eq!(percentile(&v, 0.99), 99.0);
        assert_eq!(percentile(&v[..1], 0.99), 1.0);
        assert_eq!(percentile(&[], 0.5), 0.0);
    }
}
