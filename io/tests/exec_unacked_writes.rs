//! One transaction through the executor's `Execution::run` over the real
//! chaincode stream (the peer's gRPC service and a `fabrik-shim` chaincode
//! in this process, on loopback), with writes unacked (the default) and
//! answered (`chaincode.unackedWrites = false`): the same results, the
//! same state, a chaincode that reads its own write back sees it, and a
//! write the ledger refuses fails the transaction with the ledger's text
//! either way.

use std::collections::BTreeMap;
use std::time::Duration;

use fabrik_core::chaincode::{ExecKind, ExecResult, Features};
use fabrik_io::chaincode::launcher::{LaunchConfig, Launcher};
use fabrik_io::chaincode::stream::StreamHandle;
use fabrik_io::config::ChaincodeMode;
use fabrik_io::exec::context::{RangePage, StateAccess};
use fabrik_io::exec::run::Execution;
use fabrik_proto::protos::ChaincodeInput;
use fabrik_shim::{Chaincode, Options, Stub};

mod support;

const NAME: &str = "writercc";

/// Writes `a`, reads it back, writes `b`, deletes `c`; returns what it read.
struct Writer;

impl Chaincode for Writer {
    fn init(&self, _: &mut Stub, _: &str, _: &[String]) -> Result<Vec<u8>, String> {
        Ok(Vec::new())
    }

    fn invoke(&self, stub: &mut Stub, _: &str, args: &[String]) -> Result<Vec<u8>, String> {
        let value = args.first().ok_or("no value")?;
        stub.put_state("a", value.as_bytes())?;
        let seen = stub.get_state("a")?.unwrap_or_default();
        stub.put_state("b", b"x")?;
        stub.del_state("c")?;
        Ok(seen)
    }

    fn query(&self, _: &mut Stub, _: &str, _: &[String]) -> Result<Vec<u8>, String> {
        Ok(Vec::new())
    }
}

/// A ledger in a map that refuses writes of one key.
#[derive(Default)]
struct MapState {
    values: BTreeMap<String, Vec<u8>>,
    refuse: Option<&'static str>,
}

impl StateAccess for MapState {
    fn get(&mut self, _: &str, key: &str, _: bool) -> Result<Option<Vec<u8>>, String> {
        Ok(self.values.get(key).cloned())
    }

    fn set(&mut self, _: &str, key: &str, value: Vec<u8>) -> Result<(), String> {
        if self.refuse == Some(key) {
            return Err(format!("ledger refused {key}"));
        }
        self.values.insert(key.to_owned(), value);
        Ok(())
    }

    fn delete(&mut self, _: &str, key: &str) -> Result<(), String> {
        self.values.remove(key);
        Ok(())
    }

    fn range(
        &mut self,
        _: &str,
        _: &str,
        _: &str,
        _: Option<&str>,
        _: usize,
        _: bool,
    ) -> Result<RangePage, String> {
        Ok((Vec::new(), false))
    }
}

/// The peer's service granting `features`, and the chaincode dialling it.
async fn start(features: Features) -> (Launcher, StreamHandle) {
    let (registry, addr) = support::serve_chaincode_support(features).await;
    let options = Options {
        peer_address: addr.to_string(),
        name: NAME.to_owned(),
    };
    tokio::spawn(async move {
        if let Err(e) = fabrik_shim::serve(options, Writer).await {
            eprintln!("chaincode ended: {e}");
        }
    });
    let stream = registry
        .wait_for(NAME, Duration::from_secs(10))
        .await
        .expect("chaincode registered");
    let launcher = Launcher::new(
        LaunchConfig {
            mode: ChaincodeMode::Dev,
            dir: std::env::temp_dir(),
            peer_address: addr.to_string(),
            startup_timeout: Duration::from_secs(10),
        },
        registry,
    );
    (launcher, stream)
}

async fn run(
    launcher: &Launcher,
    stream: &StreamHandle,
    state: &mut MapState,
    txid: &str,
    kind: ExecKind,
) -> ExecResult {
    let no_package = |_: &str| None;
    let exec = Execution {
        launcher,
        code_package: &no_package,
        txid,
        tx_timestamp: None,
        timeout: Duration::from_secs(10),
    };
    let input = ChaincodeInput {
        args: vec![b"invoke".to_vec(), b"42".to_vec()],
    };
    exec.run(state, NAME, stream, kind, input).await
}

/// Runs READY, one good transaction and one whose write of `b` is refused;
/// returns both results and the state after the good one.
async fn good_and_refused(
    features: Features,
) -> (ExecResult, BTreeMap<String, Vec<u8>>, ExecResult) {
    let (launcher, stream) = start(features).await;
    assert_eq!(stream.writes_unacked(), features.unacked_writes);
    let mut state = MapState::default();
    let ready = run(&launcher, &stream, &mut state, "r0", ExecKind::Ready).await;
    assert!(matches!(ready, ExecResult::Completed { .. }), "{ready:?}");
    stream.set_ready();
    state.values.insert("c".into(), b"old".to_vec());
    let good = run(&launcher, &stream, &mut state, "t1", ExecKind::Transaction).await;
    let after_good = state.values.clone();
    let mut refusing = MapState {
        refuse: Some("b"),
        ..MapState::default()
    };
    let refused = run(
        &launcher,
        &stream,
        &mut refusing,
        "t2",
        ExecKind::Transaction,
    )
    .await;
    (good, after_good, refused)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unacked_and_answered_writes_give_the_same_results_and_state() {
    let answered = Features {
        concurrent_transactions: true,
        unacked_writes: false,
    };
    let unacked = good_and_refused(Features::ALL).await;
    let acked = good_and_refused(answered).await;
    let completed = ExecResult::Completed {
        payload: b"42".to_vec(),
        event: None,
    };
    assert_eq!(
        unacked.0, completed,
        "the chaincode reads its own write back"
    );
    assert_eq!(
        unacked.1,
        BTreeMap::from([("a".into(), b"42".to_vec()), ("b".into(), b"x".to_vec())]),
        "both writes applied and the delete of c too"
    );
    let refused = ExecResult::Failed("ledger refused b".into());
    assert_eq!(
        unacked.2, refused,
        "a refused unacked write fails the transaction"
    );
    assert_eq!(
        acked, unacked,
        "answered writes give the same results and state"
    );
}
