//! Stub calls from user code become GET_STATE / PUT_STATE / DEL_STATE /
//! RANGE_QUERY_STATE* / INVOKE_CHAINCODE / INVOKE_QUERY; the peer's
//! RESPONSE or ERROR for the txid becomes the [`Output::StubReply`].
//!
//! v0.6 `handleGetState` … `handleQueryChaincode`, including the shim-side
//! query-context guards ("Cannot put state in query context", …). With
//! unacked writes granted, a write of a transaction is sent and answered
//! `Done` at once (or posted, unanswered): the peer sends no RESPONSE.

use super::handler::{CallKind, Handler};
use super::types::{Output, RangePage, Reject, RunKind, StubCall, StubValue};
use fabrik_proto::protos::chaincode_message::Type;
use fabrik_proto::protos::{
    ChaincodeId, ChaincodeInput, ChaincodeMessage, ChaincodeSpec, PutStateInfo, RangeQueryState,
    RangeQueryStateClose, RangeQueryStateNext, RangeQueryStateResponse,
};
use prost::Message;

/// The text user code sees for a write or invoke in a query (v0.6).
fn query_guard(call: &StubCall) -> Option<&'static str> {
    match call {
        StubCall::PutState(..) => Some("Cannot put state in query context"),
        StubCall::DelState(_) => Some("Cannot del state in query context"),
        StubCall::InvokeChaincode { .. } => Some("Cannot invoke chaincode in query context"),
        _ => None,
    }
}

fn spec(name: String, args: Vec<Vec<u8>>) -> Vec<u8> {
    ChaincodeSpec {
        chaincode_id: Some(ChaincodeId {
            path: String::new(),
            name,
        }),
        ctor_msg: Some(ChaincodeInput { args }),
        ..Default::default()
    }
    .encode_to_vec()
}

/// The message type, payload and reply kind of a call.
fn request(call: StubCall) -> (Type, Vec<u8>, CallKind) {
    match call {
        StubCall::GetState(key) => (Type::GetState, key.into_bytes(), CallKind::Get),
        StubCall::PutState(key, value) => (
            Type::PutState,
            PutStateInfo { key, value }.encode_to_vec(),
            CallKind::Write,
        ),
        StubCall::DelState(key) => (Type::DelState, key.into_bytes(), CallKind::Write),
        StubCall::RangeQuery { start, end } => {
            let q = RangeQueryState {
                start_key: start,
                end_key: end,
            };
            (Type::RangeQueryState, q.encode_to_vec(), CallKind::Range)
        }
        StubCall::RangeNext { id } => (
            Type::RangeQueryStateNext,
            RangeQueryStateNext { id }.encode_to_vec(),
            CallKind::Range,
        ),
        StubCall::RangeClose { id } => (
            Type::RangeQueryStateClose,
            RangeQueryStateClose { id }.encode_to_vec(),
            CallKind::Range,
        ),
        StubCall::InvokeChaincode { name, args } => {
            (Type::InvokeChaincode, spec(name, args), CallKind::Invoke)
        }
        StubCall::QueryChaincode { name, args } => {
            (Type::InvokeQuery, spec(name, args), CallKind::Query)
        }
    }
}

/// The value of a RESPONSE for a call of `kind`.
fn response_value(kind: CallKind, payload: Vec<u8>) -> Result<StubValue, String> {
    match kind {
        CallKind::Get => Ok(StubValue::State((!payload.is_empty()).then_some(payload))),
        CallKind::Write => Ok(StubValue::Done),
        CallKind::Range => RangeQueryStateResponse::decode(payload.as_slice())
            .map(|r| {
                let entries = r
                    .keys_and_values
                    .into_iter()
                    .map(|kv| (kv.key, kv.value))
                    .collect();
                StubValue::Range(RangePage {
                    entries,
                    has_more: r.has_more,
                    id: r.id,
                })
            })
            .map_err(|e| format!("Error unmarshalling range query response: {e}")),
        CallKind::Invoke => callee_value(payload, Type::Completed),
        CallKind::Query => callee_value(payload, Type::QueryCompleted),
    }
}

