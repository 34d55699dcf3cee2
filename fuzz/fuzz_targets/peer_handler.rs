//! cargo-fuzz target `peer_handler`: feeds raw bytes to the oracle
//! `fabrik_core::fuzzing::peer_handler` (it panics on a violated property).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    fabrik_core::fuzzing::peer_handler(data);
});
