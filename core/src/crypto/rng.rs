//! Injected randomness. The core never asks the OS for random bytes: every key, nonce and IV is
//! drawn from a generator the caller passes in (the OS generator in production, a seeded
//! ChaCha20 in tests and the simulator, so a run can be replayed byte for byte).

/// A cryptographically secure random generator, usable as `&mut dyn CryptoRng` or generically.
pub trait CryptoRng: rand_core::RngCore + rand_core::CryptoRng {}

impl<T: rand_core::RngCore + rand_core::CryptoRng + ?Sized> CryptoRng for T {}
