//! The block explorer page (`GET /explorer` on the REST address) rendered
//! by headless Chromium against one dev-mode peer running example02: the
//! height, the current block hash and every listed block's hash equal what
//! `/chain` and `/chain/blocks/{n}` give, an invoke shows with its txid,
//! function and args, searches by txid and block number (driven through
//! the URL fragment, `#tx=<id>`, `#q=<n>`) find them or say why not, and a
//! chaincode argument holding markup (`<script>`) is shown as text.
//!
//! Chromium comes from Debian's `chromium` package. Without it the browser
//! tests print why and pass, unless `FABRIK_REQUIRE_CHROMIUM=1` (set by
//! `.ci/run`), which turns a missing browser into a failure. One rendering
//! is kept as a screenshot, `target/debug/e2e-artifacts/explorer.png`.

use fabrik_tests::network::http_get;
use fabrik_tests::{ChildGuard, Peer, eventually, target_dir, wait_height};
use serde_json::Value;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

const BROWSERS: [&str; 3] = ["chromium", "chromium-browser", "google-chrome"];

/// The Chromium binary on `path` (a `PATH`-style list), or why there is none
/// when `required`; `Ok(None)` means skip.
fn locate_chromium(path: &str, required: bool) -> Result<Option<PathBuf>, String> {
    let found = std::env::split_paths(path)
        .flat_map(|dir| BROWSERS.iter().map(move |b| dir.join(b)))
        .find(|p| p.is_file());
    match found {
        Some(p) => Ok(Some(p)),
        None if required => Err(format!(
            "FABRIK_REQUIRE_CHROMIUM=1 but none of {BROWSERS:?} is on PATH; install it with `apt-get install -y --no-install-recommends chromium`"
        )),
        None => Ok(None),
    }
}

/// Chromium, or `None` (after saying why) when the test should skip.
fn chromium() -> Option<PathBuf> {
    let required = std::env::var("FABRIK_REQUIRE_CHROMIUM").is_ok_and(|v| v == "1");
    let path = std::env::var("PATH").unwrap_or_default();
    match locate_chromium(&path, required) {
        Ok(Some(p)) => Some(p),
        Ok(None) => {
            eprintln!(
                "SKIPPED: chromium is not installed (apt-get install chromium); set FABRIK_REQUIRE_CHROMIUM=1 to make this a failure"
            );
            None
        }
        Err(e) => panic!("{e}"),
    }
}

/// Runs headless Chromium on `url` with `extra` flags; its stdout. The
/// virtual time budget lets the page's requests finish before the DOM is
/// dumped or the screenshot taken.
fn run_chromium(browser: &Path, url: &str, extra: &[&str]) -> Vec<u8> {
    let profile = tempfile::tempdir().expect("browser profile dir");
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--hide-scrollbars",
            "--window-size=1280,900",
            "--virtual-time-budget=5000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(extra)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", browser.display()));
    let mut stdout = child.stdout.take().expect("chromium stdout");
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        let _ = stdout.read_to_end(&mut out);
        out
    });
    let exited = eventually(Duration::from_secs(90), || child.try_wait().ok().flatten());
    if exited.is_none() {
        let _ = child.kill();
        let _ = child.wait();
        panic!("chromium did not finish rendering {url} within 90 s");
    }
    reader.join().expect("chromium output")
}

/// The explorer at `fragment` as Chromium renders it, once its data loaded.
fn render(browser: &Path, rest: &str, fragment: &str) -> String {
    let url = format!("http://{rest}/explorer{fragment}");
    let dom = String::from_utf8_lossy(&run_chromium(browser, &url, &["--dump-dom"])).into_owned();
    assert!(
        dom.contains(r#"<body data-state="ready""#),
        "the explorer at {url} did not finish loading:\n{dom}"
    );
    dom
}

/// The text between `start` (first occurrence after `from`) and the next `end`.
fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let at = text.find(start)? + start.len();
    let len = text[at..].find(end)?;
    Some(&text[at..at + len])
}

