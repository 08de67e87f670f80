//! The TLS connection as a sans-IO machine over rustls.
//!
//! Bytes from the socket go in with [`TlsSession::handle_input`]; everything that comes out (bytes
//! for the socket, what happened, when to call again) comes out of one call,
//! [`TlsSession::poll_output`]: drain it after each input until it gives [`TlsOutput::Timeout`].
//! Time is an input: the handshake must complete before a deadline given at construction,
//! checked by every input and by [`TlsSession::handle_timeout`] (called at the instant
//! `Timeout` gave).
//!
//! A failure (malformed records, a refused identity, a peer alert, the timeout) is reported once
//! as [`TlsEvent::Error`], followed by [`TlsEvent::Closed`]; any alert rustls queued comes out
//! before them as a [`TlsOutput::Transmit`]. Nothing panics on peer input, and buffering is bounded:
//! at most [`MAX_UNREAD_PLAINTEXT`] of decrypted data waits in events (plus one record) before
//! `handle_input` stops consuming, and `send` refuses to queue more than [`MAX_UNSENT`] bytes of
//! ciphertext.

use std::collections::VecDeque;
use std::io::Read as _;
use std::sync::Arc;

use bytes::Bytes;
use core::time::Duration;
use rustls::pki_types::ServerName;
use rustls::{ClientConnection, Connection, ServerConnection};

use super::error::{TlsApiError, TlsError};
use super::identity::ServerIdentity;
use super::provider::{client_config, server_config};
use super::rng::{self, SessionRng};
use super::tls_unique::{FinishedScanner, SecretCapture, TLS_UNIQUE_LEN};
use super::verify::as_identity_error;
use crate::crypto::hash::KeyHash;
use crate::time::Instant;

/// Decrypted bytes that may wait in events before `handle_input` stops consuming input.
pub const MAX_UNREAD_PLAINTEXT: usize = 64 * 1024;
/// Ciphertext that may wait for `poll_output` before `send` refuses more.
pub const MAX_UNSENT: usize = 256 * 1024;

/// The session id of a connection: tls-unique, the client's Finished verify_data.
pub type SessionId = [u8; TLS_UNIQUE_LEN];

/// Which end of the connection this machine is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Connects to a server and checks its identity.
    Client,
    /// Presents a server identity.
    Server,
}

/// What a TLS session reports.
#[derive(Debug, Clone, PartialEq)]
pub enum TlsEvent {
    /// The handshake completed; both ends have the same session id.
    HandshakeComplete {
        /// tls-unique of the connection.
        session_id: SessionId,
    },
    /// Application data from the peer.
    Plaintext(Bytes),
    /// The connection failed; `Closed` follows.
    Error(TlsError),
    /// The connection is closed (by us, by the peer's close_notify, or after an error). Last event.
    Closed,
}

/// What [`TlsSession::poll_output`] gives, in this order: bytes first, then events, then the
/// next wake-up.
#[derive(Debug, Clone, PartialEq)]
pub enum TlsOutput {
    /// Bytes to write to the socket.
    Transmit(Vec<u8>),
    /// Something happened.
    Event(TlsEvent),
    /// Nothing more for now; call [`TlsSession::handle_timeout`] at this instant at the latest
    /// (`None`: only input matters).
    Timeout(Option<Instant>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Handshaking,
    Established,
    Closed,
}

/// One TLS connection, client or server (see the module documentation).
pub struct TlsSession {
    role: Role,
    conn: Connection,
    rng: Option<SessionRng>,
    capture: Arc<SecretCapture>,
    scanner: FinishedScanner,
    deadline: Instant,
    phase: Phase,
    session_id: Option<SessionId>,
    events: VecDeque<TlsEvent>,
    unread: usize,
    transmit: Vec<u8>,
}

impl core::fmt::Debug for TlsSession {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TlsSession")
            .field("role", &self.role)
            .field("phase", &self.phase)
            .field("deadline", &self.deadline)
            .finish_non_exhaustive()
    }
}

fn config_error(e: rustls::Error) -> TlsApiError {
    TlsApiError::Config(e.to_string())
}

impl TlsSession {
    /// A client connecting to `server_name` (sent as SNI when it is a DNS name) whose CA
    /// certificate must hash to `key_hash`. The ClientHello is the first output.
    pub fn client(
        server_name: &str,
        key_hash: KeyHash,
        rng: SessionRng,
        now: Instant,
        handshake_timeout: Duration,
    ) -> Result<Self, TlsApiError> {
        let capture = Arc::new(SecretCapture::default());
        let config = Arc::new(client_config(key_hash, capture.clone())?);
        let name = ServerName::try_from(server_name.to_owned())
            .map_err(|e| TlsApiError::Config(e.to_string()))?;
        let mut rng = Some(rng);
        let conn =
            rng::lend(&mut rng, || ClientConnection::new(config, name)).map_err(config_error)?;
        Ok(Self::start(
            Role::Client,
            conn.into(),
            rng,
            capture,
            now + handshake_timeout,
        ))
    }

