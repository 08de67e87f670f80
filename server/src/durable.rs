//! Durable messages (beyond the reference): a message journal.
//!
//! With [`crate::ServerConfig::durable_messages`] the machine emits a
//! [`crate::ServerOutput::Journal`] record for every message it accepts and every message it
//! removes, *before* the answer that depends on it. A shell that appends each record to the
//! journal file and syncs it before transmitting the following outputs loses no message it
//! answered `OK` to, even on `kill -9`. At start the journal is replayed
//! ([`replay`]) and the surviving messages are given to the machine; the shell then rewrites
//! the journal as just those messages (compaction). A record the shell cannot commit stops
//! the answers after it ([`crate::driver::ServerDriver::withhold_uncommitted`]): their
//! connections are closed instead of told `OK`.
//!
//! ```text
//! v3 <recipient id> <msg id> <unix seconds> flags=<T|F> <body>   a message accepted
//! ACK <recipient id> <msg id>                                    a message removed
//! DEL <recipient id>                                             a queue and its messages removed
//! ```
//!
//! A torn last line (no newline) is ignored, as in the store log.

use std::collections::{BTreeMap, VecDeque};

use simplex_core::encoding::string::{base64url_encode, Scanner};
use simplex_core::encoding::DecodeError;
use simplex_core::protocol::{EntityId, MsgId};

use crate::msg_log::{self, SavedMessageLine, StoredMessage};

/// One journal record. `Debug` names the kind only.
#[derive(Clone, PartialEq, Eq)]
pub enum JournalRecord {
    /// A message was accepted.
    Message {
        /// The queue.
        recipient_id: EntityId,
        /// The message.
        message: StoredMessage,
    },
    /// A message was removed (acknowledged or expired).
    Remove {
        /// The queue.
        recipient_id: EntityId,
        /// The message.
        msg_id: MsgId,
    },
    /// A queue was deleted with its messages.
    DeleteQueue {
        /// The queue.
        recipient_id: EntityId,
    },
}

impl std::fmt::Debug for JournalRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Message { .. } => "Message",
            Self::Remove { .. } => "Remove",
            Self::DeleteQueue { .. } => "DeleteQueue",
        })
    }
}

impl JournalRecord {
    /// The record's line (without newline).
    pub fn to_line(&self) -> String {
        match self {
            Self::Message {
                recipient_id,
                message,
            } => msg_log::encode_line(recipient_id, message),
            Self::Remove {
                recipient_id,
                msg_id,
            } => format!(
                "ACK {} {}",
                base64url_encode(recipient_id.as_bytes()),
                base64url_encode(msg_id.as_bytes())
            ),
            Self::DeleteQueue { recipient_id } => {
                format!("DEL {}", base64url_encode(recipient_id.as_bytes()))
            }
        }
    }

    /// Parses a line.
    pub fn parse_line(line: &[u8]) -> Result<Self, DecodeError> {
        let mut s = Scanner::new(line);
        let id = |s: &mut Scanner<'_>| {
            EntityId::new(s.base64url()?).map_err(|_| DecodeError::Invalid("id"))
        };
        if s.eat_str(b"ACK ") {
            let recipient_id = id(&mut s)?;
            s.space()?;
            let msg_id = MsgId::new(s.base64url()?).map_err(|_| DecodeError::Invalid("id"))?;
            s.finish()?;
            Ok(Self::Remove {
                recipient_id,
                msg_id,
            })
        } else if s.eat_str(b"DEL ") {
            let recipient_id = id(&mut s)?;
            s.finish()?;
            Ok(Self::DeleteQueue { recipient_id })
        } else {
            match msg_log::parse_line(line)? {
                SavedMessageLine::V3 {
                    recipient_id,
                    message,
                } => Ok(Self::Message {
                    recipient_id,
                    message,
                }),
                SavedMessageLine::V1 { .. } => Err(DecodeError::Invalid("journal record")),
            }
        }
    }
}

/// Replays a journal: the messages still held, per queue, in order.
pub fn replay(text: &[u8]) -> BTreeMap<EntityId, VecDeque<StoredMessage>> {
    let mut queues: BTreeMap<EntityId, VecDeque<StoredMessage>> = BTreeMap::new();
    let mut rest = text;
    while let Some(i) = rest.iter().position(|&b| b == b'\n') {
        let line = &rest[..i];
        rest = &rest[i + 1..];
        match JournalRecord::parse_line(line) {
            Ok(JournalRecord::Message {
                recipient_id,
                message,
            }) => queues.entry(recipient_id).or_default().push_back(message),
            Ok(JournalRecord::Remove {
                recipient_id,
                msg_id,
            }) => {
                if let Some(q) = queues.get_mut(&recipient_id) {
                    if let Some(pos) = q.iter().position(|m| m.msg_id == msg_id) {
                        q.remove(pos);
                    }
                }
            }
            Ok(JournalRecord::DeleteQueue { recipient_id }) => {
                queues.remove(&recipient_id);
            }
            Err(_) => {}
        }
    }
    queues.retain(|_, q| !q.is_empty());
    queues
}

/// The compacted journal: one message line per held message.
pub fn compact(queues: &BTreeMap<EntityId, VecDeque<StoredMessage>>) -> String {
    let mut out = String::new();
    for (rid, msgs) in queues {
        for m in msgs {
            out.push_str(&msg_log::encode_line(rid, m));
            out.push('\n');
        }
    }
    out
}
