//! INIT / TRANSACTION / QUERY from the peer start user code; its return
//! value goes back as COMPLETED / ERROR (Init, Invoke) or QUERY_COMPLETED /
//! QUERY_ERROR (Query).
//!
//! v0.6 `handleInit`, `handleTransaction`, `handleQuery`: arguments are
//! read from `securityContext.payload` (falling back to `payload` when the
//! peer sent no security context), `function = args[0]`.

use super::handler::{Ctx, Handler, State};
use super::types::{Output, Reject, RunKind};
use fabrik_proto::protos::chaincode_message::Type;
use fabrik_proto::protos::{ChaincodeEvent, ChaincodeInput, ChaincodeMessage};
use prost::Message;

/// The arguments of an INIT / TRANSACTION / QUERY.
fn args_of(msg: &ChaincodeMessage) -> Result<Vec<Vec<u8>>, prost::DecodeError> {
    let bytes = match &msg.security_context {
        Some(sc) if !sc.payload.is_empty() => sc.payload.as_slice(),
        _ => msg.payload.as_slice(),
    };
    ChaincodeInput::decode(bytes).map(|input| input.args)
}

impl Handler {
    /// INIT in `established` → `init`.
    pub(crate) fn on_init(&mut self, msg: ChaincodeMessage) -> Result<(), Reject> {
        if self.start(&msg, RunKind::Init)? {
            self.state = State::Init;
        }
        Ok(())
    }

    /// TRANSACTION in `ready` → `transaction`.
    pub(crate) fn on_transaction(&mut self, msg: ChaincodeMessage) -> Result<(), Reject> {
        if self.start(&msg, RunKind::Invoke)? {
            self.state = State::Transaction;
        }
        Ok(())
    }

    /// QUERY in `ready` or `transaction` (no state change).
    pub(crate) fn on_query(&mut self, msg: ChaincodeMessage) -> Result<(), Reject> {
        if self.ctxs.contains_key(&msg.txid) {
            return Err(Reject::DuplicateTxid { txid: msg.txid });
        }
        if self.ctxs.len() >= self.config.max_in_flight {
            let text = "Too many concurrent queries".as_bytes().to_vec();
            self.send_simple(Type::QueryError, &msg.txid, text);
            return Err(Reject::TooManyInFlight);
        }
        self.start(&msg, RunKind::Query).map(|_| ())
    }

    /// Decodes the arguments and emits [`Output::Run`]; on a decode error
    /// replies ERROR (QUERY_ERROR for a query) and returns `false`.
    fn start(&mut self, msg: &ChaincodeMessage, kind: RunKind) -> Result<bool, Reject> {
        if self.ctxs.contains_key(&msg.txid) {
            // A second run of a txid still running (a TRANSACTION while its
            // QUERY waits on a stub call, say) would replace its context and
            // leave that call unanswered for good.
            let text = format!(
                "[{}]Another request pending for this Txid. Cannot process.",
                msg.txid
            );
            self.send_simple(Type::Error, &msg.txid, text.into_bytes());
            return Err(Reject::DuplicateTxid {
                txid: msg.txid.clone(),
            });
        }
        let args = match args_of(msg) {
            Ok(args) => args,
            Err(e) => {
                let ty = if kind == RunKind::Query {
                    Type::QueryError
                } else {
                    Type::Error
                };
                self.send_simple(ty, &msg.txid, e.to_string().into_bytes());
                return Ok(false);
            }
        };
        let txid = msg.txid.clone();
        self.ctxs.insert(
            txid.clone(),
            Ctx {
                kind,
                pending: None,
                failed: None,
            },
        );
        let tx_timestamp = msg.security_context.as_ref().and_then(|sc| sc.tx_timestamp);
        self.out.push_back(Output::Run {
            txid,
            kind,
            args,
            tx_timestamp,
        });
        Ok(true)
    }

    /// User code returned: COMPLETED / ERROR (with the event) through the
    /// FSM, or QUERY_COMPLETED / QUERY_ERROR directly.
    pub(crate) fn on_returned(
        &mut self,
        txid: &str,
        result: Result<Vec<u8>, String>,
        event: Option<ChaincodeEvent>,
    ) -> Result<(), Reject> {
        let Some(ctx) = self.ctxs.remove(txid) else {
            return Err(Reject::UnknownTxid {
                txid: txid.to_owned(),
            });
        };
        if ctx.pending.is_some() {
            // Every stub call gets exactly one reply, even when the user code
            // returned without waiting for it.
            self.out.push_back(Output::StubReply {
                txid: txid.to_owned(),
                result: Err(format!("transaction {txid} already returned")),
            });
        }
        let result = match ctx.failed {
            Some(text) => Err(text),
            None => result,
        };
        let (ty, payload) = match (ctx.kind, result) {
            (RunKind::Query, Ok(p)) => (Type::QueryCompleted, p),
            (RunKind::Query, Err(e)) => (Type::QueryError, e.into_bytes()),
            (_, Ok(p)) => (Type::Completed, p),
            (_, Err(e)) => (Type::Error, e.into_bytes()),
        };
        let invokes_left = self.ctxs.values().any(|c| c.kind == RunKind::Invoke);
        self.state = match (ctx.kind, ty) {
            (RunKind::Query, _) => self.state,
            (RunKind::Init, Type::Error) => State::Established,
            // Concurrent transactions: the stream stays in `transaction`
            // until the last one returns.
            (RunKind::Invoke, _) if invokes_left => State::Transaction,
            _ => State::Ready,
        };
        let chaincode_event = if ctx.kind == RunKind::Query {
            None
        } else {
            event
        };
        self.send(ChaincodeMessage {
            r#type: ty as i32,
            payload,
            txid: txid.to_owned(),
            chaincode_event,
            ..Default::default()
        });
        Ok(())
    }
}
