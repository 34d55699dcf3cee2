//! Event-stream commands over the peer's `/protos.Events/Chat`
//! (`peer.validator.events.address`): `peerd events listen`, printing one
//! v0.6 JSON line per event, and `peerd chaincode invoke --wait`, which
//! registers for BLOCK and REJECTION events *before* submitting the invoke,
//! then reports the block that committed the transaction or its rejection.

use crate::chaincode::build_spec;
use crate::cli::{InvokeArgs, ListenArgs};
use crate::client::{block_on, dial, rpc_error};
use crate::context::Context;
use crate::error::CliError;
use fabrik_io::jsonv06;
use fabrik_proto::protos::devops_client::DevopsClient;
use fabrik_proto::protos::events_client::EventsClient;
use fabrik_proto::protos::openchain_client::OpenchainClient;
use fabrik_proto::protos::response::StatusCode;
use fabrik_proto::protos::{
    BlockNumber, ChaincodeInvocationSpec, ChaincodeReg, Event, EventType, Interest, Register,
    event, interest,
};
use std::io::Write;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Streaming;

/// How long to wait for the hub to echo a registration (v0.6 client: up to 60 s; we are local).
const REGISTER_TIMEOUT: Duration = Duration::from_secs(10);

/// How many blocks below the head `--wait` searches for the committed tx.
const SEARCH_DEPTH: u64 = 64;

/// An open Chat stream; events arrive while `_outbound` is alive.
pub struct Subscription {
    /// The events.
    pub inbound: Streaming<Event>,
    _outbound: mpsc::Sender<Event>,
}

/// An interest in every event of type `t`.
pub fn plain(t: EventType) -> Interest {
    Interest {
        event_type: t as i32,
        reg_info: None,
    }
}

/// The interests `events listen` registers: blocks, plus rejections and one
/// chaincode's events when asked.
pub fn listen_interests(args: &ListenArgs) -> Vec<Interest> {
    let mut out = vec![plain(EventType::Block)];
    if args.rejections {
        out.push(plain(EventType::Rejection));
    }
    if let Some(cc) = &args.chaincode {
        out.push(Interest {
            event_type: EventType::Chaincode as i32,
            reg_info: Some(interest::RegInfo::ChaincodeRegInfo(ChaincodeReg {
                chaincode_id: cc.clone(),
                event_name: args.event.clone().unwrap_or_default(),
            })),
        });
    }
    out
}

/// Connects to the events address, registers `interests` and waits for the
/// echo, so that nothing after this returns can be missed.
pub async fn subscribe(address: &str, interests: Vec<Interest>) -> Result<Subscription, CliError> {
    let mut client = EventsClient::new(dial(address).await?);
    let (tx, rx) = mpsc::channel(4);
    let register = Event {
        event: Some(event::Event::Register(Register { events: interests })),
    };
    tx.send(register)
        .await
        .map_err(|_| CliError::Failure("event stream closed before registering".into()))?;
    let mut inbound = client
        .chat(ReceiverStream::new(rx))
        .await
        .map_err(|s| rpc_error("Events.Chat", address, &s))?
        .into_inner();
    let echo = tokio::time::timeout(REGISTER_TIMEOUT, inbound.message()).await.map_err(|_| {
        CliError::Failure(format!("the event hub at {address} did not confirm the registration within {REGISTER_TIMEOUT:?}"))
    })?;
    match echo.map_err(|s| rpc_error("Events.Chat", address, &s))? {
        Some(Event {
            event: Some(event::Event::Register(_)),
        }) => Ok(Subscription {
            inbound,
            _outbound: tx,
        }),
        other => Err(CliError::Failure(format!(
            "the event hub at {address} answered the registration with {other:?}"
        ))),
    }
}

/// `peerd events listen`: prints each event as one JSON line until the
/// stream ends or the process is interrupted.
///
/// # Errors
/// Connection failures and a stream that breaks.
pub fn listen(ctx: &Context, args: &ListenArgs) -> Result<(), CliError> {
    let address = ctx.config.peer.validator.events.address.clone();
    block_on(async {
        let mut sub = subscribe(&address, listen_interests(args)).await?;
        while let Some(ev) = sub
            .inbound
            .message()
            .await
            .map_err(|s| rpc_error("Events.Chat", &address, &s))?
        {
            if let Some(line) = jsonv06::event_line(&ev) {
                let mut out = std::io::stdout().lock();
                writeln!(out, "{line}")
                    .and_then(|()| out.flush())
                    .map_err(CliError::Stdout)?;
            }
        }
        Err(CliError::Failure(format!(
            "the event hub at {address} closed the stream"
        )))
    })
}

