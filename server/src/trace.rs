//! Traces: a server run as the inputs its driver received, so it can be replayed exactly.
//!
//! The driver is deterministic given its seeds, its starting state and its inputs, so a trace
//! holds just those: a header (the seeds, the configuration, the clocks at start, the persisted
//! state the run started from, and the key hash of the identity), then every input with both
//! clocks, each followed by a SHA-256 digest of everything the driver output up to then.
//! Replaying feeds the same inputs to a fresh driver and checks every digest, so any change
//! in behaviour shows at the first input that produced different bytes.
//!
//! A trace holds every byte clients sent, so it holds their traffic (encrypted by TLS) — treat
//! it as sensitive. It does not hold the server's private key: replay takes the identity as an
//! argument and checks its key hash against the header.
//!
//! Format (binary, this crate's encoding): `SMPTRACE`, a version byte, the header, then
//! records: `I` + input, or `D` + a 32-byte digest. An input is `a` + socket (accepted, raw
//! TLS), `w` + socket (accepted, WebSocket framing), `r` + socket + bytes, `c` + socket, `t`
//! or `s`. Version 2 added the stats settings and the stats backup to the header, and wall-clock
//! nanoseconds to every time; version 1 traces still replay.
//!
//! Traces come from the simulator and from real runs: `smp-server start --trace FILE` makes
//! the [`crate::host::Host`] record its (single, deterministic) driver while serving.

use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use sha2::{Digest, Sha256};
use simplex_core::crypto::hash::KeyHash;
use simplex_core::encoding::{Decode, DecodeError, Encode, Reader, UnixTime, VersionRange};
use simplex_core::time::{Clock, Instant};
use simplex_core::tls::ServerIdentity;
use simplex_core::transport::Framing;

use crate::driver::{ConnId, DriverConfig, DriverInput, DriverOutput, ServerDriver};
use crate::{durable, msg_log, store_log, ExpirationConfig, Server, ServerConfig, StatsConfig};

const MAGIC: &[u8] = b"SMPTRACE";
const FORMAT_VERSION: u8 = 2;

/// What a run started from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceHeader {
    /// The server machine's RNG seed.
    pub server_seed: [u8; 32],
    /// The seed of the connections' TLS randomness.
    pub tls_seed: [u8; 32],
    /// The clock when the server was created.
    pub start: Clock,
    /// The server's configuration (the fields that change behaviour).
    pub config: ServerConfig,
    /// The driver's handshake timeout, in microseconds.
    pub handshake_timeout_micros: u64,
    /// The server identity's key hash (replay needs the identity itself).
    pub key_hash: KeyHash,
    /// The store log the server was restored from.
    pub store_log: String,
    /// The message journal it was restored from (durable mode).
    pub journal: String,
    /// The saved messages it was restored from.
    pub saved_messages: String,
    /// The stats backup it was restored from (empty: none).
    pub stats_backup: String,
}

/// One driver input, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TracedInput {
    /// [`DriverInput::Accepted`].
    Accepted(ConnId, Framing),
    /// [`DriverInput::Received`].
    Received(ConnId, Vec<u8>),
    /// [`DriverInput::PeerClosed`].
    PeerClosed(ConnId),
    /// [`DriverInput::Tick`].
    Tick,
    /// [`DriverInput::Shutdown`].
    Shutdown,
}

impl TracedInput {
    /// Copies a driver input; `None` for mail, which only a sharded driver takes. A trace
    /// file is one lone driver's; the sharded simulator traces each of its drivers without
    /// their mail, whose outputs are folded into the digest after the input before it.
    pub fn of(input: &DriverInput<'_>) -> Option<Self> {
        Some(match input {
            DriverInput::Accepted { conn, framing } => Self::Accepted(*conn, *framing),
            DriverInput::Received { conn, bytes } => Self::Received(*conn, bytes.to_vec()),
            DriverInput::PeerClosed { conn } => Self::PeerClosed(*conn),
            DriverInput::Tick => Self::Tick,
            DriverInput::Shutdown => Self::Shutdown,
            DriverInput::Mail(_) => return None,
        })
    }

