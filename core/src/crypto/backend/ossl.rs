//! Ed448 and X448 through OpenSSL, with the parsed keys cached. Every OpenSSL failure falls
//! back to [`super::pure`], which computes the same bytes.

use openssl::derive::Deriver;
use openssl::pkey::{Id, PKey, Private, Public};
use openssl::sign::{Signer, Verifier};

use super::pure;

/// Ed448 signing state: the OpenSSL private key (with its public key, derived on import).
#[derive(Clone)]
pub(crate) struct Ed448Signer(Option<PKey<Private>>);

impl Ed448Signer {
    pub(crate) fn new(seed: &[u8; 57]) -> Self {
        Self(PKey::private_key_from_raw_bytes(seed, Id::ED448).ok())
    }

    pub(crate) fn public(&self, seed: &[u8; 57]) -> [u8; 57] {
        self.0
            .as_ref()
            .and_then(|k| k.raw_public_key().ok())
            .and_then(|v| <[u8; 57]>::try_from(v.as_slice()).ok())
            .unwrap_or_else(|| pure::ed448_public(seed))
    }

    pub(crate) fn sign(&self, seed: &[u8; 57], msg: &[u8]) -> [u8; 114] {
        let signed = self.0.as_ref().and_then(|k| {
            let mut signer = Signer::new_without_digest(k).ok()?;
            let sig = signer.sign_oneshot_to_vec(msg).ok()?;
            <[u8; 114]>::try_from(sig.as_slice()).ok()
        });
        signed.unwrap_or_else(|| pure::ed448_sign(seed, msg))
    }
}

/// Ed448 verification state: the OpenSSL public key.
#[derive(Clone)]
pub(crate) struct Ed448Verifier(Option<PKey<Public>>);

impl Ed448Verifier {
    pub(crate) fn new(public: &[u8; 57]) -> Self {
        Self(PKey::public_key_from_raw_bytes(public, Id::ED448).ok())
    }

    pub(crate) fn verify(&self, public: &[u8; 57], msg: &[u8], sig: &[u8; 114]) -> bool {
        let checked = self.0.as_ref().and_then(|k| {
            let mut verifier = Verifier::new_without_digest(k).ok()?;
            // OpenSSL reports a bad signature as Ok(false), or as an error for malformed input.
            Some(verifier.verify_oneshot(sig, msg).unwrap_or(false))
        });
        checked.unwrap_or_else(|| pure::ed448_verify(public, msg, sig))
    }
}

/// X448 private state: the OpenSSL private key.
#[derive(Clone)]
pub(crate) struct X448Private(Option<PKey<Private>>);

impl X448Private {
    pub(crate) fn new(scalar: &[u8; 56]) -> Self {
        Self(PKey::private_key_from_raw_bytes(scalar, Id::X448).ok())
    }

    pub(crate) fn public(&self, scalar: &[u8; 56]) -> [u8; 56] {
        self.0
            .as_ref()
            .and_then(|k| k.raw_public_key().ok())
            .and_then(|v| <[u8; 56]>::try_from(v.as_slice()).ok())
            .unwrap_or_else(|| pure::x448_public(scalar))
    }

    pub(crate) fn dh(&self, scalar: &[u8; 56], peer: &[u8; 56]) -> [u8; 56] {
        let derived = self.0.as_ref().and_then(|k| {
            let peer = PKey::public_key_from_raw_bytes(peer, Id::X448).ok()?;
            let mut deriver = Deriver::new(k).ok()?;
            deriver.set_peer(&peer).ok()?;
            let mut out = [0u8; 56];
            // OpenSSL refuses an all-zero result; the pure code then returns it, as the
            // reference does.
            let n = deriver.derive(&mut out).ok()?;
            (n == 56).then_some(out)
        });
        derived.unwrap_or_else(|| pure::x448(scalar, peer))
    }
}
