//! The algorithm-tagged keys and signatures the protocols carry, and their encodings.
//!
//! Every key has three outside forms, all built on its DER (see `der`):
//! - bare DER: X.509 SubjectPublicKeyInfo for public keys, PKCS#8 v0 for private keys;
//! - binary (SMP) form: the DER as a short byte string (1-byte length);
//! - text form: base64url with `=` padding of the DER.
//!
//! The role types say what a key may be used for: [`VerifyKey`]/[`SignKey`] are Ed25519 or
//! Ed448, [`DhPublicKey`]/[`DhPrivateKey`] are X25519 or X448. Decoding a key of another
//! algorithm into a role type is [`KeyDecodeError::WrongAlgorithm`].
//!
//! Signatures travel raw (no DER) as a short byte string; their algorithm is told by their size
//! (64 bytes Ed25519, 114 bytes Ed448). An empty signature means "unsigned" and is handled by
//! the transmission layer, not here.

use zeroize::Zeroizing;

use super::error::{CryptoError, KeyDecodeError};
use super::{der, ed25519, ed448, x25519, x448};
use crate::encoding::{Decode, DecodeError, Encode, Reader};

/// The four key algorithms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// Ed25519 signatures.
    Ed25519,
    /// Ed448 signatures.
    Ed448,
    /// X25519 Diffie-Hellman.
    X25519,
    /// X448 Diffie-Hellman.
    X448,
}

impl Algorithm {
    /// Length of the raw public key (and of the raw private key).
    pub const fn key_len(self) -> usize {
        match self {
            Algorithm::Ed25519 | Algorithm::X25519 => 32,
            Algorithm::Ed448 => 57,
            Algorithm::X448 => 56,
        }
    }

    /// Last byte of the RFC 8410 OID 1.3.101.x.
    pub(crate) const fn oid_last_byte(self) -> u8 {
        match self {
            Algorithm::X25519 => 110,
            Algorithm::X448 => 111,
            Algorithm::Ed25519 => 112,
            Algorithm::Ed448 => 113,
        }
    }

    pub(crate) const fn from_oid_last_byte(b: u8) -> Option<Self> {
        match b {
            110 => Some(Algorithm::X25519),
            111 => Some(Algorithm::X448),
            112 => Some(Algorithm::Ed25519),
            113 => Some(Algorithm::Ed448),
            _ => None,
        }
    }
}

fn array<const N: usize>(raw: &[u8]) -> Result<&[u8; N], KeyDecodeError> {
    raw.try_into()
        .map_err(|_| KeyDecodeError::WrongLength(raw.len()))
}

/// A public key of any algorithm.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PublicKey {
    /// Ed25519.
    Ed25519(ed25519::VerifyingKey),
    /// Ed448.
    Ed448(ed448::VerifyingKey),
    /// X25519.
    X25519(x25519::PublicKey),
    /// X448.
    X448(x448::PublicKey),
}

impl PublicKey {
    /// The key's algorithm.
    pub fn algorithm(&self) -> Algorithm {
        match self {
            PublicKey::Ed25519(_) => Algorithm::Ed25519,
            PublicKey::Ed448(_) => Algorithm::Ed448,
            PublicKey::X25519(_) => Algorithm::X25519,
            PublicKey::X448(_) => Algorithm::X448,
        }
    }

    /// The raw key bytes.
    pub fn raw_bytes(&self) -> &[u8] {
        match self {
            PublicKey::Ed25519(k) => k.as_bytes(),
            PublicKey::Ed448(k) => k.as_bytes(),
            PublicKey::X25519(k) => k.as_bytes(),
            PublicKey::X448(k) => k.as_bytes(),
        }
    }

    /// A key from its algorithm and raw bytes.
    pub fn from_raw(alg: Algorithm, raw: &[u8]) -> Result<Self, KeyDecodeError> {
        Ok(match alg {
            Algorithm::Ed25519 => {
                PublicKey::Ed25519(ed25519::VerifyingKey::from_bytes(array(raw)?))
            }
            Algorithm::Ed448 => PublicKey::Ed448(ed448::VerifyingKey::from_bytes(array(raw)?)),
            Algorithm::X25519 => PublicKey::X25519(x25519::PublicKey::from_bytes(array(raw)?)),
            Algorithm::X448 => PublicKey::X448(x448::PublicKey::from_bytes(array(raw)?)),
        })
    }

    /// X.509 SubjectPublicKeyInfo DER.
    pub fn to_der(&self) -> Vec<u8> {
        der::encode_spki(self.algorithm(), self.raw_bytes())
    }

