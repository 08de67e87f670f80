//! A reference smp-agent (simplexmq v3.2.0) as a live peer, and a blocking client for its TCP
//! command protocol, for `tests/tests/interop_reference_agents.rs`.
//!
//! The agent serves TLS 1.3 with the fixture identity (`spec/fixtures`: `ca.crt`, and
//! `server.crt`/`server.key` as its own certificate and key), so the client pins the fixture CA
//! the same way an SMP client pins a server. After the handshake the agent sends one line,
//! `Welcome to SMP agent v3.2.0`. Each transmission then is three lines (corrId, connId,
//! command), ended by CRLF in both directions. A command with a binary body ends its line with
//! the body's size; the body follows on its own, then an empty line. The agent writes a bare LF
//! after the size (`INFO 5\nhello\r\n`); it reads LF or CRLF there. See `spec/testing.md`.
//!
//! Every wait is bounded; the agent process is killed when its guard is dropped.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use simplex_core::crypto::hash::KeyHash;
use simplex_core::tls::{TlsEvent, TlsOutput, TlsSession};

use super::process::{free_port, wait_for_port, ChildGuard};
use super::Programs;
use crate::harness::{fixture, identity};

/// The first line the agent sends on every client connection.
pub const WELCOME: &str = "Welcome to SMP agent v3.2.0";

/// How long the agent may take to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(15);

/// The agent's responses and events whose command line ends with a binary body's size.
const BODY_TAGS: [&str; 4] = ["MSG", "CONF", "REQ", "INFO"];

fn timed_out(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, what.to_string())
}

fn bad_data(what: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what)
}

/// A reference smp-agent process with its own directory (TLS identity, database, output),
/// killed on drop.
#[derive(Debug)]
pub struct ReferenceAgent {
    child: ChildGuard,
    addr: SocketAddr,
}

impl ReferenceAgent {
    /// Starts the agent of `programs` in `dir` (created if missing), making its new queues on
    /// `smp_server` (`smp://FINGERPRINT@HOST:PORT`). Returns once its port accepts. The same
    /// `dir` again reopens the same database.
    pub fn start(programs: &Programs, dir: &Path, smp_server: &str) -> io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        std::fs::write(dir.join("ca.crt"), fixture("ca.crt"))?;
        std::fs::write(dir.join("agent.crt"), fixture("server.crt"))?;
        std::fs::write(dir.join("agent.key"), fixture("server.key"))?;
        let port = free_port()?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let mut command = Command::new(programs.smp_agent());
        command
            .current_dir(dir)
            .env("SMP_AGENT_CFG_PATH", dir)
            .env("SMP_AGENT_PORT", port.to_string())
            .env("SMP_AGENT_DB_FILE", dir.join("smp-agent.db"))
            .env("SMP_AGENT_SMP_SERVER", smp_server)
            .env("SIMPLEX_BIND_HOST", "127.0.0.1");
        let mut child = ChildGuard::spawn(command, "smp-agent", dir)?;
        if let Err(e) = wait_for_port(addr, START_TIMEOUT, || child.is_running()) {
            child.kill();
            return Err(io::Error::new(e.kind(), format!("{e}\n{}", child.output())));
        }
        Ok(Self { child, addr })
    }

    /// Where it listens for clients.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A new client session (the agent's subscriptions belong to it), past the welcome line.
    pub fn client(&self, seed: u64, timeout: Duration) -> io::Result<AgentClient> {
        AgentClient::connect(self.addr, identity().key_hash(), seed, timeout)
    }

    /// What the agent wrote to stdout and stderr so far, for failure messages.
    pub fn output(&self) -> String {
        self.child.output()
    }

    /// Kills the agent (SIGKILL) and reaps it; its database stays for a later start.
    pub fn kill(&mut self) {
        self.child.kill();
    }
}

/// One transmission from the agent: a response (its corrId is the command's) or an event (empty
/// corrId).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentReply {
    /// The command's correlation id, empty for events.
    pub corr_id: String,
    /// The connection, empty for events about a server (CONNECT, DOWN, …).
    pub conn_id: String,
    /// The command line, without the body.
    pub command: String,
    /// The binary body, for the commands that carry one.
    pub body: Option<Vec<u8>>,
}

impl AgentReply {
    /// The command's first word (`MSG`, `OK`, …).
    pub fn tag(&self) -> &str {
        self.command.split(' ').next().unwrap_or_default()
    }

