//! One chaincode transaction over the real chaincode stream on loopback:
//! the peer's `ChaincodeSupport.Register` gRPC service
//! (`fabrik_io::chaincode::{ChaincodeSupportService, stream}`) and a
//! chaincode built on the `fabrik-shim` SDK, both in this process, talking
//! gRPC (HTTP/2 over TCP, no TLS) on 127.0.0.1.
//!
//! One iteration is an example02-style invoke doing one GET_STATE and one
//! PUT_STATE: `StreamHandle::execute(TRANSACTION)`, the stream task sends
//! TRANSACTION; the SDK runs user code on a blocking thread, whose
//! `get_state` and `put_state` each travel to the peer and back; the
//! bench answers the handler's `ReadState`/`WriteState` from a map (the
//! ledger's cost is in `core/benches/chaincode_roundtrip.rs`) and the
//! iteration ends at `Finished(Completed)`. With writes answered (v0.6's
//! protocol, `acked_writes`) that is three loopback round trips
//! (TRANSACTION→GET_STATE, RESPONSE→PUT_STATE, RESPONSE→COMPLETED) plus
//! the task hops on both sides; with unacked writes (fabrik's default,
//! `unacked_writes`) two, PUT_STATE and COMPLETED travelling together.
//!
//! Why: performance.md names chaincode round trips the first bottleneck
//! (estimated 100–300 µs per transaction per replica); this measures it.
//! The tokio runtime has 2 worker threads (the machine has 2 cores, shared
//! by peer and chaincode here as in a one-machine network).
//!
//! Run: `cargo bench -p fabrik-io --bench chaincode_socket` (add
//! `-- --quick`).

// One copy of the bench fixtures, shared with the core benches.
#[path = "../../core/benches/common/mod.rs"]
mod common;
#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::HashMap;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use fabrik_core::chaincode::{ExecKind, ExecResult, Features, Input, Output};
use fabrik_io::chaincode::stream::{ExecEvent, StreamHandle};
use fabrik_proto::protos::ChaincodeInput;
use fabrik_shim::{Chaincode, Options, Stub};
use tokio::sync::mpsc;

/// Each case registers under its own name on its own service.
const NAMES: [&str; 2] = ["bench_cc_unacked", "bench_cc_acked"];

/// Reads `a` and writes it back incremented.
struct Counter;

impl Chaincode for Counter {
    fn init(&self, _: &mut Stub, _: &str, _: &[String]) -> Result<Vec<u8>, String> {
        Ok(Vec::new())
    }

    fn invoke(&self, stub: &mut Stub, _: &str, _: &[String]) -> Result<Vec<u8>, String> {
        let n: u64 = stub
            .get_state("a")?
            .and_then(|v| String::from_utf8(v).ok())
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        stub.put_state("a", (n + 1).to_string().as_bytes())?;
        Ok(b"OK".to_vec())
    }

    fn query(&self, stub: &mut Stub, _: &str, _: &[String]) -> Result<Vec<u8>, String> {
        Ok(stub.get_state("a")?.unwrap_or_default())
    }
}

/// Starts the service (granting `features`) on an ephemeral loopback port
/// and the chaincode `name` dialling it; returns the registered stream.
async fn start(name: &'static str, features: Features) -> StreamHandle {
    let (registry, addr) = support::serve_chaincode_support(features).await;
    let options = Options {
        peer_address: addr.to_string(),
        name: name.to_owned(),
    };
    tokio::spawn(async move {
        if let Err(e) = fabrik_shim::serve(options, Counter).await {
            eprintln!("chaincode ended: {e}");
        }
    });
    registry
        .wait_for(name, Duration::from_secs(10))
        .await
        .expect("chaincode registered")
}

/// Runs one execution of `kind`, serving its state requests from `state`.
async fn run(
    stream: &StreamHandle,
    state: &mut HashMap<String, Vec<u8>>,
    txid: &str,
    kind: ExecKind,
) -> ExecResult {
    let (sink, mut events) = mpsc::channel::<ExecEvent>(16);
    let input = ChaincodeInput {
        args: vec![b"invoke".to_vec(), b"a".to_vec()],
    };
    stream
        .execute(txid, kind, input, None, Duration::from_secs(30), sink)
        .await
        .expect("execute");
    while let Some(ExecEvent { output, .. }) = events.recv().await {
        let reply = match output {
            Output::ReadState { txid, key } => Input::StateValue {
                txid,
                value: state.get(&key).cloned(),
            },
            Output::WriteState { txid, key, value } => {
                state.insert(key, value);
                if stream.writes_unacked() {
                    continue;
                }
                Input::WriteDone {
                    txid,
                    result: Ok(()),
                }
            }
            Output::Finished { result, .. } => return result,
            other => panic!("unexpected output {other:?}"),
        };
        stream.send(reply).await.expect("reply");
    }
    panic!("stream ended before {txid} finished");
}

fn benches(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut group = c.benchmark_group("chaincode_socket_get_put");
    group.throughput(Throughput::Elements(1));
    let answered = Features {
        concurrent_transactions: true,
        unacked_writes: false,
    };
    for (name, features, case) in [
        (NAMES[0], Features::ALL, "unacked_writes"),
        (NAMES[1], answered, "acked_writes"),
    ] {
        let stream = rt.block_on(start(name, features));
        assert_eq!(stream.writes_unacked(), features.unacked_writes);
        let mut state = ready(&rt, &stream);
        let mut next = 0u64;
        group.bench_function(case, |b| {
            b.iter(|| {
                next += 1;
                let txid = format!("tx-{next:012}");
                let result = rt.block_on(run(&stream, &mut state, &txid, ExecKind::Transaction));
                assert!(matches!(result, ExecResult::Completed { .. }), "{result:?}");
            });
        });
    }
    group.finish();
}

/// Sends READY on `stream`; returns the state the transactions start from.
fn ready(rt: &tokio::runtime::Runtime, stream: &StreamHandle) -> HashMap<String, Vec<u8>> {
    let mut state = HashMap::from([("a".to_owned(), b"100".to_vec())]);
    // The registry lists the stream a moment before the handler has taken
    // its RegisterAccepted; READY is refused until then, so retry briefly.
    let mut ready = ExecResult::Failed(String::new());
    for attempt in 0..100 {
        ready = rt.block_on(run(
            stream,
            &mut state,
            &format!("ready-{attempt}"),
            ExecKind::Ready,
        ));
        if matches!(ready, ExecResult::Completed { .. }) {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(matches!(ready, ExecResult::Completed { .. }), "{ready:?}");
    stream.set_ready();
    state
}

criterion_group! {
    name = group;
    config = common::criterion();
    targets = benches
}
criterion_main!(group);
