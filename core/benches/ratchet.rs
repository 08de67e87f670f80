//! Double ratchet costs for a full-size agent message (padded to 15,856 bytes, the agent's
//! `e2eEncUserMsgLength`), next to the raw primitives of the same run: AES-256-GCM over the
//! same padded length and one X448 agreement. Results: `spec/performance.md`.

// criterion's macros generate undocumented functions; a failed unwrap is a failed run.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use simplex_core::crypto::aead::{decrypt_padded, encrypt_padded, AesIv};
use simplex_core::crypto::secret::Secret;
use simplex_core::crypto::x448;
use simplex_core::ratchet::{generate_e2e_params, x3dh_receiver, x3dh_sender, ChainKey, Ratchet};

const PADDED_LEN: usize = 15_856;
const MSG_LEN: usize = PADDED_LEN - 2;

/// Alice and Bob after Bob's first message reached Alice (both can send).
fn pair(rng: &mut ChaCha20Rng) -> (Ratchet, Ratchet) {
    let (a1, a2, alice_params) = generate_e2e_params(rng, 1);
    let (b1, b2, bob_params) = generate_e2e_params(rng, 1);
    let bob_init = x3dh_sender(&b1, &b2, &alice_params).expect("x3dh");
    let mut bob = Ratchet::init_sender(
        &alice_params.key2,
        x448::PrivateKey::generate(rng),
        &bob_init,
    )
    .expect("init");
    let mut alice = Ratchet::init_receiver(
        a2.clone(),
        &x3dh_receiver(&a1, &a2, &bob_params).expect("x3dh"),
    );
    let first = bob.encrypt(PADDED_LEN, b"hello").expect("encrypt");
    alice.decrypt(rng, &first).expect("decrypt");
    (alice, bob)
}

fn bench(c: &mut Criterion) {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let msg = vec![0x5a; MSG_LEN];
    let mut g = c.benchmark_group("ratchet");
    g.throughput(Throughput::Bytes(PADDED_LEN as u64));

    let (mut alice, mut bob) = pair(&mut rng);
    g.bench_function("encrypt_decrypt_same_chain", |b| {
        b.iter(|| {
            let m = bob.encrypt(PADDED_LEN, &msg).expect("encrypt");
            alice.decrypt(&mut rng, &m).expect("decrypt")
        })
    });

    // Alice answered, so each message Bob sends now starts a new chain at Alice's side: the
    // decryption makes a DH ratchet step (two agreements and a new key pair). States are
    // cloned in the untimed setup so every iteration does the step.
    let (mut alice, mut bob) = pair(&mut rng);
    let reply = alice.encrypt(PADDED_LEN, b"reply").expect("encrypt");
    bob.decrypt(&mut rng, &reply).expect("decrypt");
    let mut step_rng = ChaCha20Rng::seed_from_u64(2);
    g.bench_function("encrypt_decrypt_with_dh_step", |b| {
        b.iter_batched(
            || (bob.clone(), alice.clone()),
            |(mut bob, mut alice)| {
                let m = bob.encrypt(PADDED_LEN, &msg).expect("encrypt");
                let d = alice.decrypt(&mut step_rng, &m).expect("decrypt");
                assert!(d.ratchet_step);
                d
            },
            BatchSize::SmallInput,
        )
    });

    let key = Secret::from_array(&[7u8; 32]);
    let iv = AesIv([9u8; 16]);
    let ad = [1u8; 112];
    g.bench_function("raw_aes_gcm_encrypt_decrypt", |b| {
        b.iter(|| {
            let (tag, ct) = encrypt_padded(&key, &iv, PADDED_LEN, &ad, &msg).expect("encrypt");
            decrypt_padded(&key, &iv, &ad, &ct, &tag).expect("decrypt")
        })
    });
    g.finish();

    // What the ratchet adds per message, twice (sender and receiver): one chain KDF step and one
    // header (88 bytes padded) encrypted or decrypted.
    let ck = ChainKey::from_bytes(&[3u8; 32]);
    c.bench_function("component_chain_kdf", |b| b.iter(|| ck.step()));
    let header = [0u8; 79];
    c.bench_function("component_header_seal_open", |b| {
        b.iter(|| {
            let (tag, ct) = encrypt_padded(&key, &iv, 88, &ad, &header).expect("encrypt");
            decrypt_padded(&key, &iv, &ad, &ct, &tag).expect("decrypt")
        })
    });

    let ours = x448::PrivateKey::generate(&mut rng);
    let theirs = x448::PrivateKey::generate(&mut rng).public_key();
    c.bench_function("raw_x448_dh", |b| {
        b.iter(|| ours.diffie_hellman(&theirs).expect("dh"))
    });
    c.bench_function("raw_x448_keygen", |b| {
        b.iter(|| x448::PrivateKey::generate(&mut rng).public_key())
    });
}

/// The same-chain ratchet and raw AES-GCM measured in alternating short batches, keeping the
/// fastest batch of each: on a shared, loaded machine this ratio is steadier than comparing two
/// criterion runs taken seconds apart.
fn interleaved_ratio(_: &mut Criterion) {
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let msg = vec![0x5a; MSG_LEN];
    let (mut alice, mut bob) = pair(&mut rng);
    let key = Secret::from_array(&[7u8; 32]);
    let (iv, ad) = (AesIv([9u8; 16]), [1u8; 112]);
    const BATCH: u32 = 20;
    let (mut best_ratchet, mut best_aes) = (f64::MAX, f64::MAX);
    for _ in 0..300 {
        let t = std::time::Instant::now();
        for _ in 0..BATCH {
            let m = bob.encrypt(PADDED_LEN, &msg).expect("encrypt");
            std::hint::black_box(alice.decrypt(&mut rng, &m).expect("decrypt"));
        }
        best_ratchet = best_ratchet.min(t.elapsed().as_secs_f64() / f64::from(BATCH));
        let t = std::time::Instant::now();
        for _ in 0..BATCH {
            let (tag, ct) = encrypt_padded(&key, &iv, PADDED_LEN, &ad, &msg).expect("encrypt");
            std::hint::black_box(decrypt_padded(&key, &iv, &ad, &ct, &tag).expect("decrypt"));
        }
        best_aes = best_aes.min(t.elapsed().as_secs_f64() / f64::from(BATCH));
    }
    println!(
        "interleaved best: ratchet same chain {:.2} us, raw AES-GCM {:.2} us, overhead {:+.1}%",
        best_ratchet * 1e6,
        best_aes * 1e6,
        (best_ratchet / best_aes - 1.0) * 100.0
    );
}

criterion_group!(benches, bench, interleaved_ratio);
criterion_main!(benches);
