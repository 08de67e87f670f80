//! The connection manager against the scripted server, in memory: one connection per server,
//! reconnect with backoff, batched resubscription, DOWN/UP once per server, host selection.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod scripted;

use std::collections::{BTreeSet, VecDeque};
use std::time::Duration;

use bytes::Bytes;
use rand_chacha::rand_core::SeedableRng;
use scripted::{address, ScriptedServer};
use simplex_core::address::{ServerAddress, TransportHost};
use simplex_core::client::{
    ConnId, ConnectionManager, HostMode, IncompatibleHost, ManagerConfig, ManagerError,
    ManagerEvent, ManagerInput, ManagerOutput, ManagerRequestId, NetworkConfig, QueueSubscription,
    RecipientKeys, Reply, Request, RequestError, RetryInterval, SignAlgorithm, SocksProxy,
    SubParty,
};
use simplex_core::protocol::{EntityId, MsgFlags};
use simplex_core::time::Instant;

struct World {
    mgr: ConnectionManager,
    server: ScriptedServer,
    now: Instant,
    events: Vec<ManagerEvent>,
    open: BTreeSet<ConnId>,
    connects: Vec<(Instant, ConnId, TransportHost, u16, bool)>,
    refuse: bool,
    /// Every byte the manager sent, by connection.
    wire: Vec<(ConnId, Vec<u8>)>,
    /// Outputs drained from the manager and not yet acted on.
    backlog: VecDeque<ManagerOutput>,
    /// The manager's deadline as of its last drain.
    timeout: Option<Instant>,
    /// Every output the manager gave, in order.
    log: Vec<String>,
}

fn domain(name: &str) -> TransportHost {
    TransportHost::Domain(name.to_owned())
}

impl World {
    fn new(seed: u64, config: ManagerConfig) -> Self {
        let rng = Box::new(rand_chacha::ChaCha20Rng::seed_from_u64(seed));
        Self {
            mgr: ConnectionManager::new(config, rng, Instant::ZERO),
            server: ScriptedServer::new(seed),
            now: Instant::ZERO,
            events: Vec::new(),
            open: BTreeSet::new(),
            connects: Vec::new(),
            refuse: false,
            wire: Vec::new(),
            backlog: VecDeque::new(),
            timeout: None,
            log: Vec::new(),
        }
    }

    fn address(&self) -> ServerAddress {
        address(self.server.key_hash(), vec![domain("localhost")], "")
    }

    /// Drains the manager to `Timeout` (it takes no input before).
    fn drain(&mut self) -> Vec<ManagerOutput> {
        let mut outputs = Vec::new();
        loop {
            match self.mgr.poll_output() {
                ManagerOutput::Timeout(t) => {
                    self.timeout = t;
                    self.log.push(format!("Timeout({t:?})"));
                    return outputs;
                }
                out => {
                    self.log.push(format!("{out:?}"));
                    outputs.push(out);
                }
            }
        }
    }

    /// Feeds one input and drains the manager.
    fn feed(&mut self, input: ManagerInput<'_>) -> Vec<ManagerOutput> {
        self.mgr.handle_input(self.now, input).unwrap();
        self.drain()
    }

    /// Feeds one input; its outputs wait for [`Self::pump`].
    fn input(&mut self, input: ManagerInput<'_>) {
        let outputs = self.feed(input);
        self.backlog.extend(outputs);
    }

    fn request(&mut self, server: &ServerAddress, request: Request) -> ManagerRequestId {
        let input = ManagerInput::Request {
            server: server.clone(),
            request: Box::new(request),
        };
        let id = self.mgr.handle_input(self.now, input).unwrap().request;
        let outputs = self.drain();
        self.backlog.extend(outputs);
        id.unwrap()
    }

    fn subscribe(&mut self, server: &ServerAddress, subs: Vec<QueueSubscription>) {
        self.input(ManagerInput::Subscribe {
            server: server.clone(),
            subs,
        });
    }

    fn subscribe_one(&mut self, server: &ServerAddress, sub: QueueSubscription) {
        self.subscribe(server, vec![sub]);
    }

