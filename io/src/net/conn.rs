//! One peer connection: the accept loop, identity checks, the stream, and
//! the per-connection tasks (reader → handler inbox, handler driven by
//! `driver::run`, writer draining the bounded send queue), then clean-up.
//!
//! Refusals are logged at WARN with the remote address and the id the
//! remote claims, and the reason.

use super::{Inbound, PeerSender, Shared, frame, tls};
use crate::driver::{self, Effects};
use crate::sync::Ordering;
use fabrik_core::peer::{Config, Direction, DiscoveryInput, Handler, Input, Output, Reject};
use fabrik_proto::protos::Message;
use std::sync::Arc;
use tokio::sync::mpsc;
use tracing::Instrument;

/// Inputs queued for one handler (frames read ahead of processing).
const INBOX: usize = 64;
/// How long an accepted connection may take to open its stream.
const STREAM_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// QUIC application close codes.
const CLOSE_NORMAL: u32 = 0;
const CLOSE_REFUSED: u32 = 1;

fn close(conn: &quinn::Connection, code: u32, reason: &str) {
    let bytes = reason.as_bytes();
    conn.close(code.into(), &bytes[..bytes.len().min(512)]);
}

/// Accepts connections until the endpoint closes.
pub(super) async fn accept_loop(shared: Arc<Shared>, endpoint: quinn::Endpoint) {
    while let Some(incoming) = endpoint.accept().await {
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            let remote = incoming.remote_address();
            match incoming.await {
                Ok(conn) => match tls::remote_id(&conn) {
                    Ok(id) => run(shared, conn, Direction::Inbound, id).await,
                    Err(reason) => {
                        tracing::warn!(%remote, "refused connection from {remote}: {reason}");
                        close(&conn, CLOSE_REFUSED, &reason);
                    }
                },
                Err(e) => {
                    tracing::warn!(%remote, "refused connection from {remote}: TLS handshake failed: {e}")
                }
            }
        });
    }
}

/// Runs one established connection whose certificate names `id`.
pub(super) async fn run(
    shared: Arc<Shared>,
    conn: quinn::Connection,
    direction: Direction,
    id: String,
) {
    let remote = conn.remote_address();
    let conn_id = shared.next_conn.fetch_add(1, Ordering::Relaxed);
    let span = tracing::info_span!("peer", %id, %remote, conn = conn_id);
    async move {
        if id == shared.registry.own_id() {
            tracing::warn!("refused connection from {remote}: it presents our own id \"{id}\"");
            close(&conn, CLOSE_REFUSED, "connected to itself");
            return;
        }
        let stream = match direction {
            Direction::Outbound => conn.open_bi().await,
            Direction::Inbound => match tokio::time::timeout(STREAM_TIMEOUT, conn.accept_bi()).await {
                Ok(r) => r,
                Err(_) => {
                    tracing::warn!("peer {id} at {remote} opened no stream within {STREAM_TIMEOUT:?}; closing");
                    close(&conn, CLOSE_REFUSED, "no stream opened");
                    return;
                }
            },
        };
        match stream {
            Ok((send, recv)) => serve(&shared, &conn, conn_id, direction, &id, send, recv).await,
            Err(e) => tracing::debug!("no stream with peer {id} at {remote}: {e}"),
        }
    }
    .instrument(span)
    .await;
}