/// What became of the waited-for transaction.
enum Fate {
    Committed,
    Rejected(String),
}

/// Waits on `sub` until a block holds `txid` or a rejection names it.
async fn fate(sub: &mut Subscription, txid: &str, address: &str) -> Result<Fate, CliError> {
    while let Some(ev) = sub
        .inbound
        .message()
        .await
        .map_err(|s| rpc_error("Events.Chat", address, &s))?
    {
        match ev.event {
            Some(event::Event::Block(b)) if b.transactions.iter().any(|t| t.txid == txid) => {
                return Ok(Fate::Committed);
            }
            Some(event::Event::Rejection(r)) if r.tx.as_ref().is_some_and(|t| t.txid == txid) => {
                return Ok(Fate::Rejected(r.error_msg));
            }
            _ => {}
        }
    }
    Err(CliError::Failure(format!(
        "the event hub at {address} closed the stream before transaction {txid} was decided"
    )))
}

/// The number of the block holding `txid`, searching down from the head.
async fn block_number(peer: &str, txid: &str) -> Result<u64, CliError> {
    let mut client = OpenchainClient::new(dial(peer).await?);
    let height = client
        .get_block_count(())
        .await
        .map_err(|s| rpc_error("Openchain.GetBlockCount", peer, &s))?;
    let height = height.into_inner().count;
    for n in (height.saturating_sub(SEARCH_DEPTH)..height).rev() {
        let block = client
            .get_block_by_number(BlockNumber { number: n })
            .await
            .map_err(|s| rpc_error("Openchain.GetBlockByNumber", peer, &s))?
            .into_inner();
        if block.transactions.iter().any(|t| t.txid == txid) {
            return Ok(n);
        }
    }
    Err(CliError::Failure(format!(
        "transaction {txid} was committed but is not in the last {SEARCH_DEPTH} blocks"
    )))
}

async fn submit(peer: &str, spec: ChaincodeInvocationSpec) -> Result<String, CliError> {
    let mut client = DevopsClient::new(dial(peer).await?);
    let reply = client
        .invoke(spec)
        .await
        .map_err(|s| rpc_error("Devops.Invoke", peer, &s))?
        .into_inner();
    let msg = String::from_utf8_lossy(&reply.msg).into_owned();
    if reply.status == StatusCode::Failure as i32 {
        return Err(CliError::Failure(msg));
    }
    Ok(msg)
}

/// `peerd chaincode invoke --wait`: prints the txid, then `committed in
/// block N`; a rejection is an error naming the reason (exit code 1).
///
/// # Errors
/// Bad flags, connection failures, a rejection, or no decision in time.
pub fn invoke_wait(ctx: &Context, args: &InvokeArgs) -> Result<(), CliError> {
    let spec = ChaincodeInvocationSpec {
        chaincode_spec: Some(build_spec(&args.common)?),
        id_generation_alg: args.common.tid.clone().unwrap_or_default(),
    };
    let events = ctx.config.peer.validator.events.address.clone();
    let peer = ctx.peer_address().to_string();
    let limit = Duration::from_secs(args.wait_timeout);
    block_on(async {
        let mut sub = subscribe(
            &events,
            vec![plain(EventType::Block), plain(EventType::Rejection)],
        )
        .await?;
        let txid = submit(&peer, spec).await?;
        println!("{txid}");
        let fate = tokio::time::timeout(limit, fate(&mut sub, &txid, &events)).await.map_err(|_| {
            CliError::Failure(format!(
                "transaction {txid} was neither committed nor rejected within {} s (--wait-timeout)",
                limit.as_secs()
            ))
        })??;
        match fate {
            Fate::Committed => {
                println!("committed in block {}", block_number(&peer, &txid).await?);
                Ok(())
            }
            Fate::Rejected(reason) => Err(CliError::Failure(format!(
                "transaction {txid} was rejected: {reason}"
            ))),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_registers_blocks_and_what_was_asked() {
        let args = ListenArgs {
            rejections: false,
            chaincode: None,
            event: None,
        };
        assert_eq!(listen_interests(&args), vec![plain(EventType::Block)]);
        let args = ListenArgs {
            rejections: true,
            chaincode: Some("cc".into()),
            event: Some("e".into()),
        };
        let i = listen_interests(&args);
        assert_eq!(i.len(), 3);
        assert_eq!(i[1], plain(EventType::Rejection));
        let Some(interest::RegInfo::ChaincodeRegInfo(reg)) = &i[2].reg_info else {
            panic!("no chaincode interest")
        };
        assert_eq!(
            (reg.chaincode_id.as_str(), reg.event_name.as_str()),
            ("cc", "e")
        );
    }
}
