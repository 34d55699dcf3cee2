//! One execution of a chaincode for one transaction, including the
//! chaincodes it calls: hands `Execute` to the chaincode's stream and serves
//! its state requests from a [`StateAccess`] until it finishes.
//!
//! Chaincode-to-chaincode calls run on the callee's stream with the same
//! txid and the same tx context; the callee's final message goes back to the
//! caller as its INVOKE_CHAINCODE/INVOKE_QUERY answer.
//!
//! On a stream with unacked writes no `WriteDone` is sent: a write the
//! ledger refuses is remembered, and the transaction (and any callee that
//! finishes after it) ends with the ledger's text instead of COMPLETED.
//! This lives here rather than in the stream's handler because the shim
//! does not wait for the write: its COMPLETED can reach the handler before
//! io has applied the write, while this task sees every write before the
//! `Finished` that follows it.

use super::context::StateAccess;
use crate::chaincode::launcher::Launcher;
use crate::chaincode::stream::{ExecEvent, StreamHandle};
use fabrik_core::chaincode::{ExecKind, ExecResult, Input, Output, TIMEOUT_TEXT};
use fabrik_proto::protos::{ChaincodeInput, ChaincodeMessage, ChaincodeSpec, chaincode_message};
use std::time::Duration;
use tokio::sync::mpsc;

/// Bound of one execution's event channel.
const EVENTS: usize = 64;
/// Depth of nested chaincode calls allowed in one transaction.
const MAX_CALL_DEPTH: usize = 8;

/// What one execution needs from the node.
pub struct Execution<'a> {
    /// Starts or finds chaincodes.
    pub launcher: &'a Launcher,
    /// Finds a callee's code package (its deploy transaction) by name.
    pub code_package: &'a (dyn Fn(&str) -> Option<Vec<u8>> + Sync),
    /// The transaction id.
    pub txid: &'a str,
    /// Its timestamp (passed to the chaincode).
    pub tx_timestamp: Option<prost_types::Timestamp>,
    /// How long a chaincode may take.
    pub timeout: Duration,
}

struct Frame {
    callee: String,
    caller: StreamHandle,
    query: bool,
}

impl Execution<'_> {
    /// Runs `kind` on the connected `stream` (chaincode `name`) and serves it.
    pub async fn run(
        &self,
        state: &mut dyn StateAccess,
        name: &str,
        stream: &StreamHandle,
        kind: ExecKind,
        input: ChaincodeInput,
    ) -> ExecResult {
        let (sink, mut events) = mpsc::channel(EVENTS);
        let started = stream
            .execute(
                self.txid,
                kind,
                input,
                self.tx_timestamp,
                self.timeout,
                sink.clone(),
            )
            .await;
        let ticket = match started {
            Ok(ticket) => ticket,
            Err(e) => {
                tracing::debug!(
                    chaincode = name,
                    txid = self.txid,
                    ?kind,
                    "execution not started: {e}"
                );
                return failed(kind, e.to_string());
            }
        };
        tracing::trace!(
            chaincode = name,
            txid = self.txid,
            ?kind,
            "execution started"
        );
        let top_query = kind == ExecKind::Query;
        let mut frames: Vec<Frame> = Vec::new();
        let mut write_error: Option<String> = None;
        // A margin over the handler's own deadline: the handler reports the
        // timeout itself; this only guards against a vanished stream task.
        let guard = self.timeout + Duration::from_secs(5);
        loop {
            let Ok(Some(ev)) = tokio::time::timeout(guard, events.recv()).await else {
                tracing::warn!(
                    chaincode = name,
                    txid = self.txid,
                    "no answer from the chaincode's stream within {guard:?}; abandoning the execution"
                );
                stream.abandon(self.txid, ticket);
                self.launcher.kill(name, stream).await;
                return failed(kind, format!("chaincode {name} stopped answering"));
            };
            let query = top_query || frames.iter().any(|f| f.query && f.callee == ev.chaincode);
            match ev.output {
                Output::Finished { result, .. } => {
                    let result = refused_write(result, write_error.as_deref());
                    match frames.iter().rposition(|f| f.callee == ev.chaincode) {
                        Some(i) => {
                            let frame = frames.remove(i);
                            let reply = Input::InvokeDone {
                                txid: self.txid.into(),
                                result: Ok(final_message(&result)),
                            };
                            let _ = frame.caller.send(reply).await;
                        }
                        None => {
                            if timed_out(&result) {
                                // A chaincode that let a transaction time out is
                                // restarted on next use rather than trusted again.
                                tracing::warn!(
                                    chaincode = name,
                                    txid = self.txid,
                                    "execution timed out; stopping the chaincode"
                                );
                                self.launcher.kill(name, stream).await;
                            }
                            return result;
                        }
                    }
                }
                Output::InvokeChaincode { spec, query: q, .. } => {
                    let caller = self.stream_of(&ev.chaincode, name, stream, &frames);
                    match self.call(spec, q || query, &sink, frames.len()).await {
                        Ok(callee) => frames.push(Frame {
                            callee,
                            caller,
                            query: q || query,
                        }),
                        Err(e) => {
                            let _ = caller
                                .send(Input::InvokeDone {
                                    txid: self.txid.into(),
                                    result: Err(e),
                                })
                                .await;
                        }
                    }
                }
                other => {
                    let target = self.stream_of(&ev.chaincode, name, stream, &frames);
                    match serve(state, &ev.chaincode, query, self.txid, other) {
                        Some(Input::WriteDone { result: Err(e), .. })
                            if target.writes_unacked() =>
                        {
                            tracing::warn!(
                                chaincode = %ev.chaincode,
                                txid = self.txid,
                                "unacknowledged write refused; the transaction fails: {e}"
                            );
                            write_error.get_or_insert(e);
                        }
                        Some(Input::WriteDone { .. }) if target.writes_unacked() => {}
                        Some(reply) => {
                            let _ = target.send(reply).await;
                        }
                        None => {}
                    }
                }
            }
        }
    }

    fn stream_of(
        &self,
        chaincode: &str,
        top: &str,
        top_stream: &StreamHandle,
        _frames: &[Frame],
    ) -> StreamHandle {
        if chaincode == top {
            return top_stream.clone();
        }
        self.launcher
            .registry()
            .get(chaincode)
            .unwrap_or_else(|| top_stream.clone())
    }

    /// The callee's stream, launched and sent READY when needed (its first
    /// use since this peer started).
    async fn connected_ready(&self, callee: &str) -> Result<StreamHandle, String> {
        if let Some(stream) = self
            .launcher
            .registry()
            .get(callee)
            .filter(|s| s.is_ready())
        {
            return Ok(stream);
        }
        let Some(package) = (self.code_package)(callee) else {
            let text = super::not_deployed(callee);
            tracing::error!(chaincode = %callee, txid = self.txid, "{text}");
            return Err(text);
        };
        let stream = self
            .launcher
            .ensure_connected(callee, Some(&package))
            .await?;
        if !stream.is_ready() {
            let (tx, mut rx) = mpsc::channel(4);
            let input = ChaincodeInput::default();
            stream
                .execute(self.txid, ExecKind::Ready, input, None, self.timeout, tx)
                .await
                .map_err(|e| e.to_string())?;
            match rx.recv().await.map(|ev| ev.output) {
                Some(Output::Finished {
                    result: ExecResult::Completed { .. },
                    ..
                }) => stream.set_ready(),
                other => return Err(format!("Error initializing container {callee}: {other:?}")),
            }
        }
        Ok(stream)
    }

    async fn call(
        &self,
        spec: ChaincodeSpec,
        query: bool,
        sink: &mpsc::Sender<ExecEvent>,
        depth: usize,
    ) -> Result<String, String> {
        if depth >= MAX_CALL_DEPTH {
            return Err(format!("chaincode call depth exceeds {MAX_CALL_DEPTH}"));
        }
        let callee = spec.chaincode_id.map(|id| id.name).unwrap_or_default();
        if callee.is_empty() {
            return Err("chaincode call names no chaincode".into());
        }
        let stream = self.connected_ready(&callee).await?;
        let kind = if query {
            ExecKind::Query
        } else {
            ExecKind::Transaction
        };
        let input = spec.ctor_msg.unwrap_or_default();
        stream
            .execute(
                self.txid,
                kind,
                input,
                self.tx_timestamp,
                self.timeout,
                sink.clone(),
            )
            .await
            .map_err(|e| e.to_string())?;
        Ok(callee)
    }
}

