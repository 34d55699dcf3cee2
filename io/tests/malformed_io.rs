//! Malformed-input corpus at the io layer (issue #8 item 3): peer frames
//! (truncated frames, length prefixes over the cap, undecodable bodies),
//! CONSENSUS payloads (unknown senders, undecodable or unsupported
//! `BatchMessage`s), the REST API (v0.6 JSON-RPC `POST /chaincode` bodies,
//! block and transaction ids, unknown routes and methods) and the client
//! gRPC Devops service.
//!
//! Every named row checks the typed error and that nothing panicked; REST
//! rows also check the HTTP status and JSON-RPC code, that
//! `fabrik_rest_requests_total{route,status}` moved by one, and that nothing
//! changed (ledger height, nothing handed to consensus); gRPC rows check the
//! status code and that nothing reached consensus. Run: `cargo nextest run
//! -p fabrik-io --test malformed_io`.

use fabrik_core::ledger::Ledger;
use fabrik_core::ledger::buckettree::BucketTreeConfig;
use fabrik_core::pbft;
use fabrik_io::chaincode::launcher::{LaunchConfig, Launcher};
use fabrik_io::chaincode::registry::Registry;
use fabrik_io::config::ChaincodeMode;
use fabrik_io::consensus::Submitter;
use fabrik_io::events::{Hub, SendPolicy};
use fabrik_io::exec::{ExecSettings, Executor};
use fabrik_io::grpc::devops::DevopsService;
use fabrik_io::metrics::Metrics;
use fabrik_io::net::frame::{self, DEFAULT_MAX_FRAME, FrameError};
use fabrik_io::pbft_node::decode_consensus;
use fabrik_io::replica::Admission;
use fabrik_io::rest::{RestState, serve};
use fabrik_proto::pbft::{BatchMessage, Message as PbftMessage, batch_message, message};
use fabrik_proto::protos::devops_server::Devops;
use fabrik_proto::protos::{
    ChaincodeId, ChaincodeInput, ChaincodeInvocationSpec, ChaincodeSpec, Message, PeerEndpoint,
    message::Type, response::StatusCode,
};
use prost::Message as _;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, watch};

/// Documented in tests/MALFORMED.md.
const FRAME_CASES: usize = 12;
const CONSENSUS_CASES: usize = 8;
const REST_CASES: usize = 42;
const GRPC_CASES: usize = 10;

// ---------------- frames ----------------

fn frame_of(msg: &Message) -> Vec<u8> {
    frame::encode(msg, DEFAULT_MAX_FRAME).expect("encodes")
}

fn consensus_msg(payload: &[u8]) -> Message {
    Message {
        r#type: Type::Consensus as i32,
        timestamp: None,
        payload: payload.to_vec(),
        signature: vec![],
    }
}

fn kind(e: &FrameError) -> &'static str {
    match e {
        FrameError::TooLarge { .. } => "too_large",
        FrameError::Io(_) => "io",
        FrameError::Decode(_) => "decode",
    }
}

#[rustfmt::skip]
fn frame_cases() -> Vec<(&'static str, Vec<u8>, usize, &'static str)> {
    let good = frame_of(&consensus_msg(b"hello"));
    let len = |n: u32| n.to_be_bytes().to_vec();
    vec![
        ("prefix_truncated_to_2_bytes", vec![0, 0], 1024, "io"),
        ("prefix_truncated_to_3_bytes", vec![0, 0, 0], 1024, "io"),
        ("body_truncated", good[..good.len() - 1].to_vec(), 1024, "io"),
        ("body_missing", len(9), 1024, "io"),
        ("prefix_u32_max", len(u32::MAX), DEFAULT_MAX_FRAME, "too_large"),
        ("prefix_one_over_cap", len(1025), 1024, "too_large"),
        ("prefix_default_cap_plus_one", len(DEFAULT_MAX_FRAME as u32 + 1), DEFAULT_MAX_FRAME, "too_large"),
        ("prefix_over_cap_with_body", [len(2000), vec![0; 2000]].concat(), 1024, "too_large"),
        ("body_garbage", [len(3), vec![0xff, 0xff, 0xff]].concat(), 1024, "decode"),
        ("body_invalid_wire_type", [len(2), vec![0x0f, 0x00]].concat(), 1024, "decode"),
        ("body_inner_length_overruns", [len(3), vec![0x1a, 0x7f, 0x00]].concat(), 1024, "decode"),
        ("body_type_varint_overflow", [len(11), vec![0x08], vec![0xff; 10]].concat(), 1024, "decode"),
    ]
}

