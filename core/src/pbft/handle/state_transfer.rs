//! Falling behind and catching up: v0.6 `pbftCore.stateTransfer`,
//! `retryStateTransfer`, `updateHighStateTarget` and the `stateUpdatedEvent`
//! arm (Castro–Liskov §5.3 state transfer, as v0.6 delegates it to
//! `stack.UpdateState`).
//!
//! Two departures keep a replica that knows it is behind trying on a quiet
//! network: a failed transfer is retried after a doubling, bounded pause
//! (v0.6 looped inside `UpdateState`), and a transfer that ends below the
//! window goes on to the highest checkpoint f+1 replicas vouched for above
//! it (v0.6 kept only their sequence numbers and waited for new ones).

use fabrik_proto::protos::BlockchainInfo;
use prost::Message as _;

use crate::pbft::error::RejectReason;
use crate::pbft::output::Output;
use crate::pbft::replica::Replica;
use crate::pbft::state::{Target, Timer};
use crate::time::Duration;

impl Replica {
    pub(crate) fn update_high_target(&mut self, target: Target) {
        if self
            .xfer
            .high_target
            .as_ref()
            .is_some_and(|t| t.seq >= target.seq)
        {
            return;
        }
        self.xfer.high_target = Some(target);
    }

    /// Marks the state invalid and starts a transfer to `target` (or the
    /// highest known one).
    pub(crate) fn state_transfer(&mut self, target: Option<Target>) {
        self.enter_skip();
        self.retry_state_transfer(target);
    }

    /// v0.6 `retryStateTransfer`: one transfer at a time, never while
    /// executing.
    pub(crate) fn retry_state_transfer(&mut self, target: Option<Target>) {
        if self.current_exec.is_some() || self.xfer.transferring {
            return;
        }
        let Some(target) = target.or_else(|| self.xfer.high_target.clone()) else {
            return;
        };
        self.xfer.transferring = true;
        tracing::info!(
            replica = self.cfg.id,
            seq = target.seq,
            "starting state transfer"
        );
        self.emit(Output::StateTransfer {
            seq: target.seq,
            id: target.id,
            replicas: target.replicas,
        });
    }

    /// v0.6 `stateUpdatedEvent`: lastExec = seq, move the watermarks,
    /// validate the state, checkpoint, resume execution. Outstanding
    /// requests are dropped: they may have executed while we were away.
    pub(crate) fn on_state_transferred(
        &mut self,
        seq: u64,
        info: &BlockchainInfo,
    ) -> Result<(), RejectReason> {
        if !self.xfer.transferring {
            return Err(RejectReason::UnexpectedInput(
                "no state transfer in progress",
            ));
        }
        self.xfer.transferring = false;
        if seq < self.h || seq < self.last_exec {
            tracing::warn!(
                replica = self.cfg.id,
                seq,
                h = self.h,
                "state transfer fell short"
            );
            if self.xfer.high_target.as_ref().is_some_and(|t| t.seq > seq) {
                self.retry_state_transfer(None);
            } else if !self.target_from_evidence() {
                tracing::warn!(
                    replica = self.cfg.id,
                    "no checkpoint above it has f+1 vouchers yet; waiting for one"
                );
            }
            return Ok(());
        }
        self.xfer.failures = 0;
        self.timers.stop(&Timer::RetryStateTransfer);
        self.last_exec = seq;
        self.seq_no = self.seq_no.max(seq);
        self.head = info.encode_to_vec();
        self.reqs.clear();
        // Progress, like a commit: the request timer starts afresh.
        self.timers.stop(&Timer::Request);
        self.move_watermarks(seq);
        self.xfer.skip = false;
        self.refuse_queries(false);
        let head = self.head.clone();
        self.checkpoint(seq, head);
        self.execute_outstanding();
        Ok(())
    }

    pub(crate) fn on_state_transfer_failed(&mut self) -> Result<(), RejectReason> {
        if !self.xfer.transferring {
            return Err(RejectReason::UnexpectedInput(
                "no state transfer in progress",
            ));
        }
        self.xfer.transferring = false;
        if self.xfer.skip {
            let wait = retry_backoff(self.xfer.failures);
            self.xfer.failures = self.xfer.failures.saturating_add(1);
            tracing::warn!(
                replica = self.cfg.id,
                retry_in_ms = wait.as_millis() as u64,
                "state transfer failed; retrying"
            );
            self.timers.set(Timer::RetryStateTransfer, self.now + wait);
        }
        Ok(())
    }
}

/// First wait before a failed transfer is tried again; it doubles with each
/// failure in a row, up to [`RETRY_MAX`]. v0.6 retried at once, forever, in
/// a loop inside `UpdateState`; a pause keeps a replica whose peers cannot
/// serve it from flooding them, and the bound keeps it trying.
const RETRY_FIRST: Duration = Duration::from_secs(1);
/// Longest wait between two tries.
const RETRY_MAX: Duration = Duration::from_secs(30);

fn retry_backoff(failures: u32) -> Duration {
    let factor = 1u32.checked_shl(failures.min(16)).unwrap_or(u32::MAX);
    RETRY_FIRST.saturating_mul(factor).min(RETRY_MAX)
}
