//! Ed25519 signatures (RFC 8032), through ed25519-dalek with either backend.
//!
//! A verifying key accepts any 32 bytes, as the reference does: bytes that are not a valid
//! point make every verification fail instead of failing to decode, so a bad key in a command
//! is reported where the reference reports it (as an authorization failure).

use std::fmt;

use ed25519_dalek::{Signer, Verifier};

use super::rng::CryptoRng;
use super::secret::Secret;

/// Private key (seed) length.
pub const SECRET_LEN: usize = 32;
/// Public key length.
pub const PUBLIC_LEN: usize = 32;
/// Signature length.
pub const SIGNATURE_LEN: usize = 64;

/// An Ed25519 private key (its 32-byte seed).
#[derive(Clone)]
pub struct SigningKey(ed25519_dalek::SigningKey);

/// An Ed25519 public key.
#[derive(Clone, Copy)]
pub struct VerifyingKey {
    bytes: [u8; PUBLIC_LEN],
    parsed: Option<ed25519_dalek::VerifyingKey>,
}

/// An Ed25519 signature.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Signature([u8; SIGNATURE_LEN]);

impl SigningKey {
    /// Draws a random 32-byte seed.
    pub fn generate(rng: &mut (impl CryptoRng + ?Sized)) -> Self {
        let seed = Secret::<SECRET_LEN>::random(rng);
        Self::from_bytes(seed.expose())
    }

    /// A key from its 32-byte seed.
    pub fn from_bytes(seed: &[u8; SECRET_LEN]) -> Self {
        Self(ed25519_dalek::SigningKey::from_bytes(seed))
    }

    /// The 32-byte seed.
    pub fn to_bytes(&self) -> Secret<SECRET_LEN> {
        let mut seed = self.0.to_bytes();
        Secret::new(&mut seed)
    }

    /// The matching public key.
    pub fn verifying_key(&self) -> VerifyingKey {
        let vk = self.0.verifying_key();
        VerifyingKey {
            bytes: vk.to_bytes(),
            parsed: Some(vk),
        }
    }

    /// Signs `msg` (deterministic, as RFC 8032).
    pub fn sign(&self, msg: &[u8]) -> Signature {
        Signature(self.0.sign(msg).to_bytes())
    }
}

impl PartialEq for SigningKey {
    fn eq(&self, other: &Self) -> bool {
        self.to_bytes() == other.to_bytes()
    }
}

impl Eq for SigningKey {}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ed25519::SigningKey(<redacted>)")
    }
}

impl VerifyingKey {
    /// A public key from its 32 bytes (never fails; see the module docs).
    pub fn from_bytes(bytes: &[u8; PUBLIC_LEN]) -> Self {
        Self {
            bytes: *bytes,
            parsed: ed25519_dalek::VerifyingKey::from_bytes(bytes).ok(),
        }
    }

    /// The 32 public bytes.
    pub fn as_bytes(&self) -> &[u8; PUBLIC_LEN] {
        &self.bytes
    }

    /// Whether `sig` is a valid signature of `msg` by this key.
    pub fn verify(&self, msg: &[u8], sig: &Signature) -> bool {
        match &self.parsed {
            Some(vk) => vk
                .verify(msg, &ed25519_dalek::Signature::from_bytes(&sig.0))
                .is_ok(),
            None => false,
        }
    }
}

impl PartialEq for VerifyingKey {
    fn eq(&self, other: &Self) -> bool {
        self.bytes == other.bytes
    }
}

impl Eq for VerifyingKey {}

impl std::hash::Hash for VerifyingKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.bytes.hash(state)
    }
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ed25519::VerifyingKey({})",
            crate::encoding::string::base64url_encode(&self.bytes)
        )
    }
}

impl Signature {
    /// A signature from its 64 bytes.
    pub const fn from_bytes(bytes: &[u8; SIGNATURE_LEN]) -> Self {
        Self(*bytes)
    }

    /// The 64 signature bytes.
    pub fn as_bytes(&self) -> &[u8; SIGNATURE_LEN] {
        &self.0
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ed25519::Signature({})",
            crate::encoding::string::base64url_encode(&self.0)
        )
    }
}
