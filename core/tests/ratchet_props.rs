//! Properties of the double ratchet over seeded, randomly driven conversations: any
//! interleaving of both directions, with loss, reordering inside the skip window and
//! duplicates, decrypts to exactly what was sent; replays, tampering and too-large skips fail
//! with typed errors and leave the state (skipped keys included) byte for byte unchanged.

// Test and benchmark code: a failed unwrap is a failed check.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use simplex_core::crypto::x448;
use simplex_core::ratchet::{
    generate_e2e_params, x3dh_receiver, x3dh_sender, DecryptError, EncryptError, Ratchet,
    E2E_ENCRYPT_VERSION, MAX_SKIP,
};

/// Alice (initiator) and Bob (joining party) as the agent sets them up.
fn pair(rng: &mut ChaCha20Rng) -> (Ratchet, Ratchet) {
    let (a1, a2, alice_params) = generate_e2e_params(rng, E2E_ENCRYPT_VERSION);
    let (b1, b2, bob_params) = generate_e2e_params(rng, E2E_ENCRYPT_VERSION);
    let bob_init = x3dh_sender(&b1, &b2, &alice_params).unwrap();
    let bob = Ratchet::init_sender(
        &alice_params.key2,
        x448::PrivateKey::generate(rng),
        &bob_init,
    )
    .unwrap();
    let alice_init = x3dh_receiver(&a1, &a2, &bob_params).unwrap();
    (Ratchet::init_receiver(a2, &alice_init), bob)
}

fn state(r: &Ratchet) -> Vec<u8> {
    r.to_bytes().unwrap().to_vec()
}

/// Decrypting must fail and leave the state exactly as it was.
fn assert_rejected(r: &mut Ratchet, rng: &mut ChaCha20Rng, msg: &[u8]) -> DecryptError {
    let before = state(r);
    let err = r.decrypt(rng, msg).expect_err("must be rejected");
    assert_eq!(
        state(r),
        before,
        "state changed by a rejected message ({err:?})"
    );
    err
}

#[derive(Debug, Clone)]
enum Op {
    /// Alice (`true`) or Bob sends a message of this many bytes.
    Send(bool, u8),
    /// Deliver one in-flight message to Alice (`true`) or Bob, picked by index.
    Deliver(bool, usize),
    /// Lose one in-flight message.
    Drop(bool, usize),
    /// Deliver an already delivered message again.
    Replay(bool, usize),
    /// Deliver a copy of an in-flight message with one byte flipped.
    Tamper(bool, usize, usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (any::<bool>(), any::<u8>()).prop_map(|(a, n)| Op::Send(a, n)),
        4 => (any::<bool>(), any::<usize>()).prop_map(|(a, i)| Op::Deliver(a, i)),
        1 => (any::<bool>(), any::<usize>()).prop_map(|(a, i)| Op::Drop(a, i)),
        1 => (any::<bool>(), any::<usize>()).prop_map(|(a, i)| Op::Replay(a, i)),
        1 => (any::<bool>(), any::<usize>(), any::<usize>()).prop_map(|(a, i, j)| Op::Tamper(a, i, j)),
    ]
}

/// Messages in flight and already delivered, per direction (index 0: to Alice, 1: to Bob).
#[derive(Default)]
struct Network {
    in_flight: [Vec<(Vec<u8>, Vec<u8>)>; 2],
    delivered: [Vec<Vec<u8>>; 2],
}

