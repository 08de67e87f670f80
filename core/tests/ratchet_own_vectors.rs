//! Our own ratchet vectors, `spec/vectors/ratchet_seeded.json`: a conversation driven by a
//! ChaCha20 generator seeded with a fixed number, covering what the reference vectors do not
//! (a skipped key kept across a DH ratchet step, and the persisted state with skipped keys).
//! How they were derived is in `spec/vectors/README.md`.
//!
//! Set `SIMPLEX_WRITE_VECTORS=1` to rewrite the file after an intended format change.

// Test code: a failed unwrap is a failed check.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use serde_json::{json, Value};
use simplex_core::crypto::x448;
use simplex_core::ratchet::{generate_e2e_params, x3dh_receiver, x3dh_sender, Ratchet};

const SEED: u64 = 20_260_401;

fn path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../spec/vectors/ratchet_seeded.json")
}

/// Runs the script and records every output.
fn derive() -> Value {
    let mut rng = ChaCha20Rng::seed_from_u64(SEED);
    let (a1, a2, alice_params) = generate_e2e_params(&mut rng, 1);
    let (b1, b2, bob_params) = generate_e2e_params(&mut rng, 1);
    let bob_init = x3dh_sender(&b1, &b2, &alice_params).unwrap();
    let mut bob = Ratchet::init_sender(
        &alice_params.key2,
        x448::PrivateKey::generate(&mut rng),
        &bob_init,
    )
    .unwrap();
    let mut alice =
        Ratchet::init_receiver(a2.clone(), &x3dh_receiver(&a1, &a2, &bob_params).unwrap());
    let mut steps = Vec::new();
    let send = |who: &str, r: &mut Ratchet, text: &str, steps: &mut Vec<Value>| {
        let m = r.encrypt(256, text.as_bytes()).unwrap();
        steps.push(json!({"step": "encrypt", "party": who, "plaintext_text": text, "padded_length": 256, "encrypted_hex": hex::encode(&m)}));
        m
    };
    let b0 = send("bob", &mut bob, "b0", &mut steps);
    let b1m = send("bob", &mut bob, "b1", &mut steps);
    let b2m = send("bob", &mut bob, "b2", &mut steps);
    let recv = |who: &str,
                r: &mut Ratchet,
                m: &[u8],
                rng: &mut ChaCha20Rng,
                steps: &mut Vec<Value>| {
        let d = r.decrypt(rng, m).unwrap();
        steps.push(json!({
            "step": "decrypt", "party": who, "plaintext_text": String::from_utf8(d.plaintext).unwrap(),
            "ratchet_step": d.ratchet_step, "from_skipped": d.from_skipped, "skipped_keys": r.skipped_keys(),
        }));
    };
    recv("alice", &mut alice, &b2m, &mut rng, &mut steps);
    recv("alice", &mut alice, &b0, &mut rng, &mut steps);
    let a0 = send("alice", &mut alice, "a0", &mut steps);
    recv("bob", &mut bob, &a0, &mut rng, &mut steps);
    let b3 = send("bob", &mut bob, "b3", &mut steps);
    recv("alice", &mut alice, &b3, &mut rng, &mut steps);
    let alice_state = hex::encode(&*alice.to_bytes().unwrap());
    recv("alice", &mut alice, &b1m, &mut rng, &mut steps);
    json!({
        "source": "simplex-rs core/tests/ratchet_own_vectors.rs (our implementation; see spec/vectors/README.md)",
        "description": "Seeded double-ratchet conversation: X3DH keys, ratchet keys and DH-step keys all drawn in order from ChaCha20Rng::seed_from_u64(seed); b1 is skipped across a DH ratchet step and delivered last.",
        "seed": SEED,
        "steps": steps,
        "alice_state_before_b1_hex": alice_state,
        "alice_state_at_end_hex": hex::encode(&*alice.to_bytes().unwrap()),
        "bob_state_at_end_hex": hex::encode(&*bob.to_bytes().unwrap()),
    })
}

#[test]
fn seeded_conversation_matches_our_vectors() {
    let derived = derive();
    if std::env::var_os("SIMPLEX_WRITE_VECTORS").is_some() {
        std::fs::write(
            path(),
            serde_json::to_string_pretty(&derived).unwrap() + "\n",
        )
        .unwrap();
    }
    let text = std::fs::read_to_string(path())
        .unwrap_or_else(|e| panic!("{} missing: {e}", path().display()));
    let stored: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(stored, derived);
    // The stored mid-conversation state (one skipped key) restores and decrypts the late b1.
    let state = hex::decode(stored["alice_state_before_b1_hex"].as_str().unwrap()).unwrap();
    let mut alice = Ratchet::from_bytes(&state).unwrap();
    assert_eq!(alice.skipped_keys(), 1);
    let b1 = hex::decode(stored["steps"][1]["encrypted_hex"].as_str().unwrap()).unwrap();
    let d = alice
        .decrypt_with(&b1, || unreachable!("no DH step for a skipped key"))
        .unwrap();
    assert!(d.from_skipped);
    assert_eq!(d.plaintext, b"b1");
}
