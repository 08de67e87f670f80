//! Signing keys for rustls: the server's online key, Ed25519 or Ed448.
//!
//! EdDSA is deterministic, so signing draws no randomness.

use std::sync::Arc;

use rustls::pki_types::PrivateKeyDer;
use rustls::sign::{Signer, SigningKey};
use rustls::{Error, SignatureAlgorithm, SignatureScheme};

use super::der::{parse_pkcs8, EdAlgorithm};
use super::error::IdentityError;
use crate::crypto::{ed25519, ed448};
use zeroize::Zeroizing;

/// A server's online private key.
#[derive(Clone)]
pub enum EdSigningKey {
    /// An Ed25519 key.
    Ed25519(Arc<ed25519::SigningKey>),
    /// An Ed448 key (the reference's default).
    Ed448(Arc<ed448::SigningKey>),
}

impl core::fmt::Debug for EdSigningKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            EdSigningKey::Ed25519(_) => "EdSigningKey::Ed25519(..)",
            EdSigningKey::Ed448(_) => "EdSigningKey::Ed448(..)",
        })
    }
}

impl EdSigningKey {
    /// Loads a key from its PKCS#8 DER.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, IdentityError> {
        let (algorithm, raw) = parse_pkcs8(der)?;
        let malformed = |_| IdentityError::Malformed;
        Ok(match algorithm {
            EdAlgorithm::Ed25519 => {
                let seed = Zeroizing::new(<[u8; 32]>::try_from(raw).map_err(malformed)?);
                EdSigningKey::Ed25519(Arc::new(ed25519::SigningKey::from_bytes(&seed)))
            }
            EdAlgorithm::Ed448 => {
                let seed = Zeroizing::new(<[u8; 57]>::try_from(raw).map_err(malformed)?);
                EdSigningKey::Ed448(Arc::new(ed448::SigningKey::from_bytes(&seed)))
            }
        })
    }

    /// The TLS signature scheme this key signs with.
    pub fn scheme(&self) -> SignatureScheme {
        match self {
            EdSigningKey::Ed25519(_) => SignatureScheme::ED25519,
            EdSigningKey::Ed448(_) => SignatureScheme::ED448,
        }
    }

    /// The raw public key of this key (as it appears in the certificate).
    pub fn public_key_bytes(&self) -> Vec<u8> {
        match self {
            EdSigningKey::Ed25519(key) => key.verifying_key().as_bytes().to_vec(),
            EdSigningKey::Ed448(key) => key.verifying_key().as_bytes().to_vec(),
        }
    }

    fn sign_bytes(&self, message: &[u8]) -> Vec<u8> {
        match self {
            EdSigningKey::Ed25519(key) => key.sign(message).as_bytes().to_vec(),
            EdSigningKey::Ed448(key) => key.sign(message).as_bytes().to_vec(),
        }
    }
}

impl SigningKey for EdSigningKey {
    fn choose_scheme(&self, offered: &[SignatureScheme]) -> Option<Box<dyn Signer>> {
        offered
            .contains(&self.scheme())
            .then(|| Box::new(self.clone()) as Box<dyn Signer>)
    }

    fn algorithm(&self) -> SignatureAlgorithm {
        match self {
            EdSigningKey::Ed25519(_) => SignatureAlgorithm::ED25519,
            EdSigningKey::Ed448(_) => SignatureAlgorithm::ED448,
        }
    }
}

impl Signer for EdSigningKey {
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, Error> {
        Ok(self.sign_bytes(message))
    }

    fn scheme(&self) -> SignatureScheme {
        EdSigningKey::scheme(self)
    }
}

/// The provider's key loader: PKCS#8 Ed25519 and Ed448 keys only.
#[derive(Debug)]
pub struct EdKeyProvider;

impl rustls::crypto::KeyProvider for EdKeyProvider {
    fn load_private_key(
        &self,
        key_der: PrivateKeyDer<'static>,
    ) -> Result<Arc<dyn SigningKey>, Error> {
        match &key_der {
            PrivateKeyDer::Pkcs8(der) => EdSigningKey::from_pkcs8_der(der.secret_pkcs8_der())
                .map(|key| Arc::new(key) as Arc<dyn SigningKey>)
                .map_err(|e| Error::General(e.to_string())),
            _ => Err(Error::General("only PKCS#8 Ed25519/Ed448 keys".into())),
        }
    }
}
