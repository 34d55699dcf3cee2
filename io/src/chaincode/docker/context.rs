//! The pure part of running chaincode in Docker: image and container names,
//! the labels on everything the peer creates, the in-memory build context
//! (a tar holding a `FROM scratch` Dockerfile and the chaincode binary) and
//! the check that a binary is a statically linked ELF executable.

use std::collections::HashMap;

/// Label: the `peer.id` that owns a container or image.
pub const LABEL_PEER: &str = "org.fabrik.peer";
/// Label: the `peer.networkId` of the owning peer.
pub const LABEL_NETWORK: &str = "org.fabrik.network";
/// Label: the full chaincode name.
pub const LABEL_CHAINCODE: &str = "org.fabrik.chaincode";
/// Where the binary lives inside the image.
pub const BINARY_PATH: &str = "/chaincode";
/// The user chaincode runs as (`nobody`; numeric, as the image has no passwd).
pub const USER: &str = "65534:65534";
/// Longest name component kept as is; longer ones are replaced by a hash.
const MAX_COMPONENT: usize = 128;
/// Longest image name the engine accepts: it refuses a repository name of
/// more than 255 characters counted with the implied `docker.io/library/`.
const MAX_NAME: usize = 255 - "docker.io/library/".len();
/// Longest network and peer parts kept in a name that would be too long.
const MAX_OWNER_PART: usize = 85;
/// The next step after the engine failed to build an image.
pub const BUILD_RETRY: &str = "check the Docker engine (`docker info`: is it healthy, \
    is there free disk space?), then retry: deploy the chaincode again, or, if it is \
    already deployed, use it again and the peer rebuilds the image";

/// `<networkId>-<peerId>-<name>` as a valid Docker image and container name
/// (lowercase; characters other than `[a-z0-9_.-]` become `-`; a component
/// longer than 128 characters is replaced by the hex of its hash). A name
/// longer than the engine accepts (237 characters: a long network or peer
/// id beside a 128-character chaincode name) keeps at most 85 characters of
/// the network and peer parts and ends with a hash of all three instead of
/// the chaincode name; the labels still carry every full value.
pub fn image_name(network_id: &str, peer_id: &str, chaincode: &str) -> String {
    let parts = [network_id, peer_id, chaincode].map(component);
    let name = parts.join("-");
    if name.len() <= MAX_NAME {
        return name;
    }
    let owner = |part: &str| {
        let cut = &part[..part.len().min(MAX_OWNER_PART)];
        cut.trim_end_matches(|c: char| !c.is_ascii_alphanumeric())
            .to_string()
    };
    let whole = [network_id, peer_id, chaincode].join("\0");
    let digest = hex::encode(&fabrik_core::crypto::hash(whole.as_bytes())[..32]);
    format!("{}-{}-{digest}", owner(&parts[0]), owner(&parts[1]))
}

/// One name component, made safe for Docker.
fn component(raw: &str) -> String {
    if raw.len() > MAX_COMPONENT {
        return hex::encode(&fabrik_core::crypto::hash(raw.as_bytes())[..32]);
    }
    let mapped: String = raw
        .chars()
        .map(|c| c.to_ascii_lowercase())
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect();
    let trimmed = mapped.trim_matches(|c: char| !c.is_ascii_alphanumeric());
    if trimmed.is_empty() {
        "x".into()
    } else {
        trimmed.to_string()
    }
}

/// The labels every container and image of this peer carries.
pub fn labels(network_id: &str, peer_id: &str, chaincode: &str) -> HashMap<String, String> {
    HashMap::from([
        (LABEL_PEER.to_string(), peer_id.to_string()),
        (LABEL_NETWORK.to_string(), network_id.to_string()),
        (LABEL_CHAINCODE.to_string(), chaincode.to_string()),
    ])
}

