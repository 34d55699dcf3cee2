//! Hashing and signatures.
//!
//! [`hash`] is v0.6's `ComputeCryptoHash`: SHAKE-256 with a 64-byte output,
//! used for block hashes, state hashes, PBFT digests and chaincode names.
//! Signatures are Ed25519; [`Verified`] is a capability type that only this
//! module (or, for fuzzing and simulation, a feature-gated constructor) can
//! build, so a machine that takes `Verified<T>` cannot be fed unchecked input.

use base64::Engine as _;
use ed25519_dalek::{Signer as _, Verifier as _};
use shake::Shake256;
use shake::digest::{ExtendableOutput, Update, XofReader};

/// Length of a v0.6 crypto hash.
pub const HASH_LEN: usize = 64;

/// A v0.6 crypto hash (SHAKE-256, 64 bytes).
pub type Hash = [u8; HASH_LEN];

/// v0.6 `ComputeCryptoHash`: SHAKE-256 of `data` with a 64-byte output.
pub fn hash(data: &[u8]) -> Hash {
    hash_parts(&[data])
}

/// SHAKE-256 (64 bytes) of the concatenation of `parts`, without copying them.
///
/// Built on RustCrypto's `shake` crate, whose reader permutes the sponge only
/// when it needs another block of output: a 64-byte output costs no
/// permutation beyond absorbing. (`sha3` 0.10 permuted once more on every
/// read, which doubled the cost of the short messages the bucket tree, block
/// hashes and PBFT digests hash by the thousand per block.)
pub fn hash_parts(parts: &[&[u8]]) -> Hash {
    let mut hasher = Shake256::default();
    for part in parts {
        hasher.update(part);
    }
    let mut out = [0u8; HASH_LEN];
    hasher.finalize_xof().read(&mut out);
    out
}

/// Standard base64 (with padding), as Go's `base64.StdEncoding`.
pub fn b64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

/// Decodes standard base64.
///
/// # Errors
/// When `text` is not valid standard base64.
pub fn b64_decode(text: &str) -> Result<Vec<u8>, base64::DecodeError> {
    base64::engine::general_purpose::STANDARD.decode(text)
}

/// An Ed25519 signing key.
pub struct SigningKey(ed25519_dalek::SigningKey);

impl SigningKey {
    /// The key from its 32 secret bytes (seeded, so tests and simulations are
    /// deterministic; the io layer draws the bytes from the OS).
    pub fn from_bytes(secret: &[u8; 32]) -> Self {
        SigningKey(ed25519_dalek::SigningKey::from_bytes(secret))
    }

    /// Signs `message`.
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.0.sign(message).to_bytes()
    }

    /// The matching public key.
    pub fn verifying_key(&self) -> VerifyingKey {
        VerifyingKey(self.0.verifying_key())
    }
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(..)")
    }
}

/// An Ed25519 public key.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct VerifyingKey(ed25519_dalek::VerifyingKey);

/// Why a signature or key was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The key bytes are not a valid Ed25519 public key.
    #[error("malformed public key")]
    MalformedKey,
    /// The signature is not 64 bytes.
    #[error("signature must be 64 bytes, got {0}")]
    BadLength(usize),
    /// The signature does not verify.
    #[error("signature does not verify")]
    Invalid,
}

impl VerifyingKey {
    /// Parses a 32-byte public key.
    ///
    /// # Errors
    /// [`SignatureError::MalformedKey`] if the bytes are not a valid point.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, SignatureError> {
        ed25519_dalek::VerifyingKey::from_bytes(bytes)
            .map(VerifyingKey)
            .map_err(|_| SignatureError::MalformedKey)
    }

    /// The 32 key bytes.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// Checks `signature` over `message`.
    ///
    /// # Errors
    /// [`SignatureError::BadLength`] or [`SignatureError::Invalid`].
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), SignatureError> {
        let bytes: [u8; 64] = signature
            .try_into()
            .map_err(|_| SignatureError::BadLength(signature.len()))?;
        let sig = ed25519_dalek::Signature::from_bytes(&bytes);
        self.0
            .verify(message, &sig)
            .map_err(|_| SignatureError::Invalid)
    }
}

/// A value whose signature (or other authenticity check) has been verified.
/// Only [`Verified::check`] (or `new_unchecked` under the `fuzzing`/`sim`
/// features, for harnesses whose crypto is stubbed) can build one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified<T>(T);

impl<T> Verified<T> {
    /// Verifies `signature` over `signed_bytes` with `key` and wraps `value`.
    ///
    /// # Errors
    /// The signature error when it does not verify.
    pub fn check(
        value: T,
        key: &VerifyingKey,
        signed_bytes: &[u8],
        signature: &[u8],
    ) -> Result<Self, SignatureError> {
        key.verify(signed_bytes, signature)?;
        Ok(Verified(value))
    }

    /// Wraps `value` without checking (simulation and fuzzing only).
    #[cfg(any(test, feature = "sim"))]
    pub fn new_unchecked(value: T) -> Self {
        Verified(value)
    }

    /// The verified value.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for Verified<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_of_empty_input_is_the_v06_genesis_block_hash() {
        // The v0.6 genesis block marshals to zero bytes once nonHashData is cleared.
        assert_eq!(
            b64(&hash(b"")),
            "RrndKwuojRMjOz/rdD7rJD/NUupiuBuCtQwnZG7Vdi/XXcTd2MDyAMsFAZ1ntZL2/IIcSUeatIZAKS6ss7fEvg=="
        );
    }

    #[test]
    fn hash_matches_shake256_across_the_rate_boundary() {
        // First 16 bytes of Python's hashlib.shake_256(data).digest(64), data[i] = 7i mod 256:
        // 136 bytes is SHAKE-256's rate, so these cover one, two and three absorbed blocks.
        for (len, expected) in [
            (135, "baf4ca4b46d9a33f91eb6fe87ec3e248"),
            (136, "df8d71c9fb19d0677171b3745b3c0cda"),
            (137, "358818a7eb8bcb8fdfb180ba91b4da12"),
            (272, "5b80be704fa5dd79c7cb6ac4bf2d51ad"),
            (1000, "ea7e0f6345ce9236910251b203e1b228"),
        ] {
            let data: Vec<u8> = (0..len).map(|i| (i * 7 % 256) as u8).collect();
            assert_eq!(hex::encode(&hash(&data)[..16]), expected, "{len} bytes");
        }
    }

    #[test]
    fn hash_parts_equals_hash_of_concatenation() {
        assert_eq!(hash_parts(&[b"ab", b"cd"]), hash(b"abcd"));
    }

    #[test]
    fn signatures_verify_and_tampering_is_refused() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let sig = key.sign(b"view-change");
        let vk = key.verifying_key();
        assert!(Verified::check((), &vk, b"view-change", &sig).is_ok());
        assert_eq!(
            vk.verify(b"view-changE", &sig),
            Err(SignatureError::Invalid)
        );
        assert_eq!(
            vk.verify(b"x", &sig[..10]),
            Err(SignatureError::BadLength(10))
        );
    }
}