/// Unwraps the callee's final message: success only if it is `ok`.
fn callee_value(payload: Vec<u8>, ok: Type) -> Result<StubValue, String> {
    match ChaincodeMessage::decode(payload.as_slice()) {
        Ok(inner) if inner.r#type == ok as i32 => Ok(StubValue::Chaincode(inner.payload)),
        Ok(inner) => Err(String::from_utf8_lossy(&inner.payload).into_owned()),
        Err(e) => Err(format!("Error unmarshalling chaincode response: {e}")),
    }
}

impl Handler {
    fn reply(&mut self, txid: String, result: Result<StubValue, String>) {
        self.out.push_back(Output::StubReply { txid, result });
    }

    /// A stub call: refused locally (query guard, unknown txid, call already
    /// outstanding) or sent to the peer.
    pub(crate) fn on_stub_call(&mut self, txid: String, call: StubCall) -> Result<(), Reject> {
        let Some(ctx) = self.ctxs.get_mut(&txid) else {
            let text = format!("[{txid}]No transaction context for this txid");
            self.reply(txid.clone(), Err(text));
            return Err(Reject::UnknownTxid { txid });
        };
        if ctx.pending.is_some() {
            let text = format!("[{txid}]Another request pending for this Txid. Cannot process.");
            self.reply(txid.clone(), Err(text));
            return Err(Reject::CallPending { txid });
        }
        if ctx.kind == RunKind::Query
            && let Some(text) = query_guard(&call)
        {
            self.reply(txid, Err(text.to_owned()));
            return Ok(());
        }
        let unacked = self.features.unacked_writes && call.can_post();
        let (ty, payload, kind) = request(call);
        if unacked {
            self.send_simple(ty, &txid, payload);
            self.reply(txid, Ok(StubValue::Done));
            return Ok(());
        }
        ctx.pending = Some(kind);
        self.send_simple(ty, &txid, payload);
        Ok(())
    }

    /// A write user code does not wait on. If it cannot go unanswered
    /// (the peer answers writes, a query, a write the ledger would refuse)
    /// it is not sent and the execution ends with ERROR: user code already
    /// went on as if it had succeeded.
    pub(crate) fn on_stub_post(&mut self, txid: String, call: StubCall) -> Result<(), Reject> {
        let unacked = self.features.unacked_writes;
        let Some(ctx) = self.ctxs.get_mut(&txid) else {
            tracing::warn!(%txid, "posted write for a txid that is not running; dropped");
            return Err(Reject::UnknownTxid { txid });
        };
        if !unacked || ctx.kind == RunKind::Query || !call.can_post() {
            let text = format!(
                "[{txid}]write sent without waiting for its answer, but the peer must answer it"
            );
            tracing::warn!(chaincode = %self.name, %txid, "{text}");
            ctx.failed.get_or_insert(text);
            return Err(Reject::CannotPost { txid });
        }
        let (ty, payload, _) = request(call);
        self.send_simple(ty, &txid, payload);
        Ok(())
    }

    /// RESPONSE or ERROR from the peer for a stub call.
    pub(crate) fn on_reply(&mut self, msg: ChaincodeMessage, ty: Type) -> Result<(), Reject> {
        let pending = self
            .ctxs
            .get_mut(&msg.txid)
            .and_then(|ctx| ctx.pending.take());
        let Some(kind) = pending else {
            tracing::warn!(txid = %msg.txid, "{} for a txid with no call outstanding", ty.as_str_name());
            return Err(Reject::UnexpectedReply { txid: msg.txid });
        };
        let result = if ty == Type::Response {
            response_value(kind, msg.payload)
        } else {
            Err(String::from_utf8_lossy(&msg.payload).into_owned())
        };
        self.reply(msg.txid, result);
        Ok(())
    }
}
