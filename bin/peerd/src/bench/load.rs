//! The load side of `peerd bench`: clients that submit invokes over gRPC
//! Devops or REST JSON-RPC, paced to a fixed offered rate (open loop: sends
//! do not wait for earlier answers, up to a bound of requests in flight) or
//! back to back (closed loop), recording when each accepted transaction was
//! submitted and why refused ones were refused.

use crate::cli::{BenchApi, Workload};
use crate::client::dial;
use crate::error::CliError;
use crate::localnet::{Devops, args_of, invocation};
use fabrik_proto::protos::response::StatusCode;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::task::JoinSet;

/// Requests one client may have in flight; beyond it the client is
/// saturated and further sends of the step count as not offered.
const MAX_IN_FLIGHT: usize = 4096;
/// How often an open-loop client tops up to its schedule.
const PACE: Duration = Duration::from_millis(2);
/// How long a step waits for answers to requests still in flight.
const ANSWER_GRACE: Duration = Duration::from_secs(30);

/// One connection submitting invokes.
#[derive(Clone)]
pub enum Client {
    /// gRPC `Devops.Invoke`.
    Grpc(Devops),
    /// REST `POST /chaincode`.
    Rest {
        /// The HTTP/1.1 client (keeps its connections alive).
        http: HttpClient<HttpConnector, Full<bytes::Bytes>>,
        /// `http://host:port/chaincode`.
        url: String,
    },
}

impl Client {
    /// Connects a client of `api` to the peer at `grpc` (or `rest`).
    ///
    /// # Errors
    /// When the peer does not answer.
    pub async fn connect(api: BenchApi, grpc: &str, rest: &str) -> Result<Self, CliError> {
        Ok(match api {
            BenchApi::Grpc => Self::Grpc(Devops::new(dial(grpc).await?)),
            BenchApi::Rest => Self::Rest {
                http: HttpClient::builder(TokioExecutor::new()).build_http(),
                url: format!("http://{rest}/chaincode"),
            },
        })
    }

    /// Invokes chaincode `name` with `args`; the txid, or why it was refused.
    async fn invoke(&self, name: &str, args: &[String]) -> Result<String, String> {
        match self {
            Self::Grpc(devops) => {
                let parts: Vec<&str> = args.iter().map(String::as_str).collect();
                let reply = devops
                    .clone()
                    .invoke(invocation(name, args_of(&parts)))
                    .await
                    .map_err(|s| format!("{:?}: {}", s.code(), s.message()))?
                    .into_inner();
                let text = String::from_utf8_lossy(&reply.msg).into_owned();
                if reply.status == StatusCode::Success as i32 {
                    Ok(text)
                } else {
                    Err(text)
                }
            }
            Self::Rest { http, url } => rest_invoke(http, url, name, args).await,
        }
    }
}

async fn rest_invoke(
    http: &HttpClient<HttpConnector, Full<bytes::Bytes>>,
    url: &str,
    name: &str,
    args: &[String],
) -> Result<String, String> {
    let body = serde_json::json!({
        "jsonrpc": "2.0",
        "method": "invoke",
        "params": {"type": 1, "chaincodeID": {"name": name}, "ctorMsg": {"args": args}},
        "id": 1,
    });
    let request = hyper::Request::post(url)
        .header("content-type", "application/json")
        .body(Full::new(bytes::Bytes::from(body.to_string())))
        .map_err(|e| e.to_string())?;
    let reply = http.request(request).await.map_err(|e| e.to_string())?;
    let bytes = reply
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    let json: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
    match json["result"]["message"].as_str() {
        Some(txid) if json["result"]["status"] == "OK" => Ok(txid.to_string()),
        _ => Err(json["error"]["data"]
            .as_str()
            .map_or_else(|| json.to_string(), str::to_string)),
    }
}

/// Makes the arguments of each transaction of a workload.
pub struct Arguments {
    workload: Workload,
    keys: u64,
    next: AtomicU64,
}

impl Arguments {
    /// Arguments for `workload`, writing over `keys` distinct keys.
    pub fn new(workload: Workload, keys: u64) -> Self {
        Self {
            workload,
            keys: keys.max(1),
            next: AtomicU64::new(0),
        }
    }

