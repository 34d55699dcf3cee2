//! The async runtime around [`fabrik_core::shim::Handler`]: dial the peer,
//! open `ChaincodeSupport.Register`, feed stream messages and user-code
//! events to the handler and carry out its outputs.
//!
//! User code is synchronous: each execution runs on a tokio blocking
//! thread with a [`Stub`] whose calls travel to this loop over a channel
//! and block on a oneshot for the answer; when the peer granted unacked
//! writes, a transaction's writes are posted instead and return at once
//! (no wake-up of the loop and back per write). A panic in user code is
//! caught and reported as the execution's error.

use crate::Chaincode;
use crate::error::ShimError;
use crate::options::Options;
use crate::stub::{Backend, Stub};
use fabrik_core::machine::Machine;
use fabrik_core::shim::{Handler, Input, Output, RunKind, StubCall, StubValue};
use fabrik_core::time::Instant;
use fabrik_proto::Timestamp;
use fabrik_proto::protos::ChaincodeMessage;
use fabrik_proto::protos::chaincode_support_client::ChaincodeSupportClient;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::{Channel, Endpoint};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
const CONNECT_ATTEMPTS: u32 = 3;
const RETRY_DELAY: Duration = Duration::from_millis(500);

type Reply = oneshot::Sender<Result<StubValue, String>>;

/// What user-code threads tell the loop.
#[allow(clippy::large_enum_variant)] // short-lived channel items
enum Event {
    Call {
        txid: String,
        call: StubCall,
        reply: Reply,
    },
    /// A write nobody waits on (fed as [`Input::StubPost`]).
    Post {
        txid: String,
        call: StubCall,
    },
    Returned(Input),
}

/// The [`Backend`] of a production stub: a channel to the loop.
struct ChannelBackend {
    events: mpsc::UnboundedSender<Event>,
    /// The peer granted unacked writes and this execution may write.
    post_writes: bool,
}

impl Backend for ChannelBackend {
    fn call(&self, txid: &str, call: StubCall) -> Result<StubValue, String> {
        if self.post_writes && call.can_post() {
            // The channel keeps this thread's order, so a later GetState of
            // the same transaction reaches the peer after the write.
            let event = Event::Post {
                txid: txid.to_owned(),
                call,
            };
            self.events
                .send(event)
                .map_err(|_| "chaincode shim stopped".to_owned())?;
            return Ok(StubValue::Done);
        }
        let (reply, answer) = oneshot::channel();
        let event = Event::Call {
            txid: txid.to_owned(),
            call,
            reply,
        };
        self.events
            .send(event)
            .map_err(|_| "chaincode shim stopped".to_owned())?;
        answer
            .blocking_recv()
            .map_err(|_| "chaincode shim stopped".to_owned())?
    }
}

/// Dials the peer, retrying briefly.
async fn connect(uri: &str) -> Result<Channel, ShimError> {
    let endpoint = Endpoint::from_shared(uri.to_owned())
        .map_err(|e| ShimError::BadAddress {
            addr: uri.to_owned(),
            reason: e.to_string(),
        })?
        .connect_timeout(CONNECT_TIMEOUT);
    let mut last = String::new();
    for attempt in 1..=CONNECT_ATTEMPTS {
        match endpoint.connect().await {
            Ok(channel) => return Ok(channel),
            Err(e) => {
                last = format!(
                    "{e}: {}",
                    std::error::Error::source(&e)
                        .map(ToString::to_string)
                        .unwrap_or_default()
                );
                tracing::warn!(%uri, attempt, error = %last, "cannot connect to peer");
            }
        }
        if attempt < CONNECT_ATTEMPTS {
            tokio::time::sleep(RETRY_DELAY).await;
        }
    }
    Err(ShimError::Connect {
        addr: uri.to_owned(),
        reason: last,
    })
}

/// One execution to run: what [`Output::Run`] said, and whether its
/// writes may be posted.
struct RunSpec {
    txid: String,
    kind: RunKind,
    args: Vec<Vec<u8>>,
    tx_timestamp: Option<Timestamp>,
    post_writes: bool,
}

