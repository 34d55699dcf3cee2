//! Smoke tests of the simulator itself (the sweeps live in
//! `tests/tests/sim_pbft.rs`).

use super::*;

#[test]
fn quiet_run_commits_and_passes_every_check() {
    let r = run(SimOptions::quiet(1, 4));
    assert!(r.ok(), "{r}");
    assert!(r.committed_batches >= 50, "{r}");
}

#[test]
fn same_seed_same_run() {
    let a = run(SimOptions::swarm(7, 4));
    let b = run(SimOptions::swarm(7, 4));
    assert_eq!(
        (a.committed_batches, a.steps, a.sim_time),
        (b.committed_batches, b.steps, b.sim_time)
    );
}

#[test]
fn small_sweep() {
    let seeds: u64 = std::env::var("FABRIK_SIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let n: usize = std::env::var("FABRIK_N")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(4);
    let first: u64 = std::env::var("FABRIK_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let mut bad = Vec::new();
    for s in first..first + seeds {
        let mut o = SimOptions::swarm(s, n);
        o.trace_from = std::env::var("FABRIK_TRACE_FROM")
            .ok()
            .and_then(|t| t.parse().ok())
            .map(crate::time::Duration::from_secs);
        let r = run(o);
        println!("{r}");
        if !r.ok() {
            bad.push(r.seed);
        }
    }
    assert!(bad.is_empty(), "failing seeds {bad:?}");
}