    fn pump(&mut self) {
        loop {
            let mut moved = false;
            while let Some(out) = self.backlog.pop_front() {
                match out {
                    ManagerOutput::Connect {
                        conn,
                        host,
                        port,
                        proxy,
                        ..
                    } => {
                        moved = true;
                        self.connects
                            .push((self.now, conn, host, port, proxy.is_some()));
                        if self.refuse {
                            self.input(ManagerInput::ConnectFailed(conn));
                        } else {
                            self.server.accept(conn.0, self.now);
                            self.open.insert(conn);
                            self.input(ManagerInput::Connected(conn));
                        }
                    }
                    ManagerOutput::Transmit { conn, bytes } => {
                        moved = true;
                        self.server.receive(conn.0, self.now, &bytes);
                        self.wire.push((conn, bytes));
                    }
                    ManagerOutput::Disconnect { conn } => {
                        self.open.remove(&conn);
                        self.server.drop_conn(conn.0);
                    }
                    ManagerOutput::Event(e) => self.events.push(e),
                    ManagerOutput::Timeout(_) => unreachable!("feed keeps no Timeout"),
                }
            }
            for conn in self.open.clone() {
                for bytes in self.server.transmit(conn.0, self.now) {
                    moved = true;
                    self.input(ManagerInput::Received(conn, &bytes));
                }
            }
            if !moved {
                break;
            }
        }
    }

    fn advance_to(&mut self, t: Instant) {
        self.now = t;
        self.input(ManagerInput::Tick);
        self.pump();
    }

    fn next_timeout(&mut self) -> Option<Instant> {
        assert!(self.backlog.is_empty(), "undrained {:?}", self.backlog);
        self.timeout
    }

    /// The server drops every connection.
    fn drop_all(&mut self) {
        for conn in std::mem::take(&mut self.open) {
            self.server.drop_conn(conn.0);
            self.input(ManagerInput::Closed(conn));
        }
        self.pump();
    }

    /// Creates `n` queues on the server; returns subscriptions for them.
    fn create_queues(&mut self, n: usize) -> Vec<(QueueSubscription, EntityId)> {
        let server = self.address();
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(99);
        let keys: Vec<RecipientKeys> = (0..n)
            .map(|_| RecipientKeys::generate(SignAlgorithm::Ed25519, &mut rng))
            .collect();
        let ids: Vec<_> = keys
            .iter()
            .map(|k| self.request(&server, Request::create(k)))
            .collect();
        self.pump();
        let mut subs = Vec::new();
        for (id, k) in ids.into_iter().zip(keys) {
            let reply = self
                .events
                .iter()
                .find_map(|e| match e {
                    ManagerEvent::Response { id: i, result, .. } if *i == id => {
                        Some(result.clone())
                    }
                    _ => None,
                })
                .expect("a response");
            let Ok(Reply::Ids {
                recipient_id,
                sender_id,
                server_dh_key,
            }) = reply
            else {
                panic!("{reply:?}")
            };
            subs.push((
                QueueSubscription {
                    party: SubParty::Recipient,
                    queue_id: recipient_id,
                    body_key: Some(k.body_key(&server_dh_key).unwrap()),
                    sign_key: k.sign_key,
                },
                sender_id,
            ));
        }
        self.events.clear();
        subs
    }

    fn count(&self, f: impl Fn(&ManagerEvent) -> bool) -> usize {
        self.events.iter().filter(|e| f(e)).count()
    }
}

#[test]
fn concurrent_requests_share_one_connection() {
    let mut w = World::new(1, ManagerConfig::default());
    let server = w.address();
    let a = w.request(&server, Request::ping());
    let b = w.request(&server, Request::ping());
    assert_eq!(w.mgr.connection_count(), 1);
    w.pump();
    assert_eq!(w.connects.len(), 1);
    assert!(w.mgr.is_connected(&server));
    for id in [a, b] {
        assert_eq!(
            w.count(|e| matches!(e, ManagerEvent::Response { id: i, result: Ok(Reply::Pong), .. } if *i == id)),
            1
        );
    }
    let c = w.request(&server, Request::ping());
    w.pump();
    assert_eq!(w.connects.len(), 1);
    assert_eq!(
        w.count(|e| matches!(e, ManagerEvent::Response { id, .. } if *id == c)),
        1
    );
}

