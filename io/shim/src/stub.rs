//! [`Stub`]: what chaincode code sees of its execution (arguments, txid,
//! timestamp, event) and the calls it makes on the ledger and on other
//! chaincodes, through a [`Backend`] (the peer stream, or a
//! [`MockBackend`](crate::MockBackend) in tests).

use fabrik_core::shim::{RangePage, StubCall, StubValue};
use fabrik_proto::Timestamp;
use fabrik_proto::protos::ChaincodeEvent;
use std::collections::VecDeque;
use std::sync::Arc;

/// Carries a stub call to the peer and waits for its answer. Calls block
/// the calling thread, which is a dedicated blocking thread per execution.
pub trait Backend: Send + Sync {
    /// Performs `call` for execution `txid`.
    ///
    /// # Errors
    /// The text the peer (or the shim) answered with.
    fn call(&self, txid: &str, call: StubCall) -> Result<StubValue, String>;
}

/// The chaincode's view of one execution (v0.6 `ChaincodeStub`).
pub struct Stub {
    txid: String,
    args: Vec<Vec<u8>>,
    tx_timestamp: Option<Timestamp>,
    event: Option<ChaincodeEvent>,
    backend: Arc<dyn Backend>,
}

impl std::fmt::Debug for Stub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stub")
            .field("txid", &self.txid)
            .field("args", &self.args)
            .finish_non_exhaustive()
    }
}

fn unexpected(what: &str, v: &StubValue) -> String {
    format!("unexpected answer to {what}: {v:?}")
}

impl Stub {
    /// A stub for execution `txid` with `args` (function first).
    pub fn new(
        txid: &str,
        args: Vec<Vec<u8>>,
        tx_timestamp: Option<Timestamp>,
        backend: Arc<dyn Backend>,
    ) -> Self {
        Self {
            txid: txid.to_owned(),
            args,
            tx_timestamp,
            event: None,
            backend,
        }
    }

    /// All arguments as bytes, the function name first.
    pub fn get_args(&self) -> &[Vec<u8>] {
        &self.args
    }

    /// All arguments as strings (invalid UTF-8 replaced), the function first.
    pub fn get_string_args(&self) -> Vec<String> {
        self.args
            .iter()
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect()
    }

    /// The transaction id.
    pub fn get_txid(&self) -> &str {
        &self.txid
    }

    /// The transaction timestamp the peer passed, if any.
    pub fn get_tx_timestamp(&self) -> Option<Timestamp> {
        self.tx_timestamp
    }

    /// Sets the chaincode event sent with COMPLETED / ERROR.
    ///
    /// # Errors
    /// "Event name can not be nil string" for an empty name (v0.6).
    pub fn set_event(&mut self, name: &str, payload: &[u8]) -> Result<(), String> {
        if name.is_empty() {
            return Err("Event name can not be nil string".to_owned());
        }
        self.event = Some(ChaincodeEvent {
            event_name: name.to_owned(),
            payload: payload.to_vec(),
            ..Default::default()
        });
        Ok(())
    }

    /// Takes the event set with [`Stub::set_event`].
    pub fn take_event(&mut self) -> Option<ChaincodeEvent> {
        self.event.take()
    }

    /// The value of `key`, `None` if it does not exist.
    ///
    /// # Errors
    /// The peer's error text.
    pub fn get_state(&self, key: &str) -> Result<Option<Vec<u8>>, String> {
        match self
            .backend
            .call(&self.txid, StubCall::GetState(key.to_owned()))?
        {
            StubValue::State(v) => Ok(v),
            other => Err(unexpected("GetState", &other)),
        }
    }

    /// Writes `key` (transactions only).
    ///
    /// # Errors
    /// "Cannot put state in query context" in a query, or the peer's error.
    pub fn put_state(&self, key: &str, value: &[u8]) -> Result<(), String> {
        self.done(
            StubCall::PutState(key.to_owned(), value.to_vec()),
            "PutState",
        )
    }

    /// Deletes `key` (transactions only).
    ///
    /// # Errors
    /// "Cannot del state in query context" in a query, or the peer's error.
    pub fn del_state(&self, key: &str) -> Result<(), String> {
        self.done(StubCall::DelState(key.to_owned()), "DelState")
    }

