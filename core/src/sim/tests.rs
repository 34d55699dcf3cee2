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
        if seeds == 1 {
            println!("{o:?}");
        }
        let r = run(o);
        println!("{r}");
        if !r.ok() {
            bad.push(r.seed);
        }
    }
    assert!(bad.is_empty(), "failing seeds {bad:?}");
}

/// Seeds (from `first`) until the checker reports a violation, or None.
fn first_caught(
    bug: Option<crate::pbft::PlantedBug>,
    byz: Vec<(u64, Byzantine)>,
    first: u64,
    tries: u64,
) -> Option<u64> {
    (first..first + tries).find(|s| {
        let mut o = SimOptions::swarm(*s, 4);
        o.planted_bug = bug;
        if !byz.is_empty() {
            o.byzantine = byz.clone();
        }
        !run(o).violations.is_empty()
    })
}

#[test]
fn teeth_skipped_digest_check_is_caught_with_an_equivocating_primary() {
    let bug = Some(crate::pbft::PlantedBug::SkipDigestCheck);
    assert!(first_caught(bug, vec![(0, Byzantine::EquivocateSameDigest)], 0, 20).is_some());
    // Without the bug the same runs are clean.
    assert_eq!(
        first_caught(None, vec![(0, Byzantine::EquivocateSameDigest)], 0, 5),
        None
    );
}

#[test]
fn teeth_twins_of_f_plus_one_replicas_fork() {
    let r = run_twins_fork(3);
    assert!(r.violations.iter().any(|v| v.what.starts_with("S1")), "{r}");
}

#[test]
#[ignore = "exploration: which planted bugs the sweep catches"]
fn teeth_exploration() {
    use crate::pbft::PlantedBug::*;
    let tries: u64 = std::env::var("FABRIK_SIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100);
    for bug in [
        SkipDigestCheck,
        AcceptNonPrimaryPrePrepare,
        NoWatermarkCheck,
        ForgetPSet,
        CommitOneShort,
    ] {
        let plain = first_caught(Some(bug), vec![], 0, tries);
        let equiv = first_caught(
            Some(bug),
            vec![(0, Byzantine::EquivocateSameDigest)],
            0,
            100,
        );
        let random = first_caught(Some(bug), vec![(1, Byzantine::Random)], 0, tries);
        println!(
            "{bug:?}: plain {plain:?}, equivocating primary {equiv:?}, random backup {random:?}"
        );
    }
}
