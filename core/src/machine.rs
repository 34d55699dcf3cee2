//! The one contract every protocol state machine in fabrik implements.
//!
//! The driver in `fabrik-io` runs any [`Machine`]: it computes the deadline
//! from [`Machine::poll_timeout`], waits for an input or the deadline, calls
//! [`Machine::handle`] or [`Machine::handle_timeout`] with the current time,
//! then drains [`Machine::poll_output`] to `None`, executing every output in
//! order (and waiting for a persist output to be durable before performing
//! the outputs after it).

use crate::time::Instant;

/// A sans-IO protocol participant.
pub trait Machine {
    /// Events fed to the machine (messages, replies to its requests).
    type Input;
    /// Effects the driver must carry out, in order.
    type Output;
    /// Why an input was refused. The machine stays usable after a rejection.
    type Reject;

    /// Feeds one input.
    ///
    /// # Errors
    /// A typed rejection for input that is malformed, unauthorised, out of
    /// window or otherwise unacceptable; the machine's state is unchanged.
    fn handle(&mut self, now: Instant, input: Self::Input) -> Result<(), Self::Reject>;

    /// Time has reached the deadline given by [`Machine::poll_timeout`]. A call
    /// with `now` earlier than every deadline does nothing.
    fn handle_timeout(&mut self, now: Instant);

    /// The next output, or `None` when drained.
    fn poll_output(&mut self) -> Option<Self::Output>;

    /// The earliest deadline at which [`Machine::handle_timeout`] must be called.
    fn poll_timeout(&self) -> Option<Instant>;
}
