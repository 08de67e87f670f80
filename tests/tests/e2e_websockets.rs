//! End-to-end tests of the WebSockets transport over real loopback TCP + TLS against both
//! shells: the server listens on a TLS port and a WebSockets port; clients are real
//! `ClientConnection`s with WebSocket framing (and a plain one, to show both ports serve the
//! same queues). Malformed WebSocket input is answered and closed while others are served.
//! Every wait is bounded.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use bytes::Bytes;
use rand_chacha::rand_core::SeedableRng;
use simplex_core::crypto::cbox::CbKey;
use simplex_core::crypto::hash::KeyHash;
use simplex_core::crypto::keys::{Algorithm, PrivateKey, SignKey};
use simplex_core::crypto::x25519;
use simplex_core::protocol::{BrokerMsg, Command, MsgFlags};
use simplex_core::time::Instant;
use simplex_core::tls::{TlsEvent, TlsOutput, TlsSession};
use simplex_core::transport::websocket::frame::{decode_header, encode_frame, Opcode};
use simplex_core::transport::websocket::upgrade::client_request;
use simplex_core::transport::CloseReason;
use simplex_tests::harness::{Options, Runtime, TestServer};
use simplex_tests::net::NetClient;

const T: Duration = Duration::from_secs(10);

fn start(rt: Runtime, shards: u16) -> TestServer {
    TestServer::start(
        rt,
        Options {
            websockets: true,
            shards,
            handshake_timeout: Duration::from_secs(3),
            ..Options::default()
        },
    )
}

fn key(alg: Algorithm, seed: u8) -> SignKey {
    let raw = match alg {
        Algorithm::Ed448 => vec![seed; 57],
        _ => vec![seed; 32],
    };
    SignKey::try_from(PrivateKey::from_raw(alg, &raw).unwrap()).unwrap()
}

fn send_cmd(body: &[u8]) -> Command {
    Command::Send {
        flags: MsgFlags::default(),
        body: Bytes::copy_from_slice(body),
    }
}

fn next_msg(c: &mut NetClient) -> BrokerMsg {
    loop {
        let t = c.receive(T).unwrap();
        if t.corr_id.as_bytes().is_empty() {
            return t.message.unwrap();
        }
    }
}

fn body(key: &CbKey, msg: &BrokerMsg) -> (Vec<u8>, simplex_core::protocol::MsgId) {
    let BrokerMsg::Msg(m) = msg else {
        panic!("not a MSG: {msg:?}")
    };
    (
        simplex_tests::net::open_message(key, m).unwrap(),
        m.msg_id.clone(),
    )
}

/// Create a queue, send and receive over WebSockets; a plain TLS sender reaches the same queue.
fn lifecycle(rt: Runtime, shards: u16) {
    let server = start(rt, shards);
    let mut recipient = server.ws_client(1);
    let mut sender = server.ws_client(2);
    let mut plain_sender = server.client(3);
    let rkey = key(Algorithm::Ed448, 1);
    let skey = key(Algorithm::Ed25519, 2);
    let dh = x25519::PrivateKey::from_bytes(&[1; 32]);
    let queue = recipient.secured_queue(&rkey, &skey, &dh, T).unwrap();
    let (rid, sid, body_key) = (queue.rid.as_slice(), queue.sid.as_slice(), &queue.body_key);
    // A body as large as the server takes fills the WebSocket message's block.
    let big = vec![b'w'; 16088];
    assert_eq!(
        sender
            .request("s1", sid, &send_cmd(&big), Some(&skey), T)
            .unwrap(),
        BrokerMsg::Ok
    );
    let (got, id) = body(body_key, &next_msg(&mut recipient));
    assert_eq!(got, big);
    assert_eq!(
        recipient
            .request("a1", rid, &Command::Ack(id), Some(&rkey), T)
            .unwrap(),
        BrokerMsg::Ok
    );
    assert_eq!(
        plain_sender
            .request("s2", sid, &send_cmd(b"from TLS"), Some(&skey), T)
            .unwrap(),
        BrokerMsg::Ok
    );
    assert_eq!(body(body_key, &next_msg(&mut recipient)).0, b"from TLS");
    assert_eq!(
        sender.request("p", &[], &Command::Ping, None, T).unwrap(),
        BrokerMsg::Pong
    );
    sender.close().unwrap();
    assert_eq!(server.stop(), 0, "every connection closed at stop");
    assert!(recipient.wait_closed(T) && plain_sender.wait_closed(T));
    assert_eq!(recipient.close_reason(), Some(&CloseReason::Closed));
}

/// TLS to the server by hand, to send WebSocket bytes our client would never send.
struct TlsProbe {
    sock: TcpStream,
    tls: TlsSession,
    plaintext: Vec<u8>,
    closed: bool,
}

impl TlsProbe {
    fn connect(addr: SocketAddr, key_hash: KeyHash, seed: u64) -> Self {
        let sock = TcpStream::connect_timeout(&addr, T).unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let rng = Box::new(rand_chacha::ChaCha20Rng::seed_from_u64(seed));
        let tls = TlsSession::client("localhost", key_hash, rng, Instant::ZERO, T).unwrap();
        let mut probe = Self {
            sock,
            tls,
            plaintext: Vec::new(),
            closed: false,
        };
        probe.pump_until(|p| p.tls.is_established());
        probe
    }

