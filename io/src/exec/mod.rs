//! Executing transactions: a block's deploys and invokes inside one batch
//! context, committed as one durable write, then announced as events; and
//! queries, run at once against committed state.

pub mod context;
pub mod run;
mod speculate;
pub mod system;

use crate::chaincode::launcher::Launcher;
use crate::chaincode::stream::StreamHandle;
use crate::config::ChaincodeMode;
use crate::events::Publisher;
use crate::metrics::Metrics;
use crate::store::Store;
use context::{Committed, InBlock, StateAccess};
use fabrik_core::chaincode::{ExecKind, ExecResult, TIMEOUT_TEXT};
use fabrik_core::ledger::Ledger;
use fabrik_core::ledger::batch::{CommitParams, TxBatch};
use fabrik_core::ledger::block::without_code_packages;
use fabrik_core::ledger::buckettree::BucketTreeConfig;
use fabrik_proto::protos::{
    self, BlockchainInfo, ChaincodeDeploymentSpec, ChaincodeEvent, ChaincodeInvocationSpec,
    Transaction, event, transaction,
};
use prost::Message;
use run::Execution;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Executor settings.
#[derive(Debug, Clone)]
pub struct ExecSettings {
    /// Invoke and query time limit (v0.6: 30 s).
    pub execute_timeout: Duration,
    /// Launch and Init time limit (`chaincode.startuptimeout`).
    pub startup_timeout: Duration,
    /// State deltas kept for catch-up.
    pub delta_history_size: u64,
    /// Bucket-tree shape.
    pub buckets: BucketTreeConfig,
}

/// A committed block, as consensus and clients learn of it.
#[derive(Debug, Clone)]
pub struct BlockCommitted {
    /// Its number.
    pub number: u64,
    /// The chain head after it.
    pub info: BlockchainInfo,
    /// Transactions left out because they failed: (txid, reason).
    pub rejected: Vec<(String, String)>,
}

/// Why a block could not be committed (the node must stop: nothing was
/// acknowledged).
#[derive(Debug, thiserror::Error)]
#[error("cannot commit block: {0}")]
pub struct CommitError(pub String);

/// Runs chaincode for blocks and queries.
#[derive(Debug)]
pub struct Executor {
    store: Arc<Store>,
    launcher: Arc<Launcher>,
    events: Publisher,
    settings: ExecSettings,
    state_invalid: AtomicBool,
    metrics: Metrics,
    cool_down: speculate::CoolDown,
    system: system::SystemChaincodes,
}

/// The current wall-clock time as a protobuf timestamp.
pub fn now_timestamp() -> prost_types::Timestamp {
    prost_types::Timestamp::from(std::time::SystemTime::now())
}

impl Executor {
    /// An executor over `store`.
    pub fn new(
        store: Arc<Store>,
        launcher: Arc<Launcher>,
        events: Publisher,
        settings: ExecSettings,
    ) -> Self {
        Self {
            store,
            launcher,
            events,
            settings,
            state_invalid: AtomicBool::new(false),
            metrics: Metrics::default(),
            cool_down: speculate::CoolDown::default(),
            system: system::SystemChaincodes::default(),
        }
    }

    /// Runs these system chaincodes in process (`chaincode.system`).
    pub fn with_system_chaincodes(mut self, system: system::SystemChaincodes) -> Self {
        self.system = system;
        self
    }