/// Answers one state request of `chaincode` from `state`.
fn serve(
    state: &mut dyn StateAccess,
    chaincode: &str,
    query: bool,
    txid: &str,
    output: Output,
) -> Option<Input> {
    let txid = txid.to_string();
    Some(match output {
        Output::ReadState { key, .. } => {
            let value = state.get(chaincode, &key, query).unwrap_or_else(|e| {
                tracing::error!(chaincode, txid, key, "state read failed: {e}");
                None
            });
            Input::StateValue { txid, value }
        }
        Output::WriteState { key, value, .. } => Input::WriteDone {
            txid,
            result: state.set(chaincode, &key, value),
        },
        Output::DeleteState { key, .. } => Input::WriteDone {
            txid,
            result: state.delete(chaincode, &key),
        },
        Output::RangeQuery {
            start_key,
            end_key,
            after,
            limit,
            ..
        } => Input::RangePage {
            txid,
            result: state.range(
                chaincode,
                &start_key,
                &end_key,
                after.as_deref(),
                limit,
                query,
            ),
        },
        _ => return None,
    })
}

/// The callee's final message as v0.6 wraps it in the RESPONSE to the caller.
fn final_message(result: &ExecResult) -> ChaincodeMessage {
    use chaincode_message::Type;
    let (ty, payload) = match result {
        ExecResult::Completed { payload, .. } => (Type::Completed, payload.clone()),
        ExecResult::Failed(e) => (Type::Error, e.clone().into_bytes()),
        ExecResult::QueryCompleted(p) => (Type::QueryCompleted, p.clone()),
        ExecResult::QueryFailed(e) => (Type::QueryError, e.clone().into_bytes()),
    };
    ChaincodeMessage {
        r#type: ty as i32,
        payload,
        ..Default::default()
    }
}

/// A COMPLETED after a refused unacknowledged write becomes the refusal.
fn refused_write(result: ExecResult, write_error: Option<&str>) -> ExecResult {
    match (result, write_error) {
        (ExecResult::Completed { .. }, Some(e)) => ExecResult::Failed(e.to_owned()),
        (result, _) => result,
    }
}

fn timed_out(result: &ExecResult) -> bool {
    matches!(result, ExecResult::Failed(e) | ExecResult::QueryFailed(e) if e == TIMEOUT_TEXT)
}

fn failed(kind: ExecKind, text: String) -> ExecResult {
    if kind == ExecKind::Query {
        ExecResult::QueryFailed(text)
    } else {
        ExecResult::Failed(text)
    }
}
