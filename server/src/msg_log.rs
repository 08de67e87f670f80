//! The saved-messages file: undelivered messages written at a graceful stop and read back at
//! start, one line per message, in the reference's format.
//!
//! ```text
//! v3 <recipient id> <msg id> <unix seconds> flags=<T|F> <body>     (written)
//! <recipient id> <msg id> <unix seconds> flags=<T|F> <encrypted>   (legacy v1, read only)
//! ```
//!
//! Ids and bodies are base64url with padding. An empty body leaves the last field empty (the
//! line ends with a space): the reference writes that line but cannot read it back; we read it
//! as the empty body it is. A legacy body is the v1 crypto_box of the message under the queue's
//! DH secret (nonce: the message id); the machine opens it on restore.

use bytes::Bytes;
use simplex_core::encoding::string::{base64url_decode, base64url_encode, Scanner};
use simplex_core::encoding::{DecodeError, UnixTime};
use simplex_core::protocol::{EntityId, MsgFlags, MsgId};

/// A message held by the server.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredMessage {
    /// Its id (also the nonce of its encryption for the recipient).
    pub msg_id: MsgId,
    /// When the server accepted it.
    pub timestamp: UnixTime,
    /// The sender's flags.
    pub flags: MsgFlags,
    /// The body as sent.
    pub body: Bytes,
}

impl std::fmt::Debug for StoredMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredMessage")
            .field("body_len", &self.body.len())
            .finish_non_exhaustive()
    }
}

/// A parsed line of the saved-messages file. (`Debug` shows no id: ids print as lengths.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SavedMessageLine {
    /// The current form: the body in clear.
    V3 {
        /// The queue.
        recipient_id: EntityId,
        /// The message.
        message: StoredMessage,
    },
    /// The legacy form: the body still encrypted for the recipient (v1).
    V1 {
        /// The queue.
        recipient_id: EntityId,
        /// The message, with the encrypted body in `body`.
        message: StoredMessage,
    },
}

/// The v3 line for a message (without the newline).
pub fn encode_line(recipient_id: &EntityId, message: &StoredMessage) -> String {
    let mut out = String::from("v3 ");
    out.push_str(&base64url_encode(recipient_id.as_bytes()));
    out.push(' ');
    push_message(&mut out, message);
    out
}

pub(crate) fn push_message(out: &mut String, message: &StoredMessage) {
    out.push_str(&base64url_encode(message.msg_id.as_bytes()));
    out.push(' ');
    out.push_str(&message.timestamp.seconds.to_string());
    out.push_str(if message.flags.notification {
        " flags=T "
    } else {
        " flags=F "
    });
    out.push_str(&base64url_encode(&message.body));
}

/// Parses one line (without its newline; a trailing `\r` is ignored).
pub fn parse_line(line: &[u8]) -> Result<SavedMessageLine, DecodeError> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let mut s = Scanner::new(line);
    let v3 = s.eat_str(b"v3 ");
    let recipient_id =
        EntityId::new(s.base64url()?).map_err(|_| DecodeError::Invalid("recipient id"))?;
    s.space()?;
    let message = parse_message(&mut s)?;
    Ok(if v3 {
        SavedMessageLine::V3 {
            recipient_id,
            message,
        }
    } else {
        SavedMessageLine::V1 {
            recipient_id,
            message,
        }
    })
}

pub(crate) fn parse_message(s: &mut Scanner<'_>) -> Result<StoredMessage, DecodeError> {
    let msg_id = MsgId::new(s.base64url()?).map_err(|_| DecodeError::Invalid("msg id"))?;
    s.space()?;
    let timestamp = UnixTime::from_seconds(s.signed_decimal()?);
    s.expect_str(b" flags=", "flags")?;
    let notification = if s.eat(b'T') {
        true
    } else if s.eat(b'F') {
        false
    } else {
        return Err(DecodeError::Invalid("flags"));
    };
    // Future flags sit before the space, as in the binary form.
    s.take_till(|b| b == b' ');
    s.space()?;
    let body = base64url_decode(s.take_rest())?;
    Ok(StoredMessage {
        msg_id,
        timestamp,
        flags: MsgFlags { notification },
        body: Bytes::from(body),
    })
}
