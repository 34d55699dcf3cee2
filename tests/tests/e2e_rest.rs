//! The client APIs of one dev-mode peer as users drive them: v0.6 REST
//! (`/chain`, `/chain/blocks/{n}`, `/transactions/{id}`, `/network/peers`,
//! JSON-RPC `/chaincode` with its error paths, CORS, body limit), server-sent
//! events, `peerd chaincode invoke --wait`, `peerd events listen`, the
//! operations server (`/metrics`, `/healthz`, `/readyz`) and the offline
//! `peerd ledger` tools, including `verify` catching a block edited on disk.
//!
//! HTTP is spoken with a tiny HTTP/1.1 client over `std::net::TcpStream`.

use fabrik_tests::{ChildGuard, Peer, binary, eventually, free_port, ok, wait_height};
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

/// A parsed HTTP response.
struct Resp {
    status: u16,
    head: String,
    body: String,
}

impl Resp {
    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }
}

fn http(addr: &str, method: &str, path: &str, body: &[u8]) -> Resp {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).expect("write head");
    // The server may answer (413) before reading everything; ignore write errors.
    let _ = s.write_all(body);
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    Resp {
        status,
        head: head.to_string(),
        body: body.to_string(),
    }
}

fn get(addr: &str, path: &str) -> Resp {
    http(addr, "GET", path, b"")
}

fn rpc(addr: &str, body: &str) -> Resp {
    http(addr, "POST", "/chaincode", body.as_bytes())
}

