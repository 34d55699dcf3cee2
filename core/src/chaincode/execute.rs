//! Registration (REGISTER → REGISTERED), executions started by the peer
//! (INIT / READY / TRANSACTION / QUERY) and their deadlines.
//!
//! v0.6 `initOrReady`, `sendExecuteMessage` and `beforeRegisterEvent`.

use super::handler::{Handler, StreamState, Timer};
use super::txctx::{CtxKind, Phase, TxCtx};
use super::types::{ExecKind, ExecResult, Output, Reject, TIMEOUT_TEXT};
use crate::time::Instant;
use fabrik_proto::Timestamp;
use fabrik_proto::protos::chaincode_message::Type;
use fabrik_proto::protos::{
    ChaincodeId, ChaincodeInput, ChaincodeMessage, ChaincodeSecurityContext,
};
use prost::Message;

/// The message that starts an execution. The arguments go both in
/// `payload` and in `securityContext.payload`, where the v0.6 Go shim reads
/// them, with the tx timestamp in `securityContext.txTimestamp`.
pub fn exec_message(
    kind: ExecKind,
    txid: &str,
    input: &ChaincodeInput,
    tx_timestamp: Option<Timestamp>,
) -> ChaincodeMessage {
    let ty = match kind {
        ExecKind::Init => Type::Init,
        ExecKind::Ready => Type::Ready,
        ExecKind::Transaction => Type::Transaction,
        ExecKind::Query => Type::Query,
    };
    let payload = input.encode_to_vec();
    ChaincodeMessage {
        r#type: ty as i32,
        payload: payload.clone(),
        txid: txid.to_owned(),
        security_context: Some(ChaincodeSecurityContext {
            payload,
            tx_timestamp,
            ..Default::default()
        }),
        ..Default::default()
    }
}

impl Handler {
    /// REGISTER in `created`: decode the ChaincodeID and ask io to register
    /// the name; REGISTERED follows once io accepts it.
    pub(crate) fn on_register(&mut self, msg: &ChaincodeMessage) -> Result<(), Reject> {
        let name = match ChaincodeId::decode(msg.payload.as_slice()) {
            Ok(id) if !id.name.is_empty() => id.name,
            Ok(_) => return Err(self.refuse_register(msg, "REGISTER without a chaincode name")),
            Err(e) => {
                let what = format!("REGISTER payload: {e}");
                return Err(self.refuse_register(msg, &what));
            }
        };
        self.name = name.clone();
        self.state = StreamState::Registering;
        self.features = self
            .config
            .features
            .grant(super::Features::parse(&msg.txid));
        let features = self.features;
        self.out.push_back(Output::Registered { name, features });
        Ok(())
    }

    /// io registered the name: reply REGISTERED and enter `established`.
    pub(crate) fn on_register_accepted(&mut self) -> Result<(), Reject> {
        if self.state != StreamState::Registering {
            return Err(Reject::UnexpectedMessage {
                state: self.state_name(),
                msg_type: "RegisterAccepted".to_owned(),
            });
        }
        tracing::info!(chaincode = %self.name, "chaincode registered");
        self.state = StreamState::Established;
        let marker = self.features.marker();
        self.send_simple(Type::Registered, &marker, Vec::new());
        Ok(())
    }

    fn refuse_register(&mut self, msg: &ChaincodeMessage, what: &str) -> Reject {
        let text = format!("Error registering chaincode: malformed {what}");
        self.send_simple(Type::Error, &msg.txid, text.as_bytes().to_vec());
        self.close(format!("unregistered chaincode: {text}"));
        Reject::Malformed {
            what: what.to_owned(),
        }
    }

    /// io refused the registered name (a duplicate): ERROR, then close.
    pub(crate) fn on_register_refused(&mut self, reason: String) -> Result<(), Reject> {
        match self.state {
            StreamState::Registering => {
                self.send_simple(Type::Error, "", reason.as_bytes().to_vec());
                self.close(reason);
                Ok(())
            }
            _ => Err(Reject::UnexpectedMessage {
                state: self.state_name(),
                msg_type: "RegisterRefused".to_owned(),
            }),
        }
    }

