//! The event hub (reference §7): block, chaincode and rejection events fanned
//! out to subscribers of `/protos.Events/Chat`.
//!
//! The committer hands events to one fan-out task through a bounded queue
//! (it waits when the queue is full, so no block event is lost inside the
//! peer). Each subscriber has its own bounded buffer (`events.buffersize`)
//! and the v0.6 timeout semantics (`events.timeout` ms: < 0 drop at once when
//! full, 0 block, > 0 wait that long then drop); every drop is counted.
//! The subscriber set and its drop accounting are [`crate::fanout`]'s
//! (loom-checked); this module adds the v0.6 interests and the gRPC stream.

use crate::fanout::{Offer, Subscribers};
use fabrik_proto::protos::{self, EventType, event, interest};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status, Streaming};

type EventResult = Result<protos::Event, Status>;

/// How a full subscriber buffer is handled (`peer.validator.events.timeout`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendPolicy {
    /// Drop the event at once.
    Drop,
    /// Wait until there is room.
    Block,
    /// Wait this long, then drop.
    Wait(Duration),
}

impl SendPolicy {
    /// The policy for a v0.6 `events.timeout` value in ms.
    pub fn from_timeout_ms(ms: i64) -> Self {
        match ms {
            m if m < 0 => SendPolicy::Drop,
            0 => SendPolicy::Block,
            m => SendPolicy::Wait(Duration::from_millis(m.unsigned_abs())),
        }
    }
}

/// Subscribers and counters, shared by the Chat streams and the fan-out task.
pub struct Hub {
    subscribers: Subscribers<Vec<protos::Interest>, mpsc::Sender<EventResult>>,
    buffer: usize,
    policy: SendPolicy,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("subscribers", &self.subscriber_count())
            .finish()
    }
}

/// The committer's handle: a bounded queue into the fan-out task.
#[derive(Debug, Clone)]
pub struct Publisher {
    tx: mpsc::Sender<protos::Event>,
}

impl Publisher {
    /// Queues `event` for fan-out, waiting while the queue is full.
    pub async fn publish(&self, event: protos::Event) {
        // A closed hub means the node is shutting down; nothing to deliver.
        let _ = self.tx.send(event).await;
    }
}

impl Hub {
    /// A hub with per-subscriber `buffer` and the given full-buffer policy;
    /// returns the hub and the publisher feeding its fan-out task.
    pub fn start(buffer: usize, policy: SendPolicy) -> (Arc<Hub>, Publisher) {
        let hub = Arc::new(Hub {
            subscribers: Subscribers::new(),
            buffer: buffer.max(1),
            policy,
        });
        let (tx, mut rx) = mpsc::channel::<protos::Event>(buffer.max(1));
        let fan = Arc::clone(&hub);
        tokio::spawn(async move {
            while let Some(event) = rx.recv().await {
                fan.fan_out(&event).await;
            }
        });
        (hub, Publisher { tx })
    }

    /// Current number of Chat subscribers.
    pub fn subscriber_count(&self) -> usize {
        self.subscribers.len()
    }

    /// Events dropped because a subscriber's buffer stayed full.
    pub fn dropped(&self) -> u64 {
        self.subscribers.dropped()
    }

    async fn fan_out(&self, event: &protos::Event) {
        let wants = |interests: &Vec<protos::Interest>| interests.iter().any(|i| matches(i, event));
        let full = match self.policy {
            SendPolicy::Drop => self.subscribers.publish(&Ok(event.clone()), wants),
            SendPolicy::Block | SendPolicy::Wait(_) => {
                let mut full = 0;
                for tx in self.subscribers.targets(wants) {
                    if self.subscribers.settle(self.send(&tx, event).await) == Offer::Full {
                        full += 1;
                    }
                }
                full
            }
        };
        for _ in 0..full {
            tracing::warn!("event subscriber buffer full; event dropped");
        }
    }

    /// Sends under the waiting policies: Block waits for room (so it only
    /// fails on a closed subscriber), Wait gives up after its timeout.
    async fn send(&self, tx: &mpsc::Sender<EventResult>, event: &protos::Event) -> Offer {
        use mpsc::error::SendTimeoutError;
        let result = match self.policy {
            SendPolicy::Wait(d) => tx.send_timeout(Ok(event.clone()), d).await,
            SendPolicy::Drop | SendPolicy::Block => tx
                .send(Ok(event.clone()))
                .await
                .map_err(|e| SendTimeoutError::Closed(e.0)),
        };
        match result {
            Ok(()) => Offer::Accepted,
            // A subscriber that left while we waited is not a drop.
            Err(SendTimeoutError::Timeout(_)) if !tx.is_closed() => Offer::Full,
            Err(_) => Offer::Closed,
        }
    }

    /// Subscribes from inside the peer (REST server-sent events) to events
    /// matching `interests`. They arrive on the receiver, bounded by the
    /// hub's per-subscriber buffer with the same full-buffer policy and drop
    /// counting as Chat streams. End it with [`Hub::unsubscribe`].
    pub fn subscribe(
        &self,
        interests: Vec<protos::Interest>,
    ) -> (u64, mpsc::Receiver<EventResult>) {
        let (tx, rx) = mpsc::channel(self.buffer);
        (self.subscribers.add(interests, tx), rx)
    }

    /// Ends subscription `id` (from [`Hub::subscribe`]).
    pub fn unsubscribe(&self, id: u64) {
        self.remove(id);
    }

    fn add(&self, tx: mpsc::Sender<EventResult>) -> u64 {
        self.subscribers.add(Vec::new(), tx)
    }

