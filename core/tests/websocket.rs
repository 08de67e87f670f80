//! The WebSocket layer: frames and upgrades round-trip under arbitrary splitting of the byte
//! stream, the peer's rule breaking is refused with the right close, and both ends interoperate
//! with an independent implementation (tungstenite) driven over in-memory buffers.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::rc::Rc;

use proptest::prelude::*;
use rand_chacha::rand_core::SeedableRng;
use simplex_core::transport::websocket::frame::{decode_header, encode_frame, Opcode};
use simplex_core::transport::websocket::{
    close_code, WsEndpoint, WsError, WsEvent, WsLimits, WsRng, MAX_FRAME_PAYLOAD,
};
use tungstenite::protocol::Message;

fn rng(seed: u64) -> WsRng {
    Box::new(rand_chacha::ChaCha20Rng::seed_from_u64(seed))
}

fn events(end: &mut WsEndpoint) -> Vec<WsEvent> {
    std::iter::from_fn(|| end.poll_event()).collect()
}

fn transmit(end: &mut WsEndpoint) -> Vec<u8> {
    std::iter::from_fn(|| end.poll_transmit())
        .flatten()
        .collect()
}

/// A client and a server end with the upgrade done.
fn open_pair(seed: u64) -> (WsEndpoint, WsEndpoint) {
    let mut client = WsEndpoint::client("", "/", rng(seed), WsLimits::default());
    let mut server = WsEndpoint::server(WsLimits::default());
    server.receive(&transmit(&mut client));
    assert_eq!(events(&mut server), vec![WsEvent::Open]);
    client.receive(&transmit(&mut server));
    assert_eq!(events(&mut client), vec![WsEvent::Open]);
    (client, server)
}

/// Feeds `bytes` to `end` cut at the given points.
fn feed_split(end: &mut WsEndpoint, bytes: &[u8], cuts: &[usize]) {
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    cuts.sort_unstable();
    let mut at = 0;
    for cut in cuts.into_iter().chain([bytes.len()]) {
        end.receive(&bytes[at..cut]);
        at = cut;
    }
}

/// A masked client frame, built by hand.
fn client_frame(fin: bool, opcode: Opcode, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_frame(fin, opcode, Some([1, 2, 3, 4]), payload, &mut out);
    out
}

#[test]
fn ping_is_answered_and_close_is_echoed() {
    let (mut client, mut server) = open_pair(1);
    server.receive(&client_frame(true, Opcode::Ping, b"are you there"));
    assert_eq!(events(&mut server), vec![]);
    client.receive(&transmit(&mut server));
    // The client saw a pong: nothing to report.
    assert_eq!(events(&mut client), vec![]);
    let mut pong = Vec::new();
    encode_frame(true, Opcode::Pong, None, b"are you there", &mut pong);
    let (client2, mut server2) = open_pair(1);
    server2.receive(&client_frame(true, Opcode::Ping, b"are you there"));
    assert_eq!(transmit(&mut server2), pong);
    drop(client2);

    client.close(close_code::NORMAL);
    server.receive(&transmit(&mut client));
    assert_eq!(events(&mut server), vec![WsEvent::PeerClosed(Some(1000))]);
    assert!(server.is_closed());
    client.receive(&transmit(&mut server));
    assert_eq!(events(&mut client), vec![WsEvent::PeerClosed(Some(1000))]);
    assert!(!server.send_binary(b"late"));
}

#[test]
fn rule_breaking_frames_are_refused_with_their_close_code() {
    let cases: Vec<(Vec<u8>, WsError, u16)> = vec![
        // Unmasked from a client.
        (
            {
                let mut f = Vec::new();
                encode_frame(true, Opcode::Binary, None, b"x", &mut f);
                f
            },
            WsError::Masking,
            1002,
        ),
        (vec![0xC2, 0x80, 0, 0, 0, 0], WsError::ReservedBits, 1002),
        (
            vec![0x83, 0x80, 0, 0, 0, 0],
            WsError::UnknownOpcode(3),
            1002,
        ),
        (
            client_frame(true, Opcode::Continuation, b"x"),
            WsError::Fragmentation,
            1002,
        ),
        (
            [
                client_frame(false, Opcode::Binary, b"a"),
                client_frame(true, Opcode::Text, b"b"),
            ]
            .concat(),
            WsError::Fragmentation,
            1002,
        ),
        (
            client_frame(true, Opcode::Close, b"x"),
            WsError::BadClose,
            1002,
        ),
        (
            client_frame(true, Opcode::Close, &[0x03, 0xEC]),
            WsError::BadClose,
            1002,
        ),
        (
            client_frame(true, Opcode::Binary, &vec![0; MAX_FRAME_PAYLOAD + 1]),
            WsError::FrameTooLarge,
            1009,
        ),
        (
            (0..5)
                .map(|i| {
                    client_frame(
                        i == 4,
                        if i == 0 {
                            Opcode::Binary
                        } else {
                            Opcode::Continuation
                        },
                        &[0; MAX_FRAME_PAYLOAD],
                    )
                })
                .collect::<Vec<_>>()
                .concat(),
            WsError::MessageTooLarge,
            1009,
        ),
    ];
    for (bytes, error, code) in cases {
        let (_, mut server) = open_pair(2);
        server.receive(&bytes);
        assert_eq!(
            events(&mut server),
            vec![WsEvent::Failed(error)],
            "{error:?}"
        );
        let mut close = Vec::new();
        encode_frame(true, Opcode::Close, None, &code.to_be_bytes(), &mut close);
        assert_eq!(transmit(&mut server), close, "{error:?}");
        assert!(server.is_closed());
        // Nothing more is taken.
        server.receive(&client_frame(true, Opcode::Binary, b"after"));
        assert_eq!(events(&mut server), vec![]);
    }
}

