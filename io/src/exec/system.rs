//! System chaincodes: chaincodes built into the peer and run in its own
//! process, with no container, no child process and no chaincode stream
//! (v0.6 ran its system chaincodes in process too, behind the
//! `chaincode.system` whitelist, which its core.yaml left empty).
//!
//! A system chaincode is ordinary [`fabrik_shim::Chaincode`] code. Its
//! [`Stub`] calls are answered synchronously from the transaction's state
//! (the block's batch for an invoke, committed state for a query), so an
//! invoke costs no message and no task hop: what is left is ordering and
//! committing, which is what `peerd bench --system-chaincode` measures.
//! System chaincodes must be quick: they run on the committer's task.
//!
//! Enabled ones are listed in `chaincode.system`; each is invoked and
//! queried by its name, needs no deploy and cannot be deployed over. Calls
//! to other chaincodes from a system chaincode are refused.

use super::context::{Committed, InBlock, StateAccess};
use crate::store::Store;
use fabrik_core::ledger::batch::TxBatch;
use fabrik_proto::Timestamp;
use fabrik_proto::protos::{ChaincodeEvent, ChaincodeInput};
use fabrik_shim::{Backend, Chaincode, RangePage, Stub, StubCall, StubValue};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

/// Longest range a system chaincode reads in one call (one page).
const RANGE_PAGE: usize = 1000;

/// The enabled system chaincodes, by name.
#[derive(Clone, Default)]
pub struct SystemChaincodes(BTreeMap<String, Arc<dyn Chaincode>>);

impl std::fmt::Debug for SystemChaincodes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

impl SystemChaincodes {
    /// Adds `chaincode` under `name`.
    pub fn with(mut self, name: &str, chaincode: Arc<dyn Chaincode>) -> Self {
        self.0.insert(name.to_owned(), chaincode);
        self
    }

    /// The system chaincode called `name`, if enabled.
    pub fn get(&self, name: &str) -> Option<&Arc<dyn Chaincode>> {
        self.0.get(name)
    }

    /// The enabled names.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }
}

/// Where a system chaincode's calls read and write.
enum Scope {
    /// An invoke: the block's batch, with the transaction open in it.
    Block(Mutex<TxBatch>),
    /// A query: committed state only.
    Committed,
}

/// Answers stub calls from the transaction's state, synchronously.
struct InProcess {
    store: Arc<Store>,
    chaincode: String,
    scope: Scope,
}

impl InProcess {
    fn with_state<T>(&self, f: impl FnOnce(&mut dyn StateAccess) -> T) -> T {
        match &self.scope {
            Scope::Block(batch) => {
                let mut batch = batch.lock().unwrap_or_else(PoisonError::into_inner);
                let mut state = InBlock {
                    store: &self.store,
                    batch: &mut batch,
                };
                f(&mut state)
            }
            Scope::Committed => f(&mut Committed { store: &self.store }),
        }
    }
}

impl Backend for InProcess {
    fn call(&self, _txid: &str, call: StubCall) -> Result<StubValue, String> {
        let cc = self.chaincode.as_str();
        let query = matches!(self.scope, Scope::Committed);
        match call {
            StubCall::GetState(key) => self
                .with_state(|s| s.get(cc, &key, query))
                .map(StubValue::State),
            StubCall::PutState(_, _) if query => {
                Err("Cannot put state in query context".to_owned())
            }
            StubCall::DelState(_) if query => Err("Cannot del state in query context".to_owned()),
            StubCall::PutState(key, value) => self
                .with_state(|s| s.set(cc, &key, value))
                .map(|()| StubValue::Done),
            StubCall::DelState(key) => self
                .with_state(|s| s.delete(cc, &key))
                .map(|()| StubValue::Done),
            StubCall::RangeQuery { start, end } => self.range_page(&start, &end, None, query),
            StubCall::RangeNext { id } => match Cursor::parse(&id) {
                Some(c) => self.range_page(&c.start, &c.end, Some(&c.after), query),
                None => Err(format!("range iterator {id:?} is not one of {cc}'s")),
            },
            StubCall::RangeClose { .. } => Ok(StubValue::Range(RangePage::default())),
            StubCall::InvokeChaincode { name, .. } | StubCall::QueryChaincode { name, .. } => {
                Err(format!(
                    "system chaincode {cc} cannot call chaincode {name}: calls from system chaincodes are not supported"
                ))
            }
        }
    }
}

/// Where a paged range goes on from, carried as the iterator id.
struct Cursor {
    start: String,
    end: String,
    after: String,
}

impl Cursor {
    fn id(&self) -> String {
        format!("{}\0{}\0{}", self.start, self.end, self.after)
    }

    fn parse(id: &str) -> Option<Cursor> {
        let mut parts = id.splitn(3, '\0');
        Some(Cursor {
            start: parts.next()?.to_owned(),
            end: parts.next()?.to_owned(),
            after: parts.next()?.to_owned(),
        })
    }
}