    /// Reports into `metrics` (block commits, chaincode executions).
    pub fn with_metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = metrics;
        self
    }

    /// The store.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// The launcher.
    pub fn launcher(&self) -> &Arc<Launcher> {
        &self.launcher
    }

    /// Whether committed state is marked as not to be queried.
    pub fn is_state_invalid(&self) -> bool {
        self.state_invalid.load(Ordering::Acquire)
    }

    /// Marks committed state as not to be queried (catch-up in progress).
    pub fn set_state_invalid(&self, invalid: bool) {
        self.state_invalid.store(invalid, Ordering::Release);
    }

    /// Writes the genesis block if the chain is empty.
    ///
    /// # Errors
    /// When the store cannot be read or written.
    pub fn ensure_genesis(&self) -> Result<(), CommitError> {
        let height = Ledger::new(&*self.store)
            .height()
            .map_err(|e| CommitError(e.to_string()))?;
        if height > 0 {
            return Ok(());
        }
        let committed = TxBatch::new()
            .commit(&*self.store, self.params(Vec::new(), Vec::new(), None))
            .map_err(|e| CommitError(e.to_string()))?;
        self.store
            .apply(&committed.writes)
            .map_err(|e| CommitError(e.to_string()))?;
        tracing::info!("created genesis block");
        Ok(())
    }

    fn params(
        &self,
        txs: Vec<Transaction>,
        events: Vec<ChaincodeEvent>,
        metadata: Option<Vec<u8>>,
    ) -> CommitParams<'_> {
        CommitParams {
            transactions: txs,
            chaincode_events: events,
            consensus_metadata: metadata,
            commit_timestamp: now_timestamp(),
            delta_history_size: self.settings.delta_history_size,
            state_config: &self.settings.buckets,
        }
    }

    /// The code package of deployed chaincode `name` (empty in dev mode), or
    /// `None` when no deploy transaction of that name is committed.
    pub fn deployed_package(&self, name: &str) -> Option<Vec<u8>> {
        let tx = Ledger::new(&*self.store).transaction(name).ok()?;
        if tx.r#type != transaction::Type::ChaincodeDeploy as i32 {
            return None;
        }
        let spec = ChaincodeDeploymentSpec::decode(tx.payload.as_slice()).ok()?;
        Some(spec.code_package)
    }

    fn execution<'a>(
        &'a self,
        txid: &'a str,
        ts: Option<prost_types::Timestamp>,
        timeout: Duration,
        lookup: &'a (dyn Fn(&str) -> Option<Vec<u8>> + Sync),
    ) -> Execution<'a> {
        Execution {
            launcher: &self.launcher,
            code_package: lookup,
            txid,
            tx_timestamp: ts,
            timeout,
        }
    }

    /// The connected, initialised stream of deployed chaincode `name`,
    /// launching it and sending READY when needed.
    async fn ready_stream(&self, name: &str, txid: &str) -> Result<StreamHandle, String> {
        // A stream that completed Init or READY belongs to a deployed
        // chaincode: skip reading the deploy transaction (and its package)
        // from the ledger on every invoke and query.
        if let Some(stream) = self.launcher.registry().get(name).filter(|s| s.is_ready()) {
            return Ok(stream);
        }
        let Some(package) = self.deployed_package(name) else {
            let text = not_deployed(name);
            tracing::error!(chaincode = %name, txid, "{text}");
            return Err(text);
        };
        let stream = self.launcher.ensure_connected(name, Some(&package)).await?;
        if !stream.is_ready() {
            let lookup = |n: &str| self.deployed_package(n);
            let exec = self.execution(txid, None, self.settings.startup_timeout, &lookup);
            let mut state = Committed { store: &self.store };
            match exec
                .run(
                    &mut state,
                    name,
                    &stream,
                    ExecKind::Ready,
                    Default::default(),
                )
                .await
            {
                ExecResult::Completed { .. } => stream.set_ready(),
                other => {
                    return Err(format!(
                        "Error initializing container {name}: {}",
                        error_text(&other)
                    ));
                }
            }
        }
        Ok(stream)
    }

    /// Runs a query at once against committed state.
    ///
    /// # Errors
    /// The v0.6 error text (without the "Error:" prefix the caller adds).
    pub async fn query(&self, tx: &Transaction) -> Result<Vec<u8>, String> {
        if self.state_invalid.load(Ordering::Acquire) {
            return Err("state may be inconsistent, cannot query".into());
        }
        let spec = ChaincodeInvocationSpec::decode(tx.payload.as_slice())
            .map_err(|e| format!("malformed query payload in transaction {}: {e}", tx.txid))?;
        let (name, input) = invocation_target(&spec);
        if let Some(cc) = self.system.get(&name) {
            let started = std::time::Instant::now();
            let call = system::Call {
                chaincode: cc.as_ref(),
                name: &name,
                txid: &tx.txid,
                tx_timestamp: tx.timestamp,
                input,
            };
            let outcome = system::query(&self.store, call).map_err(chaincode_error);
            self.metrics
                .chaincode_executed("query", started.elapsed(), outcome.is_ok());
            return outcome;
        }
        let stream = self
            .ready_stream(&name, &tx.txid)
            .await
            .map_err(launch_error)?;
        let lookup = |n: &str| self.deployed_package(n);
        let exec = self.execution(
            &tx.txid,
            tx.timestamp,
            self.settings.execute_timeout,
            &lookup,
        );
        let mut state = Committed { store: &self.store };
        let started = std::time::Instant::now();
        let result = exec
            .run(&mut state, &name, &stream, ExecKind::Query, input)
            .await;
        let outcome = match result {
            ExecResult::QueryCompleted(payload) | ExecResult::Completed { payload, .. } => {
                Ok(payload)
            }
            ExecResult::QueryFailed(e) | ExecResult::Failed(e) => Err(chaincode_error(e)),
        };
        self.metrics
            .chaincode_executed("query", started.elapsed(), outcome.is_ok());
        outcome
    }

    /// Tells subscribers that `tx` will not be committed (a v0.6
    /// `Rejection` event carrying the transaction and `error_msg`).
    pub async fn publish_rejection(&self, tx: Transaction, error_msg: String) {
        let rejection = protos::Rejection {
            tx: Some(tx),
            error_msg,
        };
        self.events
            .publish(protos::Event {
                event: Some(event::Event::Rejection(rejection)),
            })
            .await;
    }

    /// Executes `txs` in order and commits one block (failed transactions
    /// are left out of it), durably, then publishes its events.
    ///
    /// # Errors
    /// [`CommitError`] when the block cannot be written; nothing is announced.
    pub async fn execute_block(
        &self,
        txs: Vec<Transaction>,
        metadata: Option<Vec<u8>>,
    ) -> Result<BlockCommitted, CommitError> {
        let started = std::time::Instant::now();
        tracing::debug!(
            transactions = txs.len(),
            first = txs.first().map(|t| t.txid.as_str()),
            "executing block"
        );
        let mut batch = TxBatch::new();
        let mut succeeded = Vec::with_capacity(txs.len());
        let mut events = Vec::with_capacity(txs.len());
        let mut rejected = Vec::new();
        let txs = without_repeats(txs);
        let speculated = self.speculate_all(&txs).await;
        let results = self.execute_in_order(&mut batch, &txs, speculated).await;
        for (tx, result) in txs.into_iter().zip(results) {
            match result {
                Ok(event) => {
                    events.push(event.unwrap_or_default());
                    succeeded.push(tx);
                }
                Err(reason) => {
                    tracing::info!(txid = %tx.txid, "transaction rejected: {reason}");
                    events.push(ChaincodeEvent::default());
                    rejected.push((tx.txid.clone(), reason.clone()));
                    self.publish_rejection(tx, reason).await;
                }
            }
        }
        let params = self.params(succeeded, events, metadata);
        let store = Arc::clone(&self.store);
        let committed = tokio::task::block_in_place(|| {
            let c = batch
                .commit(&*store, params)
                .map_err(|e| CommitError(e.to_string()))?;
            store
                .apply(&c.writes)
                .map_err(|e| CommitError(e.to_string()))?;
            Ok::<_, CommitError>(c)
        })?;
        self.metrics
            .block_committed(committed.info.height, started.elapsed(), rejected.len());
        let (hits, misses) = self.store.cache_counts();
        self.metrics.set_state_cache(hits, misses);
        self.announce(&committed.block).await;
        Ok(BlockCommitted {
            number: committed.block_number,
            info: committed.info,
            rejected,
        })
    }

    async fn announce(&self, block: &protos::Block) {
        let events: Vec<ChaincodeEvent> = block
            .non_hash_data
            .as_ref()
            .map(|n| {
                n.chaincode_events
                    .iter()
                    .filter(|e| !e.chaincode_id.is_empty())
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        let stripped = without_code_packages(block);
        self.events
            .publish(protos::Event {
                event: Some(event::Event::Block(stripped)),
            })
            .await;
        for ce in events {
            self.events
                .publish(protos::Event {
                    event: Some(event::Event::ChaincodeEvent(ce)),
                })
                .await;
        }
    }

    async fn execute_tx(
        &self,
        batch: &mut TxBatch,
        tx: &Transaction,
    ) -> Result<Option<ChaincodeEvent>, String> {
        match transaction::Type::try_from(tx.r#type) {
            Ok(transaction::Type::ChaincodeDeploy) => self.deploy(batch, tx).await,
            Ok(transaction::Type::ChaincodeInvoke) => self.invoke(batch, tx).await,
            _ => Err(format!(
                "transaction {} has type {} which cannot be ordered",
                tx.txid, tx.r#type
            )),
        }
    }

    async fn deploy(
        &self,
        batch: &mut TxBatch,
        tx: &Transaction,
    ) -> Result<Option<ChaincodeEvent>, String> {
        let spec = ChaincodeDeploymentSpec::decode(tx.payload.as_slice())
            .map_err(|e| format!("malformed deployment spec in transaction {}: {e}", tx.txid))?;
        let cs = spec.chaincode_spec.clone().unwrap_or_default();
        let name = cs
            .chaincode_id
            .as_ref()
            .map(|id| id.name.clone())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| tx.txid.clone());
        if self.system.get(&name).is_some() {
            return Err(format!(
                "deploy attempted but a chaincode with same name running {name}"
            ));
        }
        if self
            .launcher
            .registry()
            .get(&name)
            .is_some_and(|s| s.is_ready())
        {
            if self.launcher.mode() == ChaincodeMode::Dev {
                // v0.6 with the user running the chaincode: Deploy builds
                // nothing and Launch finds it running, so Init does not run
                // again and the deploy is recorded as it is.
                return Ok(None);
            }
            return Err(format!(
                "deploy attempted but a chaincode with same name running {name}"
            ));
        }
        let stream = self
            .launcher
            .ensure_connected(&name, Some(&spec.code_package))
            .await?;
        let input = cs.ctor_msg.unwrap_or_default();
        let result = self
            .run_in_tx(
                batch,
                tx,
                &name,
                &stream,
                ExecKind::Init,
                input,
                self.settings.startup_timeout,
            )
            .await;
        if result.is_ok() {
            stream.set_ready();
        }
        result
    }

    async fn invoke(
        &self,
        batch: &mut TxBatch,
        tx: &Transaction,
    ) -> Result<Option<ChaincodeEvent>, String> {
        let spec = ChaincodeInvocationSpec::decode(tx.payload.as_slice())
            .map_err(|e| format!("malformed invocation spec in transaction {}: {e}", tx.txid))?;
        let (name, input) = invocation_target(&spec);
        if let Some(cc) = self.system.get(&name) {
            return self.run_system(batch, tx, &name, cc.as_ref(), input);
        }
        let stream = self
            .ready_stream(&name, &tx.txid)
            .await
            .map_err(launch_error)?;
        self.run_in_tx(
            batch,
            tx,
            &name,
            &stream,
            ExecKind::Transaction,
            input,
            self.settings.execute_timeout,
        )
        .await
    }

    /// Runs system chaincode `cc` as transaction `tx` of `batch`.
    fn run_system(
        &self,
        batch: &mut TxBatch,
        tx: &Transaction,
        name: &str,
        cc: &dyn fabrik_shim::Chaincode,
        input: protos::ChaincodeInput,
    ) -> Result<Option<ChaincodeEvent>, String> {
        batch.tx_begin(&tx.txid).map_err(|e| e.to_string())?;
        let started = std::time::Instant::now();
        let call = system::Call {
            chaincode: cc,
            name,
            txid: &tx.txid,
            tx_timestamp: tx.timestamp,
            input,
        };
        let result = system::invoke(&self.store, batch, call);
        let ok = result.is_ok();
        batch.tx_finished(&tx.txid, ok).map_err(|e| e.to_string())?;
        self.metrics
            .chaincode_executed("invoke", started.elapsed(), ok);
        result.map(|(_, event)| event).map_err(chaincode_error)
    }

    #[allow(clippy::too_many_arguments)]
    async fn run_in_tx(
        &self,
        batch: &mut TxBatch,
        tx: &Transaction,
        name: &str,
        stream: &StreamHandle,
        kind: ExecKind,
        input: protos::ChaincodeInput,
        timeout: Duration,
    ) -> Result<Option<ChaincodeEvent>, String> {
        batch.tx_begin(&tx.txid).map_err(|e| e.to_string())?;
        let lookup = |n: &str| self.deployed_package(n);
        let exec = self.execution(&tx.txid, tx.timestamp, timeout, &lookup);
        let started = std::time::Instant::now();
        let result = {
            let mut state = InBlock {
                store: &self.store,
                batch,
            };
            exec.run(
                &mut state as &mut dyn StateAccess,
                name,
                stream,
                kind,
                input,
            )
            .await
        };
        let outcome = match result {
            ExecResult::Completed { event, .. } => Ok(event),
            other => Err(chaincode_error(error_text(&other).to_string())),
        };
        let label = if kind == ExecKind::Init {
            "deploy"
        } else {
            "invoke"
        };
        self.metrics
            .chaincode_executed(label, started.elapsed(), outcome.is_ok());
        batch
            .tx_finished(&tx.txid, outcome.is_ok())
            .map_err(|e| e.to_string())?;
        outcome
    }
}

