//! v0.6 JSON of the protobuf messages clients see (REST, events, ledger
//! tools): what Go's `encoding/json` made of the generated structs.
//!
//! The rules (reference §0 "REST JSON", fact 15): fields in declaration
//! order under their proto names as written (`chaincodeID`, `txid`, `ID`);
//! `bytes` as standard base64; enums as integers; every zero value (0, "",
//! empty bytes/lists, absent messages) omitted; `Timestamp` as
//! `{"seconds":N,"nanos":N}` (with zero parts omitted too); strings escaped as
//! Go does, `<`, `>` and `&` included. A transaction's `chaincodeID` is the
//! base64 of the marshalled `ChaincodeID`, since the field is `bytes`.
//!
//! Everything here is a pure function from a message to a `String`.

use base64::Engine as _;
use fabrik_proto::Timestamp;
use fabrik_proto::protos::{
    Block, BlockchainInfo, ChaincodeEvent, Event, NonHashData, PeerEndpoint, Rejection,
    Transaction, event,
};
use std::fmt::Write as _;

/// A JSON object under construction, skipping zero values as `omitempty`.
#[derive(Debug)]
pub struct Obj {
    buf: String,
    empty: bool,
}

impl Default for Obj {
    fn default() -> Self {
        Self::new()
    }
}

impl Obj {
    /// An empty object.
    pub fn new() -> Self {
        Self {
            buf: String::from("{"),
            empty: true,
        }
    }

    fn key(&mut self, key: &str) {
        if !self.empty {
            self.buf.push(',');
        }
        self.empty = false;
        push_go_string(&mut self.buf, key);
        self.buf.push(':');
    }

    /// A string field, omitted when empty.
    pub fn str(mut self, key: &str, value: &str) -> Self {
        if !value.is_empty() {
            self.key(key);
            push_go_string(&mut self.buf, value);
        }
        self
    }

    /// A string field written even when empty (no `omitempty`).
    pub fn str_always(mut self, key: &str, value: &str) -> Self {
        self.key(key);
        push_go_string(&mut self.buf, value);
        self
    }

    /// A `bytes` field as standard base64, omitted when empty.
    pub fn bytes(mut self, key: &str, value: &[u8]) -> Self {
        if !value.is_empty() {
            self.key(key);
            self.buf.push('"');
            self.buf
                .push_str(&base64::engine::general_purpose::STANDARD.encode(value));
            self.buf.push('"');
        }
        self
    }

    /// An integer field (also enums), omitted when zero.
    pub fn int(mut self, key: &str, value: impl Into<i128>) -> Self {
        let v: i128 = value.into();
        if v != 0 {
            self.key(key);
            let _ = write!(self.buf, "{v}");
        }
        self
    }

    /// A nested value already rendered as JSON, omitted when `None`.
    pub fn raw(mut self, key: &str, json: Option<String>) -> Self {
        if let Some(json) = json {
            self.key(key);
            self.buf.push_str(&json);
        }
        self
    }

    /// A nested value already rendered as JSON, always written.
    pub fn raw_always(mut self, key: &str, json: &str) -> Self {
        self.key(key);
        self.buf.push_str(json);
        self
    }

    /// A list of rendered values, omitted when empty.
    pub fn list(mut self, key: &str, items: Vec<String>) -> Self {
        if !items.is_empty() {
            self.key(key);
            self.buf.push('[');
            self.buf.push_str(&items.join(","));
            self.buf.push(']');
        }
        self
    }

    /// The finished object.
    pub fn finish(mut self) -> String {
        self.buf.push('}');
        self.buf
    }
}

/// `s` as a JSON string literal, escaped as Go's `encoding/json` does
/// (HTML-safe: `<`, `>`, `&`, U+2028 and U+2029 as `\uXXXX`).
pub fn go_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    push_go_string(&mut out, s);
    out
}

fn push_go_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `google.protobuf.Timestamp`.
pub fn timestamp(ts: &Timestamp) -> String {
    Obj::new()
        .int("seconds", ts.seconds)
        .int("nanos", ts.nanos)
        .finish()
}

