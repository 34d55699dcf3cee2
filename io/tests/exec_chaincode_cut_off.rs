//! Block execution against a chaincode process (process mode) that stops
//! answering, as in the Docker fault matrix's `n4-isolate-primary`
//! (tests/FAULTS.md, B3): the chaincode's connection to its peer went
//! silent (packets dropped, nothing reset), its transaction timed out, the
//! peer killed the process, and every later transaction was still handed to
//! the dead stream and timed out in turn. Also: a transaction ordered twice
//! in one batch runs once.
//!
//! The chaincode is this test binary run as a child process (through a
//! two-line shell script packaged as the chaincode, which the launcher
//! starts with `-peer.address=`), dialling the peer through a TCP relay
//! that can drop every byte of the connections it carries while keeping
//! them open.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fabrik_core::chaincode::Features;
use fabrik_core::ledger::buckettree::BucketTreeConfig;
use fabrik_io::chaincode::launcher::{LaunchConfig, Launcher};
use fabrik_io::chaincode::package;
use fabrik_io::config::ChaincodeMode;
use fabrik_io::events::{Hub, SendPolicy};
use fabrik_io::exec::{ExecSettings, Executor};
use fabrik_io::store::Store;
use fabrik_proto::protos::{
    ChaincodeDeploymentSpec, ChaincodeId, ChaincodeInput, ChaincodeInvocationSpec, ChaincodeSpec,
    Transaction, transaction,
};
use fabrik_shim::{Chaincode, Options, Stub};
use prost::Message as _;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

mod support;

const NAME: &str = "transfercc";
/// Set (to the peer address) only in the chaincode child process.
const CHILD_ENV: &str = "FABRIK_TEST_CHAINCODE_PEER";
const EXECUTE_TIMEOUT: Duration = Duration::from_secs(2);

/// example02's transfer of 1 from `a` to `b`.
struct Transfer;

fn number(stub: &mut Stub, key: &str) -> Result<i64, String> {
    let v = stub.get_state(key)?.unwrap_or_default();
    String::from_utf8_lossy(&v)
        .parse()
        .map_err(|e| format!("{key}: {e}"))
}

impl Chaincode for Transfer {
    fn init(&self, stub: &mut Stub, _: &str, _: &[String]) -> Result<Vec<u8>, String> {
        stub.put_state("a", b"100")?;
        stub.put_state("b", b"200")?;
        Ok(Vec::new())
    }

    fn invoke(&self, stub: &mut Stub, _: &str, _: &[String]) -> Result<Vec<u8>, String> {
        let (a, b) = (number(stub, "a")?, number(stub, "b")?);
        stub.put_state("a", (a - 1).to_string().as_bytes())?;
        stub.put_state("b", (b + 1).to_string().as_bytes())?;
        Ok(Vec::new())
    }

    fn query(&self, stub: &mut Stub, _: &str, args: &[String]) -> Result<Vec<u8>, String> {
        let key = args.first().ok_or("query names no key")?;
        Ok(stub.get_state(key)?.unwrap_or_default())
    }
}

/// The chaincode process: runs only when the launcher starts this binary
/// through the packaged script.
#[test]
#[ignore = "the chaincode child process of the tests in this file"]
fn chaincode_child() {
    let Ok(peer_address) = std::env::var(CHILD_ENV) else {
        return;
    };
    let name = std::env::var("CORE_CHAINCODE_ID_NAME").expect("CORE_CHAINCODE_ID_NAME");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let options = Options { peer_address, name };
    let _ = runtime.block_on(fabrik_shim::serve(options, Transfer));
}

/// The code package: a script that runs [`chaincode_child`] in this binary.
fn code_package() -> Vec<u8> {
    let exe = std::env::current_exe().expect("test binary path");
    let script = format!(
        "#!/bin/sh\n{CHILD_ENV}=\"${{1#-peer.address=}}\" exec '{}' chaincode_child --exact --ignored --nocapture --test-threads=1\n",
        exe.display()
    );
    package::build(script.as_bytes(), "chaincode_child.sh").expect("package")
}

/// A TCP relay to `target`; [`Relay::go_silent`] makes every connection it
/// carries drop all bytes in both directions (ends of stream included)
/// while staying open, as a cut network link does. Later connections are
/// relayed normally.
struct Relay {
    address: String,
    silenced: Arc<Mutex<Vec<Arc<AtomicBool>>>>,
}

impl Relay {
    async fn start(target: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind relay");
        let address = listener.local_addr().expect("relay address").to_string();
        let silenced: Arc<Mutex<Vec<Arc<AtomicBool>>>> = Arc::default();
        let conns = Arc::clone(&silenced);
        tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                let Ok(outbound) = TcpStream::connect(&target).await else {
                    continue;
                };
                let silent = Arc::new(AtomicBool::new(false));
                conns.lock().expect("relay").push(Arc::clone(&silent));
                let (ri, wi) = inbound.into_split();
                let (ro, wo) = outbound.into_split();
                tokio::spawn(pipe(ri, wo, Arc::clone(&silent)));
                tokio::spawn(pipe(ro, wi, silent));
            }
        });
        Self { address, silenced }
    }

    fn go_silent(&self) {
        for s in self.silenced.lock().expect("relay").iter() {
            s.store(true, Ordering::SeqCst);
        }
    }
}

async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    silent: Arc<AtomicBool>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = from.read(&mut buf).await.unwrap_or(0);
        if silent.load(Ordering::SeqCst) {
            if n == 0 {
                // The end of the stream is dropped too: `to` stays open.
                std::future::pending::<()>().await;
            }
            continue;
        }
        if n == 0 || to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

