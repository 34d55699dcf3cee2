//! The messages that end an execution: COMPLETED and ERROR (Init and
//! Transaction, v0.6 FSM events) and QUERY_COMPLETED / QUERY_ERROR
//! (queries, outside the v0.6 FSM).
//!
//! An ERROR during Init ends the stream (v0.6 `init` → `end`); an ERROR
//! during a transaction only ends that transaction (`transaction` →
//! `ready`).

use super::handler::{Handler, StreamState};
use super::txctx::{CtxKind, Phase};
use super::types::{ExecResult, Reject};
use fabrik_proto::protos::ChaincodeMessage;
use fabrik_proto::protos::chaincode_message::Type;

impl Handler {
    /// The kind of the running execution `msg.txid`; an unknown txid (for
    /// example one that already timed out) is rejected without a reply.
    fn running_kind(&self, msg: &ChaincodeMessage) -> Result<CtxKind, Reject> {
        match self.txs.get(&msg.txid) {
            Some(ctx) if ctx.phase == Phase::Running => Ok(ctx.kind),
            _ => Err(Reject::UnknownTxid {
                txid: msg.txid.clone(),
            }),
        }
    }

    fn mismatch(&self, ty: Type) -> Reject {
        Reject::UnexpectedMessage {
            state: self.state_name(),
            msg_type: ty.as_str_name().to_owned(),
        }
    }

    /// COMPLETED or ERROR for an Init or Transaction (ERROR also ends a
    /// query, which a shim sends when it cannot decode the QUERY).
    pub(crate) fn on_completed_or_error(
        &mut self,
        msg: ChaincodeMessage,
        ty: Type,
    ) -> Result<(), Reject> {
        let kind = self.running_kind(&msg)?;
        match (ty, kind) {
            (Type::Completed, CtxKind::Query) => Err(self.mismatch(ty)),
            (Type::Completed, _) => {
                let payload = msg.payload;
                let event = msg.chaincode_event.map(|mut ev| {
                    ev.chaincode_id = self.name.clone();
                    ev.tx_id = msg.txid.clone();
                    ev
                });
                if kind == CtxKind::Init {
                    self.state = StreamState::Ready;
                }
                self.finish(&msg.txid, ExecResult::Completed { payload, event });
                Ok(())
            }
            (_, _) => {
                let text = String::from_utf8_lossy(&msg.payload).into_owned();
                self.finish(&msg.txid, Self::failure(kind, text.clone()));
                if kind == CtxKind::Init {
                    self.close(format!(
                        "Error initializing chaincode {}: {text}",
                        self.name
                    ));
                }
                Ok(())
            }
        }
    }

    /// QUERY_COMPLETED or QUERY_ERROR for a query.
    pub(crate) fn on_query_result(
        &mut self,
        msg: ChaincodeMessage,
        ty: Type,
    ) -> Result<(), Reject> {
        if self.running_kind(&msg)? != CtxKind::Query {
            return Err(self.mismatch(ty));
        }
        let result = if ty == Type::QueryCompleted {
            ExecResult::QueryCompleted(msg.payload)
        } else {
            ExecResult::QueryFailed(String::from_utf8_lossy(&msg.payload).into_owned())
        };
        self.finish(&msg.txid, result);
        Ok(())
    }
}