    /// The command's words after the tag (the body's size included, for those with a body).
    pub fn args(&self) -> Vec<&str> {
        self.command.split(' ').skip(1).collect()
    }

    /// The word after `NAME=` in the command (`MSG`'s `R=4,2026-…` gives `4,2026-…`).
    pub fn field(&self, name: &str) -> Option<&str> {
        let prefix = format!("{name}=");
        self.command
            .split(' ')
            .find_map(|word| word.strip_prefix(prefix.as_str()))
    }
}

/// A blocking client of the agent's TCP command protocol over TLS, pinning the fixture CA.
pub struct AgentClient {
    sock: TcpStream,
    tls: TlsSession,
    origin: Instant,
    /// Plaintext received and not yet parsed.
    input: Vec<u8>,
    /// Replies parsed but not yet asked for (skipped by [`AgentClient::wait_for`]).
    pending: VecDeque<AgentReply>,
    closed: bool,
    /// A copy of every plaintext byte after the welcome line, once recording is on.
    recording: Option<Vec<u8>>,
    buf: Vec<u8>,
}

impl std::fmt::Debug for AgentClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentClient")
            .field("closed", &self.closed)
            .field("pending", &self.pending.len())
            .finish_non_exhaustive()
    }
}

impl AgentClient {
    /// Connects to the agent at `addr` whose CA hashes to `key_hash`, and reads the welcome line,
    /// all within `timeout`.
    pub fn connect(
        addr: SocketAddr,
        key_hash: KeyHash,
        seed: u64,
        timeout: Duration,
    ) -> io::Result<Self> {
        let until = Instant::now() + timeout;
        let sock = TcpStream::connect_timeout(&addr, timeout)?;
        sock.set_nodelay(true)?;
        sock.set_write_timeout(Some(timeout))?;
        let rng: simplex_core::tls::SessionRng = Box::new(ChaCha20Rng::seed_from_u64(seed));
        let tls = TlsSession::client(
            "localhost",
            key_hash,
            rng,
            simplex_core::time::Instant::ZERO,
            timeout,
        )
        .map_err(|e| io::Error::other(e.to_string()))?;
        let mut client = Self {
            sock,
            tls,
            origin: Instant::now(),
            input: Vec::new(),
            pending: VecDeque::new(),
            closed: false,
            recording: None,
            buf: vec![0; 64 * 1024],
        };
        client.flush()?;
        let welcome = client.read_line(until)?;
        if welcome != WELCOME.as_bytes() {
            return Err(bad_data(format!(
                "expected the welcome line, got {:?}",
                String::from_utf8_lossy(&welcome)
            )));
        }
        Ok(client)
    }

    fn now(&self) -> simplex_core::time::Instant {
        simplex_core::driver::instant_since_origin(self.origin.elapsed())
    }

    /// Writes what TLS has for the socket and moves decrypted data to `input`.
    fn flush(&mut self) -> io::Result<()> {
        loop {
            let event = match self.tls.poll_output() {
                TlsOutput::Transmit(bytes) => {
                    self.sock.write_all(&bytes)?;
                    continue;
                }
                TlsOutput::Event(event) => event,
                TlsOutput::Timeout(_) => return Ok(()),
            };
            match event {
                TlsEvent::Plaintext(data) => {
                    if let Some(recording) = &mut self.recording {
                        recording.extend_from_slice(&data);
                    }
                    self.input.extend_from_slice(&data)
                }
                TlsEvent::Error(e) => return Err(io::Error::other(format!("agent TLS: {e}"))),
                TlsEvent::Closed => self.closed = true,
                TlsEvent::HandshakeComplete { .. } => {}
            }
        }
    }

