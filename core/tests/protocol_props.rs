//! Property tests for the protocol messages, and the cases of the reference's
//! `tests/CoreTests/*` (encoding, version ranges, protocol errors).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use bytes::Bytes;
use proptest::prelude::*;
use simplex_core::crypto::cbox::CbNonce;
use simplex_core::crypto::keys::{Algorithm, PrivateKey, SignKey, VerifyKey};
use simplex_core::crypto::x25519;
use simplex_core::encoding::string::StrDecode;
use simplex_core::encoding::{Decode, Encode, ShortBytes, UnixTime, UtcTime, VersionRange};
use simplex_core::protocol::{
    encode_transmission, parse_transmission, signed_part, BrokerMsg, Command, CommandError, CorrId,
    EntityId, ErrorType, MsgFlags, MsgId, RcvMessage,
};
use simplex_core::transport::{pack_transmissions, unpack_block};

fn verify_key() -> impl Strategy<Value = VerifyKey> {
    (any::<bool>(), any::<u8>()).prop_map(|(ed448, seed)| {
        let (alg, len) = if ed448 {
            (Algorithm::Ed448, 57)
        } else {
            (Algorithm::Ed25519, 32)
        };
        SignKey::try_from(PrivateKey::from_raw(alg, &vec![seed; len]).unwrap())
            .unwrap()
            .verify_key()
    })
}

fn dh_key() -> impl Strategy<Value = x25519::PublicKey> {
    any::<[u8; 32]>().prop_map(|b| x25519::PublicKey::from_bytes(&b))
}

fn id24() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 24)
}

fn body() -> impl Strategy<Value = Bytes> {
    proptest::collection::vec(any::<u8>(), 0..300).prop_map(Bytes::from)
}

fn command() -> impl Strategy<Value = Command> {
    prop_oneof![
        (verify_key(), dh_key()).prop_map(|(recipient_key, dh_key)| Command::New {
            recipient_key,
            dh_key
        }),
        Just(Command::Sub),
        verify_key().prop_map(Command::Key),
        (verify_key(), dh_key()).prop_map(|(notifier_key, dh_key)| Command::NKey {
            notifier_key,
            dh_key
        }),
        Just(Command::NDel),
        Just(Command::Get),
        id24().prop_map(|id| Command::Ack(MsgId::new(id).unwrap())),
        Just(Command::Off),
        Just(Command::Del),
        (any::<bool>(), body()).prop_map(|(notification, body)| Command::Send {
            flags: MsgFlags { notification },
            body
        }),
        Just(Command::Ping),
        Just(Command::NSub),
    ]
}

fn error_type() -> impl Strategy<Value = ErrorType> {
    let cmd = prop_oneof![
        Just(CommandError::Unknown),
        Just(CommandError::Syntax),
        Just(CommandError::Prohibited),
        Just(CommandError::NoAuth),
        Just(CommandError::HasAuth),
        Just(CommandError::NoEntity),
    ];
    prop_oneof![
        Just(ErrorType::Block),
        Just(ErrorType::Session),
        cmd.prop_map(ErrorType::Cmd),
        Just(ErrorType::Auth),
        Just(ErrorType::Quota),
        Just(ErrorType::NoMsg),
        Just(ErrorType::LargeMsg),
        Just(ErrorType::Internal),
        Just(ErrorType::Duplicate),
    ]
}

fn broker_msg() -> impl Strategy<Value = BrokerMsg> {
    prop_oneof![
        (id24(), id24(), dh_key()).prop_map(|(r, s, k)| BrokerMsg::Ids {
            recipient_id: EntityId::new(r).unwrap(),
            sender_id: EntityId::new(s).unwrap(),
            server_dh_key: k
        }),
        (id24(), any::<i64>(), any::<bool>(), body()).prop_map(|(id, ts, notification, body)| {
            BrokerMsg::Msg(RcvMessage {
                msg_id: MsgId::new(id).unwrap(),
                timestamp: UnixTime::from_seconds(ts),
                flags: MsgFlags { notification },
                encrypted_body: body,
            })
        }),
        (id24(), dh_key()).prop_map(|(n, k)| BrokerMsg::Nid {
            notifier_id: EntityId::new(n).unwrap(),
            server_dh_key: k
        }),
        (
            any::<[u8; 24]>(),
            proptest::collection::vec(any::<u8>(), 0..200)
        )
            .prop_map(|(n, m)| BrokerMsg::NMsg {
                nonce: CbNonce(n),
                encrypted_meta: ShortBytes::new(m).unwrap()
            }),
        Just(BrokerMsg::End),
        Just(BrokerMsg::Ok),
        error_type().prop_map(BrokerMsg::Err),
        Just(BrokerMsg::Pong),
    ]
}

/// What survives a round trip at `version`: v1 drops flags and the ACK id; MSG keeps its
/// timestamp only in v1–v2 and its flags only in v2.
fn command_at(version: u16, c: &Command) -> Command {
    match c {
        Command::Ack(_) if version == 1 => Command::Ack(MsgId::empty()),
        Command::Send { body, .. } if version == 1 => Command::Send {
            flags: MsgFlags::default(),
            body: body.clone(),
        },
        other => other.clone(),
    }
}

