//! One end of an SMP connection as a single sans-IO machine: TLS, then the SMP hello, then
//! blocks of transmissions in both directions.
//!
//! Blocks travel in one of two [`Framing`]s: back to back on the TLS stream, or each as one
//! binary WebSocket message inside TLS (after an HTTP upgrade, see `spec/websockets.md`). The
//! session id, the hello and the blocks are the same in both.
//!
//! The interface follows the project's one rule: feed an [`Input`] with `now`, then drain
//! [`SmpConnection::poll_output`] until it returns [`Output::Timeout`]. Bytes for the socket,
//! received transmissions and the end of the connection all come out of that one call.
//!
//! Received transmissions come out already checked by the transport (session id, signature
//! size, parse, credentials: [`VerifiedTransmission`]); a block that does not parse comes out
//! as one `ERR BLOCK` transmission with no correlation id, and the connection goes on, as the
//! reference does.

use std::collections::VecDeque;
use std::marker::PhantomData;
use std::time::Duration;

use bytes::{Bytes, BytesMut};

use super::block::{pack_transmissions_sized, unpack_block_sized, BLOCK_SIZE};
use super::handshake::{
    client_hello_reply_sized, server_accept_hello_sized, server_hello_sized, HandshakeError,
    Negotiated,
};
use super::websocket::{close_code, WsEndpoint, WsError, WsEvent, WsLimits, WsRng};
use crate::crypto::hash::KeyHash;
use crate::encoding::{Version, VersionRange};
use crate::protocol::{BrokerMsg, Command, ErrorType, ProtocolMessage, VerifiedTransmission};
use crate::time::Instant;
use crate::tls::{SessionId, TlsApiError, TlsError, TlsEvent, TlsOutput, TlsSession};

/// Blocks waiting for TLS to take them; past this, [`Input::Send`] is refused until the
/// socket drains.
pub const MAX_PENDING_BLOCKS: usize = 64;

/// What the caller feeds the machine.
#[derive(Debug)]
pub enum Input<'a> {
    /// Bytes read from the socket.
    Received(&'a [u8]),
    /// The socket reached end of file.
    PeerClosed,
    /// Transmissions (already encoded and signed) to send, packed into blocks.
    Send(Vec<Vec<u8>>),
    /// Close the connection (TLS close_notify).
    Close,
    /// Only time passed.
    Tick,
}

/// How blocks are carried inside TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Framing {
    /// Back to back on the TLS stream (the SMP transport proper).
    #[default]
    Raw,
    /// Each block one binary WebSocket message, after an HTTP/1.1 upgrade.
    WebSocket,
}

/// Why the connection ended.
#[derive(Debug, Clone, PartialEq)]
pub enum CloseReason {
    /// Closed by this side or by the peer, cleanly.
    Closed,
    /// TLS failed (bad records, wrong identity, timeout...).
    Tls(TlsError),
    /// The SMP hello failed.
    Handshake(HandshakeError),
    /// The SMP hello did not arrive in time.
    HandshakeTimeout,
    /// The WebSocket upgrade or framing failed (WebSocket framing only).
    WebSocket(WsError),
    /// A WebSocket message that is not one block long (WebSocket framing only); the reference
    /// ends the connection on it.
    MessageSize(usize),
}

/// What the machine produces.
#[derive(Debug)]
pub enum Output<M> {
    /// Bytes to write to the socket.
    Transmit(Vec<u8>),
    /// TLS and the SMP hello are done: transmissions can flow.
    Established {
        /// The negotiated version and batching.
        negotiated: Negotiated,
        /// The tls-unique session id.
        session_id: SessionId,
    },
    /// A transmission arrived (or an error to answer, for a block that did not parse).
    Received(VerifiedTransmission<M>),
    /// Transmissions given to [`Input::Send`] that fit in no block, by their index there.
    TooLarge(Vec<usize>),
    /// The connection ended; nothing more will come out but this, once.
    Closed(CloseReason),
    /// Nothing more for now; call again with an input at this instant at the latest (`None`:
    /// only when there is input).
    Timeout(Option<Instant>),
}

