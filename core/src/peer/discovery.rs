//! The node-wide discovery list, touch service and dial back-off
//! (reference §3.1 "Who dials whom", §3.2 "Touch service") as a sans-IO
//! [`Machine`].
//!
//! ```text
//!  new()            ──► Dial(every rootnode)
//!  Loaded(list)     ──► remember; Dial(each not connected)
//!  Registered(ep)   ──► connected; new address → Persist(PeersAddresses)
//!  Discovered(eps)  ──► Dial(address of each id not connected)
//!  DialDone{ok}     ──► reset back-off │ failure: back off 2× (capped)
//!  Disconnected(id) ──► not connected (the touch service redials)
//!  every touchPeriod──► Dial(every known address not connected, ≤ touchMaxNodes)
//! ```
//!
//! An address is dialed only when it is not connected, no dial to it is in
//! flight and its back-off has passed. Addresses are added to the list only
//! when a HELLO succeeds and are never removed (v0.6).

use crate::ledger::kv::{Partition, WriteBatch};
use crate::machine::Machine;
use crate::time::{Duration, Instant, TimerTable};
use fabrik_proto::protos::{PeerEndpoint, PeersAddresses};
use prost::Message as _;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// The key of the discovery list in [`Partition::Persist`] (v0.6 `persistCF`).
pub const DISCOVERY_KEY: &[u8] = b"discovery";

/// Most addresses remembered; beyond it new ones are not added.
const MAX_KNOWN: usize = 10_000;

/// Settings (`peer.discovery.*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoveryConfig {
    /// This peer's id (never dialed).
    pub self_id: String,
    /// This peer's advertised address (never dialed).
    pub self_address: String,
    /// `peer.discovery.rootnode`, split.
    pub rootnodes: Vec<String>,
    /// `peer.discovery.persist`.
    pub persist: bool,
    /// `peer.discovery.touchPeriod`.
    pub touch_period: Duration,
    /// `peer.discovery.touchMaxNodes`.
    pub touch_max_nodes: usize,
    /// First retry delay after a failed dial (doubles per failure).
    pub backoff_base: Duration,
    /// Longest retry delay.
    pub backoff_max: Duration,
}

/// Events fed to [`Discovery`].
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// The persisted list, read from the store at start-up.
    Loaded(Vec<String>),
    /// A connection's HELLO succeeded and the registry kept it.
    Registered(PeerEndpoint),
    /// The registered connection of this peer id ended.
    Disconnected(String),
    /// A DISC_PEERS listed these endpoints.
    Discovered(Vec<PeerEndpoint>),
    /// A dial to `address` finished: `Some(id)` when the TLS handshake named
    /// peer `id`, `None` when it failed.
    DialDone {
        /// The dialed address.
        address: String,
        /// The certified id on success.
        id: Option<String>,
    },
}

/// Effects the driver performs, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Dial this address; answer with [`Input::DialDone`].
    Dial(String),
    /// Write the discovery list (before later outputs).
    Persist(WriteBatch),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    Touch,
    Retry,
}

#[derive(Debug, Clone, Copy, Default)]
struct Backoff {
    failures: u32,
    next: Instant,
}

/// The discovery machine.
#[derive(Debug)]
pub struct Discovery {
    config: DiscoveryConfig,
    known: BTreeSet<String>,
    /// Connected peers: id → advertised address.
    connected: BTreeMap<String, String>,
    /// Dialed address → the id its certificate named.
    aliases: BTreeMap<String, String>,
    in_flight: BTreeSet<String>,
    backoff: BTreeMap<String, Backoff>,
    timers: TimerTable<Timer>,
    outputs: VecDeque<Output>,
}

impl Discovery {
    /// Starts discovery: dials every root node and arms the touch service.
    pub fn new(config: DiscoveryConfig, now: Instant) -> Self {
        let mut machine = Self {
            config,
            known: BTreeSet::new(),
            connected: BTreeMap::new(),
            aliases: BTreeMap::new(),
            in_flight: BTreeSet::new(),
            backoff: BTreeMap::new(),
            timers: TimerTable::new(),
            outputs: VecDeque::new(),
        };
        for root in machine.config.rootnodes.clone() {
            machine.dial(now, &root);
        }
        machine
            .timers
            .set(Timer::Touch, now + machine.config.touch_period);
        machine
    }

    /// The remembered addresses.
    pub fn known(&self) -> impl Iterator<Item = &str> {
        self.known.iter().map(String::as_str)
    }

    /// Ids of the connected peers.
    pub fn connected(&self) -> impl Iterator<Item = &str> {
        self.connected.keys().map(String::as_str)
    }

    fn is_connected(&self, address: &str) -> bool {
        self.connected.values().any(|a| a == address)
            || self
                .aliases
                .get(address)
                .is_some_and(|id| self.connected.contains_key(id))
    }