fn broker_at(version: u16, m: &BrokerMsg) -> BrokerMsg {
    match m {
        BrokerMsg::Msg(msg) => BrokerMsg::Msg(RcvMessage {
            msg_id: msg.msg_id.clone(),
            timestamp: if version <= 2 {
                msg.timestamp
            } else {
                UnixTime::default()
            },
            flags: if version == 2 {
                msg.flags
            } else {
                MsgFlags::default()
            },
            encrypted_body: msg.encrypted_body.clone(),
        }),
        other => other.clone(),
    }
}

proptest! {
    #[test]
    fn every_command_roundtrips_in_every_version(c in command(), version in 1u16..=4) {
        let bytes = Bytes::from(c.to_bytes(version));
        prop_assert_eq!(Command::parse(version, &bytes).unwrap(), command_at(version, &c));
    }

    #[test]
    fn every_broker_message_roundtrips_in_every_version(m in broker_msg(), version in 1u16..=4) {
        let bytes = Bytes::from(m.to_bytes(version));
        prop_assert_eq!(BrokerMsg::parse(version, &bytes).unwrap(), broker_at(version, &m));
    }

    #[test]
    fn error_types_roundtrip(e in error_type()) {
        prop_assert_eq!(ErrorType::decode_slice(&e.to_bytes()).unwrap(), e);
    }

    /// Batches of random composition: whatever mix of commands, they arrive in order, each
    /// with its own correlation id, across as many blocks as they need.
    #[test]
    fn random_batches_arrive_whole_and_in_order(commands in proptest::collection::vec((command(), any::<bool>()), 1..60), big in proptest::collection::vec(0usize..15_000, 0..3)) {
        let session = [5u8; 32];
        let key = SignKey::try_from(PrivateKey::from_raw(Algorithm::Ed25519, &[1; 32]).unwrap()).unwrap();
        let mut sent = vec![];
        let mut all: Vec<(Command, bool)> = commands;
        all.extend(big.into_iter().map(|n| (Command::Send { flags: MsgFlags::default(), body: Bytes::from(vec![1u8; n]) }, false)));
        for (i, (c, signed)) in all.iter().enumerate() {
            let corr = CorrId::new(i.to_string().into_bytes()).unwrap();
            let signed_bytes = signed_part(&session, &corr, &EntityId::new(vec![3; 24]).unwrap(), &c.to_bytes(4)).unwrap();
            let sig = signed.then(|| key.sign(&signed_bytes));
            sent.push(encode_transmission(sig.as_ref(), &signed_bytes));
        }
        let packed = pack_transmissions(true, &sent);
        prop_assert!(packed.too_large.is_empty());
        let mut received = vec![];
        for block in packed.blocks {
            for t in unpack_block(true, &Bytes::from(block)).unwrap() {
                received.push(t.unwrap());
            }
        }
        prop_assert_eq!(received.len(), all.len());
        for (i, (raw, (c, _))) in received.into_iter().zip(&all).enumerate() {
            let corr = i.to_string();
            prop_assert_eq!(raw.corr_id.as_bytes(), corr.as_bytes());
            prop_assert_eq!(Command::parse(4, &raw.command).unwrap(), c.clone());
            prop_assert_eq!(parse_transmission(Bytes::from(sent[i].clone())).unwrap(), raw);
        }
    }

    #[test]
    fn arbitrary_commands_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400), version in 1u16..=4) {
        let bytes = Bytes::from(bytes);
        let _ = Command::parse(version, &bytes);
        let _ = BrokerMsg::parse(version, &bytes);
        let _ = parse_transmission(bytes);
    }
}

// The cases of the reference's tests/CoreTests (EncodingTests, VersionRangeTests,
// ProtocolErrorTests), carried over.

#[test]
fn int64_example() {
    let value: i64 = 1_234_567_890_123_456_789;
    assert_eq!(value.to_bytes(), [17, 34, 16, 244, 125, 233, 129, 21]);
    assert_eq!(
        i64::decode_slice(&[17, 34, 16, 244, 125, 233, 129, 21]).unwrap(),
        value
    );
}

#[test]
fn system_time_from_iso8601() {
    let t = UtcTime::str_decode(b"2022-01-01T10:24:05.000Z").unwrap();
    assert_eq!(t.seconds, 1_641_032_645);
    let time = UnixTime {
        seconds: t.seconds,
        nanoseconds: 123,
    };
    assert_eq!(time.to_bytes(), t.seconds.to_bytes());
    assert_eq!(
        UnixTime::decode_slice(&time.to_bytes()).unwrap(),
        UnixTime::from_seconds(t.seconds)
    );
}

#[test]
fn compatible_versions_as_the_reference() {
    let vr = |a, b| VersionRange::new(a, b).unwrap();
    let table = [
        ((1, 1), (1, 1), Some(1)),
        ((1, 1), (1, 2), Some(1)),
        ((1, 2), (1, 2), Some(2)),
        ((1, 2), (2, 3), Some(2)),
        ((1, 3), (2, 3), Some(3)),
        ((1, 3), (2, 4), Some(3)),
        ((1, 2), (3, 4), None),
    ];
    for ((a, b), (c, d), expected) in table {
        assert_eq!(vr(a, b).compatible_version(&vr(c, d)), expected);
        assert_eq!(vr(c, d).compatible_version(&vr(a, b)), expected);
    }
    assert!(vr(1, 2).contains(1) && vr(1, 2).contains(2));
    assert!(!vr(1, 1).contains(2) && !vr(2, 2).contains(1));
    assert!(VersionRange::new(2, 1).is_none());
}