/// A caller error: the input was not acceptable in this state. Nothing changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// Transmissions cannot be sent before the handshake completes.
    #[error("the connection is not established yet")]
    NotEstablished,
    /// The connection has ended.
    #[error("the connection is closed")]
    Closed,
    /// Too many blocks wait for the socket; drain `Transmit` outputs first.
    #[error("too many blocks are waiting to be sent")]
    Backpressure,
    /// Network input (received bytes, peer closed, a tick) before the previous outputs were
    /// drained to `Timeout`. Nothing was taken.
    #[error("outputs are pending: drain poll_output first")]
    OutputPending,
}

/// TLS refuses input only while its outputs wait, which this connection never leaves.
fn tls_misuse(_: TlsApiError) -> ApiError {
    ApiError::OutputPending
}

/// Which side, with what it checks in the SMP hello.
#[derive(Debug, Clone, Copy)]
enum Side {
    Client {
        key_hash: KeyHash,
        range: VersionRange,
    },
    Server {
        key_hash: KeyHash,
        range: VersionRange,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// TLS handshake in progress.
    Tls,
    /// TLS done; the WebSocket upgrade in progress (WebSocket framing only).
    Upgrade,
    /// TLS done; waiting for the peer's hello.
    Hello,
    /// Transmissions flow.
    Established,
    /// Ended; `Closed` not yet reported.
    Closing,
    /// Ended and reported.
    Closed,
}

/// One end of an SMP connection. `M` is what this end receives: [`Command`] on a server,
/// [`BrokerMsg`] on a client.
pub struct SmpConnection<M> {
    tls: TlsSession,
    /// The WebSocket inside TLS, with WebSocket framing.
    ws: Option<WsEndpoint>,
    side: Side,
    /// Bytes per block: [`BLOCK_SIZE`] for SMP, 512 for NTF ([`SmpConnection::with_block_size`]).
    block_size: usize,
    phase: Phase,
    hello_deadline: Instant,
    handshake_timeout: Duration,
    session_id: Option<SessionId>,
    negotiated: Option<Negotiated>,
    inbox: BytesMut,
    pending_blocks: VecDeque<Vec<u8>>,
    /// TLS bytes taken out while its events were handled, for `poll_output`.
    wire: VecDeque<Vec<u8>>,
    /// The latest `now` seen.
    now: Instant,
    outputs: VecDeque<Output<M>>,
    /// How many `Received` outputs each received block gave, oldest first, until taken
    /// ([`SmpConnection::take_block_sizes`]).
    block_sizes: Vec<usize>,
    close_reason: Option<CloseReason>,
    _receives: PhantomData<M>,
}

/// A server's end: receives client commands.
pub type ServerConnection = SmpConnection<Command>;
/// A client's end: receives broker messages.
pub type ClientConnection = SmpConnection<BrokerMsg>;

impl<M> std::fmt::Debug for SmpConnection<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmpConnection")
            .field("phase", &self.phase)
            .field("negotiated", &self.negotiated)
            .finish_non_exhaustive()
    }
}

impl ServerConnection {
    /// A server end over a fresh server TLS session. `key_hash` is the server's own identity
    /// (clients must name it); `range` the versions it supports.
    pub fn server(
        tls: TlsSession,
        key_hash: KeyHash,
        range: VersionRange,
        now: Instant,
        handshake_timeout: Duration,
    ) -> Self {
        Self::start(
            tls,
            Side::Server { key_hash, range },
            now,
            handshake_timeout,
            None,
        )
    }

    /// A server end carrying blocks in `framing` (see [`ServerConnection::server`]).
    pub fn server_with_framing(
        tls: TlsSession,
        key_hash: KeyHash,
        range: VersionRange,
        now: Instant,
        handshake_timeout: Duration,
        framing: Framing,
    ) -> Self {
        let ws = match framing {
            Framing::Raw => None,
            Framing::WebSocket => Some(WsEndpoint::server(WsLimits::default())),
        };
        Self::start(
            tls,
            Side::Server { key_hash, range },
            now,
            handshake_timeout,
            ws,
        )
    }
}

impl ClientConnection {
    /// A client end over a fresh client TLS session for a server with identity `key_hash`.
    pub fn client(
        tls: TlsSession,
        key_hash: KeyHash,
        range: VersionRange,
        now: Instant,
        handshake_timeout: Duration,
    ) -> Self {
        Self::start(
            tls,
            Side::Client { key_hash, range },
            now,
            handshake_timeout,
            None,
        )
    }

