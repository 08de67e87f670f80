//! HKDF-SHA512 (RFC 5869), and the reference's `hkdf3`: 96 bytes of output split into three
//! 32-byte keys. The double ratchet uses it for both its root and chain steps.

use hkdf::Hkdf;
use sha2::Sha512;

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
    Hkdf::<Sha512>::new(Some(salt), ikm)
        .expand(info, out)
        .map_err(|_| CryptoError::KdfLength)
}

/// Three 32-byte keys from one HKDF-SHA512 expansion to 96 bytes (the reference's `hkdf3`).
pub fn hkdf3(salt: &[u8], ikm: &[u8], info: &[u8]) -> (Secret<32>, Secret<32>, Secret<32>) {
    let mut okm = Secret::<96>::zeroed();
    let hk = Hkdf::<Sha512>::new(Some(salt), ikm);
    // 96 bytes is far below HKDF-SHA512's limit of 255 * 64, so expansion cannot fail.
    if hk.expand(info, okm.expose_mut()).is_err() {
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
