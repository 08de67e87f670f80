//! A small blocking SMP client over real TCP + TLS (std::net, bounded timeouts), driving the
//! sans-IO `ClientConnection` of `simplex-core`. Used by the end-to-end tests of both shells
//! and by the `smp-load` load generator.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use simplex_core::crypto::hash::KeyHash;
use simplex_core::crypto::keys::SignKey;
use simplex_core::protocol::{
    encode_transmission, signed_part, BrokerMsg, Command, CorrId, EntityId, VerifiedTransmission,
    SMP_VERSION_RANGE,
};
use simplex_core::time::Instant;
use simplex_core::tls::TlsSession;
use simplex_core::transport::{ClientConnection, CloseReason, Framing, Input, Output};

/// One received transmission.
pub type Received = VerifiedTransmission<BrokerMsg>;

/// A queue made and secured by [`NetClient::secured_queue`].
#[derive(Debug)]
pub struct SecuredQueue {
    /// The recipient id.
    pub rid: Vec<u8>,
    /// The sender id.
    pub sid: Vec<u8>,
    /// Opens delivered bodies (the recipient's DH key with the server's).
    pub body_key: simplex_core::crypto::cbox::CbKey,
}

/// Opens a delivered message (`MSG`, v3 and later): the sender's body, after the timestamp and
/// flags boxed with it.
pub fn open_message(
    key: &simplex_core::crypto::cbox::CbKey,
    m: &simplex_core::protocol::RcvMessage,
) -> io::Result<Vec<u8>> {
    use simplex_core::encoding::{Decode, Reader, UnixTime};
    let bad = |what: &str| io::Error::other(format!("delivered message: {what}"));
    let nonce = simplex_core::crypto::cbox::CbNonce::from_slice_padded(m.msg_id.as_bytes());
    let padded = key
        .decrypt(&nonce, &m.encrypted_body)
        .map_err(|_| bad("does not open"))?;
    let mut r = Reader::from_slice(&padded);
    UnixTime::decode(&mut r).map_err(|_| bad("timestamp"))?;
    simplex_core::protocol::MsgFlags::decode(&mut r).map_err(|_| bad("flags"))?;
    r.expect_byte(b' ', "space").map_err(|_| bad("space"))?;
    Ok(r.peek_rest().to_vec())
}

fn timed_out(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, what.to_string())
}

/// A blocking SMP client connection. See the module docs.
pub struct NetClient {
    sock: TcpStream,
    conn: ClientConnection,
    origin: std::time::Instant,
    inbox: VecDeque<Received>,
    closed: bool,
    close_reason: Option<CloseReason>,
    buf: Vec<u8>,
    /// The socket's read timeout as last set (setting it again is a syscall per read).
    read_timeout: Option<Duration>,
    /// Set by [`NetClient::set_nonblocking`]: reads come from [`NetClient::pump`].
    nonblocking: bool,
}

impl std::fmt::Debug for NetClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetClient")
            .field("closed", &self.closed)
            .finish_non_exhaustive()
    }
}

impl NetClient {
    /// Connects to `addr` expecting the server `key_hash`; TLS and the SMP hello must finish
    /// within `timeout`.
    pub fn connect(
        addr: SocketAddr,
        key_hash: KeyHash,
        seed: u64,
        timeout: Duration,
    ) -> io::Result<Self> {
        Self::connect_framed(addr, key_hash, seed, timeout, Framing::Raw)
    }

    /// [`NetClient::connect`] carrying blocks in `framing` (WebSocket: to a server's
    /// WebSockets port).
    pub fn connect_framed(
        addr: SocketAddr,
        key_hash: KeyHash,
        seed: u64,
        timeout: Duration,
        framing: Framing,
    ) -> io::Result<Self> {
        Self::connect_with(addr, key_hash, seed, timeout, framing, SMP_VERSION_RANGE)
    }

