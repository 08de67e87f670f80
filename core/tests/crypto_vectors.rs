//! Every case of `spec/vectors/reference/crypto.json` (produced by running the reference, simplexmq
//! v3.2.0), checked byte for byte. Runs under both backends.

// Helpers outside #[test] functions fail loudly on bad fixtures, as tests should.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use base64::Engine;
use serde_json::Value;
use simplex_core::crypto::aead::{decrypt_padded, encrypt_padded, AesIv, AuthTag};
use simplex_core::crypto::cbox::{cb_decrypt, cb_encrypt, cb_encrypt_max_len, CbNonce};
use simplex_core::crypto::hash::{sha256, sha512, KeyHash};
use simplex_core::crypto::kdf::{hkdf3, hkdf_sha512};
use simplex_core::crypto::keys::{Algorithm, PrivateKey, PublicKey, SignKey, Signature, VerifyKey};
use simplex_core::crypto::{x25519, x448, CryptoError, Secret};
use simplex_core::encoding::{pad, Decode, Encode};

fn load_cases() -> Vec<Value> {
    common::cases("crypto.json")
}

fn hex_field(v: &Value, key: &str) -> Vec<u8> {
    let s = v[key]
        .as_str()
        .unwrap_or_else(|| panic!("missing field {key}"));
    hex::decode(s).unwrap_or_else(|_| panic!("bad hex in {key}"))
}

fn usize_field(v: &Value, key: &str) -> usize {
    v[key]
        .as_u64()
        .unwrap_or_else(|| panic!("missing number {key}")) as usize
}

fn algorithm(v: &Value) -> Algorithm {
    match v["algorithm"].as_str() {
        Some("ed25519") => Algorithm::Ed25519,
        Some("ed448") => Algorithm::Ed448,
        Some("x25519") => Algorithm::X25519,
        Some("x448") => Algorithm::X448,
        other => panic!("unknown algorithm {other:?}"),
    }
}

fn arr<const N: usize>(b: &[u8]) -> [u8; N] {
    b.try_into().expect("wrong length")
}

fn check_key(name: &str, inp: &Value, out: &Value) {
    let alg = algorithm(inp);
    let private = PrivateKey::from_raw(alg, &hex_field(inp, "private_raw_hex")).unwrap();
    let public = private.public_key();
    assert_eq!(
        public.raw_bytes(),
        hex_field(out, "public_raw_hex"),
        "{name}: raw public"
    );
    assert_eq!(
        public.to_der(),
        hex_field(out, "public_der_hex"),
        "{name}: DER"
    );
    assert_eq!(
        public.to_bytes(),
        hex_field(out, "public_smp_hex"),
        "{name}: SMP form"
    );
    assert_eq!(
        public.to_base64url().as_bytes(),
        hex_field(out, "public_str_hex"),
        "{name}: text form"
    );
    assert_eq!(
        &private.to_der()[..],
        hex_field(out, "private_pkcs8_hex"),
        "{name}: PKCS#8"
    );
    // And back from every form.
    assert_eq!(
        PublicKey::from_der(&hex_field(out, "public_der_hex")).unwrap(),
        public
    );
    assert_eq!(
        PublicKey::decode_slice(&hex_field(out, "public_smp_hex")).unwrap(),
        public
    );
    let text = String::from_utf8(hex_field(out, "public_str_hex")).unwrap();
    assert_eq!(PublicKey::from_base64url(&text).unwrap(), public);
    assert_eq!(
        PrivateKey::from_der(&hex_field(out, "private_pkcs8_hex")).unwrap(),
        private
    );
    assert_eq!(
        PrivateKey::decode_slice(&private.to_bytes()).unwrap(),
        private
    );
}

fn check_signature(name: &str, inp: &Value, out: &Value) {
    let alg = algorithm(inp);
    let key =
        SignKey::try_from(PrivateKey::from_raw(alg, &hex_field(inp, "private_raw_hex")).unwrap())
            .unwrap();
    let msg = hex_field(inp, "message_hex");
    let sig = key.sign(&msg);
    assert_eq!(
        sig.as_bytes(),
        hex_field(out, "signature_hex"),
        "{name}: signature"
    );
    assert_eq!(sig.as_bytes().len(), usize_field(out, "signature_length"));
    assert_eq!(
        sig.to_bytes(),
        hex_field(out, "signature_smp_hex"),
        "{name}: SMP form"
    );
    let decoded = Signature::decode_slice(&hex_field(out, "signature_smp_hex")).unwrap();
    let vk: VerifyKey = key.verify_key();
    assert!(vk.verify(&msg, &decoded), "{name}: verify");
    let mut other = msg.clone();
    other.push(0);
    assert!(
        !vk.verify(&other, &decoded),
        "{name}: verify of another message"
    );
}

