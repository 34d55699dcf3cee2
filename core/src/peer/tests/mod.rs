//! Golden-output tests of the peer machines: one input, the exact outputs.

mod discovery_tests;
mod handler_tests;