    /// Parses SubjectPublicKeyInfo DER (the whole input).
    pub fn from_der(der: &[u8]) -> Result<Self, KeyDecodeError> {
        let (alg, raw) = der::decode_spki(der)?;
        Self::from_raw(alg, raw)
    }
}

/// A private key of any algorithm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrivateKey {
    /// Ed25519.
    Ed25519(ed25519::SigningKey),
    /// Ed448.
    Ed448(ed448::SigningKey),
    /// X25519.
    X25519(x25519::PrivateKey),
    /// X448.
    X448(x448::PrivateKey),
}

impl PrivateKey {
    /// The key's algorithm.
    pub fn algorithm(&self) -> Algorithm {
        match self {
            PrivateKey::Ed25519(_) => Algorithm::Ed25519,
            PrivateKey::Ed448(_) => Algorithm::Ed448,
            PrivateKey::X25519(_) => Algorithm::X25519,
            PrivateKey::X448(_) => Algorithm::X448,
        }
    }

    /// The matching public key.
    pub fn public_key(&self) -> PublicKey {
        match self {
            PrivateKey::Ed25519(k) => PublicKey::Ed25519(k.verifying_key()),
            PrivateKey::Ed448(k) => PublicKey::Ed448(k.verifying_key()),
            PrivateKey::X25519(k) => PublicKey::X25519(k.public_key()),
            PrivateKey::X448(k) => PublicKey::X448(k.public_key()),
        }
    }

    /// A key from its algorithm and raw bytes.
    pub fn from_raw(alg: Algorithm, raw: &[u8]) -> Result<Self, KeyDecodeError> {
        Ok(match alg {
            Algorithm::Ed25519 => PrivateKey::Ed25519(ed25519::SigningKey::from_bytes(array(raw)?)),
            Algorithm::Ed448 => PrivateKey::Ed448(ed448::SigningKey::from_bytes(array(raw)?)),
            Algorithm::X25519 => PrivateKey::X25519(x25519::PrivateKey::from_bytes(array(raw)?)),
            Algorithm::X448 => PrivateKey::X448(x448::PrivateKey::from_bytes(array(raw)?)),
        })
    }

    /// PKCS#8 v0 DER (wiped when dropped).
    pub fn to_der(&self) -> Zeroizing<Vec<u8>> {
        let alg = self.algorithm();
        Zeroizing::new(match self {
            PrivateKey::Ed25519(k) => der::encode_pkcs8(alg, k.to_bytes().expose()),
            PrivateKey::Ed448(k) => der::encode_pkcs8(alg, k.to_bytes().expose()),
            PrivateKey::X25519(k) => der::encode_pkcs8(alg, k.to_bytes().expose()),
            PrivateKey::X448(k) => der::encode_pkcs8(alg, k.to_bytes().expose()),
        })
    }

    /// Parses PKCS#8 DER (the whole input).
    pub fn from_der(der: &[u8]) -> Result<Self, KeyDecodeError> {
        let (alg, raw) = der::decode_pkcs8(der)?;
        Self::from_raw(alg, raw)
    }
}

/// A public key for verifying signatures (Ed25519 or Ed448).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum VerifyKey {
    /// Ed25519.
    Ed25519(ed25519::VerifyingKey),
    /// Ed448.
    Ed448(ed448::VerifyingKey),
}

impl VerifyKey {
    /// Whether `sig` is a valid signature of `msg` by this key. A signature of the other
    /// algorithm is simply not valid.
    pub fn verify(&self, msg: &[u8], sig: &Signature) -> bool {
        match (self, sig) {
            (VerifyKey::Ed25519(k), Signature::Ed25519(s)) => k.verify(msg, s),
            (VerifyKey::Ed448(k), Signature::Ed448(s)) => k.verify(msg, s),
            _ => false,
        }
    }

    /// X.509 SubjectPublicKeyInfo DER.
    pub fn to_der(&self) -> Vec<u8> {
        PublicKey::from(self.clone()).to_der()
    }

    /// Parses SubjectPublicKeyInfo DER of an Ed25519 or Ed448 key.
    pub fn from_der(der: &[u8]) -> Result<Self, KeyDecodeError> {
        PublicKey::from_der(der)?.try_into()
    }
}

impl From<VerifyKey> for PublicKey {
    fn from(k: VerifyKey) -> Self {
        match k {
            VerifyKey::Ed25519(k) => PublicKey::Ed25519(k),
            VerifyKey::Ed448(k) => PublicKey::Ed448(k),
        }
    }
}

impl TryFrom<PublicKey> for VerifyKey {
    type Error = KeyDecodeError;
    fn try_from(k: PublicKey) -> Result<Self, KeyDecodeError> {
        match k {
            PublicKey::Ed25519(k) => Ok(VerifyKey::Ed25519(k)),
            PublicKey::Ed448(k) => Ok(VerifyKey::Ed448(k)),
            _ => Err(KeyDecodeError::WrongAlgorithm),
        }
    }
}

