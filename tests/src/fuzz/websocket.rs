//! The WebSocket layer: upgrade heads and frames from arbitrary bytes, on both ends.

use simplex_core::transport::websocket::frame::{decode_header, encode_frame};
use simplex_core::transport::websocket::upgrade::{
    accept_response, check_response, client_request, parse_request,
};
use simplex_core::transport::websocket::{WsEndpoint, WsEvent, WsLimits, MAX_MESSAGE};

/// The first byte picks where the rest is cut in two. The rest goes to a fresh server end (as
/// the upgrade request and what follows), to a server end and a client end past a valid
/// upgrade (as frames), and to the head and frame-header parsers directly. Whatever comes out
/// must be coherent: at most one ending event and nothing after it, no message over the limit,
/// and a decoded frame header re-encodes to the same header.
pub fn websocket(data: &[u8]) {
    let Some((&cut, rest)) = data.split_first() else {
        return;
    };
    let cut = usize::from(cut).min(rest.len());
    let (a, b) = rest.split_at(cut);

    let mut fresh = WsEndpoint::server(WsLimits::default());
    feed(&mut fresh, a, b);

    let rng = Box::new(
        <rand_chacha::ChaCha20Rng as rand_chacha::rand_core::SeedableRng>::seed_from_u64(1),
    );
    let mut client = WsEndpoint::client("", "/", rng, WsLimits::default());
    let request = client.poll_transmit().expect("an upgrade request");
    let mut server = WsEndpoint::server(WsLimits::default());
    server.receive(&request);
    assert_eq!(server.poll_event(), Some(WsEvent::Open));
    let response = server.poll_transmit().expect("a 101 response");
    feed(&mut server, a, b);
    client.receive(&response);
    assert_eq!(client.poll_event(), Some(WsEvent::Open));
    feed(&mut client, a, b);

    if let Ok(request) = parse_request(rest) {
        // What the server accepts, it answers so that a client with that key agrees.
        let expected = simplex_core::transport::websocket::upgrade::accept_value(&request.key);
        assert_eq!(
            check_response(&accept_response(&request), &expected),
            Ok(())
        );
    }
    let (_, accept) = client_request("", "/", [3; 16]);
    let _ = check_response(rest, &accept);

    if let Ok(Some((header, len))) = decode_header(rest, MAX_MESSAGE) {
        let payload = vec![0u8; header.payload_len];
        let mut again = Vec::new();
        encode_frame(header.fin, header.opcode, header.mask, &payload, &mut again);
        let (decoded, len_again) = decode_header(&again, MAX_MESSAGE)
            .expect("re-encoded header decodes")
            .expect("whole");
        assert_eq!(decoded, header);
        // Lengths may be encoded longer than needed on the wire, never shorter.
        assert!(len_again <= len);
    }
}

/// Feeds both pieces and checks the events.
fn feed(end: &mut WsEndpoint, a: &[u8], b: &[u8]) {
    let mut ended = false;
    for piece in [a, b] {
        end.receive(piece);
        while let Some(event) = end.poll_event() {
            assert!(!ended, "an event after the end: {event:?}");
            match event {
                WsEvent::Message(m) => assert!(m.len() <= MAX_MESSAGE),
                WsEvent::PeerClosed(_) | WsEvent::Failed(_) => ended = true,
                WsEvent::Open => {}
            }
        }
        let _ = end.poll_transmit();
    }
    assert_eq!(ended, end.is_closed());
}