/// Runs user code for one execution on a blocking thread.
fn spawn_run<C: Chaincode>(cc: Arc<C>, events: mpsc::UnboundedSender<Event>, run: RunSpec) {
    let RunSpec {
        txid,
        kind,
        args,
        tx_timestamp,
        post_writes,
    } = run;
    tokio::task::spawn_blocking(move || {
        let backend = Arc::new(ChannelBackend {
            events: events.clone(),
            post_writes,
        });
        let mut stub = Stub::new(&txid, args, tx_timestamp, backend);
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            crate::dispatch(&*cc, &mut stub, kind)
        }));
        let result = outcome.unwrap_or_else(|p| {
            let what = p
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| p.downcast_ref::<String>().cloned());
            Err(format!("chaincode panicked: {}", what.unwrap_or_default()))
        });
        let event = stub.take_event();
        let _ = events.send(Event::Returned(Input::Returned {
            txid,
            result,
            event,
        }));
    });
}

/// The loop's state: the machine and where its outputs go.
struct Driver<C: Chaincode> {
    cc: Arc<C>,
    handler: Handler,
    to_peer: mpsc::Sender<ChaincodeMessage>,
    events: mpsc::UnboundedSender<Event>,
    replies: HashMap<String, Reply>,
    epoch: tokio::time::Instant,
}

impl<C: Chaincode> Driver<C> {
    fn now(&self) -> Instant {
        let nanos = u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX);
        Instant::from_nanos(nanos)
    }

    fn feed(&mut self, input: Input) {
        if let Err(reject) = self.handler.handle(self.now(), input) {
            tracing::debug!(%reject, "shim input rejected");
        }
    }

    /// Carries out every pending output. `Err` ends the loop.
    async fn drain(&mut self) -> Result<(), ShimError> {
        while let Some(out) = self.handler.poll_output() {
            match out {
                Output::Send(msg) => {
                    if self.to_peer.send(msg).await.is_err() {
                        return Err(ShimError::Stream(
                            "send side of the stream closed".to_owned(),
                        ));
                    }
                }
                Output::Run {
                    txid,
                    kind,
                    args,
                    tx_timestamp,
                } => {
                    let post_writes = self.handler.writes_unacked() && kind != RunKind::Query;
                    let run = RunSpec {
                        txid,
                        kind,
                        args,
                        tx_timestamp,
                        post_writes,
                    };
                    spawn_run(Arc::clone(&self.cc), self.events.clone(), run);
                }
                Output::StubReply { txid, result } => {
                    if let Some(reply) = self.replies.remove(&txid) {
                        let _ = reply.send(result);
                    }
                }
                Output::Stop { reason } => return Err(ShimError::Stopped(reason)),
            }
        }
        Ok(())
    }

    fn on_event(&mut self, event: Event) {
        match event {
            Event::Call { txid, call, reply } => {
                self.replies.insert(txid.clone(), reply);
                self.feed(Input::StubCall { txid, call });
            }
            Event::Post { txid, call } => self.feed(Input::StubPost { txid, call }),
            Event::Returned(input) => self.feed(input),
        }
    }
}

/// Connects with `options` and serves `cc` until the stream ends.
///
/// # Errors
/// See [`ShimError`].
pub async fn serve<C: Chaincode>(options: Options, cc: C) -> Result<(), ShimError> {
    let uri = options.uri();
    let channel = connect(&uri).await?;
    let mut client = ChaincodeSupportClient::new(channel);
    let (to_peer, outbound) = mpsc::channel(64);
    let (events, mut event_rx) = mpsc::unbounded_channel();
    let mut driver = Driver {
        cc: Arc::new(cc),
        handler: Handler::new(&options.name),
        to_peer,
        events,
        replies: HashMap::new(),
        epoch: tokio::time::Instant::now(),
    };
    driver.drain().await?; // REGISTER, queued before the stream opens
    let response = client.register(ReceiverStream::new(outbound)).await;
    let mut inbound = response
        .map_err(|s| ShimError::Register(s.to_string()))?
        .into_inner();
    tracing::info!(name = %options.name, %uri, "registering chaincode");
    loop {
        tokio::select! {
            msg = inbound.message() => match msg {
                Ok(Some(msg)) => driver.feed(Input::FromPeer(msg)),
                Ok(None) => return Ok(()),
                Err(status) => return Err(ShimError::Stream(status.to_string())),
            },
            Some(event) = event_rx.recv() => driver.on_event(event),
        }
        driver.drain().await?;
    }
}
