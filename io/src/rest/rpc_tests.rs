//! JSON-RPC request validation: every error code and v0.6 text, id echo,
//! notifications, and the response bodies.

use super::*;

fn envelope(body: &str) -> Result<(Method, ChaincodeSpec), (u16, RpcError)> {
    check_envelope(&parse(body.as_bytes()).expect("parses"))
}

fn code_and_data(r: Result<(), RpcError>) -> (i64, String) {
    let e = r.expect_err("refused");
    (e.code, e.data)
}

#[test]
fn empty_body_is_invalid_request_with_null_id() {
    let e = parse(b"").expect_err("empty");
    assert_eq!((e.code, e.message), (-32600, "Invalid request"));
    assert_eq!(
        e.data,
        "Client must supply a payload for chaincode requests."
    );
    assert_eq!(
        error_body(&e, None),
        r#"{"jsonrpc":"2.0","error":{"code":-32600,"message":"Invalid request","data":"Client must supply a payload for chaincode requests."},"id":null}"#
    );
}

#[test]
fn bad_json_and_wrong_types_are_parse_errors() {
    for body in [
        "{",
        "[1]",
        r#"{"jsonrpc":2}"#,
        r#"{"id":true}"#,
        r#"{"id":1.5}"#,
        r#"{"params":{"type":"GOLANG"}}"#,
    ] {
        let e = parse(body.as_bytes()).expect_err(body);
        assert_eq!((e.code, e.message), (-32700, "Parse error"), "{body}");
        assert!(
            e.data
                .starts_with("Error unmarshalling chaincode request payload: "),
            "{body}: {}",
            e.data
        );
    }
}

