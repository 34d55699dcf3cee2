//! cargo-fuzz target `wire_pbft`: feeds raw bytes to the oracle
//! `fabrik_core::fuzzing::wire_pbft` (it panics on a violated property).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    fabrik_core::fuzzing::wire_pbft(data);
});