struct Peer {
    executor: Executor,
    relay: Relay,
    _dir: tempfile::TempDir,
}

/// A peer's executor in process mode whose chaincode dials it through a
/// [`Relay`].
async fn peer() -> Peer {
    let dir = tempfile::tempdir().expect("tempdir");
    let (registry, address) = support::serve_chaincode_support(Features::ALL).await;
    let address = address.to_string();
    let relay = Relay::start(address).await;
    let launcher = Launcher::new(
        LaunchConfig {
            mode: ChaincodeMode::Process,
            dir: dir.path().join("chaincode"),
            peer_address: relay.address.clone(),
            startup_timeout: Duration::from_secs(20),
        },
        registry,
    );
    let store = Arc::new(Store::open(&dir.path().join("db")).expect("store"));
    let (_hub, publisher) = Hub::start(16, SendPolicy::Drop);
    let executor = Executor::new(
        store,
        Arc::new(launcher),
        publisher,
        ExecSettings {
            execute_timeout: EXECUTE_TIMEOUT,
            startup_timeout: Duration::from_secs(20),
            delta_history_size: 10,
            buckets: BucketTreeConfig::default(),
        },
    );
    executor.ensure_genesis().expect("genesis");
    Peer {
        executor,
        relay,
        _dir: dir,
    }
}

fn spec(args: &[&str]) -> ChaincodeSpec {
    ChaincodeSpec {
        chaincode_id: Some(ChaincodeId {
            name: NAME.into(),
            ..Default::default()
        }),
        ctor_msg: Some(ChaincodeInput {
            args: args.iter().map(|a| a.as_bytes().to_vec()).collect(),
        }),
        ..Default::default()
    }
}

fn deploy() -> Transaction {
    let payload = ChaincodeDeploymentSpec {
        chaincode_spec: Some(spec(&["init", "a", "100", "b", "200"])),
        code_package: code_package(),
        ..Default::default()
    };
    Transaction {
        r#type: transaction::Type::ChaincodeDeploy as i32,
        txid: NAME.into(),
        payload: payload.encode_to_vec(),
        ..Default::default()
    }
}

fn invocation(r#type: transaction::Type, txid: &str, args: &[&str]) -> Transaction {
    let payload = ChaincodeInvocationSpec {
        chaincode_spec: Some(spec(args)),
        ..Default::default()
    };
    Transaction {
        r#type: r#type as i32,
        txid: txid.into(),
        payload: payload.encode_to_vec(),
        ..Default::default()
    }
}

fn transfer(txid: &str) -> Transaction {
    invocation(
        transaction::Type::ChaincodeInvoke,
        txid,
        &["invoke", "a", "b", "1"],
    )
}

/// Executes `txs` as one block, which must complete well within a minute;
/// returns the rejected txids.
async fn block(executor: &Executor, txs: Vec<Transaction>) -> Vec<String> {
    let committed =
        tokio::time::timeout(Duration::from_secs(60), executor.execute_block(txs, None))
            .await
            .expect("the block completes")
            .expect("the block commits");
    committed
        .rejected
        .into_iter()
        .map(|(txid, _)| txid)
        .collect()
}

async fn balance(executor: &Executor, key: &str) -> String {
    let tx = invocation(
        transaction::Type::ChaincodeQuery,
        &format!("query-{key}"),
        &["query", key],
    );
    let value = executor.query(&tx).await.expect("query");
    String::from_utf8(value).expect("utf-8")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chaincode_cut_off_from_its_peer_is_relaunched_and_the_block_commits() {
    let peer = peer().await;
    let exec = &peer.executor;
    assert_eq!(block(exec, vec![deploy()]).await, Vec::<String>::new());
    assert_eq!(
        block(exec, vec![transfer("t1")]).await,
        Vec::<String>::new()
    );

    // The chaincode's connection goes silent: nothing it sends arrives and
    // nothing reaches it, and neither side sees the connection end.
    peer.relay.go_silent();
    let started = std::time::Instant::now();
    let rejected = block(exec, vec![transfer("t2"), transfer("t3"), transfer("t4")]).await;
    eprintln!("block executed in {:?}", started.elapsed());
    // The executions handed to the silent chaincode time out (side by
    // side, speculatively); the peer kills it, and the block's transactions
    // run on the relaunched chaincode rather than on the dead stream.
    assert_eq!(rejected, Vec::<String>::new(), "rejected transactions");
    assert_eq!(
        block(exec, vec![transfer("t5")]).await,
        Vec::<String>::new()
    );
    assert_eq!(balance(exec, "a").await, "95");
    assert_eq!(balance(exec, "b").await, "205");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_ordered_twice_in_one_batch_runs_once() {
    let peer = peer().await;
    let exec = &peer.executor;
    assert_eq!(block(exec, vec![deploy()]).await, Vec::<String>::new());
    let txs = vec![transfer("x"), transfer("y"), transfer("x"), transfer("x")];
    assert_eq!(block(exec, txs).await, Vec::<String>::new());
    assert_eq!(balance(exec, "a").await, "98", "x and y, once each");
    assert_eq!(balance(exec, "b").await, "202");
    let ledger = fabrik_core::ledger::Ledger::new(&**exec.store());
    let head = ledger.block(2).expect("block 2");
    let txids: Vec<&str> = head.transactions.iter().map(|t| t.txid.as_str()).collect();
    assert_eq!(txids, ["x", "y"]);
}
