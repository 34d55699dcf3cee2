//! cargo-fuzz target `wire_peer`: feeds raw bytes to the oracle
//! `fabrik_core::fuzzing::wire_peer` (it panics on a violated property).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    fabrik_core::fuzzing::wire_peer(data);
});
