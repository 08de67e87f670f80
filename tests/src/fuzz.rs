//! Fuzz target bodies: each takes arbitrary bytes and must never panic.
//!
//! A target may assert properties of what it decodes (re-encoding gives the input back, and
//! so on); a failed assertion is a finding just like a panic inside the code under test.

use std::sync::OnceLock;

use simplex_core::crypto::x448;
use simplex_core::encoding::query::QueryParams;
use simplex_core::encoding::string::{StrDecode, StrEncode, Word};
use simplex_core::encoding::{
    pad, unpad, Decode, Encode, Large, NonEmpty, ShortBytes, Tail, UnixTime, UtcTime, VersionRange,
};
use simplex_core::ratchet::{x3dh_receiver, x3dh_sender, E2eRatchetParams, Ratchet};

/// A fuzz target: its name (a folder under `fuzz/corpus/`) and its body.
pub type Target = (&'static str, fn(&[u8]));

/// Every fuzz target. `fuzz/fuzz_targets/<name>.rs` calls the body of the same name.
pub const TARGETS: &[Target] = &[
    ("encoding", encoding),
    ("padding", padding),
    ("string", string),
    ("ratchet_decrypt", ratchet_decrypt),
];

/// The binary codec: decoding arbitrary bytes as several shapes; what decodes re-encodes to the
/// same bytes (the binary encoding is canonical).
pub fn encoding(data: &[u8]) {
    type Shape = (
        Option<ShortBytes>,
        NonEmpty<Large>,
        VersionRange,
        bool,
        Tail,
    );
    if let Ok(value) = Shape::decode_slice(data) {
        assert_eq!(
            value.to_bytes(),
            data,
            "re-encoding must reproduce the input"
        );
    }
    let _ = <(UnixTime, NonEmpty<(u16, ShortBytes)>, Tail)>::decode_slice(data);
}

/// Unpadding arbitrary bytes; what unpads pads back to a buffer of the same size.
pub fn padding(data: &[u8]) {
    if let Ok(content) = unpad(data) {
        let again = pad(content, data.len()).expect("content fits where it came from");
        assert_eq!(unpad(&again).ok(), Some(content));
    }
}

/// The text parsers: whatever parses, prints to a text that parses to the same value.
pub fn string(data: &[u8]) {
    type Line = (NonEmpty<Vec<u8>>, VersionRange, UnixTime, Option<bool>);
    if let Ok(value) = Line::str_decode(data) {
        assert_eq!(Line::str_decode(&value.to_str_bytes()).ok(), Some(value));
    }
    if let Ok(time) = UtcTime::str_decode(data) {
        assert_eq!(UtcTime::str_decode(&time.to_str_bytes()).ok(), Some(time));
    }
    if let Ok(query) = QueryParams::str_decode(data) {
        assert_eq!(
            QueryParams::str_decode(&query.to_str_bytes())
                .ok()
                .map(|q| q.params),
            Some(query.params)
        );
    }
    let _ = <(Word, Vec<u8>)>::str_decode(data);
}

/// A fixed X448 key: `byte` repeated (any 56 bytes are a valid X448 private key).
fn fixed_key(byte: u8) -> x448::PrivateKey {
    x448::PrivateKey::from_bytes(&[byte; 56])
}

/// Alice (initiator) and Bob (joining party) set up from fixed keys, computed once.
#[allow(clippy::expect_used)] // A failed expectation in a fuzz body is a finding.
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
#[allow(clippy::expect_used)] // A failed expectation in a fuzz body is a finding.
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
#[allow(clippy::expect_used)] // A failed expectation in a fuzz body is a finding.
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
