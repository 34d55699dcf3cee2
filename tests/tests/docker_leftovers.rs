//! No chaincode container or image made by a Docker test outlives the test.
//!
//! Every Docker test labels what its peers create with its own
//! `peer.networkId` (`fabrik-test-<pid>-<tag>`) and removes it in a drop
//! guard that then checks nothing is left. A guard cannot run when the
//! test process is killed (a nextest timeout, SIGKILL), so this test looks
//! for objects whose test process no longer exists: leftovers of tests
//! that finished earlier in this run or in an earlier one on this engine.
//! It removes them, so the next run starts clean, and fails naming them.
//! Objects of tests still running are not its business.

mod docker_support;

use docker_support::{NETWORK_PREFIX, engine, rt};
use fabrik_io::chaincode::docker;

/// The test process a network id names, if it is a test network.
fn test_pid(network: &str) -> Option<i32> {
    let rest = network.strip_prefix(NETWORK_PREFIX)?;
    rest.split('-').next()?.parse().ok()
}

fn alive(pid: i32) -> bool {
    // SAFETY: signal 0 sends nothing; it only checks that the process exists.
    pid > 0 && unsafe { libc::kill(pid, 0) } == 0
}

#[test]
fn test_network_ids_name_their_process() {
    assert_eq!(test_pid("fabrik-test-4242-crash"), Some(4242));
    assert_eq!(test_pid("fabrik-test-4242"), Some(4242));
    assert_eq!(test_pid("dev"), None);
    assert_eq!(test_pid("fabrik-test-x-1"), None);
    assert_eq!(
        test_pid(&docker_support::network_id("t")),
        Some(std::process::id() as i32)
    );
    assert!(alive(std::process::id() as i32));
}

#[test]
fn no_chaincode_container_or_image_of_a_finished_test_is_left() {
    let Some(engine) = engine() else { return };
    let rt = rt();
    let owned = rt
        .block_on(docker::list_all_owned(&engine))
        .expect("list the engine's fabrik containers and images");
    let stale: Vec<_> = owned
        .into_iter()
        .filter(|(network, ..)| test_pid(network).is_some_and(|pid| !alive(pid)))
        .collect();
    let mut networks: Vec<&str> = stale.iter().map(|(n, ..)| n.as_str()).collect();
    networks.sort_unstable();
    networks.dedup();
    for network in &networks {
        let removed = rt.block_on(docker::purge_network(&engine, network));
        eprintln!("removed leftovers of {network}: {removed:?}");
    }
    assert!(
        stale.is_empty(),
        "chaincode containers/images of test processes that are gone (now removed): {stale:#?}"
    );
}
