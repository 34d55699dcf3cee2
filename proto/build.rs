//! Compiles the v0.6 .proto files with protox (no protoc needed) into prost
//! types, plus tonic service code when the `grpc` feature is on.

use std::path::Path;

const FILES: &[&str] = &[
    "protos/fabric.proto",
    "protos/chaincode.proto",
    "protos/chaincodeevent.proto",
    "protos/devops.proto",
    "protos/api.proto",
    "protos/server_admin.proto",
    "protos/events.proto",
    "pbft/messages.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    for file in FILES {
        println!("cargo:rerun-if-changed={file}");
    }
    let includes = ["protos", "pbft"];
    let fds = protox::compile(FILES.iter().map(Path::new), includes)?;
    // Deterministic encoding of the NEW-VIEW xset: it is signed and hashed.
    let btree = ".pbft.NewView.xset";
    if std::env::var_os("CARGO_FEATURE_GRPC").is_some() {
        tonic_prost_build::configure()
            .btree_map(btree)
            .build_client(true)
            .build_server(true)
            .compile_fds(fds)?;
    } else {
        let mut config = prost_build::Config::new();
        config.btree_map([btree]);
        config.compile_fds(fds)?;
    }
    Ok(())
}
