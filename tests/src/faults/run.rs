//! One fault-matrix case from start to verdict: start the containers,
//! deploy example02, run load, inject the fault, check that the network
//! keeps committing (at most f nodes hit) or stands still (more than f, or
//! no side with a quorum), heal, and check that every node ends with the
//! same chain, every acknowledged transaction and the right balances.

use super::cluster::{Binaries, Cluster};
use super::load::{Addresses, Load};
use super::{Case, Fault, Target};
use crate::Client;
use fabrik_core::ledger::block::block_hash;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Opening balance of `a`; every transfer moves 1 to `b`.
const OPENING: u64 = 1_000_000;
/// Load before the fault, during it, and after healing.
const BEFORE: Duration = Duration::from_secs(5);
const DURING: Duration = Duration::from_secs(10);
const AFTER: Duration = Duration::from_secs(10);
/// Time a halted network gets to finish blocks already in flight.
const SETTLE: Duration = Duration::from_secs(4);
/// How long a converged chain must stand still before it is compared.
const QUIET: Duration = Duration::from_secs(3);
/// How long the nodes get to agree once the load stops.
const CONVERGE: Duration = Duration::from_secs(150);

/// The verdict of one case.
#[derive(Debug)]
pub struct Outcome {
    /// The case.
    pub case: Case,
    /// Whether every check held.
    pub passed: bool,
    /// Blocks on every node at the end.
    pub height: u64,
    /// Transactions a client saw committed.
    pub acknowledged: usize,
    /// Blocks committed while the fault lasted.
    pub during: u64,
    /// Wall time of the case.
    pub seconds: u64,
    /// What failed, or a one-line summary.
    pub detail: String,
}

/// Runs `case` end to end. Never panics on a failed check: the outcome
/// says what failed, with the tail of each node's log.
pub fn run_case(case: Case, binaries: &Binaries<'_>) -> Outcome {
    let started = Instant::now();
    let mut outcome = Outcome {
        case,
        passed: false,
        height: 0,
        acknowledged: 0,
        during: 0,
        seconds: 0,
        detail: String::new(),
    };
    // FABRIK_FAULT_LOG sets the nodes' RUST_LOG (default info).
    let log = std::env::var("FABRIK_FAULT_LOG").unwrap_or_else(|_| "info".into());
    let env = [
        ("CORE_PBFT_GENERAL_TIMEOUT_REQUEST", "4s"),
        ("RUST_LOG", log.as_str()),
    ];
    let result = Cluster::start(case.validators, binaries, &env)
        .and_then(|mut cluster| Driver::new(&mut cluster, binaries, case).run(case, &mut outcome));
    outcome.seconds = started.elapsed().as_secs();
    match result {
        Ok(()) => outcome.passed = true,
        Err(e) => outcome.detail = e,
    }
    outcome
}

struct Driver<'c> {
    cluster: &'c mut Cluster,
    addresses: Addresses,
    /// The static peerd, also run on the host as the CLI.
    peerd: std::path::PathBuf,
    chaincode: String,
    case_name: String,
}

impl<'c> Driver<'c> {
    fn new(cluster: &'c mut Cluster, binaries: &Binaries<'_>, case: Case) -> Self {
        let addresses = Arc::new(Mutex::new(vec![None; cluster.len()]));
        Self {
            cluster,
            addresses,
            peerd: binaries.peerd.to_path_buf(),
            chaincode: String::new(),
            case_name: case.name(),
        }
    }

