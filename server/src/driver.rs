//! The server driver: the SMP server machine together with one SMP connection machine
//! (TLS + SMP hello + blocks) per socket, as one more sans-IO machine.
//!
//! Shells (mio, smol), the simulator and trace replay all drive a server through this one
//! type, so they cannot disagree on behaviour: a shell accepts sockets, feeds their bytes in
//! and writes out what comes back, and that is all it does.
//!
//! On several cores, each worker runs one of these as one shard of the server
//! ([`ServerDriver::sharded`]): its own shard of the queues, the sockets its shell holds, and
//! [`crate::mail`] for the rest, which it hands out as [`DriverOutput::Mail`] and takes in as
//! [`DriverInput::Mail`]. It never touches a channel or a thread itself, so a server of N
//! shards is as deterministic as the order its mail is delivered in (the simulator picks that
//! order from a seed; production threads let the scheduler pick).
//!
//! Every input comes with a [`Clock`]: `now` (monotonic, for timers) and `wall_clock` (Unix
//! time, for message timestamps and stats). Randomness comes from the injected RNG; each
//! connection's TLS gets its own generator seeded from it, so a run replays exactly from the
//! root seed.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use simplex_core::crypto::hash::KeyHash;
use simplex_core::crypto::CryptoRng;
use simplex_core::protocol::{Command, VerifiedTransmission};
use simplex_core::time::{Clock, Instant};
use simplex_core::tls::ServerIdentity;
use simplex_core::transport;
use simplex_core::transport::Framing;

use crate::connections::{ConnectionFactory, Conns};
use crate::durable::JournalRecord;
use crate::mail::{holder, ClientNumbers, Letter};
use crate::msg_log::StoredMessage;
use crate::store_log::StoreLogRecord;
use crate::{ClientId, Server, ServerError, ServerInput, ServerOutput, ShardRouter};

/// Identifies an accepted socket (the shell picks the numbers; they must be unique while open).
pub type ConnId = u64;

/// What the shell feeds the driver.
#[derive(Debug)]
pub enum DriverInput<'a> {
    /// A socket was accepted.
    Accepted {
        /// Its id.
        conn: ConnId,
        /// How it carries blocks (the listener it came from decides).
        framing: Framing,
    },
    /// Bytes were read from a socket.
    Received {
        /// The socket.
        conn: ConnId,
        /// The bytes.
        bytes: &'a [u8],
    },
    /// A socket reached end of file or failed.
    PeerClosed {
        /// The socket.
        conn: ConnId,
    },
    /// Only time passed (a timeout the driver asked for, or any later time).
    Tick,
    /// Letters other shards sent ([`DriverOutput::Mail`]), those from each shard in the order
    /// it sent them.
    Mail(Vec<Letter>),
    /// A graceful stop: every connection is closed (TLS close_notify), undelivered messages
    /// and the stats backup come out, and no more input is accepted.
    Shutdown,
}

/// What the driver asks of the shell.
#[derive(Debug, Clone, PartialEq)]
pub enum DriverOutput {
    /// Write these bytes to the socket.
    Write {
        /// The socket.
        conn: ConnId,
        /// The bytes.
        bytes: Vec<u8>,
    },
    /// Close the socket (after writing what came before). The id may be reused afterwards.
    CloseSocket {
        /// The socket.
        conn: ConnId,
    },
    /// Append to the store log.
    Persist(StoreLogRecord),
    /// Append to the message journal and sync before acting on later outputs (durable mode).
    Journal(JournalRecord),
    /// At shutdown: an undelivered message to save.
    SaveMessage {
        /// The queue's recipient id.
        recipient_id: simplex_core::protocol::EntityId,
        /// The message.
        message: StoredMessage,
    },
    /// At shutdown: the stats backup.
    StatsBackup(String),
    /// A stats line for the stats log.
    Stats(String),
    /// Deliver this letter to shard `to` (as [`DriverInput::Mail`] there), after the
    /// journal records output before it are on disk (a shard must not answer `OK` for a
    /// message the journal does not hold yet), and in order after earlier letters to `to`.
    Mail {
        /// The receiving shard's index.
        to: u16,
        /// The letter.
        letter: Letter,
    },
    /// Nothing more until this instant (`None`: until the next input).
    Timeout(Option<Instant>),
}

