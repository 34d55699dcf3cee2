//! `peerd bench`: the load generator. Starts a local network (or targets a
//! running one), deploys the workload's chaincode, then runs steps of load
//! at fixed offered rates, each followed by a drain, and reports for each
//! the submitted and committed tx/s (committed = in a block on every
//! validator), submit-to-commit latency percentiles, CPU and peak RSS per
//! peer and view changes; with `--knee` it searches for the highest rate
//! that still commits ≥95% with p99 < 1 s and then runs half and twice it.
//! Prints a table and writes JSON.

mod load;
mod procstat;
mod report;
mod watch;

use crate::cli::{BenchApi, BenchArgs, Workload};
use crate::client::dial;
use crate::error::CliError;
use crate::localnet::{self, Network, NetworkPlan, args_of};
use fabrik_proto::protos::{devops_client::DevopsClient, openchain_client::OpenchainClient};
use load::{Arguments, Client, run_step};
use report::StepResult;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use watch::Watcher;

/// How long deploying the workload's chaincode may take.
const DEPLOY_TIMEOUT: Duration = Duration::from_secs(120);
/// The built-in system chaincode `--system-chaincode` invokes.
const SYSTEM_CHAINCODE: &str = "bench";
/// Steps of the knee search after the doubling phase.
const BISECT_STEPS: usize = 3;
/// The highest rate the knee search tries.
const MAX_RATE: u64 = 1_000_000;

/// Where the peers under test answer.
struct Endpoints {
    grpc: Vec<String>,
    rest: Vec<String>,
    events: Vec<String>,
    operations: Vec<String>,
    /// (peer id, pid) of the peers bench started.
    pids: Vec<(String, u32)>,
}

/// Runs the benchmark.
///
/// # Errors
/// When the network cannot start, the chaincode cannot be deployed or the
/// results cannot be written.
pub fn run(args: &BenchArgs) -> Result<(), CliError> {
    let exe = std::env::current_exe()
        .map_err(|e| CliError::Usage(format!("cannot find peerd itself: {e}")))?;
    if args.system_chaincode && args.workload == Workload::Example02 {
        return Err(CliError::Usage(
            "--system-chaincode runs benchcc's functions; use --workload noop, kv100 or kv1k"
                .into(),
        ));
    }
    let chaincode = if args.system_chaincode {
        PathBuf::new()
    } else {
        chaincode_binary(args, &exe)?
    };
    // A directory bench made itself is removed after a run that succeeded
    // (its stores grow by hundreds of MB per run); --dir keeps everything.
    let temporary = (args.target.is_empty() && args.dir.is_none())
        .then(|| std::env::temp_dir().join(format!("fabrik-bench-{}", std::process::id())));
    let network = if args.target.is_empty() {
        let dir = args
            .dir
            .clone()
            .or_else(|| temporary.clone())
            .unwrap_or_default();
        Some(localnet::start(&NetworkPlan {
            exe: &exe,
            dir: &dir,
            validators: args.validators,
            env: &peer_env(args),
        })?)
    } else {
        None
    };
    let endpoints = endpoints(args, network.as_ref())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(CliError::Runtime)?;
    let outcome = runtime.block_on(bench(args, &endpoints, &chaincode));
    if let Some(network) = &network {
        runtime.block_on(localnet::stop(network));
    }
    if let Some(dir) = &temporary {
        if outcome.is_ok() {
            if let Err(e) = std::fs::remove_dir_all(dir) {
                eprintln!(
                    "cannot remove the benchmark network's files in {}: {e}",
                    dir.display()
                );
            }
        } else {
            eprintln!(
                "the network's files and peer logs are kept in {}",
                dir.display()
            );
        }
    }
    outcome
}

fn chaincode_binary(args: &BenchArgs, exe: &std::path::Path) -> Result<PathBuf, CliError> {
    let path = args.chaincode.clone().unwrap_or_else(|| {
        exe.with_file_name(match args.workload {
            Workload::Example02 => "example02",
            _ => "benchcc",
        })
    });
    if path.exists() {
        Ok(path)
    } else {
        Err(CliError::Usage(format!(
            "chaincode binary {} not found; build it with `cargo build --release` or pass --chaincode",
            path.display()
        )))
    }
}

/// The `CORE_*` overrides for the peers bench starts.
fn peer_env(args: &BenchArgs) -> Vec<(String, String)> {
    let mut env = vec![("CORE_CHAINCODE_MODE".into(), args.chaincode_mode.clone())];
    if args.system_chaincode {
        env.push(("CORE_CHAINCODE_SYSTEM_BENCH".into(), "true".into()));
    }
    if let Some(size) = args.batch_size {
        env.push(("CORE_PBFT_GENERAL_BATCHSIZE".into(), size.to_string()));
    }
    env
}

