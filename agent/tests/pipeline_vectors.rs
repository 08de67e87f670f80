//! The per-queue layer of the pipeline against the reference's `client_msg_envelope_*` cases
//! of `spec/vectors/reference/smp_messages.json` (simplexmq v3.2.0): the confirmation, message and
//! invitation `SEND` bodies built byte for byte from the same keys and nonce, and opened back
//! by the recipient; plus the contact invitation end to end.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use bytes::Bytes;
use common::{case, hex_of, vectors, Party};
use serde_json::Value;
use simplex_agent::pipeline::{self, Opened, RcvQueueBox, ReceiveError, SndQueueBox, Versions};
use simplex_core::crypto::cbox::CbNonce;
use simplex_core::crypto::x25519;
use simplex_core::e2e::PrivHeader;
use simplex_core::encoding::Decode;

fn x25519_private(v: &Value) -> x25519::PrivateKey {
    x25519::PrivateKey::from_bytes(&hex_of(v).try_into().unwrap())
}

fn x25519_public(v: &Value) -> x25519::PublicKey {
    x25519::PublicKey::from_bytes(&hex_of(v).try_into().unwrap())
}

struct Case {
    inputs: Value,
    expected: Vec<u8>,
    nonce: CbNonce,
    sender: x25519::PrivateKey,
    recipient: x25519::PrivateKey,
}

fn load(name: &str) -> Case {
    let c = case(&vectors("smp_messages.json"), name);
    let i = c["inputs"].clone();
    let mut expected = hex_of(&c["outputs"]["envelope_prefix_hex"]);
    expected.extend(hex_of(&c["outputs"]["encrypted_body_hex"]));
    assert_eq!(
        expected.len() as u64,
        c["outputs"]["envelope_length"].as_u64().unwrap()
    );
    Case {
        nonce: CbNonce(hex_of(&i["nonce_hex"]).try_into().unwrap()),
        sender: x25519_private(&i["sender_e2e_private_raw_hex"]),
        recipient: x25519_private(&i["recipient_e2e_private_raw_hex"]),
        expected,
        inputs: i,
    }
}

fn snd_box(c: &Case, sender_key_header: &str) -> SndQueueBox {
    let sender_key = match PrivHeader::decode_slice(&hex_of(&c.inputs[sender_key_header])) {
        Ok(PrivHeader::Confirmation(key)) => *key,
        _ => {
            // A message: the key is not sent; any key will do.
            let mut rng = common::rng(0);
            simplex_core::crypto::keys::SignKey::Ed25519(
                simplex_core::crypto::ed25519::SigningKey::generate(&mut rng),
            )
            .verify_key()
        }
    };
    let v = &c.inputs["client_version"];
    let client_version = v
        .as_u64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        .unwrap() as u16;
    let recipient = x25519_public(&c.inputs["recipient_e2e_public_raw_hex"]);
    let dh_secret = c.sender.diffie_hellman(&recipient).unwrap();
    assert_eq!(
        dh_secret.as_secret().expose()[..],
        hex_of(&c.inputs["e2e_dh_secret_hex"])[..]
    );
    SndQueueBox {
        client_version,
        dh_secret,
        dh_public: c.sender.public_key(),
        sender_key,
    }
}

#[test]
fn confirmations_are_the_reference_bytes() {
    for name in [
        "client_msg_envelope_confirmation_ed25519",
        "client_msg_envelope_confirmation_ed448",
    ] {
        let c = load(name);
        let body = snd_box(&c, "privheader_hex")
            .seal_confirmation(c.nonce, &hex_of(&c.inputs["agent_body_hex"]))
            .unwrap();
        assert_eq!(hex::encode(&body), hex::encode(&c.expected), "{name}");
        // The recipient opens the box; the vector's body is not an agent envelope.
        let opened = pipeline::open(
            RcvQueueBox {
                dh_private: &c.recipient,
                dh_secret: None,
            },
            &Versions::default().smp_client,
            &body,
        );
        assert!(
            matches!(opened, Err(ReceiveError::Encoding(_))),
            "{opened:?}"
        );
    }
}

