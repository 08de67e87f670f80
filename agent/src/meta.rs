//! What the agent tells its users about messages and connections, in the text forms of the
//! agent's TCP protocol: the integrity verdict and metadata of a received message (`MSG`), the
//! servers of a connection (`STAT`), and the words for notification modes, queue states and
//! connection modes. Their JSON forms are in [`crate::json`].

use simplex_core::address::ServerAddress;
use simplex_core::encoding::string::base64_encode;
use simplex_core::encoding::string::{str_encode_list, Scanner, StrDecode, StrEncode};
use simplex_core::encoding::{DecodeError, UtcTime};

use crate::protocol::ConnectionMode;

/// An agent message id: the internal id of a message in a connection (`MID`, `SENT`, `ACK`,
/// the recipient id in `MSG`) or the sender's id carried inside the message.
pub type AgentMsgId = i64;

/// Why a received message failed the integrity check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MsgErrorType {
    /// Messages between the previous one and this one are missing: sender ids `from` to `to`.
    Skipped {
        /// The first missing sender id.
        from: AgentMsgId,
        /// The last missing sender id.
        to: AgentMsgId,
    },
    /// The sender id is not above the previous message's (and not a repeat of it).
    BadId(AgentMsgId),
    /// The previous-message hash does not match the previous message.
    BadHash,
    /// The message repeats the previous one's sender id and hash.
    Duplicate,
}

/// The integrity verdict on a received message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MsgIntegrity {
    /// It follows the previous message.
    Ok,
    /// It does not, for this reason.
    Error(MsgErrorType),
}

/// The text forms, as in `MSG`: `OK`, `ERR ID n`, `ERR IDS from to`, `ERR HASH`, `ERR DUPLICATE`.
///
/// These are the forms the v3.2.0 parser reads. The v3.2.0 printer writes them with no space
/// after `ERR` and skipped ids as `NO_ID from to` (`ERRNO_ID 1 2`, `ERRHASH`), which its own
/// parser cannot read; later versions write `ERR NO_ID from to`. We read all of these.
impl StrEncode for MsgIntegrity {
    fn str_encode(&self, out: &mut Vec<u8>) {
        let text = match self {
            Self::Ok => "OK".to_owned(),
            Self::Error(MsgErrorType::Skipped { from, to }) => format!("ERR IDS {from} {to}"),
            Self::Error(MsgErrorType::BadId(id)) => format!("ERR ID {id}"),
            Self::Error(MsgErrorType::BadHash) => "ERR HASH".to_owned(),
            Self::Error(MsgErrorType::Duplicate) => "ERR DUPLICATE".to_owned(),
        };
        out.extend_from_slice(text.as_bytes())
    }
}

impl StrDecode for MsgIntegrity {
    fn str_parse(s: &mut Scanner<'_>) -> Result<Self, DecodeError> {
        if s.eat_str(b"OK") {
            return Ok(Self::Ok);
        }
        s.expect_str(b"ERR", "message integrity")?;
        s.eat(b' ');
        let error = if s.eat_str(b"IDS ") || s.eat_str(b"NO_ID ") {
            let from = s.signed_decimal()?;
            s.space()?;
            MsgErrorType::Skipped {
                from,
                to: s.signed_decimal()?,
            }
        } else if s.eat_str(b"ID ") {
            MsgErrorType::BadId(s.signed_decimal()?)
        } else if s.eat_str(b"HASH") {
            MsgErrorType::BadHash
        } else if s.eat_str(b"DUPLICATE") {
            MsgErrorType::Duplicate
        } else {
            return Err(DecodeError::Invalid("message integrity error"));
        };
        Ok(Self::Error(error))
    }
}

/// A time as `MSG` writes it: ISO 8601 with exactly three fraction digits (truncated), `Z`.
fn encode_millis(time: &UtcTime, out: &mut Vec<u8>) {
    let whole = UtcTime {
        seconds: time.seconds,
        nanoseconds: 0,
    };
    let mut text = whole.to_str_bytes();
    // The whole-second form ends in `Z`; the milliseconds go before it.
    text.pop();
    out.extend_from_slice(&text);
    out.extend_from_slice(format!(".{:03}Z", time.nanoseconds / 1_000_000).as_bytes());
}

/// Reads a time up to the next space.
fn parse_time(s: &mut Scanner<'_>) -> Result<UtcTime, DecodeError> {
    UtcTime::str_decode(s.take_till(|b| b == b' ' || b == b'\n'))
}

/// What `MSG` says about a received message besides its flags and body.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MsgMeta {
    /// The integrity verdict.
    pub integrity: MsgIntegrity,
    /// The message's internal id in the connection (the id to `ACK`).
    pub rcv_id: AgentMsgId,
    /// When the agent received it.
    pub rcv_time: UtcTime,
    /// The SMP server's message id.
    pub broker_id: Vec<u8>,
    /// When the SMP server received it.
    pub broker_time: UtcTime,
    /// The sender's id for it.
    pub snd_id: AgentMsgId,
}

/// `INTEGRITY R=rcv_id,rcv_time B=broker_id,broker_time S=snd_id`, the broker id in standard
/// base64 and the times with milliseconds (so finer times do not survive the text form).
impl StrEncode for MsgMeta {
    fn str_encode(&self, out: &mut Vec<u8>) {
        self.integrity.str_encode(out);
        out.extend_from_slice(format!(" R={},", self.rcv_id).as_bytes());
        encode_millis(&self.rcv_time, out);
        out.extend_from_slice(b" B=");
        out.extend_from_slice(base64_encode(&self.broker_id).as_bytes());
        out.push(b',');
        encode_millis(&self.broker_time, out);
        out.extend_from_slice(format!(" S={}", self.snd_id).as_bytes());
    }
}

