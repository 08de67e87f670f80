//! Identifiers carried in transmissions. Their `Debug` shows lengths only: queue ids and
//! message ids must never reach a log.

use bytes::Bytes;

use crate::encoding::{Decode, DecodeError, Encode, Reader, ShortBytes, TooLong};

macro_rules! short_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
        pub struct $name(ShortBytes);

        impl $name {
            /// Wraps `bytes` (at most 255).
            pub fn new(bytes: impl Into<Bytes>) -> Result<Self, TooLong> {
                ShortBytes::new(bytes).map(Self)
            }

            /// Copies `bytes` (at most 255).
            pub fn from_slice(bytes: &[u8]) -> Result<Self, TooLong> {
                ShortBytes::from_slice(bytes).map(Self)
            }

            /// The empty id (no entity / no correlation).
            pub fn empty() -> Self {
                Self(ShortBytes::default())
            }

            /// Whether the id is empty.
            pub fn is_empty(&self) -> bool {
                self.0.as_bytes().is_empty()
            }

            /// The id's bytes.
            pub fn as_bytes(&self) -> &[u8] {
                self.0.as_bytes()
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, concat!(stringify!($name), "({} bytes)"), self.0.as_bytes().len())
            }
        }

        impl Encode for $name {
            fn encode(&self, out: &mut Vec<u8>) {
                self.0.encode(out)
            }
        }

        impl Decode for $name {
            fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
                ShortBytes::decode(r).map(Self)
            }
        }
    };
}

short_id!(
    /// The id of the entity a transmission is about: a queue's recipient, sender or notifier
    /// id (24 bytes on our server), or empty for `NEW` and `PING`.
    EntityId
);

short_id!(
    /// The id a client gives a command so it can match the response; empty on messages the
    /// server sends unprompted (`MSG`, `END`, `NMSG`).
    CorrId
);

short_id!(
    /// A message's server-assigned id (24 bytes); it is also the nonce of the message's
    /// server-to-recipient encryption.
    MsgId
);
