//! The delivery run of the sharded simulator: queues created on one shard and written from
//! clients held by another, with the delivery invariants checked at the end.
//!
//! `N + 1` recipients each create a queue (on their home shard, the worker holding them) and
//! acknowledge every message; as many senders, dealt to the workers in turn after them, so
//! that sender `q` is always held by another worker than recipient `q`, send numbered messages
//! to queue `q`, one at a time, waiting for `OK`. Nothing fails, so every message must reach
//! its recipient exactly once and in the order it was sent.

use bytes::Bytes;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use simplex_core::crypto::cbox::{CbKey, CbNonce};
use simplex_core::crypto::keys::SignKey;
use simplex_core::crypto::{ed25519, x25519};
use simplex_core::encoding::{Decode, Reader, UnixTime};
use simplex_core::protocol::{BrokerMsg, Command, EntityId, MsgFlags, RcvMessage};

use simplex_server::Mutations;

use super::ShardedWorld;

/// What a delivery run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryReport {
    /// Every worker's trace.
    pub traces: Vec<Vec<u8>>,
    /// Which delivery happened at each step.
    pub schedule: Vec<u8>,
    /// Messages the server answered `OK` to.
    pub accepted: usize,
    /// Per queue, the message numbers its recipient got, in the order it got them.
    pub delivered: Vec<Vec<u32>>,
    /// Letters carried between the workers.
    pub letters: usize,
    /// What went wrong; empty on success.
    pub violations: Vec<String>,
}

struct Queue {
    recipient: usize,
    sender: usize,
    key: SignKey,
    dh: x25519::PrivateKey,
    ids: Option<(EntityId, EntityId, CbKey)>,
    /// Messages answered `OK`, and whether one is waiting for its answer.
    sent: u32,
    in_flight: bool,
    delivered: Vec<u32>,
}

/// The body of message `n`: its number, padded so that it takes a few records.
fn body(n: u32) -> Bytes {
    let mut body = format!("message {n}:").into_bytes();
    body.resize(300, b'.');
    Bytes::from(body)
}

/// The number of the message in `msg`, decrypted with the queue's key.
fn message_number(key: &CbKey, msg: &RcvMessage) -> Option<u32> {
    let plain = key
        .decrypt(
            &CbNonce::from_slice_padded(msg.msg_id.as_bytes()),
            &msg.encrypted_body,
        )
        .ok()?;
    let mut r = Reader::new(plain);
    UnixTime::decode(&mut r).ok()?;
    MsgFlags::decode(&mut r).ok()?;
    r.expect_byte(b' ', "space").ok()?;
    let text = std::str::from_utf8(r.peek_rest()).ok()?;
    text.strip_prefix("message ")?
        .split(':')
        .next()?
        .parse()
        .ok()
}

/// Runs the delivery scenario on `shards` workers, `messages` per queue, every choice drawn
/// from `seed`.
pub fn run(seed: u64, shards: u16, messages: u32) -> DeliveryReport {
    run_with(ShardedWorld::new(seed, shards), seed, messages)
}

/// Like [`run`], every shard with the deliberate bugs `mutations`.
pub fn run_mutated(seed: u64, shards: u16, messages: u32, mutations: Mutations) -> DeliveryReport {
    run_with(
        ShardedWorld::with_mutations(seed, shards, mutations),
        seed,
        messages,
    )
}

