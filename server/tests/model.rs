//! Model test: random command sequences from several clients against a small model of the
//! queues. Per queue no message is lost, duplicated or reordered; at most one message is in
//! flight per subscription; quota and AUTH rules hold.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::{BTreeMap, VecDeque};

use common::*;
use proptest::prelude::*;
use simplex_core::crypto::keys::SignKey;
use simplex_core::protocol::{BrokerMsg, Command, CommandError, ErrorType, MsgId};
use simplex_server::testkit::TestClient;
use simplex_server::ServerConfig;

const QUOTA: usize = 3;
const QUEUES: usize = 2;
const RECIPIENTS: usize = 3;

#[derive(Debug, Clone)]
enum Op {
    Send { q: usize },
    BadSend { q: usize },
    Sub { c: usize, q: usize },
    Get { c: usize, q: usize },
    Ack { c: usize, q: usize, right_id: bool },
    Reconnect { c: usize },
}

fn op() -> impl Strategy<Value = Op> {
    let q = 0..QUEUES;
    let c = 0..RECIPIENTS;
    prop_oneof![
        3 => q.clone().prop_map(|q| Op::Send { q }),
        1 => q.clone().prop_map(|q| Op::BadSend { q }),
        2 => (c.clone(), q.clone()).prop_map(|(c, q)| Op::Sub { c, q }),
        1 => (c.clone(), q.clone()).prop_map(|(c, q)| Op::Get { c, q }),
        4 => (c.clone(), q.clone(), prop::bool::weighted(0.85)).prop_map(|(c, q, right_id)| Op::Ack { c, q, right_id }),
        1 => c.prop_map(|c| Op::Reconnect { c }),
    ]
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    Sub,
    Get,
}

struct Model {
    /// Accepted, not yet removed: (id once seen, body).
    queues: Vec<VecDeque<(Option<MsgId>, Vec<u8>)>>,
    mode: BTreeMap<(usize, usize), Mode>,
    pending: BTreeMap<(usize, usize), MsgId>,
    sent: usize,
}

struct World {
    h: Harness,
    qs: Vec<QueueInfo>,
    skeys: Vec<Option<SignKey>>,
    recipients: Vec<TestClient>,
    sender: TestClient,
    m: Model,
}

impl World {
    fn index_of(&self, to: simplex_server::ClientId) -> Option<usize> {
        self.recipients.iter().position(|c| c.id == to)
    }

    /// Checks every transmission against the model; returns the answer to `corr` for `from`.
    fn observe(&mut self, got: Vec<Got>, from: simplex_server::ClientId, corr: &str) -> BrokerMsg {
        let mut answer = None;
        for g in got {
            if g.to == from && g.corr.as_bytes() == corr.as_bytes() {
                assert!(answer.is_none(), "one answer per command");
                answer = Some(g.msg.clone());
            }
            let Some(c) = self.index_of(g.to) else {
                continue;
            };
            let Some(q) = self.qs.iter().position(|q| q.rid == g.entity.as_bytes()) else {
                continue;
            };
            match &g.msg {
                BrokerMsg::Msg(_) => {
                    let (id, body) = open(&self.qs[q], 4, &g.msg);
                    let pushed = g.corr.is_empty();
                    if pushed {
                        assert_eq!(
                            self.m.mode.get(&(c, q)),
                            Some(&Mode::Sub),
                            "push only to a subscriber"
                        );
                        assert!(
                            !self.m.pending.contains_key(&(c, q)),
                            "at most one message in flight"
                        );
                    }
                    let head = self.m.queues[q]
                        .front_mut()
                        .expect("delivered from an empty queue");
                    assert_eq!(head.1, body, "delivered out of order");
                    if let Some(known) = &head.0 {
                        assert_eq!(known, &id, "same message, same id");
                    }
                    head.0 = Some(id.clone());
                    self.m.pending.insert((c, q), id);
                }
                BrokerMsg::End => {
                    assert_eq!(self.m.mode.remove(&(c, q)), Some(Mode::Sub));
                    self.m.pending.remove(&(c, q));
                }
                _ => {}
            }
        }
        answer.expect("answer")
    }

