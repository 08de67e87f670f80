//! Integrity verdicts over message streams with random drops, duplicates, reorders and
//! tampering, against a model that judges each delivery by what was actually delivered
//! before it (not by ids and hashes); and the same streams through the whole pipeline, where
//! every first delivery must decrypt and get the model's verdict, and every repeat must be
//! refused by the ratchet (its state passed in is kept).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use bytes::Bytes;
use proptest::prelude::*;
use simplex_agent::integrity::{
    message_hash, MsgErrorType, MsgIntegrity, RcvIntegrity, SndIntegrity,
};
use simplex_agent::pipeline::{self, Opened, ReceiveError};
use simplex_agent::protocol::{AMessage, AgentMessage, MsgPrivHeader};
use simplex_core::encoding::{Encode, ShortBytes};
use simplex_core::ratchet::{generate_e2e_params, DecryptError};

/// The sender's stream: messages 1..=n, numbered and hash-linked by [`SndIntegrity`].
fn sent_stream(n: usize) -> Vec<(MsgPrivHeader, Vec<u8>)> {
    let mut ids = SndIntegrity::default();
    (0..n)
        .map(|i| {
            let header = ids.next_header().unwrap();
            let msg = AgentMessage::Message {
                header: header.clone(),
                message: AMessage::UserMessage(Bytes::from(format!("message {i}"))),
            };
            let encoded = msg.to_bytes();
            ids = ids.after_sent(header.snd_msg_id, message_hash(&encoded));
            (header, encoded)
        })
        .collect()
}

/// A delivery: which sent message (by index), and whether its previous-message hash was
/// tampered with on the way.
#[derive(Clone, Debug)]
struct Delivery {
    index: usize,
    tampered: bool,
}

fn deliveries(n: usize) -> impl Strategy<Value = Vec<Delivery>> {
    prop::collection::vec(
        (0..n, prop::bool::weighted(0.15))
            .prop_map(|(index, tampered)| Delivery { index, tampered }),
        0..(3 * n),
    )
}

/// What the model expects: judged from the previous *delivery* itself.
fn expected(previous: Option<&Delivery>, current: &Delivery) -> MsgIntegrity {
    let id = current.index as i64 + 1;
    let last = previous.map_or(0, |d| d.index as i64 + 1);
    let follows_untampered = match previous {
        None => current.index == 0,
        Some(p) => p.index + 1 == current.index && !p.tampered,
    };
    if id == last + 1 && follows_untampered && !current.tampered {
        MsgIntegrity::Ok
    } else if id < last {
        MsgIntegrity::Error(MsgErrorType::BadId(id))
    } else if id == last {
        MsgIntegrity::Error(MsgErrorType::Duplicate)
    } else if id > last + 1 {
        MsgIntegrity::Error(MsgErrorType::Skipped {
            from: last + 1,
            to: id - 1,
        })
    } else {
        MsgIntegrity::Error(MsgErrorType::BadHash)
    }
}

/// The message as delivered: with a wrong previous-message hash if tampered.
fn delivered(stream: &[(MsgPrivHeader, Vec<u8>)], d: &Delivery) -> (MsgPrivHeader, [u8; 32]) {
    let (header, encoded) = &stream[d.index];
    if !d.tampered {
        return (header.clone(), message_hash(encoded));
    }
    let header = MsgPrivHeader {
        snd_msg_id: header.snd_msg_id,
        prev_msg_hash: ShortBytes::from_slice(&[0xee; 32]).unwrap(),
    };
    let msg = AgentMessage::Message {
        header: header.clone(),
        message: AMessage::UserMessage(Bytes::from_static(b"forged")),
    };
    (header, message_hash(&msg.to_bytes()))
}