/// The listed hash of block `n` in the latest-blocks table.
fn listed_hash(dom: &str, n: u64) -> Option<String> {
    let row = between(dom, &format!(r#"<tr data-block="{n}">"#), "</tr>")?;
    between(row, "<code>", "</code>").map(str::to_owned)
}

fn get_json(rest: &str, path: &str) -> Value {
    let raw = http_get(rest, path);
    let body = raw.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    serde_json::from_str(body).unwrap_or_else(|e| panic!("GET {path}: not JSON ({e}): {raw}"))
}

/// JSON-RPC `POST /chaincode`; the `result.message` (a txid for invokes),
/// or the whole answer when the call failed.
fn rpc(rest: &str, method: &str, params: &str) -> Result<String, String> {
    let body = format!(r#"{{"jsonrpc":"2.0","method":"{method}","params":{params},"id":1}}"#);
    let mut s = TcpStream::connect(rest).expect("connect to REST");
    write!(
        s,
        "POST /chaincode HTTP/1.1\r\nHost: {rest}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .expect("send");
    let mut raw = String::new();
    s.read_to_string(&mut raw).expect("read");
    let v: Value = serde_json::from_str(raw.split_once("\r\n\r\n").map_or("", |(_, b)| b))
        .map_err(|e| format!("{method}: not JSON ({e}): {raw}"))?;
    v["result"]["message"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("{method} failed: {v}"))
}

fn invoke(rest: &str, args: &[&str]) -> String {
    let args = serde_json::to_string(args).expect("args");
    rpc(
        rest,
        "invoke",
        &format!(r#"{{"chaincodeID":{{"name":"mycc"}},"ctorMsg":{{"args":{args}}}}}"#),
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

/// A dev-mode peer with example02 deployed as `mycc` (a=100, b=200), and
/// its height then.
fn peer_with_mycc() -> (Peer, ChildGuard, u64) {
    let mut peer = Peer::new();
    peer.start(&["--peer-chaincodedev"]);
    wait_height(&peer, 1);
    let cc = peer.chaincode("example02", "mycc");
    let deploy = r#"{"type":1,"chaincodeID":{"name":"mycc"},"ctorMsg":{"args":["init","a","100","b","200"]}}"#;
    let query = r#"{"chaincodeID":{"name":"mycc"},"ctorMsg":{"args":["query","a"]}}"#;
    // The chaincode registers asynchronously and a deploy executed before
    // that fails (an empty block); deploy again until `a` reads 100.
    let mut height = 1;
    let mut last = String::new();
    for _ in 0..20 {
        last = match rpc(&peer.rest, "deploy", deploy) {
            Ok(_) => {
                height += 1;
                wait_height(&peer, height);
                match rpc(&peer.rest, "query", query) {
                    Ok(v) if v == "100" => return (peer, cc, height),
                    Ok(v) => format!("query a gave {v:?}"),
                    Err(e) => e,
                }
            }
            Err(e) => e,
        };
        std::thread::sleep(Duration::from_millis(300));
    }
    panic!("example02 did not deploy as mycc: {last}\n{}", peer.log());
}

#[test]
fn explorer_shows_the_chain_its_blocks_and_transactions() {
    let Some(browser) = chromium() else { return };
    let (peer, _cc, h0) = peer_with_mycc();
    let rest = peer.rest.clone();
    // The first invoke goes into block h0, the second into h0 + 1.
    let first = invoke(&rest, &["invoke", "a", "b", "10"]);
    wait_height(&peer, h0 + 1);
    let second = invoke(&rest, &["invoke", "b", "a", "3"]);
    wait_height(&peer, h0 + 2);
    let (first_block, height) = (h0, h0 + 2);

    let chain = get_json(&rest, "/chain");
    assert_eq!(chain["height"], height, "{chain}");
    let head = chain["currentBlockHash"].as_str().expect("head hash");
    // A block's hash is the next block's previousBlockHash (the head's is
    // /chain's currentBlockHash).
    let mut hashes: Vec<String> = (1..height)
        .map(|n| {
            get_json(&rest, &format!("/chain/blocks/{n}"))["previousBlockHash"]
                .as_str()
                .expect("previousBlockHash")
                .to_string()
        })
        .collect();
    hashes.push(head.to_string());

    let dom = render(&browser, &rest, "");
    assert!(
        dom.contains(&format!(r#"<div class="value" id="height">{height}</div>"#)),
        "{dom}"
    );
    assert_eq!(between(&dom, r#"id="current-hash">"#, "<"), Some(head));
    // The table lists the 10 newest blocks.
    for n in height.saturating_sub(10)..height {
        assert_eq!(
            listed_hash(&dom, n).as_deref(),
            Some(hashes[n as usize].as_str()),
            "block {n}"
        );
    }
    assert!(dom.contains(r#"data-peer="vp0""#), "peers listed: {dom}");
    // With no fragment the newest block is shown, with the second invoke.
    assert!(
        dom.contains(&format!(r#"data-kind="block" data-block="{}""#, height - 1)),
        "{dom}"
    );
    assert!(
        dom.contains(&format!(r#"<tr data-txid="{second}">"#)),
        "{dom}"
    );

    // Search by txid: the first invoke, decoded, in its block.
    let dom = render(&browser, &rest, &format!("#tx={first}"));
    assert!(
        dom.contains(&format!(
            r#"data-kind="tx" data-txid="{first}" data-found="true""#
        )),
        "{dom}"
    );
    assert_eq!(
        between(&dom, r#"<dd id="tx-id"><code>"#, "<"),
        Some(first.as_str())
    );
    assert_eq!(
        between(&dom, r#"<dd id="tx-chaincode">"#, "<"),
        Some("mycc")
    );
    assert_eq!(
        between(&dom, r#"<dd id="tx-function">"#, "<"),
        Some("invoke")
    );
    let args: Vec<&str> = between(&dom, r#"<dd id="tx-args">"#, "</dd>")
        .expect("args")
        .split(r#"<code class="arg">"#)
        .skip(1)
        .filter_map(|a| a.split_once("</code>").map(|(v, _)| v))
        .collect();
    assert_eq!(args, ["a", "b", "10"]);
    assert!(
        dom.contains(&format!(
            r##"<dd id="tx-block"><a href="#block={first_block}">block {first_block}</a>"##
        )),
        "{dom}"
    );
    assert_eq!(
        between(&dom, r#"<dd id="tx-result">"#, "<"),
        Some("committed")
    );

    // Search by block number through the search box's fragment.
    let dom = render(&browser, &rest, &format!("#q={first_block}"));
    assert!(
        dom.contains(&format!(
            r#"data-kind="block" data-block="{first_block}" data-found="true""#
        )),
        "{dom}"
    );
    assert_eq!(
        between(&dom, r#"<dd id="block-hash"><code class="hash">"#, "<"),
        Some(hashes[first_block as usize].as_str())
    );
    assert!(
        dom.contains(&format!(r#"<tr data-txid="{first}">"#)),
        "{dom}"
    );

    // Misses say what was looked for and why it is not there.
    let dom = render(&browser, &rest, "#tx=no-such-tx");
    assert!(
        dom.contains(r#"data-txid="no-such-tx" data-found="false""#),
        "{dom}"
    );
    assert!(
        dom.contains("Transaction no-such-tx is not found."),
        "{dom}"
    );
    let dom = render(&browser, &rest, "#block=99");
    assert!(
        dom.contains(&format!(
            "Block 99 does not exist: the chain has height {height} (blocks 0 to {}).",
            height - 1
        )),
        "{dom}"
    );

    // Keep a picture of the page as a test artifact.
    let dir = target_dir().join("e2e-artifacts");
    std::fs::create_dir_all(&dir).expect("artifact dir");
    let png = dir.join("explorer.png");
    let _ = std::fs::remove_file(&png);
    let url = format!("http://{rest}/explorer#tx={first}");
    run_chromium(
        &browser,
        &url,
        &[&format!("--screenshot={}", png.display())],
    );
    let bytes =
        std::fs::read(&png).unwrap_or_else(|e| panic!("no screenshot {}: {e}", png.display()));
    assert!(
        bytes.starts_with(b"\x89PNG"),
        "{} is not a PNG",
        png.display()
    );
    eprintln!("explorer screenshot: {}", png.display());
}

#[test]
fn chaincode_arguments_with_markup_are_shown_as_text() {
    let Some(browser) = chromium() else { return };
    let (peer, _cc, h0) = peer_with_mycc();
    let rest = peer.rest.clone();
    let script = "<script>document.title='pwned'</script>";
    let img = r#"<img src=x onerror="document.title='pwned'">"#;
    let txid = invoke(&rest, &["delete", script]);
    wait_height(&peer, h0 + 1);
    let txid2 = invoke(&rest, &["delete", img]);
    wait_height(&peer, h0 + 2);

    for (id, escaped) in [
        (
            &txid,
            "&lt;script&gt;document.title='pwned'&lt;/script&gt;".to_string(),
        ),
        (
            &txid2,
            r#"&lt;img src=x onerror="document.title='pwned'"&gt;"#.to_string(),
        ),
    ] {
        let dom = render(&browser, &rest, &format!("#tx={id}"));
        assert_eq!(
            between(&dom, r#"<dd id="tx-args">"#, "</dd>"),
            Some(
                format!(r#"<ul class="args"><li><code class="arg">{escaped}</code></li></ul>"#)
                    .as_str()
            ),
            "{dom}"
        );
        assert_eq!(
            between(&dom, r#"<dd id="tx-function">"#, "<"),
            Some("delete")
        );
        assert_eq!(
            dom.matches("<script").count(),
            1,
            "only the page's own script: {dom}"
        );
        assert!(!dom.contains("<img"), "{dom}");
        assert!(dom.contains("<title>fabrik explorer</title>"), "{dom}");
    }
    // The block view shows both as text too.
    let dom = render(&browser, &rest, &format!("#block={}", h0 + 1));
    assert!(dom.contains(r#"<code class="arg">&lt;img src=x"#), "{dom}");
    assert_eq!(dom.matches("<script").count(), 1, "{dom}");
}

#[test]
fn a_missing_chromium_fails_only_when_required() {
    let empty = tempfile::tempdir().expect("empty dir");
    let path = empty.path().display().to_string();
    assert_eq!(locate_chromium(&path, false), Ok(None));
    let err = locate_chromium(&path, true).unwrap_err();
    assert!(
        err.contains("FABRIK_REQUIRE_CHROMIUM=1") && err.contains("apt-get install"),
        "{err}"
    );
    std::fs::write(empty.path().join("chromium"), "").expect("fake chromium");
    assert_eq!(
        locate_chromium(&path, true),
        Ok(Some(empty.path().join("chromium")))
    );
}