    fn done(&self, call: StubCall, what: &str) -> Result<(), String> {
        match self.backend.call(&self.txid, call)? {
            StubValue::Done => Ok(()),
            other => Err(unexpected(what, &other)),
        }
    }

    /// An iterator over this chaincode's keys between `start` and `end`,
    /// fetched from the peer in pages (RANGE_QUERY_STATE / _NEXT / _CLOSE).
    ///
    /// # Errors
    /// The peer's error text for the first page.
    pub fn range_query_state(&self, start: &str, end: &str) -> Result<RangeIter, String> {
        let call = StubCall::RangeQuery {
            start: start.to_owned(),
            end: end.to_owned(),
        };
        let page = range_page(self.backend.call(&self.txid, call)?)?;
        Ok(RangeIter::new(
            self.txid.clone(),
            Arc::clone(&self.backend),
            page,
        ))
    }

    /// Invokes chaincode `name` with `args` in this transaction; returns
    /// its result (transactions only).
    ///
    /// # Errors
    /// "Cannot invoke chaincode in query context" in a query, or the
    /// callee's / peer's error text.
    pub fn invoke_chaincode(&self, name: &str, args: &[Vec<u8>]) -> Result<Vec<u8>, String> {
        let call = StubCall::InvokeChaincode {
            name: name.to_owned(),
            args: args.to_vec(),
        };
        self.chaincode(call)
    }

    /// Queries chaincode `name` with `args`; returns its result.
    ///
    /// # Errors
    /// The callee's / peer's error text.
    pub fn query_chaincode(&self, name: &str, args: &[Vec<u8>]) -> Result<Vec<u8>, String> {
        let call = StubCall::QueryChaincode {
            name: name.to_owned(),
            args: args.to_vec(),
        };
        self.chaincode(call)
    }

    fn chaincode(&self, call: StubCall) -> Result<Vec<u8>, String> {
        match self.backend.call(&self.txid, call)? {
            StubValue::Chaincode(v) => Ok(v),
            other => Err(unexpected("chaincode call", &other)),
        }
    }
}

fn range_page(v: StubValue) -> Result<RangePage, String> {
    match v {
        StubValue::Range(page) => Ok(page),
        other => Err(unexpected("range query", &other)),
    }
}

/// Key/values of a range query in key order, paged from the peer. Yields
/// `Err` once if a page cannot be fetched, then ends. Dropping it before
/// the end closes the iterator on the peer.
pub struct RangeIter {
    txid: String,
    backend: Arc<dyn Backend>,
    buffered: VecDeque<(String, Vec<u8>)>,
    id: String,
    has_more: bool,
}

impl std::fmt::Debug for RangeIter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RangeIter")
            .field("id", &self.id)
            .field("has_more", &self.has_more)
            .finish_non_exhaustive()
    }
}

impl RangeIter {
    fn new(txid: String, backend: Arc<dyn Backend>, page: RangePage) -> Self {
        Self {
            txid,
            backend,
            buffered: page.entries.into(),
            id: page.id,
            has_more: page.has_more,
        }
    }

    /// Closes the iterator on the peer now (RANGE_QUERY_STATE_CLOSE).
    pub fn close(mut self) {
        self.close_on_peer();
    }

    fn close_on_peer(&mut self) {
        if std::mem::take(&mut self.has_more) {
            let _ = self.backend.call(
                &self.txid,
                StubCall::RangeClose {
                    id: self.id.clone(),
                },
            );
        }
    }
}

impl Iterator for RangeIter {
    type Item = Result<(String, Vec<u8>), String>;

    fn next(&mut self) -> Option<Self::Item> {
        while self.buffered.is_empty() && self.has_more {
            let call = StubCall::RangeNext {
                id: self.id.clone(),
            };
            match self.backend.call(&self.txid, call).and_then(range_page) {
                Ok(page) => {
                    self.buffered = page.entries.into();
                    self.has_more = page.has_more;
                    if !page.id.is_empty() {
                        self.id = page.id;
                    }
                }
                Err(e) => {
                    self.has_more = false;
                    return Some(Err(e));
                }
            }
        }
        self.buffered.pop_front().map(Ok)
    }
}

impl Drop for RangeIter {
    fn drop(&mut self) {
        self.close_on_peer();
    }
}
