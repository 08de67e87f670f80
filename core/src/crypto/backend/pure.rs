//! Pure-Rust Ed448 (ed448-goldilocks-plus, RFC 8032 "pure" Ed448 with an empty context) and
//! X448 (x448, without its low-order rejection, to match the reference).

use ed448_goldilocks_plus as ed448;

/// Ed448 public key of a 57-byte seed.
// Used as the OpenSSL backend's fallback only.
#[cfg_attr(not(feature = "openssl"), allow(dead_code))]
pub(crate) fn ed448_public(seed: &[u8; 57]) -> [u8; 57] {
    signing_key(seed).verifying_key().to_bytes()
}

/// Ed448 signature of `msg`.
// Used as the OpenSSL backend's fallback only.
#[cfg_attr(not(feature = "openssl"), allow(dead_code))]
pub(crate) fn ed448_sign(seed: &[u8; 57], msg: &[u8]) -> [u8; 114] {
    signing_key(seed).sign_raw(msg).to_bytes()
}

/// Ed448 verification; any malformed key or signature is simply "not valid".
// Used as the OpenSSL backend's fallback only.
#[cfg_attr(not(feature = "openssl"), allow(dead_code))]
pub(crate) fn ed448_verify(public: &[u8; 57], msg: &[u8], sig: &[u8; 114]) -> bool {
    match (
        ed448::VerifyingKey::from_bytes(public),
        ed448::Signature::from_bytes(sig),
    ) {
        (Ok(vk), Ok(sig)) => vk.verify_raw(&sig, msg).is_ok(),
        _ => false,
    }
}

fn signing_key(seed: &[u8; 57]) -> ed448::SigningKey {
    ed448::SigningKey::from_bytes(&ed448::SecretKey::from(*seed))
}

/// X448 of a (to be clamped) scalar and a u-coordinate; all-zero results are returned as is.
pub(crate) fn x448(scalar: &[u8; 56], u: &[u8; 56]) -> [u8; 56] {
    x448::x448_unchecked(*scalar, *u)
}

/// X448 public key of a private scalar.
pub(crate) fn x448_public(scalar: &[u8; 56]) -> [u8; 56] {
    x448(scalar, &x448::X448_BASEPOINT_BYTES)
}

/// Ed448 signing state: the expanded key (boxed: it is large), kept so each signature skips
/// the seed hashing.
#[derive(Clone)]
pub(crate) struct Ed448Signer(Box<ed448::SigningKey>);

impl Ed448Signer {
    pub(crate) fn new(seed: &[u8; 57]) -> Self {
        Self(Box::new(signing_key(seed)))
    }

    pub(crate) fn public(&self, _seed: &[u8; 57]) -> [u8; 57] {
        self.0.verifying_key().to_bytes()
    }

    pub(crate) fn sign(&self, _seed: &[u8; 57], msg: &[u8]) -> [u8; 114] {
        self.0.sign_raw(msg).to_bytes()
    }
}

/// Ed448 verification state: the decoded point, or `None` when the bytes are not a point.
#[derive(Clone)]
pub(crate) struct Ed448Verifier(Option<ed448::VerifyingKey>);

impl Ed448Verifier {
    pub(crate) fn new(public: &[u8; 57]) -> Self {
        Self(ed448::VerifyingKey::from_bytes(public).ok())
    }

    pub(crate) fn verify(&self, _public: &[u8; 57], msg: &[u8], sig: &[u8; 114]) -> bool {
        match (&self.0, ed448::Signature::from_bytes(sig)) {
            (Some(vk), Ok(sig)) => vk.verify_raw(&sig, msg).is_ok(),
            _ => false,
        }
    }
}

/// X448 private state: nothing beyond the scalar the caller keeps.
#[derive(Clone)]
pub(crate) struct X448Private;

impl X448Private {
    pub(crate) fn new(_scalar: &[u8; 56]) -> Self {
        Self
    }

    pub(crate) fn public(&self, scalar: &[u8; 56]) -> [u8; 56] {
        x448_public(scalar)
    }

    pub(crate) fn dh(&self, scalar: &[u8; 56], peer: &[u8; 56]) -> [u8; 56] {
        x448(scalar, peer)
    }
}
