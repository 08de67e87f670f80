//! The integrity of a connection's numbered messages (the reference's `checkMsgIntegrity` and
//! the ids and hashes its store keeps per connection).
//!
//! Every numbered agent message ([`AgentMessage::Message`]) carries the sender's sequential id
//! and the hash of the message the sender sent before it. The hash is SHA-256 of the *encoded
//! [`AgentMessage`]* as it went into the ratchet (before padding and encryption), which is also
//! exactly what the recipient gets out of the ratchet, so both sides compute it from the same
//! bytes without knowing anything about the layers around it.
//!
//! The sender keeps the last id it used and the hash of the last message it recorded
//! ([`SndIntegrity`]); the recipient keeps the last external id and the hash of the last
//! message it received ([`RcvIntegrity`]) and judges each new message against them
//! ([`RcvIntegrity::check`]). Both start at id 0 and an empty hash.
//!
//! Two details of the reference carry over because the peer's verdicts depend on them:
//! - a confirmation takes an id from the sender's sequence too. The joining party's confirmation
//!   (the reference's `confirmQueue`) takes the id without recording its hash
//!   ([`SndIntegrity::reserve_id`]); the initiator's reply confirmation (`enqueueConfirmation`)
//!   records the hash of its `AgentConnInfo` like any message ([`SndIntegrity::after_sent`]).
//!   Confirmations never pass the recipient's check, so the first `HELLO` is judged as having
//!   skipped id 1 (nobody reports `HELLO`'s integrity), and the first user message is `OK`.
//! - the recipient records every message it accepts, whatever the verdict, so after a message
//!   with a lower id the next expected id is the one after *that*.
//!
//! [`AgentMessage`]: crate::protocol::AgentMessage
//! [`AgentMessage::Message`]: crate::protocol::AgentMessage::Message

use simplex_core::crypto::hash::sha256;
use simplex_core::encoding::ShortBytes;

use crate::protocol::MsgPrivHeader;

/// The hash chaining a message to the next one: SHA-256 of its encoded agent message.
pub fn message_hash(encoded_agent_message: &[u8]) -> [u8; 32] {
    sha256(encoded_agent_message)
}

pub use crate::meta::{MsgErrorType, MsgIntegrity};

/// The sender's side of a connection's numbering: the last id used and the hash recorded
/// with it (the reference's `last_internal_snd_msg_id` and `last_snd_msg_hash`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SndIntegrity {
    /// The last id taken (0 before the first).
    pub last_snd_id: i64,
    /// The hash of the last message recorded (none before the first).
    pub last_hash: Option<[u8; 32]>,
}

/// The sender's ids are exhausted (after 2^63 - 1 messages; a corrupt store, in practice).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the connection's message ids are exhausted")]
pub struct IdsExhausted;

impl SndIntegrity {
    /// The header of the next numbered message: the next id and the last recorded hash. The
    /// caller records the message with [`Self::after_sent`] once it is built.
    pub fn next_header(&self) -> Result<MsgPrivHeader, IdsExhausted> {
        let snd_msg_id = self.last_snd_id.checked_add(1).ok_or(IdsExhausted)?;
        Ok(MsgPrivHeader {
            snd_msg_id,
            prev_msg_hash: short_hash(self.last_hash.as_ref()),
        })
    }

    /// Takes the next id without recording a hash, as the joining party's confirmation does:
    /// returns the id and the state after it.
    pub fn reserve_id(&self) -> Result<(i64, Self), IdsExhausted> {
        let id = self.last_snd_id.checked_add(1).ok_or(IdsExhausted)?;
        Ok((
            id,
            Self {
                last_snd_id: id,
                last_hash: self.last_hash,
            },
        ))
    }

    /// The state after sending message `snd_msg_id` whose hash is `hash`.
    pub fn after_sent(&self, snd_msg_id: i64, hash: [u8; 32]) -> Self {
        Self {
            last_snd_id: snd_msg_id,
            last_hash: Some(hash),
        }
    }
}

/// The recipient's side of a connection's numbering: the last external id received and the
/// hash of that message (the reference's `last_external_snd_msg_id` and `last_rcv_msg_hash`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RcvIntegrity {
    /// The sender's id of the last message received (0 before the first).
    pub last_external_snd_id: i64,
    /// The hash of the last message received (none before the first).
    pub last_hash: Option<[u8; 32]>,
}

