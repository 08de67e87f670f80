//! HKDF-SHA512 (RFC 5869), and the reference's `hkdf3`: 96 bytes of output split into three
//! 32-byte keys. The double ratchet uses it for both its root and chain steps.

use super::error::CryptoError;
use super::secret::Secret;

/// HKDF-SHA512 extract-then-expand of `ikm` with `salt` and `info`, filling `out`.
///
/// An empty salt means "no salt" (a block of zeros), as in RFC 5869 and the reference.
/// Fails only when `out` is longer than 255 × 64 bytes.
pub fn hkdf_sha512(
    salt: &[u8],
    ikm: &[u8],
    info: &[u8],
    out: &mut [u8],
) -> Result<(), CryptoError> {
    #[cfg(feature = "openssl")]
    {
        ossl_hkdf::hkdf_sha512(salt, ikm, info, out)
    }
    #[cfg(not(feature = "openssl"))]
    {
        rust_hkdf_sha512(salt, ikm, info, out)
    }
}

/// HKDF-SHA512 on RustCrypto's `hkdf` and `sha2` (the pure-Rust build; a cross-check of the
/// OpenSSL one in tests).
#[cfg(any(not(feature = "openssl"), test))]
fn rust_hkdf_sha512(
    salt: &[u8],
    ikm: &[u8],
    info: &[u8],
    out: &mut [u8],
) -> Result<(), CryptoError> {
    hkdf::Hkdf::<sha2::Sha512>::new(Some(salt), ikm)
        .expand(info, out)
        .map_err(|_| CryptoError::KdfLength)
}

/// HKDF-SHA512 on OpenSSL's SHA-512 (assembly): the ratchet runs two of these per message,
/// and RustCrypto's portable SHA-512 made them most of the ratchet's cost. HMAC is built here
/// from the hash with the key's pad states computed once per key, as RFC 2104 describes.
#[cfg(feature = "openssl")]
mod ossl_hkdf {
    use openssl::sha::Sha512;
    use zeroize::Zeroize;

    use crate::crypto::error::CryptoError;

    const BLOCK: usize = 128;

    /// The inner and outer hash states of HMAC-SHA512 keyed with `key`.
    fn keyed(key: &[u8]) -> (Sha512, Sha512) {
        let mut block = [0u8; BLOCK];
        if key.len() > BLOCK {
            let mut h = Sha512::new();
            h.update(key);
            block[..64].copy_from_slice(&h.finish());
        } else {
            block[..key.len()].copy_from_slice(key);
        }
        let (mut inner, mut outer) = (Sha512::new(), Sha512::new());
        let mut pad = [0u8; BLOCK];
        for (p, k) in pad.iter_mut().zip(&block) {
            *p = k ^ 0x36;
        }
        inner.update(&pad);
        for (p, k) in pad.iter_mut().zip(&block) {
            *p = k ^ 0x5c;
        }
        outer.update(&pad);
        block.zeroize();
        pad.zeroize();
        (inner, outer)
    }

    fn mac(keyed: &(Sha512, Sha512), parts: &[&[u8]]) -> [u8; 64] {
        let mut inner = keyed.0.clone();
        for part in parts {
            inner.update(part);
        }
        let mut digest = inner.finish();
        let mut outer = keyed.1.clone();
        outer.update(&digest);
        digest.zeroize();
        outer.finish()
    }

    pub(super) fn hkdf_sha512(
        salt: &[u8],
        ikm: &[u8],
        info: &[u8],
        out: &mut [u8],
    ) -> Result<(), CryptoError> {
        if out.len() > 255 * 64 {
            return Err(CryptoError::KdfLength);
        }
        // The chain step's salt is always empty: its pad states are computed once.
        static UNSALTED: std::sync::OnceLock<(Sha512, Sha512)> = std::sync::OnceLock::new();
        let mut prk = if salt.is_empty() {
            mac(UNSALTED.get_or_init(|| keyed(&[])), &[ikm])
        } else {
            mac(&keyed(salt), &[ikm])
        };
        let expander = keyed(&prk);
        prk.zeroize();
        let mut previous = [0u8; 64];
        for (i, chunk) in out.chunks_mut(64).enumerate() {
            let counter = [i as u8 + 1];
            let t = if i == 0 {
                mac(&expander, &[info, &counter])
            } else {
                mac(&expander, &[&previous, info, &counter])
            };
            chunk.copy_from_slice(&t[..chunk.len()]);
            previous = t;
        }
        previous.zeroize();
        Ok(())
    }
}

/// Three 32-byte keys from one HKDF-SHA512 expansion to 96 bytes (the reference's `hkdf3`).
pub fn hkdf3(salt: &[u8], ikm: &[u8], info: &[u8]) -> (Secret<32>, Secret<32>, Secret<32>) {
    let mut okm = Secret::<96>::zeroed();
    // 96 bytes is far below HKDF-SHA512's limit of 255 * 64, so expansion cannot fail.
    if hkdf_sha512(salt, ikm, info, okm.expose_mut()).is_err() {
        okm.expose_mut().fill(0);
    }
    let split = |i: usize| {
        let mut part = Secret::<32>::zeroed();
        part.expose_mut()
            .copy_from_slice(&okm.expose()[i * 32..(i + 1) * 32]);
        part
    };
    (split(0), split(1), split(2))
}

#[cfg(all(test, feature = "openssl"))]
mod tests {
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn openssl_hkdf_matches_rustcrypto(
            salt in proptest::collection::vec(any::<u8>(), 0..200),
            ikm in proptest::collection::vec(any::<u8>(), 0..100),
            info in proptest::collection::vec(any::<u8>(), 0..50),
            len in 0usize..300,
        ) {
            let (mut ours, mut theirs) = (vec![0u8; len], vec![0u8; len]);
            super::hkdf_sha512(&salt, &ikm, &info, &mut ours).unwrap();
            super::rust_hkdf_sha512(&salt, &ikm, &info, &mut theirs).unwrap();
            prop_assert_eq!(ours, theirs);
        }
    }
}
