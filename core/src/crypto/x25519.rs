//! X25519 Diffie-Hellman (RFC 7748), pure Rust (x25519-dalek) with either backend.
//!
//! As in the reference, the shared secret is the raw X25519 output, and an all-zero output (a
//! low-order peer key) is not rejected: the reference does not reject it either, and doing so
//! would change which messages are accepted. Private keys are kept as given (clamping happens
//! inside the scalar multiplication), so their PKCS#8 form round-trips byte for byte.

use std::fmt;

use zeroize::Zeroize;

use super::error::CryptoError;
use super::rng::CryptoRng;
use super::secret::Secret;

/// Key and shared-secret length.
pub const KEY_LEN: usize = 32;

/// An X25519 private key.
#[derive(Clone, PartialEq, Eq)]
pub struct PrivateKey(Secret<KEY_LEN>);

/// An X25519 public key (any 32 bytes are accepted, as in the reference).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey([u8; KEY_LEN]);

/// The raw X25519 output shared by both parties.
#[derive(Clone, PartialEq, Eq)]
pub struct SharedSecret(Secret<KEY_LEN>);

impl PrivateKey {
    /// Draws 32 random bytes and clamps them the way the reference's key generator does.
    pub fn generate(rng: &mut (impl CryptoRng + ?Sized)) -> Self {
        let mut key = Secret::<KEY_LEN>::random(rng);
        let k = key.expose_mut();
        k[0] &= 248;
        k[31] &= 127;
        k[31] |= 64;
        Self(key)
    }

    /// A private key from its 32 raw bytes.
    pub fn from_bytes(bytes: &[u8; KEY_LEN]) -> Self {
        Self(Secret::from_array(bytes))
    }

    /// The raw private bytes.
    pub fn to_bytes(&self) -> Secret<KEY_LEN> {
        self.0.clone()
    }

    /// The matching public key.
    pub fn public_key(&self) -> PublicKey {
        let mut scalar = *self.0.expose();
        let public = x25519_dalek::x25519(scalar, x25519_dalek::X25519_BASEPOINT_BYTES);
        scalar.zeroize();
        PublicKey(public)
    }

    /// The shared secret with `peer`. Never fails with this algorithm; the `Result` keeps the
    /// signature the same as X448's.
    pub fn diffie_hellman(&self, peer: &PublicKey) -> Result<SharedSecret, CryptoError> {
        let mut scalar = *self.0.expose();
        let mut shared = x25519_dalek::x25519(scalar, peer.0);
        scalar.zeroize();
        Ok(SharedSecret(Secret::new(&mut shared)))
    }
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("x25519::PrivateKey(<redacted>)")
    }
}

impl PublicKey {
    /// A public key from its 32 raw bytes.
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
            "x25519::PublicKey({})",
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
        f.write_str("x25519::SharedSecret(<redacted>)")
    }
}

/// The SMP form: a 1-byte length, then the X.509 DER (as every DH key in the protocol).
impl crate::encoding::Encode for PublicKey {
    fn encode(&self, out: &mut Vec<u8>) {
        super::keys::DhPublicKey::X25519(*self).encode(out)
    }
}

/// Refuses an X448 key where the protocol needs X25519.
impl crate::encoding::Decode for PublicKey {
    fn decode(r: &mut crate::encoding::Reader) -> Result<Self, crate::encoding::DecodeError> {
        match super::keys::DhPublicKey::decode(r)? {
            super::keys::DhPublicKey::X25519(key) => Ok(key),
            super::keys::DhPublicKey::X448(_) => {
                Err(crate::encoding::DecodeError::Invalid("X25519 key"))
            }
        }
    }
}
