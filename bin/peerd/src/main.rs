//! `peerd`: the fabrik peer binary.
fn main() {}
