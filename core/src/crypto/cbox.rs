//! NaCl `crypto_box` (curve25519-xsalsa20-poly1305) as the reference lays it out.
//!
//! The reference keeps the raw X25519 output as its DH secret and runs the box from it on every
//! call. That is exactly NaCl's `beforenm` (the box key is HSalsa20 of the raw secret with a
//! zero input block) followed by `afternm` (XSalsa20-Poly1305 secretbox). We expose that split:
//! [`CbKey`] is the precomputed box key, so a server encrypting many messages to one queue pays
//! the HSalsa20 once.
//!
//! Packet layout: the 16-byte Poly1305 tag **first**, then the ciphertext. Plaintexts are always
//! padded (2-byte length, message, `#` filler) to a fixed length before encryption, so only
//! padded forms exist on the wire. See `spec/crypto.md`.

use salsa20::cipher::consts::U10;
use xsalsa20poly1305::aead::generic_array::GenericArray;
use xsalsa20poly1305::aead::{AeadInPlace, KeyInit};
use xsalsa20poly1305::XSalsa20Poly1305;
use zeroize::Zeroize;

use super::error::CryptoError;
use super::rng::CryptoRng;
use super::secret::Secret;
use super::x25519;
use crate::encoding::{pad, unpad, Decode, DecodeError, Encode, Reader};

/// Length of the Poly1305 tag that starts every packet.
pub const TAG_LEN: usize = 16;

/// A 24-byte crypto_box nonce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CbNonce(pub [u8; 24]);

impl CbNonce {
    /// The reference's `cbNonce`: `bytes` right-padded with zeros to 24 bytes, or cut to its
    /// first 24 bytes. The server uses it to turn a message id into the body's nonce.
    pub fn from_slice_padded(bytes: &[u8]) -> Self {
        let mut nonce = [0u8; 24];
        let n = bytes.len().min(24);
        nonce[..n].copy_from_slice(&bytes[..n]);
        Self(nonce)
    }

    /// A random nonce.
    pub fn random(rng: &mut (impl CryptoRng + ?Sized)) -> Self {
        let mut nonce = [0u8; 24];
        rng.fill_bytes(&mut nonce);
        Self(nonce)
    }
}

/// The binary form is the 24 bytes with no length prefix.
impl Encode for CbNonce {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.0);
    }
}

impl Decode for CbNonce {
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(Self(r.take_array()?))
    }
}

/// The precomputed crypto_box key (NaCl `beforenm`): HSalsa20 of the raw X25519 secret.
#[derive(Clone, PartialEq, Eq)]
pub struct CbKey(Secret<32>);

impl std::fmt::Debug for CbKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CbKey(<redacted>)")
    }
}

impl CbKey {
    /// Derives the box key from a DH secret.
    pub fn new(secret: &x25519::SharedSecret) -> Self {
        let raw = GenericArray::from_slice(secret.as_secret().expose());
        let mut key = salsa20::hsalsa::<U10>(raw, &GenericArray::default());
        let mut out = Secret::<32>::zeroed();
        out.expose_mut().copy_from_slice(&key);
        key.zeroize();
        Self(out)
    }

    fn cipher(&self) -> XSalsa20Poly1305 {
        XSalsa20Poly1305::new(GenericArray::from_slice(self.0.expose()))
    }

    /// Boxes an already padded plaintext: tag, then ciphertext.
    fn seal(&self, nonce: &CbNonce, mut plaintext: Vec<u8>) -> Result<Vec<u8>, CryptoError> {
        let tag = self
            .cipher()
            .encrypt_in_place_detached(GenericArray::from_slice(&nonce.0), b"", &mut plaintext)
            .map_err(|_| CryptoError::LargeMsg)?;
        let mut packet = Vec::with_capacity(TAG_LEN + plaintext.len());
        packet.extend_from_slice(&tag);
        packet.extend_from_slice(&plaintext);
        Ok(packet)
    }

    /// Pads `msg` to `padded_len` and boxes it; the packet is `padded_len + 16` bytes.
    pub fn encrypt(
        &self,
        nonce: &CbNonce,
        msg: &[u8],
        padded_len: usize,
    ) -> Result<Vec<u8>, CryptoError> {
        self.seal(nonce, pad(msg, padded_len)?)
    }

    /// The reference's `cbEncryptMaxLenBS`: `msg` may be at most `max_len` bytes and is padded
    /// to `max_len + 2`.
    pub fn encrypt_max_len(
        &self,
        nonce: &CbNonce,
        msg: &[u8],
        max_len: usize,
    ) -> Result<Vec<u8>, CryptoError> {
        if msg.len() > max_len {
            return Err(CryptoError::LargeMsg);
        }
        let padded_len = max_len.checked_add(2).ok_or(CryptoError::LargeMsg)?;
        self.encrypt(nonce, msg, padded_len)
    }

