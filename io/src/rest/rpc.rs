//! `POST /chaincode`: v0.6's JSON-RPC 2.0 deploy/invoke/query (reference
//! §6.2) — request parsing with Go `encoding/json` semantics (key case
//! ignored, unknown keys ignored, `null` = absent, a type mismatch is a parse
//! error), the v0.6 validation order and texts, execution through consensus
//! (deploy, invoke) or the executor (query), and the response bodies.
//!
//! Malformed requests get 400/404 with a JSON-RPC error; every
//! deploy/invoke/query outcome, failures included, is HTTP 200. A request
//! without an `id` is a notification: it is processed and answered with an
//! empty body.

use super::RestState;
use crate::config::ChaincodeMode;
use crate::consensus::SubmitError;
use crate::exec::now_timestamp;
use crate::grpc::txbuild::{deploy_transaction, invocation_transaction};
use crate::jsonv06::{Obj, go_string};
use fabrik_proto::protos::{
    ChaincodeId, ChaincodeInput, ChaincodeInvocationSpec, ChaincodeSpec, transaction,
};
use serde_json::{Map, Value};

/// A JSON-RPC request id, echoed back as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RpcId {
    /// A numeric id.
    Int(i64),
    /// A string id.
    Str(String),
}

/// A JSON-RPC error object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpcError {
    /// The code (-32700 … -32000).
    pub code: i64,
    /// The fixed message for the code.
    pub message: &'static str,
    /// v0.6's detail text.
    pub data: String,
    /// Consensus had no room: answered 503 with Retry-After (ours; v0.6
    /// queued without bound), and safe to resubmit.
    pub busy: bool,
}

impl RpcError {
    fn new(code: i64, message: &'static str, data: impl Into<String>) -> Self {
        Self {
            code,
            message,
            busy: false,
            data: data.into(),
        }
    }

    /// -32700 Parse error.
    pub fn parse(data: impl Into<String>) -> Self {
        Self::new(-32700, "Parse error", data)
    }

    /// -32600 Invalid request.
    pub fn invalid_request(data: impl Into<String>) -> Self {
        Self::new(-32600, "Invalid request", data)
    }

    /// -32602 Invalid params.
    pub fn invalid_params(data: impl Into<String>) -> Self {
        Self::new(-32602, "Invalid params", data)
    }

    /// -32603 Internal error.
    pub fn internal(data: impl Into<String>) -> Self {
        Self::new(-32603, "Internal error", data)
    }
}

/// The parsed request; `None` fields were absent or `null`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RpcRequest {
    /// `jsonrpc`.
    pub jsonrpc: Option<String>,
    /// `method`.
    pub method: Option<String>,
    /// `params` (a `ChaincodeSpec`).
    pub params: Option<ChaincodeSpec>,
    /// `id`.
    pub id: Option<RpcId>,
}

/// A checked method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Deploy chaincode.
    Deploy,
    /// Invoke chaincode.
    Invoke,
    /// Query chaincode.
    Query,
}

/// The HTTP status and body of a JSON-RPC answer (`None`: no body).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// Body text.
    pub body: Option<String>,
    /// Seconds for a `Retry-After` header (503 busy answers).
    pub retry_after: Option<u32>,
}

/// The body of an error response (v0.6 writes these with a trailing newline).
pub fn error_body(err: &RpcError, id: Option<&RpcId>) -> String {
    let error = Obj::new()
        .int("code", err.code)
        .str("message", err.message)
        .str("data", &err.data)
        .finish();
    Obj::new()
        .str("jsonrpc", "2.0")
        .raw_always("error", &error)
        .raw_always("id", &id_json(id))
        .finish()
}

/// The body of a success response (no trailing newline, as v0.6).
pub fn ok_body(message: &str, id: Option<&RpcId>) -> String {
    let result = Obj::new()
        .str("status", "OK")
        .str("message", message)
        .finish();
    Obj::new()
        .str("jsonrpc", "2.0")
        .raw_always("result", &result)
        .raw_always("id", &id_json(id))
        .finish()
}

fn id_json(id: Option<&RpcId>) -> String {
    match id {
        None => "null".into(),
        Some(RpcId::Int(n)) => n.to_string(),
        Some(RpcId::Str(s)) => go_string(s),
    }
}

