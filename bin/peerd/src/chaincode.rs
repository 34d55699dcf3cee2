//! `peerd chaincode deploy|invoke|query`: builds the v0.6 `ChaincodeSpec`
//! from the flags (the `-c` JSON through `fabrik_io::ctor`), calls Devops on
//! `peer.address`, and prints the v0.6 outputs.

use crate::cli::{ChaincodeArgs, ChaincodeCommand, QueryArgs};
use crate::client::{block_on, dial, rpc_error};
use crate::context::Context;
use crate::error::CliError;
use fabrik_io::ctor::{CtorError, parse_cli_ctor};
use fabrik_proto::protos::chaincode_spec::Type as ChaincodeType;
use fabrik_proto::protos::devops_client::DevopsClient;
use fabrik_proto::protos::response::StatusCode;
use fabrik_proto::protos::{ChaincodeId, ChaincodeInvocationSpec, ChaincodeSpec, Response};
use std::io::Write;

/// v0.6's text when `-r` and `-x` are both given.
pub const RAW_HEX_ERROR: &str = "Options --raw (-r) and --hex (-x) are not compatible";

/// Runs one chaincode command.
///
/// # Errors
/// Bad flags, connection failures, and the peer's own failures.
pub fn run(ctx: &Context, command: ChaincodeCommand) -> Result<(), CliError> {
    match command {
        ChaincodeCommand::Deploy(args) => deploy(ctx, &args),
        ChaincodeCommand::Invoke(args) if args.wait => crate::events::invoke_wait(ctx, &args),
        ChaincodeCommand::Invoke(args) => invoke(ctx, &args.common),
        ChaincodeCommand::Query(args) => query(ctx, &args),
    }
}

/// The spec the flags describe; checked before any connection is made.
///
/// # Errors
/// No `-n`/`-p`, bad `-c` or `-a` JSON, unknown `-l`.
pub fn build_spec(args: &ChaincodeArgs) -> Result<ChaincodeSpec, CliError> {
    let name = args.name.clone().unwrap_or_default();
    let path = args.path.clone().unwrap_or_default();
    if name.is_empty() && path.is_empty() {
        return Err(CliError::Usage(
            "Must supply value for chaincode name (-n) or path (-p) parameter.".into(),
        ));
    }
    // The peer reads the chaincode from its own file system, so a relative
    // path must not depend on the peer's working directory.
    let path = absolute_path(path);
    let ctor = parse_cli_ctor(&args.ctor)?;
    let attributes: Vec<String> = serde_json::from_str(&args.attributes).map_err(|e| {
        CtorError::Invalid(format!(
            "attributes (-a) must be a JSON array of strings: {e}"
        ))
    })?;
    Ok(ChaincodeSpec {
        r#type: language(&args.lang)? as i32,
        chaincode_id: Some(ChaincodeId { path, name }),
        ctor_msg: Some(ctor),
        secure_context: args.username.clone().unwrap_or_default(),
        attributes,
        ..ChaincodeSpec::default()
    })
}

fn absolute_path(path: String) -> String {
    let p = std::path::Path::new(&path);
    if path.is_empty() || p.is_absolute() || !p.exists() {
        return path;
    }
    std::path::absolute(p)
        .map(|a| a.display().to_string())
        .unwrap_or(path)
}

fn language(lang: &str) -> Result<ChaincodeType, CliError> {
    match lang.to_ascii_lowercase().as_str() {
        "golang" | "go" => Ok(ChaincodeType::Golang),
        "node" => Ok(ChaincodeType::Node),
        "car" => Ok(ChaincodeType::Car),
        "java" => Ok(ChaincodeType::Java),
        _ => Err(CliError::Usage(format!(
            "unknown chaincode language \"{lang}\" (-l): expected golang, node, car or java"
        ))),
    }
}

fn invocation(args: &ChaincodeArgs) -> Result<ChaincodeInvocationSpec, CliError> {
    Ok(ChaincodeInvocationSpec {
        chaincode_spec: Some(build_spec(args)?),
        id_generation_alg: args.tid.clone().unwrap_or_default(),
    })
}

/// The payload of a Devops `Response`, or its message as the error on FAILURE.
fn response_bytes(response: Response) -> Result<Vec<u8>, CliError> {
    if response.status == StatusCode::Failure as i32 {
        return Err(CliError::Failure(
            String::from_utf8_lossy(&response.msg).into_owned(),
        ));
    }
    Ok(response.msg)
}

fn deploy(ctx: &Context, args: &ChaincodeArgs) -> Result<(), CliError> {
    let spec = build_spec(args)?;
    let address = ctx.peer_address().to_string();
    let deployed = block_on(async {
        let mut client = DevopsClient::new(dial(&address).await?);
        let reply = client
            .deploy(spec)
            .await
            .map_err(|s| rpc_error("Devops.Deploy", &address, &s))?;
        Ok(reply.into_inner())
    })?;
    let name = deployed
        .chaincode_spec
        .and_then(|s| s.chaincode_id)
        .map(|id| id.name)
        .unwrap_or_default();
    if name.is_empty() {
        return Err(CliError::Failure(format!(
            "peer at {address} accepted the deploy but returned no chaincode name"
        )));
    }
    println!("Deploy chaincode: {name}");
    Ok(())
}

