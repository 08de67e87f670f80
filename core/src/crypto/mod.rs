//! The cryptography of the reference (simplexmq v3.2.0 `Simplex.Messaging.Crypto`), byte for
//! byte. See `spec/crypto.md` for the formats and where each was verified.
//!
//! The model:
//! - **Keys** come in four algorithms ([`keys::Algorithm`]): Ed25519 and Ed448 sign, X25519
//!   and X448 agree on secrets. Each algorithm has its own module with raw-byte types
//!   ([`ed25519`], [`ed448`], [`x25519`], [`x448`]); [`keys`] adds the algorithm-tagged enums
//!   the protocol carries and their DER / binary / text forms.
//! - **Secrets** (private keys, shared secrets, derived keys) live in [`secret::Secret`]:
//!   wiped on drop, compared in constant time, never printed.
//! - **Randomness** is injected ([`rng::CryptoRng`]); nothing here reads the OS.
//! - **Encryption** is always of padded plaintexts: [`cbox`] (NaCl crypto_box, tag first) for
//!   SMP message bodies, [`aead`] (AES-256-GCM with 16-byte IVs) for the ratchet.
//! - **Derivation and hashing**: [`kdf`] (HKDF-SHA512, `hkdf3`), [`hash`] (SHA-256/512 and the
//!   server identity [`hash::KeyHash`]).
//!
//! Ed448 and X448 are computed by OpenSSL with the `openssl` cargo feature (the default) and by
//! pure Rust without it; results are identical (`spec/performance.md` explains the choice).

pub mod aead;
mod b64;
mod backend;
pub mod cbox;
mod der;
pub mod ed25519;
pub mod ed448;
pub mod error;
pub mod hash;
pub mod kdf;
pub mod keys;
pub mod rng;
pub mod secret;
pub mod x25519;
pub mod x448;

pub use backend::NAME as BACKEND;
pub use error::{CryptoError, KeyDecodeError};
pub use rng::CryptoRng;
pub use secret::Secret;
