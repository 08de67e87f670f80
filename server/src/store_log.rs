//! The store log: one text line per queue change, in the reference's format, so an operator
//! can move a reference server's `smp-server-store.log` to ours and back.
//!
//! ```text
//! CREATE rid=<id> rk=<key> rdh=<secret> sid=<id> sk=[<key>][ notifier=<id> <key> <secret>]
//! SECURE <rid> <sender key>
//! NOTIFIER <rid> <notifier id> <notifier key> <ntf secret>
//! NDELETE <rid>
//! DELETE <rid>
//! ```
//!
//! Ids, secrets and keys are base64url with padding (keys as DER). At start the log is read,
//! folded into the live queues and rewritten as one `CREATE` per queue (compaction). A last
//! line without its newline is a torn write and is ignored; any other line that does not parse
//! is counted and skipped, as the reference does.

use std::collections::BTreeMap;

use simplex_core::crypto::keys::VerifyKey;
use simplex_core::crypto::x25519::SharedSecret;
use simplex_core::encoding::string::{base64url_encode, Scanner, StrDecode};
use simplex_core::encoding::DecodeError;
use simplex_core::protocol::EntityId;

use crate::queue::{NtfCreds, QueueRec, QueueStatus};
use crate::ID_LEN;

/// One store-log record. `Debug` names the kind only: ids and keys identify a queue.
#[derive(Clone, PartialEq, Eq)]
pub enum StoreLogRecord {
    /// A new queue (also the compacted form of a live queue).
    CreateQueue(Box<QueueRec>),
    /// `KEY`: the queue got its sender key.
    SecureQueue {
        /// The queue.
        recipient_id: EntityId,
        /// The sender's key.
        sender_key: VerifyKey,
    },
    /// `NKEY`: notifications enabled.
    AddNotifier {
        /// The queue.
        recipient_id: EntityId,
        /// The credentials.
        creds: NtfCreds,
    },
    /// `DEL`, and (as the reference) `OFF`.
    DeleteQueue {
        /// The queue.
        recipient_id: EntityId,
    },
    /// `NDEL`.
    DeleteNotifier {
        /// The queue.
        recipient_id: EntityId,
    },
}

impl std::fmt::Debug for StoreLogRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::CreateQueue(_) => "CreateQueue",
            Self::SecureQueue { .. } => "SecureQueue",
            Self::AddNotifier { .. } => "AddNotifier",
            Self::DeleteQueue { .. } => "DeleteQueue",
            Self::DeleteNotifier { .. } => "DeleteNotifier",
        })
    }
}

fn push_id(out: &mut String, id: &EntityId) {
    out.push_str(&base64url_encode(id.as_bytes()));
}

fn push_secret(out: &mut String, s: &SharedSecret) {
    out.push_str(&base64url_encode(s.as_secret().expose()));
}

fn push_creds(out: &mut String, n: &NtfCreds) {
    push_id(out, &n.notifier_id);
    out.push(' ');
    out.push_str(&n.notifier_key.to_base64url());
    out.push(' ');
    push_secret(out, &n.ntf_dh_secret);
}

impl StoreLogRecord {
    /// The record's line, without the newline.
    pub fn to_line(&self) -> String {
        let mut out = String::new();
        match self {
            Self::CreateQueue(q) => {
                out.push_str("CREATE rid=");
                push_id(&mut out, &q.recipient_id);
                out.push_str(" rk=");
                out.push_str(&q.recipient_key.to_base64url());
                out.push_str(" rdh=");
                push_secret(&mut out, &q.rcv_dh_secret);
                out.push_str(" sid=");
                push_id(&mut out, &q.sender_id);
                out.push_str(" sk=");
                if let Some(k) = &q.sender_key {
                    out.push_str(&k.to_base64url());
                }
                if let Some(n) = &q.notifier {
                    out.push_str(" notifier=");
                    push_creds(&mut out, n);
                }
            }
            Self::SecureQueue {
                recipient_id,
                sender_key,
            } => {
                out.push_str("SECURE ");
                push_id(&mut out, recipient_id);
                out.push(' ');
                out.push_str(&sender_key.to_base64url());
            }
            Self::AddNotifier {
                recipient_id,
                creds,
            } => {
                out.push_str("NOTIFIER ");
                push_id(&mut out, recipient_id);
                out.push(' ');
                push_creds(&mut out, creds);
            }
            Self::DeleteQueue { recipient_id } => {
                out.push_str("DELETE ");
                push_id(&mut out, recipient_id);
            }
            Self::DeleteNotifier { recipient_id } => {
                out.push_str("NDELETE ");
                push_id(&mut out, recipient_id);
            }
        }
        out
    }

    /// Parses one line (without its newline; a trailing `\r` is ignored).
    pub fn parse_line(line: &[u8]) -> Result<Self, DecodeError> {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let mut s = Scanner::new(line);
        let record = if s.eat_str(b"CREATE ") {
            Self::CreateQueue(Box::new(parse_queue(&mut s)?))
        } else if s.eat_str(b"SECURE ") {
            let recipient_id = id(&mut s)?;
            s.space()?;
            Self::SecureQueue {
                recipient_id,
                sender_key: key(&mut s)?,
            }
        } else if s.eat_str(b"NOTIFIER ") {
            let recipient_id = id(&mut s)?;
            s.space()?;
            Self::AddNotifier {
                recipient_id,
                creds: creds(&mut s)?,
            }
        } else if s.eat_str(b"DELETE ") {
            Self::DeleteQueue {
                recipient_id: id(&mut s)?,
            }
        } else if s.eat_str(b"NDELETE ") {
            Self::DeleteNotifier {
                recipient_id: id(&mut s)?,
            }
        } else {
            return Err(DecodeError::Invalid("store log record"));
        };
        s.finish()?;
        Ok(record)
    }
}