    fn step(&mut self, op: &Op) {
        match *op {
            Op::Send { q } => {
                let body = format!("m{}", self.m.sent).into_bytes();
                self.m.sent += 1;
                let full = self.m.queues[q].len() >= QUOTA;
                if !full {
                    self.m.queues[q].push_back((None, body.clone()));
                }
                let (sender, sid, key) = (
                    self.sender.clone(),
                    self.qs[q].sid.clone(),
                    self.skeys[q].clone(),
                );
                let got = self
                    .h
                    .cmd(&sender, key.as_ref(), "s", &sid, send_cmd(&body));
                let answer = self.observe(got, sender.id, "s");
                let expected = if full {
                    BrokerMsg::Err(ErrorType::Quota)
                } else {
                    BrokerMsg::Ok
                };
                assert_eq!(answer, expected);
            }
            Op::BadSend { q } => {
                let bad = sign_key(&mut self.h.rng, q == 1);
                let (sender, sid) = (self.sender.clone(), self.qs[q].sid.clone());
                let got = self
                    .h
                    .cmd(&sender, Some(&bad), "b", &sid, send_cmd(b"forged"));
                assert_eq!(
                    self.observe(got, sender.id, "b"),
                    BrokerMsg::Err(ErrorType::Auth)
                );
            }
            Op::Sub { c, q } => {
                let client = self.recipients[c].clone();
                let prohibited = self.m.mode.get(&(c, q)) == Some(&Mode::Get);
                if !prohibited {
                    self.m.mode.insert((c, q), Mode::Sub);
                    self.m.pending.remove(&(c, q));
                }
                let (rid, rkey) = (self.qs[q].rid.clone(), self.qs[q].rkey.clone());
                let got = self.h.cmd(&client, Some(&rkey), "sub", &rid, Command::Sub);
                let answer = self.observe(got, client.id, "sub");
                if prohibited {
                    assert_eq!(
                        answer,
                        BrokerMsg::Err(ErrorType::Cmd(CommandError::Prohibited))
                    );
                } else {
                    assert!(
                        matches!(answer, BrokerMsg::Ok | BrokerMsg::Msg(_)),
                        "{answer:?}"
                    );
                }
            }
            Op::Get { c, q } => {
                let client = self.recipients[c].clone();
                let prohibited = self.m.mode.get(&(c, q)) == Some(&Mode::Sub);
                if !prohibited {
                    self.m.mode.insert((c, q), Mode::Get);
                    self.m.pending.remove(&(c, q));
                }
                let empty = self.m.queues[q].is_empty();
                let (rid, rkey) = (self.qs[q].rid.clone(), self.qs[q].rkey.clone());
                let got = self.h.cmd(&client, Some(&rkey), "get", &rid, Command::Get);
                let answer = self.observe(got, client.id, "get");
                match (prohibited, empty) {
                    (true, _) => assert_eq!(
                        answer,
                        BrokerMsg::Err(ErrorType::Cmd(CommandError::Prohibited))
                    ),
                    (false, true) => assert_eq!(answer, BrokerMsg::Ok),
                    (false, false) => assert!(matches!(answer, BrokerMsg::Msg(_))),
                }
            }
            Op::Ack { c, q, right_id } => {
                let client = self.recipients[c].clone();
                let pending = self.m.pending.get(&(c, q)).cloned();
                let id = match (&pending, right_id) {
                    (Some(id), true) => id.clone(),
                    _ => MsgId::from_slice(&[0xEE; 24]).unwrap(),
                };
                let accepted = self.m.mode.contains_key(&(c, q)) && pending.as_ref() == Some(&id);
                if accepted {
                    self.m.pending.remove(&(c, q));
                    if self.m.queues[q].front().and_then(|h| h.0.as_ref()) == Some(&id) {
                        self.m.queues[q].pop_front();
                    }
                }
                let (rid, rkey) = (self.qs[q].rid.clone(), self.qs[q].rkey.clone());
                let got = self
                    .h
                    .cmd(&client, Some(&rkey), "ack", &rid, Command::Ack(id));
                let answer = self.observe(got, client.id, "ack");
                if accepted {
                    assert!(
                        matches!(answer, BrokerMsg::Ok | BrokerMsg::Msg(_)),
                        "{answer:?}"
                    );
                    if self.m.mode.get(&(c, q)) == Some(&Mode::Get) {
                        assert_eq!(answer, BrokerMsg::Ok);
                    }
                } else {
                    assert_eq!(answer, BrokerMsg::Err(ErrorType::NoMsg));
                }
            }
            Op::Reconnect { c } => {
                let old = self.recipients[c].clone();
                self.h.close(&old);
                self.m.mode.retain(|(cc, _), _| *cc != c);
                self.m.pending.retain(|(cc, _), _| *cc != c);
                self.recipients[c] = self.h.connect(4);
            }
        }
    }

    /// A fresh connection reads every queue to the end: exactly the model's messages, in order.
    fn drain_all(&mut self) {
        let reader = self.h.connect(4);
        for q in 0..QUEUES {
            let (rid, rkey) = (self.qs[q].rid.clone(), self.qs[q].rkey.clone());
            let mut expected: Vec<Vec<u8>> = self.m.queues[q].iter().map(|m| m.1.clone()).collect();
            expected.reverse();
            let mut msg = self.h.ask(&reader, Some(&rkey), "g", &rid, Command::Get);
            while let BrokerMsg::Msg(_) = msg {
                let (id, body) = open(&self.qs[q], 4, &msg);
                assert_eq!(Some(body), expected.pop(), "lost, duplicated or reordered");
                assert_eq!(
                    self.h
                        .ask(&reader, Some(&rkey), "a", &rid, Command::Ack(id)),
                    BrokerMsg::Ok
                );
                msg = self.h.ask(&reader, Some(&rkey), "g", &rid, Command::Get);
            }
            assert_eq!(msg, BrokerMsg::Ok);
            assert!(expected.is_empty(), "messages lost: {expected:?}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
    #[test]
    fn queues_behave_like_the_model(ops in prop::collection::vec(op(), 1..60), seed in 0u64..1000) {
        let mut h = Harness::with_seed(ServerConfig { msg_queue_quota: QUOTA, ..ServerConfig::default() }, seed);
        let owner = h.connect(4);
        let qs: Vec<QueueInfo> = (0..QUEUES).map(|i| h.create_queue(&owner, i == 1)).collect();
        let skeys = vec![None, Some(h.secure(&owner, &qs[1], true))];
        h.close(&owner);
        let recipients = (0..RECIPIENTS).map(|_| h.connect(4)).collect();
        let sender = h.connect(4);
        let mut w = World {
            h, qs, skeys, recipients, sender,
            m: Model { queues: vec![VecDeque::new(); QUEUES], mode: BTreeMap::new(), pending: BTreeMap::new(), sent: 0 },
        };
        for op in &ops {
            w.step(op);
        }
        w.drain_all();
    }
}