    /// A server presenting `identity`.
    pub fn server(
        identity: &ServerIdentity,
        rng: SessionRng,
        now: Instant,
        handshake_timeout: Duration,
    ) -> Result<Self, TlsApiError> {
        let capture = Arc::new(SecretCapture::default());
        let config = Arc::new(server_config(identity, capture.clone())?);
        let conn = ServerConnection::new(config).map_err(config_error)?;
        Ok(Self::start(
            Role::Server,
            conn.into(),
            Some(rng),
            capture,
            now + handshake_timeout,
        ))
    }

    fn start(
        role: Role,
        mut conn: Connection,
        rng: Option<SessionRng>,
        capture: Arc<SecretCapture>,
        deadline: Instant,
    ) -> Self {
        conn.set_buffer_limit(None);
        let mut session = TlsSession {
            role,
            conn,
            rng,
            capture,
            scanner: FinishedScanner::default(),
            deadline,
            phase: Phase::Handshaking,
            session_id: None,
            events: VecDeque::new(),
            unread: 0,
            transmit: Vec::new(),
        };
        session.flush();
        session
    }

    /// Which end this is.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The session id, once the handshake has completed.
    pub fn session_id(&self) -> Option<SessionId> {
        self.session_id
    }

    /// The key-exchange group in use (X448 or X25519), once negotiated.
    pub fn key_exchange_group(&self) -> Option<rustls::NamedGroup> {
        self.conn.negotiated_key_exchange_group().map(|g| g.name())
    }

    /// Whether the handshake has completed and the connection is open.
    pub fn is_established(&self) -> bool {
        self.phase == Phase::Established
    }

    /// Whether the connection is closed.
    pub fn is_closed(&self) -> bool {
        self.phase == Phase::Closed
    }

    /// Whether outputs wait to be drained: network input is refused until they are
    /// ([`TlsApiError::OutputPending`]). `send` and `close` are commands and may come at any
    /// time: a caller fills records with several `send`s, then drains.
    fn output_pending(&self) -> bool {
        !self.transmit.is_empty() || !self.events.is_empty()
    }

    /// Feeds bytes received from the peer and returns how many were consumed. Fewer than given
    /// only when [`MAX_UNREAD_PLAINTEXT`] of data came out of them as events: drain
    /// `poll_output`, then feed the rest. Once closed, input is discarded (reported as
    /// consumed). Refused, taking nothing, while outputs are pending.
    pub fn handle_input(&mut self, now: Instant, data: &[u8]) -> Result<usize, TlsApiError> {
        if self.output_pending() {
            return Err(TlsApiError::OutputPending);
        }
        self.advance_time(now);
        let mut rest = data;
        while !rest.is_empty() && self.phase != Phase::Closed && self.unread < MAX_UNREAD_PLAINTEXT
        {
            let before = rest;
            let n = match self.conn.read_tls(&mut rest) {
                Ok(0) => break,
                Ok(n) => n,
                Err(_) => {
                    // rustls refuses input only when its own buffers are full, which our draining
                    // prevents; treat it as a protocol failure rather than loop.
                    self.fail(TlsError::Protocol(rustls::Error::General(
                        "TLS input buffer full".into(),
                    )));
                    break;
                }
            };
            if self.role == Role::Server && self.phase == Phase::Handshaking {
                self.scanner.feed(&before[..n]);
            }
            let conn = &mut self.conn;
            match rng::lend(&mut self.rng, || conn.process_new_packets()) {
                Ok(state) => {
                    self.flush();
                    self.check_handshake();
                    if self.phase != Phase::Closed {
                        self.drain_plaintext(state.plaintext_bytes_to_read());
                        if state.peer_has_closed() {
                            // Answer the peer's close_notify with ours, then close.
                            self.close();
                        }
                    }
                }
                Err(e) => self.fail_rustls(e),
            }
        }
        self.release_input_buffer();
        Ok(if self.phase == Phase::Closed {
            data.len()
        } else {
            data.len() - rest.len()
        })
    }

