//! Tests of the state-transfer machine over [`MemKv`]: a harness with
//! in-test serving peers (honest or faulty), golden first steps, and full
//! catch-ups by deltas and by snapshot.

mod faults;
mod golden;
mod harness;
mod paths;
