//! Keys a client makes for its queues, from the injected RNG: the recipient's signature key
//! and DH key (`NEW`), a sender's signature key (`KEY`, then `SEND`), and the secret that opens
//! delivered message bodies once the server's DH key is known (`IDS`).

use crate::crypto::cbox::CbKey;
use crate::crypto::keys::{Algorithm, SignKey};
use crate::crypto::rng::CryptoRng;
use crate::crypto::{ed25519, ed448, x25519, CryptoError};
use crate::protocol::Command;

/// Signature algorithms a client can sign commands with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SignAlgorithm {
    /// Ed25519 (64-byte signatures).
    Ed25519,
    /// Ed448 (114-byte signatures), the reference agent's default for queues.
    #[default]
    Ed448,
}

impl From<SignAlgorithm> for Algorithm {
    fn from(a: SignAlgorithm) -> Self {
        match a {
            SignAlgorithm::Ed25519 => Algorithm::Ed25519,
            SignAlgorithm::Ed448 => Algorithm::Ed448,
        }
    }
}

/// A fresh signature key of `algorithm`.
pub fn generate_sign_key(algorithm: SignAlgorithm, rng: &mut (impl CryptoRng + ?Sized)) -> SignKey {
    match algorithm {
        SignAlgorithm::Ed25519 => SignKey::Ed25519(ed25519::SigningKey::generate(rng)),
        SignAlgorithm::Ed448 => SignKey::Ed448(ed448::SigningKey::generate(rng)),
    }
}

/// What a recipient needs to create a queue: its signature key and its DH key for message
/// bodies. `Debug` shows no key material.
#[derive(Clone)]
pub struct RecipientKeys {
    /// Signs the recipient's commands.
    pub sign_key: SignKey,
    /// The recipient's half of the body-encryption DH secret.
    pub dh_key: x25519::PrivateKey,
}

impl std::fmt::Debug for RecipientKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecipientKeys").finish_non_exhaustive()
    }
}

impl RecipientKeys {
    /// Fresh keys: a signature key of `algorithm` and an X25519 key.
    pub fn generate(algorithm: SignAlgorithm, rng: &mut (impl CryptoRng + ?Sized)) -> Self {
        let sign_key = generate_sign_key(algorithm, rng);
        let dh_key = x25519::PrivateKey::generate(rng);
        Self { sign_key, dh_key }
    }

    /// The `NEW` command that creates a queue for these keys (sign it with `sign_key`).
    pub fn new_command(&self) -> Command {
        Command::New {
            recipient_key: self.sign_key.verify_key(),
            dh_key: self.dh_key.public_key(),
        }
    }

    /// The key that opens message bodies the server encrypts for this queue, from the server's
    /// DH key in `IDS`.
    pub fn body_key(&self, server_dh_key: &x25519::PublicKey) -> Result<CbKey, CryptoError> {
        body_key(&self.dh_key, server_dh_key)
    }
}

/// The crypto_box key for a DH pair (the reference's `dh'` then `cbDecrypt`'s precomputation).
pub fn body_key(
    own: &x25519::PrivateKey,
    server: &x25519::PublicKey,
) -> Result<CbKey, CryptoError> {
    Ok(CbKey::new(&own.diffie_hellman(server)?))
}