#[test]
fn a_bad_upgrade_gets_400() {
    let mut server = WsEndpoint::server(WsLimits::default());
    server.receive(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(matches!(
        events(&mut server)[..],
        [WsEvent::Failed(WsError::Upgrade(_))]
    ));
    assert!(transmit(&mut server).starts_with(b"HTTP/1.1 400 "));
    // An endless head is refused at the limit, not buffered.
    let mut server = WsEndpoint::server(WsLimits::default());
    for _ in 0..100 {
        server.receive(&[b'a'; 1000]);
    }
    assert!(matches!(
        events(&mut server)[..],
        [WsEvent::Failed(WsError::Upgrade(_))]
    ));
    // A client refuses a response whose accept value is wrong.
    let mut client = WsEndpoint::client("", "/", rng(3), WsLimits::default());
    client.receive(
        b"HTTP/1.1 101 OK\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: AAAA\r\n\r\n",
    );
    assert!(matches!(
        events(&mut client)[..],
        [WsEvent::Failed(WsError::Upgrade(_))]
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn frame_header_round_trips(
        fin: bool,
        op in prop::sample::select(vec![Opcode::Continuation, Opcode::Text, Opcode::Binary]),
        mask: Option<[u8; 4]>,
        len in prop_oneof![0usize..130, 65530usize..65540, 70000usize..70010],
    ) {
        let payload = vec![0x5A; len];
        let mut out = Vec::new();
        encode_frame(fin, op, mask, &payload, &mut out);
        let (h, hl) = decode_header(&out, usize::MAX >> 1).unwrap().unwrap();
        prop_assert_eq!((h.fin, h.opcode, h.mask, h.payload_len), (fin, op, mask, len));
        prop_assert_eq!(hl + len, out.len());
        // Any strict prefix of the header asks for more.
        for cut in 0..hl {
            prop_assert_eq!(decode_header(&out[..cut], usize::MAX >> 1).unwrap(), None);
        }
    }

    /// Messages (some fragmented, with pings between fragments) sent by our client reach our
    /// server whole, however the byte stream (upgrade included) is cut.
    #[test]
    fn messages_survive_any_split(
        messages in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..3000), 1..6),
        fragment in 1usize..2000,
        cuts in prop::collection::vec(any::<usize>(), 0..20),
        seed: u64,
    ) {
        let mut client = WsEndpoint::client("", "/", rng(seed), WsLimits::default());
        let mut stream = transmit(&mut client);
        for m in &messages {
            // Fragment by hand with masked frames, with a ping after the first fragment.
            let chunks: Vec<&[u8]> = if m.is_empty() { vec![&m[..]] } else { m.chunks(fragment).collect() };
            for (i, chunk) in chunks.iter().enumerate() {
                let op = if i == 0 { Opcode::Binary } else { Opcode::Continuation };
                stream.extend(client_frame(i + 1 == chunks.len(), op, chunk));
                if i == 0 {
                    stream.extend(client_frame(true, Opcode::Ping, b"p"));
                }
            }
        }
        let mut server = WsEndpoint::server(WsLimits::default());
        feed_split(&mut server, &stream, &cuts);
        let mut expected = vec![WsEvent::Open];
        expected.extend(messages.iter().cloned().map(WsEvent::Message));
        prop_assert_eq!(events(&mut server), expected);
        // And the server's answers (101, pongs) reach the client whatever their split.
        let answers = transmit(&mut server);
        feed_split(&mut client, &answers, &cuts);
        prop_assert_eq!(events(&mut client), vec![WsEvent::Open]);
        // Server-to-client messages, through send_binary.
        for m in &messages {
            prop_assert!(server.send_binary(m));
        }
        let bytes = transmit(&mut server);
        feed_split(&mut client, &bytes, &cuts);
        let received: Vec<WsEvent> = events(&mut client);
        prop_assert_eq!(received, messages.iter().cloned().map(WsEvent::Message).collect::<Vec<_>>());
    }

    /// Arbitrary bytes never panic and never grow the buffer past one frame.
    #[test]
    fn arbitrary_input_is_safe(chunks in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..5000), 0..8)) {
        let (_, mut server) = open_pair(4);
        for c in &chunks {
            server.receive(c);
            let _ = events(&mut server);
            let _ = transmit(&mut server);
        }
        let mut fresh = WsEndpoint::server(WsLimits::default());
        for c in &chunks {
            fresh.receive(c);
        }
        let _ = events(&mut fresh);
    }
}