    /// [`NetClient::connect_framed`] offering only the protocol `versions`.
    pub fn connect_with(
        addr: SocketAddr,
        key_hash: KeyHash,
        seed: u64,
        timeout: Duration,
        framing: Framing,
        versions: simplex_core::encoding::VersionRange,
    ) -> io::Result<Self> {
        let sock = TcpStream::connect_timeout(&addr, timeout)?;
        sock.set_nodelay(true)?;
        sock.set_write_timeout(Some(timeout))?;
        let rng: simplex_core::tls::SessionRng = Box::new(ChaCha20Rng::seed_from_u64(seed));
        let tls = TlsSession::client("localhost", key_hash, rng, Instant::ZERO, timeout)
            .map_err(|e| io::Error::other(e.to_string()))?;
        let conn = match framing {
            Framing::Raw => {
                ClientConnection::client(tls, key_hash, versions, Instant::ZERO, timeout)
            }
            Framing::WebSocket => ClientConnection::client_websocket(
                tls,
                key_hash,
                versions,
                Instant::ZERO,
                timeout,
                "localhost",
                Box::new(ChaCha20Rng::seed_from_u64(seed ^ 0x5753)),
            ),
        };
        let mut client = Self {
            sock,
            conn,
            origin: std::time::Instant::now(),
            inbox: VecDeque::new(),
            closed: false,
            close_reason: None,
            buf: vec![0; 64 * 1024],
            read_timeout: None,
            nonblocking: false,
        };
        let until = std::time::Instant::now() + timeout;
        client.flush()?;
        while !client.conn.is_established() {
            if client.closed || std::time::Instant::now() >= until {
                return Err(timed_out("handshake"));
            }
            client.read_some(Duration::from_millis(50))?;
        }
        Ok(client)
    }

    /// The negotiated protocol version.
    pub fn version(&self) -> Option<simplex_core::encoding::Version> {
        self.conn.version()
    }

    fn now(&self) -> Instant {
        simplex_core::driver::instant_since_origin(self.origin.elapsed())
    }

    /// Moves the machine's outputs: bytes to the socket, transmissions to the inbox.
    fn flush(&mut self) -> io::Result<()> {
        loop {
            match self.conn.poll_output() {
                Output::Transmit(bytes) => self.write_fully(&bytes)?,
                Output::Received(t) => self.inbox.push_back(t),
                Output::Closed(reason) => {
                    self.closed = true;
                    self.close_reason = Some(reason);
                }
                Output::Timeout(_) => return Ok(()),
                Output::Established { .. } | Output::TooLarge(_) => {}
            }
        }
    }