/// A frame error closes the stream unless only the body failed to
/// decode; then the next frame is still read (the stream stays usable).
#[tokio::test]
async fn frame_corpus() {
    let cases = frame_cases();
    assert!(cases.len() >= FRAME_CASES);
    let next = consensus_msg(b"next");
    let mut failures = Vec::new();
    for (name, bytes, max, want) in cases {
        // After a body that only fails to decode, the next frame follows.
        let mut input = bytes.clone();
        if want == "decode" {
            input.extend(frame_of(&next));
        }
        let mut reader = input.as_slice();
        match frame::read(&mut reader, max).await {
            Err(e) if kind(&e) == want => {
                if e.is_fatal() != (want != "decode") {
                    failures.push(format!("{name}: fatal = {}", e.is_fatal()));
                }
                if !e.is_fatal() {
                    let after = frame::read(&mut reader, max).await;
                    if !matches!(&after, Ok(Some(m)) if *m == next) {
                        failures.push(format!("{name}: stream unusable after: {after:?}"));
                    }
                }
            }
            other => failures.push(format!("{name}: got {other:?}, expected {want}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(frame::encode(&consensus_msg(&[0; 2048]), 1024).is_err());
}

// ---------------- CONSENSUS payloads ----------------

#[rustfmt::skip]
fn consensus_cases() -> Vec<(&'static str, &'static str, Vec<u8>, &'static str)> {
    let bm = |p: batch_message::Payload| BatchMessage { payload: Some(p) }.encode_to_vec();
    let empty_pbft = PbftMessage { payload: None }.encode_to_vec();
    let _ = message::Payload::RequestBatch(Default::default());
    vec![
        ("sender_not_a_validator", "nvp0", bm(batch_message::Payload::PbftMessage(empty_pbft.clone())), "unknown_replica"),
        ("sender_id_not_numeric", "vpX", bm(batch_message::Payload::PbftMessage(empty_pbft)), "unknown_replica"),
        ("payload_garbage", "vp1", vec![0xff, 0xff], "malformed"),
        ("payload_truncated", "vp1", vec![0x1a, 0x05, 0x12], "malformed"),
        ("payload_empty_batch_message", "vp1", vec![], "malformed"),
        ("payload_complaint", "vp2", bm(batch_message::Payload::Complaint(Default::default())), "unsupported"),
        ("payload_request_batch", "vp2", bm(batch_message::Payload::RequestBatch(Default::default())), "unsupported"),
        ("pbft_bytes_garbage", "vp3", bm(batch_message::Payload::PbftMessage(vec![0xff])), "malformed"),
    ]
}

/// What the io layer refuses before the replica sees a CONSENSUS message;
/// the label is what it counts in `fabrik_consensus_rejected_messages_total`.
#[test]
fn consensus_payload_corpus() {
    let cases = consensus_cases();
    assert!(cases.len() >= CONSENSUS_CASES);
    let mut failures = Vec::new();
    for (name, from, payload, want) in cases {
        match decode_consensus(from, &consensus_msg(&payload)) {
            Err(reason) if reason.label() == want => {}
            other => failures.push(format!("{name}: got {other:?}, expected {want}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let m = Metrics::new();
    m.consensus_rejected(pbft::RejectReason::Unsupported("x").label(), "vp2");
    assert!(
        m.encode()
            .contains("reason=\"unsupported\",sender=\"vp2\"} 1")
    );
}

// ---------------- a peer for REST and gRPC ----------------

struct Node {
    store: Arc<fabrik_io::store::Store>,
    executor: Arc<Executor>,
    submitter: Submitter,
    consensus: mpsc::Receiver<pbft::Input>,
    metrics: Metrics,
    _dir: tempfile::TempDir,
}

fn node() -> Node {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(fabrik_io::store::Store::open(&dir.path().join("db")).expect("store"));
    let launch = LaunchConfig {
        mode: ChaincodeMode::Dev,
        dir: dir.path().join("cc"),
        peer_address: "127.0.0.1:1".into(),
        startup_timeout: Duration::from_millis(100),
    };
    let (_hub, publisher) = Hub::start(16, SendPolicy::Drop);
    let settings = ExecSettings {
        execute_timeout: Duration::from_secs(1),
        startup_timeout: Duration::from_millis(100),
        delta_history_size: 10,
        buckets: BucketTreeConfig::default(),
    };
    let metrics = Metrics::new();
    let launcher = Arc::new(Launcher::new(launch, Registry::new()));
    let executor = Executor::new(Arc::clone(&store), launcher, publisher, settings);
    let executor = Arc::new(executor.with_metrics(metrics.clone()));
    executor.ensure_genesis().expect("genesis");
    let (tx, consensus) = mpsc::channel(16);
    let submitter = Submitter::pbft(tx, 0);
    Node {
        store,
        executor,
        submitter,
        consensus,
        metrics,
        _dir: dir,
    }
}

impl Node {
    fn height(&self) -> u64 {
        Ledger::new(&*self.store).height().expect("height")
    }

    fn nothing_submitted(&mut self) -> bool {
        self.consensus.try_recv().is_err()
    }
}

// ---------------- REST ----------------

async fn http(addr: std::net::SocketAddr, method: &str, path: &str, body: &[u8]) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await.expect("write");
    let _ = s.write_all(body).await;
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out).await;
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// The value of `fabrik_rest_requests_total{route,status}`.
fn rest_count(m: &Metrics, route: &str, status: u16) -> u64 {
    let needle = format!("fabrik_rest_requests_total{{route=\"{route}\",status=\"{status}\"}} ");
    m.encode()
        .lines()
        .find_map(|l| l.strip_prefix(&needle).and_then(|v| v.trim().parse().ok()))
        .unwrap_or(0)
}

struct Rest {
    name: &'static str,
    method: &'static str,
    path: String,
    body: Vec<u8>,
    status: u16,
    route: &'static str,
    /// The JSON-RPC error code in the body, if any.
    code: Option<i64>,
}

fn rpc(name: &'static str, body: &str, status: u16, code: i64) -> Rest {
    Rest {
        name,
        method: "POST",
        path: "/chaincode".into(),
        body: body.as_bytes().to_vec(),
        status,
        route: "/chaincode",
        code: Some(code),
    }
}

fn get(name: &'static str, path: &str, status: u16, route: &'static str) -> Rest {
    Rest {
        name,
        method: "GET",
        path: path.into(),
        body: vec![],
        status,
        route,
        code: None,
    }
}

fn with(method: &'static str, r: Rest) -> Rest {
    Rest { method, ..r }
}

#[rustfmt::skip]
fn rest_cases() -> Vec<Rest> {
    let v = |params: &str| format!(r#"{{"jsonrpc":"2.0","method":"invoke","params":{params},"id":1}}"#);
    let big = format!(r#"{{"jsonrpc":"2.0","method":"invoke","params":{{"ctorMsg":{{"args":["{}"]}}}},"id":1}}"#, "a".repeat(1 << 20));
    let valid = v(r#"{"chaincodeID":{"name":"cc"},"ctorMsg":{"args":["f"]}}"#);
    let blocks = "/chain/blocks/{id}";
    let txs = "/transactions/{id}";
    vec![
        rpc("rpc_empty_body", "", 400, -32600),
        rpc("rpc_unclosed_object", "{", 400, -32700),
        rpc("rpc_truncated_request", &valid[..valid.len() / 2], 400, -32700),
        rpc("rpc_array_body", "[1]", 400, -32700),
        rpc("rpc_null_body", "null", 400, -32700),
        rpc("rpc_string_body", "\"invoke\"", 400, -32700),
        rpc("rpc_trailing_garbage", &format!("{valid}xyz"), 400, -32700),
        Rest { body: vec![0xff, 0xfe, 0x7b], ..rpc("rpc_not_utf8", "", 400, -32700) },
        rpc("rpc_version_is_number", r#"{"jsonrpc":2,"method":"invoke","id":1}"#, 400, -32700),
        rpc("rpc_method_is_object", r#"{"jsonrpc":"2.0","method":{},"id":1}"#, 400, -32700),
        rpc("rpc_id_is_bool", r#"{"jsonrpc":"2.0","method":"invoke","id":true}"#, 400, -32700),
        rpc("rpc_id_is_float", r#"{"jsonrpc":"2.0","method":"invoke","id":1.5}"#, 400, -32700),
        rpc("rpc_params_is_array", &v("[1]"), 400, -32700),
        rpc("rpc_params_type_is_string", &v(r#"{"type":"GOLANG"}"#), 400, -32700),
        rpc("rpc_params_type_overflows_int32", &v(r#"{"type":4294967296}"#), 400, -32700),
        rpc("rpc_chaincode_id_is_string", &v(r#"{"chaincodeID":"cc"}"#), 400, -32700),
        rpc("rpc_chaincode_name_is_number", &v(r#"{"chaincodeID":{"name":7}}"#), 400, -32700),
        rpc("rpc_ctor_args_are_numbers", &v(r#"{"chaincodeID":{"name":"cc"},"ctorMsg":{"args":[1,2]}}"#), 400, -32700),
        rpc("rpc_metadata_bad_base64", &v(r#"{"metadata":"!!!"}"#), 400, -32700),
        rpc("rpc_attributes_not_array", &v(r#"{"attributes":"a"}"#), 400, -32700),
        rpc("rpc_timeout_is_string", &v(r#"{"timeout":"1s"}"#), 400, -32700),
        rpc("rpc_missing_version", r#"{"method":"invoke","params":{},"id":1}"#, 400, -32600),
        rpc("rpc_version_1_0", r#"{"jsonrpc":"1.0","method":"invoke","params":{},"id":1}"#, 400, -32600),
        rpc("rpc_missing_method", r#"{"jsonrpc":"2.0","params":{},"id":1}"#, 400, -32600),
        rpc("rpc_unknown_method", r#"{"jsonrpc":"2.0","method":"burn","params":{},"id":1}"#, 404, -32601),
        rpc("rpc_method_wrong_case", r#"{"jsonrpc":"2.0","method":"Invoke","params":{},"id":1}"#, 404, -32601),
        rpc("rpc_missing_params", r#"{"jsonrpc":"2.0","method":"invoke","id":1}"#, 400, -32602),
        rpc("rpc_null_params", r#"{"jsonrpc":"2.0","method":"query","params":null,"id":1}"#, 400, -32602),
        rpc("rpc_invoke_without_chaincode_id", &v(r#"{"ctorMsg":{"args":["f"]}}"#), 200, -32602),
        rpc("rpc_invoke_blank_name", &v(r#"{"chaincodeID":{"path":"p"},"ctorMsg":{"args":["f"]}}"#), 200, -32602),
        rpc("rpc_invoke_without_args", &v(r#"{"chaincodeID":{"name":"cc"}}"#), 200, -32602),
        rpc("rpc_query_empty_args", r#"{"jsonrpc":"2.0","method":"query","params":{"chaincodeID":{"name":"cc"},"ctorMsg":{"args":[]}},"id":1}"#, 200, -32602),
        rpc("rpc_deploy_blank_name_dev_mode", r#"{"jsonrpc":"2.0","method":"deploy","params":{"chaincodeID":{"path":"x"},"ctorMsg":{"args":["init"]}},"id":1}"#, 200, -32602),
        rpc("rpc_body_over_limit", &big, 413, -32600),
        get("block_id_not_a_number", "/chain/blocks/abc", 400, blocks),
        get("block_id_negative", "/chain/blocks/-1", 400, blocks),
        get("block_id_overflows_u64", "/chain/blocks/18446744073709551616", 400, blocks),
        get("block_beyond_head", "/chain/blocks/99", 404, blocks),
        get("transaction_unknown_txid", "/transactions/no-such-txid", 404, txs),
        get("unknown_route", "/devops/invoke", 404, "unknown"),
        with("DELETE", get("wrong_method_on_chaincode", "/chaincode", 404, "/chaincode")),
        with("POST", get("wrong_method_on_chain", "/chain", 404, "/chain")),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_corpus() {
    let mut n = node();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (_stop, stopping) = watch::channel(false);
    let (hub, _) = Hub::start(16, SendPolicy::Drop);
    let state = RestState {
        executor: Arc::clone(&n.executor),
        submitter: n.submitter.clone(),
        store: Arc::clone(&n.store),
        hub,
        mode: ChaincodeMode::Dev,
        this_peer: PeerEndpoint::default(),
        connected: Arc::new(Vec::new),
        metrics: n.metrics.clone(),
        stopping,
    };
    tokio::spawn(serve(listener, state));
    let cases = rest_cases();
    assert!(cases.len() >= REST_CASES, "{} cases", cases.len());
    let height = n.height();
    let mut failures = Vec::new();
    for c in cases {
        let route = if c.route == "not_found" {
            "(unknown)"
        } else {
            c.route
        };
        let before = rest_count(&n.metrics, route, c.status);
        let (status, body) = http(addr, c.method, &c.path, &c.body).await;
        let mut why = Vec::new();
        if status != c.status {
            why.push(format!("status {status}, expected {}", c.status));
        }
        if let Some(code) = c.code
            && !body.contains(&format!("\"code\":{code},"))
        {
            why.push(format!("body {body:?} lacks code {code}"));
        }
        if rest_count(&n.metrics, route, c.status) != before + 1 {
            why.push(format!(
                "rest_requests{{{route},{}}} did not move by one",
                c.status
            ));
        }
        if n.height() != height || !n.nothing_submitted() {
            why.push("state changed or a transaction reached consensus".into());
        }
        if !why.is_empty() {
            failures.push(format!("{}: {}", c.name, why.join("; ")));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// ---------------- gRPC Devops ----------------

fn invocation(name: &str, args: &[&str], alg: &str) -> ChaincodeInvocationSpec {
    ChaincodeInvocationSpec {
        chaincode_spec: Some(spec(name, args)),
        id_generation_alg: alg.into(),
    }
}

fn spec(name: &str, args: &[&str]) -> ChaincodeSpec {
    ChaincodeSpec {
        chaincode_id: Some(ChaincodeId {
            path: String::new(),
            name: name.into(),
        }),
        ctor_msg: Some(ChaincodeInput {
            args: args.iter().map(|a| a.as_bytes().to_vec()).collect(),
        }),
        ..Default::default()
    }
}

/// The gRPC status code, or `Ok` with the v0.6 `Response.status`.
type Outcome = Result<i32, tonic::Code>;

#[tokio::test]
async fn grpc_devops_corpus() {
    let mut n = node();
    let svc = DevopsService::new(
        Arc::clone(&n.executor),
        n.submitter.clone(),
        ChaincodeMode::Dev,
    );
    let resp =
        |r: Result<tonic::Response<fabrik_proto::protos::Response>, tonic::Status>| -> Outcome {
            r.map(|r| r.into_inner().status).map_err(|s| s.code())
        };
    let failure = Ok(StatusCode::Failure as i32);
    let unknown = Err(tonic::Code::Unknown);
    let cases: Vec<(&str, Outcome, Outcome)> = vec![
        (
            "invoke_without_spec",
            resp(
                svc.invoke(tonic::Request::new(ChaincodeInvocationSpec::default()))
                    .await,
            ),
            unknown,
        ),
        (
            "invoke_blank_name",
            resp(
                svc.invoke(tonic::Request::new(invocation("", &["f"], "")))
                    .await,
            ),
            unknown,
        ),
        (
            "invoke_unsupported_id_algorithm",
            resp(
                svc.invoke(tonic::Request::new(invocation("cc", &["f"], "sha256")))
                    .await,
            ),
            unknown,
        ),
        (
            "query_blank_name",
            resp(
                svc.query(tonic::Request::new(invocation("", &["q"], "")))
                    .await,
            ),
            unknown,
        ),
        (
            "query_unsupported_id_algorithm",
            resp(
                svc.query(tonic::Request::new(invocation("cc", &["q"], "x")))
                    .await,
            ),
            unknown,
        ),
        (
            "deploy_blank_name_dev_mode",
            svc.deploy(tonic::Request::new(spec("", &["init"])))
                .await
                .map(|_| 0)
                .map_err(|s| s.code()),
            unknown,
        ),
        (
            "build_blank_name_dev_mode",
            svc.build(tonic::Request::new(ChaincodeSpec::default()))
                .await
                .map(|_| 0)
                .map_err(|s| s.code()),
            unknown,
        ),
        (
            "login_without_membership",
            resp(svc.login(tonic::Request::new(Default::default())).await),
            failure,
        ),
        (
            "exp_prepare_for_tx",
            resp(
                svc.exp_prepare_for_tx(tonic::Request::new(Default::default()))
                    .await,
            ),
            failure,
        ),
        (
            "exp_execute_with_binding",
            resp(
                svc.exp_execute_with_binding(tonic::Request::new(Default::default()))
                    .await,
            ),
            failure,
        ),
    ];
    assert!(cases.len() >= GRPC_CASES);
    let mut failures = Vec::new();
    for (name, got, want) in cases {
        if got != want {
            failures.push(format!("{name}: got {got:?}, expected {want:?}"));
        }
    }
    assert!(n.nothing_submitted(), "a refused request reached consensus");
    assert_eq!(n.height(), 1);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// ---------------- a peer with no room for new transactions ----------------

/// A client of a peer whose admission bound is taken: REST answers 503 with
/// Retry-After and the busy text, gRPC Devops RESOURCE_EXHAUSTED with the
/// same text; nothing reaches consensus.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_peer_refuses_at_once_with_busy_retry_later() {
    let n = node();
    let (tx, mut consensus) = mpsc::channel(16);
    let full = Submitter::pbft(tx, 0).with_admission(Arc::new(Admission::new(0)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (_stop, stopping) = watch::channel(false);
    let (hub, _) = Hub::start(16, SendPolicy::Drop);
    let state = RestState {
        executor: Arc::clone(&n.executor),
        submitter: full.clone(),
        store: Arc::clone(&n.store),
        hub,
        mode: ChaincodeMode::Dev,
        this_peer: PeerEndpoint::default(),
        connected: Arc::new(Vec::new),
        metrics: n.metrics.clone(),
        stopping,
    };
    tokio::spawn(serve(listener, state));
    let invoke = r#"{"jsonrpc":"2.0","method":"invoke","params":{"type":1,"chaincodeID":{"name":"mycc"},"ctorMsg":{"args":["invoke","a","b","1"]}},"id":7}"#;
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "POST /chaincode HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        invoke.len()
    );
    s.write_all(head.as_bytes()).await.expect("write");
    s.write_all(invoke.as_bytes()).await.expect("write");
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out).await;
    let text = String::from_utf8_lossy(&out).to_lowercase();
    assert!(text.starts_with("http/1.1 503"), "{text}");
    assert!(text.contains("\r\nretry-after: 1\r\n"), "{text}");
    assert!(
        text.contains(
            "\"code\":-32002,\"message\":\"invocation failure\",\"data\":\"error when invoking chaincode: \
             the network is busy: this peer has as many transactions waiting to be ordered as it may"
        ),
        "{text}"
    );

    let svc = DevopsService::new(Arc::clone(&n.executor), full, ChaincodeMode::Dev);
    let status = svc
        .invoke(tonic::Request::new(invocation(
            "mycc",
            &["invoke", "a", "b", "1"],
            "",
        )))
        .await
        .expect_err("refused");
    assert_eq!(status.code(), tonic::Code::ResourceExhausted);
    assert_eq!(status.message(), fabrik_io::consensus::BUSY);
    assert!(consensus.try_recv().is_err(), "nothing reached consensus");
}
