//! cargo-fuzz target `pbft_cluster`: feeds raw bytes to the oracle
//! `fabrik_core::fuzzing::pbft_cluster` (it panics on a violated property).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    fabrik_core::fuzzing::pbft_cluster(data);
});
