//! FETCH_REQUEST_BATCH / RETURN_REQUEST_BATCH: v0.6 `pbftCore`
//! `fetchRequestBatches`, `recvFetchRequestBatch`, `recvReturnRequestBatch`
//! (a backup installing a new view fetches batches it never saw).

use fabrik_proto::pbft::{FetchRequestBatch, RequestBatch, message};

use crate::pbft::ReplicaId;
use crate::pbft::error::RejectReason;
use crate::pbft::output::PersistOp;
use crate::pbft::replica::{Replica, batch_digest};

impl Replica {
    pub(crate) fn on_fetch_request_batch(
        &mut self,
        from: ReplicaId,
        f: &FetchRequestBatch,
    ) -> Result<(), RejectReason> {
        let Some(batch) = self.log.batches.get(&f.batch_digest).cloned() else {
            return Ok(()); // we do not have it either; someone else will answer
        };
        self.send(from, message::Payload::ReturnRequestBatch(batch));
        Ok(())
    }

    /// Only batches we asked for are stored, so the store stays bounded.
    pub(crate) fn on_return_request_batch(
        &mut self,
        _from: ReplicaId,
        batch: RequestBatch,
    ) -> Result<(), RejectReason> {
        let digest = batch_digest(&batch);
        if !self.vc.missing.remove(&digest) {
            return Err(RejectReason::Unsolicited);
        }
        self.log.batches.insert(digest.clone(), batch.clone());
        self.persist(PersistOp::StoreBatch { digest, batch });
        self.missing_batch_arrived();
        Ok(())
    }
}