fn check_dh(name: &str, inp: &Value, out: &Value) {
    let expected = hex_field(out, "shared_secret_hex");
    let (ab, ba) = match algorithm(inp) {
        Algorithm::X25519 => {
            let a = x25519::PrivateKey::from_bytes(&arr(&hex_field(inp, "private_a_raw_hex")));
            let b = x25519::PrivateKey::from_bytes(&arr(&hex_field(inp, "private_b_raw_hex")));
            assert_eq!(
                a.public_key().as_bytes()[..],
                hex_field(inp, "public_a_raw_hex")
            );
            let pb = x25519::PublicKey::from_bytes(&arr(&hex_field(inp, "public_b_raw_hex")));
            let ab = a.diffie_hellman(&pb).unwrap().as_secret().expose().to_vec();
            let ba = b
                .diffie_hellman(&a.public_key())
                .unwrap()
                .as_secret()
                .expose()
                .to_vec();
            (ab, ba)
        }
        Algorithm::X448 => {
            let a = x448::PrivateKey::from_bytes(&arr(&hex_field(inp, "private_a_raw_hex")));
            let b = x448::PrivateKey::from_bytes(&arr(&hex_field(inp, "private_b_raw_hex")));
            assert_eq!(
                a.public_key().as_bytes()[..],
                hex_field(inp, "public_a_raw_hex")
            );
            let pb = x448::PublicKey::from_bytes(&arr(&hex_field(inp, "public_b_raw_hex")));
            let ab = a.diffie_hellman(&pb).unwrap().as_secret().expose().to_vec();
            let ba = b
                .diffie_hellman(&a.public_key())
                .unwrap()
                .as_secret()
                .expose()
                .to_vec();
            (ab, ba)
        }
        other => panic!("{name}: {other:?} is not a DH algorithm"),
    };
    assert_eq!(ab, expected, "{name}: a with b");
    assert_eq!(ba, expected, "{name}: b with a");
    let text = base64::engine::general_purpose::URL_SAFE.encode(&ab);
    assert_eq!(
        text.as_bytes(),
        hex_field(out, "shared_secret_str_hex"),
        "{name}: text form"
    );
}

fn dh_secret(inp: &Value) -> x25519::SharedSecret {
    x25519::SharedSecret::from_bytes(&arr(&hex_field(inp, "dh_secret_hex")))
}

fn nonce(inp: &Value) -> CbNonce {
    CbNonce(arr(&hex_field(inp, "nonce_hex")))
}

fn check_cb(name: &str, inp: &Value, out: &Value) {
    let secret = dh_secret(inp);
    let msg = hex_field(inp, "message_hex");
    let padded_len = usize_field(inp, "padded_length");
    assert_eq!(
        pad(&msg, padded_len).unwrap(),
        hex_field(out, "padded_plaintext_hex"),
        "{name}: padding"
    );
    let packet = cb_encrypt(&secret, &nonce(inp), &msg, padded_len).unwrap();
    assert_eq!(
        packet,
        hex_field(out, "ciphertext_hex"),
        "{name}: ciphertext"
    );
    assert_eq!(packet.len(), usize_field(out, "ciphertext_length"));
    assert_eq!(
        cb_decrypt(&secret, &nonce(inp), &packet).unwrap(),
        msg,
        "{name}: decrypt"
    );
}

fn check_aead(name: &str, inp: &Value, out: &Value) {
    let key = Secret::<32>::from_slice(&hex_field(inp, "key_hex")).unwrap();
    let iv = AesIv(arr(&hex_field(inp, "iv_hex")));
    let ad = hex_field(inp, "associated_data_hex");
    let msg = hex_field(inp, "message_hex");
    let padded_len = usize_field(inp, "padded_length");
    assert_eq!(
        pad(&msg, padded_len).unwrap(),
        hex_field(out, "padded_plaintext_hex"),
        "{name}: padding"
    );
    let (tag, ct) = encrypt_padded(&key, &iv, padded_len, &ad, &msg).unwrap();
    assert_eq!(ct, hex_field(out, "ciphertext_hex"), "{name}: ciphertext");
    assert_eq!(tag.0[..], hex_field(out, "auth_tag_hex"), "{name}: tag");
    assert_eq!(decrypt_padded(&key, &iv, &ad, &ct, &tag).unwrap(), msg);
    let mut bad = tag.0;
    bad[0] ^= 1;
    assert_eq!(
        decrypt_padded(&key, &iv, &ad, &ct, &AuthTag(bad)),
        Err(CryptoError::AesDecrypt)
    );
}

