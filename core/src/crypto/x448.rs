//! X448 Diffie-Hellman (RFC 7748), computed by the selected backend (see `backend`).
//!
//! As in the reference, the shared secret is the raw 56-byte X448 output and an all-zero result
//! (a low-order peer key) is returned rather than rejected. Private keys are kept as given;
//! clamping happens inside the scalar multiplication.

use std::fmt;

use super::backend::X448Private;
use super::error::CryptoError;
use super::rng::CryptoRng;
use super::secret::Secret;

/// Key and shared-secret length.
pub const KEY_LEN: usize = 56;

/// An X448 private key with the backend's prepared key.
#[derive(Clone)]
pub struct PrivateKey {
    scalar: Secret<KEY_LEN>,
    prepared: X448Private,
}

/// An X448 public key (any 56 bytes are accepted, as in the reference).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey([u8; KEY_LEN]);

/// The raw X448 output shared by both parties.
#[derive(Clone, PartialEq, Eq)]
pub struct SharedSecret(Secret<KEY_LEN>);

impl PrivateKey {
    /// Draws 56 random bytes (the reference's generator does not clamp X448 keys).
    pub fn generate(rng: &mut (impl CryptoRng + ?Sized)) -> Self {
        Self::from_secret(Secret::random(rng))
    }

    /// A private key from its 56 raw bytes.
    pub fn from_bytes(bytes: &[u8; KEY_LEN]) -> Self {
        Self::from_secret(Secret::from_array(bytes))
    }

    fn from_secret(scalar: Secret<KEY_LEN>) -> Self {
        let prepared = X448Private::new(scalar.expose());
        Self { scalar, prepared }
    }

    /// The raw private bytes.
    pub fn to_bytes(&self) -> Secret<KEY_LEN> {
        self.scalar.clone()
    }

    /// The matching public key.
    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.prepared.public(self.scalar.expose()))
    }

    /// The shared secret with `peer`.
    ///
    /// Both backends always produce a result today (OpenSSL failures fall back to pure Rust);
    /// the `Result` leaves room for a backend that can fail.
    pub fn diffie_hellman(&self, peer: &PublicKey) -> Result<SharedSecret, CryptoError> {
        let mut shared = self.prepared.dh(self.scalar.expose(), &peer.0);
        Ok(SharedSecret(Secret::new(&mut shared)))
    }
}

impl PartialEq for PrivateKey {
    fn eq(&self, other: &Self) -> bool {
        self.scalar == other.scalar
    }
}

impl Eq for PrivateKey {}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("x448::PrivateKey(<redacted>)")
    }
}

impl PublicKey {
    /// A public key from its 56 raw bytes.
    pub const fn from_bytes(bytes: &[u8; KEY_LEN]) -> Self {
        Self(*bytes)
    }

    /// The raw public bytes.
    pub fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "x448::PublicKey({})",
            crate::encoding::string::base64url_encode(&self.0)
        )
    }
}

impl SharedSecret {
    /// A shared secret from raw bytes (e.g. one restored from storage).
    pub fn from_bytes(bytes: &[u8; KEY_LEN]) -> Self {
        Self(Secret::from_array(bytes))
    }

    /// The secret bytes.
    pub fn as_secret(&self) -> &Secret<KEY_LEN> {
        &self.0
    }
}

impl fmt::Debug for SharedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("x448::SharedSecret(<redacted>)")
    }
}
