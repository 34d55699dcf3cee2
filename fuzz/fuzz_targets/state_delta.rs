//! cargo-fuzz target `state_delta`: feeds raw bytes to the oracle
//! `fabrik_core::fuzzing::state_delta` (it panics on a violated property).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    fabrik_core::fuzzing::state_delta(data);
});
