//! Keys of messages that were skipped over (not yet received), so that they can still be
//! decrypted when they arrive late.
//!
//! Bounds, so a hostile peer cannot grow our memory:
//! - one message may skip at most [`MAX_SKIP`] (512) keys in one chain, as the reference's
//!   `maxSkip` (the end of the previous chain plus the start of the new one: at most 1024 keys
//!   per message);
//! - at most [`MAX_SKIPPED_TOTAL`] keys are kept in all; past that the oldest keys are dropped
//!   first (the reference keeps every key until used). Keys are only ever added for the newest
//!   receiving chain, so chain order followed by message order is the order they were added.
//!
//! Each key is used at most once: a key is removed once its message authenticates.

use super::header::{EncMessageHeader, HeaderKey, HeaderOpenError, MsgHeader};
use super::message_key::MessageKey;

/// The most keys one message may skip in one chain (the reference's `maxSkip`).
pub const MAX_SKIP: u32 = 512;

/// The most skipped keys kept in all (ours: room for two worst-case messages).
pub const MAX_SKIPPED_TOTAL: usize = 4 * MAX_SKIP as usize;

/// The skipped keys of one receiving chain, in message-number order.
#[derive(Clone, Debug)]
pub(crate) struct SkippedChain {
    pub(crate) header_key: HeaderKey,
    pub(crate) keys: Vec<(u32, MessageKey)>,
}

/// All stored skipped keys, oldest chain first.
#[derive(Clone, Debug, Default)]
pub struct SkippedKeys {
    pub(crate) chains: Vec<SkippedChain>,
}

/// What the stored header keys say about an encrypted header.
pub(crate) enum SkippedLookup {
    /// No stored header key opens it.
    NotFound,
    /// A stored header key opens it and there is a key for its message number.
    Found { chain: usize, index: usize },
    /// A stored header key opens it but there is no key for its number.
    HeaderOnly { chain: usize, header: MsgHeader },
}

impl SkippedKeys {
    /// How many keys are stored.
    pub fn len(&self) -> usize {
        self.chains.iter().map(|c| c.keys.len()).sum()
    }

    /// Whether no key is stored.
    pub fn is_empty(&self) -> bool {
        self.chains.is_empty()
    }

    /// Tries the stored header keys on `header` (the reference's `decryptSkipped`).
    pub(crate) fn lookup(
        &self,
        header: &EncMessageHeader,
        ad: &[u8],
    ) -> Result<SkippedLookup, HeaderOpenError> {
        for (chain, stored) in self.chains.iter().enumerate() {
            match header.open(&stored.header_key, ad) {
                Err(HeaderOpenError::Authentication) => continue,
                Err(e) => return Err(e),
                Ok(header) => {
                    return Ok(
                        match stored
                            .keys
                            .iter()
                            .position(|(n, _)| *n == header.message_number)
                        {
                            Some(index) => SkippedLookup::Found { chain, index },
                            None => SkippedLookup::HeaderOnly { chain, header },
                        },
                    )
                }
            }
        }
        Ok(SkippedLookup::NotFound)
    }

    /// The header key of a stored chain.
    pub(crate) fn header_key(&self, chain: usize) -> Option<&HeaderKey> {
        self.chains.get(chain).map(|c| &c.header_key)
    }

    /// The stored message key at a position returned by [`Self::lookup`].
    pub(crate) fn key(&self, chain: usize, index: usize) -> Option<&MessageKey> {
        self.chains
            .get(chain)
            .and_then(|c| c.keys.get(index))
            .map(|(_, k)| k)
    }

    /// Removes a used key.
    pub(crate) fn remove(&mut self, chain: usize, index: usize) {
        if let Some(stored) = self.chains.get_mut(chain) {
            if index < stored.keys.len() {
                stored.keys.remove(index);
            }
            if stored.keys.is_empty() {
                self.chains.remove(chain);
            }
        }
    }

    /// Adds keys skipped in the chain of `header_key`, then drops the oldest keys beyond
    /// [`MAX_SKIPPED_TOTAL`].
    pub(crate) fn add(&mut self, header_key: HeaderKey, keys: Vec<(u32, MessageKey)>) {
        if keys.is_empty() {
            return;
        }
        match self.chains.iter_mut().find(|c| c.header_key == header_key) {
            Some(stored) => {
                for (n, key) in keys {
                    match stored.keys.iter_mut().find(|(m, _)| *m == n) {
                        Some(slot) => slot.1 = key,
                        None => stored.keys.push((n, key)),
                    }
                }
            }
            None => self.chains.push(SkippedChain { header_key, keys }),
        }
        let mut excess = self.len().saturating_sub(MAX_SKIPPED_TOTAL);
        while excess > 0 {
            let Some(oldest) = self.chains.first_mut() else {
                break;
            };
            let n = excess.min(oldest.keys.len());
            oldest.keys.drain(..n);
            excess -= n;
            if oldest.keys.is_empty() {
                self.chains.remove(0);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::aead::AesIv;

    fn keys(from: u32, n: u32) -> Vec<(u32, MessageKey)> {
        (from..from + n)
            .map(|i| (i, MessageKey::from_parts(&[i as u8; 32], [0; 16])))
            .collect()
    }

    #[test]
    fn total_is_capped_oldest_first() {
        let mut store = SkippedKeys::default();
        let hk = |b: u8| HeaderKey::from_bytes(&[b; 32]);
        store.add(hk(1), keys(0, 1000));
        store.add(hk(2), keys(0, 1000));
        store.add(hk(1), keys(1000, 10));
        assert_eq!(store.len(), 2010);
        store.add(hk(3), keys(5, 100));
        assert_eq!(store.len(), MAX_SKIPPED_TOTAL);
        // The 62 oldest keys of the first chain went.
        assert_eq!(store.chains[0].keys[0].0, 62);
        store.add(hk(4), keys(0, 3000));
        assert_eq!(store.len(), MAX_SKIPPED_TOTAL);
        assert_eq!(store.chains.len(), 1);
        assert_eq!(store.chains[0].keys[0].0, 3000 - MAX_SKIPPED_TOTAL as u32);
        assert_eq!(store.chains[0].keys[0].1.iv(), &AesIv([0; 16]));
        store.add(hk(5), Vec::new());
        assert_eq!(store.chains.len(), 1);
    }
}
