//! The run loop that drives any [`Machine`] (str0m / quinn shape):
//!
//! 1. compute the deadline from `poll_timeout`;
//! 2. wait for an input from the bounded inbox, the deadline or shutdown;
//! 3. call `handle(now, input)` or `handle_timeout(now)`;
//! 4. drain `poll_output` to `None`, performing every output in order and
//!    awaiting each one (so a persist completes before later sends).
//!
//! The machine is owned by its task; nothing else touches it.

use fabrik_core::machine::Machine;
use fabrik_core::time::Instant;
use std::future::Future;
use tokio::sync::mpsc;

/// Converts between tokio's clock and the core's injected [`Instant`].
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    epoch: tokio::time::Instant,
}

impl Default for Clock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock {
    /// A clock whose epoch is now.
    pub fn new() -> Self {
        Self {
            epoch: tokio::time::Instant::now(),
        }
    }

    /// The current time as a core instant.
    pub fn now(&self) -> Instant {
        let nanos = self.epoch.elapsed().as_nanos();
        Instant::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }

    /// The tokio instant of a core deadline.
    pub fn to_tokio(&self, at: Instant) -> tokio::time::Instant {
        self.epoch + std::time::Duration::from_nanos(at.as_nanos())
    }
}

/// What a driven machine's outputs do in the world.
pub trait Effects<M: Machine> {
    /// Performs one output. The driver awaits it before the next one.
    fn perform(&mut self, output: M::Output) -> impl Future<Output = ()> + Send;

    /// An input was refused by the machine (log it, count it).
    fn rejected(&mut self, reject: M::Reject);

    /// Called once the outputs of one step are all performed (a place to
    /// flush work batched across outputs).
    fn drained(&mut self) -> impl Future<Output = ()> + Send {
        async {}
    }

    /// Looks at the machine after each step (for gauges such as the
    /// current view); must not change anything.
    fn observe(&mut self, _machine: &M) {}

    /// Whether the loop should end (checked after every drain).
    fn should_stop(&self) -> bool {
        false
    }
}

/// Runs `machine` until its inbox closes or [`Effects::should_stop`] says so.
pub async fn run<M, E>(
    machine: &mut M,
    inbox: &mut mpsc::Receiver<M::Input>,
    effects: &mut E,
    clock: Clock,
) where
    M: Machine + Send,
    M::Input: Send,
    E: Effects<M> + Send,
{
    while !effects.should_stop() {
        let deadline = machine.poll_timeout();
        let input = match deadline {
            Some(at) if clock.now() >= at => {
                machine.handle_timeout(clock.now());
                drain(machine, effects).await;
                continue;
            }
            Some(at) => {
                tokio::select! {
                    input = inbox.recv() => input,
                    () = tokio::time::sleep_until(clock.to_tokio(at)) => {
                        machine.handle_timeout(clock.now());
                        drain(machine, effects).await;
                        continue;
                    }
                }
            }
            None => inbox.recv().await,
        };
        let Some(input) = input else { return };
        if let Err(reject) = machine.handle(clock.now(), input) {
            effects.rejected(reject);
        }
        drain(machine, effects).await;
    }
}

async fn drain<M: Machine, E: Effects<M>>(machine: &mut M, effects: &mut E) {
    while let Some(output) = machine.poll_output() {
        effects.perform(output).await;
    }
    effects.drained().await;
    effects.observe(machine);
}