    /// Writes all of `bytes`; a non-blocking socket whose buffer is full is made blocking for
    /// the rest (rare: a block fits in the kernel's buffer but for a peer that stopped reading).
    fn write_fully(&mut self, bytes: &[u8]) -> io::Result<()> {
        if !self.nonblocking {
            return self.sock.write_all(bytes);
        }
        let mut rest = bytes;
        while !rest.is_empty() {
            match self.sock.write(rest) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => rest = rest.get(n..).unwrap_or_default(),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.sock.set_nonblocking(false)?;
                    let written = self.sock.write_all(rest);
                    self.sock.set_nonblocking(true)?;
                    return written;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Makes the socket non-blocking, for a caller that polls many connections and calls
    /// [`NetClient::pump`] when one is readable (edge-triggered readiness suffices).
    pub fn set_nonblocking(&mut self) -> io::Result<()> {
        self.sock.set_nonblocking(true)?;
        self.nonblocking = true;
        Ok(())
    }

    /// Reads what the socket holds without waiting and feeds it; the transmissions wait in
    /// [`NetClient::next_received`]. Stops at a short read: the socket is then drained.
    pub fn pump(&mut self) -> io::Result<()> {
        loop {
            let n = match self.sock.read(&mut self.buf) {
                Ok(0) => return self.peer_closed(),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.closed = true;
                    return Err(e);
                }
            };
            let bytes = self.buf.get(..n).unwrap_or_default().to_vec();
            self.feed(&bytes)?;
            if n < self.buf.len() {
                return Ok(());
            }
        }
    }

    /// The next transmission [`NetClient::pump`] received, if any.
    pub fn next_received(&mut self) -> Option<Received> {
        self.inbox.pop_front()
    }

    /// The socket, for registering with a poller.
    pub fn raw_fd(&self) -> std::os::fd::RawFd {
        std::os::fd::AsRawFd::as_raw_fd(&self.sock)
    }

    /// The server ended the stream: the machine hears it, and what it says last is flushed.
    fn peer_closed(&mut self) -> io::Result<()> {
        let now = self.now();
        let _ = self.conn.handle_input(now, Input::PeerClosed);
        self.closed = true;
        self.flush()
    }

    /// Feeds received bytes to the connection machine.
    fn feed(&mut self, bytes: &[u8]) -> io::Result<()> {
        let mut rest = bytes;
        while !rest.is_empty() {
            let now = self.now();
            let taken = self
                .conn
                .handle_input(now, Input::Received(rest))
                .map_err(|e| io::Error::other(e.to_string()))?;
            rest = rest.get(taken..).unwrap_or_default();
            self.flush()?;
            if taken == 0 && self.closed {
                break;
            }
        }
        Ok(())
    }

    /// Reads once (waiting at most `wait`) and feeds what came.
    fn read_some(&mut self, wait: Duration) -> io::Result<()> {
        let timeout = Some(wait.max(Duration::from_millis(1)));
        if self.read_timeout != timeout {
            self.sock.set_read_timeout(timeout)?;
            self.read_timeout = timeout;
        }
        let n = match self.sock.read(&mut self.buf) {
            Ok(0) => return self.peer_closed(),
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) =>
            {
                let now = self.now();
                let _ = self.conn.handle_input(now, Input::Tick);
                return self.flush();
            }
            Err(e) => {
                self.closed = true;
                return Err(e);
            }
        };
        let bytes = self.buf.get(..n).unwrap_or_default().to_vec();
        self.feed(&bytes)
    }

    /// The encoded transmission of `cmd`, signed with `key` if given.
    pub fn encode(
        &self,
        corr: &[u8],
        entity: &[u8],
        cmd: &Command,
        key: Option<&SignKey>,
    ) -> io::Result<Vec<u8>> {
        let (Some(session), Some(version)) = (self.conn.session_id(), self.conn.version()) else {
            return Err(io::Error::other("not established"));
        };
        let corr = CorrId::from_slice(corr).map_err(|e| io::Error::other(format!("{e:?}")))?;
        let entity =
            EntityId::from_slice(entity).map_err(|e| io::Error::other(format!("{e:?}")))?;
        let signed = signed_part(session, &corr, &entity, &cmd.to_bytes(version))
            .map_err(|e| io::Error::other(format!("{e:?}")))?;
        let sig = key.map(|k| k.sign(&signed));
        Ok(encode_transmission(sig.as_ref(), &signed))
    }

    /// Sends transmissions made by [`NetClient::encode`] (packed into as few blocks as fit).
    pub fn send_raw(&mut self, transmissions: Vec<Vec<u8>>) -> io::Result<()> {
        let now = self.now();
        self.conn
            .handle_input(now, Input::Send(transmissions))
            .map_err(|e| io::Error::other(e.to_string()))?;
        self.flush()
    }

    /// Sends one command.
    pub fn send(
        &mut self,
        corr: &str,
        entity: &[u8],
        cmd: &Command,
        key: Option<&SignKey>,
    ) -> io::Result<()> {
        let t = self.encode(corr.as_bytes(), entity, cmd, key)?;
        self.send_raw(vec![t])
    }