/// An error answer: no body for notifications, else the error plus newline.
pub fn error_answer(status: u16, err: &RpcError, id: Option<&RpcId>, notification: bool) -> Answer {
    let body = (!notification).then(|| error_body(err, id) + "\n");
    Answer {
        status,
        body,
        retry_after: None,
    }
}

/// Parses the body into a request, as Go's `json.Unmarshal` into v0.6's
/// `rpcRequest` would.
///
/// # Errors
/// -32600 for an empty body, -32700 for bad JSON or a field of the wrong type.
pub fn parse(body: &[u8]) -> Result<RpcRequest, RpcError> {
    if body.is_empty() {
        return Err(RpcError::invalid_request(
            "Client must supply a payload for chaincode requests.",
        ));
    }
    let unmarshal = |e: String| {
        RpcError::parse(format!(
            "Error unmarshalling chaincode request payload: {e}"
        ))
    };
    let value = decode(body).map_err(unmarshal)?;
    let Value::Object(obj) = value else {
        return Err(unmarshal(format!(
            "json: cannot unmarshal {} into Go value of type rest.rpcRequest",
            kind(&value)
        )));
    };
    Ok(RpcRequest {
        jsonrpc: opt_string(field(&obj, "jsonrpc")).map_err(unmarshal)?,
        method: opt_string(field(&obj, "method")).map_err(unmarshal)?,
        params: match field(&obj, "params") {
            None | Some(Value::Null) => None,
            Some(Value::Object(p)) => Some(chaincode_spec(p).map_err(unmarshal)?),
            Some(other) => {
                return Err(unmarshal(mismatch(other, "protos.ChaincodeSpec")));
            }
        },
        id: parse_id(field(&obj, "id")).map_err(unmarshal)?,
    })
}

/// The body as a JSON value, refused with Go's syntax-error text.
fn decode(body: &[u8]) -> Result<Value, String> {
    serde_json::from_slice(body).or_else(|serde_error| {
        if let Some(go_error) = super::gojson::syntax_error(body) {
            return Err(go_error);
        }
        // Go accepts what serde refuses only in strings with invalid UTF-8
        // (it substitutes U+FFFD) and past serde's nesting limit.
        serde_json::from_str(&String::from_utf8_lossy(body)).map_err(|_| serde_error.to_string())
    })
}

/// Checks the version and method in v0.6's order.
///
/// # Errors
/// The HTTP status (400 or 404) and the JSON-RPC error.
pub fn check_envelope(req: &RpcRequest) -> Result<(Method, ChaincodeSpec), (u16, RpcError)> {
    match req.jsonrpc.as_deref() {
        None => {
            return Err((
                400,
                RpcError::invalid_request("Missing JSON RPC 2.0 version string."),
            ));
        }
        Some("2.0") => {}
        Some(_) => {
            return Err((
                400,
                RpcError::invalid_request("Invalid JSON RPC 2.0 version string. Must be 2.0."),
            ));
        }
    }
    let method = match req.method.as_deref() {
        None => {
            return Err((
                400,
                RpcError::invalid_request("Missing JSON RPC 2.0 method string."),
            ));
        }
        Some("deploy") => Method::Deploy,
        Some("invoke") => Method::Invoke,
        Some("query") => Method::Query,
        Some(_) => {
            return Err((
                404,
                RpcError::new(
                    -32601,
                    "Method not found",
                    "Requested method does not exist.",
                ),
            ));
        }
    };
    // v0.6 used the deploy text for invoke and query too.
    let spec = req.params.clone().ok_or_else(|| {
        (
            400,
            RpcError::invalid_params(
                "Client must supply ChaincodeSpec for chaincode deploy request.",
            ),
        )
    })?;
    Ok((method, spec))
}

fn has_args(spec: &ChaincodeSpec) -> bool {
    spec.ctor_msg.as_ref().is_some_and(|c| !c.args.is_empty())
}

const NO_CTOR: &str = "Payload must contain a CtorMsg with a Chaincode function name.";