    /// Reads once from the socket (waiting until `until` at most) and feeds TLS.
    fn read_some(&mut self, until: Instant) -> io::Result<()> {
        if self.closed {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the agent closed the connection",
            ));
        }
        let wait = until.saturating_duration_since(Instant::now());
        if wait.is_zero() {
            return Err(timed_out("no reply from the agent in time"));
        }
        self.sock.set_read_timeout(Some(wait))?;
        let n = match self.sock.read(&mut self.buf) {
            Ok(0) => {
                self.tls
                    .handle_peer_eof()
                    .map_err(|e| io::Error::other(e.to_string()))?;
                self.flush()?;
                self.closed = true;
                return Ok(());
            }
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Err(timed_out("no reply from the agent in time"))
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(()),
            Err(e) => return Err(e),
        };
        let received = self.buf.get(..n).unwrap_or_default().to_vec();
        let mut rest = received.as_slice();
        while !rest.is_empty() {
            let now = self.now();
            let taken = self
                .tls
                .handle_input(now, rest)
                .map_err(|e| io::Error::other(e.to_string()))?;
            rest = rest.get(taken..).unwrap_or_default();
            self.flush()?;
        }
        self.flush()
    }

    /// One line of plaintext, without its LF or CRLF.
    fn read_line(&mut self, until: Instant) -> io::Result<Vec<u8>> {
        loop {
            if let Some((line, used)) = line_at(&self.input) {
                let line = line.to_vec();
                self.input.drain(..used);
                return Ok(line);
            }
            self.read_some(until)?;
        }
    }

    /// From now on, keeps a copy of every byte the agent sends (from the first byte not yet
    /// parsed), for a test that reads the stream with another decoder.
    pub fn start_recording(&mut self) {
        self.recording = Some(self.input.clone());
    }

    /// The bytes recorded so far (recording goes on).
    pub fn take_recording(&mut self) -> Vec<u8> {
        self.recording
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    /// Sends bytes as they are: one or more whole transmissions written by the caller.
    pub fn send_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.tls
            .send(bytes)
            .map_err(|e| io::Error::other(e.to_string()))?;
        self.flush()
    }

    /// Sends one command: `command` is its line (for a command with a body, without the size),
    /// `body` its binary body, framed as the size, CRLF, the bytes, CRLF.
    pub fn send(
        &mut self,
        corr_id: &str,
        conn_id: &str,
        command: &str,
        body: Option<&[u8]>,
    ) -> io::Result<()> {
        let mut bytes = format!("{corr_id}\r\n{conn_id}\r\n{command}").into_bytes();
        if let Some(body) = body {
            bytes.extend_from_slice(format!(" {}\r\n", body.len()).as_bytes());
            bytes.extend_from_slice(body);
        }
        bytes.extend_from_slice(b"\r\n");
        self.tls
            .send(&bytes)
            .map_err(|e| io::Error::other(e.to_string()))?;
        self.flush()
    }

    /// The next transmission from the agent (one waiting from earlier first), within `timeout`.
    pub fn next(&mut self, timeout: Duration) -> io::Result<AgentReply> {
        if let Some(reply) = self.pending.pop_front() {
            return Ok(reply);
        }
        self.read_reply(Instant::now() + timeout)
    }

    /// Reads until a whole transmission has arrived, so a timeout never loses part of one.
    fn read_reply(&mut self, until: Instant) -> io::Result<AgentReply> {
        loop {
            if let Some((reply, used)) = parse_reply(&self.input)? {
                self.input.drain(..used);
                return Ok(reply);
            }
            self.read_some(until)?;
        }
    }

    /// The first transmission (waiting or new) that `wanted` accepts, within `timeout`; the
    /// others stay waiting, in order, for [`AgentClient::next`] and later waits.
    pub fn wait_for(
        &mut self,
        timeout: Duration,
        mut wanted: impl FnMut(&AgentReply) -> bool,
    ) -> io::Result<AgentReply> {
        if let Some(i) = self.pending.iter().position(&mut wanted) {
            if let Some(reply) = self.pending.remove(i) {
                return Ok(reply);
            }
        }
        let until = Instant::now() + timeout;
        loop {
            let reply = self.read_reply(until).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("{e}; meanwhile the agent sent {:?}", self.pending),
                )
            })?;
            if wanted(&reply) {
                return Ok(reply);
            }
            self.pending.push_back(reply);
        }
    }

    /// The response to the command sent with `corr_id`, within `timeout`.
    pub fn response(&mut self, corr_id: &str, timeout: Duration) -> io::Result<AgentReply> {
        self.wait_for(timeout, |r| r.corr_id == corr_id)
    }

    /// The next event (empty corrId) on `conn_id` tagged `tag`, within `timeout`.
    pub fn event(&mut self, conn_id: &str, tag: &str, timeout: Duration) -> io::Result<AgentReply> {
        self.wait_for(timeout, |r| {
            r.corr_id.is_empty() && r.conn_id == conn_id && r.tag() == tag
        })
    }

    /// Takes the transmissions waiting (skipped by earlier waits).
    pub fn take_pending(&mut self) -> Vec<AgentReply> {
        self.pending.drain(..).collect()
    }

    /// Reads what arrives within `period` (ending quietly when it is over), after those waiting.
    pub fn drain_for(&mut self, period: Duration) -> io::Result<Vec<AgentReply>> {
        let until = Instant::now() + period;
        let mut replies = self.take_pending();
        loop {
            match self.read_reply(until) {
                Ok(reply) => replies.push(reply),
                Err(e) if e.kind() == io::ErrorKind::TimedOut => return Ok(replies),
                Err(e) => return Err(e),
            }
        }
    }
}

