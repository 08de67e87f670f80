//! Two agents in memory run the v2 duplex handshake and a conversation through the message
//! pipeline, in both roles: the joining party's confirmation, the initiator's reply
//! confirmation, `HELLO` both ways, then user messages with their integrity verdicts,
//! duplicates, reordering and tampering.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use bytes::Bytes;
use common::{Invitation, Party};
use simplex_agent::error::{AgentErrorType, SmpAgentError};
use simplex_agent::integrity::{MsgErrorType, MsgIntegrity};
use simplex_agent::pipeline::{
    self, JoinerInfo, Opened, ReceiveError, ReceivedMessage, SkippedChange, Versions,
};
use simplex_agent::protocol::{AMessage, AgentMessage};
use simplex_core::encoding::{Decode, NonEmpty};
use simplex_core::ratchet::{generate_e2e_params, DecryptError};

const AGENT_V2: u16 = 2;

/// Alice (initiator) and Bob (joining party) after the whole handshake, with the `HELLO`s
/// exchanged and checked.
fn connected() -> (Party, Party) {
    connected_seeded(1)
}

fn connected_seeded(seed: u64) -> (Party, Party) {
    let mut alice = Party::new(2 * seed);
    let mut bob = Party::new(2 * seed + 1);
    let invitation = Invitation::new(&mut alice);

    // Bob joins: his X3DH keys, his ratchet, a box for Alice's queue; his confirmation carries
    // his reply queue (v2).
    let (b1, b2, bob_params) = generate_e2e_params(&mut bob.rng, 1);
    let bob_ratchet_key = simplex_core::crypto::x448::PrivateKey::generate(&mut bob.rng);
    bob.ratchet = Some(
        pipeline::session::joiner_ratchet(&b1, &b2, bob_ratchet_key, &invitation.params).unwrap(),
    );
    bob.send_to(&alice.queue());
    let conn_info = AgentMessage::ConnInfoReply {
        reply_queues: NonEmpty::new(vec![bob.queue()]).unwrap(),
        conn_info: Bytes::from_static(b"bob's profile"),
    };
    let prepared = pipeline::prepare_join_confirmation(
        bob.ratchet.as_ref().unwrap(),
        &bob.snd_ids,
        AGENT_V2,
        bob_params,
        &conn_info,
    )
    .unwrap();
    assert_eq!(prepared.snd_msg_id, 1);
    assert_eq!(prepared.integrity.last_hash, None, "no hash recorded");
    // 2 version + 1 tag + 1 + 140 X3DH keys + 14,848 + 140 ratchet overhead.
    assert_eq!(prepared.envelope.len(), 15132);
    bob.ratchet = Some(prepared.ratchet);
    bob.snd_ids = prepared.integrity;
    let nonce = bob.nonce();
    let snd = bob.snd.as_ref().unwrap();
    let body = snd.seal_confirmation(nonce, &prepared.envelope).unwrap();
    assert_eq!(
        body.len(),
        2 + 1 + 1 + 44 + 24 + 16 + 15936,
        "confirmation SEND body"
    );

    // Alice: the confirmation opens with her queue key and Bob's key from the clear header.
    let Opened::Confirmation(conf) = alice.open(&body).unwrap() else {
        panic!("not a confirmation")
    };
    assert_eq!(conf.sender_key, snd.sender_key);
    assert_eq!(conf.sender_dh, snd.dh_public);
    assert_eq!(conf.agent_version, AGENT_V2);
    let joined = pipeline::read_join_confirmation(
        &conf,
        &invitation.key1,
        &invitation.key2,
        &Versions::default(),
        &mut alice.rng,
    )
    .unwrap();
    let JoinerInfo::InfoReply {
        reply_queues,
        conn_info,
    } = joined.info
    else {
        panic!("v2 confirmation without reply queue")
    };
    assert_eq!(&conn_info[..], b"bob's profile");
    assert_eq!(reply_queues.first(), &bob.queue());
    alice.rcv_secret = Some(conf.dh_secret.clone());
    alice.ratchet = Some(joined.ratchet);

    // Alice accepts (LET): her reply confirmation on Bob's queue.
    alice.send_to(reply_queues.first());
    let info = reply_confirmation(&mut alice, &mut bob, AGENT_V2, b"alice's profile");
    assert_eq!(&info[..], b"alice's profile");

    // HELLO both ways: the first numbered message is judged as having skipped the id the
    // confirmation took, as in the reference.
    let hello = send(&mut bob, AMessage::Hello);
    let got = receive(&mut alice, &hello).unwrap();
    assert_eq!(got.message, AMessage::Hello);
    assert_eq!(
        accept(&mut alice, &got),
        MsgIntegrity::Error(MsgErrorType::Skipped { from: 1, to: 1 })
    );
    let hello = send(&mut alice, AMessage::Hello);
    let got = receive(&mut bob, &hello).unwrap();
    assert_eq!(got.message, AMessage::Hello);
    assert_eq!(got.header.snd_msg_id, 2);
    assert_eq!(
        accept(&mut bob, &got),
        MsgIntegrity::Error(MsgErrorType::Skipped { from: 1, to: 1 })
    );
    (alice, bob)
}

