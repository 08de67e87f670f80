//! Fixed-size secret bytes: the one type every key, shared secret and derived key is kept in.
//!
//! The bytes live on the heap so moving the value does not leave copies on the stack, are
//! wiped when dropped, compare in constant time, and never appear in `Debug` output.

use std::fmt;

use subtle::ConstantTimeEq;
use zeroize::Zeroize;

/// `N` secret bytes: zeroized on drop, constant-time equality, redacted `Debug`.
#[derive(Clone)]
pub struct Secret<const N: usize>(Box<[u8; N]>);

impl<const N: usize> Secret<N> {
    /// Takes ownership of `bytes`, wiping the caller's copy.
    pub fn new(bytes: &mut [u8; N]) -> Self {
        let secret = Self(Box::new(*bytes));
        bytes.zeroize();
        secret
    }

    /// Copies `bytes` (the caller stays responsible for its own copy).
    pub fn from_array(bytes: &[u8; N]) -> Self {
        Self(Box::new(*bytes))
    }

    /// Copies a slice of exactly `N` bytes.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        if bytes.len() != N {
            return None;
        }
        let mut out = Box::new([0u8; N]);
        out.copy_from_slice(bytes);
        Some(Self(out))
    }

    /// Fills a new secret from a generator of random bytes.
    pub fn random(rng: &mut (impl rand_core::RngCore + ?Sized)) -> Self {
        let mut out = Box::new([0u8; N]);
        rng.fill_bytes(&mut out[..]);
        Self(out)
    }

    /// The secret bytes. Handle with care: do not log or copy them around.
    pub fn expose(&self) -> &[u8; N] {
        &self.0
    }

    /// Mutable access, used to build a secret in place.
    pub(crate) fn expose_mut(&mut self) -> &mut [u8; N] {
        &mut self.0
    }

    /// A zeroed secret, to be filled in place.
    pub(crate) fn zeroed() -> Self {
        Self(Box::new([0u8; N]))
    }
}

impl<const N: usize> Drop for Secret<N> {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl<const N: usize> ConstantTimeEq for Secret<N> {
    fn ct_eq(&self, other: &Self) -> subtle::Choice {
        self.0[..].ct_eq(&other.0[..])
    }
}

impl<const N: usize> PartialEq for Secret<N> {
    fn eq(&self, other: &Self) -> bool {
        self.ct_eq(other).into()
    }
}

impl<const N: usize> Eq for Secret<N> {}

impl<const N: usize> fmt::Debug for Secret<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret<{N}>(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let s = Secret::<4>::from_array(&[0xde, 0xad, 0xbe, 0xef]);
        let shown = format!("{s:?}");
        assert!(!shown.contains("de") && !shown.contains("222"), "{shown}");
        assert_eq!(shown, "Secret<4>(<redacted>)");
    }

    #[test]
    fn new_wipes_source_and_eq_compares_bytes() {
        let mut raw = [7u8; 8];
        let a = Secret::new(&mut raw);
        assert_eq!(raw, [0u8; 8]);
        assert_eq!(a, Secret::from_array(&[7u8; 8]));
        assert_ne!(a, Secret::from_array(&[7, 7, 7, 7, 7, 7, 7, 8]));
        assert!(Secret::<8>::from_slice(&[1; 7]).is_none());
    }
}
