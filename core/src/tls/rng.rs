//! The connection's injected RNG, lent to rustls for the duration of one call.
//!
//! rustls takes its randomness source and key-exchange groups as `&'static` trait objects in the
//! `CryptoProvider`, so a per-connection RNG cannot live inside them. Instead the session moves
//! its own RNG into a thread-local slot right before it calls into rustls and takes it back right
//! after (`lend`); the provider's `SecureRandom` and our key-exchange groups draw from that slot.
//! Outside such a call the slot is empty and drawing fails (never falls back to OS randomness), so
//! nothing persists between calls: the RNG is per-connection state, not global state.

use core::cell::RefCell;

/// The RNG a TLS session owns: any cryptographic RNG, seeded in tests.
pub type SessionRng = Box<dyn crate::crypto::CryptoRng + Send>;

thread_local! {
    static LENT: RefCell<Option<SessionRng>> = const { RefCell::new(None) };
}

/// Puts the RNG in `slot` at rustls's disposal while `f` runs, then puts it back.
pub(crate) fn lend<R>(slot: &mut Option<SessionRng>, f: impl FnOnce() -> R) -> R {
    struct GiveBack<'a>(&'a mut Option<SessionRng>);
    impl Drop for GiveBack<'_> {
        fn drop(&mut self) {
            *self.0 = LENT.with(|lent| lent.try_borrow_mut().ok().and_then(|mut l| l.take()));
        }
    }
    let rng = slot.take();
    LENT.with(|lent| {
        if let Ok(mut lent) = lent.try_borrow_mut() {
            *lent = rng;
        }
    });
    let _give_back = GiveBack(slot);
    f()
}

/// Fills `buf` from the lent RNG; `false` when no RNG is lent (called outside [`lend`]).
pub(crate) fn fill(buf: &mut [u8]) -> bool {
    LENT.with(|lent| match lent.try_borrow_mut() {
        Ok(mut lent) => match lent.as_mut() {
            Some(rng) => rng.try_fill_bytes(buf).is_ok(),
            None => false,
        },
        Err(_) => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::rand_core::SeedableRng;

    #[test]
    fn lent_only_during_the_call() {
        let mut slot: Option<SessionRng> =
            Some(Box::new(rand_chacha::ChaCha20Rng::seed_from_u64(1)));
        let mut buf = [0u8; 8];
        assert!(!fill(&mut buf));
        assert!(lend(&mut slot, || fill(&mut buf)));
        assert_ne!(buf, [0u8; 8]);
        assert!(slot.is_some());
        assert!(!fill(&mut buf));
    }
}