/// A private key for signing (Ed25519 or Ed448).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignKey {
    /// Ed25519.
    Ed25519(ed25519::SigningKey),
    /// Ed448.
    Ed448(ed448::SigningKey),
}

impl SignKey {
    /// Signs `msg`.
    pub fn sign(&self, msg: &[u8]) -> Signature {
        match self {
            SignKey::Ed25519(k) => Signature::Ed25519(k.sign(msg)),
            SignKey::Ed448(k) => Signature::Ed448(k.sign(msg)),
        }
    }

    /// The matching public key.
    pub fn verify_key(&self) -> VerifyKey {
        match self {
            SignKey::Ed25519(k) => VerifyKey::Ed25519(k.verifying_key()),
            SignKey::Ed448(k) => VerifyKey::Ed448(k.verifying_key()),
        }
    }

    /// PKCS#8 v0 DER (wiped when dropped).
    pub fn to_der(&self) -> Zeroizing<Vec<u8>> {
        PrivateKey::from(self.clone()).to_der()
    }

    /// Parses PKCS#8 DER of an Ed25519 or Ed448 key.
    pub fn from_der(der: &[u8]) -> Result<Self, KeyDecodeError> {
        PrivateKey::from_der(der)?.try_into()
    }
}

impl From<SignKey> for PrivateKey {
    fn from(k: SignKey) -> Self {
        match k {
            SignKey::Ed25519(k) => PrivateKey::Ed25519(k),
            SignKey::Ed448(k) => PrivateKey::Ed448(k),
        }
    }
}

impl TryFrom<PrivateKey> for SignKey {
    type Error = KeyDecodeError;
    fn try_from(k: PrivateKey) -> Result<Self, KeyDecodeError> {
        match k {
            PrivateKey::Ed25519(k) => Ok(SignKey::Ed25519(k)),
            PrivateKey::Ed448(k) => Ok(SignKey::Ed448(k)),
            _ => Err(KeyDecodeError::WrongAlgorithm),
        }
    }
}

/// A public key for Diffie-Hellman (X25519 or X448).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DhPublicKey {
    /// X25519.
    X25519(x25519::PublicKey),
    /// X448.
    X448(x448::PublicKey),
}

impl DhPublicKey {
    /// X.509 SubjectPublicKeyInfo DER.
    pub fn to_der(&self) -> Vec<u8> {
        PublicKey::from(*self).to_der()
    }

    /// Parses SubjectPublicKeyInfo DER of an X25519 or X448 key.
    pub fn from_der(der: &[u8]) -> Result<Self, KeyDecodeError> {
        PublicKey::from_der(der)?.try_into()
    }
}

impl From<DhPublicKey> for PublicKey {
    fn from(k: DhPublicKey) -> Self {
        match k {
            DhPublicKey::X25519(k) => PublicKey::X25519(k),
            DhPublicKey::X448(k) => PublicKey::X448(k),
        }
    }
}

impl TryFrom<PublicKey> for DhPublicKey {
    type Error = KeyDecodeError;
    fn try_from(k: PublicKey) -> Result<Self, KeyDecodeError> {
        match k {
            PublicKey::X25519(k) => Ok(DhPublicKey::X25519(k)),
            PublicKey::X448(k) => Ok(DhPublicKey::X448(k)),
            _ => Err(KeyDecodeError::WrongAlgorithm),
        }
    }
}

/// A private key for Diffie-Hellman (X25519 or X448).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DhPrivateKey {
    /// X25519.
    X25519(x25519::PrivateKey),
    /// X448.
    X448(x448::PrivateKey),
}

/// The result of a Diffie-Hellman agreement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DhSecret {
    /// X25519 (the input of crypto_box).
    X25519(x25519::SharedSecret),
    /// X448 (the input of the ratchet's KDFs).
    X448(x448::SharedSecret),
}

impl DhPrivateKey {
    /// The matching public key.
    pub fn public_key(&self) -> DhPublicKey {
        match self {
            DhPrivateKey::X25519(k) => DhPublicKey::X25519(k.public_key()),
            DhPrivateKey::X448(k) => DhPublicKey::X448(k.public_key()),
        }
    }

    /// The shared secret with `peer`, which must be of the same algorithm.
    pub fn diffie_hellman(&self, peer: &DhPublicKey) -> Result<DhSecret, CryptoError> {
        match (self, peer) {
            (DhPrivateKey::X25519(k), DhPublicKey::X25519(p)) => {
                k.diffie_hellman(p).map(DhSecret::X25519)
            }
            (DhPrivateKey::X448(k), DhPublicKey::X448(p)) => {
                k.diffie_hellman(p).map(DhSecret::X448)
            }
            _ => Err(CryptoError::AlgorithmMismatch),
        }
    }