    fn dial(&mut self, now: Instant, address: &str) {
        let address = address.trim();
        let due = self.backoff.get(address).is_none_or(|b| b.next <= now);
        if address.is_empty()
            || address == self.config.self_address
            || self.in_flight.contains(address)
            || self.is_connected(address)
            || !due
        {
            return;
        }
        self.in_flight.insert(address.to_string());
        self.outputs.push_back(Output::Dial(address.to_string()));
    }

    fn remember(&mut self, address: &str) {
        if address.is_empty()
            || address == self.config.self_address
            || self.known.len() >= MAX_KNOWN
            || !self.known.insert(address.to_string())
        {
            return;
        }
        if self.config.persist {
            let list = PeersAddresses {
                addresses: self.known.iter().cloned().collect(),
            };
            let mut batch = WriteBatch::new();
            batch.put(
                Partition::Persist,
                DISCOVERY_KEY.to_vec(),
                list.encode_to_vec(),
            );
            self.outputs.push_back(Output::Persist(batch));
        }
    }

    fn touch(&mut self, now: Instant) {
        let candidates: Vec<String> = self
            .config
            .rootnodes
            .iter()
            .chain(self.known.iter())
            .cloned()
            .collect();
        let before = self.outputs.len();
        for address in candidates {
            if self.outputs.len().saturating_sub(before) >= self.config.touch_max_nodes {
                break;
            }
            self.dial(now, &address);
        }
    }

    fn on_dial_done(&mut self, now: Instant, address: String, id: Option<String>) {
        self.in_flight.remove(&address);
        match id {
            Some(id) => {
                self.backoff.remove(&address);
                self.aliases.insert(address, id);
            }
            None => {
                let entry = self.backoff.entry(address).or_default();
                entry.failures = entry.failures.saturating_add(1);
                let delay = backoff_delay(&self.config, entry.failures);
                entry.next = now + delay;
                self.arm_retry(now);
            }
        }
    }

    /// Arms the retry timer at the earliest future back-off deadline.
    fn arm_retry(&mut self, now: Instant) {
        let next = self
            .backoff
            .values()
            .map(|b| b.next)
            .filter(|t| *t > now)
            .min();
        match next {
            Some(at) => self.timers.set(Timer::Retry, at),
            None => self.timers.stop(&Timer::Retry),
        }
    }

    fn retry_due(&mut self, now: Instant) {
        let due: Vec<String> = self
            .backoff
            .iter()
            .filter(|(_, b)| b.next <= now)
            .map(|(a, _)| a.clone())
            .collect();
        for address in due {
            self.dial(now, &address);
        }
        // Back-off entries stay (their failure count drives the next delay)
        // but only future deadlines re-arm the timer.
        self.arm_retry(now);
    }
}

/// `base × 2^(failures−1)`, capped at `backoff_max`.
fn backoff_delay(config: &DiscoveryConfig, failures: u32) -> Duration {
    let factor = 1u32
        .checked_shl(failures.saturating_sub(1).min(20))
        .unwrap_or(u32::MAX);
    config
        .backoff_base
        .saturating_mul(factor)
        .min(config.backoff_max)
}

impl Machine for Discovery {
    type Input = Input;
    type Output = Output;
    type Reject = std::convert::Infallible;

    fn handle(&mut self, now: Instant, input: Input) -> Result<(), Self::Reject> {
        match input {
            Input::Loaded(addresses) => {
                for address in &addresses {
                    if self.known.len() < MAX_KNOWN && address != &self.config.self_address {
                        self.known.insert(address.clone());
                    }
                }
                for address in addresses {
                    self.dial(now, &address);
                }
            }
            Input::Registered(endpoint) => {
                let id = endpoint.id.map(|i| i.name).unwrap_or_default();
                self.backoff.remove(&endpoint.address);
                self.remember(&endpoint.address);
                self.connected.insert(id, endpoint.address);
            }
            Input::Disconnected(id) => {
                self.connected.remove(&id);
            }
            Input::Discovered(endpoints) => {
                for endpoint in endpoints {
                    let id = endpoint.id.as_ref().map_or("", |i| i.name.as_str());
                    if id != self.config.self_id && !self.connected.contains_key(id) {
                        self.dial(now, &endpoint.address);
                    }
                }
            }
            Input::DialDone { address, id } => self.on_dial_done(now, address, id),
        }
        Ok(())
    }

    fn handle_timeout(&mut self, now: Instant) {
        for timer in self.timers.expire(now) {
            match timer {
                Timer::Touch => {
                    self.touch(now);
                    self.timers
                        .set(Timer::Touch, now + self.config.touch_period);
                }
                Timer::Retry => self.retry_due(now),
            }
        }
    }

    fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next_deadline()
    }
}