    fn update(&self, id: u64, f: impl FnOnce(&mut Vec<protos::Interest>)) {
        self.subscribers.update(id, f);
    }

    fn remove(&self, id: u64) {
        self.subscribers.remove(id);
    }
}

fn matches(interest: &protos::Interest, event: &protos::Event) -> bool {
    let kind = EventType::try_from(interest.event_type).ok();
    match (&event.event, kind) {
        (Some(event::Event::Block(_)), Some(EventType::Block)) => true,
        (Some(event::Event::Rejection(_)), Some(EventType::Rejection)) => true,
        (Some(event::Event::ChaincodeEvent(ce)), Some(EventType::Chaincode)) => {
            match &interest.reg_info {
                Some(interest::RegInfo::ChaincodeRegInfo(reg)) => {
                    reg.chaincode_id == ce.chaincode_id
                        && (reg.event_name.is_empty() || reg.event_name == ce.event_name)
                }
                None => false,
            }
        }
        _ => false,
    }
}

fn validate(interests: &[protos::Interest]) -> Result<(), Status> {
    for i in interests {
        if EventType::try_from(i.event_type) == Ok(EventType::Chaincode) {
            match &i.reg_info {
                Some(interest::RegInfo::ChaincodeRegInfo(r)) if !r.chaincode_id.is_empty() => {}
                _ => {
                    return Err(Status::invalid_argument(
                        "chaincode interest must name a chaincodeID in chaincodeRegInfo",
                    ));
                }
            }
        }
    }
    Ok(())
}

/// `/protos.Events/Chat` served from a [`Hub`].
#[derive(Debug, Clone)]
pub struct EventsService {
    hub: Arc<Hub>,
}

impl EventsService {
    /// The service over `hub`.
    pub fn new(hub: Arc<Hub>) -> Self {
        Self { hub }
    }
}

async fn serve_client(
    hub: Arc<Hub>,
    id: u64,
    tx: mpsc::Sender<EventResult>,
    mut inbound: Streaming<protos::Event>,
) {
    while let Some(Ok(msg)) = inbound.next().await {
        let reply = match &msg.event {
            Some(event::Event::Register(reg)) => validate(&reg.events).map(|()| {
                let new = reg.events.clone();
                hub.update(id, |i| i.extend(new));
            }),
            Some(event::Event::Unregister(unreg)) => {
                let gone = unreg.events.clone();
                hub.update(id, |i| i.retain(|x| !gone.contains(x)));
                Ok(())
            }
            None => Ok(()),
            Some(_) => Err(Status::invalid_argument(
                "invalid event from client: only register and unregister are accepted",
            )),
        };
        let failed = reply.is_err();
        let out = reply.map(|()| msg);
        if tx.send(out).await.is_err() || failed {
            break;
        }
    }
    hub.remove(id);
}

#[tonic::async_trait]
impl protos::events_server::Events for EventsService {
    type ChatStream = Pin<Box<dyn Stream<Item = EventResult> + Send + 'static>>;

    async fn chat(
        &self,
        request: Request<Streaming<protos::Event>>,
    ) -> Result<Response<Self::ChatStream>, Status> {
        let (tx, rx) = mpsc::channel(self.hub.buffer);
        let id = self.hub.add(tx.clone());
        tokio::spawn(serve_client(
            Arc::clone(&self.hub),
            id,
            tx,
            request.into_inner(),
        ));
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cc_interest(cc: &str, name: &str) -> protos::Interest {
        protos::Interest {
            event_type: EventType::Chaincode as i32,
            reg_info: Some(interest::RegInfo::ChaincodeRegInfo(protos::ChaincodeReg {
                chaincode_id: cc.into(),
                event_name: name.into(),
            })),
        }
    }

    fn cc_event(cc: &str, name: &str) -> protos::Event {
        protos::Event {
            event: Some(event::Event::ChaincodeEvent(protos::ChaincodeEvent {
                chaincode_id: cc.into(),
                event_name: name.into(),
                ..Default::default()
            })),
        }
    }

    #[test]
    fn chaincode_interest_matches_by_id_and_name_and_empty_name_means_all() {
        assert!(matches(&cc_interest("cc", ""), &cc_event("cc", "x")));
        assert!(matches(&cc_interest("cc", "x"), &cc_event("cc", "x")));
        assert!(!matches(&cc_interest("cc", "y"), &cc_event("cc", "x")));
        assert!(!matches(&cc_interest("other", ""), &cc_event("cc", "x")));
        let block = protos::Interest {
            event_type: EventType::Block as i32,
            reg_info: None,
        };
        assert!(!matches(&block, &cc_event("cc", "x")));
    }

    #[test]
    fn chaincode_interest_without_id_is_refused() {
        assert!(validate(&[cc_interest("", "")]).is_err());
        assert!(validate(&[cc_interest("a", "")]).is_ok());
    }

    #[tokio::test]
    async fn a_full_subscriber_buffer_drops_and_counts_under_the_drop_policy() {
        let (hub, publisher) = Hub::start(1, SendPolicy::Drop);
        let (tx, mut rx) = mpsc::channel(1);
        let id = hub.add(tx);
        hub.update(id, |i| {
            i.push(protos::Interest {
                event_type: EventType::Block as i32,
                reg_info: None,
            })
        });
        let block = protos::Event {
            event: Some(event::Event::Block(protos::Block::default())),
        };
        for _ in 0..3 {
            publisher.publish(block.clone()).await;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(rx.try_recv().is_ok());
        assert_eq!(hub.dropped(), 2);
    }
}
