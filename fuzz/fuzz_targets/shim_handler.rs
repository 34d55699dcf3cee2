//! cargo-fuzz target `shim_handler`: feeds raw bytes to the oracle
//! `fabrik_core::fuzzing::shim_handler` (it panics on a violated property).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    fabrik_core::fuzzing::shim_handler(data);
});