    /// Starts an execution, or answers it at once with a failure.
    pub(crate) fn on_execute(
        &mut self,
        txid: String,
        kind: ExecKind,
        input: ChaincodeInput,
        tx_timestamp: Option<Timestamp>,
        deadline: Instant,
    ) -> Result<(), Reject> {
        if let Err(reject) = self.admit(&txid, kind) {
            let text = format!("{}: {reject}", self.who());
            let result = match kind {
                ExecKind::Query => ExecResult::QueryFailed(text),
                _ => ExecResult::Failed(text),
            };
            self.out.push_back(Output::Finished { txid, result });
            return Err(reject);
        }
        let msg = exec_message(kind, &txid, &input, tx_timestamp);
        let Some(ctx_kind) = CtxKind::from_exec(kind) else {
            // READY: v0.6 moves established→ready and notifies the waiter with
            // the READY message itself; the shim sends no reply.
            self.state = StreamState::Ready;
            self.send(msg);
            let result = ExecResult::Completed {
                payload: Vec::new(),
                event: None,
            };
            self.out.push_back(Output::Finished { txid, result });
            return Ok(());
        };
        self.timers.set(Timer::Deadline(txid.clone()), deadline);
        let phase = self.take_slot_or_queue(ctx_kind, &txid, msg);
        self.txs.insert(
            txid,
            TxCtx {
                kind: ctx_kind,
                phase,
                pending: None,
            },
        );
        Ok(())
    }

    /// Whether an execution of `kind` may start now.
    fn admit(&self, txid: &str, kind: ExecKind) -> Result<(), Reject> {
        let state_ok = match kind {
            ExecKind::Init | ExecKind::Ready => self.state == StreamState::Established,
            ExecKind::Transaction | ExecKind::Query => self.state == StreamState::Ready,
        };
        if self.state == StreamState::Closed {
            return Err(Reject::Closed);
        }
        if !state_ok {
            return Err(Reject::NotReady {
                state: self.state_name(),
                kind,
            });
        }
        if self.txs.contains_key(txid) {
            return Err(Reject::DuplicateTxid {
                txid: txid.to_owned(),
            });
        }
        if self.txs.len() >= self.config.max_in_flight {
            return Err(Reject::TooManyInFlight);
        }
        Ok(())
    }

    /// Queries run at once; Init and Transaction need the stream's single
    /// transaction slot (the v0.6 shim FSM takes one TRANSACTION at a time)
    /// and wait for it in FIFO order, unless the shim registered for
    /// concurrent transactions.
    fn take_slot_or_queue(&mut self, kind: CtxKind, txid: &str, msg: ChaincodeMessage) -> Phase {
        match kind {
            CtxKind::Query => {
                self.send(msg);
                Phase::Running
            }
            CtxKind::Init => {
                self.state = StreamState::Init;
                self.slot = Some(txid.to_owned());
                self.send(msg);
                Phase::Running
            }
            CtxKind::Transaction if self.features.concurrent_transactions => {
                self.send(msg);
                Phase::Running
            }
            CtxKind::Transaction if self.slot.is_none() => {
                self.slot = Some(txid.to_owned());
                self.send(msg);
                Phase::Running
            }
            CtxKind::Transaction => {
                self.queue.push_back(txid.to_owned());
                Phase::Queued(Box::new(msg))
            }
        }
    }

    /// The deadline of `txid` passed. A timed-out Init ends the stream, as a
    /// failed Init does in v0.6.
    pub(crate) fn on_deadline(&mut self, txid: &str) {
        let Some(kind) = self.txs.get(txid).map(|c| c.kind) else {
            return;
        };
        tracing::warn!(chaincode = %self.name, %txid, "execution timed out");
        self.finish(txid, Self::failure(kind, TIMEOUT_TEXT.to_owned()));
        if kind == CtxKind::Init {
            let reason = format!("{}: Timeout expired while initializing", self.who());
            self.close(reason);
        }
    }
}