    /// Opens a packet (tag checked in constant time) and removes the padding.
    ///
    /// [`CryptoError::CbDecrypt`] if the packet is shorter than the tag or does not
    /// authenticate; [`CryptoError::LargeMsg`] if the authentic plaintext's length prefix is
    /// too large.
    pub fn decrypt(&self, nonce: &CbNonce, packet: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let (tag, ciphertext) = packet
            .split_at_checked(TAG_LEN)
            .ok_or(CryptoError::CbDecrypt)?;
        let mut buf = ciphertext.to_vec();
        self.cipher()
            .decrypt_in_place_detached(
                GenericArray::from_slice(&nonce.0),
                b"",
                &mut buf,
                GenericArray::from_slice(tag),
            )
            .map_err(|_| CryptoError::CbDecrypt)?;
        let result = unpad(&buf).map(<[u8]>::to_vec).map_err(CryptoError::from);
        buf.zeroize();
        result
    }
}

/// The reference's `cbEncrypt`: pads `msg` to `padded_len`, then boxes it with the DH secret.
pub fn cb_encrypt(
    secret: &x25519::SharedSecret,
    nonce: &CbNonce,
    msg: &[u8],
    padded_len: usize,
) -> Result<Vec<u8>, CryptoError> {
    CbKey::new(secret).encrypt(nonce, msg, padded_len)
}

/// The reference's `cbEncryptMaxLenBS`: at most `max_len` bytes, padded to `max_len + 2`.
pub fn cb_encrypt_max_len(
    secret: &x25519::SharedSecret,
    nonce: &CbNonce,
    msg: &[u8],
    max_len: usize,
) -> Result<Vec<u8>, CryptoError> {
    CbKey::new(secret).encrypt_max_len(nonce, msg, max_len)
}

/// The reference's `cbDecrypt`: opens a packet and removes the padding.
pub fn cb_decrypt(
    secret: &x25519::SharedSecret,
    nonce: &CbNonce,
    packet: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    CbKey::new(secret).decrypt(nonce, packet)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The classic NaCl `tests/box.c` vector (Alice's secret key, Bob's public key; the keys
    /// of RFC 7748 §6.1), laid out tag first. It is an unpadded box, which only exists inside
    /// this module.
    #[test]
    fn nacl_box_vector() {
        let alice = x25519::PrivateKey::from_bytes(&hex_arr(
            "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a",
        ));
        let bob = x25519::PublicKey::from_bytes(&hex_arr(
            "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f",
        ));
        let key = CbKey::new(&alice.diffie_hellman(&bob).unwrap());
        // NaCl's `crypto_box_beforenm` output for these keys.
        assert_eq!(
            key.0.expose(),
            &hex_arr::<32>("1b27556473e985d462cd51197a9a46c76009549eac6474f206c4ee0844f68389")
        );
        let nonce = CbNonce(hex_arr("69696ee955b62b73cd62bda875fc73d68219e0036b7a0b37"));
        let msg = hex::decode(concat!(
            "be075fc53c81f2d5cf141316ebeb0c7b5228c52a4c62cbd44b66849b64244ffce5ecbaaf33bd751a",
            "1ac728d45e6c61296cdc3c01233561f41db66cce314adb310e3be8250c46f06dceea3a7fa1348057",
            "e2f6556ad6b1318a024a838f21af1fde048977eb48f59ffd4924ca1c60902e52f0a089bc76897040",
            "e082f937763848645e0705"
        ))
        .unwrap();
        let expected = hex::decode(concat!(
            "f3ffc7703f9400e52a7dfb4b3d3305d98e993b9f48681273c29650ba32fc76ce48332ea7164d96a4",
            "476fb8c531a1186ac0dfc17c98dce87b4da7f011ec48c97271d2c20f9b928fe2270d6fb863d51738",
            "b48eeee314a7cc8ab932164548e526ae90224368517acfeabd6bb3732bc0e9da99832b61ca01b6de",
            "56244a9e88d5f9b37973f622a43d14a6599b1f654cb45a74e355a5"
        ))
        .unwrap();
        assert_eq!(key.seal(&nonce, msg).unwrap(), expected);
    }

    fn hex_arr<const N: usize>(s: &str) -> [u8; N] {
        hex::decode(s).unwrap().try_into().unwrap()
    }
}
