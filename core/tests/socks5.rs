//! The SOCKS5 client machine: exact RFC 1928/1929 bytes, every reply code, byte-by-byte
//! input, and arbitrary input never panics.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;
use simplex_core::socks5::{
    BoundAddress, ReplyCode, Socks5ApiError, Socks5Client, Socks5Credentials, Socks5Error,
    Socks5Output, Socks5Status, Socks5Target,
};

/// Drains the outputs: the bytes to send, if any (the outcome stays readable in `status()`).
fn transmit(c: &mut Socks5Client) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        match c.poll_output() {
            Socks5Output::Transmit(bytes) => out.extend_from_slice(&bytes),
            Socks5Output::Wait => break,
            Socks5Output::Connected(_) | Socks5Output::Failed(_) => {}
        }
    }
    (!out.is_empty()).then_some(out)
}

/// Drains what is pending, as a caller must, then feeds `bytes`.
fn feed(c: &mut Socks5Client, bytes: &[u8]) -> usize {
    transmit(c);
    c.handle_input(bytes).unwrap()
}

fn onion() -> Socks5Target {
    Socks5Target::Domain("abc.onion".into())
}

fn connect_request(name: &[u8], port: u16) -> Vec<u8> {
    let mut v = vec![5, 1, 0, 3, name.len() as u8];
    v.extend_from_slice(name);
    v.extend_from_slice(&port.to_be_bytes());
    v
}

#[test]
fn no_auth_connect_by_domain_name() {
    let mut c = Socks5Client::new(onion(), 5223, None).unwrap();
    assert_eq!(transmit(&mut c), Some(vec![5, 1, 0]));
    assert_eq!(transmit(&mut c), None);
    assert_eq!(feed(&mut c, &[5, 0]), 2);
    assert_eq!(transmit(&mut c), Some(connect_request(b"abc.onion", 5223)));
    let mut reply = vec![5, 0, 0, 1, 127, 0, 0, 1, 0x14, 0x67];
    reply.extend_from_slice(b"TLS...");
    assert_eq!(
        feed(&mut c, &reply),
        10,
        "bytes after the reply are not taken"
    );
    assert_eq!(
        c.status(),
        &Socks5Status::Connected(BoundAddress::Ipv4([127, 0, 0, 1], 0x1467))
    );
    assert_eq!(feed(&mut c, b"more"), 0);
}

#[test]
fn connect_by_ipv4() {
    let mut c = Socks5Client::new(Socks5Target::Ipv4([10, 1, 2, 3]), 443, None).unwrap();
    transmit(&mut c);
    feed(&mut c, &[5, 0]);
    assert_eq!(
        transmit(&mut c),
        Some(vec![5, 1, 0, 1, 10, 1, 2, 3, 1, 187])
    );
}

#[test]
fn username_password() {
    let creds = Socks5Credentials::new(b"user", b"pw").unwrap();
    let mut c = Socks5Client::new(onion(), 80, Some(creds)).unwrap();
    assert_eq!(transmit(&mut c), Some(vec![5, 2, 0, 2]));
    feed(&mut c, &[5, 2]);
    assert_eq!(
        transmit(&mut c),
        Some(vec![1, 4, b'u', b's', b'e', b'r', 2, b'p', b'w'])
    );
    feed(&mut c, &[1, 0]);
    assert_eq!(transmit(&mut c), Some(connect_request(b"abc.onion", 80)));
    // Refused credentials.
    let creds = Socks5Credentials::new(b"user", b"pw").unwrap();
    let mut c = Socks5Client::new(onion(), 80, Some(creds)).unwrap();
    feed(&mut c, &[5, 2, 1, 1]);
    assert_eq!(
        c.status(),
        &Socks5Status::Failed(Socks5Error::AuthFailed(1))
    );
    assert!(Socks5Credentials::new(b"", b"x").is_none());
    assert!(Socks5Credentials::new(&[b'a'; 256], b"x").is_none());
    assert!(!format!(
        "{:?}",
        Socks5Credentials::new(b"secret", b"secret").unwrap()
    )
    .contains("secret"));
}

#[test]
fn every_reply_code_is_typed() {
    let codes = [
        (1, ReplyCode::GeneralFailure),
        (2, ReplyCode::NotAllowed),
        (3, ReplyCode::NetworkUnreachable),
        (4, ReplyCode::HostUnreachable),
        (5, ReplyCode::ConnectionRefused),
        (6, ReplyCode::TtlExpired),
        (7, ReplyCode::CommandNotSupported),
        (8, ReplyCode::AddressTypeNotSupported),
        (9, ReplyCode::Other(9)),
        (0xff, ReplyCode::Other(0xff)),
    ];
    for (byte, code) in codes {
        let mut c = Socks5Client::new(onion(), 1, None).unwrap();
        feed(&mut c, &[5, 0]);
        feed(&mut c, &[5, byte, 0, 1, 0, 0, 0, 0, 0, 0]);
        assert_eq!(c.status(), &Socks5Status::Failed(Socks5Error::Reply(code)));
    }
}