/// A caller error; the input was refused and nothing changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DriverError {
    /// `Accepted` for an id that is still open.
    #[error("connection id already in use")]
    DuplicateConn,
    /// An input for a socket the driver does not know (or already told the shell to close).
    #[error("unknown connection id")]
    UnknownConn,
    /// The server was shut down.
    #[error("the server was shut down")]
    ShutDown,
    /// An input before the previous outputs were drained to `Timeout`. Nothing was taken.
    #[error("outputs are pending: drain poll_output first")]
    OutputPending,
    /// The server machine refused the input (a driver bug if it ever happens).
    #[error("server machine: {0}")]
    Machine(#[from] ServerError),
}

/// How connections are set up.
#[derive(Debug, Clone)]
pub struct DriverConfig {
    /// How long a client has for TLS and the SMP hello together.
    pub handshake_timeout: Duration,
}

impl Default for DriverConfig {
    fn default() -> Self {
        Self {
            handshake_timeout: Duration::from_secs(120),
        }
    }
}

/// The server driver. See the module docs.
pub struct ServerDriver<R: CryptoRng> {
    server: Server<R>,
    factory: ConnectionFactory,
    conns: Conns,
    outputs: VecDeque<DriverOutput>,
    /// The server machine's deadline, as of its last drain.
    server_deadline: Option<Instant>,
    shut_down: bool,
    /// Routes transmissions to shards, when this is one shard of several.
    router: Option<Arc<ShardRouter>>,
    /// This shard's index and the number of shards (0 of 1 alone).
    shard: u16,
    shards: u16,
    /// Ids for the clients this driver holds.
    numbers: ClientNumbers,
    /// The connection of each client this driver holds.
    clients: HashMap<ClientId, ConnId>,
}

impl<R: CryptoRng> std::fmt::Debug for ServerDriver<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerDriver")
            .field("connections", &self.conns.len())
            .finish_non_exhaustive()
    }
}

impl<R: CryptoRng> ServerDriver<R> {
    /// A driver around `server` presenting `identity`. `tls_seed` seeds the generator each
    /// connection's TLS randomness is drawn from.
    pub fn new(
        mut server: Server<R>,
        identity: ServerIdentity,
        config: DriverConfig,
        tls_seed: [u8; 32],
    ) -> Self {
        let range = server.config().version_range;
        let factory = ConnectionFactory::new(identity, range, config.handshake_timeout, tls_seed);
        // Whatever the restored server already has to say (no client exists yet, so nothing
        // is addressed to a connection), and its first timer (expiry, stats).
        let mut outputs = VecDeque::new();
        let server_deadline = loop {
            match server.poll_output() {
                ServerOutput::Timeout(deadline) => break deadline,
                other => outputs.extend(Self::shell_output(other)),
            }
        };
        Self {
            server,
            factory,
            conns: Conns::default(),
            outputs,
            server_deadline,
            shut_down: false,
            router: None,
            shard: 0,
            shards: 1,
            numbers: ClientNumbers::new(0, 1),
            clients: HashMap::new(),
        }
    }

    /// One shard of several: `server` is shard `server.config().shard`, and commands for
    /// other shards and answers to clients held elsewhere go out as [`DriverOutput::Mail`].
    /// `router` is the whole server's (built for the same number of shards).
    pub fn sharded(
        server: Server<R>,
        identity: ServerIdentity,
        config: DriverConfig,
        tls_seed: [u8; 32],
        router: Arc<ShardRouter>,
    ) -> Self {
        let shard = server.config().shard;
        let mut driver = Self::new(server, identity, config, tls_seed);
        driver.shards = shard.count.max(1);
        driver.shard = shard.index.min(driver.shards - 1);
        driver.numbers = ClientNumbers::new(driver.shard, driver.shards);
        if driver.shards > 1 {
            driver.router = Some(router);
        }
        driver
    }

    /// This driver's shard index and the number of shards (0 and 1 alone).
    pub fn shard(&self) -> (u16, u16) {
        (self.shard, self.shards)
    }

    /// The server machine (for inspection).
    pub fn server(&self) -> &Server<R> {
        &self.server
    }

    /// The server's identity (the key hash clients must name).
    pub fn key_hash(&self) -> KeyHash {
        self.factory.key_hash()
    }

    /// Open connections.
    pub fn connection_count(&self) -> usize {
        self.conns.len()
    }

