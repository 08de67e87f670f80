//! WebSocket (RFC 6455) as a sans-IO layer inside TLS, for the SMP transport's WebSocket
//! framing: the HTTP/1.1 upgrade, then each 16384-byte block as one binary message.
//!
//! [`WsEndpoint`] is one end (server or client) as a machine: feed it the bytes TLS decrypted
//! ([`WsEndpoint::receive`]), give it messages to send ([`WsEndpoint::send_binary`]), and take
//! out bytes for TLS ([`WsEndpoint::poll_transmit`]) and what happened
//! ([`WsEndpoint::poll_event`]). Pings are answered and a peer's close is echoed inside the
//! machine. The pieces it is built from — the upgrade heads ([`upgrade`]) and single frames
//! ([`frame`]) — are public for tests and fuzzing. See `spec/websockets.md`.

mod endpoint;
pub mod frame;
pub mod upgrade;

pub use endpoint::{WsEndpoint, WsEvent, WsLimits, WsRng};

/// The payload of one frame, at most (the reference's limit: one block fits in one frame).
pub const MAX_FRAME_PAYLOAD: usize = 16 * 1024;
/// A whole message (all its fragments), at most (the reference's limit).
pub const MAX_MESSAGE: usize = 64 * 1024;

/// Close status codes this layer sends (RFC 6455 §7.4.1).
pub mod close_code {
    /// The purpose of the connection was fulfilled.
    pub const NORMAL: u16 = 1000;
    /// The peer broke the framing rules.
    pub const PROTOCOL_ERROR: u16 = 1002;
    /// A message of a kind or size this end does not take.
    pub const UNSUPPORTED_DATA: u16 = 1003;
    /// A message too big to process.
    pub const TOO_BIG: u16 = 1009;
}

/// Why the upgrade failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UpgradeError {
    /// The head is not lines of `name: value` after a three-part first line (or not UTF-8).
    #[error("malformed HTTP head")]
    Malformed,
    /// The head did not end within the size limit.
    #[error("HTTP head too long")]
    HeadTooLong,
    /// Too many header lines.
    #[error("too many HTTP headers")]
    TooManyHeaders,
    /// The request method is not `GET`.
    #[error("not a GET request")]
    NotGet,
    /// Not HTTP/1.1.
    #[error("HTTP version not supported")]
    HttpVersion,
    /// `Upgrade: websocket` and `Connection: Upgrade` are not both there.
    #[error("not a WebSocket upgrade")]
    NotUpgrade,
    /// `Sec-WebSocket-Version` is not 13.
    #[error("WebSocket version not supported")]
    WebSocketVersion,
    /// `Sec-WebSocket-Key` is missing or not 16 bytes in base64.
    #[error("bad Sec-WebSocket-Key")]
    Key,
    /// The server did not answer `101`.
    #[error("the server refused the upgrade")]
    Status,
    /// `Sec-WebSocket-Accept` does not match the key sent.
    #[error("bad Sec-WebSocket-Accept")]
    Accept,
    /// The server chose an extension or subprotocol that was not offered.
    #[error("unrequested extension or subprotocol")]
    Unrequested,
}

/// Why the peer's frames were refused (each closes the WebSocket).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WsError {
    /// The upgrade failed.
    #[error("upgrade: {0}")]
    Upgrade(#[from] UpgradeError),
    /// A reserved header bit was set (no extension was negotiated).
    #[error("reserved bits set")]
    ReservedBits,
    /// A reserved opcode.
    #[error("unknown opcode {0}")]
    UnknownOpcode(u8),
    /// A control frame with FIN clear.
    #[error("fragmented control frame")]
    FragmentedControl,
    /// A control frame longer than 125 bytes.
    #[error("control frame too long")]
    ControlTooLong,
    /// A frame payload over the limit.
    #[error("frame too large")]
    FrameTooLarge,
    /// A message (all fragments) over the limit.
    #[error("message too large")]
    MessageTooLarge,
    /// A client frame without a mask, or a server frame with one.
    #[error("wrong masking for the sender's role")]
    Masking,
    /// A continuation with no message begun, or a new message before the last one ended.
    #[error("bad fragment sequence")]
    Fragmentation,
    /// A close frame with a 1-byte payload, a reserved status code or a reason not in UTF-8.
    #[error("bad close frame")]
    BadClose,
}

impl WsError {
    /// The status code a close frame sent for this error carries.
    pub fn close_code(self) -> u16 {
        match self {
            WsError::FrameTooLarge | WsError::MessageTooLarge => close_code::TOO_BIG,
            _ => close_code::PROTOCOL_ERROR,
        }
    }
}