fn run(seed: u64, ops: &[Op]) {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let (mut alice, mut bob) = pair(&mut rng);
    let mut net = Network::default();
    let mut counter = 0u32;
    for op in ops {
        match *op {
            Op::Send(from_alice, len) => {
                let (sender, to) = if from_alice {
                    (&mut alice, 1)
                } else {
                    (&mut bob, 0)
                };
                counter += 1;
                let mut plaintext = format!("#{counter} ").into_bytes();
                plaintext.resize(plaintext.len() + usize::from(len), len);
                if !sender.can_send() {
                    let before = state(sender);
                    assert_eq!(
                        sender.encrypt(512, &plaintext),
                        Err(EncryptError::NoSendingChain)
                    );
                    assert_eq!(state(sender), before);
                    continue;
                }
                let msg = sender.encrypt(512, &plaintext).unwrap();
                assert_eq!(msg.len(), 512 + 140);
                net.in_flight[to].push((msg, plaintext));
            }
            Op::Deliver(to_alice, i) => {
                let (receiver, k) = if to_alice {
                    (&mut alice, 0)
                } else {
                    (&mut bob, 1)
                };
                if net.in_flight[k].is_empty() {
                    continue;
                }
                let (msg, plaintext) = net.in_flight[k].remove(i % net.in_flight[k].len());
                let got = receiver.decrypt(&mut rng, &msg).unwrap();
                assert_eq!(got.plaintext, plaintext);
                net.delivered[k].push(msg);
            }
            Op::Drop(to_alice, i) => {
                let k = usize::from(!to_alice);
                if !net.in_flight[k].is_empty() {
                    let n = net.in_flight[k].len();
                    net.in_flight[k].remove(i % n);
                }
            }
            Op::Replay(to_alice, i) => {
                let (receiver, k) = if to_alice {
                    (&mut alice, 0)
                } else {
                    (&mut bob, 1)
                };
                if let Some(msg) = net.delivered[k].get(i % net.delivered[k].len().max(1)) {
                    assert_rejected(receiver, &mut rng, msg);
                }
            }
            Op::Tamper(to_alice, i, j) => {
                let (receiver, k) = if to_alice {
                    (&mut alice, 0)
                } else {
                    (&mut bob, 1)
                };
                if let Some((msg, _)) = net.in_flight[k].get(i % net.in_flight[k].len().max(1)) {
                    let mut bad = msg.clone();
                    let at = j % bad.len();
                    bad[at] ^= 1 << (j % 8);
                    assert_rejected(receiver, &mut rng, &bad);
                }
            }
        }
    }
    // Everything still in flight arrives at the end, newest first, and decrypts.
    for (k, receiver) in [(0, &mut alice), (1, &mut bob)] {
        while let Some((msg, plaintext)) = net.in_flight[k].pop() {
            assert_eq!(
                receiver.decrypt(&mut rng, &msg).unwrap().plaintext,
                plaintext
            );
        }
    }
    // A persisted and restored ratchet carries on.
    let mut alice = Ratchet::from_bytes(&alice.to_bytes().unwrap()).unwrap();
    let mut bob = Ratchet::from_bytes(&bob.to_bytes().unwrap()).unwrap();
    let msg = bob.encrypt(64, b"after restore").unwrap();
    assert_eq!(
        alice.decrypt(&mut rng, &msg).unwrap().plaintext,
        b"after restore"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn conversations_decrypt_exactly(seed in any::<u64>(), ops in proptest::collection::vec(op(), 0..60)) {
        run(seed, &ops);
    }

    #[test]
    fn garbage_is_rejected_without_state_change(seed in any::<u64>(), junk in proptest::collection::vec(any::<u8>(), 0..400)) {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let (mut alice, mut bob) = pair(&mut rng);
        let first = bob.encrypt(128, b"hello").unwrap();
        alice.decrypt(&mut rng, &first).unwrap();
        assert_rejected(&mut alice, &mut rng, &junk);
        // A well-formed envelope around junk.
        let mut framed = first[..140].to_vec();
        framed.extend_from_slice(&junk);
        assert_rejected(&mut alice, &mut rng, &framed);
    }
}

#[test]
fn too_many_skipped_is_rejected_and_the_window_edge_accepted() {
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    let (mut alice, mut bob) = pair(&mut rng);
    let msgs: Vec<Vec<u8>> = (0..=MAX_SKIP + 1)
        .map(|i| bob.encrypt(32, &i.to_be_bytes()).unwrap())
        .collect();
    // Alice has no receiving chain yet: the first message of a chain may skip up to MAX_SKIP.
    let beyond = &msgs[MAX_SKIP as usize + 1];
    assert_eq!(
        assert_rejected(&mut alice, &mut rng, beyond),
        DecryptError::TooManySkipped
    );
    let edge = &msgs[MAX_SKIP as usize];
    assert_eq!(
        alice.decrypt(&mut rng, edge).unwrap().plaintext,
        MAX_SKIP.to_be_bytes()
    );
    assert_eq!(alice.skipped_keys(), MAX_SKIP as usize);
    // The skipped ones decrypt once each, in any order; a second time they are rejected.
    for i in [3usize, 0, 511, 200] {
        let got = alice.decrypt(&mut rng, &msgs[i]).unwrap();
        assert!(got.from_skipped);
        assert_eq!(got.plaintext, (i as u32).to_be_bytes());
        // Its chain is still the current one, so the header opens with the current key and
        // the number is behind the chain: an earlier message.
        assert_eq!(
            assert_rejected(&mut alice, &mut rng, &msgs[i]),
            DecryptError::EarlierMessage
        );
    }
    assert_eq!(alice.skipped_keys(), MAX_SKIP as usize - 4);
    // The last one again: a duplicate of the newest.
    assert_eq!(
        assert_rejected(&mut alice, &mut rng, edge),
        DecryptError::DuplicateMessage
    );
    assert_eq!(
        alice.decrypt(&mut rng, beyond).unwrap().plaintext,
        (MAX_SKIP + 1).to_be_bytes()
    );
}

#[test]
fn earlier_message_without_key_and_unknown_chain() {
    let mut rng = ChaCha20Rng::seed_from_u64(8);
    let (mut alice, mut bob) = pair(&mut rng);
    let m: Vec<Vec<u8>> = (0..3u8).map(|i| bob.encrypt(32, &[i]).unwrap()).collect();
    for msg in &m {
        alice.decrypt(&mut rng, msg).unwrap();
    }
    assert_eq!(
        assert_rejected(&mut alice, &mut rng, &m[0]),
        DecryptError::EarlierMessage
    );
    assert_eq!(
        assert_rejected(&mut alice, &mut rng, &m[2]),
        DecryptError::DuplicateMessage
    );
    // A message of another connection: no header key opens it.
    let (_, mut other_bob) = pair(&mut rng);
    let stranger = other_bob.encrypt(32, b"x").unwrap();
    assert_eq!(
        assert_rejected(&mut alice, &mut rng, &stranger),
        DecryptError::HeaderDecryption
    );
    // Too large for its padded length.
    assert_eq!(
        bob.encrypt(10, &[0u8; 9]),
        Err(EncryptError::MessageTooLarge)
    );
}

#[test]
fn same_seed_same_bytes_and_debug_hides_keys() {
    let run_once = || {
        let mut rng = ChaCha20Rng::seed_from_u64(42);
        let (mut alice, mut bob) = pair(&mut rng);
        let m1 = bob.encrypt(256, b"one").unwrap();
        alice.decrypt(&mut rng, &m1).unwrap();
        let m2 = alice.encrypt(256, b"two").unwrap();
        bob.decrypt(&mut rng, &m2).unwrap();
        (
            m1,
            m2,
            state(&alice),
            state(&bob),
            format!("{alice:?} {bob:?}"),
        )
    };
    let (a, b) = (run_once(), run_once());
    assert_eq!(a, b);
    let (_, _, alice_state, _, debug) = a;
    // The state holds the root key at a known offset (see persist.rs); Debug shows none of it.
    let root = &alice_state[1 + 4 + 1 + 112 + 112 + 1..][..32];
    assert!(!debug.contains(&hex::encode(root)));
    assert!(!debug.contains(&format!("{:?}", &root[..8])));
    assert!(debug.contains("Ratchet"));
}

#[test]
fn replay_from_an_older_chain_is_a_duplicate() {
    let mut rng = ChaCha20Rng::seed_from_u64(9);
    let (mut alice, mut bob) = pair(&mut rng);
    let b: Vec<Vec<u8>> = (0..3u8).map(|i| bob.encrypt(32, &[i]).unwrap()).collect();
    alice.decrypt(&mut rng, &b[2]).unwrap();
    assert_eq!(alice.skipped_keys(), 2);
    let a0 = alice.encrypt(32, b"a0").unwrap();
    assert!(bob.decrypt(&mut rng, &a0).unwrap().ratchet_step);
    let b3 = bob.encrypt(32, b"b3").unwrap();
    assert!(alice.decrypt(&mut rng, &b3).unwrap().ratchet_step);
    assert_eq!(alice.decrypt(&mut rng, &b[0]).unwrap().plaintext, [0]);
    assert_eq!(
        assert_rejected(&mut alice, &mut rng, &b[0]),
        DecryptError::DuplicateMessage
    );
    assert_eq!(alice.decrypt(&mut rng, &b[1]).unwrap().plaintext, [1]);
    assert_eq!(alice.skipped_keys(), 0);
    // Now no stored key knows the old chain at all.
    assert_eq!(
        assert_rejected(&mut alice, &mut rng, &b[1]),
        DecryptError::HeaderDecryption
    );
}