    /// Feeds an input, then drain [`ServerDriver::poll_output`] until it returns
    /// [`DriverOutput::Timeout`].
    pub fn handle_input(
        &mut self,
        clock: Clock,
        input: DriverInput<'_>,
    ) -> Result<(), DriverError> {
        if self.shut_down {
            return Err(DriverError::ShutDown);
        }
        if !self.outputs.is_empty() {
            return Err(DriverError::OutputPending);
        }
        match input {
            DriverInput::Mail(letters) => self.read_mail(clock, letters)?,
            DriverInput::Accepted { conn, framing } => self.accept(clock, conn, framing)?,
            DriverInput::Received { conn, bytes } => {
                let mut rest = bytes;
                // The machine takes fewer bytes only while its outputs wait: drain, then go on.
                while !rest.is_empty() {
                    let Some(c) = self.conns.get_mut(conn) else {
                        break;
                    };
                    let n = c
                        .machine
                        .handle_input(clock.now, transport::Input::Received(rest))
                        .unwrap_or(rest.len());
                    rest = &rest[n.min(rest.len())..];
                    self.drain_conn(clock, conn)?;
                    // The connection machine hands TLS events on as they come, so it always
                    // takes some bytes; never spin if that ever changes.
                    if n == 0 {
                        break;
                    }
                }
                if !self.conns.contains(conn) && rest.len() == bytes.len() {
                    return Err(DriverError::UnknownConn);
                }
            }
            DriverInput::PeerClosed { conn } => {
                let c = self.conns.get_mut(conn).ok_or(DriverError::UnknownConn)?;
                let _ = c
                    .machine
                    .handle_input(clock.now, transport::Input::PeerClosed);
                self.drain_conn(clock, conn)?;
            }
            DriverInput::Tick => {
                self.server.handle_input(clock, ServerInput::Timeout)?;
                self.drain_server(clock)?;
                for conn in self.conns.due(clock.now) {
                    if let Some(c) = self.conns.get_mut(conn) {
                        let _ = c.machine.handle_input(clock.now, transport::Input::Tick);
                        self.drain_conn(clock, conn)?;
                    }
                }
            }
            DriverInput::Shutdown => {
                let ids = self.conns.ids();
                for conn in ids {
                    if let Some(c) = self.conns.get_mut(conn) {
                        let _ = c.machine.handle_input(clock.now, transport::Input::Close);
                        self.drain_conn(clock, conn)?;
                    }
                }
                self.server.handle_input(clock, ServerInput::Shutdown)?;
                self.drain_server(clock)?;
                self.shut_down = true;
            }
        }
        Ok(())
    }

    /// The next output; drain until [`DriverOutput::Timeout`].
    pub fn poll_output(&mut self) -> DriverOutput {
        if let Some(output) = self.outputs.pop_front() {
            return output;
        }
        DriverOutput::Timeout(self.next_timeout())
    }

    fn next_timeout(&self) -> Option<Instant> {
        self.conns
            .earliest()
            .into_iter()
            .chain(self.server_deadline)
            .min()
    }

    fn accept(&mut self, clock: Clock, conn: ConnId, framing: Framing) -> Result<(), DriverError> {
        if self.conns.contains(conn) {
            return Err(DriverError::DuplicateConn);
        }
        match self.factory.open(clock.now, framing) {
            Some(c) => {
                self.conns.insert(conn, c);
                self.drain_conn(clock, conn)
            }
            None => {
                self.outputs.push_back(DriverOutput::CloseSocket { conn });
                Ok(())
            }
        }
    }

    /// Moves a connection machine's outputs to the shell and the server machine. Each block's
    /// transmissions go to the server machine on their own, even when one read brought several
    /// blocks: the reference answers block by block (a block's refusals, then its commands), so
    /// a pipelining client sees the same order of answers from both.
    fn drain_conn(&mut self, clock: Clock, conn: ConnId) -> Result<(), DriverError> {
        let mut received = Vec::new();
        let mut closed = false;
        loop {
            let Some(c) = self.conns.get_mut(conn) else {
                return Ok(());
            };
            match c.machine.poll_output() {
                transport::Output::Transmit(bytes) => {
                    self.outputs.push_back(DriverOutput::Write { conn, bytes })
                }
                transport::Output::Established {
                    negotiated,
                    session_id,
                } => {
                    let client = self.numbers.next();
                    c.client = Some(client);
                    self.clients.insert(client, conn);
                    let session_id = bytes::Bytes::copy_from_slice(&session_id);
                    self.post_to_others(|| Letter::ClientConnected {
                        client,
                        session_id: session_id.clone(),
                        version: negotiated.version,
                    });
                    self.server.handle_input(
                        clock,
                        ServerInput::ClientConnected {
                            client,
                            session_id,
                            version: negotiated.version,
                        },
                    )?;
                    self.drain_server(clock)?;
                }
                transport::Output::Received(t) => received.push(t),
                // Server transmissions always fit in a block.
                transport::Output::TooLarge(_) => {}
                transport::Output::Closed(_) => closed = true,
                transport::Output::Timeout(deadline) => {
                    self.conns.set_deadline(conn, deadline);
                    break;
                }
            }
        }
        let (client, sizes) = match self.conns.get_mut(conn) {
            Some(c) => (c.client, c.machine.take_block_sizes()),
            None => (None, Vec::new()),
        };
        if let (Some(client), false) = (client, received.is_empty()) {
            let mut received = received.into_iter();
            // The sizes add up to the transmissions drained; anything past them (never
            // expected) goes as one more block rather than being lost.
            for size in sizes.into_iter().chain([usize::MAX]) {
                let block: Vec<_> = received.by_ref().take(size).collect();
                if block.is_empty() {
                    continue;
                }
                let mine = self.keep_own(client, block);
                if !mine.is_empty() {
                    self.server.handle_input(
                        clock,
                        ServerInput::Transmissions {
                            client,
                            transmissions: mine,
                        },
                    )?;
                    self.drain_server(clock)?;
                }
            }
        }
        if closed {
            if let Some(c) = self.conns.remove(conn) {
                if let Some(client) = c.client {
                    self.clients.remove(&client);
                    self.post_to_others(|| Letter::ClientClosed { client });
                    self.server
                        .handle_input(clock, ServerInput::ClientClosed { client })?;
                    self.drain_server(clock)?;
                }
                self.outputs.push_back(DriverOutput::CloseSocket { conn });
            }
        }
        Ok(())
    }