    /// PKCS#8 v0 DER (wiped when dropped).
    pub fn to_der(&self) -> Zeroizing<Vec<u8>> {
        PrivateKey::from(self.clone()).to_der()
    }

    /// Parses PKCS#8 DER of an X25519 or X448 key.
    pub fn from_der(der: &[u8]) -> Result<Self, KeyDecodeError> {
        PrivateKey::from_der(der)?.try_into()
    }
}

impl From<DhPrivateKey> for PrivateKey {
    fn from(k: DhPrivateKey) -> Self {
        match k {
            DhPrivateKey::X25519(k) => PrivateKey::X25519(k),
            DhPrivateKey::X448(k) => PrivateKey::X448(k),
        }
    }
}

impl TryFrom<PrivateKey> for DhPrivateKey {
    type Error = KeyDecodeError;
    fn try_from(k: PrivateKey) -> Result<Self, KeyDecodeError> {
        match k {
            PrivateKey::X25519(k) => Ok(DhPrivateKey::X25519(k)),
            PrivateKey::X448(k) => Ok(DhPrivateKey::X448(k)),
            _ => Err(KeyDecodeError::WrongAlgorithm),
        }
    }
}

/// A signature of either algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Signature {
    /// 64 bytes.
    Ed25519(ed25519::Signature),
    /// 114 bytes.
    Ed448(ed448::Signature),
}

impl Signature {
    /// A signature from its raw bytes; the algorithm is told by the size.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, KeyDecodeError> {
        if let Ok(b) = <&[u8; ed25519::SIGNATURE_LEN]>::try_from(bytes) {
            Ok(Signature::Ed25519(ed25519::Signature::from_bytes(b)))
        } else if let Ok(b) = <&[u8; ed448::SIGNATURE_LEN]>::try_from(bytes) {
            Ok(Signature::Ed448(ed448::Signature::from_bytes(b)))
        } else {
            Err(KeyDecodeError::WrongLength(bytes.len()))
        }
    }

    /// The raw signature bytes.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Signature::Ed25519(s) => s.as_bytes(),
            Signature::Ed448(s) => s.as_bytes(),
        }
    }

    /// The signature's algorithm.
    pub fn algorithm(&self) -> Algorithm {
        match self {
            Signature::Ed25519(_) => Algorithm::Ed25519,
            Signature::Ed448(_) => Algorithm::Ed448,
        }
    }
}

/// Binary form: the raw signature as a short byte string.
impl Encode for Signature {
    fn encode(&self, out: &mut Vec<u8>) {
        let bytes = self.as_bytes();
        // 64 or 114 bytes: always fits the 1-byte length.
        out.push(bytes.len() as u8);
        out.extend_from_slice(bytes);
    }
}

impl Decode for Signature {
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        let bytes = r.short_bytes()?;
        Signature::from_bytes(&bytes).map_err(|_| DecodeError::Invalid("signature size"))
    }
}

/// The binary form (DER as a short byte string) and the text form (base64url of the DER) of
/// the key types.
macro_rules! key_forms {
    ($ty:ty, $what:literal) => {
        impl Encode for $ty {
            fn encode(&self, out: &mut Vec<u8>) {
                let der = self.to_der();
                // The largest key DER (PKCS#8 Ed448) is 73 bytes: always fits the 1-byte length.
                out.push(der.len() as u8);
                out.extend_from_slice(&der);
            }
        }

        impl Decode for $ty {
            fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
                let der = r.short_bytes()?;
                <$ty>::from_der(&der).map_err(|_| DecodeError::Invalid($what))
            }
        }

        impl $ty {
            /// Text form: base64url with padding of the DER.
            pub fn to_base64url(&self) -> String {
                crate::encoding::string::base64url_encode(&self.to_der())
            }

            /// Parses the text form (base64url with padding of the DER).
            pub fn from_base64url(text: &str) -> Result<Self, KeyDecodeError> {
                let der = Zeroizing::new(
                    crate::encoding::string::base64url_decode(text.as_bytes())
                        .map_err(|_| KeyDecodeError::Base64)?,
                );
                <$ty>::from_der(&der)
            }
        }
    };
}

key_forms!(PublicKey, "public key");
key_forms!(VerifyKey, "verification key");
key_forms!(DhPublicKey, "DH public key");
key_forms!(PrivateKey, "private key");
key_forms!(SignKey, "signing key");
key_forms!(DhPrivateKey, "DH private key");