impl RcvIntegrity {
    /// Judges a message with the sender's id `snd_msg_id` and previous-message hash
    /// `prev_msg_hash` (the reference's `checkMsgIntegrity`, with the same order of checks:
    /// a skip is reported before a bad hash).
    pub fn check(&self, snd_msg_id: i64, prev_msg_hash: &[u8]) -> MsgIntegrity {
        // In i128 so that ids near the ends of i64 (which a peer can send) cannot overflow.
        let (id, last) = (
            i128::from(snd_msg_id),
            i128::from(self.last_external_snd_id),
        );
        let last_hash: &[u8] = self.last_hash.as_ref().map_or(&[], |h| &h[..]);
        let hash_matches = last_hash == prev_msg_hash;
        if id == last + 1 && hash_matches {
            MsgIntegrity::Ok
        } else if id < last {
            MsgIntegrity::Error(MsgErrorType::BadId(snd_msg_id))
        } else if id == last {
            MsgIntegrity::Error(MsgErrorType::Duplicate)
        } else if id > last + 1 {
            // last + 1 < id <= i64::MAX and id - 1 > last >= i64::MIN: both fit.
            MsgIntegrity::Error(MsgErrorType::Skipped {
                from: self.last_external_snd_id + 1,
                to: snd_msg_id - 1,
            })
        } else {
            MsgIntegrity::Error(MsgErrorType::BadHash)
        }
    }

    /// The state after receiving message `snd_msg_id` whose hash is `hash`, whatever its
    /// verdict (the reference records every message it accepts).
    pub fn after_received(&self, snd_msg_id: i64, hash: [u8; 32]) -> Self {
        Self {
            last_external_snd_id: snd_msg_id,
            last_hash: Some(hash),
        }
    }
}

/// The hash as a header field: empty before the first message.
fn short_hash(hash: Option<&[u8; 32]>) -> ShortBytes {
    match hash {
        Some(h) => ShortBytes::from_slice(h).unwrap_or_default(),
        None => ShortBytes::default(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn rcv(last: i64, hash: Option<[u8; 32]>) -> RcvIntegrity {
        RcvIntegrity {
            last_external_snd_id: last,
            last_hash: hash,
        }
    }

    #[test]
    fn verdicts_follow_the_reference_order() {
        let h = message_hash(b"previous");
        let state = rcv(5, Some(h));
        assert_eq!(state.check(6, &h), MsgIntegrity::Ok);
        assert_eq!(
            state.check(6, b"other"),
            MsgIntegrity::Error(MsgErrorType::BadHash)
        );
        assert_eq!(
            state.check(5, &h),
            MsgIntegrity::Error(MsgErrorType::Duplicate)
        );
        assert_eq!(
            state.check(3, &h),
            MsgIntegrity::Error(MsgErrorType::BadId(3))
        );
        // A gap is reported even when the hash is also wrong.
        assert_eq!(
            state.check(9, b"other"),
            MsgIntegrity::Error(MsgErrorType::Skipped { from: 6, to: 8 })
        );
    }

    #[test]
    fn extreme_ids_do_not_overflow() {
        let state = rcv(i64::MAX, None);
        assert_eq!(
            state.check(i64::MIN, b""),
            MsgIntegrity::Error(MsgErrorType::BadId(i64::MIN))
        );
        let state = rcv(i64::MIN, None);
        assert_eq!(
            state.check(i64::MAX, b""),
            MsgIntegrity::Error(MsgErrorType::Skipped {
                from: i64::MIN + 1,
                to: i64::MAX - 1
            })
        );
        let exhausted = SndIntegrity {
            last_snd_id: i64::MAX,
            last_hash: None,
        };
        assert_eq!(exhausted.next_header(), Err(IdsExhausted));
        assert_eq!(exhausted.reserve_id(), Err(IdsExhausted));
    }

    #[test]
    fn a_reserved_id_keeps_the_last_hash() {
        let first = SndIntegrity::default();
        let (id, after) = first.reserve_id().unwrap();
        assert_eq!((id, after.last_hash), (1, None));
        let header = after.next_header().unwrap();
        assert_eq!(header.snd_msg_id, 2);
        assert!(header.prev_msg_hash.as_bytes().is_empty());
        let h = message_hash(b"m2");
        let header = after.after_sent(2, h).next_header().unwrap();
        assert_eq!(
            (header.snd_msg_id, header.prev_msg_hash.as_bytes()),
            (3, &h[..])
        );
    }
}
