//! GET_STATE, PUT_STATE and DEL_STATE from the chaincode, and io's answers
//! ([`Input::StateValue`](super::Input::StateValue),
//! [`Input::WriteDone`](super::Input::WriteDone)).
//!
//! v0.6 `handleGetState`, `enterBusyState` (PUT/DEL) and the RESPONSE/ERROR
//! it injects after the ledger call; with
//! [`Features::unacked_writes`](super::Features) a write is handed to io
//! without a busy phase and without an answer.

use super::handler::Handler;
use super::txctx::Pending;
use super::types::{Output, Reject};
use fabrik_proto::protos::chaincode_message::Type;
use fabrik_proto::protos::{ChaincodeMessage, PutStateInfo};
use prost::Message;

impl Handler {
    /// GET_STATE{key}: ask io for the value.
    pub(crate) fn on_get_state(&mut self, msg: &ChaincodeMessage) -> Result<(), Reject> {
        self.check_request(msg, Type::GetState, false)?;
        let key = self.key_of(msg, Type::GetState)?;
        self.set_pending(&msg.txid, Pending::Read);
        self.out.push_back(Output::ReadState {
            txid: msg.txid.clone(),
            key,
        });
        Ok(())
    }

    /// PUT_STATE{PutStateInfo}: ask io to write (transactions only).
    pub(crate) fn on_put_state(&mut self, msg: &ChaincodeMessage) -> Result<(), Reject> {
        self.check_write(msg, Type::PutState)?;
        let info = match PutStateInfo::decode(msg.payload.as_slice()) {
            Ok(info) => info,
            Err(e) => return Err(self.malformed(msg, Type::PutState, e)),
        };
        self.mark_write_pending(&msg.txid);
        let (txid, key, value) = (msg.txid.clone(), info.key, info.value);
        self.out.push_back(Output::WriteState { txid, key, value });
        Ok(())
    }

    /// DEL_STATE{key}: ask io to delete (transactions only).
    pub(crate) fn on_del_state(&mut self, msg: &ChaincodeMessage) -> Result<(), Reject> {
        self.check_write(msg, Type::DelState)?;
        let key = self.key_of(msg, Type::DelState)?;
        self.mark_write_pending(&msg.txid);
        self.out.push_back(Output::DeleteState {
            txid: msg.txid.clone(),
            key,
        });
        Ok(())
    }

    /// The checks before a write. An unacked write is not a request the
    /// shim waits on, so it neither needs nor takes the txid's busy phase: a
    /// shim may send one while its GET_STATE is still unanswered.
    fn check_write(&mut self, msg: &ChaincodeMessage, ty: Type) -> Result<(), Reject> {
        if self.features.unacked_writes {
            self.check_context(msg, ty, true)
        } else {
            self.check_request(msg, ty, true)
        }
    }

    /// Enters the busy phase of a write, unless writes are unacked.
    fn mark_write_pending(&mut self, txid: &str) {
        if !self.features.unacked_writes {
            self.set_pending(txid, Pending::Write);
        }
    }

    /// The key carried as raw bytes in GET_STATE / DEL_STATE.
    fn key_of(&mut self, msg: &ChaincodeMessage, ty: Type) -> Result<String, Reject> {
        match String::from_utf8(msg.payload.clone()) {
            Ok(key) => Ok(key),
            Err(e) => Err(self.malformed(msg, ty, e)),
        }
    }

    /// io read the value: RESPONSE{value}; a missing key is an empty
    /// RESPONSE, not an error (v0.6).
    pub(crate) fn on_state_value(
        &mut self,
        txid: &str,
        value: Option<Vec<u8>>,
    ) -> Result<(), Reject> {
        self.take_pending(txid, "ReadState", |p| *p == Pending::Read)?;
        self.send_simple(Type::Response, txid, value.unwrap_or_default());
        Ok(())
    }

    /// io wrote or deleted: empty RESPONSE, or ERROR{text}.
    pub(crate) fn on_write_done(
        &mut self,
        txid: &str,
        result: Result<(), String>,
    ) -> Result<(), Reject> {
        self.take_pending(txid, "WriteState/DeleteState", |p| *p == Pending::Write)?;
        match result {
            Ok(()) => self.send_simple(Type::Response, txid, Vec::new()),
            Err(text) => self.send_simple(Type::Error, txid, text.into_bytes()),
        }
        Ok(())
    }
}