    /// A client end carrying blocks as WebSocket messages (see [`ClientConnection::client`]).
    /// The upgrade asks for `/` on `host` (the reference's clients send an empty host); `rng`
    /// gives the WebSocket key and the mask of every frame.
    pub fn client_websocket(
        tls: TlsSession,
        key_hash: KeyHash,
        range: VersionRange,
        now: Instant,
        handshake_timeout: Duration,
        host: &str,
        rng: WsRng,
    ) -> Self {
        let ws = WsEndpoint::client(host, "/", rng, WsLimits::default());
        Self::start(
            tls,
            Side::Client { key_hash, range },
            now,
            handshake_timeout,
            Some(ws),
        )
    }
}

impl<M: ProtocolMessage> SmpConnection<M> {
    /// A server's end for any protocol on this transport (NTF's server receives
    /// `NtfCommand`s): like [`ServerConnection::server`], raw framing.
    pub fn accepting(
        tls: TlsSession,
        key_hash: KeyHash,
        range: VersionRange,
        now: Instant,
        handshake_timeout: Duration,
    ) -> Self {
        Self::start(
            tls,
            Side::Server { key_hash, range },
            now,
            handshake_timeout,
            None,
        )
    }

    /// A client's end for any protocol on this transport: like [`ClientConnection::client`].
    pub fn connecting(
        tls: TlsSession,
        key_hash: KeyHash,
        range: VersionRange,
        now: Instant,
        handshake_timeout: Duration,
    ) -> Self {
        Self::start(
            tls,
            Side::Client { key_hash, range },
            now,
            handshake_timeout,
            None,
        )
    }

    fn start(
        tls: TlsSession,
        side: Side,
        now: Instant,
        handshake_timeout: Duration,
        ws: Option<WsEndpoint>,
    ) -> Self {
        Self {
            tls,
            ws,
            side,
            block_size: BLOCK_SIZE,
            phase: Phase::Tls,
            hello_deadline: now + handshake_timeout,
            handshake_timeout,
            session_id: None,
            negotiated: None,
            inbox: BytesMut::new(),
            pending_blocks: VecDeque::new(),
            wire: VecDeque::new(),
            now,
            outputs: VecDeque::new(),
            block_sizes: Vec::new(),
            close_reason: None,
            _receives: PhantomData,
        }
    }

    /// The same connection with blocks (hellos included) of `block_size` bytes instead of
    /// SMP's 16384: the NTF transport uses 512. Call it on a fresh connection, before any
    /// input.
    pub fn with_block_size(mut self, block_size: usize) -> Self {
        self.block_size = block_size;
        self
    }

    /// On a server's end, how many [`Output::Received`] each block received since the last
    /// call gave, oldest first (always empty on a client's end). [`Output::Received`] does not show where a block ends; a server needs it, as the
    /// reference answers each block on its own (its refusals first, then its commands). Taken
    /// after draining to [`Output::Timeout`], the sizes add up to the transmissions drained.
    pub fn take_block_sizes(&mut self) -> Vec<usize> {
        std::mem::take(&mut self.block_sizes)
    }

    /// The negotiated version, once established.
    pub fn version(&self) -> Option<Version> {
        self.negotiated.map(|n| n.version)
    }

    /// The session id, once TLS is up.
    pub fn session_id(&self) -> Option<&SessionId> {
        self.session_id.as_ref()
    }

    /// Whether transmissions can be sent.
    pub fn is_established(&self) -> bool {
        self.phase == Phase::Established
    }

    /// Whether the connection has ended.
    pub fn is_closed(&self) -> bool {
        matches!(self.phase, Phase::Closing | Phase::Closed)
    }

    /// How many blocks [`Input::Send`] takes now: none before the connection is established,
    /// after it ended, or while [`MAX_PENDING_BLOCKS`] blocks wait for the socket (drain
    /// `Transmit` outputs to make room). A sender fills at most this many blocks instead of
    /// probing with a send and handling [`ApiError::Backpressure`].
    pub fn send_capacity(&self) -> usize {
        if self.phase != Phase::Established {
            return 0;
        }
        MAX_PENDING_BLOCKS.saturating_sub(self.pending_blocks.len())
    }

