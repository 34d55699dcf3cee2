//! End to end over real gRPC on 127.0.0.1: the SDK (`fabrik_shim::serve`,
//! driving `core::shim::Handler`) against a minimal peer that runs the
//! peer-side `core::chaincode::Handler` over an in-memory ledger, with
//! writes unacked (fabrik's default) and with every write answered.

use fabrik_core::chaincode::{Config, ExecKind, ExecResult, Features, Handler, Input, Output};
use fabrik_core::machine::Machine;
use fabrik_core::time::Instant;
use fabrik_proto::Timestamp;
use fabrik_proto::protos::chaincode_support_server::{ChaincodeSupport, ChaincodeSupportServer};
use fabrik_proto::protos::{ChaincodeInput, ChaincodeMessage};
use fabrik_shim::{Chaincode, Options, Stub};
use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};
use tonic::{Request, Response, Status, Streaming};

type Conn = (
    Streaming<ChaincodeMessage>,
    mpsc::Sender<Result<ChaincodeMessage, Status>>,
);

struct Peer {
    conns: mpsc::UnboundedSender<Conn>,
}

#[tonic::async_trait]
impl ChaincodeSupport for Peer {
    type RegisterStream = ReceiverStream<Result<ChaincodeMessage, Status>>;

    async fn register(
        &self,
        request: Request<Streaming<ChaincodeMessage>>,
    ) -> Result<Response<Self::RegisterStream>, Status> {
        let (tx, rx) = mpsc::channel(16);
        let _ = self.conns.send((request.into_inner(), tx));
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

/// A test chaincode exercising every stub call.
struct TestCc;

impl Chaincode for TestCc {
    fn init(&self, stub: &mut Stub, _: &str, args: &[String]) -> Result<Vec<u8>, String> {
        let [k, v] = args else {
            return Err("want 2 args".into());
        };
        stub.put_state(k, v.as_bytes())?;
        Ok(b"inited".to_vec())
    }

    fn invoke(&self, stub: &mut Stub, f: &str, args: &[String]) -> Result<Vec<u8>, String> {
        match f {
            "put" => {
                for pair in args.chunks(2) {
                    let [k, v] = pair else {
                        return Err("odd args".into());
                    };
                    stub.put_state(k, v.as_bytes())?;
                }
                stub.set_event("put", b"evt")?;
                Ok(Vec::new())
            }
            "del" => stub.del_state(&args.join("")).map(|()| Vec::new()),
            "call" => stub.invoke_chaincode("other", &[b"x".to_vec()]),
            "ts" => Ok(stub
                .get_tx_timestamp()
                .map(|t| t.seconds.to_string())
                .unwrap_or_default()
                .into_bytes()),
            _ => Err(format!("unknown function {f}")),
        }
    }

    fn query(&self, stub: &mut Stub, f: &str, args: &[String]) -> Result<Vec<u8>, String> {
        match f {
            "get" => Ok(stub
                .get_state(&args.join(""))?
                .unwrap_or_else(|| b"<none>".to_vec())),
            "keys" => {
                let mut keys = Vec::new();
                for entry in stub.range_query_state("", "")? {
                    keys.push(entry?.0);
                }
                Ok(keys.join(",").into_bytes())
            }
            "first" => {
                let mut it = stub.range_query_state("", "")?;
                let first = it.next().transpose()?.map(|kv| kv.0).unwrap_or_default();
                it.close();
                Ok(first.into_bytes())
            }
            "put" => stub.put_state("x", b"y").map(|()| Vec::new()),
            _ => Err(format!("unknown query {f}")),
        }
    }
}

/// The peer's side of one stream: the handler, the ledger, the wire.
struct PeerSide {
    h: Handler,
    ledger: BTreeMap<String, Vec<u8>>,
    inbound: Streaming<ChaincodeMessage>,
    out: mpsc::Sender<Result<ChaincodeMessage, Status>>,
    registered: Option<String>,
}

impl PeerSide {
    fn range(
        &self,
        start: &str,
        after: Option<String>,
        limit: usize,
    ) -> (Vec<(String, Vec<u8>)>, bool) {
        let mut page: Vec<_> = self
            .ledger
            .range(start.to_owned()..)
            .filter(|(k, _)| after.as_ref().is_none_or(|a| *k > a))
            .take(limit + 1)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let more = page.len() > limit;
        page.truncate(limit);
        (page, more)
    }

    /// Queues the answer to a write, unless writes go unanswered.
    fn answer_write(&self, answers: &mut VecDeque<Input>, txid: String) {
        if !self.h.features().unacked_writes {
            answers.push_back(Input::WriteDone {
                txid,
                result: Ok(()),
            });
        }
    }

    /// Carries out outputs (answering ledger requests at once) until
    /// `txid` finishes; reads the stream when the handler needs input.
    async fn run_until(&mut self, txid: &str) -> ExecResult {
        loop {
            let mut answers = VecDeque::new();
            while let Some(out) = self.h.poll_output() {
                match out {
                    Output::Send(m) => self.out.send(Ok(m)).await.expect("send"),
                    Output::Registered { name, .. } => self.registered = Some(name),
                    Output::ReadState { txid, key } => answers.push_back(Input::StateValue {
                        value: self.ledger.get(&key).cloned(),
                        txid,
                    }),
                    Output::WriteState { txid, key, value } => {
                        self.ledger.insert(key, value);
                        self.answer_write(&mut answers, txid);
                    }
                    Output::DeleteState { txid, key } => {
                        self.ledger.remove(&key);
                        self.answer_write(&mut answers, txid);
                    }
                    Output::RangeQuery {
                        txid,
                        start_key,
                        after,
                        limit,
                        ..
                    } => {
                        let page = self.range(&start_key, after, limit);
                        answers.push_back(Input::RangePage {
                            txid,
                            result: Ok(page),
                        });
                    }
                    Output::InvokeChaincode { txid, .. } => {
                        let result = Err("handler not found for chaincode other".into());
                        answers.push_back(Input::InvokeDone { txid, result });
                    }
                    Output::Finished { txid: t, result } if t == txid => return result,
                    other => panic!("unexpected output {other:?}"),
                }
            }
            if let Some(answer) = answers.pop_front() {
                self.h
                    .handle(Instant::ZERO, answer)
                    .expect("answer accepted");
                for a in answers {
                    self.h.handle(Instant::ZERO, a).expect("answer accepted");
                }
                continue;
            }
            let msg = tokio::time::timeout(Duration::from_secs(10), self.inbound.message())
                .await
                .expect("chaincode answered in time")
                .expect("stream ok")
                .expect("stream open");
            let _ = self.h.handle(Instant::ZERO, Input::FromChaincode(msg));
        }
    }

    /// Reads REGISTER; io's registry is asked through `Registered`.
    async fn read_register(&mut self) {
        let msg = self
            .inbound
            .message()
            .await
            .expect("stream ok")
            .expect("REGISTER");
        self.h
            .handle(Instant::ZERO, Input::FromChaincode(msg))
            .expect("REGISTER accepted");
        self.flush().await;
    }

    /// Reads REGISTER and accepts the name: the handler answers REGISTERED.
    async fn register(&mut self) {
        self.read_register().await;
        self.h
            .handle(Instant::ZERO, Input::RegisterAccepted)
            .expect("accepted");
        self.flush().await;
    }

    /// Sends what the handler queued; notes the registered name.
    async fn flush(&mut self) {
        while let Some(out) = self.h.poll_output() {
            match out {
                Output::Send(m) => self.out.send(Ok(m)).await.expect("send"),
                Output::Registered { name, .. } => self.registered = Some(name),
                Output::Close { .. } => {}
                other => panic!("unexpected output {other:?}"),
            }
        }
    }

    async fn exec(&mut self, txid: &str, kind: ExecKind, args: &[&str]) -> ExecResult {
        let input = ChaincodeInput {
            args: args.iter().map(|a| a.as_bytes().to_vec()).collect(),
        };
        let exec = Input::Execute {
            txid: txid.into(),
            kind,
            input,
            tx_timestamp: Some(Timestamp {
                seconds: 42,
                nanos: 0,
            }),
            deadline: Instant::from_nanos(u64::MAX),
        };
        self.h
            .handle(Instant::ZERO, exec)
            .expect("execute accepted");
        self.run_until(txid).await
    }
}

fn completed(payload: &[u8]) -> ExecResult {
    ExecResult::Completed {
        payload: payload.to_vec(),
        event: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_and_peer_handler_talk_over_grpc_with_unacked_writes() {
    talk_over_grpc(Features::ALL).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_and_peer_handler_talk_over_grpc_with_every_write_answered() {
    talk_over_grpc(Features {
        concurrent_transactions: true,
        unacked_writes: false,
    })
    .await;
}

/// Every stub call over a peer granting `features`.
async fn talk_over_grpc(features: Features) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (conns, mut conn_rx) = mpsc::unbounded_channel();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(ChaincodeSupportServer::new(Peer { conns }))
            .serve_with_incoming(TcpListenerStream::new(listener)),
    );
    let options = Options {
        peer_address: addr.to_string(),
        name: "testcc".into(),
    };
    let shim = tokio::spawn(fabrik_shim::serve(options, TestCc));

    let (inbound, out) = tokio::time::timeout(Duration::from_secs(10), conn_rx.recv())
        .await
        .expect("connected")
        .expect("conn");
    let config = Config {
        range_page_size: 2,
        features,
        ..Config::default()
    };
    let mut peer = PeerSide {
        h: Handler::new(config),
        ledger: BTreeMap::new(),
        inbound,
        out,
        registered: None,
    };

    peer.register().await;
    assert_eq!(peer.h.features(), features, "the SDK asks for everything");
    assert_eq!(
        peer.exec("testcc", ExecKind::Init, &["init", "a", "1"])
            .await,
        completed(b"inited")
    );
    assert_eq!(peer.registered.as_deref(), Some("testcc"));
    let r = peer
        .exec(
            "t1",
            ExecKind::Transaction,
            &["put", "b", "2", "c", "3", "d", "4"],
        )
        .await;
    let ExecResult::Completed {
        payload,
        event: Some(ev),
    } = r
    else {
        panic!("{r:?}")
    };
    assert_eq!(
        (payload, ev.chaincode_id.as_str(), ev.tx_id.as_str()),
        (vec![], "testcc", "t1")
    );
    assert_eq!(
        (ev.event_name.as_str(), ev.payload.as_slice()),
        ("put", &b"evt"[..])
    );
    assert_eq!(
        peer.exec("t2", ExecKind::Transaction, &["ts"]).await,
        completed(b"42")
    );
    assert_eq!(
        peer.exec("t3", ExecKind::Transaction, &["del", "c"]).await,
        completed(b"")
    );
    let r = peer.exec("t4", ExecKind::Transaction, &["call"]).await;
    assert_eq!(
        r,
        ExecResult::Failed("handler not found for chaincode other".into())
    );
    let r = peer.exec("t5", ExecKind::Transaction, &["nope"]).await;
    assert_eq!(r, ExecResult::Failed("unknown function nope".into()));

    assert_eq!(
        peer.exec("q1", ExecKind::Query, &["get", "b"]).await,
        ExecResult::QueryCompleted(b"2".to_vec())
    );
    assert_eq!(
        peer.exec("q2", ExecKind::Query, &["get", "c"]).await,
        ExecResult::QueryCompleted(b"<none>".to_vec())
    );
    assert_eq!(
        peer.exec("q3", ExecKind::Query, &["keys"]).await,
        ExecResult::QueryCompleted(b"a,b,d".to_vec())
    );
    assert_eq!(
        peer.exec("q4", ExecKind::Query, &["first"]).await,
        ExecResult::QueryCompleted(b"a".to_vec())
    );
    assert_eq!(peer.h.open_iterators(), 0);
    let r = peer.exec("q5", ExecKind::Query, &["put"]).await;
    assert_eq!(
        r,
        ExecResult::QueryFailed("Cannot put state in query context".into())
    );

    // The peer ends the stream: serve returns Ok.
    drop(peer);
    let done = tokio::time::timeout(Duration::from_secs(10), shim)
        .await
        .expect("shim ended")
        .expect("join");
    assert!(done.is_ok(), "{done:?}");
}

#[tokio::test]
async fn unreachable_peer_fails_with_connect_error() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    let options = Options {
        peer_address: addr.to_string(),
        name: "cc".into(),
    };
    let err = fabrik_shim::serve(options, TestCc)
        .await
        .expect_err("no peer");
    assert!(
        err.to_string()
            .starts_with(&format!("cannot connect to peer at http://{addr}")),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_registration_stops_the_shim_with_an_error() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (conns, mut conn_rx) = mpsc::unbounded_channel();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(ChaincodeSupportServer::new(Peer { conns }))
            .serve_with_incoming(TcpListenerStream::new(listener)),
    );
    let options = Options {
        peer_address: addr.to_string(),
        name: "dup".into(),
    };
    let shim = tokio::spawn(fabrik_shim::serve(options, TestCc));
    let (inbound, out) = conn_rx.recv().await.expect("conn");
    let mut peer = PeerSide {
        h: Handler::new(Config::default()),
        ledger: BTreeMap::new(),
        inbound,
        out,
        registered: None,
    };
    peer.read_register().await;
    let reason = "Duplicate chaincodeID error: dup".to_owned();
    peer.h
        .handle(Instant::ZERO, Input::RegisterRefused { reason })
        .expect("refused");
    peer.flush().await;
    let done = tokio::time::timeout(Duration::from_secs(10), shim)
        .await
        .expect("shim ended")
        .expect("join");
    let err = done.expect_err("stopped");
    assert_eq!(
        err.to_string(),
        "chaincode shim stopped: []Chaincode handler FSM cannot handle message (ERROR) with payload size (32) while in state: created; peer error: Duplicate chaincodeID error: dup"
    );
}
