//! Watches every validator's event hub while `peerd bench` runs and records,
//! per transaction id, when it was committed on each validator, so that a
//! transaction counts as committed only once every validator holds it and
//! its latency runs to the last of them.

use crate::error::CliError;
use crate::events::{plain, subscribe};
use fabrik_proto::protos::{EventType, event};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;
use tokio::task::JoinHandle;

/// When one transaction reached the validators.
#[derive(Debug, Clone, Copy)]
pub struct Seen {
    /// Which validators hold it (bit i = validator i).
    mask: u64,
    /// When the last of them reported it.
    pub last: Instant,
}

/// What the event hubs reported.
#[derive(Debug, Default)]
pub struct Commits {
    seen: HashMap<String, Seen>,
    rejected: HashMap<String, String>,
    blocks: Vec<u64>,
}

impl Commits {
    /// The time `txid` was committed on every one of `validators`, if it was.
    pub fn committed_everywhere(&self, txid: &str, validators: usize) -> Option<Instant> {
        let all = if validators >= 64 {
            u64::MAX
        } else {
            (1u64 << validators) - 1
        };
        self.seen
            .get(txid)
            .filter(|s| s.mask & all == all)
            .map(|s| s.last)
    }

    /// Why `txid` was rejected, if a hub said so.
    pub fn rejection(&self, txid: &str) -> Option<&str> {
        self.rejected.get(txid).map(String::as_str)
    }

    /// Blocks the first validator reported since the last `clear`.
    pub fn blocks(&self) -> u64 {
        self.blocks.first().copied().unwrap_or(0)
    }

    /// Forgets everything recorded so far (between steps).
    pub fn clear(&mut self) {
        self.seen.clear();
        self.rejected.clear();
        self.blocks.iter_mut().for_each(|b| *b = 0);
    }
}

/// The shared record and the tasks filling it.
pub struct Watcher {
    /// What has been seen.
    pub commits: Arc<Mutex<Commits>>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Watcher {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Watcher {
    /// Subscribes to BLOCK and REJECTION events on every address in
    /// `events` (one per validator, in replica order).
    ///
    /// # Errors
    /// When a hub cannot be reached or does not confirm the registration.
    pub async fn start(events: &[String]) -> Result<Self, CliError> {
        if events.len() > 64 {
            return Err(CliError::Usage(
                "peerd bench watches at most 64 validators".into(),
            ));
        }
        let commits = Arc::new(Mutex::new(Commits {
            blocks: vec![0; events.len()],
            ..Commits::default()
        }));
        let mut tasks = Vec::new();
        for (i, address) in events.iter().enumerate() {
            let interests = vec![plain(EventType::Block), plain(EventType::Rejection)];
            let sub = subscribe(address, interests).await?;
            let commits = Arc::clone(&commits);
            let address = address.clone();
            tasks.push(tokio::spawn(async move {
                // The whole subscription moves in: its sender keeps the stream open.
                let mut sub = sub;
                let end = loop {
                    match sub.inbound.message().await {
                        Ok(Some(ev)) => record(&commits, i, ev.event, Instant::now()),
                        Ok(None) => break "the hub closed it".to_string(),
                        Err(status) => break status.message().to_string(),
                    }
                };
                eprintln!(
                    "warning: the event stream of {address} ended ({end}); commits there are no longer seen"
                );
            }));
        }
        Ok(Self { commits, tasks })
    }

    /// Runs `f` on the record.
    pub fn with<T>(&self, f: impl FnOnce(&mut Commits) -> T) -> T {
        f(&mut self.commits.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

fn record(commits: &Mutex<Commits>, validator: usize, ev: Option<event::Event>, at: Instant) {
    let mut c = commits.lock().unwrap_or_else(PoisonError::into_inner);
    match ev {
        Some(event::Event::Block(block)) => {
            c.blocks[validator] += 1;
            for tx in &block.transactions {
                let seen = c
                    .seen
                    .entry(tx.txid.clone())
                    .or_insert(Seen { mask: 0, last: at });
                seen.mask |= 1 << validator;
                seen.last = at;
            }
        }
        Some(event::Event::Rejection(r)) => {
            let txid = r.tx.map(|t| t.txid).unwrap_or_default();
            c.rejected.insert(txid, r.error_msg);
        }
        _ => {}
    }
}
