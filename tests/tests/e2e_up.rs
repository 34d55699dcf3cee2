//! The README's main job: `peerd up --exit-after-demo` starts a peer,
//! deploys example02 (run by the peer as a child process), invokes and
//! queries it, and prints what happens.

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
        "==> query a: Query Result: 100",
        "==> query a: Query Result: 90",
        "==> query b: Query Result: 210",
        "==> chain height 3",
        "block 0: hash RrndKwuojRMjOz/r",
        "==> demo finished; network stopped",
    ] {
        assert!(
            stdout.contains(expected),
            "missing {expected:?} in:\n{stdout}"
        );
    }
}
