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