/// Label filter selecting everything every peer of network `network_id` owns.
pub fn network_filter(network_id: &str) -> HashMap<String, Vec<String>> {
    HashMap::from([(
        "label".to_string(),
        vec![format!("{LABEL_NETWORK}={network_id}")],
    )])
}

/// Label filters (`label=k=v`) selecting everything one peer owns.
pub fn owner_filter(network_id: &str, peer_id: &str) -> HashMap<String, Vec<String>> {
    HashMap::from([(
        "label".to_string(),
        vec![
            format!("{LABEL_PEER}={peer_id}"),
            format!("{LABEL_NETWORK}={network_id}"),
        ],
    )])
}

/// The Dockerfile of a chaincode image: the binary on an empty base and
/// one `LABEL` line (each Dockerfile step costs the classic builder a
/// container, so the entrypoint and user are set on the container instead).
pub fn dockerfile(labels: &HashMap<String, String>) -> String {
    let mut pairs: Vec<_> = labels
        .iter()
        .map(|(k, v)| format!("{}={}", quoted(k), quoted(v)))
        .collect();
    pairs.sort();
    format!(
        "FROM scratch\nCOPY chaincode {BINARY_PATH}\nLABEL {}\n",
        pairs.join(" ")
    )
}

/// A Dockerfile string literal: `"..."` with `"`, `\` and `$` escaped (the
/// builder substitutes variables in double quotes: a `$` in a peer or
/// network id would change the label or, as `${`, fail the build) and no
/// newlines.
fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' | '\\' | '$' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The build context: an uncompressed tar with `Dockerfile` and `chaincode`.
///
/// # Errors
/// Only if writing to memory fails (not expected), as text.
pub fn build_context(dockerfile: &str, binary: &[u8]) -> Result<Vec<u8>, String> {
    let mut tar = tar::Builder::new(Vec::with_capacity(binary.len() + 4096));
    let files: [(&str, &[u8], u32); 2] = [
        ("Dockerfile", dockerfile.as_bytes(), 0o644),
        ("chaincode", binary, 0o755),
    ];
    for (name, bytes, mode) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(mode);
        header.set_mtime(0);
        header.set_cksum();
        tar.append_data(&mut header, name, bytes)
            .map_err(|e| format!("cannot build the image context: {e}"))?;
    }
    tar.into_inner()
        .map_err(|e| format!("cannot build the image context: {e}"))
}

/// What kind of executable a chaincode binary is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryKind {
    /// A statically linked ELF executable: runs in a `FROM scratch` image.
    Static,
    /// An ELF executable that needs a dynamic loader (`PT_INTERP`).
    Dynamic,
    /// Not an ELF file (or a truncated one).
    NotElf,
}

/// Classifies `binary` by its ELF header and program headers. Never panics.
pub fn binary_kind(binary: &[u8]) -> BinaryKind {
    const PT_INTERP: u32 = 3;
    if binary.get(..4) != Some(b"\x7fELF") {
        return BinaryKind::NotElf;
    }
    let (Some(&class), Some(&data)) = (binary.get(4), binary.get(5)) else {
        return BinaryKind::NotElf;
    };
    let le = data == 1;
    let read = |off: usize, len: usize| -> Option<u64> {
        let bytes = binary.get(off..off.checked_add(len)?)?;
        let mut v = 0u64;
        for i in 0..len {
            let b = if le { bytes[len - 1 - i] } else { bytes[i] };
            v = (v << 8) | u64::from(b);
        }
        Some(v)
    };
    let (phoff, phentsize, phnum) = match class {
        2 => (read(0x20, 8), read(0x36, 2), read(0x38, 2)),
        1 => (read(0x1c, 4), read(0x2a, 2), read(0x2c, 2)),
        _ => return BinaryKind::NotElf,
    };
    let (Some(phoff), Some(size), Some(num)) = (phoff, phentsize, phnum) else {
        return BinaryKind::NotElf;
    };
    for i in 0..num.min(4096) {
        let Some(off) = i.checked_mul(size).and_then(|o| o.checked_add(phoff)) else {
            return BinaryKind::NotElf;
        };
        match usize::try_from(off).ok().and_then(|o| read(o, 4)) {
            Some(t) if t == u64::from(PT_INTERP) => return BinaryKind::Dynamic,
            Some(_) => {}
            None => return BinaryKind::NotElf,
        }
    }
    BinaryKind::Static
}

