//! Building client transactions as v0.6 Devops does (reference §2.5): the
//! deploy transaction (txid = chaincode name) and invoke/query transactions
//! (txid = a random UUID).

use crate::chaincode::package;
use crate::config::ChaincodeMode;
use fabrik_core::ledger::naming::{chaincode_name, format_uuid};
use fabrik_proto::protos::{
    ChaincodeDeploymentSpec, ChaincodeId, ChaincodeInvocationSpec, ChaincodeSpec, Transaction,
    transaction,
};
use prost::Message;
use std::path::Path;

/// A fresh v4 UUID from the operating system's randomness.
pub fn new_txid() -> String {
    format_uuid(rand::random::<[u8; 16]>())
}

/// The deploy transaction for `spec` and the deployment spec it carries.
///
/// In dev mode the chaincode is named by `chaincodeID.name` and no code is
/// packaged. Otherwise `chaincodeID.path` names a chaincode binary (or a
/// package made by `peerd chaincode package`) on this peer's file system; the
/// name is the v0.6 hash of the ctor and the package's files.
///
/// # Errors
/// The v0.6-style reason (blank name/path, unreadable binary, empty ctor).
pub fn deploy_transaction(
    mut spec: ChaincodeSpec,
    mode: ChaincodeMode,
    timestamp: prost_types::Timestamp,
) -> Result<(Transaction, ChaincodeDeploymentSpec), String> {
    let mut id = spec.chaincode_id.clone().unwrap_or_default();
    let code_package = if mode == ChaincodeMode::Dev {
        if id.name.is_empty() {
            return Err(
                "Chaincode name may not be blank in development mode; pass -n <name>".into(),
            );
        }
        Vec::new()
    } else {
        if id.path.is_empty() {
            return Err(
                "Chaincode path may not be blank; pass -p <chaincode binary or package>".into(),
            );
        }
        let bytes = package::from_path(Path::new(&id.path)).map_err(|e| e.to_string())?;
        let files = package::unpack(&bytes).map_err(|e| e.to_string())?.files;
        let ctor = spec.ctor_msg.clone().unwrap_or_default();
        id.name = chaincode_name(&ctor, &files).map_err(|e| e.to_string())?;
        bytes
    };
    spec.chaincode_id = Some(id.clone());
    let deployment = ChaincodeDeploymentSpec {
        chaincode_spec: Some(spec),
        // v0.6's Devops never set it, so the payload bytes match its own.
        effective_date: None,
        code_package,
        exec_env: 0,
    };
    let tx = Transaction {
        r#type: transaction::Type::ChaincodeDeploy as i32,
        chaincode_id: id.encode_to_vec(),
        payload: deployment.encode_to_vec(),
        txid: id.name,
        timestamp: Some(timestamp),
        ..Default::default()
    };
    Ok((tx, deployment))
}

/// An invoke or query transaction for `spec` with a fresh txid.
///
/// # Errors
/// "name not given for invoke/query" (v0.6), or an unsupported id algorithm.
pub fn invocation_transaction(
    spec: &ChaincodeInvocationSpec,
    ty: transaction::Type,
    timestamp: prost_types::Timestamp,
) -> Result<Transaction, String> {
    let cs = spec.chaincode_spec.clone().unwrap_or_default();
    let id: ChaincodeId = cs.chaincode_id.unwrap_or_default();
    if id.name.is_empty() {
        return Err("name not given for invoke/query".into());
    }
    if !spec.id_generation_alg.is_empty() {
        return Err(format!(
            "idGenerationAlg {:?} is not supported by this peer; leave it empty for a random txid",
            spec.id_generation_alg
        ));
    }
    Ok(Transaction {
        r#type: ty as i32,
        chaincode_id: id.encode_to_vec(),
        payload: spec.encode_to_vec(),
        txid: new_txid(),
        timestamp: Some(timestamp),
        ..Default::default()
    })
}
