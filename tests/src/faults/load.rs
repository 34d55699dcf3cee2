//! The fault matrix's load: a few client threads submitting example02
//! transfers of 1 from `a` to `b` round-robin over the nodes that answer,
//! and a watcher that reads each node's new blocks and records every
//! transaction a node reported committed. That record is what "every
//! acknowledged transaction" means in the checks: a client was told it is
//! in a committed block.

use crate::Client;
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// Pause between one client's submissions: with two clients the offered
/// load stays near 100 tx/s, bounded whatever the nodes do.
const SUBMIT_INTERVAL: Duration = Duration::from_millis(20);
const CLIENTS: usize = 2;
const WATCH_INTERVAL: Duration = Duration::from_millis(250);

/// Addresses of the nodes' gRPC APIs as the driver last saw them; `None`
/// for a node that is down, paused or off the network.
pub type Addresses = Arc<Mutex<Vec<Option<String>>>>;

/// Running load; [`Load::stop`] ends it.
pub struct Load {
    stop: Arc<AtomicBool>,
    submitted: Arc<AtomicU64>,
    acknowledged: Arc<Mutex<HashSet<String>>>,
    threads: Vec<JoinHandle<()>>,
}

impl Load {
    /// Starts the clients and the watcher against `addresses`.
    pub fn start(addresses: Addresses, chaincode: &str) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let submitted = Arc::new(AtomicU64::new(0));
        let acknowledged = Arc::new(Mutex::new(HashSet::new()));
        let mut threads = Vec::new();
        for client in 0..CLIENTS {
            let (stop, submitted, addresses) = (stop.clone(), submitted.clone(), addresses.clone());
            let chaincode = chaincode.to_string();
            threads.push(std::thread::spawn(move || {
                submit_until(&stop, &addresses, &chaincode, client, &submitted);
            }));
        }
        let (stop_w, acked) = (stop.clone(), acknowledged.clone());
        threads.push(std::thread::spawn(move || {
            watch_until(&stop_w, &addresses, &acked)
        }));
        Self {
            stop,
            submitted,
            acknowledged,
            threads,
        }
    }

    /// Stops every thread; the transactions clients saw committed.
    pub fn stop(self) -> (u64, HashSet<String>) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            let _ = t.join();
        }
        let acked = std::mem::take(&mut *self.acknowledged.lock().expect("acked"));
        (self.submitted.load(Ordering::Relaxed), acked)
    }

    /// Transactions submitted (accepted by a peer) so far.
    pub fn submitted(&self) -> u64 {
        self.submitted.load(Ordering::Relaxed)
    }
}

fn live(addresses: &Addresses) -> Vec<(usize, String)> {
    addresses
        .lock()
        .expect("addresses")
        .iter()
        .enumerate()
        .filter_map(|(i, a)| a.clone().map(|a| (i, a)))
        .collect()
}

fn submit_until(
    stop: &AtomicBool,
    addresses: &Addresses,
    chaincode: &str,
    client: usize,
    submitted: &AtomicU64,
) {
    let mut turn = client;
    let mut connection: Option<(String, Client)> = None;
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(SUBMIT_INTERVAL);
        let nodes = live(addresses);
        if nodes.is_empty() {
            continue;
        }
        turn += 1;
        let (_, address) = &nodes[turn % nodes.len()];
        if connection.as_ref().map(|(a, _)| a) != Some(address) {
            connection = Client::connect_with_timeout(address, Duration::from_secs(3))
                .map(|c| (address.clone(), c));
        }
        let Some((_, c)) = connection.as_mut() else {
            continue;
        };
        match c.invoke(chaincode, &["invoke", "a", "b", "1"]) {
            Ok(_) => {
                submitted.fetch_add(1, Ordering::Relaxed);
            }
            // The node is down or refusing: the next turn tries another.
            Err(_) => connection = None,
        }
    }
}

fn watch_until(stop: &AtomicBool, addresses: &Addresses, acked: &Mutex<HashSet<String>>) {
    let mut next_block: Vec<u64> = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(WATCH_INTERVAL);
        for (i, address) in live(addresses) {
            if next_block.len() <= i {
                next_block.resize(i + 1, 0);
            }
            let Some(mut c) = Client::connect_with_timeout(&address, Duration::from_secs(2)) else {
                continue;
            };
            let Some(height) = c.height() else { continue };
            while next_block[i] < height && !stop.load(Ordering::Relaxed) {
                let Some(block) = c.block(next_block[i]) else {
                    break;
                };
                let mut set = acked.lock().expect("acked");
                set.extend(block.transactions.into_iter().map(|t| t.txid));
                next_block[i] += 1;
            }
        }
    }
}