#[test]
fn method_and_version_errors() {
    let cases: [(&[u8], Socks5Error); 4] = [
        (&[4, 0], Socks5Error::BadVersion(4)),
        (&[5, 0xff], Socks5Error::NoAcceptableMethod),
        (&[5, 2], Socks5Error::UnexpectedMethod(2)),
        (&[5, 0, 5, 0, 0, 9, 0], Socks5Error::BadAddressType(9)),
    ];
    for (input, err) in cases {
        let mut c = Socks5Client::new(onion(), 1, None).unwrap();
        feed(&mut c, input);
        assert_eq!(c.status(), &Socks5Status::Failed(err));
    }
    let mut c = Socks5Client::new(onion(), 1, None).unwrap();
    feed(&mut c, &[5]);
    c.handle_peer_closed();
    assert_eq!(c.status(), &Socks5Status::Failed(Socks5Error::Closed));
    assert_eq!(
        Socks5Client::new(Socks5Target::Domain(String::new()), 1, None).unwrap_err(),
        Socks5Error::InvalidTarget
    );
    assert_eq!(
        Socks5Client::new(Socks5Target::Domain("a".repeat(256)), 1, None).unwrap_err(),
        Socks5Error::InvalidTarget
    );
}

#[test]
fn byte_by_byte_with_domain_and_ipv6_replies() {
    let replies: [(Vec<u8>, BoundAddress); 2] = [
        (
            [vec![5, 0, 0, 3, 3], b"abc".to_vec(), vec![0, 80]].concat(),
            BoundAddress::Domain(b"abc".to_vec(), 80),
        ),
        (
            [vec![5, 0, 0, 4], vec![7; 16], vec![1, 0]].concat(),
            BoundAddress::Ipv6([7; 16], 256),
        ),
    ];
    for (reply, bound) in replies {
        let mut c = Socks5Client::new(onion(), 1, None).unwrap();
        for b in [5u8, 0] {
            assert_eq!(feed(&mut c, &[b]), 1);
        }
        for (i, b) in reply.iter().enumerate() {
            assert_eq!(c.status(), &Socks5Status::InProgress, "at {i}");
            assert_eq!(feed(&mut c, &[*b]), 1);
        }
        assert_eq!(c.status(), &Socks5Status::Connected(bound));
    }
}

proptest! {
    #[test]
    fn arbitrary_input_never_panics(chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 0..8)) {
        let mut c = Socks5Client::new(onion(), 5223, Socks5Credentials::new(b"u", b"p")).unwrap();
        for chunk in chunks {
            let n = feed(&mut c, &chunk);
            prop_assert!(n <= chunk.len());
        }
    }
}

#[test]
fn input_before_the_outputs_are_drained_is_refused() {
    let mut c = Socks5Client::new(onion(), 5223, None).unwrap();
    // The greeting waits to be sent.
    assert_eq!(c.handle_input(&[5, 0]), Err(Socks5ApiError::OutputPending));
    assert_eq!(c.poll_output(), Socks5Output::Transmit(vec![5, 1, 0]));
    assert_eq!(c.poll_output(), Socks5Output::Wait);
    assert_eq!(c.handle_input(&[5, 0]), Ok(2));
    // The CONNECT request waits now.
    let reply = [5, 0, 0, 1, 127, 0, 0, 1, 0, 80];
    assert_eq!(c.handle_input(&reply), Err(Socks5ApiError::OutputPending));
    assert_eq!(
        c.poll_output(),
        Socks5Output::Transmit(connect_request(b"abc.onion", 5223))
    );
    assert_eq!(c.handle_input(&reply), Ok(10));
    // The outcome is an output too, given once, and must be taken before more input.
    assert_eq!(c.handle_input(b"TLS"), Err(Socks5ApiError::OutputPending));
    let bound = BoundAddress::Ipv4([127, 0, 0, 1], 80);
    assert_eq!(c.poll_output(), Socks5Output::Connected(bound.clone()));
    assert_eq!(c.poll_output(), Socks5Output::Wait);
    assert_eq!(c.status(), &Socks5Status::Connected(bound));
    assert_eq!(
        c.handle_input(b"TLS"),
        Ok(0),
        "the tunnel's bytes are not taken"
    );
}

#[test]
fn a_failure_is_one_output_after_which_nothing_is_sent() {
    let mut c = Socks5Client::new(onion(), 1, None).unwrap();
    assert!(matches!(c.poll_output(), Socks5Output::Transmit(_)));
    c.handle_input(&[5, 0xff]).unwrap();
    assert_eq!(
        c.poll_output(),
        Socks5Output::Failed(Socks5Error::NoAcceptableMethod)
    );
    assert_eq!(c.poll_output(), Socks5Output::Wait);
}
