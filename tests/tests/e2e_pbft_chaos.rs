//! SIGKILL of a random validator at random moments under load, with real
//! `peerd` processes from `peerd testnet`: client threads keep invoking
//! example02 transfers of 1 from a to b through different validators while
//! a seeded random schedule kills a validator and restarts it, at least 5
//! times. Afterwards every transaction any client saw in a block (on any
//! validator, even one killed later) is on every validator exactly once,
//! every validator has the same block hashes and state hash, and a and b
//! moved by exactly the number of committed transfers.
//!
//! The seed is printed; `FABRIK_CHAOS_SEED=<n>` replays a schedule (the
//! moments are the same, what the network does within them may differ)
//! and `FABRIK_CHAOS_KILLS=<n>` sets the number of kills (at least 5).

use fabrik_tests::network::{self, Node, deploy_example02, query_value, same_chain, same_head};
use fabrik_tests::{Client, eventually, height};
use std::collections::{BTreeMap, HashSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

const A: i64 = 1_000_000;
const B: i64 = 0;
const CLIENTS: usize = 3;

/// splitmix64: a few lines, no dependency, the same sequence everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn millis(&mut self, from: u64, to: u64) -> Duration {
        Duration::from_millis(from + self.below(to - from))
    }
}

fn env_number(key: &str) -> Option<u64> {
    let text = std::env::var(key).ok()?;
    Some(
        text.trim()
            .parse()
            .unwrap_or_else(|e| panic!("{key}={text:?} is not a number: {e}")),
    )
}

/// One client: invokes a 1-unit transfer through a validator, then
/// through the next one; a validator that does not answer is skipped.
fn client(t: usize, addresses: &[String], name: &str, seed: u64, stop: &AtomicBool) -> Vec<String> {
    let mut rng = Rng(seed ^ (t as u64 + 1).wrapping_mul(0xA24B_AED4_963E_E407));
    let mut sent = Vec::new();
    let mut via = t;
    while !stop.load(Ordering::Acquire) {
        via = (via + 1) % addresses.len();
        let Some(mut c) = Client::connect(&addresses[via]) else {
            std::thread::sleep(Duration::from_millis(200));
            continue;
        };
        for _ in 0..1 + rng.below(4) {
            if stop.load(Ordering::Acquire) {
                break;
            }
            match c.invoke(name, &["invoke", "a", "b", "1"]) {
                Ok(txid) => sent.push(txid),
                Err(_) => break,
            }
            std::thread::sleep(rng.millis(100, 400));
        }
    }
    sent
}