#[test]
fn messages_arrive_decrypted() {
    let mut w = World::new(2, ManagerConfig::default());
    let server = w.address();
    let mut subs = w.create_queues(1);
    let (sub, sender_id) = subs.remove(0);
    let rid = sub.queue_id.clone();
    w.subscribe_one(&server, sub);
    w.pump();
    assert_eq!(w.count(|e| matches!(e, ManagerEvent::Subscribed { .. })), 1);
    w.request(
        &server,
        Request::send(
            sender_id,
            None,
            MsgFlags::default(),
            Bytes::from_static(b"hi there"),
        ),
    );
    w.pump();
    let msg = w
        .events
        .iter()
        .find_map(|e| match e {
            ManagerEvent::Message {
                queue_id, message, ..
            } if *queue_id == rid => Some(message.clone()),
            _ => None,
        })
        .expect("a message");
    assert_eq!(msg.unwrap().body.as_ref(), b"hi there");
}

#[test]
fn reconnect_resubscribes_in_batches_with_one_down_and_one_up() {
    let mut w = World::new(3, ManagerConfig::default());
    let server = w.address();
    let subs: Vec<QueueSubscription> = w.create_queues(300).into_iter().map(|s| s.0).collect();
    w.subscribe(&server, subs);
    w.pump();
    assert_eq!(
        w.count(|e| matches!(e, ManagerEvent::Subscribed { .. })),
        300
    );
    w.events.clear();
    let blocks_before = w.server.blocks_received;
    w.drop_all();
    let downs: Vec<_> = w
        .events
        .iter()
        .filter_map(|e| match e {
            ManagerEvent::Down { subs, .. } => Some(subs.len()),
            _ => None,
        })
        .collect();
    assert_eq!(downs, vec![300]);
    let ups: Vec<_> = w
        .events
        .iter()
        .filter_map(|e| match e {
            ManagerEvent::Up { subs, .. } => Some(subs.len()),
            _ => None,
        })
        .collect();
    assert_eq!(ups, vec![300]);
    assert_eq!(w.count(|e| matches!(e, ManagerEvent::Subscribed { .. })), 0);
    // 300 SUBs of ~135 bytes: three blocks (plus the client hello block).
    let blocks = w.server.blocks_received - blocks_before;
    assert!(blocks <= 5, "{blocks} blocks");
    assert_eq!(w.connects.len(), 2);
    assert!(w.mgr.is_connected(&server));
}

#[test]
fn reconnect_backs_off_on_the_reference_schedule() {
    let mut w = World::new(4, ManagerConfig::default());
    let server = w.address();
    let subs: Vec<QueueSubscription> = w.create_queues(2).into_iter().map(|s| s.0).collect();
    w.subscribe(&server, subs);
    w.pump();
    w.refuse = true;
    w.drop_all();
    // The immediate reconnection failed; from then on the waits follow RetryInterval::AGENT.
    for _ in 0..8 {
        let t = w.next_timeout().expect("a retry is scheduled");
        w.advance_to(t);
    }
    let times: Vec<u64> = w
        .connects
        .iter()
        .skip(1)
        .map(|c| c.0.as_micros() / 100_000)
        .collect();
    // In tenths of a second: 0, then +2 s five times, then 2, 3, 4.5.
    assert_eq!(times, vec![0, 20, 40, 60, 80, 100, 120, 150, 195]);
    assert_eq!(w.count(|e| matches!(e, ManagerEvent::Down { .. })), 1);
    // The server comes back: one Up with both queues.
    w.refuse = false;
    let t = w.next_timeout().unwrap();
    w.advance_to(t);
    assert_eq!(
        w.count(|e| matches!(e, ManagerEvent::Up { subs, .. } if subs.len() == 2)),
        1
    );
}

#[test]
fn requests_fail_when_the_connection_cannot_be_made() {
    let mut w = World::new(5, ManagerConfig::default());
    w.refuse = true;
    let server = w.address();
    let id = w.request(&server, Request::ping());
    w.pump();
    assert_eq!(
        w.count(|e| matches!(e, ManagerEvent::Response { id: i, result: Err(RequestError::Network), .. } if *i == id)),
        1
    );
    // Nothing to keep alive: no retries.
    assert_eq!(w.next_timeout(), None);
    assert_eq!(w.mgr.connection_count(), 0);
}

#[test]
fn connect_timeout_fails_waiting_requests() {
    let mut w = World::new(6, ManagerConfig::default());
    let server = w.address();
    let id = w.request(&server, Request::ping());
    // The shell never reports the TCP stream open.
    match w.backlog.pop_front() {
        Some(ManagerOutput::Connect { .. }) => {}
        other => panic!("{other:?}"),
    }
    let t = w.next_timeout().unwrap();
    assert_eq!(t, Instant::ZERO + Duration::from_millis(7_500));
    w.advance_to(t);
    assert_eq!(
        w.count(|e| matches!(e, ManagerEvent::Response { id: i, result: Err(RequestError::Network), .. } if *i == id)),
        1
    );
}

