//! Where Ed448 and X448 are computed. Callers never see this: `ed448` and `x448` hold an opaque
//! backend value next to the raw key bytes.
//!
//! - [`pure`] (always compiled): ed448-goldilocks-plus for Ed448, the x448 crate for X448.
//! - `ossl` (cargo feature `openssl`): OpenSSL 3 through the `openssl` crate, about 2–4× faster
//!   on these curves (measurements in `spec/performance.md`). Parsed OpenSSL keys are cached
//!   because importing a raw private key makes OpenSSL derive its public key (a full scalar
//!   multiplication). Should OpenSSL ever fail an operation, it falls back to the pure code,
//!   which gives the same bytes: Ed448 signing is deterministic, and for X448 this is also how
//!   an all-zero result (which OpenSSL refuses but the reference returns) comes out right.

#[cfg(feature = "openssl")]
mod ossl;
#[cfg_attr(feature = "openssl", allow(dead_code))]
pub(crate) mod pure;

#[cfg(feature = "openssl")]
pub(crate) use ossl::{Ed448Signer, Ed448Verifier, X448Private};
#[cfg(not(feature = "openssl"))]
pub(crate) use pure::{Ed448Signer, Ed448Verifier, X448Private};

/// Name of the backend this build uses, for benchmarks and logs.
pub const NAME: &str = if cfg!(feature = "openssl") {
    "openssl"
} else {
    "pure-rust"
};

/// With OpenSSL compiled in, both backends can run side by side: check they agree.
#[cfg(all(test, feature = "openssl"))]
mod tests {
    use super::{ossl, pure};
    use rand_chacha::rand_core::{RngCore, SeedableRng};

    #[test]
    fn openssl_and_pure_rust_agree() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(448);
        for round in 0..16 {
            let mut seed = [0u8; 57];
            rng.fill_bytes(&mut seed);
            let msg = vec![round as u8; round * 13];
            let (o, p) = (ossl::Ed448Signer::new(&seed), pure::Ed448Signer::new(&seed));
            let public = o.public(&seed);
            assert_eq!(public, p.public(&seed));
            let sig = o.sign(&seed, &msg);
            assert_eq!(sig, p.sign(&seed, &msg));
            assert!(ossl::Ed448Verifier::new(&public).verify(&public, &msg, &sig));
            assert!(pure::Ed448Verifier::new(&public).verify(&public, &msg, &sig));
            let mut bad = sig;
            bad[round] ^= 4;
            assert!(!ossl::Ed448Verifier::new(&public).verify(&public, &msg, &bad));
            assert!(!pure::Ed448Verifier::new(&public).verify(&public, &msg, &bad));

            let (mut k, mut u) = ([0u8; 56], [0u8; 56]);
            rng.fill_bytes(&mut k);
            rng.fill_bytes(&mut u);
            let (o, p) = (ossl::X448Private::new(&k), pure::X448Private);
            assert_eq!(o.public(&k), p.public(&k));
            assert_eq!(o.dh(&k, &u), p.dh(&k, &u));
        }
    }
}
