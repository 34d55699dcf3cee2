//! cargo-fuzz target `chaincode_handler`: feeds raw bytes to the oracle
//! `fabrik_core::fuzzing::chaincode_handler` (it panics on a violated property).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    fabrik_core::fuzzing::chaincode_handler(data);
});