/// v0.6 `processChaincodeDeploy` parameter checks.
///
/// # Errors
/// -32602 with v0.6's text.
pub fn check_deploy(spec: &ChaincodeSpec, mode: ChaincodeMode) -> Result<(), RpcError> {
    let id = spec
        .chaincode_id
        .as_ref()
        .ok_or_else(|| RpcError::invalid_params("Payload must contain a ChaincodeID."))?;
    if mode == ChaincodeMode::Dev && id.name.is_empty() {
        return Err(RpcError::invalid_params(
            "Chaincode name may not be blank in development mode.",
        ));
    }
    if mode != ChaincodeMode::Dev && id.path.is_empty() {
        return Err(RpcError::invalid_params("Chaincode path may not be blank."));
    }
    if !has_args(spec) {
        return Err(RpcError::invalid_params(NO_CTOR));
    }
    Ok(())
}

/// v0.6 `processChaincodeInvokeOrQuery` parameter checks.
///
/// # Errors
/// -32602 with v0.6's text.
pub fn check_invocation(spec: &ChaincodeSpec) -> Result<(), RpcError> {
    let id = spec
        .chaincode_id
        .as_ref()
        .ok_or_else(|| RpcError::invalid_params("Payload must contain a ChaincodeID."))?;
    if id.name.is_empty() {
        return Err(RpcError::invalid_params("Chaincode name may not be blank."));
    }
    if !has_args(spec) {
        return Err(RpcError::invalid_params(NO_CTOR));
    }
    Ok(())
}

/// Handles one `POST /chaincode` body.
pub async fn handle(state: &RestState, body: &[u8]) -> Answer {
    let req = match parse(body) {
        Ok(r) => r,
        Err(e) => return error_answer(400, &e, None, false),
    };
    let notification = req.id.is_none();
    let (method, spec) = match check_envelope(&req) {
        Ok(x) => x,
        Err((status, e)) => return error_answer(status, &e, req.id.as_ref(), notification),
    };
    let outcome = match method {
        Method::Deploy => deploy(state, spec).await,
        Method::Invoke => invoke(state, spec).await,
        Method::Query => query(state, spec).await,
    };
    tracing::info!(?method, ok = outcome.is_ok(), "REST chaincode request");
    let busy = outcome.as_ref().is_err_and(|e| e.busy);
    let body = match outcome {
        Ok(message) => ok_body(&message, req.id.as_ref()),
        Err(e) => error_body(&e, req.id.as_ref()),
    };
    Answer {
        status: if busy { 503 } else { 200 },
        body: (!notification).then_some(body),
        retry_after: busy.then_some(1),
    }
}

/// The JSON-RPC error for a transaction consensus did not take, marked
/// busy when retrying later can succeed.
fn submit_failure(failure: impl Fn(String) -> RpcError, e: &SubmitError) -> RpcError {
    let mut err = failure(e.to_string());
    err.busy = matches!(e, SubmitError::Busy(_));
    err
}

async fn deploy(state: &RestState, spec: ChaincodeSpec) -> Result<String, RpcError> {
    check_deploy(&spec, state.mode)?;
    let failure = |e: String| {
        RpcError::new(
            -32001,
            "Deployment failure",
            format!("Error when deploying chaincode: {e}"),
        )
    };
    let (tx, _) = deploy_transaction(spec, state.mode, now_timestamp()).map_err(failure)?;
    let name = tx.txid.clone();
    state
        .submitter
        .submit(tx)
        .await
        .map_err(|e| submit_failure(failure, &e))?;
    tracing::info!(chaincode = %name, "REST deploy submitted");
    Ok(name)
}

async fn invoke(state: &RestState, spec: ChaincodeSpec) -> Result<String, RpcError> {
    check_invocation(&spec)?;
    let failure = |e: String| {
        RpcError::new(
            -32002,
            "Invocation failure",
            format!("Error when invoking chaincode: {e}"),
        )
    };
    let spec = ChaincodeInvocationSpec {
        chaincode_spec: Some(spec),
        id_generation_alg: String::new(),
    };
    let tx = invocation_transaction(&spec, transaction::Type::ChaincodeInvoke, now_timestamp())
        .map_err(failure)?;
    let txid = tx.txid.clone();
    state
        .submitter
        .submit(tx)
        .await
        .map_err(|e| submit_failure(failure, &e))?;
    Ok(txid)
}