fn run_with(mut world: ShardedWorld, seed: u64, messages: u32) -> DeliveryReport {
    let count = usize::from(world.shards()) + 1;
    let mut keys = ChaCha20Rng::seed_from_u64(seed ^ 0x5eed);
    let recipients: Vec<usize> = (0..count).map(|_| world.connect()).collect();
    let senders: Vec<usize> = (0..count).map(|_| world.connect()).collect();
    world.settle();
    let mut queues: Vec<Queue> = recipients
        .iter()
        .zip(&senders)
        .map(|(&recipient, &sender)| Queue {
            recipient,
            sender,
            key: SignKey::Ed25519(ed25519::SigningKey::generate(&mut keys)),
            dh: x25519::PrivateKey::generate(&mut keys),
            ids: None,
            sent: 0,
            in_flight: false,
            delivered: Vec::new(),
        })
        .collect();
    let mut violations = Vec::new();
    for (q, queue) in queues.iter().enumerate() {
        if !world.is_established(queue.recipient) || !world.is_established(queue.sender) {
            violations.push(format!("queue {q}: a client did not connect"));
        }
        if world.worker_of(queue.recipient) == world.worker_of(queue.sender) {
            violations.push(format!("queue {q}: sender and recipient on one worker"));
        }
    }
    if !violations.is_empty() {
        return report(world, &queues, 0, violations);
    }
    for queue in &queues {
        let new = Command::New {
            recipient_key: queue.key.verify_key(),
            dh_key: queue.dh.public_key(),
        };
        world.send(queue.recipient, b"new", b"", &new, Some(&queue.key));
    }
    let mut accepted = 0;
    loop {
        // Every sender whose queue exists and who has no message waiting sends the next one.
        for queue in queues.iter_mut() {
            let Some((_, sid, _)) = &queue.ids else {
                continue;
            };
            if !queue.in_flight && queue.sent < messages {
                let send = Command::Send {
                    flags: MsgFlags::default(),
                    body: body(queue.sent),
                };
                let corr = format!("s{}", queue.sent).into_bytes();
                world.send(queue.sender, &corr, sid.as_bytes(), &send, None);
                queue.in_flight = true;
            }
        }
        if !world.step() {
            break;
        }
        for (q, queue) in queues.iter_mut().enumerate() {
            for got in world.take_received(queue.recipient) {
                match (got.msg, &queue.ids) {
                    (
                        BrokerMsg::Ids {
                            recipient_id,
                            sender_id,
                            server_dh_key,
                        },
                        None,
                    ) => match queue.dh.diffie_hellman(&server_dh_key) {
                        Ok(secret) => {
                            queue.ids = Some((recipient_id, sender_id, CbKey::new(&secret)))
                        }
                        Err(_) => violations.push(format!("queue {q}: bad server DH key")),
                    },
                    (BrokerMsg::Msg(m), Some((rid, _, key))) => {
                        match message_number(key, &m) {
                            Some(n) => queue.delivered.push(n),
                            None => violations.push(format!("queue {q}: undecryptable message")),
                        }
                        let rid = rid.clone();
                        let ack = Command::Ack(m.msg_id);
                        world.send(
                            queue.recipient,
                            b"ack",
                            rid.as_bytes(),
                            &ack,
                            Some(&queue.key),
                        );
                    }
                    // The answer to an ACK with nothing more to deliver.
                    (BrokerMsg::Ok, Some(_)) => {}
                    (other, _) => violations.push(format!("queue {q}: recipient got {other:?}")),
                }
            }
            for got in world.take_received(queue.sender) {
                match got.msg {
                    BrokerMsg::Ok if queue.in_flight => {
                        queue.in_flight = false;
                        queue.sent += 1;
                        accepted += 1;
                    }
                    other => violations.push(format!("queue {q}: sender got {other:?}")),
                }
            }
        }
        if world.violations().len() + violations.len() > 20 {
            break;
        }
    }
    for (q, queue) in queues.iter().enumerate() {
        let expected: Vec<u32> = (0..messages).collect();
        if queue.sent != messages {
            violations.push(format!("queue {q}: {} of {messages} sent", queue.sent));
        }
        if queue.delivered != expected {
            violations.push(format!(
                "queue {q}: delivered {:?}, sent {expected:?}",
                queue.delivered
            ));
        }
    }
    report(world, &queues, accepted, violations)
}

fn report(
    world: ShardedWorld,
    queues: &[Queue],
    accepted: usize,
    mut violations: Vec<String>,
) -> DeliveryReport {
    violations.extend(world.violations().iter().cloned());
    DeliveryReport {
        traces: world.traces(),
        schedule: world.schedule().to_vec(),
        accepted,
        delivered: queues.iter().map(|q| q.delivered.clone()).collect(),
        letters: world.letters_delivered(),
        violations,
    }
}