/// An in-memory socket for tungstenite: reads what the test put in, records what it wrote;
/// an empty input reads as "would block".
#[derive(Clone, Default)]
struct Pipe {
    input: Rc<RefCell<VecDeque<u8>>>,
    output: Rc<RefCell<Vec<u8>>>,
}

impl Pipe {
    fn push(&self, bytes: &[u8]) {
        self.input.borrow_mut().extend(bytes);
    }
    fn written(&self) -> Vec<u8> {
        std::mem::take(&mut self.output.borrow_mut())
    }
}

impl Read for Pipe {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut input = self.input.borrow_mut();
        if input.is_empty() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = buf.len().min(input.len());
        for (b, v) in buf.iter_mut().zip(input.drain(..n)) {
            *b = v;
        }
        Ok(n)
    }
}

impl Write for Pipe {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.output.borrow_mut().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn read_message(ws: &mut tungstenite::WebSocket<Pipe>) -> Option<Message> {
    match ws.read() {
        Ok(m) => Some(m),
        Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => None,
        Err(e) => panic!("tungstenite: {e}"),
    }
}

#[test]
fn our_server_with_a_tungstenite_client() {
    let pipe = Pipe::default();
    let mid = match tungstenite::client::client("ws://localhost/", pipe.clone()) {
        Err(tungstenite::HandshakeError::Interrupted(mid)) => mid,
        other => panic!("expected to wait for the response: {:?}", other.map(|_| ())),
    };
    let mut server = WsEndpoint::server(WsLimits::default());
    server.receive(&pipe.written());
    assert_eq!(events(&mut server), vec![WsEvent::Open]);
    pipe.push(&transmit(&mut server));
    let (mut ws, response) = mid.handshake().map_err(|_| "handshake").unwrap();
    assert_eq!(response.status().as_u16(), 101);

    // A block each way, and a ping.
    let block: Vec<u8> = (0..16384u32).map(|i| (i % 251) as u8).collect();
    ws.send(Message::Binary(block.clone().into())).unwrap();
    ws.send(Message::Ping(b"hi".to_vec().into())).unwrap();
    server.receive(&pipe.written());
    assert_eq!(events(&mut server), vec![WsEvent::Message(block.clone())]);
    assert!(server.send_binary(&block));
    pipe.push(&transmit(&mut server));
    assert_eq!(
        read_message(&mut ws),
        Some(Message::Pong(b"hi".to_vec().into()))
    );
    assert_eq!(read_message(&mut ws), Some(Message::Binary(block.into())));

    // tungstenite closes; we echo its code.
    ws.close(None).unwrap();
    server.receive(&pipe.written());
    assert_eq!(events(&mut server), vec![WsEvent::PeerClosed(None)]);
    pipe.push(&transmit(&mut server));
    assert!(matches!(read_message(&mut ws), Some(Message::Close(_))));
}

#[test]
fn our_client_with_a_tungstenite_server() {
    let pipe = Pipe::default();
    let mut client = WsEndpoint::client("localhost", "/", rng(7), WsLimits::default());
    pipe.push(&transmit(&mut client));
    let mut ws = tungstenite::accept(pipe.clone())
        .map_err(|_| "accept")
        .unwrap();
    client.receive(&pipe.written());
    assert_eq!(events(&mut client), vec![WsEvent::Open]);

    let block = vec![7u8; 16384];
    assert!(client.send_binary(&block));
    pipe.push(&transmit(&mut client));
    assert_eq!(
        read_message(&mut ws),
        Some(Message::Binary(block.clone().into()))
    );
    ws.send(Message::Binary(block.clone().into())).unwrap();
    ws.send(Message::Ping(b"p".to_vec().into())).unwrap();
    client.receive(&pipe.written());
    assert_eq!(events(&mut client), vec![WsEvent::Message(block)]);
    // Our pong is masked, and tungstenite (which insists on masked client frames) takes it.
    pipe.push(&transmit(&mut client));
    assert_eq!(
        read_message(&mut ws),
        Some(Message::Pong(b"p".to_vec().into()))
    );

    client.close(close_code::NORMAL);
    pipe.push(&transmit(&mut client));
    assert!(matches!(
        read_message(&mut ws),
        Some(Message::Close(Some(_)))
    ));
    let _ = ws.flush();
    client.receive(&pipe.written());
    assert_eq!(events(&mut client), vec![WsEvent::PeerClosed(Some(1000))]);
}
