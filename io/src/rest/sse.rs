//! `GET /events`: the event hub as server-sent events, for curl users.
//!
//! Query: `type=block|rejection|chaincode` (comma-separated for several;
//! default `block`), `chaincode=<name>` (required with `chaincode`),
//! `event=<name>` (chaincode events of that name only; empty = all). Each
//! event is one SSE message whose `event:` is the kind and whose `data:` is
//! the v0.6 JSON of the Block, Rejection or ChaincodeEvent. The subscriber
//! buffer is the hub's (`peer.validator.events.buffersize`, drops counted);
//! the stream ends when the client goes away or the server stops.

use super::{RestState, error, percent_decode};
use crate::events::Hub;
use crate::jsonv06;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use fabrik_proto::protos::{ChaincodeReg, EventType, Interest, interest};
use futures::StreamExt;
use std::convert::Infallible;
use std::sync::Arc;
use tokio_stream::wrappers::ReceiverStream;

/// Parses the `/events` query into hub interests.
///
/// # Errors
/// A message naming the bad parameter and what to send instead.
pub fn interests(query: &str) -> Result<Vec<Interest>, String> {
    let mut types = String::new();
    let mut chaincode = String::new();
    let mut event = String::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let v = percent_decode(&v.replace('+', " "));
        match k {
            "type" => types = v,
            "chaincode" => chaincode = v,
            "event" => event = v,
            other => {
                return Err(format!(
                    "unknown parameter {other:?}; use type, chaincode and event"
                ));
            }
        }
    }
    if types.is_empty() {
        types = "block".into();
    }
    types
        .split(',')
        .map(|t| interest_for(t.trim(), &chaincode, &event))
        .collect()
}

fn interest_for(kind: &str, chaincode: &str, event: &str) -> Result<Interest, String> {
    let plain = |t: EventType| Interest {
        event_type: t as i32,
        reg_info: None,
    };
    match kind {
        "block" => Ok(plain(EventType::Block)),
        "rejection" => Ok(plain(EventType::Rejection)),
        "chaincode" if chaincode.is_empty() => Err(
            "type=chaincode needs chaincode=<chaincode name> (and optionally event=<event name>)"
                .into(),
        ),
        "chaincode" => Ok(Interest {
            event_type: EventType::Chaincode as i32,
            reg_info: Some(interest::RegInfo::ChaincodeRegInfo(ChaincodeReg {
                chaincode_id: chaincode.into(),
                event_name: event.into(),
            })),
        }),
        other => Err(format!(
            "unknown event type {other:?}; use block, rejection or chaincode"
        )),
    }
}

/// Ends the hub subscription when the stream is dropped.
struct Unsubscribe(Arc<Hub>, u64);

impl Drop for Unsubscribe {
    fn drop(&mut self) {
        self.0.unsubscribe(self.1);
    }
}

/// The SSE response for `query`.
pub fn events(state: &RestState, query: &str) -> Response {
    let wanted = match interests(query) {
        Ok(i) => i,
        Err(e) => return error(400, &e),
    };
    let (id, rx) = state.hub.subscribe(wanted);
    let guard = Unsubscribe(Arc::clone(&state.hub), id);
    let mut stopping = state.stopping.clone();
    let stop = async move {
        let _ = stopping.wait_for(|s| *s).await;
    };
    let stream = ReceiverStream::new(rx)
        .filter_map(move |item| {
            let _keep = &guard;
            let out = item
                .ok()
                .as_ref()
                .and_then(jsonv06::event_payload)
                .map(|(kind, json)| {
                    Ok::<_, Infallible>(SseEvent::default().event(kind).data(json))
                });
            std::future::ready(out)
        })
        .take_until(Box::pin(stop));
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_to_interests() {
        let i = interests("").expect("default");
        assert_eq!(
            i,
            vec![Interest {
                event_type: EventType::Block as i32,
                reg_info: None
            }]
        );
        let i = interests("type=block,rejection").expect("two");
        assert_eq!(i.len(), 2);
        let i = interests("type=chaincode&chaincode=my%20cc&event=e+1").expect("cc");
        let Some(interest::RegInfo::ChaincodeRegInfo(reg)) = &i[0].reg_info else {
            panic!("no reg info")
        };
        assert_eq!(
            (reg.chaincode_id.as_str(), reg.event_name.as_str()),
            ("my cc", "e 1")
        );
        assert!(
            interests("type=chaincode")
                .unwrap_err()
                .contains("chaincode=<chaincode name>")
        );
        assert!(
            interests("type=blocks")
                .unwrap_err()
                .contains("unknown event type")
        );
        assert!(
            interests("foo=1")
                .unwrap_err()
                .contains("unknown parameter")
        );
    }
}