    /// The shell could not commit `outputs[failed_at]`, a [`DriverOutput::Persist`] or
    /// [`DriverOutput::Journal`] record (its write failed, or the journal sync after it): what
    /// followed it must not tell a client it was done. `outputs` is one drain of this driver,
    /// in order, not yet carried out past `failed_at`; the result is what to carry out
    /// instead, from `failed_at` on (the record itself is not repeated).
    ///
    /// An answer already made into TLS records cannot be recalled, so every socket a
    /// [`DriverOutput::Write`] after the failure was for is closed at once without it (its
    /// client sees the connection drop, not `OK` or a message, and retries elsewhere or
    /// later); an answer on its way to another shard's client turns into a close of that
    /// client. Records and other outputs stay, in order: the shell still tries to write them.
    pub fn withhold_uncommitted(
        &mut self,
        clock: Clock,
        outputs: Vec<DriverOutput>,
        failed_at: usize,
    ) -> Vec<DriverOutput> {
        let mut kept = Vec::new();
        let mut aborted = Vec::new();
        for output in outputs.into_iter().skip(failed_at.saturating_add(1)) {
            match output {
                DriverOutput::Write { conn, .. } => {
                    if !aborted.contains(&conn) {
                        aborted.push(conn);
                    }
                }
                DriverOutput::Mail {
                    to,
                    letter: Letter::Transmit { client, .. },
                } => kept.push(DriverOutput::Mail {
                    to,
                    letter: Letter::Close { client },
                }),
                other => kept.push(other),
            }
        }
        for conn in aborted {
            // Closed sockets later in the batch are already gone here.
            let Some(c) = self.conns.remove(conn) else {
                continue;
            };
            if let Some(client) = c.client {
                self.clients.remove(&client);
                self.post_to_others(|| Letter::ClientClosed { client });
                let closed = self
                    .server
                    .handle_input(clock, ServerInput::ClientClosed { client });
                if closed.is_ok() {
                    let _ = self.drain_server(clock);
                }
            }
            self.outputs.push_back(DriverOutput::CloseSocket { conn });
        }
        kept.extend(self.outputs.drain(..));
        kept
    }

    /// Posts to every other shard what `letter` makes.
    fn post_to_others(&mut self, letter: impl Fn() -> Letter) {
        for to in (0..self.shards).filter(|&to| to != self.shard) {
            self.outputs.push_back(DriverOutput::Mail {
                to,
                letter: letter(),
            });
        }
    }

    /// Of a client's transmissions, those for this driver's shard; the rest are posted to the
    /// shards owning their queues, consecutive ones for the same shard together. (All of
    /// them when this is the only shard.)
    fn keep_own(
        &mut self,
        client: ClientId,
        received: Vec<VerifiedTransmission<Command>>,
    ) -> Vec<VerifiedTransmission<Command>> {
        let Some(router) = &self.router else {
            return received;
        };
        let me = self.shard;
        let shard_of = |t: &VerifiedTransmission<Command>| {
            router.route(client, &t.entity_id, t.message.as_ref().ok())
        };
        if received.iter().all(|t| shard_of(t) == me) {
            return received;
        }
        let mut mine = Vec::new();
        let mut batch: Vec<VerifiedTransmission<Command>> = Vec::new();
        let mut batch_shard = me;
        for t in received {
            let shard = shard_of(&t);
            if shard == me {
                mine.push(t);
                continue;
            }
            if shard != batch_shard && !batch.is_empty() {
                self.outputs.push_back(DriverOutput::Mail {
                    to: batch_shard,
                    letter: Letter::Transmissions {
                        client,
                        transmissions: std::mem::take(&mut batch),
                    },
                });
            }
            batch_shard = shard;
            batch.push(t);
        }
        if !batch.is_empty() {
            self.outputs.push_back(DriverOutput::Mail {
                to: batch_shard,
                letter: Letter::Transmissions {
                    client,
                    transmissions: batch,
                },
            });
        }
        mine
    }