    /// The driver input it records.
    pub fn as_input(&self) -> DriverInput<'_> {
        match self {
            Self::Accepted(conn, framing) => DriverInput::Accepted {
                conn: *conn,
                framing: *framing,
            },
            Self::Received(conn, bytes) => DriverInput::Received { conn: *conn, bytes },
            Self::PeerClosed(conn) => DriverInput::PeerClosed { conn: *conn },
            Self::Tick => DriverInput::Tick,
            Self::Shutdown => DriverInput::Shutdown,
        }
    }
}

/// A record after the header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TraceRecord {
    /// An input and both clocks.
    Input(Clock, TracedInput),
    /// The digest of all outputs so far.
    Digest([u8; 32]),
}

fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_be_bytes());
}

fn put_blob(out: &mut Vec<u8>, bytes: &[u8]) {
    // Blobs longer than 4 GiB cannot occur in a trace the driver produced.
    put_u64(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

fn get_u64(r: &mut Reader) -> Result<u64, DecodeError> {
    Ok(u64::from_be_bytes(r.take_array()?))
}

fn get_blob(r: &mut Reader) -> Result<Vec<u8>, DecodeError> {
    let len = usize::try_from(get_u64(r)?).map_err(|_| DecodeError::Invalid("blob length"))?;
    Ok(r.take(len)?.to_vec())
}

fn get_text(r: &mut Reader) -> Result<String, DecodeError> {
    String::from_utf8(get_blob(r)?).map_err(|_| DecodeError::Invalid("trace text"))
}

/// A wall-clock time with its nanoseconds (the protocol's time encoding, used by format 1,
/// keeps whole seconds only, and the server's behaviour can depend on the rest).
fn put_time(out: &mut Vec<u8>, t: UnixTime) {
    t.encode(out);
    out.extend_from_slice(&t.nanoseconds.to_be_bytes());
}

fn get_time(r: &mut Reader, format: u8) -> Result<UnixTime, DecodeError> {
    let mut t = UnixTime::decode(r)?;
    if format >= 2 {
        t.nanoseconds = u32::from_be_bytes(r.take_array()?);
        if t.nanoseconds >= 1_000_000_000 {
            return Err(DecodeError::Invalid("trace time"));
        }
    }
    Ok(t)
}

fn put_expiration(out: &mut Vec<u8>, e: &Option<ExpirationConfig>) {
    e.map(|e| (e.ttl_secs, e.check_interval_secs as i64))
        .encode(out)
}

fn get_expiration(r: &mut Reader) -> Result<Option<ExpirationConfig>, DecodeError> {
    Ok(
        Option::<(i64, i64)>::decode(r)?.map(|(ttl_secs, interval)| ExpirationConfig {
            ttl_secs,
            check_interval_secs: interval.unsigned_abs(),
        }),
    )
}

impl TraceHeader {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(MAGIC);
        out.push(FORMAT_VERSION);
        out.extend_from_slice(&self.server_seed);
        out.extend_from_slice(&self.tls_seed);
        put_u64(out, self.start.now.as_micros());
        put_time(out, self.start.wall_clock);
        let c = &self.config;
        put_u64(out, c.msg_queue_quota as u64);
        (c.allow_new_queues, c.store_log, c.durable_messages).encode(out);
        put_expiration(out, &c.message_expiration);
        put_expiration(out, &c.inactive_client_expiration);
        c.version_range.encode(out);
        put_u64(out, self.handshake_timeout_micros);
        self.key_hash.encode(out);
        put_blob(out, self.store_log.as_bytes());
        put_blob(out, self.journal.as_bytes());
        put_blob(out, self.saved_messages.as_bytes());
        match c.log_stats {
            Some(stats) => {
                out.push(1);
                put_u64(out, stats.interval_secs);
                put_u64(out, stats.start_time_secs);
            }
            None => out.push(0),
        }
        put_blob(out, self.stats_backup.as_bytes());
    }

    /// The header and the trace's format version.
    fn decode(r: &mut Reader) -> Result<(Self, u8), DecodeError> {
        r.expect_bytes(MAGIC, "trace magic")?;
        let format = r.byte()?;
        if !(1..=FORMAT_VERSION).contains(&format) {
            return Err(DecodeError::Invalid("trace format version"));
        }
        let server_seed = r.take_array()?;
        let tls_seed = r.take_array()?;
        let start = Clock {
            now: Instant::from_micros(get_u64(r)?),
            wall_clock: get_time(r, format)?,
        };
        let quota = usize::try_from(get_u64(r)?).map_err(|_| DecodeError::Invalid("quota"))?;
        let (allow_new_queues, store_log, durable_messages) = <(bool, bool, bool)>::decode(r)?;
        let message_expiration = get_expiration(r)?;
        let inactive_client_expiration = get_expiration(r)?;
        let version_range = VersionRange::decode(r)?;
        let handshake_timeout_micros = get_u64(r)?;
        let key_hash = KeyHash::decode(r)?;
        let store_log_text = get_text(r)?;
        let journal = get_text(r)?;
        let saved_messages = get_text(r)?;
        let (log_stats, stats_backup) = if format >= 2 {
            let log_stats = match r.byte()? {
                0 => None,
                1 => Some(StatsConfig {
                    interval_secs: get_u64(r)?,
                    start_time_secs: get_u64(r)?,
                }),
                _ => return Err(DecodeError::Invalid("trace stats settings")),
            };
            (log_stats, get_text(r)?)
        } else {
            (None, String::new())
        };
        let config = ServerConfig {
            msg_queue_quota: quota,
            allow_new_queues,
            store_log,
            durable_messages,
            message_expiration,
            inactive_client_expiration,
            version_range,
            log_stats,
            ..ServerConfig::default()
        };
        let header = Self {
            server_seed,
            tls_seed,
            start,
            config,
            handshake_timeout_micros,
            key_hash,
            store_log: store_log_text,
            journal,
            saved_messages,
            stats_backup,
        };
        Ok((header, format))
    }

    /// A driver in the state the traced run started in.
    pub fn build_driver(
        &self,
        identity: ServerIdentity,
    ) -> Result<ServerDriver<ChaCha20Rng>, ReplayError> {
        if identity.key_hash() != self.key_hash {
            return Err(ReplayError::WrongIdentity);
        }
        let rng = ChaCha20Rng::from_seed(self.server_seed);
        let mut server = Server::new(self.config.clone(), rng, self.start);
        // The order `files::DataFiles::load_sharded` restores in: queues, saved messages,
        // journal, stats.
        let queues = store_log::read_store_log(self.store_log.as_bytes()).queues;
        server
            .restore_queues(queues.into_values())
            .map_err(|_| ReplayError::Restore)?;
        server
            .restore_messages(self.saved_messages.as_bytes())
            .map_err(|_| ReplayError::Restore)?;
        let journal = durable::replay(self.journal.as_bytes());
        let journal = journal
            .into_iter()
            .flat_map(|(rid, msgs)| msgs.into_iter().map(move |m| (rid.clone(), m)));
        server
            .restore_journal(journal)
            .map_err(|_| ReplayError::Restore)?;
        // A backup that does not parse is not restored, as at a start.
        if !self.stats_backup.is_empty() {
            let _ = server.restore_stats(self.stats_backup.as_bytes());
        }
        let config = DriverConfig {
            handshake_timeout: std::time::Duration::from_micros(self.handshake_timeout_micros),
        };
        Ok(ServerDriver::new(server, identity, config, self.tls_seed))
    }
}

/// Folds driver outputs into a digest, in a canonical encoding.
#[derive(Debug, Clone, Default)]
pub struct OutputDigest(Sha256);

impl OutputDigest {
    /// Adds one output.
    pub fn add(&mut self, output: &DriverOutput) {
        let mut bytes = Vec::new();
        match output {
            DriverOutput::Write { conn, bytes: b } => {
                bytes.push(b'W');
                put_u64(&mut bytes, *conn);
                put_blob(&mut bytes, b);
            }
            DriverOutput::CloseSocket { conn } => {
                bytes.push(b'C');
                put_u64(&mut bytes, *conn);
            }
            DriverOutput::Persist(record) => {
                bytes.push(b'P');
                put_blob(&mut bytes, record.to_line().as_bytes());
            }
            DriverOutput::Journal(record) => {
                bytes.push(b'J');
                put_blob(&mut bytes, record.to_line().as_bytes());
            }
            DriverOutput::SaveMessage {
                recipient_id,
                message,
            } => {
                bytes.push(b'M');
                put_blob(
                    &mut bytes,
                    msg_log::encode_line(recipient_id, message).as_bytes(),
                );
            }
            DriverOutput::StatsBackup(text) => {
                bytes.push(b'B');
                put_blob(&mut bytes, text.as_bytes());
            }
            DriverOutput::Stats(line) => {
                bytes.push(b'S');
                put_blob(&mut bytes, line.as_bytes());
            }
            // Only a sharded driver mails, and only a lone driver is traced to a file; the
            // simulator digests the mail of its shards all the same, so its letters are
            // folded in by their (deterministic) debug form.
            DriverOutput::Mail { to, letter } => {
                bytes.push(b'L');
                put_u64(&mut bytes, u64::from(*to));
                put_blob(&mut bytes, format!("{letter:?}").as_bytes());
            }
            DriverOutput::Timeout(t) => {
                bytes.push(b'T');
                t.map(|t| t.as_micros() as i64).encode(&mut bytes);
            }
        }
        self.0.update(&bytes);
    }

    /// The digest so far.
    pub fn value(&self) -> [u8; 32] {
        self.0.clone().finalize().into()
    }
}

/// Records a run. Call [`TraceWriter::input`] before each driver input and
/// [`TraceWriter::output`] for each output drained after it, up to and including the
/// `Timeout`. Outputs drained before the first input (a restored server's) are not recorded.
#[derive(Debug, Clone)]
pub struct TraceWriter {
    bytes: Vec<u8>,
    digest: OutputDigest,
    pending_digest: bool,
}

impl TraceWriter {
    /// Starts a trace.
    pub fn new(header: &TraceHeader) -> Self {
        let mut bytes = Vec::new();
        header.encode(&mut bytes);
        Self {
            bytes,
            digest: OutputDigest::default(),
            pending_digest: false,
        }
    }

    fn flush_digest(&mut self) {
        if self.pending_digest {
            self.bytes.push(b'D');
            self.bytes.extend_from_slice(&self.digest.value());
            self.pending_digest = false;
        }
    }

    /// Records an input.
    pub fn input(&mut self, clock: Clock, input: &DriverInput<'_>) {
        let Some(input) = TracedInput::of(input) else {
            return;
        };
        self.flush_digest();
        self.bytes.push(b'I');
        put_u64(&mut self.bytes, clock.now.as_micros());
        put_time(&mut self.bytes, clock.wall_clock);
        match input {
            TracedInput::Accepted(conn, framing) => {
                self.bytes.push(match framing {
                    Framing::Raw => b'a',
                    Framing::WebSocket => b'w',
                });
                put_u64(&mut self.bytes, conn);
            }
            TracedInput::Received(conn, data) => {
                self.bytes.push(b'r');
                put_u64(&mut self.bytes, conn);
                put_blob(&mut self.bytes, &data);
            }
            TracedInput::PeerClosed(conn) => {
                self.bytes.push(b'c');
                put_u64(&mut self.bytes, conn);
            }
            TracedInput::Tick => self.bytes.push(b't'),
            TracedInput::Shutdown => self.bytes.push(b's'),
        }
        self.pending_digest = true;
    }

    /// Records an output of the last input.
    pub fn output(&mut self, output: &DriverOutput) {
        self.digest.add(output);
    }

    /// The bytes recorded since the last call (all of them the first time), with the digest
    /// of the last input's outputs: for writing a trace out while it is recorded. Call it only
    /// once every output of the last input has been given to [`Self::output`].
    pub fn take_bytes(&mut self) -> Vec<u8> {
        self.flush_digest();
        std::mem::take(&mut self.bytes)
    }

    /// The trace so far.
    pub fn finish(mut self) -> Vec<u8> {
        self.flush_digest();
        self.bytes
    }
}

/// Splits a trace into its header and records.
pub fn read_trace(bytes: &[u8]) -> Result<(TraceHeader, Vec<TraceRecord>), DecodeError> {
    let mut r = Reader::from_slice(bytes);
    let (header, format) = TraceHeader::decode(&mut r)?;
    let mut records = Vec::new();
    while !r.is_empty() {
        match r.byte()? {
            b'I' => {
                let now = Instant::from_micros(get_u64(&mut r)?);
                let wall_clock = get_time(&mut r, format)?;
                let input = match r.byte()? {
                    b'a' => TracedInput::Accepted(get_u64(&mut r)?, Framing::Raw),
                    b'w' => TracedInput::Accepted(get_u64(&mut r)?, Framing::WebSocket),
                    b'r' => TracedInput::Received(get_u64(&mut r)?, get_blob(&mut r)?),
                    b'c' => TracedInput::PeerClosed(get_u64(&mut r)?),
                    b't' => TracedInput::Tick,
                    b's' => TracedInput::Shutdown,
                    _ => return Err(DecodeError::Invalid("trace input")),
                };
                records.push(TraceRecord::Input(Clock { now, wall_clock }, input));
            }
            b'D' => records.push(TraceRecord::Digest(r.take_array()?)),
            _ => return Err(DecodeError::Invalid("trace record")),
        }
    }
    Ok((header, records))
}

/// Why a replay failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplayError {
    /// The trace does not parse.
    #[error("trace does not parse: {0}")]
    Parse(#[from] DecodeError),
    /// The identity given is not the one the run used.
    #[error("the identity's key hash is not the traced server's")]
    WrongIdentity,
    /// The starting state in the header could not be restored.
    #[error("the traced starting state does not restore")]
    Restore,
    /// The driver refused an input it accepted when the trace was recorded.
    #[error("input {index} refused on replay")]
    Refused {
        /// Which input.
        index: usize,
    },
    /// The outputs after an input differ from the recorded ones.
    #[error("outputs differ after input {index}")]
    Diverged {
        /// Which input.
        index: usize,
    },
}

/// What a successful replay went through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReplayReport {
    /// Inputs fed.
    pub inputs: usize,
    /// Outputs produced.
    pub outputs: usize,
}

/// Replays a trace with the server's identity, checking every recorded digest.
pub fn replay(trace: &[u8], identity: ServerIdentity) -> Result<ReplayReport, ReplayError> {
    let (header, records) = read_trace(trace)?;
    let mut driver = header.build_driver(identity)?;
    // What the restored server says before its first input is not traced (the recorder starts
    // digesting with the first input): drain it the same way.
    while !matches!(driver.poll_output(), DriverOutput::Timeout(_)) {}
    let mut digest = OutputDigest::default();
    let mut report = ReplayReport::default();
    for record in records {
        match record {
            TraceRecord::Input(clock, input) => {
                driver
                    .handle_input(clock, input.as_input())
                    .map_err(|_| ReplayError::Refused {
                        index: report.inputs,
                    })?;
                report.inputs += 1;
                loop {
                    let output = driver.poll_output();
                    digest.add(&output);
                    report.outputs += 1;
                    if matches!(output, DriverOutput::Timeout(_)) {
                        break;
                    }
                }
            }
            TraceRecord::Digest(expected) => {
                if digest.value() != expected {
                    return Err(ReplayError::Diverged {
                        index: report.inputs.saturating_sub(1),
                    });
                }
            }
        }
    }
    Ok(report)
}
