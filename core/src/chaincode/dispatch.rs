//! Routing of messages from the chaincode: `match (state, type)` to the
//! `on_<message>` functions, and the checks every per-txid request shares
//! (known txid, not busy, transaction context for writes).

use super::handler::{Handler, StreamState};
use super::txctx::{Pending, Phase};
use super::types::Reject;
use fabrik_proto::protos::ChaincodeMessage;
use fabrik_proto::protos::chaincode_message::Type;

impl Handler {
    /// One message from the chaincode.
    pub(crate) fn on_message(&mut self, msg: ChaincodeMessage) -> Result<(), Reject> {
        if self.state == StreamState::Closed {
            return Err(Reject::Closed);
        }
        let Ok(ty) = Type::try_from(msg.r#type) else {
            return Err(self.fatal_unexpected(&msg, msg.r#type.to_string()));
        };
        match (self.state, ty) {
            // v0.6 ignores KEEPALIVE from the shim (it is the shim's echo).
            (_, Type::Keepalive) => Ok(()),
            (StreamState::Created, Type::Register) => self.on_register(&msg),
            (StreamState::Created | StreamState::Registering, _) => {
                Err(self.fatal_unexpected(&msg, ty.as_str_name().to_owned()))
            }
            (_, Type::GetState) => self.on_get_state(&msg),
            (_, Type::PutState) => self.on_put_state(&msg),
            (_, Type::DelState) => self.on_del_state(&msg),
            (_, Type::RangeQueryState) => self.on_range_query(&msg),
            (_, Type::RangeQueryStateNext) => self.on_range_next(&msg),
            (_, Type::RangeQueryStateClose) => self.on_range_close(&msg),
            (_, Type::InvokeChaincode) => self.on_invoke(&msg, false),
            (_, Type::InvokeQuery) => self.on_invoke(&msg, true),
            (_, Type::Completed | Type::Error) => self.on_completed_or_error(msg, ty),
            (_, Type::QueryCompleted | Type::QueryError) => self.on_query_result(msg, ty),
            (_, _) => Err(self.fatal_unexpected(&msg, ty.as_str_name().to_owned())),
        }
    }

    /// The checks before serving a request of `ty` for `msg.txid`: the txid
    /// must be running (else ERROR "No ledger context"), have no request
    /// outstanding (else dropped, as v0.6 does) and, for writes and
    /// INVOKE_CHAINCODE, be a transaction (else ERROR "Cannot handle X in
    /// query context").
    pub(crate) fn check_request(
        &mut self,
        msg: &ChaincodeMessage,
        ty: Type,
        needs_tx: bool,
    ) -> Result<(), Reject> {
        let txid = msg.txid.as_str();
        let busy = matches!(self.txs.get(txid),
            Some(ctx) if ctx.phase == Phase::Running && ctx.pending.is_some());
        if busy {
            tracing::warn!(chaincode = %self.name, %txid, "Another state request pending for this Txid. Cannot process.");
            return Err(Reject::RequestPending {
                txid: txid.to_owned(),
            });
        }
        self.check_context(msg, ty, needs_tx)
    }

    /// [`Handler::check_request`] without the busy check: the txid must be
    /// running and, when `needs_tx`, a transaction.
    pub(crate) fn check_context(
        &mut self,
        msg: &ChaincodeMessage,
        ty: Type,
        needs_tx: bool,
    ) -> Result<(), Reject> {
        let name = ty.as_str_name();
        let txid = msg.txid.as_str();
        let ctx = match self.txs.get(txid) {
            Some(ctx) if ctx.phase == Phase::Running => ctx,
            _ => {
                let text = format!("No ledger context for {name}. Sending ERROR");
                let reject = Reject::UnknownTxid {
                    txid: txid.to_owned(),
                };
                return Err(self.reply_error(txid, &text, reject));
            }
        };
        if needs_tx && !ctx.kind.is_transaction() {
            let text = format!("Cannot handle {name} in query context");
            return Err(self.reply_error(txid, &text, Reject::NotInTransaction { msg_type: name }));
        }
        Ok(())
    }

    /// Marks `txid` busy with `pending`.
    pub(crate) fn set_pending(&mut self, txid: &str, pending: Pending) {
        if let Some(ctx) = self.txs.get_mut(txid) {
            ctx.pending = Some(pending);
        }
    }

    /// Clears the outstanding request of `txid` if it is of the kind `is`
    /// accepts, returning it.
    pub(crate) fn take_pending(
        &mut self,
        txid: &str,
        expected: &'static str,
        is: impl Fn(&Pending) -> bool,
    ) -> Result<Pending, Reject> {
        let Some(ctx) = self.txs.get_mut(txid) else {
            return Err(Reject::UnknownTxid {
                txid: txid.to_owned(),
            });
        };
        match ctx.pending.take() {
            Some(p) if is(&p) => Ok(p),
            other => {
                ctx.pending = other;
                Err(Reject::UnexpectedAnswer {
                    txid: txid.to_owned(),
                    expected,
                })
            }
        }
    }

    /// Replies ERROR "Unable to decipher payload" for an undecodable request.
    pub(crate) fn malformed(
        &mut self,
        msg: &ChaincodeMessage,
        ty: Type,
        err: impl std::fmt::Display,
    ) -> Reject {
        let name = ty.as_str_name();
        let text = format!("Unable to decipher payload of {name}: {err}");
        let reject = Reject::Malformed {
            what: format!("{name} payload"),
        };
        self.reply_error(&msg.txid, &text, reject)
    }
}
