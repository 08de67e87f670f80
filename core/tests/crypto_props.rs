//! Property tests: roundtrips, tamper rejection, DH agreement, encode→decode identity for every
//! key type, and decoders that never panic on arbitrary bytes. Keys are generated from a seeded
//! ChaCha20 so failures reproduce.

// Helpers outside #[test] functions fail loudly on bad fixtures, as tests should.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use simplex_core::crypto::aead::{decrypt_padded, encrypt_padded, random_aes_key, AesIv, AuthTag};
use simplex_core::crypto::cbox::{CbKey, CbNonce};
use simplex_core::crypto::hash::KeyHash;
use simplex_core::crypto::keys::{
    DhPrivateKey, DhPublicKey, PrivateKey, PublicKey, SignKey, Signature, VerifyKey,
};
use simplex_core::crypto::{ed25519, ed448, x25519, x448};
use simplex_core::encoding::{Decode, Encode};

fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

fn sign_key(seed: u64, ed448: bool) -> SignKey {
    let mut r = rng(seed);
    if ed448 {
        SignKey::Ed448(ed448::SigningKey::generate(&mut r))
    } else {
        SignKey::Ed25519(ed25519::SigningKey::generate(&mut r))
    }
}

fn dh_key(seed: u64, x448: bool) -> DhPrivateKey {
    let mut r = rng(seed);
    if x448 {
        DhPrivateKey::X448(x448::PrivateKey::generate(&mut r))
    } else {
        DhPrivateKey::X25519(x25519::PrivateKey::generate(&mut r))
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn sign_verify_roundtrip_and_tamper(seed: u64, ed448: bool, msg in prop::collection::vec(any::<u8>(), 0..300), flip in any::<prop::sample::Index>()) {
        let key = sign_key(seed, ed448);
        let vk = key.verify_key();
        let sig = key.sign(&msg);
        prop_assert!(vk.verify(&msg, &sig));
        // Flip one bit of the signature.
        let mut bytes = sig.as_bytes().to_vec();
        let i = flip.index(bytes.len());
        bytes[i] ^= 1;
        prop_assert!(!vk.verify(&msg, &Signature::from_bytes(&bytes).unwrap()));
        // Change the message.
        let mut other = msg.clone();
        other.push(1);
        prop_assert!(!vk.verify(&other, &sig));
        // Another key.
        prop_assert!(!sign_key(seed.wrapping_add(1), ed448).verify_key().verify(&msg, &sig));
    }

    #[test]
    fn dh_agreement(a: u64, b: u64, x448: bool) {
        let (ka, kb) = (dh_key(a, x448), dh_key(b ^ 0x5555, x448));
        prop_assert_eq!(ka.diffie_hellman(&kb.public_key()).unwrap(), kb.diffie_hellman(&ka.public_key()).unwrap());
    }

    #[test]
    fn key_encodings_roundtrip(seed: u64, which in 0u8..4) {
        let private = match which {
            0 => PrivateKey::from(sign_key(seed, false)),
            1 => PrivateKey::from(sign_key(seed, true)),
            2 => PrivateKey::from(dh_key(seed, false)),
            _ => PrivateKey::from(dh_key(seed, true)),
        };
        let public = private.public_key();
        prop_assert_eq!(&PublicKey::from_der(&public.to_der()).unwrap(), &public);
        prop_assert_eq!(&PublicKey::decode_slice(&public.to_bytes()).unwrap(), &public);
        prop_assert_eq!(&PublicKey::from_base64url(&public.to_base64url()).unwrap(), &public);
        prop_assert_eq!(&PrivateKey::from_der(&private.to_der()).unwrap(), &private);
        prop_assert_eq!(&PrivateKey::decode_slice(&private.to_bytes()).unwrap(), &private);
        prop_assert_eq!(&PrivateKey::from_base64url(&private.to_base64url()).unwrap(), &private);
        if which < 2 {
            let sk = SignKey::try_from(private.clone()).unwrap();
            let vk = sk.verify_key();
            prop_assert_eq!(&VerifyKey::decode_slice(&vk.to_bytes()).unwrap(), &vk);
            prop_assert_eq!(&SignKey::decode_slice(&sk.to_bytes()).unwrap(), &sk);
            prop_assert!(DhPublicKey::decode_slice(&vk.to_bytes()).is_err());
            let sig = sk.sign(b"m");
            prop_assert_eq!(Signature::decode_slice(&sig.to_bytes()).unwrap(), sig);
        } else {
            let dk = DhPrivateKey::try_from(private.clone()).unwrap();
            let pk = dk.public_key();
            prop_assert_eq!(DhPublicKey::decode_slice(&pk.to_bytes()).unwrap(), pk);
            prop_assert_eq!(&DhPrivateKey::decode_slice(&dk.to_bytes()).unwrap(), &dk);
            prop_assert!(VerifyKey::decode_slice(&pk.to_bytes()).is_err());
        }
    }

    #[test]
    fn cbox_roundtrip_and_tamper(seed: u64, msg in prop::collection::vec(any::<u8>(), 0..200), extra in 2usize..100, flip in any::<prop::sample::Index>()) {
        let mut r = rng(seed);
        let (a, b) = (x25519::PrivateKey::generate(&mut r), x25519::PrivateKey::generate(&mut r));
        let key = CbKey::new(&a.diffie_hellman(&b.public_key()).unwrap());
        let nonce = CbNonce::random(&mut r);
        let padded_len = msg.len() + extra;
        let packet = key.encrypt(&nonce, &msg, padded_len).unwrap();
        prop_assert_eq!(packet.len(), padded_len + 16);
        let other = CbKey::new(&b.diffie_hellman(&a.public_key()).unwrap());
        prop_assert_eq!(other.decrypt(&nonce, &packet).unwrap(), msg);
        let mut bad = packet.clone();
        let i = flip.index(bad.len());
        bad[i] ^= 0x80;
        prop_assert!(key.decrypt(&nonce, &bad).is_err());
    }

    #[test]
    fn aead_roundtrip_and_tamper(seed: u64, ad in prop::collection::vec(any::<u8>(), 0..64), msg in prop::collection::vec(any::<u8>(), 0..200), extra in 2usize..100, flip in any::<prop::sample::Index>()) {
        let mut r = rng(seed);
        let key = random_aes_key(&mut r);
        let iv = AesIv::random(&mut r);
        let (tag, ct) = encrypt_padded(&key, &iv, msg.len() + extra, &ad, &msg).unwrap();
        prop_assert_eq!(decrypt_padded(&key, &iv, &ad, &ct, &tag).unwrap(), msg);
        let mut bad = ct.clone();
        let i = flip.index(bad.len());
        bad[i] ^= 1;
        prop_assert!(decrypt_padded(&key, &iv, &ad, &bad, &tag).is_err());
        let mut bad_tag = tag.0;
        bad_tag[i % 16] ^= 1;
        prop_assert!(decrypt_padded(&key, &iv, &ad, &ct, &AuthTag(bad_tag)).is_err());
    }

    #[test]
    fn hash_and_nonce_encodings_roundtrip(bytes: [u8; 32], nonce: [u8; 24]) {
        let kh = KeyHash::from_bytes(bytes);
        prop_assert_eq!(KeyHash::decode_slice(&kh.to_bytes()).unwrap(), kh);
        prop_assert_eq!(KeyHash::from_base64url(&kh.to_base64url()).unwrap(), kh);
        let n = CbNonce(nonce);
        prop_assert_eq!(CbNonce::decode_slice(&n.to_bytes()).unwrap(), n);
        prop_assert_eq!(CbNonce::from_slice_padded(&nonce), n);
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..120)) {
        let _ = PublicKey::from_der(&bytes);
        let _ = PrivateKey::from_der(&bytes);
        let _ = PublicKey::decode_slice(&bytes);
        let _ = PrivateKey::decode_slice(&bytes);
        let _ = VerifyKey::decode_slice(&bytes);
        let _ = SignKey::decode_slice(&bytes);
        let _ = DhPublicKey::decode_slice(&bytes);
        let _ = DhPrivateKey::decode_slice(&bytes);
        let _ = Signature::decode_slice(&bytes);
        let _ = Signature::from_bytes(&bytes);
        let _ = KeyHash::decode_slice(&bytes);
        let _ = CbNonce::decode_slice(&bytes);
        let text = String::from_utf8_lossy(&bytes);
        let _ = PublicKey::from_base64url(&text);
        let _ = KeyHash::from_base64url(&text);
    }

    /// Mutations of valid DER (one byte changed, truncated, extended) never panic, and a
    /// decode that succeeds re-encodes to the same bytes (DER is canonical).
    #[test]
    fn mutated_der_is_rejected_or_canonical(seed: u64, which in 0u8..4, pos in any::<prop::sample::Index>(), byte: u8, cut in 0usize..80) {
        let private = match which {
            0 => PrivateKey::from(sign_key(seed, false)),
            1 => PrivateKey::from(sign_key(seed, true)),
            2 => PrivateKey::from(dh_key(seed, false)),
            _ => PrivateKey::from(dh_key(seed, true)),
        };
        for der in [private.public_key().to_der(), private.to_der().to_vec()] {
            let mut m = der.clone();
            let i = pos.index(m.len());
            m[i] = byte;
            for candidate in [m, der[..cut.min(der.len())].to_vec(), [der.as_slice(), &[0]].concat()] {
                if let Ok(k) = PublicKey::from_der(&candidate) {
                    prop_assert_eq!(k.to_der(), candidate.clone());
                }
                if let Ok(k) = PrivateKey::from_der(&candidate) {
                    prop_assert_eq!(k.to_der().to_vec(), candidate);
                }
            }
        }
    }
}

