//! Connection requests: the link one party gives another, out of band, to start a connection.
//!
//! `SCHEME/MODE#/?v=AGENT_VERSIONS&smp=QUEUE_URIS[&e2e=RATCHET_PARAMS]`, where the scheme is
//! `simplex:` or `https://HOST[:PORT]`, the mode `invitation` (a one-time link carrying the
//! inviter's X3DH keys) or `contact` (a long-term address: its keys come later, in the
//! invitation the address owner sends back), and every value is percent-encoded.
//!
//! The queue list is comma-separated. The reference splits it at every comma, so it cannot
//! read back a queue whose authority lists several hosts (the form used when the queue's
//! minimum client version is 2 or more); v3.2.0 agents never write that form. We write what
//! they write and read both: the list is split only at commas that start a new `smp://` URI.

use simplex_core::address::ServiceLocation;
use simplex_core::encoding::query::{Escaping, QueryParams};
use simplex_core::encoding::string::{Scanner, StrDecode, StrEncode};
use simplex_core::encoding::{DecodeError, NonEmpty, VersionRange};
use simplex_core::ratchet::params::E2eRatchetParamsUri;

use super::queue::SmpQueueUri;

/// The agent protocol versions this agent supports (the reference's
/// `supportedSMPAgentVRange` at v3.2.0: 1–2; version 2 is the duplex handshake).
pub const AGENT_VERSIONS: VersionRange = VersionRange::between(1, 2);

/// Where a link points before its `#`: the app's own scheme or a web page that hands the link
/// to the app.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConnReqScheme {
    /// `simplex:`
    Simplex,
    /// `https://HOST[:PORT]`
    AppServer(ServiceLocation),
}

impl ConnReqScheme {
    /// `https://simplex.chat`, the scheme the reference's apps share links with.
    pub fn simplex_chat() -> Self {
        Self::AppServer(ServiceLocation {
            host: "simplex.chat".to_owned(),
            port: String::new(),
        })
    }
}

impl StrEncode for ConnReqScheme {
    fn str_encode(&self, out: &mut Vec<u8>) {
        match self {
            Self::Simplex => out.extend_from_slice(b"simplex:"),
            Self::AppServer(location) => {
                out.extend_from_slice(b"https://");
                location.str_encode(out);
            }
        }
    }
}

impl StrDecode for ConnReqScheme {
    fn str_parse(s: &mut Scanner<'_>) -> Result<Self, DecodeError> {
        if s.eat_str(b"simplex:") {
            Ok(Self::Simplex)
        } else if s.eat_str(b"https://") {
            Ok(Self::AppServer(ServiceLocation::str_parse(s)?))
        } else {
            Err(DecodeError::Invalid("connection request scheme"))
        }
    }
}

/// What both kinds of connection request carry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnReqData {
    /// The link's scheme.
    pub scheme: ConnReqScheme,
    /// The agent protocol versions the creator supports.
    pub agent_versions: VersionRange,
    /// The queues to send the first message to (one or more).
    pub queues: NonEmpty<SmpQueueUri>,
}

/// Whether a connection request is a one-time invitation or a contact address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConnectionMode {
    /// A one-time invitation (`INV` in agent commands).
    Invitation,
    /// A long-term contact address (`CON`).
    Contact,
}

impl ConnectionMode {
    /// The word in agent commands: `INV` or `CON`.
    pub fn command_word(self) -> &'static str {
        match self {
            Self::Invitation => "INV",
            Self::Contact => "CON",
        }
    }

    /// The word in links: `invitation` or `contact`.
    fn link_word(self) -> &'static [u8] {
        match self {
            Self::Invitation => b"invitation",
            Self::Contact => b"contact",
        }
    }
}

/// A connection request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConnectionRequest {
    /// A one-time invitation, with the inviter's X3DH keys.
    Invitation {
        /// Scheme, versions, queues.
        data: ConnReqData,
        /// The inviter's ratchet parameters.
        e2e: E2eRatchetParamsUri,
    },
    /// A contact address.
    Contact {
        /// Scheme, versions, queues.
        data: ConnReqData,
    },
}

impl ConnectionRequest {
    /// Invitation or contact.
    pub fn mode(&self) -> ConnectionMode {
        match self {
            Self::Invitation { .. } => ConnectionMode::Invitation,
            Self::Contact { .. } => ConnectionMode::Contact,
        }
    }

    /// What both kinds carry.
    pub fn data(&self) -> &ConnReqData {
        match self {
            Self::Invitation { data, .. } | Self::Contact { data } => data,
        }
    }
}

impl StrEncode for ConnectionRequest {
    fn str_encode(&self, out: &mut Vec<u8>) {
        let data = self.data();
        data.scheme.str_encode(out);
        out.push(b'/');
        out.extend_from_slice(self.mode().link_word());
        out.extend_from_slice(b"#/?");
        let mut params = vec![
            (b"v".to_vec(), data.agent_versions.to_str_bytes()),
            (b"smp".to_vec(), data.queues.to_str_bytes()),
        ];
        if let Self::Invitation { e2e, .. } = self {
            params.push((b"e2e".to_vec(), e2e.to_str_bytes()));
        }
        QueryParams {
            escaping: Escaping::Escape,
            params,
        }
        .str_encode(out)
    }
}

impl StrDecode for ConnectionRequest {
    fn str_parse(s: &mut Scanner<'_>) -> Result<Self, DecodeError> {
        let scheme = ConnReqScheme::str_parse(s)?;
        s.expect(b'/', "connection request")?;
        let mode = if s.eat_str(ConnectionMode::Invitation.link_word()) {
            ConnectionMode::Invitation
        } else if s.eat_str(ConnectionMode::Contact.link_word()) {
            ConnectionMode::Contact
        } else {
            return Err(DecodeError::Invalid("connection request mode"));
        };
        s.eat(b'/');
        s.expect_str(b"#/?", "connection request")?;
        let query = QueryParams::str_parse(s)?;
        let data = ConnReqData {
            scheme,
            agent_versions: query.param(b"v")?,
            queues: queue_list(
                query
                    .get(b"smp")
                    .ok_or(DecodeError::Invalid("missing smp parameter"))?,
            )?,
        };
        Ok(match mode {
            ConnectionMode::Invitation => Self::Invitation {
                data,
                e2e: query.param(b"e2e")?,
            },
            ConnectionMode::Contact => Self::Contact { data },
        })
    }
}

/// Splits the `smp=` value at the commas that start another queue URI, and reads each.
fn queue_list(text: &[u8]) -> Result<NonEmpty<SmpQueueUri>, DecodeError> {
    let mut queues = Vec::new();
    let mut start = 0;
    for (i, &b) in text.iter().enumerate() {
        if b == b',' && text[i + 1..].starts_with(b"smp://") {
            queues.push(SmpQueueUri::str_decode(&text[start..i])?);
            start = i + 1;
        }
    }
    queues.push(SmpQueueUri::str_decode(&text[start..])?);
    NonEmpty::new(queues).ok_or(DecodeError::Invalid("queue list"))
}
