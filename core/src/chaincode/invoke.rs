//! INVOKE_CHAINCODE and INVOKE_QUERY: chaincode-to-chaincode calls with
//! the same txid, run by io ([`Output::InvokeChaincode`] →
//! [`Input::InvokeDone`](super::Input::InvokeDone)).
//!
//! v0.6 `enterBusyState` (INVOKE_CHAINCODE) and `handleQueryChaincode`
//! (INVOKE_QUERY): the reply is RESPONSE{marshal(callee's final message)}.

use super::handler::Handler;
use super::txctx::Pending;
use super::types::{Output, Reject};
use fabrik_proto::protos::chaincode_message::Type;
use fabrik_proto::protos::{ChaincodeMessage, ChaincodeSpec};
use prost::Message;

impl Handler {
    /// INVOKE_CHAINCODE (transactions only) or INVOKE_QUERY{ChaincodeSpec}.
    pub(crate) fn on_invoke(&mut self, msg: &ChaincodeMessage, query: bool) -> Result<(), Reject> {
        let ty = if query {
            Type::InvokeQuery
        } else {
            Type::InvokeChaincode
        };
        self.check_request(msg, ty, !query)?;
        let spec = match ChaincodeSpec::decode(msg.payload.as_slice()) {
            Ok(spec) => spec,
            Err(e) => return Err(self.malformed(msg, ty, e)),
        };
        self.set_pending(&msg.txid, Pending::Invoke);
        self.out.push_back(Output::InvokeChaincode {
            txid: msg.txid.clone(),
            spec,
            query,
        });
        Ok(())
    }

    /// io ran the callee: RESPONSE{marshal(final message)}, or ERROR{text}.
    pub(crate) fn on_invoke_done(
        &mut self,
        txid: &str,
        result: Result<ChaincodeMessage, String>,
    ) -> Result<(), Reject> {
        self.take_pending(txid, "InvokeChaincode", |p| *p == Pending::Invoke)?;
        match result {
            Ok(last) => self.send_simple(Type::Response, txid, last.encode_to_vec()),
            Err(text) => self.send_simple(Type::Error, txid, text.into_bytes()),
        }
        Ok(())
    }
}
