//! Shared fixtures of the core and io benches (io includes this file by
//! path): realistic v0.6 invoke transactions
//! and the short criterion configuration every bench uses.

#![allow(dead_code)] // each bench uses a subset

use std::time::Duration;

use criterion::Criterion;
use fabrik_proto::protos::transaction::Type as TxType;
use fabrik_proto::protos::{
    ChaincodeId, ChaincodeInput, ChaincodeInvocationSpec, ChaincodeSpec, Transaction,
};
use fabrik_proto::{ProstMessage, Timestamp};

/// Criterion settings sized for a 2-core VM shared with other work: short
/// warm-up and measurement so a whole bench file runs in well under a
/// minute (`-- --quick` shortens it further).
pub fn criterion() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(20)
        .configure_from_args()
}

/// A 128-hex-character chaincode name, as v0.6 derives for a deployed
/// package.
pub fn chaincode_name() -> String {
    "ab".repeat(64)
}

/// An example02-style invoke (`invoke a b 10`) with txid `tx-<i>`: about
/// the size of what a real client submits (~350 bytes marshalled).
pub fn invoke_tx(i: u64) -> Transaction {
    let name = chaincode_name();
    let spec = ChaincodeSpec {
        r#type: 1,
        chaincode_id: Some(ChaincodeId {
            path: String::new(),
            name: name.clone(),
        }),
        ctor_msg: Some(ChaincodeInput {
            args: vec![
                b"invoke".to_vec(),
                b"a".to_vec(),
                b"b".to_vec(),
                b"10".to_vec(),
            ],
        }),
        ..Default::default()
    };
    let invocation = ChaincodeInvocationSpec {
        chaincode_spec: Some(spec),
        id_generation_alg: String::new(),
    };
    Transaction {
        r#type: TxType::ChaincodeInvoke as i32,
        chaincode_id: ChaincodeId {
            path: String::new(),
            name,
        }
        .encode_to_vec(),
        payload: invocation.encode_to_vec(),
        txid: format!("{i:08x}-1c2d-4e5f-8a9b-{i:012x}"),
        timestamp: Some(Timestamp {
            seconds: 1_700_000_000 + i as i64,
            nanos: 0,
        }),
        ..Default::default()
    }
}