#[test]
fn messages_are_the_reference_bytes() {
    for name in [
        "client_msg_envelope_message",
        "client_msg_envelope_message_client_v1",
    ] {
        let c = load(name);
        let snd = snd_box(&c, "privheader_hex");
        let body = snd
            .seal_message(c.nonce, &hex_of(&c.inputs["agent_body_hex"]))
            .unwrap();
        assert_eq!(hex::encode(&body), hex::encode(&c.expected), "{name}");
        let opened = pipeline::open(
            RcvQueueBox {
                dh_private: &c.recipient,
                dh_secret: Some(&snd.dh_secret),
            },
            &Versions::default().smp_client,
            &body,
        );
        assert!(
            matches!(opened, Err(ReceiveError::Encoding(_))),
            "{opened:?}"
        );
    }
}

#[test]
fn the_invitation_is_the_reference_bytes() {
    let c = load("client_msg_envelope_invitation_once");
    let recipient = x25519_public(&c.inputs["recipient_e2e_public_raw_hex"]);
    let body = pipeline::seal_invitation(
        2,
        &recipient,
        &c.sender,
        c.nonce,
        &hex_of(&c.inputs["agent_body_hex"]),
    )
    .unwrap();
    assert_eq!(hex::encode(&body), hex::encode(&c.expected));
}

#[test]
fn an_invitation_reaches_the_contact_address() {
    let address = Party::new(20);
    let mut joiner = Party::new(21);
    let link = common::invitation_link();
    let envelope =
        pipeline::invitation_envelope(2, link.clone(), Bytes::from_static(b"joiner's profile"))
            .unwrap();
    let one_time = x25519::PrivateKey::generate(&mut joiner.rng);
    let nonce = joiner.nonce();
    let queue = address.queue();
    let body = pipeline::seal_invitation(
        queue.client_version,
        &queue.address.dh_public,
        &one_time,
        nonce,
        &envelope,
    )
    .unwrap();
    let Opened::Invitation(inv) = address.open(&body).unwrap() else {
        panic!("not an invitation")
    };
    assert_eq!(inv.conn_req, link);
    assert_eq!(&inv.conn_info[..], b"joiner's profile");
    assert_eq!(inv.agent_version, 2);
    // The address keeps no secret: the next invitation opens the same way.
    assert!(address.rcv_secret.is_none());
}

fn x448_private(v: &Value) -> simplex_core::crypto::x448::PrivateKey {
    simplex_core::crypto::x448::PrivateKey::from_bytes(
        &hex_of(&v["private_raw_hex"]).try_into().unwrap(),
    )
}

fn x448_public(v: &Value) -> simplex_core::crypto::x448::PublicKey {
    x448_private(v).public_key()
}

/// The ratchets are started as `joinConn` and `smpConfirmation` start them: Bob's first
/// message of the reference's scripted conversation (confirmation-sized) comes out byte for
/// byte from the joining party's ratchet, and the initiator's ratchet reads it.
#[test]
fn the_ratchets_start_as_the_reference_starts_them() {
    let c = case(&common::vectors("ratchet.json"), "conversation");
    let i = &c["inputs"];
    let (alice, bob) = (&i["alice_x3dh"], &i["bob_x3dh"]);
    let params = |keys: &Value| simplex_core::ratchet::E2eRatchetParams {
        version: 1,
        key1: x448_public(&keys["key1"]),
        key2: x448_public(&keys["key2"]),
    };
    let joiner = pipeline::session::joiner_ratchet(
        &x448_private(&bob["key1"]),
        &x448_private(&bob["key2"]),
        x448_private(&i["bob_ratchet_0"]),
        &params(alice),
    )
    .unwrap();
    let step = &c["outputs"]["steps"][0];
    assert_eq!(
        (&step["step"], &step["sender"]),
        (&"encrypt".into(), &"bob".into())
    );
    let plaintext = hex_of(&step["inputs"]["plaintext_hex"]);
    let padded = step["inputs"]["padded_length"].as_u64().unwrap() as usize;
    assert_eq!(
        padded,
        simplex_agent::protocol::message::E2E_ENC_CONN_INFO_LENGTH
    );
    let (ciphertext, _) = pipeline::session::encrypt(&joiner, padded, &plaintext).unwrap();
    assert_eq!(
        hex::encode(&ciphertext),
        step["outputs"]["encrypted_hex"].as_str().unwrap()
    );
    let initiator = pipeline::session::initiator_ratchet(
        &x448_private(&alice["key1"]),
        &x448_private(&alice["key2"]),
        &params(bob),
    )
    .unwrap();
    let (read, update) =
        pipeline::session::decrypt(&initiator, &mut common::rng(3), &ciphertext).unwrap();
    assert_eq!(read, plaintext);
    assert_eq!(update.skipped, pipeline::SkippedChange::NoChange);
}