#[test]
fn takeover_ends_the_subscription() {
    let mut w = World::new(7, ManagerConfig::default());
    let server = w.address();
    let (sub, _) = w.create_queues(1).remove(0);
    let rid = sub.queue_id.clone();
    w.subscribe_one(&server, sub);
    w.pump();
    w.server.send_end(rid.as_bytes(), w.now);
    w.pump();
    assert_eq!(
        w.count(|e| matches!(e, ManagerEvent::End { sub, .. } if sub.1 == rid)),
        1
    );
    assert_eq!(w.mgr.subscription_count(&server), 0);
}

#[test]
fn unknown_connections_are_api_errors() {
    let mut w = World::new(8, ManagerConfig::default());
    assert!(w
        .mgr
        .handle_input(w.now, ManagerInput::Received(ConnId(42), b"x"))
        .is_err());
    let server = w.address();
    w.request(&server, Request::ping());
    w.pump();
    let conn = *w.open.iter().next().unwrap();
    assert_eq!(
        w.mgr.handle_input(w.now, ManagerInput::Connected(conn)),
        Err(ManagerError::AlreadyConnected(conn))
    );
    // An input before the last one's outputs were drained is refused, and changes nothing.
    w.mgr
        .handle_input(w.now, ManagerInput::Closed(conn))
        .unwrap();
    assert_eq!(
        w.mgr.handle_input(w.now, ManagerInput::Tick),
        Err(ManagerError::OutputPending)
    );
    assert!(w.drain().contains(&ManagerOutput::Disconnect { conn }));
    w.mgr.handle_input(w.now, ManagerInput::Tick).unwrap();
}

fn hosts() -> Vec<TransportHost> {
    vec![
        domain("smp.example.com"),
        TransportHost::Onion("abcdef.onion".into()),
        TransportHost::Ipv4([10, 0, 0, 1]),
    ]
}

#[test]
fn host_selection_follows_the_host_mode() {
    let hosts = hosts();
    let public_only = vec![domain("a.example"), TransportHost::Ipv4([1, 2, 3, 4])];
    let onion_only = vec![TransportHost::Onion("x.onion".into())];
    let with = |mode, socks: bool, required| NetworkConfig {
        host_mode: mode,
        socks_proxy: socks.then(SocksProxy::default),
        required_host_mode: required,
        ..NetworkConfig::default()
    };
    assert_eq!(
        with(HostMode::OnionViaSocks, false, false).choose_host(&hosts),
        Ok(&hosts[0])
    );
    assert_eq!(
        with(HostMode::OnionViaSocks, true, false).choose_host(&hosts),
        Ok(&hosts[1])
    );
    assert_eq!(
        with(HostMode::Onion, false, false).choose_host(&hosts),
        Ok(&hosts[1])
    );
    assert_eq!(
        with(HostMode::Public, true, false).choose_host(&hosts),
        Ok(&hosts[0])
    );
    assert_eq!(
        with(HostMode::Onion, false, false).choose_host(&public_only),
        Ok(&public_only[0])
    );
    assert_eq!(
        with(HostMode::Onion, false, true).choose_host(&public_only),
        Err(IncompatibleHost)
    );
    assert_eq!(
        with(HostMode::Public, false, true).choose_host(&onion_only),
        Err(IncompatibleHost)
    );
    assert_eq!(
        with(HostMode::Public, false, false).choose_host(&onion_only),
        Ok(&onion_only[0])
    );
    let defaults = NetworkConfig::default();
    assert_eq!(defaults.tcp_connect_timeout, Duration::from_millis(7_500));
    assert_eq!(defaults.tcp_timeout, Duration::from_secs(5));
    assert_eq!(defaults.smp_ping_interval, Duration::from_secs(600));
    assert_eq!(RetryInterval::default(), RetryInterval::AGENT);
}

