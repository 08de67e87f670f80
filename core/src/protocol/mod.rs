//! The SMP protocol's messages: client commands, broker messages, errors, and the
//! transmissions that carry them (see `spec/smp-protocol.md`).
//!
//! Encodings depend on the negotiated protocol version: `ACK` and `SEND` changed in v2, `MSG`
//! in v2 and again in v3, where the timestamp and flags moved inside the encrypted body.

mod broker;
mod command;
mod error;
mod ids;
mod transmission;

pub use broker::{BrokerMsg, RcvMessage};
pub use command::{Command, Party};
pub use error::{CommandError, ErrorType};
pub use ids::{CorrId, EntityId, MsgId};
pub use transmission::{
    encode_transmission, parse_transmission, signed_part, ProtocolMessage, RawTransmission,
    TransmissionSignature, VerifiedTransmission,
};

use crate::encoding::{Decode, DecodeError, Encode, Reader, VersionRange};

/// The current SMP protocol version range of the reference v3.2.0 server.
pub const SMP_VERSION_RANGE: VersionRange = VersionRange::between(1, 4);

/// The largest message body a sender may send (`ERR LARGE_MSG` above it).
pub const MAX_MESSAGE_LENGTH: usize = 16088;

/// Message flags carried by `SEND` (and, from v3, inside the encrypted `MSG` body).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct MsgFlags {
    /// Whether the notifier subscribed to the queue should be told about this message.
    pub notification: bool,
}

impl Encode for MsgFlags {
    fn encode(&self, out: &mut Vec<u8>) {
        self.notification.encode(out)
    }
}

impl Decode for MsgFlags {
    /// Reads the notification flag, then skips any further flag bytes up to (not including)
    /// the next space: room the reference left for future flags.
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        let notification = bool::decode(r)?;
        r.take_until(b' ');
        Ok(Self { notification })
    }
}

/// The version-independent part every command and message parser shares: the tag (up to the
/// first space) and the parameters after it.
pub(crate) fn split_tag(bytes: &[u8]) -> (&[u8], &[u8]) {
    match bytes.iter().position(|&b| b == b' ') {
        Some(i) => bytes.split_at(i),
        None => (bytes, &[]),
    }
}

/// Parses `" " params` to the end of the input.
pub(crate) fn with_params<T>(
    r: &mut Reader,
    parse: impl FnOnce(&mut Reader) -> Result<T, DecodeError>,
) -> Result<T, DecodeError> {
    r.expect_byte(b' ', "space")?;
    let value = parse(r)?;
    r.finish()?;
    Ok(value)
}

/// Succeeds with `value` when no parameters follow the tag.
pub(crate) fn no_params<T>(r: &mut Reader, value: T) -> Result<T, DecodeError> {
    r.finish().map(|()| value)
}
