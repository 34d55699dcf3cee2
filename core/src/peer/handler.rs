//! The per-connection peer handler: the v0.6 peer FSM (reference §3.1) as a
//! sans-IO [`Machine`].
//!
//! ```text
//!            DISC_HELLO (id = certificate's id)
//!  Created ───────────────────────────────────► Established(endpoint)
//!     │ anything else: Reject (stream kept)         │ DISC_GET_PEERS → ListPeers → DISC_PEERS
//!     │ HELLO with another id / hello timeout        │ DISC_PEERS     → Discovered
//!     ▼                                             │ SYNC_*         → Sync   (BLOCK_ADDED: no-op)
//!  Closed ◄──────── Close(reason) ─────────────────┘ CONSENSUS      → Consensus
//! ```
//!
//! The side that dialed sends its HELLO as soon as the handler exists; the
//! accepting side answers with its own HELLO while processing the incoming
//! one, then registers (v0.6 order). Once established, the handler asks for
//! peers at once (ours: faster convergence) and then every discovery period.
//!
//! The io layer checks the remote's certificate against the network CA and
//! passes the id the certificate names as [`Config::certified_id`]; a HELLO
//! claiming any other id closes the connection with a reason naming both.

use super::wire::{kind_name, message};
use crate::machine::Machine;
use crate::time::{Duration, Instant, TimerTable};
use fabrik_proto::protos::{
    BlockchainInfo, HelloMessage, Message, PeerEndpoint, PeersMessage, message::Type,
};
use prost::Message as _;
use std::collections::VecDeque;

/// Most endpoints taken from one DISC_PEERS message; the rest are ignored.
const MAX_DISCOVERED: usize = 1000;

/// Which side opened the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// We dialed: we send the first HELLO.
    Outbound,
    /// The remote dialed: we answer its HELLO with ours.
    Inbound,
}

/// Settings of one handler.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// This peer's endpoint, sent in our HELLO and DISC_PEERS filtering.
    pub local: PeerEndpoint,
    /// Who opened the connection.
    pub direction: Direction,
    /// The peer id named by the remote's certificate (checked by the io
    /// layer against the network CA). The remote's HELLO must claim it.
    pub certified_id: String,
    /// Our chain head, sent in our HELLO.
    pub blockchain_info: BlockchainInfo,
    /// `peer.discovery.period`: how often DISC_GET_PEERS is sent.
    pub discovery_period: Duration,
    /// How long to wait for the remote's HELLO before closing.
    pub hello_timeout: Duration,
}

/// Events fed to the [`Handler`].
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// A message read from the connection (fed by the connection's reader).
    FromPeer(Message),
    /// The endpoints currently registered (the io layer's answer to
    /// [`Output::ListPeers`]).
    RegisteredPeers(Vec<PeerEndpoint>),
}

/// Effects the driver performs, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Write this message to the remote (through its bounded send queue).
    Send(Message),
    /// The remote's HELLO was accepted: register the endpoint by its id
    /// (the registry may refuse a duplicate connection and close this one)
    /// and add its address to the discovery list.
    Registered(PeerEndpoint),
    /// The remote asked for our peers: answer with
    /// [`Input::RegisteredPeers`].
    ListPeers,
    /// The remote told us about these peers (never ourselves nor the
    /// remote): dial those that are not connected.
    Discovered(Vec<PeerEndpoint>),
    /// A CONSENSUS message from the remote: hand it to consensus, tagged
    /// with the remote's id.
    Consensus(Message),
    /// A SYNC_* request or reply: hand it to state transfer (or its serving
    /// side), tagged with the remote's id.
    Sync(Message),
    /// Close the connection and log the reason (which names the remote).
    Close(String),
}

