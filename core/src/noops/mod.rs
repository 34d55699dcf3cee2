//! NOOPS consensus (reference §4.2) as a pure machine.
//!
//! ```text
//!  Submit(tx) ──► queue ──► Broadcast(tx) to other validators
//!  FromPeer(tx) ─┘   │
//!                    ├─ queue ≥ block.size ───────────┐
//!                    ├─ block.wait after first tx ────┼─► Execute{txs}
//!                    └─ idle and adaptive ────────────┘      │
//!  Executed ◄────────────────────────────────────────────────┘
//! ```
//!
//! Each validator cuts its own blocks; there is no agreement. One block is
//! executing at a time: while it runs, transactions queue up and form the
//! next block. With `adaptive` on (our default) an idle peer cuts a block as
//! soon as a transaction arrives, so light load commits at once; `block.wait`
//! stays the upper bound on how long a queued transaction waits.

#[cfg(test)]
mod tests;

use crate::machine::Machine;
use crate::time::{Duration, Instant, TimerTable};
use fabrik_proto::protos::Transaction;
use std::collections::VecDeque;

/// NOOPS settings (`noops.block.*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `block.size`: transactions per block.
    pub block_size: usize,
    /// `block.wait`: cut a partial block this long after its first tx.
    pub block_wait: Duration,
    /// Cut at once when no block is executing (latency at light load).
    pub adaptive: bool,
    /// Bound on queued transactions; beyond it submissions are refused.
    pub max_pending: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            block_size: 500,
            block_wait: Duration::from_secs(1),
            adaptive: true,
            max_pending: 20_000,
        }
    }
}

/// Events fed to [`Noops`].
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// A transaction from a local client (Devops, REST): queue and broadcast.
    Submit(Transaction),
    /// A transaction another validator broadcast (`CONSENSUS{TransactionBlock}`).
    FromPeer(Transaction),
    /// The block from the last `Execute` is committed (or failed); the next
    /// one may be cut.
    Executed,
}

/// Effects the driver performs, in order.
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)] // one output per transaction; boxing buys nothing
pub enum Output {
    /// Send this transaction to every connected validator.
    Broadcast(Transaction),
    /// Execute these transactions and commit one block; answer `Executed`.
    Execute(Vec<Transaction>),
}

/// Why an input was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Reject {
    /// The queue is at `max_pending`.
    #[error("consensus queue is full ({0} pending transactions); retry later")]
    Busy(usize),
    /// `Executed` arrived with no block executing.
    #[error("no block is executing")]
    NothingExecuting,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    BlockWait,
}

/// The NOOPS machine.
#[derive(Debug)]
pub struct Noops {
    config: Config,
    queue: VecDeque<Transaction>,
    executing: bool,
    timers: TimerTable<Timer>,
    outputs: VecDeque<Output>,
}

impl Noops {
    /// A machine with an empty queue.
    pub fn new(config: Config) -> Self {
        Self {
            config,
            queue: VecDeque::new(),
            executing: false,
            timers: TimerTable::new(),
            outputs: VecDeque::new(),
        }
    }

    /// Transactions waiting for a block.
    pub fn pending(&self) -> usize {
        self.queue.len()
    }

    fn enqueue(&mut self, now: Instant, tx: Transaction) -> Result<(), Reject> {
        if self.queue.len() >= self.config.max_pending {
            return Err(Reject::Busy(self.queue.len()));
        }
        if self.queue.is_empty() {
            self.timers
                .set(Timer::BlockWait, now + self.config.block_wait);
        }
        self.queue.push_back(tx);
        Ok(())
    }

    fn maybe_cut(&mut self, now: Instant, wait_expired: bool) {
        if self.executing || self.queue.is_empty() {
            return;
        }
        let full = self.queue.len() >= self.config.block_size.max(1);
        if !(full || wait_expired || self.config.adaptive) {
            return;
        }
        let take = self.queue.len().min(self.config.block_size.max(1));
        let txs: Vec<Transaction> = self.queue.drain(..take).collect();
        self.executing = true;
        self.timers.stop(&Timer::BlockWait);
        if !self.queue.is_empty() {
            self.timers
                .set(Timer::BlockWait, now + self.config.block_wait);
        }
        self.outputs.push_back(Output::Execute(txs));
    }
}

impl Machine for Noops {
    type Input = Input;
    type Output = Output;
    type Reject = Reject;

    fn handle(&mut self, now: Instant, input: Input) -> Result<(), Reject> {
        match input {
            Input::Submit(tx) => {
                self.enqueue(now, tx.clone())?;
                self.outputs.push_back(Output::Broadcast(tx));
            }
            Input::FromPeer(tx) => self.enqueue(now, tx)?,
            Input::Executed => {
                if !self.executing {
                    return Err(Reject::NothingExecuting);
                }
                self.executing = false;
                let overdue = self
                    .timers
                    .get(&Timer::BlockWait)
                    .is_some_and(|at| at <= now);
                self.maybe_cut(now, overdue);
                return Ok(());
            }
        }
        self.maybe_cut(now, false);
        Ok(())
    }

    fn handle_timeout(&mut self, now: Instant) {
        if self.timers.expire(now).contains(&Timer::BlockWait) {
            self.maybe_cut(now, true);
        }
    }

    fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        // A block that is due but blocked behind an executing one is cut on
        // `Executed`; no point waking up for it meanwhile.
        if self.executing {
            None
        } else {
            self.timers.next_deadline()
        }
    }
}