/// The inviter's reply confirmation (`LET`) from `alice` to `bob`, at `agent_version`: sealed,
/// opened and read by Bob, whose ratchet and queue secret take it in. Gives the info Bob read.
fn reply_confirmation(
    alice: &mut Party,
    bob: &mut Party,
    agent_version: u16,
    info: &'static [u8],
) -> Bytes {
    let prepared = pipeline::prepare_reply_confirmation(
        alice.ratchet.as_ref().unwrap(),
        &alice.snd_ids,
        agent_version,
        Bytes::from_static(info),
    )
    .unwrap();
    assert_eq!(prepared.snd_msg_id, 1);
    assert!(prepared.integrity.last_hash.is_some(), "hash recorded");
    alice.ratchet = Some(prepared.ratchet);
    alice.snd_ids = prepared.integrity;
    let nonce = alice.nonce();
    let body = alice
        .snd
        .as_ref()
        .unwrap()
        .seal_confirmation(nonce, &prepared.envelope)
        .unwrap();
    let Opened::Confirmation(conf) = bob.open(&body).unwrap() else {
        panic!("not a confirmation")
    };
    let (info, update) = pipeline::read_reply_confirmation(
        &conf,
        bob.ratchet.as_ref().unwrap(),
        &Versions::default(),
        &mut bob.rng,
    )
    .unwrap();
    bob.rcv_secret = Some(conf.dh_secret.clone());
    bob.ratchet = Some(update.ratchet);
    info
}

/// Builds a numbered message, commits the sender's state, and boxes it.
fn send(from: &mut Party, message: AMessage) -> Vec<u8> {
    let prepared = pipeline::prepare_message(
        from.ratchet.as_ref().unwrap(),
        &from.snd_ids,
        from.agent_version,
        message,
    )
    .unwrap();
    // 2 version + 1 tag + 15,856 + 140 ratchet overhead.
    assert_eq!(prepared.envelope.len(), 15999);
    from.ratchet = Some(prepared.ratchet);
    from.snd_ids = prepared.integrity;
    let nonce = from.nonce();
    from.snd
        .as_ref()
        .unwrap()
        .seal_message(nonce, &prepared.envelope)
        .unwrap()
}

/// Opens and decrypts a message without committing anything.
fn receive(to: &mut Party, body: &[u8]) -> Result<ReceivedMessage, ReceiveError> {
    match to.open(body)? {
        Opened::Message {
            agent_version,
            enc_agent_message,
        } => {
            assert_eq!(agent_version, to.agent_version);
            pipeline::read_message(
                to.ratchet.as_ref().unwrap(),
                &enc_agent_message,
                &mut to.rng,
            )
        }
        other => panic!("not a message: {other:?}"),
    }
}

/// Commits a received message: its ratchet change and the numbering; returns the verdict.
fn accept(to: &mut Party, got: &ReceivedMessage) -> MsgIntegrity {
    let (verdict, ids) = got.integrity(&to.rcv_ids);
    to.rcv_ids = ids;
    to.ratchet = Some(got.update.ratchet.clone());
    verdict
}

fn user(text: &'static str) -> AMessage {
    AMessage::UserMessage(Bytes::from_static(text.as_bytes()))
}

