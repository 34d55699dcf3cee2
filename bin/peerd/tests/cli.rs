//! The `peerd` binary as a user drives it: exact v0.6 error texts, exit
//! codes, config file and `CORE_*` handling, connection errors, and the
//! pid-file lock of `node start`. Every run gets a clean environment and its
//! own working directory.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const EMPTY_CTOR: &str = "Error: Empty JSON chaincode parameters must contain the following keys: 'Args' or 'Function' and 'Args'\n";
const BAD_KEYS_CTOR: &str = "Error: Non-empty JSON chaincode parameters must contain the following keys: 'Args' or 'Function' and 'Args'\n";

fn peerd(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_peerd"));
    cmd.env_clear().current_dir(dir).args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let dir = tempfile::tempdir().expect("temp dir");
    peerd(dir.path(), args, env).output().expect("run peerd")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// An address where nothing listens.
fn dead_address() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = listener.local_addr().expect("addr").to_string();
    drop(listener);
    address
}

#[test]
fn version_prints_and_succeeds() {
    let out = run(&["version"], &[]);
    assert!(out.status.success());
    assert!(
        text(&out.stdout).starts_with("peerd "),
        "{}",
        text(&out.stdout)
    );
    assert!(run(&["--version"], &[]).status.success());
}

#[test]
fn raw_and_hex_together_is_the_v06_error() {
    let out = run(
        &[
            "chaincode",
            "query",
            "-n",
            "mycc",
            "-c",
            r#"{"Args":["query","a"]}"#,
            "-r",
            "-x",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "Error: Options --raw (-r) and --hex (-x) are not compatible\n"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn bad_ctor_json_gives_the_v06_texts_and_exit_1() {
    let out = run(&["chaincode", "invoke", "-n", "mycc"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stderr), EMPTY_CTOR);
    let out = run(&["chaincode", "query", "-n", "mycc", "-c", "{}"], &[]);
    assert_eq!(
        (out.status.code(), text(&out.stderr)),
        (Some(1), EMPTY_CTOR.to_string())
    );
    let out = run(
        &[
            "chaincode",
            "deploy",
            "-n",
            "mycc",
            "-c",
            r#"{"Function":"init"}"#,
        ],
        &[],
    );
    assert_eq!(
        (out.status.code(), text(&out.stderr)),
        (Some(1), BAD_KEYS_CTOR.to_string())
    );
    let out = run(
        &["chaincode", "invoke", "-n", "mycc", "-c", "{not json"],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).starts_with("Error: Chaincode argument error: "),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn name_or_path_is_required() {
    let out = run(&["chaincode", "invoke", "-c", r#"{"Args":["a"]}"#], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr)
            .starts_with("Error: Must supply value for chaincode name (-n) or path (-p)"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn query_without_a_peer_names_the_address() {
    let address = dead_address();
    let args = [
        "chaincode",
        "query",
        "-n",
        "mycc",
        "-c",
        r#"{"Args":["query","a"]}"#,
    ];
    let out = run(&args, &[("CORE_PEER_ADDRESS", &address)]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.starts_with(&format!("Error: cannot connect to peer at {address}: ")),
        "{err}"
    );
    assert!(err.contains("is `peerd node start` running?"), "{err}");
    let other = dead_address();
    let out = run(
        &[
            "--peer-address",
            &other,
            "chaincode",
            "invoke",
            "-n",
            "m",
            "-c",
            r#"{"Args":["a"]}"#,
        ],
        &[("CORE_PEER_ADDRESS", &address)],
    );
    assert!(
        text(&out.stderr).contains(&format!("cannot connect to peer at {other}")),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn node_status_without_a_peer_is_unknown() {
    let out = run(&["node", "status", "--peer-address", &dead_address()], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stdout), "status:UNKNOWN\n");
}

#[test]
fn config_show_reflects_env_overrides() {
    let out = run(
        &["config", "show"],
        &[("CORE_PEER_ID", "vp42"), ("CORE_NOOPS_BLOCK_WAIT", "2")],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    assert!(shown.contains("id = \"vp42\""), "{shown}");
    assert!(shown.contains("wait = \"2s\""), "{shown}");
}

#[test]
fn config_file_is_found_and_unknown_keys_are_named() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("peerd.toml"), "[peer]\nid = \"from-cwd\"\n").expect("write");
    let out = peerd(dir.path(), &["config", "show"], &[])
        .output()
        .expect("run");
    assert!(
        text(&out.stdout).contains("id = \"from-cwd\""),
        "{}",
        text(&out.stdout)
    );

    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[peer]\nnetworkID = \"dev\"\n").expect("write");
    let out = peerd(
        dir.path(),
        &[
            "config",
            "show",
            "--config",
            bad.to_str().expect("utf8 path"),
        ],
        &[],
    )
    .output()
    .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.starts_with(&format!(
            "Error: unknown key `peer.networkID` in config file {}",
            bad.display()
        )),
        "{err}"
    );

    let cfg_dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        cfg_dir.path().join("peerd.toml"),
        "[chaincode]\nmode = \"sometimes\"\n",
    )
    .expect("write");
    let out = peerd(
        dir.path(),
        &["config", "show"],
        &[("PEER_CFG_PATH", cfg_dir.path().to_str().expect("utf8"))],
    )
    .output()
    .expect("run");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).starts_with("Error: bad value for `chaincode.mode` in config file"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn bad_env_value_names_the_variable() {
    let out = run(
        &["config", "show"],
        &[("CORE_PEER_VALIDATOR_CONSENSUS_BUFFERSIZE", "big")],
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "Error: bad value for `peer.validator.consensus.buffersize` from environment variable \
         CORE_PEER_VALIDATOR_CONSENSUS_BUFFERSIZE: expected a whole number, found \"big\"\n"
    );
}

#[test]
fn second_node_start_fails_naming_the_pid_file_and_stop_signals_the_first() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let data_str = data.to_str().expect("utf8").to_string();
    let env = [
        ("CORE_PEER_FILESYSTEMPATH", data_str.as_str()),
        ("CORE_PEER_LISTENADDRESS", "127.0.0.1:0"),
        ("CORE_PEER_ADDRESS", "127.0.0.1:0"),
        ("CORE_PEER_VALIDATOR_EVENTS_ADDRESS", "127.0.0.1:0"),
        ("CORE_REST_ADDRESS", "127.0.0.1:0"),
    ];
    let mut first = peerd(dir.path(), &["node", "start", "--peer-chaincodedev"], &env)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn first peer");
    let pid_file = data.join("peer.pid");
    let deadline = Instant::now() + Duration::from_secs(20);
    // The pid is written once the lock and the signal handlers are in place.
    let has_pid = |p: &Path| std::fs::read_to_string(p).is_ok_and(|t| t.ends_with('\n'));
    while !has_pid(&pid_file) && Instant::now() < deadline {
        if let Some(status) = first.try_wait().expect("poll") {
            let out = first.wait_with_output().expect("output");
            panic!("first peer exited early ({status}): {}", text(&out.stderr));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = peerd(dir.path(), &["node", "start"], &env)
        .output()
        .expect("run second");
    // Nothing answers at 127.0.0.1:0, so `node stop` falls back to SIGTERM via the pid file.
    let stop = peerd(dir.path(), &["node", "stop"], &env)
        .output()
        .expect("run stop");
    if !stop.status.success() {
        // SAFETY: signalling our own child process so it does not outlive the test.
        unsafe { libc::kill(first.id() as i32, libc::SIGTERM) };
    }
    let first_out = first.wait_with_output().expect("first exits");
    assert_eq!(
        text(&stop.stdout),
        "status:STOPPED\n",
        "{}",
        text(&stop.stderr)
    );
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!("{} is locked by pid", pid_file.display())),
        "{err}"
    );
    assert!(first_out.status.success(), "{}", text(&first_out.stderr));
    assert!(!pid_file.exists(), "pid file removed on clean exit");
}