    /// Lets rustls shrink its record buffer now rather than at the next input. It shrinks the
    /// buffer (to 4 KiB) only when a read starts with no record pending, so after a 16 KiB
    /// record an idle connection would hold 32 KiB until its peer spoke again. A read from a
    /// source with nothing yet (`WouldBlock`) is that start, and reads nothing.
    fn release_input_buffer(&mut self) {
        struct NothingYet;
        impl std::io::Read for NothingYet {
            fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
                Err(std::io::ErrorKind::WouldBlock.into())
            }
        }
        if self.phase != Phase::Closed {
            let _ = self.conn.read_tls(&mut NothingYet);
        }
    }

    /// The peer closed the transport (EOF). Reported as an error during the handshake, as a plain
    /// close afterwards.
    pub fn handle_peer_eof(&mut self) -> Result<(), TlsApiError> {
        if self.output_pending() {
            return Err(TlsApiError::OutputPending);
        }
        match self.phase {
            Phase::Handshaking => self.fail(TlsError::Protocol(rustls::Error::General(
                "connection closed during handshake".into(),
            ))),
            Phase::Established => self.close_now(),
            Phase::Closed => {}
        }
        Ok(())
    }

    /// Advances time: fails the connection if the handshake deadline has passed. Refused while
    /// outputs are pending.
    pub fn handle_timeout(&mut self, now: Instant) -> Result<(), TlsApiError> {
        if self.output_pending() {
            return Err(TlsApiError::OutputPending);
        }
        self.advance_time(now);
        Ok(())
    }

    fn advance_time(&mut self, now: Instant) {
        if self.phase == Phase::Handshaking && now >= self.deadline {
            self.fail(TlsError::HandshakeTimeout);
        }
    }

    /// When `handle_timeout` must next be called, if ever (what [`TlsOutput::Timeout`] gives).
    pub fn poll_timeout(&self) -> Option<Instant> {
        (self.phase == Phase::Handshaking).then_some(self.deadline)
    }

    /// Encrypts application data for the peer (it comes out as [`TlsOutput::Transmit`]).
    pub fn send(&mut self, plaintext: &[u8]) -> Result<(), TlsApiError> {
        match self.phase {
            Phase::Closed => return Err(TlsApiError::Closed),
            Phase::Handshaking => return Err(TlsApiError::NotEstablished),
            Phase::Established => {}
        }
        if self.transmit.len().saturating_add(plaintext.len()) > MAX_UNSENT {
            return Err(TlsApiError::SendBufferFull);
        }
        let mut written = 0;
        while written < plaintext.len() {
            match std::io::Write::write(&mut self.conn.writer(), &plaintext[written..]) {
                Ok(0) | Err(_) => {
                    self.flush();
                    return Err(TlsApiError::SendBufferFull);
                }
                Ok(n) => written += n,
            }
            self.flush();
        }
        Ok(())
    }

    /// Closes the connection, sending close_notify.
    pub fn close(&mut self) {
        if self.phase != Phase::Closed {
            self.conn.send_close_notify();
            self.flush();
            self.close_now();
        }
    }

    /// The next output. Drain until [`TlsOutput::Timeout`].
    pub fn poll_output(&mut self) -> TlsOutput {
        if !self.transmit.is_empty() {
            return TlsOutput::Transmit(core::mem::take(&mut self.transmit));
        }
        match self.events.pop_front() {
            Some(event) => {
                if let TlsEvent::Plaintext(data) = &event {
                    self.unread = self.unread.saturating_sub(data.len());
                }
                TlsOutput::Event(event)
            }
            None => TlsOutput::Timeout(self.poll_timeout()),
        }
    }

    /// Moves what rustls has to send into our transmit buffer; the client's own outgoing
    /// records are scanned for its Finished.
    fn flush(&mut self) {
        while self.conn.wants_write() {
            let start = self.transmit.len();
            match self.conn.write_tls(&mut self.transmit) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            if self.role == Role::Client && self.phase == Phase::Handshaking {
                self.scanner.feed(&self.transmit[start..]);
            }
        }
    }

    fn check_handshake(&mut self) {
        if self.phase != Phase::Handshaking || self.conn.is_handshaking() {
            return;
        }
        let secret = self.capture.take();
        let result = self
            .scanner
            .tls_unique(secret.as_ref().map(|s| s.as_slice()));
        drop(secret);
        self.scanner.clear();
        match result {
            Ok(session_id) => {
                self.session_id = Some(session_id);
                self.phase = Phase::Established;
                self.events
                    .push_back(TlsEvent::HandshakeComplete { session_id });
            }
            Err(e) => self.fail(e.into()),
        }
    }

    fn drain_plaintext(&mut self, available: usize) {
        if available == 0 {
            return;
        }
        let mut buf = vec![0u8; available];
        match self.conn.reader().read_exact(&mut buf) {
            Ok(()) => {
                self.unread += buf.len();
                self.events.push_back(TlsEvent::Plaintext(Bytes::from(buf)));
            }
            Err(_) => self.fail(TlsError::Protocol(rustls::Error::General(
                "plaintext not readable".into(),
            ))),
        }
    }

    fn fail_rustls(&mut self, e: rustls::Error) {
        let error = match as_identity_error(&e) {
            Some(identity) => TlsError::Identity(identity),
            None => TlsError::Protocol(e),
        };
        self.fail(error);
    }

    fn fail(&mut self, error: TlsError) {
        if self.phase == Phase::Closed {
            return;
        }
        // rustls queues an alert for the peer on protocol errors: hand it out.
        self.flush();
        self.events.push_back(TlsEvent::Error(error));
        self.close_now();
    }

    fn close_now(&mut self) {
        if self.phase != Phase::Closed {
            self.phase = Phase::Closed;
            self.scanner.clear();
            drop(self.capture.take());
            self.events.push_back(TlsEvent::Closed);
        }
    }
}