async fn serve(
    shared: &Arc<Shared>,
    conn: &quinn::Connection,
    conn_id: u64,
    direction: Direction,
    id: &str,
    send: quinn::SendStream,
    recv: quinn::RecvStream,
) {
    let settings = &shared.settings;
    let (queue_tx, queue_rx) = mpsc::channel::<Message>(settings.send_queue);
    let (bulk_tx, bulk_rx) = mpsc::channel::<Message>(settings.send_queue);
    let (inbox_tx, mut inbox) = mpsc::channel::<Input>(INBOX);
    let queues = Queues {
        control: queue_rx,
        bulk: bulk_rx,
    };
    let writer = tokio::spawn(write_loop(send, queues, settings.max_frame).in_current_span());
    let reader = tokio::spawn(
        read_loop(
            recv,
            inbox_tx.clone(),
            Arc::clone(shared),
            conn.clone(),
            id.to_string(),
        )
        .in_current_span(),
    );
    let initiator = match direction {
        Direction::Outbound => shared.registry.own_id().to_string(),
        Direction::Inbound => id.to_string(),
    };
    let config = Config {
        local: settings.local.clone(),
        direction,
        certified_id: id.to_string(),
        blockchain_info: (shared.chain_info)(),
        discovery_period: settings.discovery_period,
        hello_timeout: STREAM_TIMEOUT,
    };
    let mut machine = Handler::new(config, shared.clock.now());
    let mut effects = ConnEffects {
        shared: Arc::clone(shared),
        conn: conn.clone(),
        conn_id,
        id: id.to_string(),
        initiator,
        sender: PeerSender::new(queue_tx, bulk_tx, conn.clone()),
        inbox: inbox_tx,
        registered: false,
        stop: false,
    };
    super::drain_initial(&mut machine, &mut effects).await;
    tokio::select! {
        () = driver::run(&mut machine, &mut inbox, &mut effects, shared.clock) => {}
        e = conn.closed() => tracing::info!("connection to peer {id} closed: {e}"),
    }
    reader.abort();
    writer.abort();
    if effects.registered && shared.registry.remove(id, conn_id) {
        tracing::info!("peer {id} disconnected");
        let _ = shared
            .discovery_tx
            .try_send(DiscoveryInput::Disconnected(id.to_string()));
    }
}

/// A connection's two send queues ([`super::Lane`]).
struct Queues {
    control: mpsc::Receiver<Message>,
    bulk: mpsc::Receiver<Message>,
}

impl Queues {
    /// The next message to write: control first; `None` once both closed.
    async fn next(&mut self) -> Option<Message> {
        tokio::select! {
            biased;
            Some(msg) = self.control.recv() => Some(msg),
            Some(msg) = self.bulk.recv() => Some(msg),
            else => None,
        }
    }
}

async fn write_loop(mut send: quinn::SendStream, mut queues: Queues, max: usize) {
    while let Some(msg) = queues.next().await {
        let bytes = match frame::encode(&msg, max) {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!("not sending a message: {e}");
                continue;
            }
        };
        if let Err(e) = frame::write(&mut send, &bytes).await {
            tracing::debug!("write to peer failed: {e}");
            return;
        }
    }
    let _ = send.finish();
}

async fn read_loop(
    mut recv: quinn::RecvStream,
    inbox: mpsc::Sender<Input>,
    shared: Arc<Shared>,
    conn: quinn::Connection,
    id: String,
) {
    let remote = conn.remote_address();
    loop {
        match frame::read(&mut recv, shared.settings.max_frame).await {
            Ok(Some(msg)) => {
                if inbox.send(Input::FromPeer(msg)).await.is_err() {
                    return;
                }
            }
            Ok(None) => {
                close(&conn, CLOSE_NORMAL, "stream ended");
                return;
            }
            Err(e) if e.is_fatal() => {
                if matches!(e, frame::FrameError::TooLarge { .. }) {
                    tracing::warn!("closing connection with peer {id} at {remote}: {e}");
                    close(&conn, CLOSE_REFUSED, &e.to_string());
                } else {
                    tracing::debug!("stream from peer {id} at {remote} ended: {e}");
                    close(&conn, CLOSE_NORMAL, "stream failed");
                }
                return;
            }
            Err(e) => {
                shared.rejected.fetch_add(1, Ordering::Relaxed);
                tracing::warn!("dropping a frame from peer {id} at {remote}: {e}");
            }
        }
    }
}

struct ConnEffects {
    shared: Arc<Shared>,
    conn: quinn::Connection,
    conn_id: u64,
    id: String,
    initiator: String,
    sender: PeerSender,
    inbox: mpsc::Sender<Input>,
    registered: bool,
    stop: bool,
}

