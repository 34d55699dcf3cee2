//! `peerd chaincode package <binary> -o <file>`: wraps a chaincode binary
//! into a code package (gzipped tar of the binary and a manifest, built by
//! `fabrik_io::chaincode::package::build`) that `peerd chaincode deploy -p`
//! carries in the deploy transaction. Warns when the binary is not
//! statically linked, since a `FROM scratch` Docker image cannot run it.

use crate::cli::PackageArgs;
use crate::error::CliError;
use fabrik_io::chaincode::docker::context::{BinaryKind, binary_kind};
use fabrik_io::chaincode::package;
use std::path::Path;

/// Writes the package and prints what was written.
///
/// # Errors
/// The binary cannot be read, is already a package, or the output cannot be
/// written; each names the file.
pub fn run(args: &PackageArgs) -> Result<(), CliError> {
    let binary = std::fs::read(&args.binary).map_err(|e| {
        CliError::Usage(format!(
            "cannot read chaincode binary {}: {e}",
            args.binary.display()
        ))
    })?;
    if package::is_package(&binary) {
        return Err(CliError::Usage(format!(
            "{} is already a chaincode package; deploy it with `peerd chaincode deploy -p {}`",
            args.binary.display(),
            args.binary.display()
        )));
    }
    let kind = binary_kind(&binary);
    warn_unless_static(&args.binary, kind);
    let source = args
        .binary
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let bytes = package::build(&binary, &source)
        .map_err(|e| CliError::Usage(format!("cannot package {}: {e}", args.binary.display())))?;
    write_atomically(&args.output, &bytes)?;
    println!(
        "Chaincode package: {} ({} bytes, {} binary {})",
        args.output.display(),
        bytes.len(),
        describe(kind),
        source
    );
    Ok(())
}

fn describe(kind: BinaryKind) -> &'static str {
    match kind {
        BinaryKind::Static => "static",
        BinaryKind::Dynamic => "dynamically linked",
        BinaryKind::NotElf => "non-ELF",
    }
}

fn warn_unless_static(path: &Path, kind: BinaryKind) {
    if kind != BinaryKind::Static {
        eprintln!(
            "warning: {} is {}: it runs in chaincode.mode = process but not in a Docker container; \
             build it with RUSTFLAGS=\"-C target-feature=+crt-static\" and --target x86_64-unknown-linux-gnu \
             (see the README)",
            path.display(),
            if kind == BinaryKind::Dynamic {
                "dynamically linked"
            } else {
                "not an ELF executable"
            }
        );
    }
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), CliError> {
    let fail = |e: std::io::Error| {
        CliError::Usage(format!(
            "cannot write chaincode package {}: {e}",
            path.display()
        ))
    };
    let tmp = path.with_extension("tmp-package");
    std::fs::write(&tmp, bytes).map_err(fail)?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        fail(e)
    })
}