#[test]
fn required_host_mode_refuses_incompatible_servers() {
    let network = NetworkConfig {
        host_mode: HostMode::Onion,
        required_host_mode: true,
        ..NetworkConfig::default()
    };
    let mut w = World::new(9, ManagerConfig::from_network(network));
    let server = w.address();
    let id = w.request(&server, Request::ping());
    let keys = RecipientKeys::generate(
        SignAlgorithm::Ed25519,
        &mut rand_chacha::ChaCha20Rng::seed_from_u64(1),
    );
    w.subscribe_one(
        &server,
        QueueSubscription {
            party: SubParty::Recipient,
            queue_id: EntityId::from_slice(&[1; 24]).unwrap(),
            sign_key: keys.sign_key,
            body_key: None,
        },
    );
    w.pump();
    assert!(w.connects.is_empty());
    assert_eq!(
        w.count(|e| matches!(e, ManagerEvent::Response { id: i, result: Err(RequestError::IncompatibleHost), .. } if *i == id)),
        1
    );
    assert_eq!(
        w.count(|e| matches!(
            e,
            ManagerEvent::SubscriptionFailed {
                error: RequestError::IncompatibleHost,
                ..
            }
        )),
        1
    );
}

#[test]
fn onion_host_through_socks_proxy() {
    let network = NetworkConfig {
        socks_proxy: Some(SocksProxy::default()),
        ..NetworkConfig::default()
    };
    let mut w = World::new(10, ManagerConfig::from_network(network));
    let server = address(w.server.key_hash(), hosts(), "5224");
    w.request(&server, Request::ping());
    let outputs = std::mem::take(&mut w.backlog);
    let conn = match outputs.front() {
        Some(ManagerOutput::Connect {
            conn,
            host,
            port,
            proxy,
            ..
        }) => {
            assert_eq!(*host, TransportHost::Onion("abcdef.onion".into()));
            assert_eq!(*port, 5224);
            assert_eq!(*proxy, Some(SocksProxy::default()));
            *conn
        }
        other => panic!("{other:?}"),
    };
    // Nothing is sent before the stream is open.
    assert_eq!(outputs.len(), 1, "{outputs:?}");
    let transmit = |outputs: Vec<ManagerOutput>| match &outputs[..] {
        [ManagerOutput::Transmit { bytes, .. }] => bytes.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        transmit(w.feed(ManagerInput::Connected(conn))),
        vec![5, 1, 0]
    );
    let mut expected = vec![5, 1, 0, 3, 12];
    expected.extend_from_slice(b"abcdef.onion");
    expected.extend_from_slice(&5224u16.to_be_bytes());
    assert_eq!(
        transmit(w.feed(ManagerInput::Received(conn, &[5, 0]))),
        expected
    );
    // Then TLS starts: a ClientHello record.
    let hello = transmit(w.feed(ManagerInput::Received(
        conn,
        &[5, 0, 0, 1, 127, 0, 0, 1, 0x23, 0x28],
    )));
    assert_eq!(hello[0], 0x16);
}

#[test]
fn socks_failure_is_a_connect_failure() {
    let network = NetworkConfig {
        socks_proxy: Some(SocksProxy::default()),
        ..NetworkConfig::default()
    };
    let mut w = World::new(11, ManagerConfig::from_network(network));
    let server = w.address();
    let id = w.request(&server, Request::ping());
    let Some(ManagerOutput::Connect { conn, .. }) = w.backlog.pop_front() else {
        panic!()
    };
    w.input(ManagerInput::Connected(conn));
    w.input(ManagerInput::Received(
        conn,
        &[5, 0, 5, 4, 0, 0, 0, 0, 0, 0, 0, 0],
    ));
    w.pump();
    assert_eq!(
        w.count(|e| matches!(e, ManagerEvent::Response { id: i, result: Err(RequestError::Network), .. } if *i == id)),
        1
    );
    assert_eq!(w.mgr.connection_count(), 0);
}