/// What the clients saw committed: every txid found in a block on any
/// validator, polled while the validators come and go.
fn watcher(addresses: &[String], stop: &AtomicBool) -> BTreeMap<String, (String, u64)> {
    let mut seen = BTreeMap::new();
    let mut next = vec![1u64; addresses.len()];
    let mut clients: Vec<Option<Client>> = addresses.iter().map(|_| None).collect();
    while !stop.load(Ordering::Acquire) {
        for (i, address) in addresses.iter().enumerate() {
            if clients[i].is_none() {
                clients[i] = Client::connect(address);
            }
            let Some(c) = clients[i].as_mut() else {
                continue;
            };
            let Some(h) = c.height() else {
                clients[i] = None;
                continue;
            };
            while next[i] < h {
                // A block still being fetched by state transfer is read later.
                let Some(block) = c.block(next[i]) else { break };
                for tx in block.transactions {
                    seen.entry(tx.txid)
                        .or_insert_with(|| (format!("vp{i}"), next[i]));
                }
                next[i] += 1;
            }
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    seen
}

/// Restarts `node` and waits until it is as high as the others were when
/// it came back, so the next kill never leaves the network without a
/// quorum for long.
fn restart_and_catch_up(nodes: &mut [Node], victim: usize) {
    nodes[victim].start();
    let target = nodes
        .iter()
        .enumerate()
        .filter(|(i, n)| *i != victim && n.running())
        .filter_map(|(_, n)| height(&n.files.address))
        .min()
        .unwrap_or(0);
    let node = &nodes[victim];
    let caught_up = eventually(Duration::from_secs(90), || {
        (height(&node.files.address)? >= target).then_some(())
    });
    assert!(
        caught_up.is_some(),
        "{} restarted but stayed below height {target} for 90 s:\n{}",
        node.files.id,
        node.log()
    );
}

#[test]
fn sigkill_of_random_validators_under_load_loses_no_committed_transaction() {
    let seed = env_number("FABRIK_CHAOS_SEED").unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
    });
    let kills = env_number("FABRIK_CHAOS_KILLS").unwrap_or(5).max(5);
    println!("chaos seed {seed}, {kills} kills (replay: FABRIK_CHAOS_SEED={seed})");
    eprintln!("chaos seed {seed}, {kills} kills (replay: FABRIK_CHAOS_SEED={seed})");
    let mut rng = Rng(seed);

    let dir = tempfile::tempdir().expect("dir");
    let mut nodes = network::network(dir.path(), 4, 0);
    network::process_chaincode(&mut nodes);
    for n in &mut nodes {
        // Frequent checkpoints so a restarted replica finds out it is
        // behind soon; a short request timeout so a killed primary is
        // replaced soon.
        n.env.extend([
            ("CORE_PBFT_GENERAL_K".into(), "2".into()),
            ("CORE_PBFT_GENERAL_LOGMULTIPLIER".into(), "2".into()),
            ("CORE_PBFT_GENERAL_TIMEOUT_REQUEST".into(), "6s".into()),
        ]);
        n.start();
    }
    let name = deploy_example02(&nodes[0], A as u64, B as u64);
    network::wait_all(&nodes, 2);
    let addresses: Vec<String> = nodes.iter().map(|n| n.files.address.clone()).collect();

    let stop_clients = AtomicBool::new(false);
    let stop_watcher = AtomicBool::new(false);
    let schedule = Mutex::new(Vec::new());
    let (sent, seen) = std::thread::scope(|s| {
        let clients: Vec<_> = (0..CLIENTS)
            .map(|t| {
                let (addresses, name, stop) = (&addresses, &name, &stop_clients);
                s.spawn(move || client(t, addresses, name, seed, stop))
            })
            .collect();
        let watch = s.spawn(|| watcher(&addresses, &stop_watcher));
        for round in 0..kills {
            std::thread::sleep(rng.millis(500, 4000));
            let victim = rng.below(nodes.len() as u64) as usize;
            let down_for = rng.millis(200, 3000);
            let at = height(&addresses[victim]);
            schedule.lock().expect("schedule").push(format!(
                "kill {}: vp{victim} at height {at:?}, down {down_for:?}",
                round + 1
            ));
            nodes[victim].kill();
            std::thread::sleep(down_for);
            restart_and_catch_up(&mut nodes, victim);
        }
        // A little more load with everyone up, then let the last
        // transactions settle before the watcher's final look.
        std::thread::sleep(Duration::from_secs(2));
        stop_clients.store(true, Ordering::Release);
        let sent: Vec<String> = clients
            .into_iter()
            .flat_map(|c| c.join().expect("client thread"))
            .collect();
        same_head(&nodes);
        std::thread::sleep(Duration::from_secs(1));
        stop_watcher.store(true, Ordering::Release);
        (sent, watch.join().expect("watcher thread"))
    });
    let schedule = schedule.into_inner().expect("schedule");
    println!("{}", schedule.join("\n"));

    let head = quiescent_head(&nodes);
    same_chain(&nodes, head.height);
    let chain = network::txids(&nodes[0], head.height);
    for n in &nodes[1..] {
        assert_eq!(
            network::txids(n, head.height),
            chain,
            "transactions differ on {}",
            n.files.id
        );
    }
    let mut once = HashSet::new();
    let twice: Vec<&String> = chain.iter().filter(|t| !once.insert(*t)).collect();
    assert!(twice.is_empty(), "committed more than once: {twice:?}");
    let missing: Vec<_> = seen
        .iter()
        .filter(|(txid, _)| !once.contains(txid))
        .collect();
    assert!(
        missing.is_empty(),
        "seen committed (txid, (validator, block)) but not on the agreed chain: {missing:?}\nseed {seed}\n{}",
        schedule.join("\n")
    );
    let sent_set: HashSet<&String> = sent.iter().collect();
    let transfers: Vec<&String> = chain.iter().filter(|t| **t != name).collect();
    let unknown: Vec<_> = transfers
        .iter()
        .filter(|t| !sent_set.contains(**t))
        .collect();
    assert!(unknown.is_empty(), "no client sent {unknown:?}");
    assert!(!transfers.is_empty(), "the load committed nothing");
    let n = transfers.len() as i64;
    for node in &nodes {
        assert_eq!(
            (query_value(node, &name, "a"), query_value(node, &name, "b")),
            (Ok(A - n), Ok(B + n)),
            "a and b on {} after {n} committed transfers (seed {seed})",
            node.files.id
        );
    }
    assert_eq!(
        same_head(&nodes).height,
        head.height,
        "the chain grew while it was checked, with no client running"
    );
    println!(
        "{} transfers sent, {} seen committed while running, {n} on the chain of {} blocks",
        sent.len(),
        seen.len().saturating_sub(1),
        head.height
    );
}

/// The agreed head once it has stopped growing: transfers a restarted
/// validator accepted before the clients stopped may still be ordered, in
/// step on every validator, after the heads first agree.
fn quiescent_head(nodes: &[Node]) -> network::Head {
    let mut head = same_head(nodes);
    for _ in 0..30 {
        std::thread::sleep(Duration::from_secs(3));
        let now = same_head(nodes);
        if now.height == head.height {
            return now;
        }
        head = now;
    }
    panic!("the chain kept growing for 90 s with no client running");
}