    fn run(&mut self, case: Case, outcome: &mut Outcome) -> Result<(), String> {
        self.wait_all_up()?;
        self.deploy()?;
        let load = Load::start(self.addresses.clone(), &self.chaincode);
        std::thread::sleep(BEFORE);
        let victims = self.victims(case)?;
        let hit = self.inject(case, &victims)?;
        let during = self.while_faulty(case, &hit);
        self.restore(case, &victims)?;
        self.refresh();
        std::thread::sleep(AFTER);
        let (submitted, acknowledged) = load.stop();
        outcome.during = during?;
        outcome.acknowledged = acknowledged.len();
        let (height, chain) = self.quiescent_chain()?;
        outcome.height = height;
        self.acknowledged_present(&acknowledged, &chain)?;
        outcome.detail = format!(
            "victims {}; {submitted} submitted, {} in the chain",
            victims
                .iter()
                .map(|&i| self.cluster.id(i))
                .collect::<Vec<_>>()
                .join(","),
            chain.len()
        );
        Ok(())
    }

    /// Re-reads every node's address (it changes when networks change).
    fn refresh(&self) {
        let now: Vec<_> = (0..self.cluster.len())
            .map(|i| self.cluster.grpc(i))
            .collect();
        *self.addresses.lock().expect("addresses") = now;
    }