fn endpoints(args: &BenchArgs, network: Option<&Network>) -> Result<Endpoints, CliError> {
    if let Some(network) = network {
        let all = |f: fn(&localnet::Peer) -> &String| -> Vec<String> {
            network.peers.iter().map(|p| f(p).clone()).collect()
        };
        return Ok(Endpoints {
            grpc: all(|p| &p.address),
            rest: all(|p| &p.rest),
            events: all(|p| &p.events),
            operations: all(|p| &p.operations),
            pids: network
                .peers
                .iter()
                .map(|p| (p.id.clone(), p.child.id()))
                .collect(),
        });
    }
    if args.events.len() != args.target.len() {
        return Err(CliError::Usage(
            "--target needs --events with one event hub address per peer, in the same order".into(),
        ));
    }
    if args.api == BenchApi::Rest && args.rest.len() != args.target.len() {
        return Err(CliError::Usage(
            "--api rest with --target needs --rest with one REST address per peer".into(),
        ));
    }
    Ok(Endpoints {
        grpc: args.target.clone(),
        rest: args.rest.clone(),
        events: args.events.clone(),
        operations: Vec::new(),
        pids: Vec::new(),
    })
}

async fn bench(
    args: &BenchArgs,
    at: &Endpoints,
    chaincode: &std::path::Path,
) -> Result<(), CliError> {
    let name = if args.system_chaincode {
        println!("==> invoking the built-in system chaincode {SYSTEM_CHAINCODE} (no deploy)");
        SYSTEM_CHAINCODE.to_owned()
    } else {
        deploy(args, at, chaincode).await?
    };
    let watcher = Watcher::start(&at.events).await?;
    let mut clients = Vec::new();
    for i in 0..args.clients.max(1) {
        let peer = i % at.grpc.len();
        let rest = at.rest.get(peer).map_or("", String::as_str);
        clients.push(Client::connect(args.api, &at.grpc[peer], rest).await?);
    }
    let arguments = Arc::new(Arguments::new(args.workload, args.keys));
    let runner = Runner {
        args,
        at,
        watcher: &watcher,
        clients: &clients,
        name: &name,
        arguments: &arguments,
    };
    println!("==> warming up");
    runner.step(100, Duration::from_secs(2)).await;
    println!(
        "==> {} clients over {:?}, workload {:?}, {} s per step",
        clients.len(),
        args.api,
        args.workload,
        args.duration
    );
    report::print_header();
    let (results, knee) = if args.knee {
        runner.knee().await
    } else {
        let mut results = Vec::new();
        for &rate in &args.rate {
            results.push(runner.step_reported(rate).await);
        }
        (results, None)
    };
    if let Some(knee) = knee {
        println!("==> knee: {knee} tx/s offered (≥95% committed, p99 < 1 s)");
    }
    write_json(args, &results, knee, at.grpc.len())
}