impl InProcess {
    fn range_page(
        &self,
        start: &str,
        end: &str,
        after: Option<&str>,
        query: bool,
    ) -> Result<StubValue, String> {
        let cc = self.chaincode.as_str();
        let (entries, has_more) =
            self.with_state(|s| s.range(cc, start, end, after, RANGE_PAGE, query))?;
        let id = match entries.last() {
            Some((last, _)) if has_more => Cursor {
                start: start.to_owned(),
                end: end.to_owned(),
                after: last.clone(),
            }
            .id(),
            _ => String::new(),
        };
        Ok(StubValue::Range(RangePage {
            entries,
            has_more,
            id,
        }))
    }
}

fn function_and_args(input: &ChaincodeInput) -> (String, Vec<String>) {
    let mut strings = input
        .args
        .iter()
        .map(|a| String::from_utf8_lossy(a).into_owned());
    let function = strings.next().unwrap_or_default();
    (function, strings.collect())
}

/// What one system-chaincode call runs: the chaincode, its name, the
/// transaction id and timestamp, and the input.
pub struct Call<'a> {
    /// The chaincode's code.
    pub chaincode: &'a dyn Chaincode,
    /// Its name (the state's namespace).
    pub name: &'a str,
    /// The transaction (or query) id.
    pub txid: &'a str,
    /// The transaction's timestamp, as a chaincode process would get it.
    pub tx_timestamp: Option<Timestamp>,
    /// Function and arguments.
    pub input: ChaincodeInput,
}

/// A call ready to run: the chaincode, the stub it sees (answering from
/// `backend`), and the function and arguments it gets.
struct Prepared<'a> {
    chaincode: &'a dyn Chaincode,
    backend: Arc<InProcess>,
    stub: Stub,
    function: String,
    args: Vec<String>,
}

fn prepare<'a>(store: &Arc<Store>, call: Call<'a>, scope: Scope) -> Prepared<'a> {
    let backend = Arc::new(InProcess {
        store: Arc::clone(store),
        chaincode: call.name.to_owned(),
        scope,
    });
    let (function, args) = function_and_args(&call.input);
    let stub = Stub::new(
        call.txid,
        call.input.args,
        call.tx_timestamp,
        Arc::clone(&backend) as Arc<dyn Backend>,
    );
    Prepared {
        chaincode: call.chaincode,
        backend,
        stub,
        function,
        args,
    }
}

/// Runs chaincode code; a panic becomes the execution's error (as the
/// SDK reports a panic in a chaincode process) instead of stopping the
/// committer's task.
fn guarded(name: &str, run: impl FnOnce() -> Result<Vec<u8>, String>) -> Result<Vec<u8>, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(run)).unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        tracing::error!(chaincode = name, "system chaincode panicked: {what}");
        Err(format!("system chaincode {name} panicked: {what}"))
    })
}

/// Runs `call` inside `batch`, whose transaction `call.txid` is open: the
/// chaincode's result and event, or its error.
pub fn invoke(
    store: &Arc<Store>,
    batch: &mut TxBatch,
    call: Call<'_>,
) -> Result<(Vec<u8>, Option<ChaincodeEvent>), String> {
    let scope = Scope::Block(Mutex::new(std::mem::take(batch)));
    let Prepared {
        chaincode,
        backend,
        mut stub,
        function,
        args,
    } = prepare(store, call, scope);
    let name = backend.chaincode.as_str();
    let result = guarded(name, || chaincode.invoke(&mut stub, &function, &args));
    // As the peer's handler does for a chaincode's COMPLETED.
    let txid = stub.get_txid().to_owned();
    let event = stub.take_event().map(|mut ev| {
        ev.chaincode_id = name.to_owned();
        ev.tx_id = txid;
        ev
    });
    drop(stub);
    // The batch goes back to the block; a range iterator the chaincode
    // might have kept past its return would see an empty one.
    if let Scope::Block(taken) = &backend.scope {
        *batch = std::mem::take(&mut *taken.lock().unwrap_or_else(PoisonError::into_inner));
    }
    result.map(|payload| (payload, event))
}

