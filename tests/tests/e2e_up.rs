//! The README's main job: `peerd up --exit-after-demo` starts a
//! 4-validator PBFT network, deploys example02 (each peer runs it as a child
//! process), invokes and queries it through different peers, and prints
//! what happens, including that every peer holds the same blocks.

use fabrik_tests::binary;
use std::process::Command;

#[test]
fn peerd_up_runs_the_demo_and_prints_the_results() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = Command::new(binary("peerd"))
        .args(["up", "--exit-after-demo", "--dir"])
        .arg(dir.path())
        .output()
        .expect("run peerd up");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "peerd up failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for expected in [
        "==> starting 4 validating peer(s) (PBFT over QUIC with mutual TLS)",
        "==> query a on vp3: Query Result: 100",
        "==> query a on vp0: Query Result: 90",
        "==> query b on vp2: Query Result: 210",
        "==> query a on vp3: Query Result: 90",
        "==> chain height 3 on vp0",
        "block 0: hash RrndKwuojRMjOz/r",
        "==> blocks 0..2 have identical hashes on all 4 peer(s)",
        "==> demo finished; network stopped",
    ] {
        assert!(
            stdout.contains(expected),
            "missing {expected:?} in:\n{stdout}"
        );
    }
}