/// `protos.Transaction`, payload as stored.
pub fn transaction(tx: &Transaction) -> String {
    Obj::new()
        .int("type", tx.r#type)
        .bytes("chaincodeID", &tx.chaincode_id)
        .bytes("payload", &tx.payload)
        .bytes("metadata", &tx.metadata)
        .str("txid", &tx.txid)
        .raw("timestamp", tx.timestamp.as_ref().map(timestamp))
        .int("confidentialityLevel", tx.confidentiality_level)
        .str(
            "confidentialityProtocolVersion",
            &tx.confidentiality_protocol_version,
        )
        .bytes("nonce", &tx.nonce)
        .bytes("toValidators", &tx.to_validators)
        .bytes("cert", &tx.cert)
        .bytes("signature", &tx.signature)
        .finish()
}

/// `protos.ChaincodeEvent`.
pub fn chaincode_event(ev: &ChaincodeEvent) -> String {
    Obj::new()
        .str("chaincodeID", &ev.chaincode_id)
        .str("txID", &ev.tx_id)
        .str("eventName", &ev.event_name)
        .bytes("payload", &ev.payload)
        .finish()
}

fn non_hash_data(n: &NonHashData) -> String {
    Obj::new()
        .raw(
            "localLedgerCommitTimestamp",
            n.local_ledger_commit_timestamp.as_ref().map(timestamp),
        )
        .list(
            "chaincodeEvents",
            n.chaincode_events.iter().map(chaincode_event).collect(),
        )
        .finish()
}

/// `protos.Block` as given (callers strip code packages first where v0.6 did).
pub fn block(b: &Block) -> String {
    Obj::new()
        .int("version", b.version)
        .raw("timestamp", b.timestamp.as_ref().map(timestamp))
        .list(
            "transactions",
            b.transactions.iter().map(transaction).collect(),
        )
        .bytes("stateHash", &b.state_hash)
        .bytes("previousBlockHash", &b.previous_block_hash)
        .bytes("consensusMetadata", &b.consensus_metadata)
        .raw("nonHashData", b.non_hash_data.as_ref().map(non_hash_data))
        .finish()
}

/// `protos.BlockchainInfo`.
pub fn blockchain_info(info: &BlockchainInfo) -> String {
    Obj::new()
        .int("height", info.height)
        .bytes("currentBlockHash", &info.current_block_hash)
        .bytes("previousBlockHash", &info.previous_block_hash)
        .finish()
}

/// `protos.PeerEndpoint`.
pub fn peer_endpoint(p: &PeerEndpoint) -> String {
    let id =
        p.id.as_ref()
            .map(|id| Obj::new().str("name", &id.name).finish());
    Obj::new()
        .raw("ID", id)
        .str("address", &p.address)
        .int("type", p.r#type)
        .bytes("pkiID", &p.pki_id)
        .finish()
}

/// `protos.PeersMessage`.
pub fn peers_message(peers: &[PeerEndpoint]) -> String {
    Obj::new()
        .list("peers", peers.iter().map(peer_endpoint).collect())
        .finish()
}

/// `protos.Rejection`.
pub fn rejection(r: &Rejection) -> String {
    Obj::new()
        .raw("tx", r.tx.as_ref().map(transaction))
        .str("errorMsg", &r.error_msg)
        .finish()
}

/// The kind of a hub event as used by the SSE stream and the CLI
/// (`block`, `chaincode`, `rejection`) and its payload's JSON; `None` for
/// register/unregister echoes and empty events.
pub fn event_payload(ev: &Event) -> Option<(&'static str, String)> {
    match ev.event.as_ref()? {
        event::Event::Block(b) => Some(("block", block(b))),
        event::Event::ChaincodeEvent(c) => Some(("chaincode", chaincode_event(c))),
        event::Event::Rejection(r) => Some(("rejection", rejection(r))),
        event::Event::Register(_) | event::Event::Unregister(_) => None,
    }
}

/// One event as a single JSON object keyed by its proto oneof field name:
/// `{"block":{..}}`, `{"chaincodeEvent":{..}}` or `{"rejection":{..}}`.
pub fn event_line(ev: &Event) -> Option<String> {
    let (kind, json) = event_payload(ev)?;
    let field = if kind == "chaincode" {
        "chaincodeEvent"
    } else {
        kind
    };
    Some(Obj::new().raw_always(field, &json).finish())
}

/// v0.6 `restResult{Error: msg}`.
pub fn rest_error(msg: &str) -> String {
    Obj::new().str("Error", msg).finish()
}

/// v0.6 `restResult{OK: msg}`.
pub fn rest_ok(msg: &str) -> String {
    Obj::new().str("OK", msg).finish()
}

#[cfg(test)]
#[path = "jsonv06_tests.rs"]
mod tests;