/// Runs `call` as a query against committed state.
pub fn query(store: &Arc<Store>, call: Call<'_>) -> Result<Vec<u8>, String> {
    let Prepared {
        chaincode,
        backend,
        mut stub,
        function,
        args,
    } = prepare(store, call, Scope::Committed);
    guarded(&backend.chaincode, || {
        chaincode.query(&mut stub, &function, &args)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes in its query, calls another chaincode in its invoke, and
    /// counts a range in either.
    struct Probe;

    impl Chaincode for Probe {
        fn init(&self, _: &mut Stub, _: &str, _: &[String]) -> Result<Vec<u8>, String> {
            Ok(Vec::new())
        }

        fn invoke(
            &self,
            stub: &mut Stub,
            function: &str,
            args: &[String],
        ) -> Result<Vec<u8>, String> {
            match function {
                "fill" => {
                    let n: usize = args[0].parse().map_err(|_| "count".to_owned())?;
                    for i in 0..n {
                        stub.put_state(&format!("key{i:05}"), b"v")?;
                    }
                    stub.set_event("filled", args[0].as_bytes())?;
                    Ok(Vec::new())
                }
                "count" => count(stub),
                "panic" => panic!("probe gave up"),
                "when" => Ok(stub
                    .get_tx_timestamp()
                    .map_or(-1, |t| t.seconds)
                    .to_string()
                    .into_bytes()),
                _ => stub.invoke_chaincode("other", &[b"f".to_vec()]),
            }
        }

        fn query(&self, stub: &mut Stub, function: &str, _: &[String]) -> Result<Vec<u8>, String> {
            match function {
                "count" => count(stub),
                "del" => stub.del_state("key00000").map(|()| Vec::new()),
                _ => stub.put_state("key", b"v").map(|()| Vec::new()),
            }
        }
    }

    fn count(stub: &mut Stub) -> Result<Vec<u8>, String> {
        let n = stub.range_query_state("key", "kez")?.count();
        Ok(n.to_string().into_bytes())
    }

    fn input(args: &[&str]) -> ChaincodeInput {
        ChaincodeInput {
            args: args.iter().map(|a| a.as_bytes().to_vec()).collect(),
        }
    }

    fn call<'a>(chaincode: &'a dyn Chaincode, name: &'a str, args: &[&str]) -> Call<'a> {
        Call {
            chaincode,
            name,
            txid: "tx1",
            tx_timestamp: None,
            input: input(args),
        }
    }

    fn store() -> (tempfile::TempDir, Arc<Store>) {
        let dir = tempfile::tempdir().expect("dir");
        let store = Arc::new(Store::open(dir.path()).expect("store"));
        (dir, store)
    }

    fn invoke_in(
        store: &Arc<Store>,
        batch: &mut TxBatch,
        args: &[&str],
    ) -> Result<(Vec<u8>, Option<ChaincodeEvent>), String> {
        batch.tx_begin("tx1").expect("begin");
        let out = invoke(store, batch, call(&Probe, "probe", args));
        batch.tx_finished("tx1", out.is_ok()).expect("finish");
        out
    }

    #[test]
    fn an_invoke_writes_into_the_block_and_pages_through_long_ranges() {
        let (_dir, store) = store();
        let mut batch = TxBatch::new();
        let (_, event) = invoke_in(&store, &mut batch, &["fill", "2500"]).expect("fill");
        let event = event.expect("event");
        assert_eq!(
            (event.chaincode_id.as_str(), event.tx_id.as_str()),
            ("probe", "tx1")
        );
        assert_eq!(batch.delta().updates("probe").map(|u| u.len()), Some(2500));
        let (counted, _) = invoke_in(&store, &mut batch, &["count"]).expect("count");
        assert_eq!(counted, b"2500", "three pages of the block's own writes");
        let committed = query(&store, call(&Probe, "probe", &["count"])).expect("query");
        assert_eq!(committed, b"0", "a query reads committed state only");
        batch.tx_begin("tx2").expect("begin");
        let mut when = call(&Probe, "probe", &["when"]);
        when.txid = "tx2";
        when.tx_timestamp = Some(Timestamp {
            seconds: 1_700_000_000,
            nanos: 0,
        });
        let (seconds, _) = invoke(&store, &mut batch, when).expect("when");
        assert_eq!(seconds, b"1700000000", "the transaction's timestamp");
    }

    #[test]
    fn writes_in_a_query_and_calls_to_other_chaincodes_are_refused() {
        let (_dir, store) = store();
        assert_eq!(
            query(&store, call(&Probe, "probe", &["put"])).unwrap_err(),
            "Cannot put state in query context"
        );
        assert_eq!(
            query(&store, call(&Probe, "probe", &["del"])).unwrap_err(),
            "Cannot del state in query context"
        );
        let mut batch = TxBatch::new();
        assert_eq!(
            invoke_in(&store, &mut batch, &["call"]).unwrap_err(),
            "system chaincode probe cannot call chaincode other: calls from system chaincodes are not supported"
        );
        assert!(batch.delta().is_empty());
    }

    #[test]
    fn a_panic_in_a_system_chaincode_fails_its_transaction_only() {
        let (_dir, store) = store();
        let mut batch = TxBatch::new();
        invoke_in(&store, &mut batch, &["fill", "1"]).expect("fill");
        assert_eq!(
            invoke_in(&store, &mut batch, &["panic"]).unwrap_err(),
            "system chaincode probe panicked: probe gave up"
        );
        assert_eq!(
            batch.delta().updates("probe").map(|u| u.len()),
            Some(1),
            "the block keeps what came before"
        );
    }

    #[test]
    fn the_bench_chaincode_runs_as_benchcc_does() {
        let (_dir, store) = store();
        let bench = fabrik_examples::BenchChaincode;
        let mut batch = TxBatch::new();
        batch.tx_begin("tx1").expect("begin");
        let rw = call(&bench, "bench", &["rw", "a", "b", "100"]);
        invoke(&store, &mut batch, rw).expect("rw");
        batch.tx_finished("tx1", true).expect("finish");
        let written = batch
            .delta()
            .get("bench", "b")
            .and_then(|u| u.value.clone());
        assert_eq!(written.map(|v| v.len()), Some(100));
        assert_eq!(
            query(&store, call(&bench, "bench", &["len", "b"])).expect("len"),
            b"0",
            "not committed yet"
        );
    }
}
