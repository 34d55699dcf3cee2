//! A short subset of the Docker fault matrix, run in CI (the whole matrix
//! runs with `tests/fault-matrix.sh`): a 4-validator network in containers
//! under load, with a backup SIGKILLed and restarted, the primary stopped
//! with SIGTERM and restarted (a view change), and a backup taken off the
//! network and put back. Each case checks identical blocks and state on
//! every node, every acknowledged transaction present, and the example02
//! balances. The cases run one at a time (a nextest test group), so two
//! clusters never compete for the machine.
//!
//! Needs a Docker engine and the static builds `.ci/run` makes in
//! `target/static`; without them the cases skip and say why, unless
//! `FABRIK_REQUIRE_DOCKER=1` makes that a failure.

use fabrik_tests::faults::cluster::Binaries;
use fabrik_tests::faults::run::run_case;
use fabrik_tests::faults::{Case, matrix};
use std::path::PathBuf;

fn static_binary(name: &str) -> PathBuf {
    let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    workspace
        .join("target/static/x86_64-unknown-linux-gnu/release")
        .join(name)
}

/// Why the cases cannot run here, if they cannot.
fn missing() -> Option<String> {
    for name in ["peerd", "example02"] {
        let path = static_binary(name);
        if !path.exists() {
            return Some(format!(
                "no static {name} at {}; build it as .ci/run does",
                path.display()
            ));
        }
    }
    let engine = bollard::Docker::connect_with_local_defaults().ok()?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    match rt.block_on(engine.ping()) {
        Ok(_) => None,
        Err(e) => Some(format!("no Docker engine answers: {e}")),
    }
}

fn run(name: &str) {
    if let Some(why) = missing() {
        assert!(
            std::env::var("FABRIK_REQUIRE_DOCKER").as_deref() != Ok("1"),
            "FABRIK_REQUIRE_DOCKER=1 but {why}"
        );
        eprintln!("skipping fault-matrix case {name}: {why}");
        return;
    }
    let case: Case = matrix(4)
        .into_iter()
        .find(|c| c.name() == name)
        .unwrap_or_else(|| panic!("no case {name}"));
    let (peerd, example02) = (static_binary("peerd"), static_binary("example02"));
    let outcome = run_case(
        case,
        &Binaries {
            peerd: &peerd,
            example02: &example02,
        },
    );
    assert!(outcome.passed, "{name}: {}", outcome.detail);
    assert!(
        outcome.acknowledged > 0,
        "{name}: the load committed nothing"
    );
    eprintln!("{name}: {outcome:?}");
}

#[test]
fn backup_killed_and_restarted_under_load() {
    run("n4-kill-backup-1");
}

#[test]
fn primary_stopped_with_sigterm_and_restarted_under_load() {
    run("n4-term-primary-1");
}

#[test]
fn backup_disconnected_and_reconnected_under_load() {
    run("n4-disconnect-backup-1");
}