/// `txs` without the transactions whose txid came earlier in the batch
/// (a request ordered twice, e.g. re-proposed by a NEW-VIEW and batched
/// again): the first is executed and recorded, the others are left out of
/// the block as a transaction already on the ledger is. Deterministic on
/// every replica, and a txid is never handed to a chaincode twice at once.
fn without_repeats(txs: Vec<Transaction>) -> Vec<Transaction> {
    let mut seen = std::collections::HashSet::with_capacity(txs.len());
    txs.into_iter()
        .filter(|tx| {
            let first = seen.insert(tx.txid.clone());
            if !first {
                tracing::info!(txid = %tx.txid, "transaction repeated in its batch; left out");
            }
            first
        })
        .collect()
}

/// The v0.6 peer Response text for a failed query: `Error:<text>`, except
/// the catch-up refusal, which v0.6 wrote with a space.
pub fn response_error_text(e: &str) -> String {
    if e.starts_with("state may be inconsistent") {
        format!("Error: {e}")
    } else {
        format!("Error:{e}")
    }
}

fn invocation_target(spec: &ChaincodeInvocationSpec) -> (String, protos::ChaincodeInput) {
    let cs = spec.chaincode_spec.clone().unwrap_or_default();
    let name = cs.chaincode_id.map(|id| id.name).unwrap_or_default();
    (name, cs.ctor_msg.unwrap_or_default())
}

fn error_text(result: &ExecResult) -> &str {
    match result {
        ExecResult::Failed(e) | ExecResult::QueryFailed(e) => e,
        ExecResult::Completed { .. } | ExecResult::QueryCompleted(_) => "",
    }
}

/// v0.6 wording: a chaincode's own error vs a failure to run it.
fn chaincode_error(text: String) -> String {
    if text == TIMEOUT_TEXT {
        wrap_exec_error(text)
    } else {
        format!("Transaction or query returned with failure: {text}")
    }
}

/// v0.6's `Launch` error for a chaincode with no deploy transaction in the
/// ledger (its text carries the ledger's not-found error).
pub(crate) fn not_deployed(name: &str) -> String {
    format!(
        "Could not get deployment transaction for {name} - LedgerError - ResourceNotFound: ledger: resource not found"
    )
}

/// v0.6 `chaincode.Execute` wording for a chaincode that could not be
/// launched (not deployed, or its container did not start and register).
fn launch_error(text: String) -> String {
    format!("Failed to launch chaincode spec({text})")
}

fn wrap_exec_error(text: String) -> String {
    format!("Failed to execute transaction or query({text})")
}