fn call(method: &str, params: &str, id: &str) -> String {
    format!(r#"{{"jsonrpc":"2.0","method":"{method}","params":{params},"id":{id}}}"#)
}

fn start_peer() -> (Peer, String) {
    let ops = format!("127.0.0.1:{}", free_port());
    let mut peer = Peer::new().env("CORE_OPERATIONS_ADDRESS", &ops);
    peer.start(&["--peer-chaincodedev"]);
    wait_height(&peer, 1);
    (peer, ops)
}

fn start_cc(peer: &Peer, name: &str) -> ChildGuard {
    let guard = peer.chaincode("example02", name);
    std::thread::sleep(Duration::from_millis(300));
    guard
}

fn query_a(rest: &str) -> Option<String> {
    let r = rpc(
        rest,
        &call(
            "query",
            r#"{"chaincodeID":{"name":"mycc"},"ctorMsg":{"args":["query","a"]}}"#,
            "5",
        ),
    );
    r.json()["result"]["message"].as_str().map(str::to_owned)
}

/// Base64 of [`fabrik_tests::v06_dev_deployment_spec`], as REST shows it.
fn v06_dev_deploy_payload(name: &str, args: &[&str]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .encode(fabrik_tests::v06_dev_deployment_spec(name, args))
}

#[test]
fn rest_routes_jsonrpc_and_operations() {
    let (peer, ops) = start_peer();
    let rest = peer.rest.clone();

    // /chain after genesis: v0.6 headers, height 1, no previous hash.
    let r = get(&rest, "/chain");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("application/json")
    );
    assert_eq!(
        r.header("access-control-allow-origin").as_deref(),
        Some("*")
    );
    assert_eq!(
        r.header("access-control-allow-headers").as_deref(),
        Some("accept, content-type")
    );
    let info = r.json();
    assert_eq!(info["height"], 1);
    assert!(
        info["currentBlockHash"].is_string() && info.get("previousBlockHash").is_none(),
        "{info}"
    );

    // Deploy through JSON-RPC (dev mode needs the name).
    let _cc = start_cc(&peer, "mycc");
    let deploy = r#"{"type":1,"chaincodeID":{"name":"mycc"},"ctorMsg":{"args":["init","a","100","b","200"]}}"#;
    let r = rpc(&rest, &call("deploy", deploy, "1"));
    assert_eq!(
        (r.status, r.body.as_str()),
        (
            200,
            r#"{"jsonrpc":"2.0","result":{"status":"OK","message":"mycc"},"id":1}"#
        )
    );
    wait_height(&peer, 2);
    let info = get(&rest, "/chain").json();
    assert_eq!(info["height"], 2);
    assert!(info["previousBlockHash"].is_string(), "{info}");

    // Block 1 holds the deploy: proto names, integer enums, base64 bytes.
    let b = get(&rest, "/chain/blocks/1").json();
    let tx = &b["transactions"][0];
    assert_eq!(
        (tx["type"].as_i64(), tx["txid"].as_str()),
        (Some(1), Some("mycc")),
        "{b}"
    );
    assert!(tx["chaincodeID"].is_string() && tx["timestamp"]["seconds"].is_number());
    assert_eq!(
        tx["payload"].as_str(),
        Some(v06_dev_deploy_payload("mycc", &["init", "a", "100", "b", "200"]).as_str()),
        "the deployment spec v0.6's Devops builds: the spec only, no date, no code"
    );
    assert!(
        b["stateHash"].is_string() && b["nonHashData"]["localLedgerCommitTimestamp"].is_object(),
        "{b}"
    );
    assert!(
        b.get("version").is_none() && b.get("timestamp").is_none(),
        "zero values are omitted: {b}"
    );
    let g = get(&rest, "/chain/blocks/0").json();
    assert!(
        g.get("transactions").is_none() && g.get("previousBlockHash").is_none(),
        "{g}"
    );
    let r = get(&rest, "/chain/blocks/99");
    assert_eq!(
        (r.status, r.body.as_str()),
        (404, "{\"Error\":\"openchain: resource not found\"}\n")
    );
    let r = get(&rest, "/chain/blocks/x");
    assert_eq!(
        (r.status, r.body.as_str()),
        (
            400,
            "{\"Error\":\"Block id must be an integer (uint64).\"}\n"
        )
    );

    // Transactions by id: the deploy's id is the chaincode name.
    let t = get(&rest, "/transactions/mycc");
    assert_eq!(t.status, 200);
    assert_eq!(t.json()["txid"], "mycc");
    let r = get(&rest, "/transactions/nope");
    assert_eq!(
        (r.status, r.body.as_str()),
        (404, "{\"Error\":\"Transaction nope is not found.\"}\n")
    );

    // /network/peers includes this peer.
    let p = get(&rest, "/network/peers").json();
    assert_eq!(p["peers"][0]["ID"]["name"], "vp0", "{p}");
    assert_eq!(p["peers"][0]["address"], peer.address.as_str());
    assert_eq!(p["peers"][0]["type"], 1);

    // Invoke (string id echoed), then query.
    let invoke =
        r#"{"chaincodeID":{"name":"mycc"},"ctorMsg":{"function":"invoke","args":["a","b","10"]}}"#;
    let r = rpc(&rest, &call("invoke", invoke, r#""abc""#));
    let v = r.json();
    assert_eq!(
        (r.status, &v["id"], &v["result"]["status"]),
        (200, &Value::from("abc"), &Value::from("OK")),
        "{v}"
    );
    assert_eq!(
        v["result"]["message"].as_str().map(str::len),
        Some(36),
        "a UUID txid: {v}"
    );
    assert!(
        eventually(Duration::from_secs(20), || (query_a(&rest)? == "90")
            .then_some(()))
        .is_some()
    );

    // A notification (no id) is executed but gets no body.
    let r = rpc(
        &rest,
        &format!(r#"{{"jsonrpc":"2.0","method":"invoke","params":{invoke}}}"#),
    );
    assert_eq!((r.status, r.body.as_str()), (200, ""));
    assert!(
        eventually(Duration::from_secs(20), || (query_a(&rest)? == "80")
            .then_some(()))
        .is_some()
    );

    redeploy_is_recorded_and_keeps_the_state(&peer, deploy);
    jsonrpc_error_paths(&rest);
    http_edges(&rest);
    operations(&ops);
}

/// v0.6 lets a dev-mode chaincode be deployed again under its name: the
/// deploy is answered OK and listed in its block, and Init does not run
/// again, so the balances stay.
fn redeploy_is_recorded_and_keeps_the_state(peer: &Peer, deploy: &str) {
    let rest = &peer.rest;
    let height = get(rest, "/chain").json()["height"]
        .as_u64()
        .expect("height");
    let r = rpc(rest, &call("deploy", deploy, "7"));
    assert_eq!(
        r.body,
        r#"{"jsonrpc":"2.0","result":{"status":"OK","message":"mycc"},"id":7}"#
    );
    wait_height(peer, height + 1);
    let block = get(rest, &format!("/chain/blocks/{height}")).json();
    let txs = block["transactions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(txs.len(), 1, "the redeploy is listed in its block: {block}");
    assert_eq!(
        (txs[0]["type"].as_i64(), txs[0]["txid"].as_str()),
        (Some(1), Some("mycc"))
    );
    assert_eq!(
        txs[0]["payload"].as_str(),
        Some(v06_dev_deploy_payload("mycc", &["init", "a", "100", "b", "200"]).as_str())
    );
    assert_eq!(
        query_a(rest).as_deref(),
        Some("80"),
        "Init did not run again"
    );
    let t = get(rest, "/transactions/mycc").json();
    assert_eq!(t["txid"], "mycc", "{t}");
}

fn jsonrpc_error_paths(rest: &str) {
    let r = rpc(rest, "");
    assert_eq!(r.status, 400);
    assert_eq!(
        r.body,
        "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32600,\"message\":\"Invalid request\",\"data\":\"Client must supply a payload for chaincode requests.\"},\"id\":null}\n"
    );
    // Go's encoding/json texts, as v0.6 answered them.
    let malformed = [
        (
            r#"{"jsonrpc":"2.0","method":"query""#,
            "unexpected end of JSON input",
        ),
        (
            "{nope",
            "invalid character 'n' looking for beginning of object key string",
        ),
        (
            "xyz",
            "invalid character 'x' looking for beginning of value",
        ),
        (
            r#"{"jsonrpc":2,"method":"query"}"#,
            "json: cannot unmarshal number into Go value of type string",
        ),
    ];
    for (body, go_text) in malformed {
        let r = rpc(rest, body);
        assert_eq!(r.status, 400, "{body}");
        assert_eq!(
            r.body,
            format!(
                "{{\"jsonrpc\":\"2.0\",\"error\":{{\"code\":-32700,\"message\":\"Parse error\",\"data\":\"Error unmarshalling chaincode request payload: {go_text}\"}},\"id\":null}}\n"
            ),
            "{body}"
        );
    }
    let r = rpc(rest, r#"{"method":"query","id":1}"#);
    assert_eq!(
        (r.status, r.json()["error"]["data"].as_str()),
        (400, Some("Missing JSON RPC 2.0 version string."))
    );
    let r = rpc(rest, r#"{"jsonrpc":"1.0","method":"query","id":1}"#);
    assert_eq!(
        r.json()["error"]["data"],
        "Invalid JSON RPC 2.0 version string. Must be 2.0."
    );
    let r = rpc(rest, r#"{"jsonrpc":"2.0","id":1}"#);
    assert_eq!(
        r.json()["error"]["data"],
        "Missing JSON RPC 2.0 method string."
    );
    let r = rpc(rest, r#"{"jsonrpc":"2.0","method":"burn","id":1}"#);
    assert_eq!(
        (r.status, r.json()["error"]["code"].as_i64()),
        (404, Some(-32601))
    );
    let r = rpc(rest, r#"{"jsonrpc":"2.0","method":"query","id":1}"#);
    assert_eq!(
        (r.status, r.json()["error"]["code"].as_i64()),
        (400, Some(-32602))
    );
    let cases = [
        (
            "deploy",
            r#"{"ctorMsg":{"args":["init"]}}"#,
            "Payload must contain a ChaincodeID.",
        ),
        (
            "deploy",
            r#"{"chaincodeID":{"path":"x"},"ctorMsg":{"args":["init"]}}"#,
            "Chaincode name may not be blank in development mode.",
        ),
        (
            "invoke",
            r#"{"chaincodeID":{"path":"x"},"ctorMsg":{"args":["f"]}}"#,
            "Chaincode name may not be blank.",
        ),
        (
            "query",
            r#"{"chaincodeID":{"name":"mycc"}}"#,
            "Payload must contain a CtorMsg with a Chaincode function name.",
        ),
    ];
    for (method, params, data) in cases {
        let r = rpc(rest, &call(method, params, "9"));
        let v = r.json();
        assert_eq!(
            (
                r.status,
                v["error"]["code"].as_i64(),
                v["error"]["data"].as_str()
            ),
            (200, Some(-32602), Some(data)),
            "{v}"
        );
        assert_eq!(v["id"], 9);
    }
    // Execution failures are HTTP 200 with -32003.
    let r = rpc(
        rest,
        &call(
            "query",
            r#"{"chaincodeID":{"name":"ghost"},"ctorMsg":{"args":["query","a"]}}"#,
            "2",
        ),
    );
    let v = r.json();
    assert_eq!(
        (
            r.status,
            v["error"]["code"].as_i64(),
            v["error"]["message"].as_str()
        ),
        (200, Some(-32003), Some("Query failure"))
    );
    assert_eq!(
        v["error"]["data"].as_str(),
        Some(
            "Error when querying chaincode: Error:Failed to launch chaincode spec(Could not get \
             deployment transaction for ghost - LedgerError - ResourceNotFound: ledger: resource \
             not found)"
        ),
        "{v}"
    );
}

fn http_edges(rest: &str) {
    let r = get(rest, "/devops/invoke");
    assert_eq!(
        (r.status, r.body.as_str()),
        (404, "{\"Error\":\"Openchain endpoint not found.\"}\n")
    );
    assert_eq!(
        r.header("access-control-allow-origin").as_deref(),
        Some("*")
    );
    assert_eq!(
        get(rest, "/chaincode").status,
        404,
        "wrong method is v0.6's not-found"
    );
    let r = http(rest, "OPTIONS", "/chaincode", b"");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("access-control-allow-origin").as_deref(),
        Some("*")
    );
    let big = vec![b' '; (1 << 20) + 10];
    let r = http(rest, "POST", "/chaincode", &big);
    assert_eq!(r.status, 413, "{}", r.body);
    assert!(r.body.contains("exceeds the limit"), "{}", r.body);
}

fn operations(ops: &str) {
    let m = get(ops, "/metrics");
    assert_eq!(m.status, 200);
    assert!(m.body.contains("fabrik_ledger_height 5"), "{}", m.body);
    assert!(
        m.body
            .contains("fabrik_rest_requests_total{route=\"/chaincode\",status=\"200\"}"),
        "{}",
        m.body
    );
    assert!(
        m.body.contains("fabrik_ledger_block_commit_seconds"),
        "{}",
        m.body
    );
    let h = get(ops, "/healthz");
    assert_eq!((h.status, h.body.as_str()), (200, "{\"status\":\"OK\"}\n"));
    let r = get(ops, "/readyz");
    assert_eq!((r.status, r.json()["height"].as_i64()), (200, Some(5)));
}

/// Reads SSE lines until an `event:` line, returning its kind and data.
fn next_sse_event(reader: &mut BufReader<TcpStream>) -> Option<(String, String)> {
    let mut kind = None;
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let l = line.trim_end();
        if let Some(k) = l.strip_prefix("event: ") {
            kind = Some(k.to_string());
        } else if let (Some(k), Some(d)) = (&kind, l.strip_prefix("data: ")) {
            return Some((k.clone(), d.to_string()));
        }
    }
}

fn sse(rest: &str, query: &str) -> BufReader<TcpStream> {
    let mut s = TcpStream::connect(rest).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    write!(s, "GET /events?{query} HTTP/1.1\r\nHost: {rest}\r\n\r\n").expect("write");
    BufReader::new(s)
}

#[test]
fn events_wait_and_ledger_tools() {
    let (mut peer, _ops) = start_peer();
    let _cc = start_cc(&peer, "mycc");
    let mut blocks = sse(&peer.rest, "type=block,rejection");
    let mut listener = Command::new(binary("peerd"))
        .args(["events", "listen", "--rejections"])
        .envs(peer.envs())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("events listen");
    std::thread::sleep(Duration::from_millis(500));

    ok(&peer.cli(&[
        "chaincode",
        "deploy",
        "-n",
        "mycc",
        "-c",
        r#"{"Args":["init","a","100","b","200"]}"#,
    ]));
    let (kind, data) = next_sse_event(&mut blocks).expect("an SSE event");
    assert_eq!(kind, "block");
    assert_eq!(
        serde_json::from_str::<Value>(&data).expect("json")["transactions"][0]["txid"],
        "mycc"
    );
    let mut line = String::new();
    BufReader::new(listener.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("listen line");
    let v: Value = serde_json::from_str(&line).expect("listen JSON");
    assert_eq!(v["block"]["transactions"][0]["txid"], "mycc", "{line}");
    let _ = listener.kill();
    let _ = listener.wait();

    // --wait: success prints the block; a failing invoke is rejected.
    let out = ok(&peer.cli(&[
        "chaincode",
        "invoke",
        "--wait",
        "-n",
        "mycc",
        "-c",
        r#"{"Args":["invoke","a","b","10"]}"#,
    ]));
    assert!(out.ends_with("committed in block 2\n"), "{out}");
    let bad = peer.cli(&[
        "chaincode",
        "invoke",
        "--wait",
        "-n",
        "mycc",
        "-c",
        r#"{"Args":["invoke","a","b","x"]}"#,
    ]);
    assert!(!bad.status.success(), "a rejected invoke must fail");
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("was rejected:"), "{err}");
    let (kind, data) = next_sse_event(&mut blocks).expect("next SSE event");
    assert_eq!(kind, "block", "{data}");
    let (kind, _) = next_sse_event(&mut blocks).expect("the rejection");
    assert_eq!(kind, "rejection");
    drop(blocks);

    // Offline tools on the stopped peer.
    // Genesis, deploy, invoke, and the empty block of the rejected invoke.
    wait_height(&peer, 4);
    peer.kill();
    let out = ok(&peer.cli(&["ledger", "verify"]));
    assert!(out.starts_with("ledger OK: 4 blocks"), "{out}");
    let b: Value =
        serde_json::from_str(&ok(&peer.cli(&["ledger", "block", "1"]))).expect("block JSON");
    assert_eq!(b["transactions"][0]["txid"], "mycc");
    let t: Value =
        serde_json::from_str(&ok(&peer.cli(&["ledger", "tx", "mycc"]))).expect("tx JSON");
    assert_eq!(t["type"], 1);

    edit_block_on_disk(&peer, 1);
    let bad = peer.cli(&["ledger", "verify"]);
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("block 1"), "{err}");
}

/// Rewrites block `n` in the store with a changed transaction id.
fn edit_block_on_disk(peer: &Peer, n: u64) {
    use fabrik_core::ledger::Ledger;
    use fabrik_core::ledger::keys::block_key;
    use fabrik_core::ledger::kv::{Partition, WriteBatch};
    use fabrik_proto::ProstMessage;
    let store = fabrik_io::store::Store::open(&peer.dir.path().join("db")).expect("open store");
    let mut block = Ledger::new(&store).block(n).expect("block");
    block.transactions[0].txid.push('X');
    let mut batch = WriteBatch::new();
    batch.put(Partition::Blocks, block_key(n), block.encode_to_vec());
    store.apply(&batch).expect("write");
}

/// Network (process) mode: a JSON-RPC deploy by path names the chaincode by
/// its v0.6 hash; `/chain/blocks` shows the deploy without its code package,
/// `/transactions/<name>` with it.
#[test]
fn process_mode_deploy_blocks_hide_the_code_package() {
    let mut peer = Peer::new()
        .env("CORE_CHAINCODE_MODE", "process")
        .env("CORE_OPERATIONS_ADDRESS", "");
    peer.start(&[]);
    wait_height(&peer, 1);
    let path = binary("example02").display().to_string();
    let params = format!(
        r#"{{"type":1,"chaincodeID":{{"path":"{path}"}},"ctorMsg":{{"args":["init","a","100","b","200"]}}}}"#
    );
    let r = rpc(&peer.rest, &call("deploy", &params, "1"));
    let v = r.json();
    let name = v["result"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert_eq!(name.len(), 128, "a v0.6 hash name: {v}");
    // Block 1 exists once the deploy is committed.
    let block = eventually(Duration::from_secs(60), || {
        let r = get(&peer.rest, "/chain/blocks/1");
        (r.status == 200).then(|| r.json())
    })
    .unwrap_or_else(|| panic!("deploy never committed; log:\n{}", peer.log()));
    let in_block = block["transactions"][0]["payload"]
        .as_str()
        .expect("payload")
        .len();
    let tx = get(&peer.rest, &format!("/transactions/{name}")).json();
    let full = tx["payload"].as_str().expect("payload").len();
    assert!(
        full > in_block + 10_000,
        "block payload {in_block} chars, full {full}"
    );
}