    /// The next received transmission, waiting at most `timeout`.
    pub fn receive(&mut self, timeout: Duration) -> io::Result<Received> {
        let until = std::time::Instant::now() + timeout;
        loop {
            if let Some(t) = self.inbox.pop_front() {
                return Ok(t);
            }
            let now = std::time::Instant::now();
            if self.closed {
                return Err(io::Error::new(io::ErrorKind::ConnectionAborted, "closed"));
            }
            if now >= until {
                return Err(timed_out("receive"));
            }
            self.read_some((until - now).min(Duration::from_millis(100)))?;
        }
    }

    /// The next transmission with corr id `corr`; others stay in the inbox, in order.
    pub fn receive_for(&mut self, corr: &str, timeout: Duration) -> io::Result<BrokerMsg> {
        let until = std::time::Instant::now() + timeout;
        loop {
            if let Some(i) = self
                .inbox
                .iter()
                .position(|t| t.corr_id.as_bytes() == corr.as_bytes())
            {
                if let Some(t) = self.inbox.remove(i) {
                    return t
                        .message
                        .map_err(|e| io::Error::other(format!("transport error {e:?}")));
                }
            }
            let now = std::time::Instant::now();
            if self.closed {
                return Err(io::Error::new(io::ErrorKind::ConnectionAborted, "closed"));
            }
            if now >= until {
                return Err(timed_out("answer"));
            }
            self.read_some((until - now).min(Duration::from_millis(100)))?;
        }
    }

    /// Sends one command and waits for its answer.
    pub fn request(
        &mut self,
        corr: &str,
        entity: &[u8],
        cmd: &Command,
        key: Option<&SignKey>,
        timeout: Duration,
    ) -> io::Result<BrokerMsg> {
        self.send(corr, entity, cmd, key)?;
        self.receive_for(corr, timeout)
    }

    /// `NEW` with `rkey` and `dh`, then `KEY` with `skey`'s public key: a secured queue. Any
    /// other answer is an error.
    pub fn secured_queue(
        &mut self,
        rkey: &SignKey,
        skey: &SignKey,
        dh: &simplex_core::crypto::x25519::PrivateKey,
        timeout: Duration,
    ) -> io::Result<SecuredQueue> {
        let unexpected =
            |what: &str, answer: BrokerMsg| io::Error::other(format!("{what} answered {answer:?}"));
        let new = Command::New {
            recipient_key: rkey.verify_key(),
            dh_key: dh.public_key(),
        };
        let (rid, sid, server_dh_key) = match self.request("new", &[], &new, Some(rkey), timeout)? {
            BrokerMsg::Ids {
                recipient_id,
                sender_id,
                server_dh_key,
            } => (recipient_id, sender_id, server_dh_key),
            other => return Err(unexpected("NEW", other)),
        };
        let body_key = dh
            .diffie_hellman(&server_dh_key)
            .map(|secret| simplex_core::crypto::cbox::CbKey::new(&secret))
            .map_err(|e| io::Error::other(e.to_string()))?;
        let secure = Command::Key(skey.verify_key());
        match self.request("key", rid.as_bytes(), &secure, Some(rkey), timeout)? {
            BrokerMsg::Ok => Ok(SecuredQueue {
                rid: rid.as_bytes().to_vec(),
                sid: sid.as_bytes().to_vec(),
                body_key,
            }),
            other => Err(unexpected("KEY", other)),
        }
    }

    /// Whether the server closed the connection (waiting at most `timeout` for it).
    pub fn wait_closed(&mut self, timeout: Duration) -> bool {
        let until = std::time::Instant::now() + timeout;
        while !self.closed && std::time::Instant::now() < until {
            self.inbox.clear();
            if self.read_some(Duration::from_millis(50)).is_err() {
                return true;
            }
        }
        self.closed
    }

    /// Why the connection ended, once it did (`CloseReason::Closed`: a clean TLS close_notify).
    pub fn close_reason(&self) -> Option<&CloseReason> {
        self.close_reason.as_ref()
    }

    /// Sends TLS close_notify.
    pub fn close(&mut self) -> io::Result<()> {
        let now = self.now();
        let _ = self.conn.handle_input(now, Input::Close);
        self.flush()
    }
}