async fn query(state: &RestState, spec: ChaincodeSpec) -> Result<String, RpcError> {
    check_invocation(&spec)?;
    let failure = |e: String| {
        RpcError::new(
            -32003,
            "Query failure",
            format!("Error when querying chaincode: {e}"),
        )
    };
    let spec = ChaincodeInvocationSpec {
        chaincode_spec: Some(spec),
        id_generation_alg: String::new(),
    };
    let tx = invocation_transaction(&spec, transaction::Type::ChaincodeQuery, now_timestamp())
        .map_err(failure)?;
    match state.executor.query(&tx).await {
        Ok(bytes) => Ok(String::from_utf8_lossy(&bytes).into_owned()),
        Err(e) => Err(failure(peer_error_text(&e))),
    }
}

pub use crate::exec::response_error_text as peer_error_text;

// ---- Go encoding/json semantics over serde_json values ----

/// The value under `name`, preferring the exact spelling, else any case.
fn field<'a>(obj: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    obj.get(name).or_else(|| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Go 1.7's `UnmarshalTypeError` text, which does not name the field.
fn mismatch(v: &Value, go_type: &str) -> String {
    format!(
        "json: cannot unmarshal {} into Go value of type {go_type}",
        kind(v)
    )
}

fn opt_string(v: Option<&Value>) -> Result<Option<String>, String> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(mismatch(other, "string")),
    }
}

fn string_or_empty(v: Option<&Value>) -> Result<String, String> {
    Ok(opt_string(v)?.unwrap_or_default())
}

fn parse_id(v: Option<&Value>) -> Result<Option<RpcId>, String> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(RpcId::Str(s.clone()))),
        Some(Value::Number(n)) => n
            .as_i64()
            .map(|n| Some(RpcId::Int(n)))
            .ok_or_else(|| format!("cannot unmarshal {n} into Go value of type int64 or string")),
        Some(other) => Err(format!(
            "cannot unmarshal {other} into Go value of type int64 or string"
        )),
    }
}

fn int32(v: Option<&Value>, go_type: &str) -> Result<i32, String> {
    match v {
        None | Some(Value::Null) => Ok(0),
        Some(Value::Number(n)) => n
            .as_i64()
            .and_then(|n| i32::try_from(n).ok())
            .ok_or_else(|| {
                format!("json: cannot unmarshal number {n} into Go value of type {go_type}")
            }),
        Some(other) => Err(mismatch(other, go_type)),
    }
}

fn chaincode_spec(p: &Map<String, Value>) -> Result<ChaincodeSpec, String> {
    Ok(ChaincodeSpec {
        r#type: int32(field(p, "type"), "protos.ChaincodeSpec_Type")?,
        chaincode_id: match field(p, "chaincodeID") {
            None | Some(Value::Null) => None,
            Some(Value::Object(id)) => Some(ChaincodeId {
                path: string_or_empty(field(id, "path"))?,
                name: string_or_empty(field(id, "name"))?,
            }),
            Some(other) => return Err(mismatch(other, "protos.ChaincodeID")),
        },
        ctor_msg: match field(p, "ctorMsg") {
            None | Some(Value::Null) => None,
            Some(v) => Some(ctor(v)?),
        },
        timeout: int32(field(p, "timeout"), "int32")?,
        secure_context: string_or_empty(field(p, "secureContext"))?,
        confidentiality_level: int32(
            field(p, "confidentialityLevel"),
            "protos.ConfidentialityLevel",
        )?,
        metadata: base64_field(field(p, "metadata"))?,
        attributes: string_list(field(p, "attributes"))?,
    })
}

fn ctor(v: &Value) -> Result<ChaincodeInput, String> {
    crate::ctor::parse_ctor_msg(v).map_err(|e| e.to_string())
}

fn base64_field(v: Option<&Value>) -> Result<Vec<u8>, String> {
    use base64::Engine as _;
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) => base64::engine::general_purpose::STANDARD
            .decode(s)
            .map_err(|e| format!("illegal base64 data in field metadata: {e}")),
        Some(other) => Err(mismatch(other, "[]uint8")),
    }
}

fn string_list(v: Option<&Value>) -> Result<Vec<String>, String> {
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| {
                i.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| mismatch(i, "string"))
            })
            .collect(),
        Some(other) => Err(mismatch(other, "[]string")),
    }
}

#[cfg(test)]
#[path = "rpc_tests.rs"]
mod tests;