fn invoke(ctx: &Context, args: &ChaincodeArgs) -> Result<(), CliError> {
    let spec = invocation(args)?;
    let address = ctx.peer_address().to_string();
    let txid = block_on(async {
        let mut client = DevopsClient::new(dial(&address).await?);
        let reply = client
            .invoke(spec)
            .await
            .map_err(|s| rpc_error("Devops.Invoke", &address, &s))?;
        response_bytes(reply.into_inner())
    })?;
    let txid = String::from_utf8_lossy(&txid);
    tracing::info!(%txid, "Successfully invoked transaction");
    println!("{txid}");
    Ok(())
}

fn query(ctx: &Context, args: &QueryArgs) -> Result<(), CliError> {
    if args.raw && args.hex {
        return Err(CliError::Usage(RAW_HEX_ERROR.into()));
    }
    let spec = invocation(&args.common)?;
    let address = ctx.peer_address().to_string();
    let result = block_on(async {
        let mut client = DevopsClient::new(dial(&address).await?);
        let reply = client
            .query(spec)
            .await
            .map_err(|s| rpc_error("Devops.Query", &address, &s))?;
        response_bytes(reply.into_inner())
    })?;
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(&render_query(&result, args.raw, args.hex))
        .and_then(|()| stdout.flush())
        .map_err(CliError::Stdout)
}

/// v0.6's query output: `Query Result: <string>`, `Query Result: <hex>` with
/// `-x`, or `Query Result (Raw): ` followed by the bytes (no newline) with `-r`.
#[must_use]
pub fn render_query(result: &[u8], raw: bool, hex: bool) -> Vec<u8> {
    if raw {
        let mut out = b"Query Result (Raw): ".to_vec();
        out.extend_from_slice(result);
        return out;
    }
    let text = if hex {
        hex::encode(result)
    } else {
        String::from_utf8_lossy(result).into_owned()
    };
    format!("Query Result: {text}\n").into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(ctor: &str) -> ChaincodeArgs {
        ChaincodeArgs {
            lang: "golang".into(),
            ctor: ctor.into(),
            attributes: "[]".into(),
            path: None,
            name: Some("mycc".into()),
            username: None,
            tid: None,
        }
    }

    #[test]
    fn spec_carries_name_args_and_type() {
        let spec =
            build_spec(&args(r#"{"Function":"invoke","Args":["a","b","10"]}"#)).expect("valid");
        assert_eq!(spec.r#type, ChaincodeType::Golang as i32);
        assert_eq!(spec.chaincode_id.expect("id").name, "mycc");
        let input = spec.ctor_msg.expect("ctor");
        assert_eq!(
            input.args,
            vec![
                b"invoke".to_vec(),
                b"a".to_vec(),
                b"b".to_vec(),
                b"10".to_vec()
            ]
        );
    }

    #[test]
    fn name_or_path_is_required() {
        let mut a = args(r#"{"Args":["x"]}"#);
        a.name = None;
        assert!(
            build_spec(&a)
                .expect_err("no name")
                .to_string()
                .starts_with("Must supply value for chaincode name")
        );
        a.path = Some("github.com/x/cc".into());
        assert!(build_spec(&a).is_ok());
    }

    #[test]
    fn bad_attributes_and_language_are_errors() {
        let mut a = args(r#"{"Args":["x"]}"#);
        a.attributes = "{".into();
        assert!(
            build_spec(&a)
                .expect_err("attrs")
                .to_string()
                .starts_with("Chaincode argument error: attributes")
        );
        let mut a = args(r#"{"Args":["x"]}"#);
        a.lang = "cobol".into();
        assert!(build_spec(&a).is_err());
    }

    #[test]
    fn failure_response_becomes_the_error_text() {
        let failure = Response {
            status: StatusCode::Failure as i32,
            msg: b"Error:no such chaincode".to_vec(),
        };
        assert_eq!(
            response_bytes(failure).expect_err("failure").to_string(),
            "Error:no such chaincode"
        );
        let ok = Response {
            status: StatusCode::Success as i32,
            msg: b"90".to_vec(),
        };
        assert_eq!(response_bytes(ok).expect("ok"), b"90");
    }

    #[test]
    fn query_output_forms() {
        assert_eq!(render_query(b"90", false, false), b"Query Result: 90\n");
        assert_eq!(render_query(b"90", false, true), b"Query Result: 3930\n");
        assert_eq!(
            render_query(&[0, 255], true, false),
            b"Query Result (Raw): \x00\xff"
        );
    }
}
