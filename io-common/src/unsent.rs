//! Bytes written by the service and not yet taken by the kernel, kept as the buffers the
//! service handed over (a TLS record each, mostly) rather than copied into one ring: each
//! buffer is freed as soon as it is sent, so an idle connection holds nothing.

use std::collections::VecDeque;

/// A socket's pending output.
#[derive(Debug, Default)]
pub struct Unsent {
    chunks: VecDeque<Vec<u8>>,
    /// Bytes of the front chunk already sent.
    sent_of_front: usize,
    len: usize,
}

impl Unsent {
    /// Queues `bytes` after everything already pending.
    pub fn push(&mut self, bytes: Vec<u8>) {
        if !bytes.is_empty() {
            self.len += bytes.len();
            self.chunks.push_back(bytes);
        }
    }

    /// Bytes pending.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The next bytes to write (empty when nothing is pending).
    pub fn front(&self) -> &[u8] {
        self.chunks
            .front()
            .and_then(|c| c.get(self.sent_of_front..))
            .unwrap_or_default()
    }

    /// Marks `n` bytes of [`Self::front`] as sent.
    pub fn consume(&mut self, n: usize) {
        self.len = self.len.saturating_sub(n);
        self.sent_of_front += n;
        if self
            .chunks
            .front()
            .is_some_and(|c| self.sent_of_front >= c.len())
        {
            self.chunks.pop_front();
            self.sent_of_front = 0;
        }
        if self.chunks.is_empty() && self.chunks.capacity() > 8 {
            self.chunks = VecDeque::new();
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::Unsent;

    proptest! {
        /// Whatever the chunks and however the kernel takes them, the bytes come out in order.
        #[test]
        fn bytes_come_out_in_order(
            chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..50), 0..10),
            takes in proptest::collection::vec(1usize..40, 1..200),
        ) {
            let mut unsent = Unsent::default();
            let mut expected = Vec::new();
            for c in chunks {
                expected.extend_from_slice(&c);
                unsent.push(c);
            }
            prop_assert_eq!(unsent.len(), expected.len());
            let mut out = Vec::new();
            for take in takes.into_iter().cycle().take(10_000) {
                if unsent.is_empty() {
                    break;
                }
                let front = unsent.front();
                prop_assert!(!front.is_empty());
                let n = take.min(front.len());
                out.extend_from_slice(&front[..n]);
                unsent.consume(n);
            }
            prop_assert_eq!(out, expected);
            prop_assert!(unsent.front().is_empty());
        }
    }
}
