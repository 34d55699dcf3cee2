//! What the driver feeds the replica, and the peer-message envelope.

use fabrik_proto::pbft::{BatchMessage, Message, Request, batch_message};
use fabrik_proto::protos::BlockchainInfo;
use prost::Message as _;

use super::ReplicaId;
use super::error::RejectReason;

/// A consensus message between replicas: the two `BatchMessage` payloads
/// fabrik uses (a client request, or a marshalled PBFT `Message`), decoded.
#[derive(Debug, Clone, PartialEq)]
pub enum PeerMsg {
    /// `BatchMessage.request`: a client request relayed by its origin.
    Request(Request),
    /// `BatchMessage.pbft_message`: a PBFT protocol message.
    Pbft(Message),
}

impl PeerMsg {
    /// Decodes the wire envelope.
    ///
    /// # Errors
    /// [`RejectReason::Malformed`] or [`RejectReason::Unsupported`].
    pub fn from_batch_message(msg: BatchMessage) -> Result<Self, RejectReason> {
        match msg.payload {
            Some(batch_message::Payload::Request(r)) => Ok(PeerMsg::Request(r)),
            Some(batch_message::Payload::PbftMessage(bytes)) => Message::decode(bytes.as_slice())
                .map(PeerMsg::Pbft)
                .map_err(|e| RejectReason::Malformed(e.to_string())),
            Some(batch_message::Payload::RequestBatch(_)) => {
                Err(RejectReason::Unsupported("request_batch"))
            }
            Some(batch_message::Payload::Complaint(_)) => {
                Err(RejectReason::Unsupported("complaint"))
            }
            None => Err(RejectReason::Malformed("empty batch message".into())),
        }
    }

    /// Encodes into the wire envelope.
    pub fn to_batch_message(&self) -> BatchMessage {
        let payload = match self {
            PeerMsg::Request(r) => batch_message::Payload::Request(r.clone()),
            PeerMsg::Pbft(m) => batch_message::Payload::PbftMessage(m.encode_to_vec()),
        };
        BatchMessage {
            payload: Some(payload),
        }
    }
}

/// Events fed to the replica through [`crate::machine::Machine::handle`].
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// Fed by the io layer for each client transaction submitted at this
    /// peer: `Request{timestamp, payload = marshalled Transaction,
    /// replica_id = our id}`. The replica broadcasts it to every replica.
    /// (Request signatures: the `signature` field is carried unchanged; a
    /// verification hook can be added in `handle/request.rs`.)
    Request(Request),
    /// Fed by the transport for each consensus message from another replica.
    /// `from` is the identity authenticated by the transport (mutual TLS);
    /// the message's own `replica_id` must equal it.
    Peer {
        /// Authenticated sender.
        from: ReplicaId,
        /// The decoded message.
        msg: PeerMsg,
    },
    /// Fed by the executor after it committed the block for `seq` (the
    /// answer to [`super::Output::Execute`]); `info` is the ledger head
    /// after that block, whose marshalling is the checkpoint id.
    Executed {
        /// The executed sequence number.
        seq: u64,
        /// The blockchain info after the block was committed.
        info: BlockchainInfo,
    },
    /// Fed by state transfer when the ledger reached the target of
    /// [`super::Output::StateTransfer`] (or a later one).
    StateTransferred {
        /// The sequence number the ledger now corresponds to.
        seq: u64,
        /// The ledger head.
        info: BlockchainInfo,
    },
    /// Fed by state transfer when the target could not be reached.
    StateTransferFailed,
}
