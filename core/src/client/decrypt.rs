//! Opening what the server encrypts for a recipient: delivered message bodies (`MSG`) and
//! notification metadata (`NMSG`).
//!
//! A `MSG` body is a crypto_box under the queue's body key (server DH key × recipient DH key)
//! with the message id as the nonce. From v3 the padded plaintext is
//! `timestamp ‖ flags ‖ ' ' ‖ body`; in v1 and v2 it is the body alone and the timestamp and
//! flags travel in clear in the `MSG` itself. `NMSG` metadata is a crypto_box under the
//! notification key with the nonce carried alongside; its plaintext is `msgId ‖ timestamp`,
//! anything after which is ignored (room for extensions).

use bytes::Bytes;

use crate::crypto::cbox::{CbKey, CbNonce};
use crate::crypto::CryptoError;
use crate::encoding::{Decode, DecodeError, Reader, Tail, UnixTime, Version};
use crate::protocol::{MsgFlags, MsgId, RcvMessage};

/// A delivered message, opened.
#[derive(Clone, PartialEq, Eq)]
pub struct ReceivedMessage {
    /// The server's id for the message (acknowledge with it).
    pub msg_id: MsgId,
    /// When the server received it.
    pub timestamp: UnixTime,
    /// The sender's flags.
    pub flags: MsgFlags,
    /// The body as the sender sent it.
    pub body: Bytes,
}

impl std::fmt::Debug for ReceivedMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReceivedMessage")
            .field("msg_id", &self.msg_id)
            .field("timestamp", &self.timestamp)
            .field("flags", &self.flags)
            .field("body_len", &self.body.len())
            .finish()
    }
}

/// Notification metadata, opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationMeta {
    /// The id of the message the notification is about.
    pub msg_id: MsgId,
    /// When the server received it.
    pub timestamp: UnixTime,
}

/// Why something the server encrypted could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecryptError {
    /// The crypto_box did not open (wrong key, corrupted) or its padding was wrong.
    #[error("decryption failed: {0}")]
    Crypto(#[from] CryptoError),
    /// The plaintext did not parse.
    #[error("the decrypted content does not parse: {0}")]
    Parse(#[from] DecodeError),
}

/// Opens a delivered message's body for protocol `version` with the queue's body key.
pub fn decrypt_message(
    version: Version,
    key: &CbKey,
    msg: &RcvMessage,
) -> Result<ReceivedMessage, DecryptError> {
    let nonce = CbNonce::from_slice_padded(msg.msg_id.as_bytes());
    let plain = key.decrypt(&nonce, &msg.encrypted_body)?;
    if version <= 2 {
        return Ok(ReceivedMessage {
            msg_id: msg.msg_id.clone(),
            timestamp: msg.timestamp,
            flags: msg.flags,
            body: Bytes::from(plain),
        });
    }
    let mut r = Reader::new(plain);
    let timestamp = UnixTime::decode(&mut r)?;
    let flags = MsgFlags::decode(&mut r)?;
    r.expect_byte(b' ', "space")?;
    let body = Tail::decode(&mut r)?.0;
    Ok(ReceivedMessage {
        msg_id: msg.msg_id.clone(),
        timestamp,
        flags,
        body,
    })
}

/// Opens `NMSG` metadata with the queue's notification key (recipient's notification DH key ×
/// the server's, from `NID`).
pub fn decrypt_notification(
    key: &CbKey,
    nonce: &CbNonce,
    encrypted_meta: &[u8],
) -> Result<NotificationMeta, DecryptError> {
    let plain = key.decrypt(nonce, encrypted_meta)?;
    parse_notification_meta(&plain)
}

/// Parses notification metadata: `msgId ‖ timestamp`, trailing bytes ignored.
pub fn parse_notification_meta(plain: &[u8]) -> Result<NotificationMeta, DecryptError> {
    let mut r = Reader::from_slice(plain);
    let msg_id = MsgId::decode(&mut r)?;
    let timestamp = UnixTime::decode(&mut r)?;
    Ok(NotificationMeta { msg_id, timestamp })
}
