//! Benchmarks of the primitives on the hot paths (command signatures, DH, message bodies), run
//! once per backend: `cargo bench -p simplex-core --bench crypto` (OpenSSL for Ed448/X448) and
//! the same with `--no-default-features` (pure Rust). Results: `spec/performance.md`.

// `criterion_group!` defines an undocumented function.
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use simplex_core::crypto::aead::{decrypt_padded, encrypt_padded, random_aes_key, AesIv};
use simplex_core::crypto::cbox::{CbKey, CbNonce};
use simplex_core::crypto::{ed25519, ed448, x25519, x448, BACKEND};

const BODY: usize = 16 * 1024;

fn signatures(c: &mut Criterion) {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let msg = [0x5a_u8; 256];
    let mut g = c.benchmark_group(format!("sig/{BACKEND}"));

    let k = ed25519::SigningKey::generate(&mut rng);
    let vk = k.verifying_key();
    let sig = k.sign(&msg);
    g.bench_function("ed25519_sign", |b| b.iter(|| k.sign(black_box(&msg))));
    g.bench_function("ed25519_verify", |b| {
        b.iter(|| vk.verify(black_box(&msg), &sig))
    });

    let k = ed448::SigningKey::generate(&mut rng);
    let vk = k.verifying_key();
    let sig = k.sign(&msg);
    let vk_bytes = *vk.as_bytes();
    g.bench_function("ed448_sign", |b| b.iter(|| k.sign(black_box(&msg))));
    g.bench_function("ed448_verify", |b| {
        b.iter(|| vk.verify(black_box(&msg), &sig))
    });
    // What verification costs when the key is parsed for every call (no caching).
    g.bench_function("ed448_verify_uncached", |b| {
        b.iter(|| ed448::VerifyingKey::from_bytes(black_box(&vk_bytes)).verify(&msg, &sig))
    });
    g.finish();
}

fn dh(c: &mut Criterion) {
    let mut rng = ChaCha20Rng::seed_from_u64(2);
    let mut g = c.benchmark_group(format!("dh/{BACKEND}"));

    let a = x25519::PrivateKey::generate(&mut rng);
    let p = x25519::PrivateKey::generate(&mut rng).public_key();
    g.bench_function("x25519_dh", |b| b.iter(|| a.diffie_hellman(black_box(&p))));
    g.bench_function("x25519_keygen", |b| {
        b.iter(|| x25519::PrivateKey::generate(&mut rng).public_key())
    });

    let a = x448::PrivateKey::generate(&mut rng);
    let a_bytes = a.to_bytes();
    let p = x448::PrivateKey::generate(&mut rng).public_key();
    g.bench_function("x448_dh", |b| b.iter(|| a.diffie_hellman(black_box(&p))));
    g.bench_function("x448_dh_uncached", |b| {
        b.iter(|| x448::PrivateKey::from_bytes(black_box(a_bytes.expose())).diffie_hellman(&p))
    });
    g.bench_function("x448_keygen", |b| {
        b.iter(|| x448::PrivateKey::generate(&mut rng).public_key())
    });
    g.finish();
}

fn bodies(c: &mut Criterion) {
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let msg = vec![0x33_u8; BODY - 2];
    let mut g = c.benchmark_group(format!("body16k/{BACKEND}"));
    g.throughput(Throughput::Bytes(BODY as u64));

    let a = x25519::PrivateKey::generate(&mut rng);
    let p = x25519::PrivateKey::generate(&mut rng).public_key();
    let key = CbKey::new(&a.diffie_hellman(&p).unwrap_or_else(|_| unreachable!()));
    let nonce = CbNonce::random(&mut rng);
    let packet = key.encrypt(&nonce, &msg, BODY).unwrap_or_default();
    g.bench_function("cbox_encrypt", |b| {
        b.iter(|| key.encrypt(&nonce, black_box(&msg), BODY))
    });
    g.bench_function("cbox_decrypt", |b| {
        b.iter(|| key.decrypt(&nonce, black_box(&packet)))
    });

    let aes = random_aes_key(&mut rng);
    let iv = AesIv::random(&mut rng);
    let ad = [0u8; 112];
    let (tag, ct) = encrypt_padded(&aes, &iv, BODY, &ad, &msg).unwrap_or_else(|_| unreachable!());
    g.bench_function("aes_gcm_encrypt", |b| {
        b.iter(|| encrypt_padded(&aes, &iv, BODY, &ad, black_box(&msg)))
    });
    g.bench_function("aes_gcm_decrypt", |b| {
        b.iter(|| decrypt_padded(&aes, &iv, &ad, black_box(&ct), &tag))
    });
    g.finish();
}

criterion_group!(benches, signatures, dh, bodies);
criterion_main!(benches);
