//! CPU time and memory of the peers `peerd bench` started, and of the
//! chaincode processes they run, read from Linux's `/proc`: CPU as the
//! change in user+system ticks over a step, memory as the highest resident
//! set seen by sampling (and the kernel's own high-water mark, VmHWM), and
//! cumulative CPU seconds for the per-transaction cost.

use serde::Serialize;
use std::collections::HashMap;

/// One process's cumulative CPU ticks.
fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces; fields resume after its ')'.
    let rest = stat.get(stat.rfind(')')? + 2..)?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line (11 and 12 here).
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = stat.get(stat.rfind(')')? + 2..)?;
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// `VmRSS` and `VmHWM` of `pid`, in KiB.
fn memory_kib(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// The children of `pid` (the chaincode processes of a peer in process mode).
fn children_of(pid: u32) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&child| parent_of(child) == Some(pid))
        .collect()
}

fn ticks_per_second() -> f64 {
    // SAFETY: sysconf only reads a system constant.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if hz > 0 { hz as f64 } else { 100.0 }
}

/// CPU and memory of one peer over one step.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PeerUsage {
    /// Peer id.
    pub peer: String,
    /// The peer process's CPU, in percent of one core.
    pub cpu_percent: f64,
    /// Its chaincode processes' CPU, in percent of one core.
    pub chaincode_cpu_percent: f64,
    /// The highest resident set sampled during the step, MiB.
    pub peak_rss_mib: f64,
    /// The kernel's high-water mark for the process since it started, MiB.
    pub hwm_mib: f64,
}

/// Cumulative CPU seconds of one peer process and of its chaincode
/// processes, at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CpuTotal {
    /// The peer process.
    pub peer_seconds: f64,
    /// Its live chaincode children (a chaincode that exited is not counted).
    pub chaincode_seconds: f64,
}

/// [`CpuTotal`] of every peer in `peers` (id, pid), in order.
pub fn cpu_totals(peers: &[(String, u32)]) -> Vec<CpuTotal> {
    let hz = ticks_per_second();
    let seconds = |pid: u32| cpu_ticks(pid).unwrap_or(0) as f64 / hz;
    peers
        .iter()
        .map(|(_, pid)| CpuTotal {
            peer_seconds: seconds(*pid),
            chaincode_seconds: children_of(*pid).into_iter().map(seconds).sum(),
        })
        .collect()
}

/// Tracks the peers' processes during a step.
pub struct Usage {
    peers: Vec<(String, u32)>,
    start_ticks: HashMap<u32, u64>,
    peak_kib: HashMap<u32, u64>,
    started: std::time::Instant,
}

impl Usage {
    /// Starts measuring `peers` (id, pid).
    pub fn start(peers: Vec<(String, u32)>) -> Self {
        let mut usage = Self {
            peers,
            start_ticks: HashMap::new(),
            peak_kib: HashMap::new(),
            started: std::time::Instant::now(),
        };
        for pid in usage.all_pids() {
            usage.start_ticks.insert(pid, cpu_ticks(pid).unwrap_or(0));
        }
        usage.sample();
        usage
    }

    fn all_pids(&self) -> Vec<u32> {
        self.peers
            .iter()
            .flat_map(|(_, pid)| std::iter::once(*pid).chain(children_of(*pid)))
            .collect()
    }

    /// Records the peers' current resident sets (call periodically).
    pub fn sample(&mut self) {
        for (_, pid) in &self.peers {
            if let Some((rss, _)) = memory_kib(*pid) {
                let peak = self.peak_kib.entry(*pid).or_default();
                *peak = (*peak).max(rss);
            }
        }
    }

    /// The usage of every peer since `start`.
    pub fn finish(mut self) -> Vec<PeerUsage> {
        self.sample();
        let secs = self.started.elapsed().as_secs_f64().max(1e-3);
        let hz = ticks_per_second();
        let percent = |pid: u32| {
            let used = cpu_ticks(pid)
                .unwrap_or(0)
                .saturating_sub(self.start_ticks.get(&pid).copied().unwrap_or(0));
            used as f64 / hz / secs * 100.0
        };
        self.peers
            .iter()
            .map(|(peer, pid)| PeerUsage {
                peer: peer.clone(),
                cpu_percent: percent(*pid),
                chaincode_cpu_percent: children_of(*pid).into_iter().map(percent).sum(),
                peak_rss_mib: self.peak_kib.get(pid).copied().unwrap_or(0) as f64 / 1024.0,
                hwm_mib: memory_kib(*pid).map_or(0.0, |(_, hwm)| hwm as f64 / 1024.0),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let me = std::process::id();
        assert!(cpu_ticks(me).is_some());
        let (rss, hwm) = memory_kib(me).expect("status");
        assert!(rss > 0 && hwm >= rss);
        assert_eq!(parent_of(me), Some(std::os::unix::process::parent_id()));
    }

    #[test]
    fn cpu_totals_grow_with_work() {
        let me = vec![("me".to_owned(), std::process::id())];
        let before = cpu_totals(&me);
        let start = std::time::Instant::now();
        let mut x = 0u64;
        while start.elapsed() < std::time::Duration::from_millis(150) {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
        }
        let after = cpu_totals(&me);
        assert_eq!(after.len(), 1);
        assert!(
            after[0].peer_seconds > before[0].peer_seconds,
            "{before:?} → {after:?}"
        );
    }
}