#[test]
fn parse_errors_carry_go_texts() {
    let cases = [
        (r#"{"jsonrpc":"2.0""#, "unexpected end of JSON input"),
        ("x", "invalid character 'x' looking for beginning of value"),
        (
            r#"{"id":1,}"#,
            "invalid character '}' looking for beginning of object key string",
        ),
        (
            r#"{"jsonrpc":true}"#,
            "json: cannot unmarshal bool into Go value of type string",
        ),
        (
            r#"{"params":{"type":"GOLANG"}}"#,
            "json: cannot unmarshal string into Go value of type protos.ChaincodeSpec_Type",
        ),
        (
            r#"{"params":{"timeout":99999999999}}"#,
            "json: cannot unmarshal number 99999999999 into Go value of type int32",
        ),
        (
            "[1]",
            "json: cannot unmarshal array into Go value of type rest.rpcRequest",
        ),
    ];
    for (body, go_text) in cases {
        let e = parse(body.as_bytes()).expect_err(body);
        assert_eq!(
            e.data,
            format!("Error unmarshalling chaincode request payload: {go_text}"),
            "{body}"
        );
    }
}

#[test]
fn go_accepts_invalid_utf8_in_strings() {
    let req = parse(b"{\"jsonrpc\":\"2.0\",\"method\":\"qu\xffery\"}").expect("Go accepts it");
    assert_eq!(req.method.as_deref(), Some("qu\u{fffd}ery"));
}

#[test]
fn version_and_method_checks_in_v06_order() {
    let missing = envelope(r#"{"method":"deploy","id":1}"#).expect_err("no version");
    assert_eq!(
        (missing.0, missing.1.code, missing.1.data.as_str()),
        (400, -32600, "Missing JSON RPC 2.0 version string.")
    );
    let wrong = envelope(r#"{"jsonrpc":"1.0","method":"deploy","id":1}"#).expect_err("1.0");
    assert_eq!(
        wrong.1.data,
        "Invalid JSON RPC 2.0 version string. Must be 2.0."
    );
    let no_method = envelope(r#"{"jsonrpc":"2.0","id":1}"#).expect_err("no method");
    assert_eq!(
        (no_method.0, no_method.1.data.as_str()),
        (400, "Missing JSON RPC 2.0 method string.")
    );
    let unknown = envelope(r#"{"jsonrpc":"2.0","method":"burn","id":1}"#).expect_err("unknown");
    assert_eq!(
        (unknown.0, unknown.1.code, unknown.1.message),
        (404, -32601, "Method not found")
    );
    assert_eq!(unknown.1.data, "Requested method does not exist.");
    let no_params =
        envelope(r#"{"jsonrpc":"2.0","method":"invoke","id":1}"#).expect_err("no params");
    assert_eq!((no_params.0, no_params.1.code), (400, -32602));
    assert_eq!(
        no_params.1.data,
        "Client must supply ChaincodeSpec for chaincode deploy request."
    );
}

#[test]
fn keys_are_case_insensitive_and_unknown_keys_ignored() {
    let (m, spec) = envelope(
        r#"{"JSONRPC":"2.0","Method":"invoke","extra":1,"params":{"type":1,"ChaincodeID":{"Name":"cc"},"ctorMsg":{"function":"f","args":["a"]}},"id":"x"}"#,
    )
    .expect("valid");
    assert_eq!(m, Method::Invoke);
    assert_eq!(spec.chaincode_id.expect("id").name, "cc");
    assert_eq!(
        spec.ctor_msg.expect("ctor").args,
        vec![b"f".to_vec(), b"a".to_vec()]
    );
}

fn spec(json: &str) -> ChaincodeSpec {
    let body = format!(r#"{{"jsonrpc":"2.0","method":"deploy","params":{json},"id":1}}"#);
    envelope(&body).expect("valid").1
}

#[test]
fn deploy_params_follow_the_mode() {
    let no_id = spec(r#"{"ctorMsg":{"args":["init"]}}"#);
    assert_eq!(
        code_and_data(check_deploy(&no_id, ChaincodeMode::Dev)),
        (-32602, "Payload must contain a ChaincodeID.".into())
    );
    let path_only = spec(r#"{"chaincodeID":{"path":"/bin/cc"},"ctorMsg":{"args":["init"]}}"#);
    assert_eq!(
        code_and_data(check_deploy(&path_only, ChaincodeMode::Dev)).1,
        "Chaincode name may not be blank in development mode."
    );
    assert!(check_deploy(&path_only, ChaincodeMode::Process).is_ok());
    let name_only = spec(r#"{"chaincodeID":{"name":"cc"},"ctorMsg":{"args":["init"]}}"#);
    assert_eq!(
        code_and_data(check_deploy(&name_only, ChaincodeMode::Process)).1,
        "Chaincode path may not be blank."
    );
    assert!(check_deploy(&name_only, ChaincodeMode::Dev).is_ok());
    let no_args = spec(r#"{"chaincodeID":{"name":"cc"},"ctorMsg":{"args":[]}}"#);
    assert_eq!(
        code_and_data(check_deploy(&no_args, ChaincodeMode::Dev)).1,
        NO_CTOR
    );
    let null_ctor = spec(r#"{"chaincodeID":{"name":"cc"},"ctorMsg":null}"#);
    assert_eq!(
        code_and_data(check_deploy(&null_ctor, ChaincodeMode::Dev)).1,
        NO_CTOR
    );
}

#[test]
fn invocation_params() {
    assert_eq!(
        code_and_data(check_invocation(&spec("{}"))).1,
        "Payload must contain a ChaincodeID."
    );
    assert_eq!(
        code_and_data(check_invocation(&spec(
            r#"{"chaincodeID":{"path":"p"},"ctorMsg":{"args":["q"]}}"#
        )))
        .1,
        "Chaincode name may not be blank."
    );
    assert_eq!(
        code_and_data(check_invocation(&spec(r#"{"chaincodeID":{"name":"cc"}}"#))).1,
        NO_CTOR
    );
    assert!(
        check_invocation(&spec(
            r#"{"chaincodeID":{"name":"cc"},"ctorMsg":{"args":["q"]}}"#
        ))
        .is_ok()
    );
}

#[test]
fn ids_are_echoed_as_sent_and_notifications_get_no_body() {
    assert_eq!(
        ok_body("mycc", Some(&RpcId::Int(7))),
        r#"{"jsonrpc":"2.0","result":{"status":"OK","message":"mycc"},"id":7}"#
    );
    assert_eq!(
        ok_body("", Some(&RpcId::Str("a\"b".into()))),
        r#"{"jsonrpc":"2.0","result":{"status":"OK"},"id":"a\"b"}"#
    );
    let req = parse(br#"{"jsonrpc":"2.0","method":"query","id":null}"#).expect("parses");
    assert_eq!(req.id, None);
    let e = RpcError::invalid_request("x");
    assert_eq!(
        error_answer(400, &e, None, true),
        Answer {
            status: 400,
            body: None,
            retry_after: None,
        }
    );
    assert_eq!(
        error_answer(400, &e, Some(&RpcId::Int(-3)), false)
            .body
            .expect("body"),
        error_body(&e, Some(&RpcId::Int(-3))) + "\n"
    );
}

#[test]
fn execution_failures_use_v06_codes_and_peer_texts() {
    let e = RpcError::new(
        -32003,
        "Query failure",
        format!("Error when querying chaincode: {}", peer_error_text("boom")),
    );
    assert_eq!(
        error_body(&e, Some(&RpcId::Int(1))),
        r#"{"jsonrpc":"2.0","error":{"code":-32003,"message":"Query failure","data":"Error when querying chaincode: Error:boom"},"id":1}"#
    );
    assert_eq!(
        peer_error_text("state may be inconsistent, cannot query"),
        "Error: state may be inconsistent, cannot query"
    );
}