#[test]
fn a_conversation_in_both_directions_is_ok() {
    let (mut alice, mut bob) = connected();
    for round in 0..3 {
        for (text, from_bob) in [
            ("hi", true),
            ("hello", false),
            ("again", false),
            ("ok", true),
        ] {
            let (sender, recipient) = if from_bob {
                (&mut bob, &mut alice)
            } else {
                (&mut alice, &mut bob)
            };
            let body = send(sender, user(text));
            assert_eq!(body.len(), 2 + 1 + 24 + 16 + 16032, "message SEND body");
            let got = receive(recipient, &body).unwrap();
            assert_eq!(got.message, user(text), "round {round}");
            assert_eq!(
                accept(recipient, &got),
                MsgIntegrity::Ok,
                "round {round} {text}"
            );
        }
    }
}

#[test]
fn a_redelivered_message_is_a_duplicate_and_changes_nothing() {
    let (mut alice, mut bob) = connected();
    let body = send(&mut bob, user("once"));
    let got = receive(&mut alice, &body).unwrap();
    assert_eq!(got.update.skipped, SkippedChange::NoChange);
    assert_eq!(accept(&mut alice, &got), MsgIntegrity::Ok);
    let err = receive(&mut alice, &body).unwrap_err();
    assert!(err.is_duplicate(), "{err:?}");
    assert_eq!(
        err.reference(),
        AgentErrorType::Agent(SmpAgentError::Duplicate)
    );
    // The state the failure left alone still reads the next message.
    let body = send(&mut bob, user("twice"));
    let got = receive(&mut alice, &body).unwrap();
    assert_eq!(got.message, user("twice"));
    assert_eq!(accept(&mut alice, &got), MsgIntegrity::Ok);
}

#[test]
fn reordered_messages_decrypt_and_get_the_reference_verdicts() {
    let (mut alice, mut bob) = connected();
    let first = send(&mut bob, user("first"));
    let second = send(&mut bob, user("second"));
    let got = receive(&mut alice, &second).unwrap();
    assert_eq!(got.update.skipped, SkippedChange::Added { net: 1 });
    // HELLO was id 2: "first" is 3, "second" 4.
    assert_eq!(
        accept(&mut alice, &got),
        MsgIntegrity::Error(MsgErrorType::Skipped { from: 3, to: 3 })
    );
    let got = receive(&mut alice, &first).unwrap();
    assert_eq!(got.message, user("first"));
    assert_eq!(got.update.skipped, SkippedChange::Removed);
    assert_eq!(
        accept(&mut alice, &got),
        MsgIntegrity::Error(MsgErrorType::BadId(3))
    );
    // Its key is gone: delivering it again is refused as an earlier message of the chain
    // (which the reference reports as INTERNAL, not as a duplicate).
    let err = receive(&mut alice, &first).unwrap_err();
    assert_eq!(err, ReceiveError::Ratchet(DecryptError::EarlierMessage));
    assert_eq!(
        err.reference(),
        AgentErrorType::Internal("CERatchetEarlierMessage".into())
    );
}

#[test]
fn tampered_and_misplaced_messages_are_refused_with_the_reference_errors() {
    let (mut alice, mut bob) = connected();
    let mut body = send(&mut bob, user("x"));
    let last = body.len() - 1;
    body[last] ^= 1;
    let err = receive(&mut alice, &body).unwrap_err();
    assert!(matches!(err, ReceiveError::Box(_)), "{err:?}");
    assert_eq!(
        err.reference(),
        AgentErrorType::Agent(SmpAgentError::Encryption)
    );

    // A confirmation on a queue whose sender is known, a message on one whose sender is not.
    let mut stranger = Party::new(9);
    stranger.send_to(&alice.queue());
    let nonce = stranger.nonce();
    let conf = stranger
        .snd
        .as_ref()
        .unwrap()
        .seal_confirmation(nonce, b"\x00\x02M")
        .unwrap();
    assert_eq!(alice.open(&conf).unwrap_err(), ReceiveError::Prohibited);
    let fresh = Party::new(10);
    let mut to_fresh = Party::new(11);
    to_fresh.send_to(&fresh.queue());
    let nonce = to_fresh.nonce();
    let msg = to_fresh
        .snd
        .as_ref()
        .unwrap()
        .seal_message(nonce, b"\x00\x02M")
        .unwrap();
    let err = fresh.open(&msg).unwrap_err();
    assert_eq!(err, ReceiveError::Prohibited);
    assert_eq!(
        err.reference(),
        AgentErrorType::Agent(SmpAgentError::Prohibited)
    );

    // A ratchet message that is not for this ratchet: the header opens with no key.
    let (mut carol, _) = connected_seeded(7);
    let body = send(&mut bob, user("for alice"));
    let Opened::Message {
        enc_agent_message, ..
    } = alice.open(&body).unwrap()
    else {
        panic!()
    };
    let err = pipeline::read_message(
        carol.ratchet.as_ref().unwrap(),
        &enc_agent_message,
        &mut carol.rng,
    )
    .unwrap_err();
    assert_eq!(err, ReceiveError::Ratchet(DecryptError::HeaderDecryption));
    assert_eq!(
        err.reference(),
        AgentErrorType::Internal("CERatchetHeader".into())
    );
}

