//! The run loop that drives any [`Machine`] (str0m / quinn shape):
//!
//! 1. compute the deadline from `poll_timeout`;
//! 2. wait for an input from the bounded inbox, the deadline or shutdown
//!    (with [`run_lanes`], from two inboxes, the control lane always first);
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
    run_lanes(machine, inbox, None, effects, clock).await;
}

/// Like [`run`], with a second, bulk inbox (client requests) that is read
/// only while the control inbox is empty, so a flood of bulk inputs can
/// delay but never crowd out the inputs that keep the machine making
/// progress. Ends when the control inbox closes.
pub async fn run_lanes<M, E>(
    machine: &mut M,
    control: &mut mpsc::Receiver<M::Input>,
    mut bulk: Option<&mut mpsc::Receiver<M::Input>>,
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
                    input = next(control, &mut bulk) => input,
                    () = tokio::time::sleep_until(clock.to_tokio(at)) => {
                        machine.handle_timeout(clock.now());
                        drain(machine, effects).await;
                        continue;
                    }
                }
            }
            None => next(control, &mut bulk).await,
        };
        let Some(input) = input else { return };
        if let Err(reject) = machine.handle(clock.now(), input) {
            effects.rejected(reject);
        }
        drain(machine, effects).await;
    }
}

/// The next input: the control lane's whenever it has one, else the bulk
/// lane's; `None` once the control lane is closed. A closed bulk lane is
/// dropped and the control lane read alone.
async fn next<T>(
    control: &mut mpsc::Receiver<T>,
    bulk: &mut Option<&mut mpsc::Receiver<T>>,
) -> Option<T> {
    loop {
        let Some(lane) = bulk.as_deref_mut() else {
            return control.recv().await;
        };
        tokio::select! {
            biased;
            input = control.recv() => return input,
            input = lane.recv() => match input {
                Some(input) => return Some(input),
                None => *bulk = None,
            },
        }
    }
}

async fn drain<M: Machine, E: Effects<M>>(machine: &mut M, effects: &mut E) {
    while let Some(output) = machine.poll_output() {
        effects.perform(output).await;
    }
    effects.drained().await;
    effects.observe(machine);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn control_inputs_overtake_queued_bulk_inputs() {
        let (control_tx, mut control) = mpsc::channel(4);
        let (bulk_tx, mut bulk) = mpsc::channel(4);
        bulk_tx.send("request 1").await.unwrap();
        bulk_tx.send("request 2").await.unwrap();
        control_tx.send("commit").await.unwrap();
        let mut lane = Some(&mut bulk);
        assert_eq!(next(&mut control, &mut lane).await, Some("commit"));
        assert_eq!(next(&mut control, &mut lane).await, Some("request 1"));
        control_tx.send("checkpoint").await.unwrap();
        assert_eq!(next(&mut control, &mut lane).await, Some("checkpoint"));
        assert_eq!(next(&mut control, &mut lane).await, Some("request 2"));
    }

    #[tokio::test]
    async fn a_closed_bulk_lane_leaves_the_control_lane_running() {
        let (control_tx, mut control) = mpsc::channel(4);
        let (bulk_tx, mut bulk) = mpsc::channel::<&str>(4);
        drop(bulk_tx);
        let mut lane = Some(&mut bulk);
        // The control input arrives only after the bulk lane was seen closed.
        let late = tokio::spawn(async move {
            tokio::task::yield_now().await;
            control_tx.send("executed").await.unwrap();
            control_tx
        });
        assert_eq!(next(&mut control, &mut lane).await, Some("executed"));
        assert!(lane.is_none(), "the closed bulk lane is dropped");
        drop(late.await.unwrap());
        assert_eq!(next(&mut control, &mut lane).await, None);
    }

    #[tokio::test]
    async fn the_loop_ends_when_the_control_lane_closes() {
        let (control_tx, mut control) = mpsc::channel::<u8>(1);
        let (bulk_tx, mut bulk) = mpsc::channel(1);
        bulk_tx.send(1).await.unwrap();
        drop(control_tx);
        let mut lane = Some(&mut bulk);
        assert_eq!(next(&mut control, &mut lane).await, None);
    }
}