    /// Feeds an input. Returns how many received bytes were consumed: fewer than given only
    /// when the peer sends faster than outputs are drained — drain, then feed the rest.
    /// `Send` and `Close` are commands and may come at any time (a sender queues several
    /// sends, then drains); the network's inputs need the previous outputs drained
    /// ([`ApiError::OutputPending`]).
    pub fn handle_input(&mut self, now: Instant, input: Input<'_>) -> Result<usize, ApiError> {
        if matches!(input, Input::Received(_) | Input::PeerClosed | Input::Tick)
            && self.output_pending()
        {
            return Err(ApiError::OutputPending);
        }
        self.now = self.now.max(now);
        let consumed = match input {
            Input::Received(bytes) => {
                // TLS is drained after every call here, so it never refuses.
                let n = self.tls.handle_input(now, bytes).map_err(tls_misuse)?;
                self.pump_tls(now);
                n
            }
            Input::PeerClosed => {
                self.tls.handle_peer_eof().map_err(tls_misuse)?;
                self.pump_tls(now);
                0
            }
            Input::Send(transmissions) => {
                self.queue_send(&transmissions)?;
                0
            }
            Input::Close => {
                if let Some(ws) = self.ws.as_mut() {
                    ws.close(close_code::NORMAL);
                    self.flush_ws();
                }
                self.tls.close();
                self.pump_tls(now);
                self.end(CloseReason::Closed);
                0
            }
            Input::Tick => {
                self.tls.handle_timeout(now).map_err(tls_misuse)?;
                self.pump_tls(now);
                0
            }
        };
        if matches!(self.phase, Phase::Upgrade | Phase::Hello) && now >= self.hello_deadline {
            self.tls.close();
            self.end(CloseReason::HandshakeTimeout);
        }
        Ok(consumed)
    }

    /// Whether outputs wait for `poll_output` (blocks waiting for room in TLS do not count:
    /// they are the sender's queue, not output).
    fn output_pending(&self) -> bool {
        !self.wire.is_empty() || !self.outputs.is_empty() || self.phase == Phase::Closing
    }

    /// The next output. Drain until [`Output::Timeout`].
    pub fn poll_output(&mut self) -> Output<M> {
        self.feed_pending_blocks();
        // TLS events can wait there too (a close made while handling something else).
        self.pump_tls(self.now);
        if let Some(bytes) = self.wire.pop_front() {
            return Output::Transmit(bytes);
        }
        if self.wire.capacity() > 0 {
            self.wire = VecDeque::new();
        }
        if let Some(output) = self.outputs.pop_front() {
            return output;
        }
        // Drained: an output queue keeps its room (~2 KB after a few outputs) on an idle
        // connection otherwise.
        if self.outputs.capacity() > 0 {
            self.outputs = VecDeque::new();
        }
        if self.phase == Phase::Closing {
            self.phase = Phase::Closed;
            return Output::Closed(self.close_reason.take().unwrap_or(CloseReason::Closed));
        }
        Output::Timeout(self.next_timeout())
    }

    fn next_timeout(&self) -> Option<Instant> {
        match self.phase {
            Phase::Tls => self.tls.poll_timeout(),
            Phase::Upgrade | Phase::Hello => Some(self.hello_deadline),
            _ => None,
        }
    }

    fn queue_send(&mut self, transmissions: &[Vec<u8>]) -> Result<(), ApiError> {
        let negotiated = match self.phase {
            Phase::Established => self.negotiated.ok_or(ApiError::NotEstablished)?,
            Phase::Tls | Phase::Upgrade | Phase::Hello => return Err(ApiError::NotEstablished),
            Phase::Closing | Phase::Closed => return Err(ApiError::Closed),
        };
        if self.pending_blocks.len() >= MAX_PENDING_BLOCKS {
            return Err(ApiError::Backpressure);
        }
        let packed = pack_transmissions_sized(self.block_size, negotiated.batch, transmissions);
        match self.ws.as_mut() {
            None => self.pending_blocks.extend(packed.blocks),
            Some(ws) => {
                // One entry per block, so each fits in TLS's send buffer on its own.
                for block in packed.blocks {
                    if ws.send_binary(&block) {
                        if let Some(bytes) = ws.poll_transmit() {
                            self.pending_blocks.push_back(bytes);
                        }
                    }
                }
            }
        }
        if !packed.too_large.is_empty() {
            self.outputs.push_back(Output::TooLarge(packed.too_large));
        }
        Ok(())
    }