impl ConnEffects {
    fn register(&mut self, endpoint: fabrik_proto::protos::PeerEndpoint) {
        use super::registry::{Entry, Registration};
        let entry = Entry {
            conn: self.conn_id,
            initiator: self.initiator.clone(),
            endpoint: endpoint.clone(),
            sender: self.sender.clone(),
        };
        match self.shared.registry.register(&self.id, entry) {
            Registration::Refused { kept } => {
                tracing::info!(
                    "duplicate connection with peer {}; keeping connection {kept} (the one opened by the lower id)",
                    self.id
                );
                close(&self.conn, CLOSE_NORMAL, "duplicate connection");
                self.stop = true;
                return;
            }
            Registration::Replaced(old) => {
                tracing::info!(
                    "peer {} reconnected; closing its older connection {}",
                    self.id,
                    old.conn
                );
                close(
                    &old.sender.conn,
                    CLOSE_NORMAL,
                    "replaced by a newer connection",
                );
            }
            Registration::New => {}
        }
        self.registered = true;
        tracing::info!(address = %endpoint.address, kind = endpoint.r#type, "peer {} connected", self.id);
        if self
            .shared
            .discovery_tx
            .try_send(DiscoveryInput::Registered(endpoint))
            .is_err()
        {
            tracing::debug!("discovery inbox full; registration not recorded");
        }
    }

    fn route(&self, tx: &mpsc::Sender<Inbound>, msg: Message, what: &str) {
        let inbound = Inbound {
            from: self.id.clone(),
            msg,
        };
        if tx.try_send(inbound).is_err() {
            self.shared.count_drop();
            tracing::debug!(
                "{what} inbox full or closed; message from peer {} dropped",
                self.id
            );
        }
    }
}

impl Effects<Handler> for ConnEffects {
    async fn perform(&mut self, output: Output) {
        match output {
            Output::Send(msg) => {
                if !self
                    .sender
                    .try_queue(&self.shared, msg, super::Lane::Control)
                {
                    tracing::debug!("send queue of peer {} full; message dropped", self.id);
                }
            }
            Output::Registered(endpoint) => self.register(endpoint),
            Output::ListPeers => {
                let peers = self.shared.registry.endpoints();
                let _ = self.inbox.try_send(Input::RegisteredPeers(peers));
            }
            Output::Discovered(endpoints) => {
                let _ = self
                    .shared
                    .discovery_tx
                    .try_send(DiscoveryInput::Discovered(endpoints));
            }
            Output::Consensus(msg) => self.route(&self.shared.consensus_tx, msg, "consensus"),
            Output::Sync(msg) => self.route(&self.shared.sync_tx, msg, "state transfer"),
            Output::Close(reason) => {
                let remote = self.conn.remote_address();
                tracing::warn!(
                    "refused peer at {remote} (certificate names \"{}\"): {reason}",
                    self.id
                );
                close(&self.conn, CLOSE_REFUSED, &reason);
                self.stop = true;
            }
        }
    }

    fn rejected(&mut self, reject: Reject) {
        self.shared.rejected.fetch_add(1, Ordering::Relaxed);
        tracing::warn!("{reject}");
    }

    fn should_stop(&self) -> bool {
        self.stop
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fabrik_proto::protos::message;

    fn msg(payload: u8) -> Message {
        Message {
            r#type: message::Type::Consensus as i32,
            payload: vec![payload],
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn protocol_messages_are_written_before_queued_relayed_requests() {
        let (control_tx, control) = mpsc::channel(8);
        let (bulk_tx, bulk) = mpsc::channel(8);
        let mut queues = Queues { control, bulk };
        for i in 0..3 {
            bulk_tx.try_send(msg(100 + i)).unwrap();
        }
        control_tx.try_send(msg(1)).unwrap();
        control_tx.try_send(msg(2)).unwrap();
        let mut order = Vec::new();
        for _ in 0..4 {
            order.push(queues.next().await.unwrap().payload[0]);
        }
        control_tx.try_send(msg(3)).unwrap();
        order.push(queues.next().await.unwrap().payload[0]);
        order.push(queues.next().await.unwrap().payload[0]);
        assert_eq!(order, vec![1, 2, 100, 101, 3, 102]);
        drop(control_tx);
        bulk_tx.try_send(msg(103)).unwrap();
        drop(bulk_tx);
        assert_eq!(
            queues.next().await.unwrap().payload[0],
            103,
            "one closed queue does not stop the other"
        );
        assert!(
            queues.next().await.is_none(),
            "both closed: the writer ends"
        );
    }
}