/// What a binary that is not an ELF executable looks like, for the error
/// that refuses to build its image.
pub fn not_elf_description(binary: &[u8]) -> String {
    const MACH_O: [[u8; 4]; 4] = [
        [0xfe, 0xed, 0xfa, 0xce],
        [0xfe, 0xed, 0xfa, 0xcf],
        [0xce, 0xfa, 0xed, 0xfe],
        [0xcf, 0xfa, 0xed, 0xfe],
    ];
    if binary.is_empty() {
        return "empty".into();
    }
    if let Some(script) = binary.strip_prefix(b"#!") {
        let line = script.split(|&b| b == b'\n').next().unwrap_or_default();
        let line = String::from_utf8_lossy(line);
        return format!(
            "a script (`#!{}`), not a compiled executable",
            tail(line.trim(), 60)
        );
    }
    if binary
        .get(..4)
        .is_some_and(|m| MACH_O.iter().any(|k| k == m))
    {
        return "a Mach-O executable (built for macOS), not a Linux one".into();
    }
    if binary.starts_with(b"MZ") {
        return "a Windows executable, not a Linux one".into();
    }
    if binary.starts_with(b"\x7fELF") {
        return "a truncated or damaged ELF file".into();
    }
    "not an ELF executable".into()
}

/// Keeps at most the last `max` bytes of `text`, on a character boundary.
pub fn tail(text: &str, max: usize) -> &str {
    let mut start = text.len().saturating_sub(max);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn names_are_valid_docker_names() {
        let hash = "ab".repeat(64);
        assert_eq!(image_name("dev", "vp0", &hash), format!("dev-vp0-{hash}"));
        assert_eq!(image_name("Dev", "VP 1", "My/CC"), "dev-vp-1-my-cc");
        assert_eq!(image_name("", "-", "..."), "x-x-x");
        let long = "z".repeat(300);
        let name = image_name("dev", "vp0", &long);
        assert_eq!(name.len(), "dev-vp0-".len() + 64);
        assert!(
            name.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        );
    }

    #[test]
    fn names_never_exceed_what_the_engine_accepts() {
        let cc = "ab".repeat(64);
        for (net, peer) in [
            ("n".repeat(105), "vp0".to_string()),
            ("n".repeat(128), "p".repeat(128)),
            ("n.".repeat(60), "p_".repeat(64)),
        ] {
            let name = image_name(&net, &peer, &cc);
            assert!(name.len() <= MAX_NAME, "{} characters: {name}", name.len());
            assert!(name.ends_with(|c: char| c.is_ascii_alphanumeric()));
            assert!(!name.contains(".-") && !name.contains("_-"), "{name}");
            assert_ne!(name, image_name(&net, &peer, &"cd".repeat(64)));
            assert_ne!(name, image_name(&net, "other", &cc));
        }
        let fits = image_name(&"n".repeat(104), "vp0", &cc);
        assert_eq!(fits.len(), 237);
        assert!(fits.ends_with(&cc), "a name that fits is kept whole");
    }

    #[test]
    fn labels_name_the_owner_and_the_chaincode() {
        let l = labels("net", "vp2", "cc");
        assert_eq!(l[LABEL_PEER], "vp2");
        assert_eq!(l[LABEL_NETWORK], "net");
        assert_eq!(l[LABEL_CHAINCODE], "cc");
        let f = owner_filter("net", "vp2");
        assert_eq!(
            f["label"],
            vec![
                "org.fabrik.peer=vp2".to_string(),
                "org.fabrik.network=net".to_string()
            ]
        );
    }

    #[test]
    fn the_context_holds_the_dockerfile_and_the_executable_binary() {
        let ctx = build_context("FROM scratch\n", b"\x7fELFbinary").unwrap();
        let mut archive = tar::Archive::new(ctx.as_slice());
        let mut seen = Vec::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let name = entry.path().unwrap().display().to_string();
            let mode = entry.header().mode().unwrap();
            let mut data = Vec::new();
            entry.read_to_end(&mut data).unwrap();
            seen.push((name, mode, data));
        }
        assert_eq!(
            seen[0],
            ("Dockerfile".into(), 0o644, b"FROM scratch\n".to_vec())
        );
        assert_eq!(
            seen[1],
            ("chaincode".into(), 0o755, b"\x7fELFbinary".to_vec())
        );
    }

    #[test]
    fn the_dockerfile_copies_the_binary_and_labels_the_image() {
        let text = dockerfile(&labels("n\"et", "vp0", "cc"));
        assert_eq!(
            text,
            "FROM scratch\nCOPY chaincode /chaincode\nLABEL \"org.fabrik.chaincode\"=\"cc\" \
             \"org.fabrik.network\"=\"n\\\"et\" \"org.fabrik.peer\"=\"vp0\"\n"
        );
        assert_eq!(quoted("a\\b\nc"), "\"a\\\\b c\"");
        assert_eq!(quoted("n${x"), "\"n\\${x\"");
    }

    #[test]
    fn non_elf_binaries_are_described() {
        assert_eq!(
            not_elf_description(b"#!/bin/sh\necho hi\n"),
            "a script (`#!/bin/sh`), not a compiled executable"
        );
        assert!(not_elf_description(&[0xcf, 0xfa, 0xed, 0xfe, 7]).contains("Mach-O"));
        assert!(not_elf_description(b"MZ\x90\0").contains("Windows"));
        assert_eq!(not_elf_description(b""), "empty");
        assert_eq!(
            not_elf_description(b"\x7fELF"),
            "a truncated or damaged ELF file"
        );
        assert_eq!(not_elf_description(b"hello"), "not an ELF executable");
    }

    fn elf64(interp: bool) -> Vec<u8> {
        let mut b = vec![0u8; 0x40 + 2 * 56];
        b[..4].copy_from_slice(b"\x7fELF");
        b[4] = 2;
        b[5] = 1;
        b[0x20..0x28].copy_from_slice(&0x40u64.to_le_bytes());
        b[0x36..0x38].copy_from_slice(&56u16.to_le_bytes());
        b[0x38..0x3a].copy_from_slice(&2u16.to_le_bytes());
        b[0x40..0x44].copy_from_slice(&6u32.to_le_bytes());
        b[0x40 + 56..0x40 + 60].copy_from_slice(&(if interp { 3u32 } else { 1 }).to_le_bytes());
        b
    }

    #[test]
    fn elf_binaries_are_classified_without_panics() {
        assert_eq!(binary_kind(&elf64(false)), BinaryKind::Static);
        assert_eq!(binary_kind(&elf64(true)), BinaryKind::Dynamic);
        assert_eq!(binary_kind(b"#!/bin/sh\n"), BinaryKind::NotElf);
        let full = elf64(true);
        for cut in 0..full.len() {
            let _ = binary_kind(&full[..cut]);
        }
        let mut huge = elf64(false);
        huge[0x20..0x28].copy_from_slice(&u64::MAX.to_le_bytes());
        assert_eq!(binary_kind(&huge), BinaryKind::NotElf);
    }

    #[test]
    fn this_test_binary_is_classified() {
        let me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        assert_ne!(binary_kind(&me), BinaryKind::NotElf);
    }

    #[test]
    fn tail_keeps_the_end_on_a_char_boundary() {
        assert_eq!(tail("hello", 3), "llo");
        assert_eq!(tail("hé", 1), "");
        assert_eq!(tail("ab", 10), "ab");
    }
}
