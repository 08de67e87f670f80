//! Signature checks of commands: against the key a command names (`NEW`) or the key its queue
//! keeps, with a dummy check when there is no queue or the algorithm differs (so an `AUTH`
//! failure costs the same either way), and a small cache of parsed keys so that the keys of
//! active queues are not parsed from their raw bytes for every command.

use simplex_core::crypto::keys::{Signature, VerifyKey};
use simplex_core::encoding::string::base64_decode;

use crate::queue_store::StoredKey;

/// The reference's dummy keys.
const DUMMY_ED25519: &str = "MCowBQYDK2VwAyEA139Oqs4QgpqbAmB0o7rZf6T19ryl7E65k4AYe0kE3Qs=";
const DUMMY_ED448: &str =
    "MEMwBQYDK2VxAzoA6ibQc9XpkSLtwrf7PLvp81qW/etiumckVFImCMRdftcG/XopbOSaq9qyLhrgJWKOLyNrQPNVvpMA";

fn dummy_key(text: &str) -> Option<VerifyKey> {
    base64_decode(text.as_bytes())
        .ok()
        .and_then(|der| VerifyKey::from_der(&der).ok())
}

fn raw_bytes(key: &VerifyKey) -> &[u8] {
    match key {
        VerifyKey::Ed25519(k) => k.as_bytes(),
        VerifyKey::Ed448(k) => k.as_bytes(),
    }
}

/// Entries of the parsed-key cache: a fixed 256 × 232 bytes (plus OpenSSL's copy of each
/// Ed448 key), whatever the number of queues.
const CACHE_ENTRIES: usize = 256;

/// Recently used parsed keys, each in the entry its raw bytes pick. An entry is used only if
/// its key's raw bytes equal the stored key's, so it never needs invalidating: a queue whose
/// key changed, or a slot reused by another queue, simply misses. Keys are chosen by clients,
/// who can make their keys share an entry; that only costs them parses, never a wrong answer.
pub(crate) struct KeyCache {
    entries: Vec<Option<VerifyKey>>,
}

impl KeyCache {
    fn new() -> Self {
        Self {
            entries: (0..CACHE_ENTRIES).map(|_| None).collect(),
        }
    }

    fn verify(&mut self, key: &StoredKey<'_>, signed: &[u8], sig: &Signature) -> bool {
        let raw = key.raw_bytes();
        let at = raw.iter().take(8).fold(0usize, |h, &b| {
            h.wrapping_mul(31).wrapping_add(usize::from(b))
        }) % CACHE_ENTRIES;
        let Some(entry) = self.entries.get_mut(at) else {
            return key.parse().verify(signed, sig);
        };
        match entry {
            Some(k) if raw_bytes(k) == raw => k.verify(signed, sig),
            _ => entry.insert(key.parse()).verify(signed, sig),
        }
    }
}

/// A key a command is verified with: parsed (`NEW`'s own key) or as the store keeps it.
pub(crate) trait CommandKey {
    /// Whether the signature is of the key's algorithm.
    fn algorithm_matches(&self, sig: &Signature) -> bool;
    /// Whether `sig` signs `signed`.
    fn check(&self, cache: &mut KeyCache, signed: &[u8], sig: &Signature) -> bool;
}

impl CommandKey for VerifyKey {
    fn algorithm_matches(&self, sig: &Signature) -> bool {
        matches!(
            (self, sig),
            (VerifyKey::Ed25519(_), Signature::Ed25519(_))
                | (VerifyKey::Ed448(_), Signature::Ed448(_))
        )
    }

    fn check(&self, _: &mut KeyCache, signed: &[u8], sig: &Signature) -> bool {
        self.verify(signed, sig)
    }
}

impl CommandKey for StoredKey<'_> {
    fn algorithm_matches(&self, sig: &Signature) -> bool {
        self.matches(sig)
    }

    fn check(&self, cache: &mut KeyCache, signed: &[u8], sig: &Signature) -> bool {
        cache.verify(self, signed, sig)
    }
}

/// The machine's signature checker.
pub(crate) struct Verifier {
    dummy_ed25519: Option<VerifyKey>,
    dummy_ed448: Option<VerifyKey>,
    cache: KeyCache,
}

impl Default for Verifier {
    fn default() -> Self {
        Self {
            dummy_ed25519: dummy_key(DUMMY_ED25519),
            dummy_ed448: dummy_key(DUMMY_ED448),
            cache: KeyCache::new(),
        }
    }
}

impl Verifier {
    fn dummy_verify(&self, signed: &[u8], sig: &Signature) -> bool {
        let key = match sig {
            Signature::Ed25519(_) => &self.dummy_ed25519,
            Signature::Ed448(_) => &self.dummy_ed448,
        };
        key.as_ref().is_some_and(|k| k.verify(signed, sig))
    }

    /// Requires a signature by `key`.
    pub fn verify_with(
        &mut self,
        sig: Option<&Signature>,
        signed: &[u8],
        key: &impl CommandKey,
    ) -> bool {
        match sig {
            None => false,
            Some(s) if key.algorithm_matches(s) => key.check(&mut self.cache, signed, s),
            Some(s) => {
                // Same work as a real check, then refuse.
                let _ = self.dummy_verify(signed, s);
                false
            }
        }
    }

    /// Verifies against `key`, or, when there is no key, requires no signature.
    pub fn verify_maybe(
        &mut self,
        sig: Option<&Signature>,
        signed: &[u8],
        key: Option<StoredKey<'_>>,
    ) -> bool {
        match key {
            Some(k) => self.verify_with(sig, signed, &k),
            None => sig.is_none(),
        }
    }

    /// No queue: a dummy check, then refuse.
    pub fn no_queue(&self, sig: Option<&Signature>, signed: &[u8]) -> bool {
        if let Some(s) = sig {
            let _ = self.dummy_verify(signed, s);
        }
        false
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use simplex_core::crypto::keys::SignKey;
    use simplex_core::crypto::{ed25519, ed448};

    use super::*;
    use crate::queue_store::RawKey;

    #[test]
    fn reference_dummy_keys_decode() {
        assert!(matches!(
            dummy_key(DUMMY_ED25519),
            Some(VerifyKey::Ed25519(_))
        ));
        assert!(matches!(dummy_key(DUMMY_ED448), Some(VerifyKey::Ed448(_))));
    }

    fn sign_keys() -> Vec<SignKey> {
        (0..4u8)
            .flat_map(|n| {
                [
                    SignKey::Ed25519(ed25519::SigningKey::from_bytes(&[n; 32])),
                    SignKey::Ed448(ed448::SigningKey::from_bytes(&[n; 57])),
                ]
            })
            .collect()
    }

    #[test]
    fn cached_keys_answer_as_parsed_keys() {
        let keys = sign_keys();
        let raws: Vec<RawKey> = keys.iter().map(|k| RawKey::new(&k.verify_key())).collect();
        let mut v = Verifier::default();
        // Every key against every key's signature, twice (misses, then hits where entries
        // survived), in both orders: the answers are those of the parsed keys.
        for _ in 0..2 {
            for (i, raw) in raws.iter().enumerate() {
                for (j, signer) in keys.iter().enumerate() {
                    let sig = signer.sign(b"signed");
                    let stored = StoredKey::new(raw);
                    let expected = keys[i].verify_key().verify(b"signed", &sig);
                    assert_eq!(expected, i == j);
                    assert_eq!(v.verify_with(Some(&sig), b"signed", &stored), expected);
                    assert!(!v.verify_with(Some(&sig), b"other", &stored));
                }
            }
        }
        assert!(v.cache.entries.iter().any(Option::is_some));
    }
}
