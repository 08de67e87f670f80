//! The root key: input key material of the Diffie-Hellman ratchet (the reference's
//! `RatchetKey` in `rcRK`).
//!
//! Each DH ratchet step mixes a fresh X448 agreement into it:
//! `hkdf3(salt = root key, ikm = DH(their ratchet key, our ratchet key), "SimpleXRootRatchet")`
//! gives the new root key, a chain key and the next header key, 32 bytes each. The very first
//! root key is the 104-byte rest of the X3DH output, so its length is not fixed.

use std::fmt;

use zeroize::Zeroizing;

use super::chain_key::ChainKey;
use super::header::HeaderKey;
use crate::crypto::error::CryptoError;
use crate::crypto::kdf::hkdf3;
use crate::crypto::x448;

/// The info string of the root KDF.
const ROOT_INFO: &[u8] = b"SimpleXRootRatchet";

/// A root key (any length; 32 bytes after the first DH step). Zeroized on drop, redacted in
/// `Debug`.
#[derive(Clone)]
pub struct RootKey(Zeroizing<Vec<u8>>);

/// What one root KDF step yields.
#[derive(Debug, Clone)]
pub struct RootStep {
    /// The root key that replaces the old one.
    pub root_key: RootKey,
    /// The new sending or receiving chain key.
    pub chain_key: ChainKey,
    /// The header key of the chain after the new one.
    pub next_header_key: HeaderKey,
}

impl RootKey {
    /// A root key from its bytes (copied).
    pub fn from_bytes(bytes: &[u8]) -> Self {
        Self(Zeroizing::new(bytes.to_vec()))
    }

    /// The key bytes. Secret: only for persistence and test vectors.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// The root KDF over `DH(theirs, ours)` (the reference's `rootKdf`).
    pub fn step(
        &self,
        theirs: &x448::PublicKey,
        ours: &x448::PrivateKey,
    ) -> Result<RootStep, CryptoError> {
        let dh = ours.diffie_hellman(theirs)?;
        let (root_key, chain_key, next_header_key) =
            hkdf3(&self.0, dh.as_secret().expose(), ROOT_INFO);
        Ok(RootStep {
            root_key: RootKey(Zeroizing::new(root_key.expose().to_vec())),
            chain_key: ChainKey::from_secret(chain_key),
            next_header_key: HeaderKey::from_secret(next_header_key),
        })
    }
}

impl fmt::Debug for RootKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RootKey(<{} bytes redacted>)", self.0.len())
    }
}
