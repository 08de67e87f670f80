//! Double-ratchet decryption of arbitrary messages.

use std::sync::OnceLock;

use simplex_core::crypto::x448;
use simplex_core::ratchet::{x3dh_receiver, x3dh_sender, E2eRatchetParams, Ratchet};

/// A fixed X448 key: `byte` repeated (any 56 bytes are a valid X448 private key).
fn fixed_key(byte: u8) -> x448::PrivateKey {
    x448::PrivateKey::from_bytes(&[byte; 56])
}

/// Alice (initiator) and Bob (joining party) set up from fixed keys, computed once.
fn ratchet_pair() -> &'static (Ratchet, Ratchet) {
    static PAIR: OnceLock<(Ratchet, Ratchet)> = OnceLock::new();
    PAIR.get_or_init(|| {
        let (a1, a2, b1, b2) = (fixed_key(1), fixed_key(2), fixed_key(3), fixed_key(4));
        let alice_params = E2eRatchetParams {
            version: 1,
            key1: a1.public_key(),
            key2: a2.public_key(),
        };
        let bob_params = E2eRatchetParams {
            version: 1,
            key1: b1.public_key(),
            key2: b2.public_key(),
        };
        let bob_init = x3dh_sender(&b1, &b2, &alice_params).expect("x3dh");
        let alice_init = x3dh_receiver(&a1, &a2, &bob_params).expect("x3dh");
        let bob = Ratchet::init_sender(&alice_params.key2, fixed_key(5), &bob_init).expect("init");
        (Ratchet::init_receiver(a2, &alice_init), bob)
    })
}

/// The ratchets after the exchange the first input byte selects: bits 0-2 say how many
/// messages Bob sends Alice first, bit 3 whether Alice then answers. Returns (Alice, Bob).
pub fn ratchets_for(selector: u8) -> (Ratchet, Ratchet) {
    let (mut alice, mut bob) = ratchet_pair().clone();
    for i in 0..selector & 7 {
        let msg = bob.encrypt(64, &[i]).expect("Bob can always send");
        alice
            .decrypt_with(&msg, || fixed_key(10 + i))
            .expect("in-order message decrypts");
    }
    if selector & 8 != 0 && alice.can_send() {
        let msg = alice
            .encrypt(64, b"reply")
            .expect("Alice can send after receiving");
        bob.decrypt_with(&msg, || fixed_key(20))
            .expect("reply decrypts");
    }
    (alice, bob)
}

/// Ratchet decryption of arbitrary bytes. The first byte picks the states (see
/// [`ratchets_for`]) and, with bit 4, whether Bob rather than Alice receives; the rest is the
/// message. Decryption must never panic, and a rejected message must leave the state exactly
/// as it was.
pub fn ratchet_decrypt(data: &[u8]) {
    let Some((&selector, msg)) = data.split_first() else {
        return;
    };
    let (mut alice, mut bob) = ratchets_for(selector);
    let receiver = if selector & 16 != 0 {
        &mut bob
    } else {
        &mut alice
    };
    let before = receiver.to_bytes().expect("state serialises");
    if receiver.decrypt_with(msg, || fixed_key(30)).is_err() {
        assert_eq!(
            *receiver.to_bytes().expect("state serialises"),
            *before,
            "a rejected message changed the state"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratchet_seeds_reach_successful_decryption() {
        for (selector, bob_receives) in [(2u8, false), (1 | 8 | 16, true)] {
            let (mut alice, mut bob) = ratchets_for(selector);
            let (sender, receiver) = if bob_receives {
                (&mut alice, &mut bob)
            } else {
                (&mut bob, &mut alice)
            };
            let msg = sender.encrypt(64, b"next").unwrap();
            assert_eq!(
                receiver
                    .decrypt_with(&msg, || fixed_key(30))
                    .unwrap()
                    .plaintext,
                b"next"
            );
            let mut input = vec![selector];
            input.extend_from_slice(&msg);
            ratchet_decrypt(&input);
        }
    }
}
