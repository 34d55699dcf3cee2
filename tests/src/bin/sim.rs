//! `sim`: long seed sweeps of the PBFT cluster simulator
//! (`fabrik_core::sim`), for runs far beyond what CI does.
//!
//! ```text
//! cargo run --release -p fabrik-tests --bin sim -- --seeds 100000 --nodes 4 --jobs 2
//! ```
//!
//! Prints progress every 10 s (seeds per second, committed batches,
//! violations so far), every failing seed with the command that replays
//! it, and a summary; exits non-zero if any seed failed. `--jobs N` plays
//! seeds on N threads; each seed's run is the same whatever thread plays
//! it, and the failing seeds are listed in order.

use clap::Parser;
use fabrik_core::pbft::PlantedBug;
use fabrik_core::sim::{Byzantine, SimOptions, run};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Seed sweep of the PBFT cluster simulator.
#[derive(Parser)]
struct Args {
    /// How many seeds to play.
    #[arg(long, default_value_t = 1000)]
    seeds: u64,
    /// Replicas per cluster (4 or 7).
    #[arg(long, default_value_t = 4)]
    nodes: usize,
    /// The first seed.
    #[arg(long, default_value_t = 0)]
    first: u64,
    /// Only require f+1 replicas (not all correct ones) to execute the
    /// probe after healing.
    #[arg(long)]
    no_converge: bool,
    /// Stop at the first failing seed.
    #[arg(long)]
    fail_fast: bool,
    /// Print every input and output from this simulated second on (use
    /// with `--seeds 1`).
    #[arg(long)]
    trace_from: Option<u64>,
    /// Plant a bug in every correct replica (teeth checks): skip-digest,
    /// non-primary, no-watermark, forget-pset or commit-one-short.
    #[arg(long, value_parser = planted_bug)]
    planted_bug: Option<PlantedBug>,
    /// Make replica 1 Byzantine: random, equivocate, equivocate-same-digest
    /// or twin.
    #[arg(long, value_parser = byzantine)]
    byzantine: Option<Byzantine>,
    /// Threads playing seeds side by side (1 with `--trace-from`).
    #[arg(long, default_value_t = 1)]
    jobs: usize,
}

/// One played seed: whether it failed (with its report) and its commits.
struct Played {
    seed: u64,
    committed: u64,
    failure: Option<String>,
}

fn options(args: &Args, seed: u64) -> SimOptions {
    let mut opts = SimOptions::swarm(seed, args.nodes);
    opts.converge = !args.no_converge;
    opts.trace_from = args.trace_from.map(fabrik_core::time::Duration::from_secs);
    opts.planted_bug = args.planted_bug;
    if let Some(kind) = args.byzantine {
        opts.byzantine = vec![(1, kind)];
    }
    opts
}

fn play(args: &Args, seed: u64) -> Played {
    let report = run(options(args, seed));
    Played {
        seed,
        committed: report.committed_batches,
        failure: (!report.ok()).then(|| report.to_string()),
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let jobs = if args.trace_from.is_some() {
        1
    } else {
        args.jobs.max(1)
    };
    let start = Instant::now();
    let mut last_report = start;
    let (mut commits, mut failed, mut played) = (0u64, Vec::new(), 0u64);
    let end = args.first.saturating_add(args.seeds);
    let next = AtomicU64::new(args.first);
    let stop = AtomicBool::new(false);
    let (results, played_seeds) = mpsc::channel::<Played>();
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            let (args, next, stop, results) = (&args, &next, &stop, results.clone());
            scope.spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let seed = next.fetch_add(1, Ordering::Relaxed);
                    if seed >= end || results.send(play(args, seed)).is_err() {
                        return;
                    }
                }
            });
        }
        drop(results);
        for p in played_seeds {
            played += 1;
            commits += p.committed;
            if let Some(report) = p.failure {
                println!("FAILED {report}");
                println!(
                    "  replay: cargo run --release -p fabrik-tests --bin sim -- --first {} --seeds 1 --nodes {}",
                    p.seed, args.nodes
                );
                failed.push(p.seed);
                if args.fail_fast {
                    stop.store(true, Ordering::Relaxed);
                }
            }
            if last_report.elapsed() >= Duration::from_secs(10) {
                last_report = Instant::now();
                print_progress(played, commits, failed.len(), start.elapsed());
            }
        }
    });
    print_progress(played, commits, failed.len(), start.elapsed());
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        failed.sort_unstable();
        println!("failing seeds: {failed:?}");
        ExitCode::FAILURE
    }
}

fn print_progress(played: u64, commits: u64, violations: usize, elapsed: Duration) {
    let secs = elapsed.as_secs_f64().max(1e-9);
    println!(
        "{played} seeds in {secs:.1} s ({:.1} seeds/s), {commits} committed batches, {violations} failing seeds",
        played as f64 / secs
    );
}

fn planted_bug(name: &str) -> Result<PlantedBug, String> {
    Ok(match name {
        "skip-digest" => PlantedBug::SkipDigestCheck,
        "non-primary" => PlantedBug::AcceptNonPrimaryPrePrepare,
        "no-watermark" => PlantedBug::NoWatermarkCheck,
        "forget-pset" => PlantedBug::ForgetPSet,
        "commit-one-short" => PlantedBug::CommitOneShort,
        other => return Err(format!("unknown planted bug {other:?}")),
    })
}

fn byzantine(name: &str) -> Result<Byzantine, String> {
    Ok(match name {
        "random" => Byzantine::Random,
        "equivocate" => Byzantine::Equivocate,
        "equivocate-same-digest" => Byzantine::EquivocateSameDigest,
        "twin" => Byzantine::Twin,
        other => return Err(format!("unknown Byzantine behaviour {other:?}")),
    })
}