/// The line at the start of `input` (without its LF or CRLF) and the bytes it took, once its LF
/// has arrived.
fn line_at(input: &[u8]) -> Option<(&[u8], usize)> {
    let end = input.iter().position(|&b| b == b'\n')?;
    let line = input.get(..end)?;
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    Some((line, end + 1))
}

/// The transmission at the start of `input` and the bytes it took, once all of it has arrived.
fn parse_reply(input: &[u8]) -> io::Result<Option<(AgentReply, usize)>> {
    let text = |bytes: &[u8]| {
        String::from_utf8(bytes.to_vec())
            .map_err(|e| bad_data(format!("agent line not UTF-8: {e}")))
    };
    let mut used = 0;
    let mut lines = Vec::with_capacity(3);
    for _ in 0..3 {
        let Some((line, n)) = line_at(input.get(used..).unwrap_or_default()) else {
            return Ok(None);
        };
        lines.push(text(line)?);
        used += n;
    }
    let [corr_id, conn_id, command] =
        <[String; 3]>::try_from(lines).map_err(|_| bad_data("three lines expected".to_string()))?;
    let mut reply = AgentReply {
        corr_id,
        conn_id,
        command,
        body: None,
    };
    if BODY_TAGS.contains(&reply.tag()) {
        let size: usize = reply
            .args()
            .last()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad_data(format!("no body size in {:?}", reply.command)))?;
        let rest = input.get(used..).unwrap_or_default();
        let Some(body) = rest.get(..size) else {
            return Ok(None);
        };
        let Some((end, n)) = line_at(rest.get(size..).unwrap_or_default()) else {
            return Ok(None);
        };
        if !end.is_empty() {
            return Err(bad_data(format!(
                "body of {:?} not followed by an empty line",
                reply.tag()
            )));
        }
        reply.body = Some(body.to_vec());
        used += size + n;
    }
    Ok(Some((reply, used)))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_reply_without_a_body_needs_its_three_lines() {
        let input = b"7\r\nconn\r\nMID 4\r\nrest";
        let (reply, used) = parse_reply(input).unwrap().unwrap();
        assert_eq!(
            reply,
            AgentReply {
                corr_id: "7".into(),
                conn_id: "conn".into(),
                command: "MID 4".into(),
                body: None,
            }
        );
        assert_eq!(&input[used..], b"rest");
        for end in 0..used {
            assert_eq!(parse_reply(&input[..end]).unwrap(), None, "{end} bytes");
        }
    }

    #[test]
    fn a_body_is_taken_by_its_size_even_with_line_ends_inside() {
        let input = b"\r\nc1\r\nMSG OK R=4,t B=x,t S=3 F 5\na\r\nb\n\r\n\r\n\r\nCON\r\n";
        let (reply, used) = parse_reply(input).unwrap().unwrap();
        assert_eq!(reply.tag(), "MSG");
        assert_eq!(reply.body.as_deref(), Some(&b"a\r\nb\n"[..]));
        assert_eq!(reply.field("R"), Some("4,t"));
        let (next, _) = parse_reply(&input[used..]).unwrap().unwrap();
        assert_eq!((next.conn_id.as_str(), next.tag()), ("", "CON"));
        for end in 0..used {
            assert_eq!(parse_reply(&input[..end]).unwrap(), None, "{end} bytes");
        }
    }

    #[test]
    fn a_malformed_body_frame_is_an_error() {
        assert!(parse_reply(b"\r\nc\r\nINFO 2\nabX\r\n").is_err());
        assert!(parse_reply(b"\r\nc\r\nINFO\nab\r\n").is_err());
        assert!(parse_reply(b"\r\nc\r\n\xff\r\n").is_err());
    }
}
