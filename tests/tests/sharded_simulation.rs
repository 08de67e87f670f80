//! The multi-worker server in the simulator (`simplex_tests::sim::sharded`): N sharded drivers
//! with their mail and sockets delivered in a seeded order. See `spec/testing.md`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use simplex_core::crypto::keys::SignKey;
use simplex_core::crypto::{ed25519, x25519};
use simplex_core::protocol::{BrokerMsg, Command, EntityId, ErrorType, MsgFlags};
use simplex_server::{Mutations, Shard};
use simplex_tests::sim::sharded::{delivery, Received, ShardedWorld};

const MESSAGES: u32 = 4;

#[test]
fn a_seed_gives_the_same_traces_twice() {
    for shards in [2, 3] {
        let first = delivery::run(11, shards, MESSAGES);
        assert!(first.violations.is_empty(), "{:?}", first.violations);
        assert!(first.letters > 0, "the workers mailed each other");
        let second = delivery::run(11, shards, MESSAGES);
        assert_eq!(first.schedule, second.schedule);
        assert_eq!(first.traces.len(), usize::from(shards));
        assert!(
            first.traces == second.traces,
            "{shards} shards: traces differ"
        );
    }
}

#[test]
fn different_seeds_interleave_differently_and_deliver_the_same() {
    for shards in [2, 3] {
        let a = delivery::run(1, shards, MESSAGES);
        let b = delivery::run(2, shards, MESSAGES);
        assert!(a.violations.is_empty() && b.violations.is_empty());
        assert_ne!(a.schedule, b.schedule);
        assert!(a.traces != b.traces);
        assert_eq!(a.delivered, b.delivered);
        assert_eq!(a.accepted, b.accepted);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// Whatever the interleaving of sockets and mail, every message reaches its recipient
    /// exactly once, in the order it was sent.
    #[test]
    fn every_interleaving_delivers_every_message_once_in_order(
        seed in any::<u64>(),
        shards in 2u16..=3,
    ) {
        let report = delivery::run(seed, shards, MESSAGES);
        prop_assert!(report.violations.is_empty(), "{:?}", report.violations);
        let expected: Vec<u32> = (0..MESSAGES).collect();
        prop_assert_eq!(report.delivered.len(), usize::from(shards) + 1);
        for got in &report.delivered {
            prop_assert_eq!(got, &expected);
        }
        prop_assert_eq!(report.accepted, (usize::from(shards) + 1) * MESSAGES as usize);
    }
}

fn ed25519_key(rng: &mut ChaCha20Rng) -> SignKey {
    SignKey::Ed25519(ed25519::SigningKey::generate(rng))
}

/// Client `i` sends one command and the world settles; what `i` got for it (by corr id), and
/// everything else that arrived for `i`.
fn ask(
    world: &mut ShardedWorld,
    i: usize,
    corr: &str,
    entity: &EntityId,
    command: Command,
    key: Option<&SignKey>,
) -> (BrokerMsg, Vec<Received>) {
    world.send(i, corr.as_bytes(), entity.as_bytes(), &command, key);
    world.settle();
    let (mine, others): (Vec<_>, Vec<_>) = world
        .take_received(i)
        .into_iter()
        .partition(|r| r.corr == corr.as_bytes());
    assert_eq!(mine.len(), 1, "one answer to {corr}: {mine:?}");
    (mine[0].msg.clone(), others)
}

/// A queue created on one shard, used by a client held by another worker: `NSUB`, `SUB`
/// (taking the subscription from the creator), `SEND` to it, the `MSG` and `NMSG` that
/// come back across, `ACK` and `DEL`.
#[test]
fn queues_work_from_clients_on_other_shards() {
    for (seed, shards) in [(1, 2), (2, 2), (3, 3), (4, 3)] {
        let mut w = ShardedWorld::new(seed, shards);
        let owner = w.connect();
        let other = w.connect();
        w.settle();
        assert_ne!(w.worker_of(owner), w.worker_of(other));
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let (rkey, skey, nkey) = (
            ed25519_key(&mut rng),
            ed25519_key(&mut rng),
            ed25519_key(&mut rng),
        );
        let dh = x25519::PrivateKey::generate(&mut rng);
        let none = EntityId::empty();

        let new = Command::New {
            recipient_key: rkey.verify_key(),
            dh_key: dh.public_key(),
        };
        let (
            BrokerMsg::Ids {
                recipient_id: rid,
                sender_id: sid,
                ..
            },
            _,
        ) = ask(&mut w, owner, "new", &none, new, Some(&rkey))
        else {
            panic!("NEW answers IDS");
        };
        // The queue lives with the connection that created it.
        let home = w.worker_of(owner) as u16;
        assert_eq!(Shard::of(rid.as_bytes(), shards), home);
        assert_eq!(Shard::of(sid.as_bytes(), shards), home);

        let key = Command::Key(skey.verify_key());
        assert_eq!(
            ask(&mut w, owner, "key", &rid, key, Some(&rkey)).0,
            BrokerMsg::Ok
        );
        let nkey_cmd = Command::NKey {
            notifier_key: nkey.verify_key(),
            dh_key: dh.public_key(),
        };
        let (
            BrokerMsg::Nid {
                notifier_id: nid, ..
            },
            _,
        ) = ask(&mut w, owner, "nkey", &rid, nkey_cmd, Some(&rkey))
        else {
            panic!("NKEY answers NID");
        };
        assert_eq!(Shard::of(nid.as_bytes(), shards), home);

        // From the other worker: notifications, then the queue's subscription.
        assert_eq!(
            ask(&mut w, other, "nsub", &nid, Command::NSub, Some(&nkey)).0,
            BrokerMsg::Ok
        );
        assert_eq!(
            ask(&mut w, other, "sub", &rid, Command::Sub, Some(&rkey)).0,
            BrokerMsg::Ok
        );
        let ended = w.take_received(owner);
        assert!(
            ended
                .iter()
                .any(|r| r.msg == BrokerMsg::End && r.entity == rid),
            "the creator's subscription ended: {ended:?}"
        );

        let send = Command::Send {
            flags: MsgFlags { notification: true },
            body: bytes::Bytes::from_static(b"across the shards"),
        };
        let (answer, pushed) = ask(&mut w, other, "send", &sid, send, Some(&skey));
        assert_eq!(answer, BrokerMsg::Ok);
        let msg_id = pushed
            .iter()
            .find_map(|r| match &r.msg {
                BrokerMsg::Msg(m) if r.entity == rid => Some(m.msg_id.clone()),
                _ => None,
            })
            .unwrap_or_else(|| panic!("MSG pushed to the subscriber: {pushed:?}"));
        assert!(
            pushed
                .iter()
                .any(|r| matches!(r.msg, BrokerMsg::NMsg { .. }) && r.entity == nid),
            "NMSG pushed to the notifier subscriber: {pushed:?}"
        );
        assert_eq!(
            ask(
                &mut w,
                other,
                "ack",
                &rid,
                Command::Ack(msg_id),
                Some(&rkey)
            )
            .0,
            BrokerMsg::Ok
        );
        assert_eq!(
            ask(&mut w, other, "del", &rid, Command::Del, Some(&rkey)).0,
            BrokerMsg::Ok
        );
        let again = Command::Send {
            flags: MsgFlags::default(),
            body: bytes::Bytes::from_static(b"too late"),
        };
        assert_eq!(
            ask(&mut w, owner, "send2", &sid, again, Some(&skey)).0,
            BrokerMsg::Err(ErrorType::Auth)
        );
        assert!(w.letters_delivered() > 0);
        assert!(w.violations().is_empty(), "{:?}", w.violations());
    }
}

/// The checks are not vacuous: a server whose `ACK` also drops the next message is caught
/// (on some interleaving: the next message must be queued when the `ACK` comes).
#[test]
fn a_server_that_drops_messages_is_caught() {
    let mutations = Mutations {
        ack_drops_next: true,
    };
    let caught = (0..8)
        .filter(|&seed| {
            !delivery::run_mutated(seed, 2, 8, mutations)
                .violations
                .is_empty()
        })
        .count();
    assert!(caught > 0, "no interleaving showed the dropped messages");
}
