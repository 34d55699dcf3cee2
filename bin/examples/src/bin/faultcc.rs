//! The `faultcc` chaincode process (example02 that can be told to crash or
//! hang mid-transaction; for tests): registers with the peer given by
//! `-peer.address=<addr>` (or `CORE_PEER_ADDRESS`) under
//! `CORE_CHAINCODE_ID_NAME` and serves until the stream ends.

fn main() {
    fabrik_examples::run_main(fabrik_examples::FaultChaincode);
}
