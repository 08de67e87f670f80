//! One end of a WebSocket as a machine: the upgrade, then frames both ways.

use std::collections::VecDeque;

use bytes::BytesMut;

use super::frame::{apply_mask, decode_header, encode_frame, Opcode};
use super::upgrade::{
    accept_response, check_response, client_request, head_end, parse_request, refusal_response,
};
use super::{UpgradeError, WsError, MAX_FRAME_PAYLOAD, MAX_MESSAGE};

/// Randomness for a client's key and mask keys (seeded in tests).
pub type WsRng = Box<dyn crate::crypto::CryptoRng + Send>;

/// Size limits on what the peer sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WsLimits {
    /// The payload of one frame, at most.
    pub max_frame_payload: usize,
    /// A whole message, at most.
    pub max_message: usize,
}

impl Default for WsLimits {
    fn default() -> Self {
        Self {
            max_frame_payload: MAX_FRAME_PAYLOAD,
            max_message: MAX_MESSAGE,
        }
    }
}

/// What happened on the WebSocket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WsEvent {
    /// The upgrade completed: messages can flow.
    Open,
    /// A whole message arrived (binary, or text taken as bytes as the reference does).
    Message(Vec<u8>),
    /// The peer closed (with this status code, if it gave one); the close was answered. Nothing
    /// more comes out.
    PeerClosed(Option<u16>),
    /// The peer broke the rules; a close frame (or a `400` during the upgrade) was queued when
    /// the protocol has one. Nothing more comes out.
    Failed(WsError),
}

/// Who this end is, with what only that side needs.
enum Side {
    Server,
    Client {
        rng: WsRng,
        /// The `Sec-WebSocket-Accept` the server must answer with.
        expected_accept: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// The server waits for the request; the client for the response.
    Upgrade,
    /// Messages flow.
    Open,
    /// This end sent a close; the peer's frames are read for its close only.
    CloseSent,
    /// Over.
    Closed,
}

/// One end of a WebSocket. See the module docs.
pub struct WsEndpoint {
    side: Side,
    phase: Phase,
    limits: WsLimits,
    /// Received bytes not yet used: at most one partial head or frame once `receive` returns.
    inbox: BytesMut,
    /// The fragments of a message begun and not finished.
    fragments: Option<Vec<u8>>,
    transmit: Vec<u8>,
    events: VecDeque<WsEvent>,
}

impl std::fmt::Debug for WsEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WsEndpoint")
            .field("phase", &self.phase)
            .field("server", &matches!(self.side, Side::Server))
            .finish_non_exhaustive()
    }
}

impl WsEndpoint {
    /// A server end, waiting for the client's upgrade request.
    pub fn server(limits: WsLimits) -> Self {
        Self::new(Side::Server, limits)
    }

    /// A client end asking for `path` on `host`; its request is ready in
    /// [`WsEndpoint::poll_transmit`]. The key and every mask key come from `rng`.
    pub fn client(host: &str, path: &str, mut rng: WsRng, limits: WsLimits) -> Self {
        let mut key = [0u8; 16];
        rng.fill_bytes(&mut key);
        let (request, expected_accept) = client_request(host, path, key);
        let mut end = Self::new(
            Side::Client {
                rng,
                expected_accept,
            },
            limits,
        );
        end.transmit = request;
        end
    }

    fn new(side: Side, limits: WsLimits) -> Self {
        Self {
            side,
            phase: Phase::Upgrade,
            limits,
            inbox: BytesMut::new(),
            fragments: None,
            transmit: Vec::new(),
            events: VecDeque::new(),
        }
    }

    /// Whether messages can be sent.
    pub fn is_open(&self) -> bool {
        self.phase == Phase::Open
    }

    /// Whether the WebSocket is over (closed by either end, or failed).
    pub fn is_closed(&self) -> bool {
        self.phase == Phase::Closed
    }

    /// Bytes to hand to TLS, if any.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        (!self.transmit.is_empty()).then(|| std::mem::take(&mut self.transmit))
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<WsEvent> {
        self.events.pop_front()
    }

    /// Sends one binary message as one frame. `false` (and nothing sent) unless open.
    pub fn send_binary(&mut self, message: &[u8]) -> bool {
        if self.phase != Phase::Open {
            return false;
        }
        self.send_frame(Opcode::Binary, message);
        true
    }

    /// Starts the close handshake with this status code (when open; otherwise nothing).
    pub fn close(&mut self, code: u16) {
        if self.phase == Phase::Open {
            self.send_frame(Opcode::Close, &code.to_be_bytes());
            self.phase = Phase::CloseSent;
        }
    }

    /// Takes bytes received from the peer (all of them).
    pub fn receive(&mut self, bytes: &[u8]) {
        if self.phase == Phase::Closed {
            return;
        }
        self.inbox.extend_from_slice(bytes);
        while self.step() {}
        // Idle connections should not keep the buffer their last message came in.
        if self.inbox.is_empty() && self.inbox.capacity() > 0 {
            self.inbox = BytesMut::new();
        }
    }