    fn flush(&mut self) {
        loop {
            match self.tls.poll_output() {
                // The server may already have closed: later reads say so.
                TlsOutput::Transmit(bytes) => {
                    let _ = self.sock.write_all(&bytes);
                }
                TlsOutput::Event(TlsEvent::Plaintext(b)) => self.plaintext.extend_from_slice(&b),
                TlsOutput::Event(TlsEvent::Closed | TlsEvent::Error(_)) => self.closed = true,
                TlsOutput::Event(TlsEvent::HandshakeComplete { .. }) => {}
                TlsOutput::Timeout(_) => break,
            }
        }
    }

    /// Reads until `done` holds or the server closed; panics past the time limit.
    fn pump_until(&mut self, done: impl Fn(&Self) -> bool) {
        let until = std::time::Instant::now() + T;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            self.flush();
            if done(self) || self.closed {
                return;
            }
            assert!(std::time::Instant::now() < until, "no answer in time");
            match self.sock.read(&mut buf) {
                Ok(0) => {
                    self.tls.handle_peer_eof().unwrap();
                    self.closed = true;
                }
                Ok(n) => {
                    let mut rest = &buf[..n];
                    while !rest.is_empty() {
                        let used = self.tls.handle_input(Instant::ZERO, rest).unwrap();
                        rest = &rest[used..];
                        self.flush();
                    }
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(_) => self.closed = true,
            }
        }
    }

    fn send(&mut self, bytes: &[u8]) {
        self.tls.send(bytes).unwrap();
        self.flush();
    }

    /// Sends a valid upgrade and reads the 101.
    fn upgrade(&mut self) {
        let (request, _) = client_request("", "/", [9; 16]);
        self.send(&request);
        self.pump_until(|p| p.plaintext.windows(4).any(|w| w == b"\r\n\r\n"));
        assert!(self.plaintext.starts_with(b"HTTP/1.1 101 "));
        let end = self
            .plaintext
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap()
            + 4;
        self.plaintext.drain(..end);
    }

    /// Waits for the server's close; returns the status code of its close frame, if it sent
    /// one (after any data frames, e.g. the server hello).
    fn close_code(&mut self) -> Option<u16> {
        self.pump_until(|_| false);
        assert!(self.closed, "the server closed the connection");
        let mut rest = &self.plaintext[..];
        while let Ok(Some((h, hl))) = decode_header(rest, usize::MAX >> 1) {
            let payload = rest.get(hl..hl + h.payload_len)?;
            if h.opcode == Opcode::Close {
                return payload.get(..2).map(|c| u16::from_be_bytes([c[0], c[1]]));
            }
            rest = &rest[hl + h.payload_len..];
        }
        None
    }
}

fn masked(opcode: Opcode, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_frame(
        true,
        opcode,
        Some([0xA1, 0xB2, 0xC3, 0xD4]),
        payload,
        &mut out,
    );
    out
}

/// Bad upgrades get `400`, rule-breaking frames a close frame, a message that is not one block
/// ends the connection; each is closed, and a good client on the same port is served.
fn malformed_input(rt: Runtime) {
    let server = start(rt, 1);
    let ws_addr = server.ws_addr.unwrap();
    let mut good = server.ws_client(20);

    // An HTTP request that is not an upgrade.
    let mut p = TlsProbe::connect(ws_addr, server.key_hash, 21);
    p.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    p.pump_until(|_| false);
    assert!(p.closed);
    assert!(
        p.plaintext.starts_with(b"HTTP/1.1 400 "),
        "{:?}",
        String::from_utf8_lossy(&p.plaintext)
    );

    // A head that never ends.
    let mut p = TlsProbe::connect(ws_addr, server.key_hash, 22);
    p.send(&vec![b'A'; 9000]);
    p.pump_until(|_| false);
    assert!(p.plaintext.starts_with(b"HTTP/1.1 400 "));

    // An unmasked frame from a client: protocol error.
    let mut p = TlsProbe::connect(ws_addr, server.key_hash, 23);
    p.upgrade();
    let mut unmasked = Vec::new();
    encode_frame(true, Opcode::Binary, None, &[0; 16384], &mut unmasked);
    p.send(&unmasked);
    assert_eq!(p.close_code(), Some(1002));

    // A frame larger than the limit: too big.
    let mut p = TlsProbe::connect(ws_addr, server.key_hash, 24);
    p.upgrade();
    p.send(&masked(Opcode::Binary, &[0; 20_000]));
    assert_eq!(p.close_code(), Some(1009));

    // A well-formed message that is not one block long, as the client hello.
    let mut p = TlsProbe::connect(ws_addr, server.key_hash, 25);
    p.upgrade();
    p.send(&masked(Opcode::Binary, b"short"));
    assert_eq!(p.close_code(), Some(1003));

    // Garbage frame bytes.
    let mut p = TlsProbe::connect(ws_addr, server.key_hash, 26);
    p.upgrade();
    p.send(&[0xFF; 64]);
    assert_eq!(p.close_code(), Some(1002));

    // The good client was served all along.
    assert_eq!(
        good.request("p", &[], &Command::Ping, None, T).unwrap(),
        BrokerMsg::Pong
    );
    assert_eq!(server.stop(), 0);
}

mod mio {
    use super::*;
    #[test]
    fn lifecycle() {
        super::lifecycle(Runtime::Mio, 1)
    }
    #[test]
    fn lifecycle_sharded() {
        super::lifecycle(Runtime::Mio, 2)
    }
    #[test]
    fn malformed_input() {
        super::malformed_input(Runtime::Mio)
    }
}

mod smol {
    use super::*;
    #[test]
    fn lifecycle() {
        super::lifecycle(Runtime::Smol, 1)
    }
    #[test]
    fn lifecycle_sharded() {
        super::lifecycle(Runtime::Smol, 2)
    }
    #[test]
    fn malformed_input() {
        super::malformed_input(Runtime::Smol)
    }
}