    /// Moves waiting blocks into TLS while it has room.
    fn feed_pending_blocks(&mut self) {
        while let Some(block) = self.pending_blocks.front() {
            match self.tls.send(block) {
                Ok(()) => {
                    self.pending_blocks.pop_front();
                }
                Err(TlsApiError::SendBufferFull) => break,
                Err(_) => {
                    self.pending_blocks.clear();
                    break;
                }
            }
        }
    }

    /// Drains TLS: its bytes wait for `poll_output`, its events become SMP progress.
    fn pump_tls(&mut self, now: Instant) {
        loop {
            let event = match self.tls.poll_output() {
                TlsOutput::Transmit(bytes) => {
                    self.wire.push_back(bytes);
                    continue;
                }
                TlsOutput::Event(event) => event,
                TlsOutput::Timeout(_) => break,
            };
            match event {
                TlsEvent::HandshakeComplete { session_id } => self.tls_established(now, session_id),
                TlsEvent::Plaintext(bytes) => match self.ws.as_mut() {
                    Some(ws) => {
                        ws.receive(&bytes);
                        self.pump_ws();
                    }
                    None => {
                        self.take_plaintext(bytes);
                        self.take_blocks();
                    }
                },
                TlsEvent::Error(e) => self.end(CloseReason::Tls(e)),
                TlsEvent::Closed => self.end(CloseReason::Closed),
            }
        }
    }

    fn tls_established(&mut self, now: Instant, session_id: SessionId) {
        self.session_id = Some(session_id);
        self.hello_deadline = now + self.handshake_timeout;
        if self.ws.is_some() {
            // The client's upgrade request goes first; the hello waits for the upgrade.
            self.phase = Phase::Upgrade;
            self.take_ws_transmit();
            return;
        }
        self.phase = Phase::Hello;
        if let Side::Server { range, .. } = self.side {
            match server_hello_sized(self.block_size, range, &session_id) {
                // A fresh connection has room for one block.
                Ok(block) => {
                    if self.tls.send(&block).is_err() {
                        self.end(CloseReason::Closed);
                    }
                }
                Err(_) => self.end(CloseReason::Closed),
            }
        }
    }

    /// Moves what the WebSocket has to send behind the blocks already waiting for TLS.
    fn take_ws_transmit(&mut self) {
        if let Some(bytes) = self.ws.as_mut().and_then(WsEndpoint::poll_transmit) {
            self.pending_blocks.push_back(bytes);
        }
    }

    /// Hands everything waiting to TLS now (before a TLS close).
    fn flush_ws(&mut self) {
        self.take_ws_transmit();
        self.feed_pending_blocks();
    }

    /// Turns WebSocket events into SMP progress.
    fn pump_ws(&mut self) {
        loop {
            self.take_ws_transmit();
            let Some(event) = self.ws.as_mut().and_then(WsEndpoint::poll_event) else {
                return;
            };
            match event {
                WsEvent::Open => {
                    self.phase = Phase::Hello;
                    if let Side::Server { range, .. } = self.side {
                        let sent = match (self.session_id, self.ws.as_mut()) {
                            (Some(session_id), Some(ws)) => {
                                server_hello_sized(self.block_size, range, &session_id)
                                    .is_ok_and(|block| ws.send_binary(&block))
                            }
                            _ => false,
                        };
                        if !sent {
                            self.tls.close();
                            self.end(CloseReason::Closed);
                        }
                    }
                }
                WsEvent::Message(message) if self.is_closed() => drop(message),
                WsEvent::Message(message) if message.len() != self.block_size => {
                    // A bad block in this framing ends the connection, as in the reference.
                    if let Some(ws) = self.ws.as_mut() {
                        ws.close(close_code::UNSUPPORTED_DATA);
                    }
                    self.flush_ws();
                    self.tls.close();
                    self.end(CloseReason::MessageSize(message.len()));
                }
                WsEvent::Message(message) => {
                    let block = Bytes::from(message);
                    match self.phase {
                        Phase::Hello => self.receive_hello(&block),
                        Phase::Established => self.receive_block(&block),
                        _ => {}
                    }
                }
                WsEvent::PeerClosed(_) => {
                    self.flush_ws();
                    self.tls.close();
                    self.end(CloseReason::Closed);
                }
                WsEvent::Failed(e) => {
                    self.flush_ws();
                    self.tls.close();
                    self.end(CloseReason::WebSocket(e));
                }
            }
        }
    }