/// Why an input was refused. The handler stays usable (the v0.6 chat loop
/// keeps reading after "Peer FSM cannot handle message").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Reject {
    /// A message that is not valid in the current state (v0.6 text).
    #[error(
        "Peer FSM cannot handle message ({kind}) with payload size ({size}) while in state: {state}"
    )]
    CannotHandle {
        /// The message type's v0.6 name.
        kind: String,
        /// Payload length in bytes.
        size: usize,
        /// The handler's state.
        state: State,
    },
    /// A payload that does not decode as its type's message.
    #[error("malformed {kind} from peer {peer}: {problem}")]
    Malformed {
        /// The message type's v0.6 name.
        kind: String,
        /// The remote's certified id.
        peer: String,
        /// The decoder's complaint.
        problem: String,
    },
    /// The HELLO names another peer than the certificate (connection closed).
    #[error(
        "HELLO from peer {certified} claims id \"{claimed}\"; the certificate names \"{certified}\""
    )]
    WrongIdentity {
        /// The id in the HELLO.
        claimed: String,
        /// The id in the certificate.
        certified: String,
    },
}

/// The handler's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Waiting for the remote's HELLO.
    Created,
    /// HELLO exchanged; the remote is registered.
    Established,
    /// The connection is being closed; everything is refused.
    Closed,
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            State::Created => "created",
            State::Established => "established",
            State::Closed => "closed",
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    Hello,
    GetPeers,
}

/// One connection's peer FSM.
#[derive(Debug)]
pub struct Handler {
    config: Config,
    state: State,
    remote: Option<PeerEndpoint>,
    timers: TimerTable<Timer>,
    outputs: VecDeque<Output>,
    rejected: u64,
}

impl Handler {
    /// A handler for a fresh connection. An outbound handler queues its
    /// HELLO at once; both arm the HELLO timeout.
    pub fn new(config: Config, now: Instant) -> Self {
        let mut handler = Self {
            state: State::Created,
            remote: None,
            timers: TimerTable::new(),
            outputs: VecDeque::new(),
            rejected: 0,
            config,
        };
        handler
            .timers
            .set(Timer::Hello, now + handler.config.hello_timeout);
        if handler.config.direction == Direction::Outbound {
            handler.send_hello();
        }
        handler
    }

    /// The current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// The remote's endpoint once its HELLO was accepted.
    pub fn remote(&self) -> Option<&PeerEndpoint> {
        self.remote.as_ref()
    }

    /// How many inputs were refused so far.
    pub fn rejected(&self) -> u64 {
        self.rejected
    }

    fn send_hello(&mut self) {
        let hello = HelloMessage {
            peer_endpoint: Some(self.config.local.clone()),
            blockchain_info: Some(self.config.blockchain_info.clone()),
        };
        self.outputs.push_back(Output::Send(message(
            Type::DiscHello,
            hello.encode_to_vec(),
        )));
    }