    /// Applies the letters other shards sent.
    fn read_mail(&mut self, clock: Clock, letters: Vec<Letter>) -> Result<(), DriverError> {
        for letter in letters {
            match letter {
                Letter::ClientConnected {
                    client,
                    session_id,
                    version,
                } => self.server.handle_input(
                    clock,
                    ServerInput::ClientConnected {
                        client,
                        session_id,
                        version,
                    },
                )?,
                Letter::Transmissions {
                    client,
                    transmissions,
                } => self.server.handle_input(
                    clock,
                    ServerInput::Transmissions {
                        client,
                        transmissions,
                    },
                )?,
                Letter::ClientClosed { client } => self
                    .server
                    .handle_input(clock, ServerInput::ClientClosed { client })?,
                Letter::Transmit {
                    client,
                    transmissions,
                } => {
                    if let Some(conn) = self.hand_to_client(clock, client, Some(transmissions)) {
                        self.drain_conn(clock, conn)?;
                    }
                    continue;
                }
                Letter::Close { client } => {
                    if let Some(conn) = self.hand_to_client(clock, client, None) {
                        self.drain_conn(clock, conn)?;
                    }
                    continue;
                }
            }
            self.drain_server(clock)?;
        }
        Ok(())
    }

    /// Hands transmissions (or, with `None`, a close) to a client's connection here; the
    /// connection touched, if it is still open.
    fn hand_to_client(
        &mut self,
        clock: Clock,
        client: ClientId,
        transmissions: Option<Vec<Vec<u8>>>,
    ) -> Option<ConnId> {
        let conn = *self.clients.get(&client)?;
        let c = self.conns.get_mut(conn)?;
        let closed = match transmissions {
            // A client that does not read its socket while the server keeps answering is
            // dropped rather than buffered without bound.
            Some(t) => c
                .machine
                .handle_input(clock.now, transport::Input::Send(t))
                .is_err(),
            None => true,
        };
        if closed {
            let _ = c.machine.handle_input(clock.now, transport::Input::Close);
        }
        Some(conn)
    }

    /// Moves the server machine's outputs to the connections, the other shards and the
    /// shell.
    fn drain_server(&mut self, clock: Clock) -> Result<(), DriverError> {
        let mut touched = Vec::new();
        loop {
            let output = self.server.poll_output();
            let (client, transmissions) = match output {
                ServerOutput::Transmit {
                    client,
                    transmissions,
                } => (client, Some(transmissions)),
                ServerOutput::Close { client } => (client, None),
                ServerOutput::Timeout(deadline) => {
                    self.server_deadline = deadline;
                    break;
                }
                other => {
                    self.outputs.extend(Self::shell_output(other));
                    continue;
                }
            };
            let to = holder(client, self.shards);
            if to == self.shard {
                touched.extend(self.hand_to_client(clock, client, transmissions));
            } else {
                let letter = match transmissions {
                    Some(transmissions) => Letter::Transmit {
                        client,
                        transmissions,
                    },
                    None => Letter::Close { client },
                };
                self.outputs.push_back(DriverOutput::Mail { to, letter });
            }
        }
        for conn in touched {
            self.drain_conn(clock, conn)?;
        }
        Ok(())
    }

    /// A server output for the shell (files, logs); `None` for those about connections.
    fn shell_output(output: ServerOutput) -> Option<DriverOutput> {
        Some(match output {
            ServerOutput::Persist(record) => DriverOutput::Persist(record),
            ServerOutput::Journal(record) => DriverOutput::Journal(record),
            ServerOutput::SaveMessage {
                recipient_id,
                message,
            } => DriverOutput::SaveMessage {
                recipient_id,
                message,
            },
            ServerOutput::StatsBackup(text) => DriverOutput::StatsBackup(text),
            ServerOutput::Stats(line) => DriverOutput::Stats(line),
            ServerOutput::Transmit { .. }
            | ServerOutput::Close { .. }
            | ServerOutput::Timeout(_) => return None,
        })
    }
}