    /// Sends a block of the handshake: straight to TLS, or as a WebSocket message queued
    /// behind what the WebSocket already sent.
    fn send_handshake_block(&mut self, block: &[u8]) -> Result<(), ()> {
        match self.ws.as_mut() {
            None => self.tls.send(block).map_err(drop),
            Some(ws) => {
                if ws.send_binary(block) {
                    self.take_ws_transmit();
                    Ok(())
                } else {
                    Err(())
                }
            }
        }
    }

    /// Appends decrypted bytes to the inbox; into an empty inbox they move without a copy (a
    /// block usually arrives as one whole TLS record).
    fn take_plaintext(&mut self, bytes: Bytes) {
        if self.inbox.is_empty() {
            match bytes.try_into_mut() {
                Ok(owned) => self.inbox = owned,
                Err(shared) => self.inbox.extend_from_slice(&shared),
            }
        } else {
            self.inbox.extend_from_slice(&bytes);
        }
    }

    fn take_blocks(&mut self) {
        while self.inbox.len() >= self.block_size && !self.is_closed() {
            let block = self.inbox.split_to(self.block_size).freeze();
            match self.phase {
                Phase::Hello => self.receive_hello(&block),
                Phase::Established => self.receive_block(&block),
                _ => {}
            }
        }
        // An emptied inbox still holds the allocation its last block came in (16 KiB or
        // more) even with no capacity left: the block was split off it, and the two share the
        // buffer. Most connections sit idle most of the time, so it is let go.
        if self.inbox.is_empty() {
            self.inbox = BytesMut::new();
        }
    }

    fn receive_hello(&mut self, block: &Bytes) {
        let Some(session_id) = self.session_id else {
            return;
        };
        let result = match self.side {
            Side::Client { key_hash, range } => {
                client_hello_reply_sized(self.block_size, block, &session_id, range, &key_hash)
                    .and_then(
                        |(reply, negotiated)| match self.send_handshake_block(&reply) {
                            Ok(()) => Ok(negotiated),
                            Err(()) => Err(HandshakeError::Parse),
                        },
                    )
            }
            Side::Server { key_hash, range } => {
                server_accept_hello_sized(self.block_size, block, range, &key_hash)
            }
        };
        match result {
            Ok(negotiated) => {
                self.negotiated = Some(negotiated);
                self.phase = Phase::Established;
                self.outputs.push_back(Output::Established {
                    negotiated,
                    session_id,
                });
            }
            Err(e) => {
                // The reference closes the connection on any handshake failure.
                self.flush_ws();
                self.tls.close();
                self.end(CloseReason::Handshake(e));
            }
        }
    }

    fn receive_block(&mut self, block: &Bytes) {
        let (Some(negotiated), Some(session_id)) = (self.negotiated, self.session_id) else {
            return;
        };
        match unpack_block_sized(self.block_size, negotiated.batch, block) {
            Ok(transmissions) => {
                self.note_block(transmissions.len());
                for raw in transmissions {
                    let checked = VerifiedTransmission::check(raw, &session_id, negotiated.version);
                    self.outputs.push_back(Output::Received(checked));
                }
            }
            Err(_) => {
                let checked = VerifiedTransmission::check(
                    Err(crate::encoding::DecodeError::Invalid("block")),
                    &session_id,
                    negotiated.version,
                );
                debug_assert!(matches!(checked.message, Err(ErrorType::Block)));
                self.note_block(1);
                self.outputs.push_back(Output::Received(checked));
            }
        }
    }

    /// Records a block's size, on a server's end only (a client's would never be taken).
    fn note_block(&mut self, transmissions: usize) {
        if matches!(self.side, Side::Server { .. }) {
            self.block_sizes.push(transmissions);
        }
    }

    fn end(&mut self, reason: CloseReason) {
        if !self.is_closed() {
            self.phase = Phase::Closing;
            self.close_reason = Some(reason);
            self.pending_blocks.clear();
            self.inbox.clear();
        }
    }
}