#[test]
fn a_version_outside_ours_is_refused() {
    let (alice, mut bob) = connected();
    let nonce = bob.nonce();
    let snd = bob.snd.as_mut().unwrap();
    snd.client_version = 3;
    let body = snd.seal_message(nonce, b"\x00\x02M").unwrap();
    let err = alice.open(&body).unwrap_err();
    assert_eq!(err, ReceiveError::Version);
    assert_eq!(
        err.reference(),
        AgentErrorType::Agent(SmpAgentError::Version)
    );
}

/// The v1 handshake: the joining party's confirmation has no reply queue; it sends `HELLO`
/// and then `REPLY` with its queue; the initiator answers with its reply confirmation there,
/// then `HELLO`.
#[test]
fn the_v1_handshake_with_reply() {
    let mut alice = Party::new(40);
    let mut bob = Party::new(41);
    alice.agent_version = 1;
    bob.agent_version = 1;
    let invitation = Invitation::new(&mut alice);
    let (b1, b2, bob_params) = generate_e2e_params(&mut bob.rng, 1);
    let key = simplex_core::crypto::x448::PrivateKey::generate(&mut bob.rng);
    bob.ratchet =
        Some(pipeline::session::joiner_ratchet(&b1, &b2, key, &invitation.params).unwrap());
    bob.send_to(&alice.queue());
    let info = AgentMessage::ConnInfo(Bytes::from_static(b"bob v1"));
    let prepared = pipeline::prepare_join_confirmation(
        bob.ratchet.as_ref().unwrap(),
        &bob.snd_ids,
        1,
        bob_params,
        &info,
    )
    .unwrap();
    bob.ratchet = Some(prepared.ratchet);
    bob.snd_ids = prepared.integrity;
    let nonce = bob.nonce();
    let body = bob
        .snd
        .as_ref()
        .unwrap()
        .seal_confirmation(nonce, &prepared.envelope)
        .unwrap();
    let Opened::Confirmation(conf) = alice.open(&body).unwrap() else {
        panic!("not a confirmation")
    };
    assert_eq!(conf.agent_version, 1);
    let joined = pipeline::read_join_confirmation(
        &conf,
        &invitation.key1,
        &invitation.key2,
        &Versions::default(),
        &mut alice.rng,
    )
    .unwrap();
    assert_eq!(joined.info, JoinerInfo::Info(Bytes::from_static(b"bob v1")));
    alice.rcv_secret = Some(conf.dh_secret.clone());
    alice.ratchet = Some(joined.ratchet);

    let hello = send(&mut bob, AMessage::Hello);
    let got = receive(&mut alice, &hello).unwrap();
    assert_eq!(got.message, AMessage::Hello);
    accept(&mut alice, &got);
    let reply_queues = NonEmpty::new(vec![bob.queue()]).unwrap();
    let reply = send(&mut bob, AMessage::Reply(reply_queues));
    let got = receive(&mut alice, &reply).unwrap();
    let AMessage::Reply(queues) = &got.message else {
        panic!("not REPLY")
    };
    assert_eq!(queues.first(), &bob.queue());
    assert_eq!(accept(&mut alice, &got), MsgIntegrity::Ok);

    alice.send_to(&bob.queue());
    let info = reply_confirmation(&mut alice, &mut bob, 1, b"alice v1");
    assert_eq!(&info[..], b"alice v1");
    let hello = send(&mut alice, AMessage::Hello);
    let got = receive(&mut bob, &hello).unwrap();
    assert_eq!(got.message, AMessage::Hello);
    accept(&mut bob, &got);
    let body = send(&mut alice, user("v1 works"));
    let got = receive(&mut bob, &body).unwrap();
    assert_eq!(got.message, user("v1 works"));
    assert_eq!(accept(&mut bob, &got), MsgIntegrity::Ok);
}