/// Queue ids are 24 bytes (the only ids a server makes, and the only ones the queue store
/// keeps): a line with another length is a bad line.
fn id(s: &mut Scanner<'_>) -> Result<EntityId, DecodeError> {
    let raw = s.base64url()?;
    if raw.len() != ID_LEN {
        return Err(DecodeError::Invalid("id"));
    }
    EntityId::new(raw).map_err(|_| DecodeError::Invalid("id"))
}

fn key(s: &mut Scanner<'_>) -> Result<VerifyKey, DecodeError> {
    let text = s.take_till(|b| b == b' ');
    let text = std::str::from_utf8(text).map_err(|_| DecodeError::Invalid("key"))?;
    VerifyKey::from_base64url(text).map_err(|_| DecodeError::Invalid("key"))
}

fn secret(s: &mut Scanner<'_>) -> Result<SharedSecret, DecodeError> {
    let raw = Vec::<u8>::str_parse(s)?;
    let raw: [u8; 32] = raw
        .as_slice()
        .try_into()
        .map_err(|_| DecodeError::Invalid("DH secret"))?;
    Ok(SharedSecret::from_bytes(&raw))
}

fn creds(s: &mut Scanner<'_>) -> Result<NtfCreds, DecodeError> {
    let notifier_id = id(s)?;
    s.space()?;
    let notifier_key = key(s)?;
    s.space()?;
    Ok(NtfCreds {
        notifier_id,
        notifier_key,
        ntf_dh_secret: secret(s)?,
    })
}

fn parse_queue(s: &mut Scanner<'_>) -> Result<QueueRec, DecodeError> {
    s.expect_str(b"rid=", "rid=")?;
    let recipient_id = id(s)?;
    s.expect_str(b" rk=", "rk=")?;
    let recipient_key = key(s)?;
    s.expect_str(b" rdh=", "rdh=")?;
    let rcv_dh_secret = secret(s)?;
    s.expect_str(b" sid=", "sid=")?;
    let sender_id = id(s)?;
    s.expect_str(b" sk=", "sk=")?;
    let sender_key = match s.peek() {
        None | Some(b' ') => None,
        Some(_) => Some(key(s)?),
    };
    let notifier = if s.eat_str(b" notifier=") {
        Some(creds(s)?)
    } else {
        None
    };
    Ok(QueueRec {
        recipient_id,
        recipient_key,
        rcv_dh_secret,
        sender_id,
        sender_key,
        notifier,
        status: QueueStatus::Active,
    })
}

/// What reading a store log gave.
#[derive(Debug, Default)]
pub struct StoreLogContents {
    /// The live queues, by recipient id.
    pub queues: BTreeMap<EntityId, QueueRec>,
    /// Lines that did not parse (skipped).
    pub bad_lines: usize,
    /// Whether the last line had no newline (a torn write; ignored).
    pub torn_tail: bool,
}

/// Reads a whole store log and folds its records into the live queues.
pub fn read_store_log(text: &[u8]) -> StoreLogContents {
    let mut out = StoreLogContents::default();
    let mut rest = text;
    while !rest.is_empty() {
        let (line, next) = match rest.iter().position(|&b| b == b'\n') {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => {
                out.torn_tail = true;
                break;
            }
        };
        rest = next;
        if line.is_empty() || line == b"\r" {
            continue;
        }
        match StoreLogRecord::parse_line(line) {
            Ok(record) => apply(&mut out.queues, record),
            Err(_) => out.bad_lines += 1,
        }
    }
    out
}

/// Applies one record to a set of queues (the reference's fold: records about unknown queues
/// change nothing).
pub fn apply(queues: &mut BTreeMap<EntityId, QueueRec>, record: StoreLogRecord) {
    match record {
        StoreLogRecord::CreateQueue(q) => {
            queues.insert(q.recipient_id.clone(), *q);
        }
        StoreLogRecord::SecureQueue {
            recipient_id,
            sender_key,
        } => {
            if let Some(q) = queues.get_mut(&recipient_id) {
                q.sender_key = Some(sender_key);
            }
        }
        StoreLogRecord::AddNotifier {
            recipient_id,
            creds,
        } => {
            if let Some(q) = queues.get_mut(&recipient_id) {
                q.notifier = Some(creds);
            }
        }
        StoreLogRecord::DeleteQueue { recipient_id } => {
            queues.remove(&recipient_id);
        }
        StoreLogRecord::DeleteNotifier { recipient_id } => {
            if let Some(q) = queues.get_mut(&recipient_id) {
                q.notifier = None;
            }
        }
    }
}

/// The compacted log: one `CREATE` line (with its newline) per queue, in id order.
pub fn compact<'a>(queues: impl IntoIterator<Item = &'a QueueRec>) -> String {
    let mut out = String::new();
    for q in queues {
        out.push_str(&StoreLogRecord::CreateQueue(Box::new(q.clone())).to_line());
        out.push('\n');
    }
    out
}