impl StrDecode for MsgMeta {
    fn str_parse(s: &mut Scanner<'_>) -> Result<Self, DecodeError> {
        let integrity = MsgIntegrity::str_parse(s)?;
        s.expect_str(b" R=", "message meta")?;
        let rcv_id = s.signed_decimal()?;
        s.expect(b',', "message meta")?;
        let rcv_time = parse_time(s)?;
        s.expect_str(b" B=", "message meta")?;
        let broker_id = s.base64()?;
        s.expect(b',', "message meta")?;
        let broker_time = parse_time(s)?;
        s.expect_str(b" S=", "message meta")?;
        Ok(Self {
            integrity,
            rcv_id,
            rcv_time,
            broker_id,
            broker_time,
            snd_id: s.signed_decimal()?,
        })
    }
}

/// The servers of a connection's queues (`STAT`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct ConnectionStats {
    /// The servers of the queues this side receives from.
    pub rcv_servers: Vec<ServerAddress>,
    /// The servers of the queues this side sends to.
    pub snd_servers: Vec<ServerAddress>,
}

/// Writes a comma-separated server list (each server in its full, multi-host form).
fn encode_servers(servers: &[ServerAddress], out: &mut Vec<u8>) {
    str_encode_list(servers, out)
}

/// Reads a possibly empty server list up to the next space. The reference splits it at every
/// comma and so cannot read back a server with several hosts; we split only at commas that
/// start another server address.
pub(crate) fn parse_servers(s: &mut Scanner<'_>) -> Result<Vec<ServerAddress>, DecodeError> {
    let text = s.take_till(|b| b == b' ' || b == b'\n');
    let mut servers = Vec::new();
    if text.is_empty() {
        return Ok(servers);
    }
    let mut start = 0;
    for (i, &b) in text.iter().enumerate() {
        let rest = &text[i + 1..];
        if b == b',' && (rest.starts_with(b"smp://") || rest.starts_with(b"ntf://")) {
            servers.push(ServerAddress::str_decode(&text[start..i])?);
            start = i + 1;
        }
    }
    servers.push(ServerAddress::str_decode(&text[start..])?);
    Ok(servers)
}

/// `rcv=SERVERS snd=SERVERS`.
impl StrEncode for ConnectionStats {
    fn str_encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"rcv=");
        encode_servers(&self.rcv_servers, out);
        out.extend_from_slice(b" snd=");
        encode_servers(&self.snd_servers, out);
    }
}

impl StrDecode for ConnectionStats {
    fn str_parse(s: &mut Scanner<'_>) -> Result<Self, DecodeError> {
        s.expect_str(b"rcv=", "connection stats")?;
        let rcv_servers = parse_servers(s)?;
        s.expect_str(b" snd=", "connection stats")?;
        Ok(Self {
            rcv_servers,
            snd_servers: parse_servers(s)?,
        })
    }
}

/// How the user's device learns of new messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NotificationsMode {
    /// The app checks periodically (`PERIODIC`).
    Periodic,
    /// A push notification per message (`INSTANT`).
    Instant,
}

impl NotificationsMode {
    /// The word: `PERIODIC` or `INSTANT`.
    pub fn word(self) -> &'static str {
        match self {
            Self::Periodic => "PERIODIC",
            Self::Instant => "INSTANT",
        }
    }

    /// The mode named `word`.
    pub fn from_word(word: &str) -> Option<Self> {
        match word {
            "PERIODIC" => Some(Self::Periodic),
            "INSTANT" => Some(Self::Instant),
            _ => None,
        }
    }
}

impl StrEncode for NotificationsMode {
    fn str_encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.word().as_bytes())
    }
}

impl StrDecode for NotificationsMode {
    fn str_parse(s: &mut Scanner<'_>) -> Result<Self, DecodeError> {
        let word = std::str::from_utf8(s.take_till(|b| b == b' ')).unwrap_or_default();
        Self::from_word(word).ok_or(DecodeError::Invalid("notifications mode"))
    }
}

/// Where one of a connection's queues is in the handshake (the reference's `QueueStatus`), as
/// the store records it and `STAT` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum QueueStatus {
    /// Created (`new`).
    New,
    /// The sender's confirmation arrived, or was sent (`confirmed`).
    Confirmed,
    /// The recipient secured it with the sender's key (`secured`; recipient side only).
    Secured,
    /// In use (`active`).
    Active,
    /// Turned off by the recipient (`disabled`; recipient side only).
    Disabled,
}

impl QueueStatus {
    /// The word the store writes: `new`, `confirmed`, `secured`, `active`, `disabled`.
    pub fn word(self) -> &'static str {
        match self {
            Self::New => "new",
            Self::Confirmed => "confirmed",
            Self::Secured => "secured",
            Self::Active => "active",
            Self::Disabled => "disabled",
        }
    }

    /// The status named `word`.
    pub fn from_word(word: &str) -> Option<Self> {
        [
            Self::New,
            Self::Confirmed,
            Self::Secured,
            Self::Active,
            Self::Disabled,
        ]
        .into_iter()
        .find(|status| status.word() == word)
    }
}

/// `INV` or `CON`, as in `NEW INV`.
impl StrEncode for ConnectionMode {
    fn str_encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.command_word().as_bytes())
    }
}

impl StrDecode for ConnectionMode {
    fn str_parse(s: &mut Scanner<'_>) -> Result<Self, DecodeError> {
        if s.eat_str(b"INV") {
            Ok(Self::Invitation)
        } else if s.eat_str(b"CON") {
            Ok(Self::Contact)
        } else {
            Err(DecodeError::Invalid("connection mode"))
        }
    }
}
