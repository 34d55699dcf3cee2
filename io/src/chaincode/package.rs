//! Chaincode code packages: a gzipped tar holding the chaincode binary
//! (`chaincode`) and a small manifest (`manifest.json`), carried in the
//! deploy transaction's `ChaincodeDeploymentSpec.codePackage`.
//!
//! The chaincode name follows the v0.6 rule (`core::ledger::naming`): the
//! ctor hash folded with every file of the package in name order.

use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use std::io::Read;
use std::path::{Path, PathBuf};

/// File name of the binary inside a package.
pub const BINARY: &str = "chaincode";
/// File name of the manifest inside a package.
pub const MANIFEST: &str = "manifest.json";
/// Largest package accepted (bytes, compressed and uncompressed).
pub const MAX_PACKAGE: u64 = 256 * 1024 * 1024;

/// Why a package could not be built or read.
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    /// The chaincode binary or package file could not be read.
    #[error(
        "cannot read chaincode at {path}: {source}; pass the path of a chaincode binary or package"
    )]
    Read {
        /// The path given.
        path: PathBuf,
        /// The IO error.
        source: std::io::Error,
    },
    /// The bytes are not a valid package.
    #[error("invalid chaincode package: {0}")]
    Invalid(String),
}

/// The files of a package, in name order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    /// `(name, bytes)` sorted by name.
    pub files: Vec<(String, Vec<u8>)>,
}

impl Package {
    /// The chaincode binary.
    pub fn binary(&self) -> Option<&[u8]> {
        self.files
            .iter()
            .find(|(n, _)| n == BINARY)
            .map(|(_, b)| b.as_slice())
    }
}

/// Whether `bytes` look like a gzip stream (so a path names a package, not a binary).
pub fn is_package(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0x1f, 0x8b])
}

/// Builds the package bytes for a binary.
///
/// # Errors
/// [`PackageError::Invalid`] if writing the archive fails.
pub fn build(binary: &[u8], source_name: &str) -> Result<Vec<u8>, PackageError> {
    let manifest = format!(
        "{{\"format\":1,\"binary\":\"{BINARY}\",\"source\":{}}}",
        serde_json::Value::String(source_name.to_string())
    );
    let mut files = vec![(BINARY, binary), (MANIFEST, manifest.as_bytes())];
    files.sort_by(|a, b| a.0.cmp(b.0));
    let mut tar = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::fast()));
    for (name, bytes) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(if name == BINARY { 0o755 } else { 0o644 });
        header.set_mtime(0);
        header.set_cksum();
        tar.append_data(&mut header, name, bytes)
            .map_err(|e| PackageError::Invalid(e.to_string()))?;
    }
    let gz = tar
        .into_inner()
        .map_err(|e| PackageError::Invalid(e.to_string()))?;
    gz.finish()
        .map_err(|e| PackageError::Invalid(e.to_string()))
}

/// Reads a package or wraps a bare binary found at `path` into one;
/// returns the package bytes.
///
/// # Errors
/// [`PackageError::Read`] naming the path, or an invalid package.
pub fn from_path(path: &Path) -> Result<Vec<u8>, PackageError> {
    let bytes = std::fs::read(path).map_err(|source| PackageError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    if is_package(&bytes) {
        unpack(&bytes)?;
        return Ok(bytes);
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    build(&bytes, &name)
}

/// Unpacks package bytes, bounded by [`MAX_PACKAGE`].
///
/// # Errors
/// [`PackageError::Invalid`] for a corrupt or oversized archive or one
/// without a `chaincode` binary.
pub fn unpack(bytes: &[u8]) -> Result<Package, PackageError> {
    let invalid = |e: std::io::Error| PackageError::Invalid(e.to_string());
    let limited = GzDecoder::new(bytes).take(MAX_PACKAGE);
    let mut archive = tar::Archive::new(limited);
    let mut files = Vec::new();
    for entry in archive.entries().map_err(invalid)? {
        let mut entry = entry.map_err(invalid)?;
        let name = entry
            .path()
            .map_err(invalid)?
            .to_string_lossy()
            .into_owned();
        let mut data = Vec::new();
        entry.read_to_end(&mut data).map_err(invalid)?;
        files.push((name, data));
    }
    files.sort_by(|a, b| a.0.cmp(&b.0));
    let package = Package { files };
    if package.binary().is_none() {
        return Err(PackageError::Invalid(format!(
            "the package holds no `{BINARY}` file"
        )));
    }
    Ok(package)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_binary_round_trips_through_a_package() {
        let bytes = build(b"\x7fELF...", "example02").unwrap();
        assert!(is_package(&bytes));
        let p = unpack(&bytes).unwrap();
        assert_eq!(p.binary(), Some(&b"\x7fELF..."[..]));
        assert_eq!(
            p.files.iter().map(|f| f.0.as_str()).collect::<Vec<_>>(),
            vec![BINARY, MANIFEST]
        );
        assert_eq!(
            build(b"\x7fELF...", "example02").unwrap(),
            bytes,
            "packages are reproducible"
        );
    }

    #[test]
    fn garbage_is_an_invalid_package_not_a_panic() {
        assert!(matches!(
            unpack(b"\x1f\x8bnot gzip"),
            Err(PackageError::Invalid(_))
        ));
        let err = from_path(Path::new("/nonexistent/cc")).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("cannot read chaincode at /nonexistent/cc")
        );
    }
}