/// Deploys the workload's chaincode through the first peer and waits until
/// every peer has committed it; returns its name.
async fn deploy(
    args: &BenchArgs,
    at: &Endpoints,
    chaincode: &std::path::Path,
) -> Result<String, CliError> {
    let ctor = match args.workload {
        Workload::Example02 => args_of(&["init", "a", "1000000000000", "b", "1000000000000"]),
        _ => args_of(&["init"]),
    };
    let height = height(&at.grpc[0]).await?;
    println!(
        "==> deploying {} through {}",
        chaincode.display(),
        at.grpc[0]
    );
    let mut devops = DevopsClient::new(dial(&at.grpc[0]).await?);
    let name = localnet::deploy_binary(&mut devops, chaincode, ctor)
        .await
        .map_err(|s| {
            CliError::Failure(format!(
                "deploy through {} failed: {}",
                at.grpc[0],
                s.message()
            ))
        })?;
    let deadline = Instant::now() + DEPLOY_TIMEOUT;
    for address in &at.grpc {
        while self::height(address).await? <= height {
            if Instant::now() > deadline {
                return Err(CliError::Failure(format!(
                    "the deploy of {name} was not committed on {address} within {DEPLOY_TIMEOUT:?}"
                )));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    println!(
        "    chaincode {}… committed on every peer",
        &name[..name.len().min(16)]
    );
    Ok(name)
}

async fn height(address: &str) -> Result<u64, CliError> {
    let mut chain = OpenchainClient::new(dial(address).await?);
    chain
        .get_block_count(())
        .await
        .map(|r| r.into_inner().count)
        .map_err(|s| CliError::Failure(format!("GetBlockCount on {address}: {}", s.message())))
}

/// Everything a step needs.
struct Runner<'a> {
    args: &'a BenchArgs,
    at: &'a Endpoints,
    watcher: &'a Watcher,
    clients: &'a [Client],
    name: &'a str,
    arguments: &'a Arc<Arguments>,
}

impl Runner<'_> {
    /// Runs one step at `rate` for `duration`, drains, and measures it.
    async fn step(&self, rate: u64, duration: Duration) -> StepResult {
        self.watcher.with(watch::Commits::clear);
        let views_before = view_changes(&self.at.operations).await;
        let cpu_before = procstat::cpu_totals(&self.at.pids);
        let usage = Arc::new(Mutex::new(Some(procstat::Usage::start(
            self.at.pids.clone(),
        ))));
        let sampler = {
            let usage = Arc::clone(&usage);
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_millis(250)).await;
                    if let Some(u) = usage
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .as_mut()
                    {
                        u.sample();
                    }
                }
            })
        };
        let load = run_step(self.clients, self.name, self.arguments, rate, duration).await;
        sampler.abort();
        let usage = usage
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
            .map(procstat::Usage::finish)
            .unwrap_or_default();
        self.drain(&load).await;
        let validators = self.at.events.len();
        let mut result = self
            .watcher
            .with(|c| StepResult::new(rate, duration, &load, c, validators));
        result.usage = usage;
        result.set_cpu_per_tx(&cpu_before, &procstat::cpu_totals(&self.at.pids));
        result.view_changes = view_changes(&self.at.operations)
            .await
            .saturating_sub(views_before);
        result
    }

    async fn step_reported(&self, rate: u64) -> StepResult {
        let r = self
            .step(rate, Duration::from_secs(self.args.duration))
            .await;
        report::print_row(&r);
        r
    }

    /// Waits until every accepted transaction is committed everywhere or
    /// rejected, or the drain time passes.
    async fn drain(&self, load: &load::StepLoad) {
        let deadline = Instant::now() + Duration::from_secs(self.args.drain);
        let validators = self.at.events.len();
        while Instant::now() < deadline {
            let pending = self.watcher.with(|c| {
                load.accepted
                    .iter()
                    .filter(|(t, _)| {
                        c.committed_everywhere(t, validators).is_none() && c.rejection(t).is_none()
                    })
                    .count()
            });
            if pending == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Doubles the rate until a step fails the knee rule, bisects, then
    /// runs half and twice the knee.
    async fn knee(&self) -> (Vec<StepResult>, Option<u64>) {
        let mut results = Vec::new();
        let mut rate = self.args.rate.first().copied().unwrap_or(1000).max(1);
        let (mut good, mut bad) = (None, None);
        while rate <= MAX_RATE {
            let r = self.step_reported(rate).await;
            let pass = r.passes_knee();
            results.push(r);
            if pass {
                good = Some(rate);
                rate *= 2;
            } else {
                bad = Some(rate);
                break;
            }
        }
        if let (Some(mut lo), Some(mut hi)) = (good, bad) {
            for _ in 0..BISECT_STEPS {
                let mid = (lo + hi) / 2;
                if mid == lo {
                    break;
                }
                let r = self.step_reported(mid).await;
                if r.passes_knee() {
                    lo = mid;
                } else {
                    hi = mid;
                }
                results.push(r);
            }
            good = Some(lo);
        }
        if let Some(knee) = good {
            println!("==> half and twice the knee ({knee} tx/s)");
            results.push(self.step_reported(knee / 2).await);
            results.push(self.step_reported(knee * 2).await);
        }
        (results, good)
    }
}

/// The peers' `fabrik_consensus_view_changes_total`, summed.
async fn view_changes(operations: &[String]) -> u64 {
    let mut total = 0;
    for address in operations {
        let Ok(text) = fetch_metrics(address).await else {
            continue;
        };
        total += text
            .lines()
            .filter(|l| l.starts_with("fabrik_consensus_view_changes_total"))
            .filter_map(|l| l.split_whitespace().last()?.parse::<f64>().ok())
            .sum::<f64>() as u64;
    }
    total
}

async fn fetch_metrics(address: &str) -> Result<String, String> {
    use http_body_util::BodyExt as _;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Empty<bytes::Bytes>>();
    let uri: hyper::Uri = format!("http://{address}/metrics")
        .parse()
        .map_err(|e| format!("{e}"))?;
    let reply = client.get(uri).await.map_err(|e| e.to_string())?;
    let body = reply
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?;
    Ok(String::from_utf8_lossy(&body.to_bytes()).into_owned())
}

fn write_json(
    args: &BenchArgs,
    results: &[StepResult],
    knee: Option<u64>,
    validators: usize,
) -> Result<(), CliError> {
    let doc = serde_json::json!({
        "config": {
            "validators": validators,
            "consensus": if validators >= 4 { "pbft" } else { "noops" },
            "workload": args.workload,
            "api": args.api,
            "clients": args.clients,
            "chaincode_mode": if args.system_chaincode { "system" } else { args.chaincode_mode.as_str() },
            "batch_size": args.batch_size,
            "step_seconds": args.duration,
            "command": std::env::args().collect::<Vec<_>>().join(" "),
        },
        "knee_tps": knee,
        "steps": results,
    });
    let text = serde_json::to_string_pretty(&doc).unwrap_or_default();
    std::fs::write(&args.json, text).map_err(|e| {
        CliError::Usage(format!(
            "cannot write the results to {}: {e}",
            args.json.display()
        ))
    })?;
    println!("==> results written to {}", args.json.display());
    Ok(())
}