    /// The next transaction's arguments.
    pub fn next(&self) -> Vec<String> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        // Read-modify-write of one key (YCSB-style); consecutive
        // transactions touch different keys until the key space wraps.
        let rw = |size: &str| {
            let key = format!("k{}", n % self.keys);
            vec!["rw".into(), key.clone(), key, size.into()]
        };
        match self.workload {
            Workload::Example02 => ["invoke", "a", "b", "1"].map(String::from).to_vec(),
            Workload::Noop => vec!["noop".into(), n.to_string()],
            Workload::Kv100 => rw("100"),
            Workload::Kv1k => rw("1024"),
        }
    }
}

/// What the clients did in one step.
#[derive(Debug, Default)]
pub struct StepLoad {
    /// Transactions the schedule called for.
    pub offered: u64,
    /// Accepted ones: txid and when its submission started.
    pub accepted: Vec<(String, Instant)>,
    /// Refusals by reason (the peer pushing back, or errors).
    pub refused: BTreeMap<String, u64>,
    /// Sends skipped because a client had `MAX_IN_FLIGHT` unanswered.
    pub saturated: u64,
}

impl StepLoad {
    fn merge(&mut self, other: Self) {
        self.offered += other.offered;
        self.accepted.extend(other.accepted);
        self.saturated += other.saturated;
        for (reason, n) in other.refused {
            *self.refused.entry(reason).or_default() += n;
        }
    }
}

type Answer = (Result<String, String>, Instant);

/// Runs one step: `rate` tx/s in all (0 = closed loop) for `duration`,
/// spread evenly over `clients`.
pub async fn run_step(
    clients: &[Client],
    name: &str,
    args: &Arc<Arguments>,
    rate: u64,
    duration: Duration,
) -> StepLoad {
    let mut tasks = JoinSet::new();
    let n = clients.len().max(1) as u64;
    for (i, client) in clients.iter().enumerate() {
        let share = rate / n + u64::from((i as u64) < rate % n);
        let (client, name, args) = (client.clone(), name.to_string(), Arc::clone(args));
        tasks.spawn(async move {
            if rate == 0 {
                closed_loop(&client, &name, &args, duration).await
            } else {
                open_loop(&client, &name, &args, share, duration).await
            }
        });
    }
    let mut total = StepLoad::default();
    while let Some(done) = tasks.join_next().await {
        if let Ok(load) = done {
            total.merge(load);
        }
    }
    total
}

async fn closed_loop(
    client: &Client,
    name: &str,
    args: &Arguments,
    duration: Duration,
) -> StepLoad {
    let mut load = StepLoad::default();
    let end = Instant::now() + duration;
    while Instant::now() < end {
        let started = Instant::now();
        load.offered += 1;
        let answer = client.invoke(name, &args.next()).await;
        note(&mut load, (answer, started));
    }
    load
}

async fn open_loop(
    client: &Client,
    name: &str,
    args: &Arc<Arguments>,
    rate: u64,
    duration: Duration,
) -> StepLoad {
    let mut load = StepLoad::default();
    let mut in_flight: JoinSet<Answer> = JoinSet::new();
    let start = Instant::now();
    let mut ticker = tokio::time::interval(PACE);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let elapsed = start.elapsed().min(duration);
        let due = (rate as f64 * elapsed.as_secs_f64()) as u64;
        while load.offered < due {
            load.offered += 1;
            if in_flight.len() >= MAX_IN_FLIGHT {
                load.saturated += 1;
                continue;
            }
            let (client, name, tx_args) = (client.clone(), name.to_string(), args.next());
            in_flight.spawn(async move {
                let started = Instant::now();
                (client.invoke(&name, &tx_args).await, started)
            });
        }
        while let Some(Ok(answer)) = in_flight.try_join_next() {
            note(&mut load, answer);
        }
        if elapsed >= duration {
            break;
        }
    }
    let grace = tokio::time::sleep(ANSWER_GRACE);
    tokio::pin!(grace);
    loop {
        tokio::select! {
            next = in_flight.join_next() => match next {
                Some(Ok(answer)) => note(&mut load, answer),
                Some(Err(_)) => {}
                None => break,
            },
            () = &mut grace => {
                *load.refused.entry("no answer within 30 s".into()).or_default() += in_flight.len() as u64;
                break;
            }
        }
    }
    load
}

fn note(load: &mut StepLoad, (answer, started): Answer) {
    match answer {
        Ok(txid) => load.accepted.push((txid, started)),
        Err(reason) => *load.refused.entry(reason).or_default() += 1,
    }
}
