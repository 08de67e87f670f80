//! Transmission-sized encoding and decoding: a 16 KiB `SEND` transmission signed with
//! Ed25519 (without the signing), batches packed into blocks and split again, and the checks a
//! receiver runs on each transmission.

#![allow(missing_docs, clippy::unwrap_used)]

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use simplex_core::protocol::{
    encode_transmission, parse_transmission, signed_part, Command, CorrId, EntityId, MsgFlags,
    VerifiedTransmission, MAX_MESSAGE_LENGTH,
};
use simplex_core::transport::{pack_transmissions, unpack_block};

const SESSION: [u8; 32] = [7; 32];

fn send_transmission(body_len: usize) -> Vec<u8> {
    let command = Command::Send {
        flags: MsgFlags { notification: true },
        body: Bytes::from(vec![b'x'; body_len]),
    };
    let signed = signed_part(
        &SESSION,
        &CorrId::from_slice(b"123").unwrap(),
        &EntityId::new(vec![1; 24]).unwrap(),
        &command.to_bytes(4),
    )
    .unwrap();
    encode_transmission(None, &signed)
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("transmission");
    g.throughput(Throughput::Elements(1));
    let command = Command::Send {
        flags: MsgFlags::default(),
        body: Bytes::from(vec![b'x'; MAX_MESSAGE_LENGTH]),
    };
    g.bench_function("encode SEND 16088 B", |b| {
        b.iter(|| {
            let signed = signed_part(
                &SESSION,
                &CorrId::from_slice(b"123").unwrap(),
                &EntityId::new(vec![1; 24]).unwrap(),
                &command.to_bytes(4),
            )
            .unwrap();
            encode_transmission(None, &signed)
        })
    });
    let wire = Bytes::from(send_transmission(MAX_MESSAGE_LENGTH));
    g.bench_function("parse + check SEND 16088 B", |b| {
        b.iter(|| {
            VerifiedTransmission::<Command>::check(parse_transmission(wire.clone()), &SESSION, 4)
        })
    });
    let small: Vec<Vec<u8>> = (0..100).map(|_| send_transmission(100)).collect();
    g.throughput(Throughput::Elements(100));
    g.bench_function("pack 100 small SENDs into blocks", |b| {
        b.iter(|| pack_transmissions(true, &small))
    });
    let blocks: Vec<Bytes> = pack_transmissions(true, &small)
        .blocks
        .into_iter()
        .map(Bytes::from)
        .collect();
    g.bench_function("unpack + check 100 small SENDs", |b| {
        b.iter_batched(
            || blocks.clone(),
            |blocks| {
                for block in &blocks {
                    for raw in unpack_block(true, block).unwrap() {
                        let _ = VerifiedTransmission::<Command>::check(raw, &SESSION, 4);
                    }
                }
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