    fn cannot_handle(&self, msg: &Message) -> Reject {
        Reject::CannotHandle {
            kind: kind_name(msg.r#type),
            size: msg.payload.len(),
            state: self.state,
        }
    }

    fn malformed(&self, msg: &Message, problem: impl ToString) -> Reject {
        Reject::Malformed {
            kind: kind_name(msg.r#type),
            peer: self.config.certified_id.clone(),
            problem: problem.to_string(),
        }
    }

    fn close(&mut self, reason: String) {
        self.state = State::Closed;
        self.timers = TimerTable::new();
        self.outputs.push_back(Output::Close(reason));
    }

    fn on_message(&mut self, now: Instant, msg: Message) -> Result<(), Reject> {
        let kind = Type::try_from(msg.r#type).ok();
        match (self.state, kind) {
            (State::Created, Some(Type::DiscHello)) => self.on_hello(now, &msg),
            (State::Established, Some(Type::DiscGetPeers)) => {
                self.outputs.push_back(Output::ListPeers);
                Ok(())
            }
            (State::Established, Some(Type::DiscPeers)) => self.on_peers(&msg),
            (State::Established, Some(Type::SyncBlockAdded)) => Ok(()),
            (State::Established, Some(kind)) if is_sync(kind) => {
                self.outputs.push_back(Output::Sync(msg));
                Ok(())
            }
            (State::Established, Some(Type::Consensus)) => {
                self.outputs.push_back(Output::Consensus(msg));
                Ok(())
            }
            _ => Err(self.cannot_handle(&msg)),
        }
    }

    fn on_hello(&mut self, now: Instant, msg: &Message) -> Result<(), Reject> {
        let hello = HelloMessage::decode(msg.payload.as_slice());
        let endpoint = match hello {
            Ok(HelloMessage {
                peer_endpoint: Some(endpoint),
                ..
            }) => endpoint,
            Ok(_) => return Err(self.bad_hello(msg, "it carries no peerEndpoint")),
            Err(e) => return Err(self.bad_hello(msg, e)),
        };
        let claimed = endpoint.id.as_ref().map_or("", |id| id.name.as_str());
        if claimed != self.config.certified_id {
            let reject = Reject::WrongIdentity {
                claimed: claimed.to_string(),
                certified: self.config.certified_id.clone(),
            };
            self.close(format!("{reject}; refusing the connection"));
            return Err(reject);
        }
        if claimed == local_id(&self.config.local) {
            let reason = format!("peer claims our own id \"{claimed}\"; refusing the connection");
            self.close(reason.clone());
            return Err(self.malformed(msg, reason));
        }
        if self.config.direction == Direction::Inbound {
            self.send_hello();
        }
        self.state = State::Established;
        self.remote = Some(endpoint.clone());
        self.timers.stop(&Timer::Hello);
        self.outputs.push_back(Output::Registered(endpoint));
        self.send_get_peers(now);
        Ok(())
    }

    /// A HELLO we cannot use closes the connection: without it the remote
    /// can never be registered.
    fn bad_hello(&mut self, msg: &Message, problem: impl ToString) -> Reject {
        let reject = self.malformed(msg, problem);
        self.close(format!("{reject}; refusing the connection"));
        reject
    }

    fn send_get_peers(&mut self, now: Instant) {
        self.outputs
            .push_back(Output::Send(message(Type::DiscGetPeers, Vec::new())));
        self.timers
            .set(Timer::GetPeers, now + self.config.discovery_period);
    }

    fn on_peers(&mut self, msg: &Message) -> Result<(), Reject> {
        let peers = PeersMessage::decode(msg.payload.as_slice())
            .map_err(|e| self.malformed(msg, e))?
            .peers;
        let local = local_id(&self.config.local);
        let remote = self.config.certified_id.as_str();
        let found: Vec<PeerEndpoint> = peers
            .into_iter()
            .filter(|p| {
                let id = local_id(p);
                !id.is_empty() && id != local && id != remote && !p.address.is_empty()
            })
            .take(MAX_DISCOVERED)
            .collect();
        if !found.is_empty() {
            self.outputs.push_back(Output::Discovered(found));
        }
        Ok(())
    }

    fn on_registered_peers(&mut self, peers: Vec<PeerEndpoint>) -> Result<(), Reject> {
        if self.state != State::Established {
            // The connection closed while the io layer was answering: drop it.
            return Ok(());
        }
        let reply = PeersMessage { peers };
        self.outputs.push_back(Output::Send(message(
            Type::DiscPeers,
            reply.encode_to_vec(),
        )));
        Ok(())
    }
}

fn local_id(endpoint: &PeerEndpoint) -> &str {
    endpoint.id.as_ref().map_or("", |id| id.name.as_str())
}

fn is_sync(kind: Type) -> bool {
    matches!(
        kind,
        Type::SyncGetBlocks
            | Type::SyncBlocks
            | Type::SyncStateGetSnapshot
            | Type::SyncStateSnapshot
            | Type::SyncStateGetDeltas
            | Type::SyncStateDeltas
    )
}

impl Machine for Handler {
    type Input = Input;
    type Output = Output;
    type Reject = Reject;

    fn handle(&mut self, now: Instant, input: Input) -> Result<(), Reject> {
        let result = match input {
            Input::FromPeer(msg) if self.state == State::Closed => Err(self.cannot_handle(&msg)),
            Input::FromPeer(msg) => self.on_message(now, msg),
            Input::RegisteredPeers(peers) => self.on_registered_peers(peers),
        };
        if result.is_err() {
            self.rejected = self.rejected.saturating_add(1);
        }
        result
    }

    fn handle_timeout(&mut self, now: Instant) {
        for timer in self.timers.expire(now) {
            match timer {
                Timer::Hello => self.close(format!(
                    "no HELLO from peer {} within {:?}; closing the connection",
                    self.config.certified_id, self.config.hello_timeout
                )),
                Timer::GetPeers => self.send_get_peers(now),
            }
        }
    }

    fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next_deadline()
    }
}
