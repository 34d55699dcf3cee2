//! [`MockBackend`]: an in-memory ledger (and callable chaincodes) for unit
//! tests of chaincode logic, in the spirit of v0.6 `MockStub`.

use crate::stub::{Backend, Stub};
use fabrik_core::shim::{RangePage, StubCall, StubValue};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// Answers chaincode-to-chaincode calls in tests: `(name, args, query)` →
/// the callee's result.
pub type CalleeFn = dyn Fn(&str, &[Vec<u8>], bool) -> Result<Vec<u8>, String> + Send + Sync;

/// An in-memory backend: one key space and range pages of two entries (so
/// tests cross page boundaries). It has no query-context guard: in
/// production the shim state machine refuses writes in a query.
pub struct MockBackend {
    state: Mutex<BTreeMap<String, Vec<u8>>>,
    callee: Box<CalleeFn>,
    page_size: usize,
}

impl std::fmt::Debug for MockBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockBackend")
            .field("state", &self.snapshot())
            .finish_non_exhaustive()
    }
}

impl MockBackend {
    /// An empty ledger; chaincode calls fail with "no such chaincode".
    pub fn new() -> Self {
        Self::with_callee(|name, _, _| Err(format!("no such chaincode {name}")))
    }

    /// An empty ledger whose chaincode calls go to `callee`.
    pub fn with_callee(
        callee: impl Fn(&str, &[Vec<u8>], bool) -> Result<Vec<u8>, String> + Send + Sync + 'static,
    ) -> Self {
        Self {
            state: Mutex::new(BTreeMap::new()),
            callee: Box::new(callee),
            page_size: 2,
        }
    }

    /// A copy of the ledger.
    pub fn snapshot(&self) -> BTreeMap<String, Vec<u8>> {
        self.state.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Sets `key` directly.
    pub fn set(&self, key: &str, value: &[u8]) {
        if let Ok(mut s) = self.state.lock() {
            s.insert(key.to_owned(), value.to_vec());
        }
    }

    fn with_state<T>(
        &self,
        f: impl FnOnce(&mut BTreeMap<String, Vec<u8>>) -> T,
    ) -> Result<T, String> {
        self.state
            .lock()
            .map(|mut s| f(&mut s))
            .map_err(|_| "mock ledger poisoned".to_owned())
    }

    fn page(&self, id: &str, after: Option<&str>) -> Result<StubValue, String> {
        let (start, end) = id.split_once('\u{0}').unwrap_or((id, ""));
        let entries: Vec<(String, Vec<u8>)> = self.with_state(|s| {
            s.range(start.to_owned()..)
                .filter(|(k, _)| end.is_empty() || k.as_str() <= end)
                .filter(|(k, _)| after.is_none_or(|a| k.as_str() > a))
                .take(self.page_size + 1)
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })?;
        let has_more = entries.len() > self.page_size;
        let entries: Vec<_> = entries.into_iter().take(self.page_size).collect();
        let id = match entries.last() {
            Some((last, _)) if has_more => format!("{id}\u{1}{last}"),
            _ => String::new(),
        };
        Ok(StubValue::Range(RangePage {
            entries,
            has_more,
            id,
        }))
    }
}

impl Default for MockBackend {
    fn default() -> Self {
        Self::new()
    }
}

/// Builds a stub for `txid` over a mock, with string `args`.
pub fn mock_stub(backend: &Arc<MockBackend>, txid: &str, args: &[&str]) -> Stub {
    let args = args.iter().map(|a| a.as_bytes().to_vec()).collect();
    Stub::new(txid, args, None, Arc::clone(backend) as Arc<dyn Backend>)
}

impl Backend for MockBackend {
    fn call(&self, _txid: &str, call: StubCall) -> Result<StubValue, String> {
        match call {
            StubCall::GetState(k) => self.with_state(|s| StubValue::State(s.get(&k).cloned())),
            StubCall::PutState(k, v) => self.with_state(|s| {
                s.insert(k, v);
                StubValue::Done
            }),
            StubCall::DelState(k) => self.with_state(|s| {
                s.remove(&k);
                StubValue::Done
            }),
            // The iterator ID encodes "start \0 end" and, after a page,
            // "\1 last key": the mock keeps no iterator table.
            StubCall::RangeQuery { start, end } => self.page(&format!("{start}\u{0}{end}"), None),
            StubCall::RangeNext { id } => {
                let (range, after) = id.split_once('\u{1}').unwrap_or((id.as_str(), ""));
                self.page(range, Some(after))
            }
            StubCall::RangeClose { id } => Ok(StubValue::Range(RangePage {
                id,
                ..RangePage::default()
            })),
            StubCall::InvokeChaincode { name, args } => {
                (self.callee)(&name, &args, false).map(StubValue::Chaincode)
            }
            StubCall::QueryChaincode { name, args } => {
                (self.callee)(&name, &args, true).map(StubValue::Chaincode)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_iterator_pages_through_the_mock() {
        let l = Arc::new(MockBackend::new());
        for k in ["k3", "k1", "k2", "k4", "k5"] {
            l.set(k, b"v");
        }
        let stub = mock_stub(&l, "t", &[]);
        let keys: Vec<String> = stub
            .range_query_state("", "")
            .expect("range")
            .map(|e| e.expect("entry").0)
            .collect();
        assert_eq!(keys, ["k1", "k2", "k3", "k4", "k5"]);
        let keys: Vec<String> = stub
            .range_query_state("k2", "k4")
            .expect("range")
            .map(|e| e.expect("entry").0)
            .collect();
        assert_eq!(keys, ["k2", "k3", "k4"]);
    }
}
