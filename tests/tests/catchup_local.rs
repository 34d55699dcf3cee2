//! Catch-up between two real fjall stores over an in-memory
//! `SyncTransport`: node A holds 50 committed blocks, node B only genesis;
//! B's `CatchUpDriver` brings it to A's head, by deltas and by snapshot,
//! and both end with identical block hashes and state hash.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use fabrik_core::ledger::batch::{CommitParams, TxBatch};
use fabrik_core::ledger::{BucketTreeConfig, Ledger};
use fabrik_core::statetransfer::{Config, Input, StateBasis, Target, state_basis};
use fabrik_io::catchup::{
    CatchUpDriver, Outcome, ServeLimits, SyncTransport, TransportError, answer, input_from_message,
};
use fabrik_io::store::Store;
use fabrik_proto::protos::{Message, Transaction};
use tokio::sync::mpsc;

type Wire = mpsc::Sender<(String, Message)>;

/// Routes messages by peer name to each node's inbox.
struct MemTransport {
    me: String,
    routes: HashMap<String, Wire>,
}

impl SyncTransport for MemTransport {
    async fn send(&self, to: &str, msg: Message) -> Result<(), TransportError> {
        let err = |reason: &str| TransportError {
            peer: to.to_owned(),
            reason: reason.to_owned(),
        };
        let wire = self.routes.get(to).ok_or_else(|| err("unknown peer"))?;
        wire.send((self.me.clone(), msg))
            .await
            .map_err(|_| err("closed"))
    }
}

fn commit(store: &Store, batch: TxBatch, txid: Option<String>, cfg: &BucketTreeConfig) {
    let mut params = CommitParams::empty(fabrik_proto::Timestamp::default(), cfg);
    params.transactions = txid
        .map(|txid| Transaction {
            txid,
            ..Transaction::default()
        })
        .into_iter()
        .collect();
    let committed = batch.commit(store, params).unwrap();
    store.apply(&committed.writes).unwrap();
}

/// Genesis plus `blocks` blocks of sets, updates and deletes.
fn build(store: &Store, blocks: u64, cfg: &BucketTreeConfig) {
    commit(store, TxBatch::new(), None, cfg);
    for n in 1..=blocks {
        let mut batch = TxBatch::new();
        let txid = format!("tx-{n}");
        batch.tx_begin(&txid).unwrap();
        batch
            .set(
                store,
                "example02",
                &format!("key{n}"),
                format!("{}", n * 7).into_bytes(),
            )
            .unwrap();
        batch
            .set(
                store,
                "example02",
                "a",
                format!("{}", 1000 - n).into_bytes(),
            )
            .unwrap();
        if n % 3 == 0 {
            batch
                .delete(store, "example02", &format!("key{}", n - 1))
                .unwrap();
        }
        batch.tx_finished(&txid, true).unwrap();
        commit(store, batch, Some(txid), cfg);
    }
}

async fn catch_up(config: Config) -> (tempfile::TempDir, tempfile::TempDir) {
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = Arc::new(Store::open(dir_a.path()).unwrap());
    let b = Arc::new(Store::open(dir_b.path()).unwrap());
    build(&a, 50, &config.state_config);
    build(&b, 0, &config.state_config);

    let (to_a, mut a_inbox) = mpsc::channel::<(String, Message)>(64);
    let (to_b, mut b_inbox) = mpsc::channel::<(String, Message)>(64);
    let routes: HashMap<_, _> = [("vp0".to_owned(), to_a), ("vp1".to_owned(), to_b)].into();
    let transport = |me: &str| {
        Arc::new(MemTransport {
            me: me.to_owned(),
            routes: routes.clone(),
        })
    };
    // Node A (vp0) serves.
    let (serve_store, a_transport) = (Arc::clone(&a), transport("vp0"));
    tokio::spawn(async move {
        while let Some((from, msg)) = a_inbox.recv().await {
            let limits = ServeLimits {
                snapshot_chunk_keys: 4,
                ..ServeLimits::default()
            };
            answer(&*serve_store, &*a_transport, &from, &msg, &limits)
                .await
                .unwrap();
        }
    });
    // Node B (vp1) catches up: its peer handler feeds replies to the driver.
    let (driver_tx, driver_rx) = mpsc::channel(64);
    let (outcome_tx, mut outcomes) = mpsc::channel(4);
    let invalid = Arc::new(AtomicBool::new(false));
    let seen_invalid = Arc::new(AtomicBool::new(false));
    let (i2, s2) = (Arc::clone(&invalid), Arc::clone(&seen_invalid));
    let driver = CatchUpDriver::new(Arc::clone(&b), transport("vp1"), config, outcome_tx)
        .on_state_invalid(move |v| {
            i2.store(v, Ordering::SeqCst);
            s2.fetch_or(v, Ordering::SeqCst);
        });
    tokio::spawn(driver.run(driver_rx));
    let replies = driver_tx.clone();
    tokio::spawn(async move {
        while let Some((from, msg)) = b_inbox.recv().await {
            if let Some(Ok(input)) = input_from_message(&from, &msg) {
                let _ = replies.send(input).await;
            }
        }
    });

    let target = Target::from_info(&Ledger::new(&*a).blockchain_info().unwrap()).unwrap();
    let peers = vec!["vp2-missing".to_owned(), "vp0".to_owned()];
    driver_tx
        .send(Input::Start { target, peers })
        .await
        .unwrap();
    let outcome = tokio::time::timeout(Duration::from_secs(60), outcomes.recv())
        .await
        .expect("catch-up timed out")
        .unwrap();
    assert!(
        matches!(outcome, Outcome::Done(ref info) if info.height == 51),
        "{outcome:?}"
    );
    assert!(
        seen_invalid.load(Ordering::SeqCst),
        "queries were refused meanwhile"
    );
    assert!(!invalid.load(Ordering::SeqCst), "queries are allowed again");
    assert_same(&a, &b, &BucketTreeConfig::default());
    assert_eq!(state_basis(&*b).unwrap(), StateBasis::Head);
    (dir_a, dir_b)
}

fn assert_same(a: &Store, b: &Store, cfg: &BucketTreeConfig) {
    let (la, lb) = (Ledger::new(a), Ledger::new(b));
    assert_eq!(la.blockchain_info().unwrap(), lb.blockchain_info().unwrap());
    for n in 0..la.height().unwrap() {
        assert_eq!(
            la.block_hash(n).unwrap(),
            lb.block_hash(n).unwrap(),
            "block {n}"
        );
    }
    let ha = la.state_hash(cfg).unwrap();
    assert!(ha.is_some());
    assert_eq!(ha, lb.state_hash(cfg).unwrap(), "state hash");
    assert_eq!(
        la.state("example02", "a").unwrap(),
        lb.state("example02", "a").unwrap()
    );
    assert_eq!(
        la.range_state("example02", "", "", None, 1000).unwrap(),
        lb.range_state("example02", "", "", None, 1000).unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catch_up_by_deltas_between_two_fjall_stores() {
    catch_up(Config::default()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catch_up_by_snapshot_between_two_fjall_stores() {
    let config = Config {
        max_deltas: 10,
        ..Config::default()
    };
    catch_up(config).await;
}