fn pem_to_der(pem: &str) -> Vec<u8> {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD
        .decode(body.trim())
        .expect("PEM body is not base64")
}

#[test]
fn crypto_json_every_case() {
    let cases = load_cases();
    let mut checked = 0;
    for case in &cases {
        let name = case["name"].as_str().unwrap();
        let (inp, out) = (&case["inputs"], &case["outputs"]);
        if name.ends_with("_key_a") || name.ends_with("_key_b") {
            check_key(name, inp, out);
        } else if name.contains("_sign_") {
            check_signature(name, inp, out);
        } else if name.contains("_dh_") {
            check_dh(name, inp, out);
        } else if name == "cb_decrypt_tampered_tag" {
            let r = cb_decrypt(
                &dh_secret(inp),
                &nonce(inp),
                &hex_field(inp, "ciphertext_hex"),
            );
            assert_eq!(r, Err(CryptoError::CbDecrypt), "{name}");
            assert_eq!(out["error"].as_str(), Some("CBDecryptError"));
        } else if name.starts_with("cb_maxlenbs_") {
            let msg = hex_field(inp, "message_hex");
            let packet = cb_encrypt_max_len(
                &dh_secret(inp),
                &nonce(inp),
                &msg,
                usize_field(inp, "max_length"),
            )
            .unwrap();
            assert_eq!(packet, hex_field(out, "ciphertext_hex"), "{name}");
            assert_eq!(packet.len(), usize_field(out, "ciphertext_length"));
            assert_eq!(
                cb_decrypt(&dh_secret(inp), &nonce(inp), &packet).unwrap(),
                msg
            );
        } else if name.starts_with("cb_") {
            check_cb(name, inp, out);
        } else if name.starts_with("cbnonce_") {
            let n = CbNonce::from_slice_padded(&hex_field(inp, "input_hex"));
            assert_eq!(n.0[..], hex_field(out, "nonce_hex"), "{name}");
        } else if name.starts_with("aead_") {
            check_aead(name, inp, out);
        } else if name.starts_with("hkdf3_") {
            let (a, b, c) = hkdf3(
                &hex_field(inp, "salt_hex"),
                &hex_field(inp, "ikm_hex"),
                &hex_field(inp, "info_hex"),
            );
            assert_eq!(a.expose()[..], hex_field(out, "out1_hex"), "{name}: 1");
            assert_eq!(b.expose()[..], hex_field(out, "out2_hex"), "{name}: 2");
            assert_eq!(c.expose()[..], hex_field(out, "out3_hex"), "{name}: 3");
        } else if name.starts_with("hkdf_sha512_") {
            let mut okm = vec![0u8; usize_field(inp, "length")];
            hkdf_sha512(
                &hex_field(inp, "salt_hex"),
                &hex_field(inp, "ikm_hex"),
                &hex_field(inp, "info_hex"),
                &mut okm,
            )
            .unwrap();
            assert_eq!(okm, hex_field(out, "okm_hex"), "{name}");
        } else if name.starts_with("sha256_") {
            assert_eq!(
                sha256(&hex_field(inp, "input_hex"))[..],
                hex_field(out, "sha256_hex"),
                "{name}"
            );
        } else if name.starts_with("sha512_") {
            assert_eq!(
                sha512(&hex_field(inp, "input_hex"))[..],
                hex_field(out, "sha512_hex"),
                "{name}"
            );
        } else if name.starts_with("keyhash_") {
            let pem = String::from_utf8(common::fixture("ca.crt")).expect("ca.crt is PEM text");
            let der = pem_to_der(&pem);
            assert_eq!(
                der,
                hex_field(inp, "certificate_der_hex"),
                "{name}: certificate DER"
            );
            let kh = KeyHash::of_certificate_der(&der);
            assert_eq!(kh.as_bytes()[..], hex_field(out, "keyhash_hex"));
            assert_eq!(
                kh.to_base64url().as_bytes(),
                hex_field(out, "keyhash_str_hex")
            );
            assert_eq!(
                kh.to_base64url(),
                "LcJUMfVhwD8yxjAiSaDzzGF3-kLG4Uh0Fl_ZIjrRwjI="
            );
            assert_eq!(kh.to_bytes(), hex_field(out, "keyhash_smp_hex"));
            assert_eq!(KeyHash::decode_slice(&kh.to_bytes()).unwrap(), kh);
            assert_eq!(KeyHash::from_base64url(&kh.to_base64url()).unwrap(), kh);
        } else {
            panic!("unhandled vector case {name}: add a check for it");
        }
        checked += 1;
    }
    assert_eq!(checked, cases.len());
    assert!(
        checked >= 38,
        "expected the full vector file, got {checked} cases"
    );
}