proptest! {
    #[test]
    fn verdicts_match_the_model(n in 1usize..12, plan in deliveries(12)) {
        let stream = sent_stream(n);
        let plan: Vec<Delivery> = plan.into_iter().filter(|d| d.index < n).collect();
        let mut state = RcvIntegrity::default();
        let mut previous: Option<&Delivery> = None;
        for d in &plan {
            let (header, hash) = delivered(&stream, d);
            let verdict = state.check(header.snd_msg_id, header.prev_msg_hash.as_bytes());
            prop_assert_eq!(verdict, expected(previous, d), "{:?} after {:?}", d, previous);
            state = state.after_received(header.snd_msg_id, hash);
            previous = Some(d);
        }
    }

    #[test]
    fn an_in_order_stream_with_drops_reports_exactly_the_gaps(
        n in 1usize..40,
        kept in prop::collection::vec(prop::bool::weighted(0.7), 40),
    ) {
        let stream = sent_stream(n);
        let mut state = RcvIntegrity::default();
        let mut last_kept = 0i64;
        for (i, (header, encoded)) in stream.iter().enumerate() {
            if !kept[i] {
                continue;
            }
            let verdict = state.check(header.snd_msg_id, header.prev_msg_hash.as_bytes());
            let id = i as i64 + 1;
            if id == last_kept + 1 {
                prop_assert_eq!(verdict, MsgIntegrity::Ok);
            } else {
                prop_assert_eq!(
                    verdict,
                    MsgIntegrity::Error(MsgErrorType::Skipped { from: last_kept + 1, to: id - 1 })
                );
            }
            state = state.after_received(header.snd_msg_id, message_hash(encoded));
            last_kept = id;
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    /// Bob sends a stream to Alice's queue; the server (the plan) drops, repeats and reorders.
    #[test]
    fn the_pipeline_reads_each_message_once_and_refuses_repeats(
        seed in any::<u64>(),
        plan in prop::collection::vec(0usize..6, 0..14),
    ) {
        let mut alice = common::Party::new(seed);
        let mut bob = common::Party::new(seed ^ 0x5a5a);
        // A ratchet pair as after the handshake (Bob has sent nothing yet on it).
        let (a1, a2, alice_params) = generate_e2e_params(&mut alice.rng, 1);
        let (b1, b2, bob_params) = generate_e2e_params(&mut bob.rng, 1);
        let key = simplex_core::crypto::x448::PrivateKey::generate(&mut bob.rng);
        let mut bob_ratchet =
            pipeline::session::joiner_ratchet(&b1, &b2, key, &alice_params).unwrap();
        let mut alice_ratchet =
            pipeline::session::initiator_ratchet(&a1, &a2, &bob_params).unwrap();
        bob.send_to(&alice.queue());
        let snd = bob.snd.clone().unwrap();
        alice.rcv_secret = Some(snd.dh_secret.clone());

        let mut bodies = Vec::new();
        for i in 0..6 {
            let text = format!("m{i}");
            let prepared = pipeline::prepare_message(
                &bob_ratchet,
                &bob.snd_ids,
                2,
                AMessage::UserMessage(Bytes::from(text.clone())),
            )
            .unwrap();
            bob_ratchet = prepared.ratchet;
            bob.snd_ids = prepared.integrity;
            let nonce = bob.nonce();
            bodies.push((text, snd.seal_message(nonce, &prepared.envelope).unwrap()));
        }
        let mut seen = [false; 6];
        let mut rcv_ids = RcvIntegrity::default();
        let mut previous: Option<Delivery> = None;
        for &i in &plan {
            let Opened::Message { enc_agent_message, .. } = alice.open(&bodies[i].1).unwrap() else {
                panic!("not a message")
            };
            match pipeline::read_message(&alice_ratchet, &enc_agent_message, &mut alice.rng) {
                Ok(got) => {
                    prop_assert!(!seen[i], "message {} read twice", i);
                    prop_assert_eq!(
                        &got.message,
                        &AMessage::UserMessage(Bytes::from(bodies[i].0.clone()))
                    );
                    prop_assert_eq!(got.header.snd_msg_id, i as i64 + 1);
                    // The verdict is the model's, judged from the last message read.
                    let d = Delivery { index: i, tampered: false };
                    let (verdict, next_ids) = got.integrity(&rcv_ids);
                    prop_assert_eq!(verdict, expected(previous.as_ref(), &d));
                    rcv_ids = next_ids;
                    previous = Some(d);
                    seen[i] = true;
                    alice_ratchet = got.update.ratchet;
                }
                Err(e) => {
                    prop_assert!(seen[i], "first delivery of {} refused: {:?}", i, e);
                    // A repeat of the last message of the chain, of a message whose skipped
                    // key was used, or of an earlier one.
                    prop_assert!(
                        matches!(
                            e,
                            ReceiveError::Ratchet(
                                DecryptError::DuplicateMessage | DecryptError::EarlierMessage
                            )
                        ),
                        "{:?}", e
                    );
                }
            }
        }
    }
}