    /// Uses one head or frame from the inbox; `false` when it holds no whole one (or the
    /// WebSocket is over).
    fn step(&mut self) -> bool {
        match self.phase {
            Phase::Upgrade => self.step_upgrade(),
            Phase::Open | Phase::CloseSent => self.step_frame(),
            Phase::Closed => false,
        }
    }

    fn step_upgrade(&mut self) -> bool {
        let end = match head_end(&self.inbox) {
            Ok(Some(end)) => end,
            Ok(None) => return false,
            Err(e) => {
                self.fail_upgrade(e);
                return false;
            }
        };
        let head = self.inbox.split_to(end);
        let result = match &self.side {
            Side::Server => parse_request(&head).map(|request| {
                self.transmit.extend_from_slice(&accept_response(&request));
            }),
            Side::Client {
                expected_accept, ..
            } => check_response(&head, expected_accept),
        };
        match result {
            Ok(()) => {
                self.phase = Phase::Open;
                self.events.push_back(WsEvent::Open);
                true
            }
            Err(e) => {
                self.fail_upgrade(e);
                false
            }
        }
    }

    fn fail_upgrade(&mut self, error: UpgradeError) {
        if matches!(self.side, Side::Server) {
            self.transmit.extend_from_slice(&refusal_response());
        }
        self.finish(WsEvent::Failed(error.into()));
    }

    fn step_frame(&mut self) -> bool {
        let (header, header_len) = match decode_header(&self.inbox, self.limits.max_frame_payload) {
            Ok(Some(h)) => h,
            Ok(None) => return false,
            Err(e) => {
                self.fail(e);
                return false;
            }
        };
        // Clients mask every frame, servers none (RFC 6455 §5.1).
        let from_client = matches!(self.side, Side::Server);
        if header.mask.is_some() != from_client {
            self.fail(WsError::Masking);
            return false;
        }
        let Some(frame_len) = header_len.checked_add(header.payload_len) else {
            self.fail(WsError::FrameTooLarge);
            return false;
        };
        if self.inbox.len() < frame_len {
            return false;
        }
        let frame = self.inbox.split_to(frame_len);
        let mut payload = frame.get(header_len..).unwrap_or_default().to_vec();
        if let Some(mask) = header.mask {
            apply_mask(mask, &mut payload);
        }
        self.frame(header.fin, header.opcode, payload);
        self.phase != Phase::Closed
    }

    fn frame(&mut self, fin: bool, opcode: Opcode, payload: Vec<u8>) {
        match opcode {
            Opcode::Ping => {
                if self.phase == Phase::Open {
                    self.send_frame(Opcode::Pong, &payload);
                }
            }
            Opcode::Pong => {}
            Opcode::Close => self.peer_close(&payload),
            Opcode::Text | Opcode::Binary => {
                if self.fragments.is_some() {
                    return self.fail(WsError::Fragmentation);
                }
                if fin {
                    self.message(payload);
                } else {
                    self.fragments = Some(payload);
                }
            }
            Opcode::Continuation => {
                let Some(mut message) = self.fragments.take() else {
                    return self.fail(WsError::Fragmentation);
                };
                if message.len().saturating_add(payload.len()) > self.limits.max_message {
                    return self.fail(WsError::MessageTooLarge);
                }
                message.extend_from_slice(&payload);
                if fin {
                    self.message(message);
                } else {
                    self.fragments = Some(message);
                }
            }
        }
    }

    fn message(&mut self, message: Vec<u8>) {
        // After this end's close, data is no longer wanted.
        if self.phase == Phase::Open {
            self.events.push_back(WsEvent::Message(message));
        }
    }

    fn peer_close(&mut self, payload: &[u8]) {
        let code = match payload {
            [] => None,
            [hi, lo, reason @ ..] => {
                let code = u16::from_be_bytes([*hi, *lo]);
                if !valid_close_code(code) || std::str::from_utf8(reason).is_err() {
                    return self.fail(WsError::BadClose);
                }
                Some(code)
            }
            [_] => return self.fail(WsError::BadClose),
        };
        if self.phase == Phase::Open {
            // Echo the status code, as RFC 6455 §5.5.1 suggests.
            let echo = code.map(u16::to_be_bytes);
            self.send_frame(Opcode::Close, echo.as_ref().map_or(&[][..], |c| &c[..]));
        }
        self.finish(WsEvent::PeerClosed(code));
    }

    /// Answers a protocol error with a close frame carrying its status code, and ends.
    fn fail(&mut self, error: WsError) {
        if self.phase == Phase::Open {
            self.send_frame(Opcode::Close, &error.close_code().to_be_bytes());
        }
        self.finish(WsEvent::Failed(error));
    }

    fn finish(&mut self, event: WsEvent) {
        self.phase = Phase::Closed;
        self.inbox.clear();
        self.fragments = None;
        self.events.push_back(event);
    }

    fn send_frame(&mut self, opcode: Opcode, payload: &[u8]) {
        let mask = match &mut self.side {
            Side::Server => None,
            Side::Client { rng, .. } => {
                let mut key = [0u8; 4];
                rng.fill_bytes(&mut key);
                Some(key)
            }
        };
        encode_frame(true, opcode, mask, payload, &mut self.transmit);
    }
}

/// Status codes a peer may send (RFC 6455 §7.4, with 1012–1014 registered since).
fn valid_close_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}
