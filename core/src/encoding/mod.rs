//! The binary encoding every SimpleX protocol message is built from (the reference's
//! `Encoding` class), and the text encoding used in URIs, addresses and log files
//! ([`string`]).
//!
//! The rules (see `spec/encoding.md`):
//! - `u16`/`u32` big-endian; `i64` as two big-endian words (high first).
//! - `bool` as `T`/`F`; `Option<T>` as `0`, or `1` followed by the value.
//! - short byte strings ([`ShortBytes`]) with a 1-byte length, [`Large`] with a 2-byte length,
//!   [`Tail`] as the rest of the input with no length at all.
//! - lists with a 1-byte item count ([`NonEmpty`] refuses to decode zero items).
//! - tuples as the concatenation of their fields.
//!
//! Decoding never panics: every failure is a [`DecodeError`]. Byte strings decoded from a
//! [`Reader`] share the input's buffer instead of copying it.

mod binary;
mod pad;
pub mod query;
pub mod string;
mod utc_time;
mod version;

pub use binary::{Decode, DecodeError, Encode, Large, NonEmpty, Reader, ShortBytes, Tail, TooLong};
pub use pad::{pad, pad_into, unpad, PadError};
pub use utc_time::UtcTime;
pub use version::{Version, VersionRange};

/// Seconds since the Unix epoch, as the reference's `SystemTime` travels on the wire: the
/// nanoseconds are dropped when encoding and zero after decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct UnixTime {
    /// Whole seconds since 1970-01-01T00:00:00Z (negative before it).
    pub seconds: i64,
    /// Sub-second part; never encoded.
    pub nanoseconds: u32,
}

impl UnixTime {
    /// A time with whole seconds only.
    pub const fn from_seconds(seconds: i64) -> Self {
        Self {
            seconds,
            nanoseconds: 0,
        }
    }
}

impl Encode for UnixTime {
    fn encode(&self, out: &mut Vec<u8>) {
        self.seconds.encode(out)
    }
}

impl Decode for UnixTime {
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(Self::from_seconds(i64::decode(r)?))
    }
}