#[test]
fn seeded_generation_is_reproducible() {
    let a = sign_key(7, true).verify_key();
    let b = sign_key(7, true).verify_key();
    assert_eq!(a, b);
    assert_eq!(dh_key(7, true).public_key(), dh_key(7, true).public_key());
}

#[test]
fn debug_never_shows_secrets() {
    let sk = sign_key(1, false);
    let raw = hex::encode(PrivateKey::from(sk.clone()).to_der().as_slice());
    for shown in [
        format!("{sk:?}"),
        format!("{:?}", sign_key(1, true)),
        format!("{:?}", dh_key(1, false)),
        format!("{:?}", dh_key(1, true)),
        format!(
            "{:?}",
            dh_key(1, true)
                .diffie_hellman(&dh_key(2, true).public_key())
                .unwrap()
        ),
    ] {
        assert!(shown.contains("redacted"), "{shown}");
        assert!(!shown.contains(&raw[raw.len() - 16..]), "{shown}");
    }
}

/// The server verifies and boxes on worker threads: every key type must cross threads.
#[test]
fn keys_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<PublicKey>();
    check::<PrivateKey>();
    check::<SignKey>();
    check::<VerifyKey>();
    check::<DhPrivateKey>();
    check::<DhPublicKey>();
    check::<CbKey>();
    check::<ed448::SigningKey>();
    check::<x448::PrivateKey>();
}
