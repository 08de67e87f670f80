//! Ed448 signatures: RFC 8032 "pure" Ed448 with an empty context, as the reference uses them.
//!
//! The computation runs in the selected backend (see `backend`): OpenSSL with the `openssl`
//! feature, pure Rust without it; both give identical bytes. As for Ed25519, a verifying key
//! accepts any 57 bytes and an invalid point only makes verification fail.

use std::fmt;

use super::backend::{Ed448Signer, Ed448Verifier};
use super::rng::CryptoRng;
use super::secret::Secret;

/// Private key (seed) length.
pub const SECRET_LEN: usize = 57;
/// Public key length.
pub const PUBLIC_LEN: usize = 57;
/// Signature length.
pub const SIGNATURE_LEN: usize = 114;

/// An Ed448 private key (its 57-byte seed) with the backend's prepared key.
#[derive(Clone)]
pub struct SigningKey {
    seed: Secret<SECRET_LEN>,
    public: VerifyingKey,
    signer: Ed448Signer,
}

/// An Ed448 public key with the backend's parsed form cached for repeated verification.
#[derive(Clone)]
pub struct VerifyingKey {
    bytes: [u8; PUBLIC_LEN],
    verifier: Ed448Verifier,
}

/// An Ed448 signature.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Signature([u8; SIGNATURE_LEN]);

impl SigningKey {
    /// Draws a random 57-byte seed.
    pub fn generate(rng: &mut (impl CryptoRng + ?Sized)) -> Self {
        let seed = Secret::<SECRET_LEN>::random(rng);
        Self::from_secret(seed)
    }

    /// A key from its 57-byte seed.
    pub fn from_bytes(seed: &[u8; SECRET_LEN]) -> Self {
        Self::from_secret(Secret::from_array(seed))
    }

    fn from_secret(seed: Secret<SECRET_LEN>) -> Self {
        let signer = Ed448Signer::new(seed.expose());
        let public = VerifyingKey::from_bytes(&signer.public(seed.expose()));
        Self {
            seed,
            public,
            signer,
        }
    }

    /// The 57-byte seed.
    pub fn to_bytes(&self) -> Secret<SECRET_LEN> {
        self.seed.clone()
    }

    /// The matching public key.
    pub fn verifying_key(&self) -> VerifyingKey {
        self.public.clone()
    }

    /// Signs `msg` (deterministic, as RFC 8032).
    pub fn sign(&self, msg: &[u8]) -> Signature {
        Signature(self.signer.sign(self.seed.expose(), msg))
    }
}

impl PartialEq for SigningKey {
    fn eq(&self, other: &Self) -> bool {
        self.seed == other.seed
    }
}

impl Eq for SigningKey {}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ed448::SigningKey(<redacted>)")
    }
}

impl VerifyingKey {
    /// A public key from its 57 bytes (never fails; see the module docs).
    pub fn from_bytes(bytes: &[u8; PUBLIC_LEN]) -> Self {
        Self {
            bytes: *bytes,
            verifier: Ed448Verifier::new(bytes),
        }
    }

    /// The 57 public bytes.
    pub fn as_bytes(&self) -> &[u8; PUBLIC_LEN] {
        &self.bytes
    }

    /// Whether `sig` is a valid signature of `msg` by this key.
    pub fn verify(&self, msg: &[u8], sig: &Signature) -> bool {
        self.verifier.verify(&self.bytes, msg, &sig.0)
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
            "ed448::VerifyingKey({})",
            crate::encoding::string::base64url_encode(&self.bytes)
        )
    }
}

impl Signature {
    /// A signature from its 114 bytes.
    pub const fn from_bytes(bytes: &[u8; SIGNATURE_LEN]) -> Self {
        Self(*bytes)
    }

    /// The 114 signature bytes.
    pub fn as_bytes(&self) -> &[u8; SIGNATURE_LEN] {
        &self.0
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ed448::Signature({})",
            crate::encoding::string::base64url_encode(&self.0)
        )
    }
}
