//! Known-answer tests from the primitives' own specifications (RFC 7748, RFC 8032, RFC 5869
//! style HKDF-SHA512) and values computed once with a second implementation (see
//! `spec/vectors/README.md`), plus the crypto behaviour the reference's own test suite relies
//! on. Runs under both backends.

// Helpers outside #[test] functions fail loudly on bad fixtures, as tests should.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use simplex_core::crypto::aead::{decrypt_padded, encrypt_padded, AesIv, AuthTag};
use simplex_core::crypto::cbox::{cb_decrypt, cb_encrypt, CbKey, CbNonce};
use simplex_core::crypto::kdf::hkdf_sha512;
use simplex_core::crypto::keys::{DhPrivateKey, SignKey, Signature, VerifyKey};
use simplex_core::crypto::{ed25519, ed448, x25519, x448, CryptoError, Secret};

fn h<const N: usize>(s: &str) -> [u8; N] {
    hex::decode(s).unwrap().try_into().unwrap()
}

fn hv(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

fn x25519_fn(k: &str, u: &str) -> [u8; 32] {
    let k = x25519::PrivateKey::from_bytes(&h(k));
    *k.diffie_hellman(&x25519::PublicKey::from_bytes(&h(u)))
        .unwrap()
        .as_secret()
        .expose()
}

fn x448_fn(k: &[u8; 56], u: &[u8; 56]) -> [u8; 56] {
    let k = x448::PrivateKey::from_bytes(k);
    *k.diffie_hellman(&x448::PublicKey::from_bytes(u))
        .unwrap()
        .as_secret()
        .expose()
}

#[test]
fn rfc7748_x25519_section_5_2() {
    assert_eq!(
        x25519_fn(
            "a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4",
            "e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c"
        ),
        h("c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552")
    );
    assert_eq!(
        x25519_fn(
            "4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d",
            "e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493"
        ),
        h("95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957")
    );
}

#[test]
fn rfc7748_x25519_iterated() {
    let mut k: [u8; 32] = h("0900000000000000000000000000000000000000000000000000000000000000");
    let mut u = k;
    for i in 1..=1000 {
        let out = *x25519::PrivateKey::from_bytes(&k)
            .diffie_hellman(&x25519::PublicKey::from_bytes(&u))
            .unwrap()
            .as_secret()
            .expose();
        u = k;
        k = out;
        if i == 1 {
            assert_eq!(
                k,
                h("422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6854b783c60e80311ae3079")
            );
        }
    }
    assert_eq!(
        k,
        h("684cf59ba83309552800ef566f2f4d3c1c3887c49360e3875f2eb94d99532c51")
    );
}

#[test]
fn rfc7748_x25519_section_6_1() {
    let a = x25519::PrivateKey::from_bytes(&h(
        "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a",
    ));
    let b = x25519::PrivateKey::from_bytes(&h(
        "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb",
    ));
    assert_eq!(
        a.public_key().as_bytes(),
        &h("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")
    );
    assert_eq!(
        b.public_key().as_bytes(),
        &h("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f")
    );
    let shared = h("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
    assert_eq!(
        a.diffie_hellman(&b.public_key())
            .unwrap()
            .as_secret()
            .expose(),
        &shared
    );
    assert_eq!(
        b.diffie_hellman(&a.public_key())
            .unwrap()
            .as_secret()
            .expose(),
        &shared
    );
}

#[test]
fn rfc7748_x448_section_5_2() {
    assert_eq!(
        x448_fn(
            &h("3d262fddf9ec8e88495266fea19a34d28882acef045104d0d1aae121700a779c984c24f8cdd78fbff44943eba368f54b29259a4f1c600ad3"),
            &h("06fce640fa3487bfda5f6cf2d5263f8aad88334cbd07437f020f08f9814dc031ddbdc38c19c6da2583fa5429db94ada18aa7a7fb4ef8a086")
        ),
        h("ce3e4ff95a60dc6697da1db1d85e6afbdf79b50a2412d7546d5f239fe14fbaadeb445fc66a01b0779d98223961111e21766282f73dd96b6f")
    );
    assert_eq!(
        x448_fn(
            &h("203d494428b8399352665ddca42f9de8fef600908e0d461cb021f8c538345dd77c3e4806e25f46d3315c44e0a5b4371282dd2c8d5be3095f"),
            &h("0fbcc2f993cd56d3305b0b7d9e55d4c1a8fb5dbb52f8e9a1e9b6201b165d015894e56c4d3570bee52fe205e28a78b91cdfbde71ce8d157db")
        ),
        h("884a02576239ff7a2f2f63b2db6a9ff37047ac13568e1e30fe63c4a7ad1b3ee3a5700df34321d62077e63633c575c1c954514e99da7c179d")
    );
}

#[test]
fn rfc7748_x448_iterated() {
    let mut k = [0u8; 56];
    k[0] = 5;
    let mut u = k;
    for i in 1..=1000 {
        let out = x448_fn(&k, &u);
        u = k;
        k = out;
        if i == 1 {
            assert_eq!(k, h("3f482c8a9f19b01e6c46ee9711d9dc14fd4bf67af30765c2ae2b846a4d23a8cd0db897086239492caf350b51f833868b9bc2b3bca9cf4113"));
        }
    }
    assert_eq!(k, h("aa3b4749d55b9daf1e5b00288826c467274ce3ebbdd5c17b975e09d4af6c67cf10d087202db88286e2b79fceea3ec353ef54faa26e219f38"));
}

#[test]
fn rfc7748_x448_section_6_2() {
    let a = x448::PrivateKey::from_bytes(&h("9a8f4925d1519f5775cf46b04b5800d4ee9ee8bae8bc5565d498c28dd9c9baf574a9419744897391006382a6f127ab1d9ac2d8c0a598726b"));
    let b = x448::PrivateKey::from_bytes(&h("1c306a7ac2a0e2e0990b294470cba339e6453772b075811d8fad0d1d6927c120bb5ee8972b0d3e21374c9c921b09d1b0366f10b65173992d"));
    assert_eq!(a.public_key().as_bytes(), &h("9b08f7cc31b7e3e67d22d5aea121074a273bd2b83de09c63faa73d2c22c5d9bbc836647241d953d40c5b12da88120d53177f80e532c41fa0"));
    assert_eq!(b.public_key().as_bytes(), &h("3eb7a829b0cd20f5bcfc0b599b6feccf6da4627107bdb0d4f345b43027d8b972fc3e34fb4232a13ca706dcb57aec3dae07bdc1c67bf33609"));
    let shared: [u8; 56] = h("07fff4181ac6cc95ec1c16a94a0f74d12da232ce40a77552281d282bb60c0b56fd2464c335543936521c24403085d59a449a5037514a879d");
    assert_eq!(
        a.diffie_hellman(&b.public_key())
            .unwrap()
            .as_secret()
            .expose(),
        &shared
    );
    assert_eq!(
        b.diffie_hellman(&a.public_key())
            .unwrap()
            .as_secret()
            .expose(),
        &shared
    );
}

/// cryptonite does not reject low-order peer keys: the shared secret is all zeros. OpenSSL
/// refuses to compute it, so this exercises the OpenSSL backend's fallback.
#[test]
fn low_order_peer_keys_give_zero_secret_like_the_reference() {
    let a = x448::PrivateKey::from_bytes(&[0x42; 56]);
    for u in [[0u8; 56], {
        let mut one = [0u8; 56];
        one[0] = 1;
        one
    }] {
        let s = a.diffie_hellman(&x448::PublicKey::from_bytes(&u)).unwrap();
        assert_eq!(s.as_secret().expose(), &[0u8; 56]);
    }
    let b = x25519::PrivateKey::from_bytes(&[0x42; 32]);
    let s = b
        .diffie_hellman(&x25519::PublicKey::from_bytes(&[0u8; 32]))
        .unwrap();
    assert_eq!(s.as_secret().expose(), &[0u8; 32]);
}

fn ed25519_case(sk: &str, pk: &str, msg: &str, sig: &str) {
    let key = ed25519::SigningKey::from_bytes(&h(sk));
    assert_eq!(key.verifying_key().as_bytes(), &h(pk));
    let s = key.sign(&hv(msg));
    assert_eq!(s.as_bytes(), &h(sig));
    assert!(ed25519::VerifyingKey::from_bytes(&h(pk)).verify(&hv(msg), &s));
}

#[test]
fn rfc8032_ed25519_tests_1_to_3() {
    ed25519_case(
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "",
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    );
    ed25519_case(
        "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "72",
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    );
    ed25519_case(
        "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
        "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
        "af82",
        "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
    );
}

fn ed448_case(sk: &str, pk: &str, msg: &str, sig: &str) {
    let key = ed448::SigningKey::from_bytes(&h(sk));
    assert_eq!(key.verifying_key().as_bytes(), &h(pk));
    let s = key.sign(&hv(msg));
    assert_eq!(s.as_bytes(), &h(sig));
    let vk = ed448::VerifyingKey::from_bytes(&h(pk));
    assert!(vk.verify(&hv(msg), &s));
    let mut bad = *s.as_bytes();
    bad[3] ^= 0x10;
    assert!(!vk.verify(&hv(msg), &ed448::Signature::from_bytes(&bad)));
}

/// RFC 8032 §7.4 pure Ed448 with an empty context ("-----blank", "-----1 octet", "-----256
/// octets" is skipped for length; the "abc" vectors of §7.5 are Ed448ph, which the reference
/// never uses).
#[test]
fn rfc8032_ed448_pure() {
    ed448_case(
        "6c82a562cb808d10d632be89c8513ebf6c929f34ddfa8c9f63c9960ef6e348a3528c8a3fcc2f044e39a3fc5b94492f8f032e7549a20098f95b",
        "5fd7449b59b461fd2ce787ec616ad46a1da1342485a70e1f8a0ea75d80e96778edf124769b46c7061bd6783df1e50f6cd1fa1abeafe8256180",
        "",
        "533a37f6bbe457251f023c0d88f976ae2dfb504a843e34d2074fd823d41a591f2b233f034f628281f2fd7a22ddd47d7828c59bd0a21bfd3980ff0d2028d4b18a9df63e006c5d1c2d345b925d8dc00b4104852db99ac5c7cdda8530a113a0f4dbb61149f05a7363268c71d95808ff2e652600",
    );
    ed448_case(
        "c4eab05d357007c632f3dbb48489924d552b08fe0c353a0d4a1f00acda2c463afbea67c5e8d2877c5e3bc397a659949ef8021e954e0a12274e",
        "43ba28f430cdff456ae531545f7ecd0ac834a55d9358c0372bfa0c6c6798c0866aea01eb00742802b8438ea4cb82169c235160627b4c3a9480",
        "03",
        "26b8f91727bd62897af15e41eb43c377efb9c610d48f2335cb0bd0087810f4352541b143c4b981b7e18f62de8ccdf633fc1bf037ab7cd779805e0dbcc0aae1cbcee1afb2e027df36bc04dcecbf154336c19f0af7e0a6472905e799f1953d2a0ff3348ab21aa4adafd1d234441cf807c03a00",
    );
}

/// The reference's generator computed this case with its 16-byte IV; the values below come
/// from Python `cryptography` (OpenSSL), an implementation independent of ours (RustCrypto).
#[test]
fn aes_256_gcm_16_byte_iv_second_implementation() {
    let key = Secret::<32>::from_array(&core::array::from_fn(|i| i as u8));
    let iv = AesIv(core::array::from_fn(|i| 0xa0 + i as u8));
    let (tag, ct) = encrypt_padded(&key, &iv, 64, b"simplex", b"The quick brown fox").unwrap();
    assert_eq!(
        ct,
        hv("2ab077d47dedbc03aafd74918f66e2e7ec6525160617728fde3149953a1605a42fb2c540b6f09c9ecd2a13813b6194d339198441f7268e02c51a5d47824683ca")
    );
    assert_eq!(tag, AuthTag(h("a5ec3522d6c67b709cf8a211ecf4e429")));
    assert_eq!(
        decrypt_padded(&key, &iv, b"simplex", &ct, &tag).unwrap(),
        b"The quick brown fox"
    );
    assert_eq!(
        decrypt_padded(&key, &iv, b"simplex!", &ct, &tag),
        Err(CryptoError::AesDecrypt)
    );
    assert_eq!(
        encrypt_padded(&key, &iv, 20, b"", b"The quick brown fox"),
        Err(CryptoError::LargeMsg)
    );
}

/// RFC 5869 test cases 1 and 3 inputs with SHA-512 (the RFC only lists SHA-256/SHA-1 outputs);
/// expected values computed with Python's hmac/hashlib.
#[test]
fn hkdf_sha512_rfc5869_inputs() {
    let mut okm = [0u8; 42];
    hkdf_sha512(
        &hv("000102030405060708090a0b0c"),
        &[0x0b; 22],
        &hv("f0f1f2f3f4f5f6f7f8f9"),
        &mut okm,
    )
    .unwrap();
    assert_eq!(
        okm[..],
        hv("832390086cda71fb47625bb5ceb168e4c8e26a1a16ed34d9fc7fe92c1481579338da362cb8d9f925d7cb")
    );
    hkdf_sha512(b"", &[0x0b; 22], b"", &mut okm).unwrap();
    assert_eq!(
        okm[..],
        hv("f5fa02b18298a72a8c23898a8703472c6eb179dc204c03425c970e3b164bf90fff22d04836d0e2343bac")
    );
    let mut too_long = vec![0u8; 255 * 64 + 1];
    assert_eq!(
        hkdf_sha512(b"", b"k", b"", &mut too_long),
        Err(CryptoError::KdfLength)
    );
}

/// The uses of crypto in the reference's ServerTests/NtfServerTests: Ed25519 and Ed448 command
/// signatures (a signature of the other algorithm does not verify), symmetric DH, and the
/// message body boxed with `cbNonce msgId`.
#[test]
fn reference_test_suite_behaviour() {
    let ed = SignKey::Ed25519(ed25519::SigningKey::from_bytes(&[1; 32]));
    let ed4 = SignKey::Ed448(ed448::SigningKey::from_bytes(&[2; 57]));
    let t = b"transmission";
    let (s1, s2) = (ed.sign(t), ed4.sign(t));
    assert!(ed.verify_key().verify(t, &s1));
    assert!(ed4.verify_key().verify(t, &s2));
    assert!(!ed.verify_key().verify(t, &s2));
    assert!(!ed4.verify_key().verify(t, &s1));
    assert_eq!(
        Signature::from_bytes(&[0u8; 63]).unwrap_err().to_string(),
        "wrong key or signature length: 63"
    );
    let _: VerifyKey = ed4.verify_key();

    let a = DhPrivateKey::X25519(x25519::PrivateKey::from_bytes(&[3; 32]));
    let b = DhPrivateKey::X25519(x25519::PrivateKey::from_bytes(&[4; 32]));
    let (ab, ba) = (
        a.diffie_hellman(&b.public_key()).unwrap(),
        b.diffie_hellman(&a.public_key()).unwrap(),
    );
    assert_eq!(ab, ba);
    let x4 = DhPrivateKey::X448(x448::PrivateKey::from_bytes(&[5; 56]));
    assert_eq!(
        a.diffie_hellman(&x4.public_key()),
        Err(CryptoError::AlgorithmMismatch)
    );

    let secret = x25519::PrivateKey::from_bytes(&[3; 32])
        .diffie_hellman(&x25519::PrivateKey::from_bytes(&[4; 32]).public_key())
        .unwrap();
    let nonce = CbNonce::from_slice_padded(b"msg-id-24-bytes-long....");
    let body = cb_encrypt(&secret, &nonce, b"hello", 16106).unwrap();
    assert_eq!(body.len(), 16122);
    assert_eq!(cb_decrypt(&secret, &nonce, &body).unwrap(), b"hello");
    assert_eq!(
        CbKey::new(&secret).decrypt(&nonce, &body).unwrap(),
        b"hello"
    );
    assert_eq!(
        cb_decrypt(&secret, &nonce, &body[..15]),
        Err(CryptoError::CbDecrypt)
    );
    assert_eq!(
        cb_encrypt(&secret, &nonce, &[0; 15], 16),
        Err(CryptoError::LargeMsg)
    );
}