#[test]
fn ack_delivers_the_next_message_opened() {
    let mut w = World::new(12, ManagerConfig::default());
    let server = w.address();
    let (sub, sender_id) = w.create_queues(1).remove(0);
    let rid = sub.queue_id.clone();
    let sign_key = sub.sign_key.clone();
    w.subscribe_one(&server, sub);
    for body in [&b"first"[..], b"second"] {
        w.request(
            &server,
            Request::send(
                sender_id.clone(),
                None,
                MsgFlags::default(),
                Bytes::copy_from_slice(body),
            ),
        );
    }
    w.pump();
    let bodies = |w: &World| -> Vec<Vec<u8>> {
        w.events
            .iter()
            .filter_map(|e| match e {
                ManagerEvent::Message { message: Ok(m), .. } => Some(m.body.to_vec()),
                _ => None,
            })
            .collect()
    };
    assert_eq!(bodies(&w), vec![b"first".to_vec()]);
    let first = w
        .events
        .iter()
        .find_map(|e| match e {
            ManagerEvent::Message { message: Ok(m), .. } => Some(m.msg_id.clone()),
            _ => None,
        })
        .unwrap();
    let ack = w.request(&server, Request::ack(rid, &sign_key, first));
    w.pump();
    assert_eq!(bodies(&w), vec![b"first".to_vec(), b"second".to_vec()]);
    assert_eq!(
        w.count(
            |e| matches!(e, ManagerEvent::Response { id, result: Ok(Reply::Ok), .. } if *id == ack)
        ),
        1
    );
}

#[test]
fn resubscription_timeouts_are_retried_on_the_live_connection() {
    let mut w = World::new(13, ManagerConfig::default());
    let server = w.address();
    let subs: Vec<QueueSubscription> = w.create_queues(3).into_iter().map(|s| s.0).collect();
    w.subscribe(&server, subs);
    w.pump();
    w.events.clear();
    w.server.answering = false;
    w.drop_all();
    assert_eq!(w.count(|e| matches!(e, ManagerEvent::Down { .. })), 1);
    // The SUBs time out after 5 s: nothing comes up, nothing is dropped.
    let t = w.next_timeout().unwrap();
    assert_eq!(t, Instant::ZERO + Duration::from_secs(5));
    w.advance_to(t);
    assert_eq!(w.count(|e| matches!(e, ManagerEvent::Up { .. })), 0);
    assert_eq!(w.mgr.subscription_count(&server), 3);
    // Retried after the initial interval; now answered.
    w.server.answering = true;
    let t = w.next_timeout().unwrap();
    assert_eq!(t, Instant::ZERO + Duration::from_secs(7));
    w.advance_to(t);
    assert_eq!(
        w.count(|e| matches!(e, ManagerEvent::Up { subs, .. } if subs.len() == 3)),
        1
    );
    assert_eq!(w.connects.len(), 2, "no new connection for a retry");
}

#[test]
fn same_seed_same_outputs() {
    let run = |seed| {
        let mut w = World::new(seed, ManagerConfig::default());
        let server = w.address();
        let subs: Vec<QueueSubscription> = w.create_queues(2).into_iter().map(|s| s.0).collect();
        w.subscribe(&server, subs);
        w.pump();
        w.drop_all();
        let events: Vec<String> = w.events.iter().map(|e| format!("{e:?}")).collect();
        (w.wire, events)
    };
    let (wire, events) = run(14);
    assert!(wire.len() > 4 && events.len() > 2);
    assert_eq!((wire, events), run(14));
}

#[test]
fn two_managers_fed_the_same_inputs_give_the_same_outputs() {
    // Many servers (one scripted server behind twelve addresses), each with several
    // subscriptions, through a drop, reconnection, resubscription and timers.
    let run = || {
        let mut w = World::new(15, ManagerConfig::default());
        let servers: Vec<ServerAddress> = (0..12)
            .map(|i| {
                address(
                    w.server.key_hash(),
                    vec![domain("localhost")],
                    &format!("{}", 6000 + i),
                )
            })
            .collect();
        let subs: Vec<QueueSubscription> = w.create_queues(36).into_iter().map(|s| s.0).collect();
        for (i, server) in servers.iter().enumerate() {
            w.subscribe(server, subs[i * 3..i * 3 + 3].to_vec());
            w.request(server, Request::ping());
        }
        w.pump();
        w.drop_all();
        for _ in 0..6 {
            match w.next_timeout() {
                Some(t) => w.advance_to(t.max(w.now + Duration::from_secs(1))),
                None => break,
            }
        }
        (w.log, w.events.len(), w.connects.len())
    };
    let (log, events, connects) = run();
    assert!(connects >= 24, "every server connected twice: {connects}");
    assert!(events >= 12 * 3, "{events}");
    let (again, _, _) = run();
    assert_eq!(log.len(), again.len());
    for (i, (a, b)) in log.iter().zip(&again).enumerate() {
        assert_eq!(a, b, "output {i} differs");
    }
}