    fn wait_all_up(&self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(60);
        for i in 0..self.cluster.len() {
            loop {
                let answered = self
                    .cluster
                    .grpc(i)
                    .and_then(|a| Client::connect_with_timeout(&a, Duration::from_secs(2)))
                    .and_then(|mut c| c.height());
                if answered.is_some() {
                    break;
                }
                if Instant::now() > deadline {
                    return Err(self.failure(&format!("{} did not start", self.cluster.id(i))));
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        }
        self.refresh();
        Ok(())
    }

    /// Deploys example02 (`a` = 1,000,000, `b` = 0) through the host's
    /// `peerd` CLI and waits until every node can query it.
    fn deploy(&mut self) -> Result<(), String> {
        let address = self.cluster.grpc(0).ok_or("vp0 has no address")?;
        let ctor = format!(r#"{{"Args":["init","a","{OPENING}","b","0"]}}"#);
        let out = std::process::Command::new(&self.peerd)
            // The peer reads the path: example02 is in the image at /.
            .args([
                "--peer-address",
                &address,
                "chaincode",
                "deploy",
                "-p",
                "/example02",
            ])
            .args(["-c", &ctor])
            .output()
            .map_err(|e| format!("peerd chaincode deploy: {e}"))?;
        let printed = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if !out.status.success() || printed.is_empty() {
            return Err(format!(
                "deploy failed: {printed} {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        self.chaincode = printed.rsplit(' ').next().unwrap_or_default().to_string();
        let deadline = Instant::now() + Duration::from_secs(90);
        for i in 0..self.cluster.len() {
            while self.query(i, "b").as_deref() != Some("0") {
                if Instant::now() > deadline {
                    return Err(self.failure(&format!(
                        "example02 {} never answered on {}",
                        self.chaincode,
                        self.cluster.id(i)
                    )));
                }
                std::thread::sleep(Duration::from_millis(300));
            }
        }
        Ok(())
    }

    fn query(&self, i: usize, key: &str) -> Option<String> {
        let address = self.cluster.grpc(i)?;
        let mut c = Client::connect_with_timeout(&address, Duration::from_secs(5))?;
        c.query(&self.chaincode, &["query", key]).ok()
    }

    fn height(&self, i: usize) -> Option<u64> {
        let address = self.cluster.grpc(i)?;
        Client::connect_with_timeout(&address, Duration::from_secs(3))?.height()
    }

    fn primary(&self) -> Result<usize, String> {
        for i in 0..self.cluster.len() {
            let Some(ops) = self.cluster.operations(i) else {
                continue;
            };
            let Some(metrics) = crate::network::try_http_get(&ops, "/metrics") else {
                continue;
            };
            let primary = metrics
                .lines()
                .find_map(|l| l.strip_prefix("fabrik_consensus_primary "))
                .and_then(|v| v.trim().parse::<f64>().ok());
            if let Some(p) = primary {
                return Ok(p as usize);
            }
        }
        Err(self.failure("no node reports fabrik_consensus_primary"))
    }

    /// The nodes a node fault hits: the primary first when targeted, then
    /// backups counting up from it.
    fn victims(&self, case: Case) -> Result<Vec<usize>, String> {
        let n = self.cluster.len();
        let primary = self.primary()?;
        let first = match case.target {
            Target::Primary => primary,
            Target::Backups => (primary + 1) % n,
        };
        let count = match case.fault {
            Fault::IsolatePrimary | Fault::Halves => 1,
            _ => case.nodes,
        };
        let victims: Vec<usize> = (0..n)
            .map(|k| (first + k) % n)
            .filter(|&i| case.target == Target::Primary || i != primary)
            .take(count)
            .collect();
        Ok(victims)
    }

    /// Applies the fault; the nodes cut off from the rest.
    fn inject(&mut self, case: Case, victims: &[usize]) -> Result<Vec<usize>, String> {
        let n = self.cluster.len();
        let hit = match case.fault {
            Fault::Kill => each(victims, |i| self.cluster.kill(i))?,
            Fault::Terminate => each(victims, |i| self.cluster.terminate(i))?,
            Fault::Pause => each(victims, |i| self.cluster.pause(i))?,
            Fault::Disconnect => each(victims, |i| self.cluster.disconnect(i))?,
            Fault::IsolatePrimary => {
                let rest: Vec<usize> = (0..n).filter(|i| !victims.contains(i)).collect();
                self.cluster.partition(&[victims.to_vec(), rest])?;
                victims.to_vec()
            }
            Fault::Halves => {
                let (left, right) = halves(n, victims[0]);
                self.cluster.partition(&[left.clone(), right])?;
                left
            }
        };
        self.refresh();
        Ok(hit)
    }

    /// Under load while the fault lasts: with at most f nodes cut off the
    /// others must commit; otherwise no node may commit anything new once
    /// blocks in flight have landed. Blocks committed meanwhile.
    fn while_faulty(&self, case: Case, hit: &[usize]) -> Result<u64, String> {
        let n = self.cluster.len();
        let correct: Vec<usize> = (0..n).filter(|i| !hit.contains(i)).collect();
        let heights = |nodes: &[usize]| -> Vec<Option<u64>> {
            nodes.iter().map(|&i| self.height(i)).collect()
        };
        if case.must_halt() {
            std::thread::sleep(SETTLE);
            let everyone: Vec<usize> = (0..n).collect();
            let before = heights(&everyone);
            std::thread::sleep(DURING - SETTLE);
            let after = heights(&everyone);
            for (k, (b, a)) in before.iter().zip(&after).enumerate() {
                if let (Some(b), Some(a)) = (b, a)
                    && a > b
                {
                    return Err(self.failure(&format!(
                        "{} committed {b}..{a} with more than f nodes cut off",
                        self.cluster.id(k)
                    )));
                }
            }
            return Ok(0);
        }
        let before = heights(&correct);
        std::thread::sleep(DURING);
        let after = heights(&correct);
        let grown = before
            .iter()
            .zip(&after)
            .map(|(b, a)| a.unwrap_or(0).saturating_sub(b.unwrap_or(u64::MAX)))
            .min()
            .unwrap_or(0);
        if grown == 0 {
            return Err(self.failure(&format!(
                "the {} correct nodes committed nothing while {} were cut off (heights {before:?} -> {after:?})",
                correct.len(),
                hit.len()
            )));
        }
        Ok(grown)
    }

    fn restore(&mut self, case: Case, victims: &[usize]) -> Result<(), String> {
        match case.fault {
            Fault::Kill | Fault::Terminate => {
                each(victims, |i| self.cluster.start_node(i)).map(drop)
            }
            Fault::Pause => each(victims, |i| self.cluster.unpause(i)).map(drop),
            Fault::Disconnect => each(victims, |i| self.cluster.reconnect(i)).map(drop),
            Fault::IsolatePrimary | Fault::Halves => self.cluster.heal(),
        }
    }

    /// Waits until every node has the same height and top block, sending a
    /// transfer every few seconds: a replica that missed sequence numbers
    /// learns it is behind from the checkpoints new work produces.
    fn converge(&self) -> Result<u64, String> {
        let deadline = Instant::now() + CONVERGE;
        let mut nudged = Instant::now();
        loop {
            self.refresh();
            let heights: Vec<Option<u64>> =
                (0..self.cluster.len()).map(|i| self.height(i)).collect();
            if let Some(Some(h)) = heights.first()
                && heights.iter().all(|x| *x == Some(*h))
                && self.top_blocks_agree(*h)
            {
                // Equal heights are not the end: transactions accepted
                // before the load stopped may still be ordered, in step on
                // every node. Only a chain that stops growing is compared.
                std::thread::sleep(QUIET);
                if self.heights_all(*h) {
                    return Ok(*h);
                }
                continue;
            }
            if Instant::now() > deadline {
                return Err(
                    self.failure(&format!("no agreement after healing: heights {heights:?}"))
                );
            }
            if nudged.elapsed() > Duration::from_secs(2) {
                nudged = Instant::now();
                self.nudge();
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    fn heights_all(&self, h: u64) -> bool {
        (0..self.cluster.len()).all(|i| self.height(i) == Some(h))
    }

    /// The final chain, compared on every node, and the balances read at
    /// the same height. Transactions accepted before the load stopped can
    /// still be ordered after the nodes first agree (after a halt, through
    /// several view changes), so a reading the chain grew under is retried.
    fn quiescent_chain(&self) -> Result<(u64, Vec<String>), String> {
        let deadline = Instant::now() + CONVERGE;
        loop {
            let height = self.converge()?;
            let chain = self.same_chain_everywhere(height)?;
            let balances = self.balances();
            if !self.heights_all(height) {
                if Instant::now() > deadline {
                    return Err(self.failure("the chain kept growing with no load running"));
                }
                continue;
            }
            self.balances_match(&chain, &balances)?;
            return Ok((height, chain));
        }
    }

    fn nudge(&self) {
        for i in 0..self.cluster.len() {
            let Some(address) = self.cluster.grpc(i) else {
                continue;
            };
            if let Some(mut c) = Client::connect_with_timeout(&address, Duration::from_secs(3))
                && c.invoke(&self.chaincode, &["invoke", "a", "b", "1"])
                    .is_ok()
            {
                return;
            }
        }
    }

    fn top_blocks_agree(&self, height: u64) -> bool {
        let tops: HashSet<_> = (0..self.cluster.len())
            .map(|i| self.block_hash(i, height - 1))
            .collect();
        tops.len() == 1 && !tops.contains(&None)
    }

    fn block_hash(&self, i: usize, number: u64) -> Option<Vec<u8>> {
        let address = self.cluster.grpc(i)?;
        let block =
            Client::connect_with_timeout(&address, Duration::from_secs(5))?.block(number)?;
        Some(block_hash(&block).to_vec())
    }

    /// Every block, header and state hash included, equal on every node;
    /// the txids of the chain in order.
    fn same_chain_everywhere(&self, height: u64) -> Result<Vec<String>, String> {
        let mut reference: Option<Vec<Vec<u8>>> = None;
        let mut txids = Vec::new();
        for i in 0..self.cluster.len() {
            let address = self.cluster.grpc(i).ok_or("a node vanished")?;
            let mut c = Client::connect_with_timeout(&address, Duration::from_secs(10))
                .ok_or_else(|| format!("{} does not answer", self.cluster.id(i)))?;
            let mut hashes = Vec::new();
            for b in 0..height {
                let block = c
                    .block(b)
                    .ok_or_else(|| format!("{} has no block {b}", self.cluster.id(i)))?;
                if reference.is_none() {
                    txids.extend(block.transactions.iter().map(|t| t.txid.clone()));
                }
                hashes.push(block_hash(&block).to_vec());
            }
            match &reference {
                None => reference = Some(hashes),
                Some(r) => {
                    if let Some(b) = (0..r.len()).find(|&b| r[b] != hashes[b]) {
                        return Err(self.failure(&format!(
                            "block {b} differs between {} and {}",
                            self.cluster.id(0),
                            self.cluster.id(i)
                        )));
                    }
                }
            }
        }
        Ok(txids)
    }

    fn acknowledged_present(
        &self,
        acknowledged: &HashSet<String>,
        chain: &[String],
    ) -> Result<(), String> {
        let in_chain: HashSet<&String> = chain.iter().collect();
        let missing: Vec<&String> = acknowledged
            .iter()
            .filter(|t| !in_chain.contains(t))
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        Err(self.failure(&format!(
            "{} acknowledged transactions missing from the final chain, e.g. {:?}",
            missing.len(),
            missing.iter().take(3).collect::<Vec<_>>()
        )))
    }

    /// `(a, b)` as each node answers a query.
    fn balances(&self) -> Vec<(Option<u64>, Option<u64>)> {
        (0..self.cluster.len())
            .map(|i| {
                let read = |k| self.query(i, k).and_then(|v| v.parse::<u64>().ok());
                (read("a"), read("b"))
            })
            .collect()
    }

    /// Every transaction after the deploy moved 1 from `a` to `b`: on
    /// every node `b` is their number and `a + b` the opening balance.
    fn balances_match(
        &self,
        chain: &[String],
        balances: &[(Option<u64>, Option<u64>)],
    ) -> Result<(), String> {
        let transfers = chain.iter().filter(|t| **t != self.chaincode).count() as u64;
        let right = (Some(OPENING - transfers), Some(transfers));
        if balances.iter().all(|b| *b == right) {
            return Ok(());
        }
        Err(self.failure(&format!(
            "balances (a, b) by node {balances:?} after {transfers} committed transfers"
        )))
    }

    /// `what`, the last lines of every node's log, and where the whole
    /// logs were saved (`$TMPDIR/fabrik-fault-matrix/<case>/<node>.log`).
    fn failure(&self, what: &str) -> String {
        let dir = std::env::temp_dir()
            .join("fabrik-fault-matrix")
            .join(&self.case_name);
        let _ = std::fs::create_dir_all(&dir);
        let mut out = format!("{what} (whole logs in {})", dir.display());
        for i in 0..self.cluster.len() {
            let id = self.cluster.id(i);
            let _ = std::fs::write(
                dir.join(format!("{id}.log")),
                self.cluster.logs(i, usize::MAX),
            );
            out.push_str(&format!("\n--- {id} ---\n{}", self.cluster.logs(i, 15)));
        }
        if let Some(secs) = std::env::var("FABRIK_FAULT_KEEP")
            .ok()
            .and_then(|v| v.parse().ok())
        {
            // For a person investigating: the failed network stays up.
            let ops: Vec<_> = (0..self.cluster.len())
                .map(|i| self.cluster.operations(i))
                .collect();
            eprintln!("{what}\nkeeping the network up {secs} s; operations addresses {ops:?}");
            std::thread::sleep(Duration::from_secs(secs));
        }
        out
    }
}

fn each(
    nodes: &[usize],
    mut f: impl FnMut(usize) -> Result<(), String>,
) -> Result<Vec<usize>, String> {
    for &i in nodes {
        f(i)?;
    }
    Ok(nodes.to_vec())
}

/// Two sides of ⌊n/2⌋ and ⌈n/2⌉ nodes, the first holding `first`: for
/// n = 4 and 7 neither reaches the quorum ⌊(n+f+2)/2⌋.
fn halves(n: usize, first: usize) -> (Vec<usize>, Vec<usize>) {
    let left: Vec<usize> = (0..n / 2).map(|k| (first + k) % n).collect();
    let right = (0..n).filter(|i| !left.contains(i)).collect();
    (left, right)
}