#[test]
fn a_confirmation_of_the_wrong_kind_is_prohibited() {
    let (mut alice, mut bob) = connected();
    // X3DH keys in a reply confirmation.
    let (_, _, params) = generate_e2e_params(&mut bob.rng, 1);
    let prepared = pipeline::prepare_join_confirmation(
        bob.ratchet.as_ref().unwrap(),
        &bob.snd_ids,
        AGENT_V2,
        params,
        &AgentMessage::ConnInfo(Bytes::from_static(b"x")),
    )
    .unwrap();
    let snd = bob.snd.as_ref().unwrap();
    let conf = pipeline::OpenedConfirmation {
        sender_key: snd.sender_key.clone(),
        sender_dh: snd.dh_public,
        dh_secret: snd.dh_secret.clone(),
        client_version: 2,
        agent_version: AGENT_V2,
        e2e: None,
        enc_conn_info: Bytes::new(),
    };
    let mut with_keys = conf.clone();
    with_keys.e2e = match simplex_agent::protocol::AgentEnvelope::decode_all(prepared.envelope) {
        Ok(simplex_agent::protocol::AgentEnvelope::Confirmation { e2e, .. }) => e2e,
        other => panic!("{other:?}"),
    };
    let err = pipeline::read_reply_confirmation(
        &with_keys,
        alice.ratchet.as_ref().unwrap(),
        &Versions::default(),
        &mut alice.rng,
    )
    .unwrap_err();
    assert_eq!(err, ReceiveError::Prohibited);
    // No X3DH keys in the joining party's confirmation.
    let invitation = Invitation::new(&mut alice);
    let err = pipeline::read_join_confirmation(
        &conf,
        &invitation.key1,
        &invitation.key2,
        &Versions::default(),
        &mut alice.rng,
    )
    .unwrap_err();
    assert_eq!(err, ReceiveError::Prohibited);
    // An agent version we do not speak.
    let mut v3 = conf;
    v3.agent_version = 3;
    let err = pipeline::read_join_confirmation(
        &v3,
        &invitation.key1,
        &invitation.key2,
        &Versions::default(),
        &mut alice.rng,
    )
    .unwrap_err();
    assert_eq!(err, ReceiveError::Version);
}

/// The initiator refuses a joining confirmation whose ratchet body does not authenticate as
/// the reference does (prohibited), and one whose header does not open as a ratchet error.
#[test]
fn a_forged_join_confirmation_is_refused() {
    let mut alice = Party::new(60);
    let mut bob = Party::new(61);
    let invitation = Invitation::new(&mut alice);
    let (b1, b2, bob_params) = generate_e2e_params(&mut bob.rng, 1);
    let key = simplex_core::crypto::x448::PrivateKey::generate(&mut bob.rng);
    let ratchet = pipeline::session::joiner_ratchet(&b1, &b2, key, &invitation.params).unwrap();
    bob.send_to(&alice.queue());
    let prepared = pipeline::prepare_join_confirmation(
        &ratchet,
        &bob.snd_ids,
        AGENT_V2,
        bob_params,
        &AgentMessage::ConnInfo(Bytes::from_static(b"bob")),
    )
    .unwrap();
    let nonce = bob.nonce();
    let body = bob
        .snd
        .as_ref()
        .unwrap()
        .seal_confirmation(nonce, &prepared.envelope)
        .unwrap();
    let Opened::Confirmation(conf) = alice.open(&body).unwrap() else {
        panic!("not a confirmation")
    };
    let read = |conf: &pipeline::OpenedConfirmation, alice: &mut Party| {
        pipeline::read_join_confirmation(
            conf,
            &invitation.key1,
            &invitation.key2,
            &Versions::default(),
            &mut alice.rng,
        )
    };
    assert!(read(&conf, &mut alice).is_ok());
    let mut forged = (*conf).clone();
    let mut bytes = forged.enc_conn_info.to_vec();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    forged.enc_conn_info = Bytes::from(bytes.clone());
    assert_eq!(
        read(&forged, &mut alice).unwrap_err(),
        ReceiveError::Prohibited
    );
    bytes[last] ^= 1;
    bytes[40] ^= 1; // inside the encrypted header
    forged.enc_conn_info = Bytes::from(bytes);
    assert_eq!(
        read(&forged, &mut alice).unwrap_err(),
        ReceiveError::Ratchet(DecryptError::HeaderDecryption)
    );
}
