//! Two reference smp-agents (simplexmq v3.2.0) make a duplex connection through our SMP server
//! and exchange messages both ways, across restarts of our server: two while both agents stay
//! up (they reconnect and resubscribe by themselves; a message seen but not acknowledged comes
//! again), one while the receiving agent is down (our server keeps the undelivered messages in
//! its files). The same run against the reference
//! smp-server is the control. The group is gated on `SIMPLEX_REFERENCE_DIR` (see
//! `tests/src/reference`). Every wait is bounded.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::time::Duration;

use simplex_core::encoding::string::base64_encode;
use simplex_server::files::{DataFiles, FileOptions};
use simplex_tests::harness::{Options, Runtime, TestServer};
use simplex_tests::reference::agent::{AgentClient, AgentReply, ReferenceAgent};
use simplex_tests::reference::process::StopSignal;
use simplex_tests::reference::smp_server::{ReferenceSmpServer, ServerSetup};
use simplex_tests::reference::{programs, Programs};

/// A reply or event that should come promptly.
const T: Duration = Duration::from_secs(20);
/// The agents retry a lost server on their own schedule; this bounds their reconnection.
const RECONNECT: Duration = Duration::from_secs(60);
/// The largest user message body an agent sends (REFERENCE-NOTES item 29).
const LARGEST_BODY: usize = 15811;

/// One party: its agent's client session, its connection, and what it has seen so far.
struct Party {
    name: &'static str,
    client: AgentClient,
    conn: String,
    corr: u32,
    /// The message ids of the connection so far: the agent numbers the messages it sends
    /// (`MID`) and receives (`R=`) in one sequence, in the order it handles them.
    ids: Vec<u64>,
    /// The last `MID`.
    last_sent: Option<u64>,
    /// The last `R=`.
    last_received: Option<u64>,
    /// The last `S=` id received (the peer's numbering).
    last_peer_sent: Option<u64>,
    /// The bodies received, in order.
    received: Vec<Vec<u8>>,
}

impl Party {
    fn new(name: &'static str, client: AgentClient) -> Self {
        Self {
            name,
            client,
            conn: String::new(),
            corr: 0,
            ids: Vec::new(),
            last_sent: None,
            last_received: None,
            last_peer_sent: None,
            received: Vec::new(),
        }
    }

    fn corr_id(&mut self) -> String {
        self.corr += 1;
        format!("{}{}", self.name, self.corr)
    }

    /// Sends `command` on this party's connection and returns the agent's response.
    fn command(&mut self, command: &str, body: Option<&[u8]>) -> AgentReply {
        let corr = self.corr_id();
        let conn = self.conn.clone();
        self.client.send(&corr, &conn, command, body).unwrap();
        self.client.response(&corr, T).unwrap()
    }

    /// Sends a message and returns its id (from `MID`), without waiting for `SENT`.
    fn submit(&mut self, body: &[u8]) -> u64 {
        let reply = self.command("SEND F", Some(body));
        self.mid(&reply)
    }

    fn mid(&mut self, reply: &AgentReply) -> u64 {
        assert_eq!(reply.tag(), "MID", "{}: {reply:?}", self.name);
        let id = reply.args()[0].parse().unwrap();
        self.new_id(id);
        assert!(
            self.last_sent < Some(id),
            "{}: MID {id} after {:?}",
            self.name,
            self.last_sent
        );
        self.last_sent = Some(id);
        id
    }

    /// Records a message id of the connection, which must be new.
    fn new_id(&mut self, id: u64) {
        assert!(
            !self.ids.contains(&id),
            "{}: message id {id} again",
            self.name
        );
        self.ids.push(id);
    }

    /// The connection's message ids run from 4 (after the handshake's) with no gap: no message
    /// was lost or counted twice.
    fn assert_ids_without_gaps(&self) {
        let mut ids = self.ids.clone();
        ids.sort_unstable();
        let expected: Vec<u64> = (4..4 + ids.len() as u64).collect();
        assert_eq!(ids, expected, "{}: message ids", self.name);
    }

    /// Waits for `SENT id` (the server accepted the message).
    fn sent(&mut self, id: u64, timeout: Duration) {
        let conn = self.conn.clone();
        let want = id.to_string();
        let reply = self
            .client
            .wait_for(timeout, |r| {
                r.conn_id == conn
                    && (r.tag() == "SENT" || r.tag() == "MERR")
                    && r.args().first() == Some(&want.as_str())
            })
            .unwrap_or_else(|e| panic!("{}: no SENT {id}: {e}", self.name));
        assert_eq!(reply.tag(), "SENT", "{}: {reply:?}", self.name);
    }

    /// Sends messages without waiting for the answers (e.g. while the server is down); returns
    /// their corrIds for [`Party::answered`]. The agent answers `MID` at once or once it reaches
    /// the server again (both seen: it depends on timing), so neither is asserted.
    fn send_unanswered(&mut self, bodies: &[&[u8]]) -> Vec<String> {
        bodies
            .iter()
            .map(|body| {
                let corr = self.corr_id();
                let conn = self.conn.clone();
                self.client
                    .send(&corr, &conn, "SEND F", Some(body))
                    .unwrap();
                corr
            })
            .collect()
    }

    /// Waits for the `MID` and then the `SENT` of each message of [`Party::send_unanswered`].
    fn answered(&mut self, corrs: &[String]) {
        for corr in corrs {
            let reply = self.client.response(corr, RECONNECT).unwrap();
            let id = self.mid(&reply);
            self.sent(id, RECONNECT);
        }
    }

    /// Sends a message and waits until the server has it; returns its id.
    fn send(&mut self, body: &[u8]) -> u64 {
        let id = self.submit(body);
        self.sent(id, T);
        id
    }

    /// Waits for the next message (within `timeout`), checks its integrity and that its ids
    /// follow the previous ones (nothing lost, nothing twice), acknowledges it, returns the body.
    fn receive(&mut self, timeout: Duration) -> Vec<u8> {
        let msg = self.receive_without_ack(timeout);
        self.ack(&msg);
        msg.body.unwrap()
    }

    /// [`Party::receive`] without the acknowledgement: the agent (and the server) will hand
    /// the message over again.
    fn receive_without_ack(&mut self, timeout: Duration) -> AgentReply {
        let conn = self.conn.clone();
        let msg = self
            .client
            .wait_for(timeout, |r| r.conn_id == conn && r.tag() == "MSG")
            .unwrap_or_else(|e| panic!("{}: no MSG: {e}", self.name));
        assert_eq!(msg.corr_id, "", "MSG is an event");
        assert_eq!(msg.args()[0], "OK", "{}: integrity of {msg:?}", self.name);
        assert_eq!(msg.args()[msg.args().len() - 2], "F", "flags of {msg:?}");
        let id = |field: &str| -> u64 {
            let value = msg.field(field).unwrap();
            value.split(',').next().unwrap().parse().unwrap()
        };
        let (received, peer_sent) = (id("R"), id("S"));
        // The broker's message id is standard base64, its time an ISO 8601 UTC time.
        let (broker_id, broker_time) = msg.field("B").unwrap().split_once(',').unwrap();
        assert!(
            !broker_id.is_empty() && broker_time.ends_with('Z'),
            "{msg:?}"
        );
        if let Some(last) = self.last_peer_sent {
            assert_eq!(
                peer_sent,
                last + 1,
                "{}: S= after {last}: {msg:?}",
                self.name
            );
        }
        self.new_id(received);
        assert!(
            self.last_received < Some(received),
            "{}: R= after {:?}: {msg:?}",
            self.name,
            self.last_received
        );
        self.last_received = Some(received);
        self.last_peer_sent = Some(peer_sent);
        self.received.push(msg.body.clone().unwrap());
        msg
    }

    /// Acknowledges a received message (by its `R=` id).
    fn ack(&mut self, msg: &AgentReply) {
        let id = msg
            .field("R")
            .unwrap()
            .split(',')
            .next()
            .unwrap()
            .to_string();
        let ack = self.command(&format!("ACK {id}"), None);
        assert_eq!(ack.tag(), "OK", "{}: {ack:?}", self.name);
    }

    /// Waits for `first` (received, not acknowledged) to come again, the same in every field
    /// and body, and acknowledges it.
    fn receive_again(&mut self, first: &AgentReply, timeout: Duration) {
        let conn = self.conn.clone();
        let again = self
            .client
            .wait_for(timeout, |r| r.conn_id == conn && r.tag() == "MSG")
            .unwrap_or_else(|e| panic!("{}: no MSG again: {e}", self.name));
        assert_eq!(&again, first, "{}: the same message again", self.name);
        self.ack(&again);
    }

    /// Waits for the event `tag` about our server (`DOWN`/`UP`) and checks it lists this
    /// party's connection.
    fn server_event(&mut self, tag: &str, address: &str, timeout: Duration) {
        let reply = self
            .client
            .wait_for(timeout, |r| r.conn_id.is_empty() && r.tag() == tag)
            .unwrap_or_else(|e| panic!("{}: no {tag}: {e}", self.name));
        assert_eq!(reply.args()[0], address, "{reply:?}");
        let listed: Vec<&str> = reply.args()[1].split(',').collect();
        assert!(
            listed.contains(&base64_encode(self.conn.as_bytes()).as_str()),
            "{}: {reply:?} does not list {}",
            self.name,
            self.conn
        );
    }

    /// Everything that arrives within `period` (and whatever earlier waits skipped) holds no
    /// message for this party: nothing came twice or late.
    fn assert_no_more_messages(&mut self, period: Duration) {
        let rest = self.client.drain_for(period).unwrap();
        assert!(
            rest.iter().all(|r| r.tag() != "MSG"),
            "{}: unexpected messages: {rest:?}",
            self.name
        );
    }
}

/// A body of `n` bytes that is not all one value (and has CRLF inside, which the framing must
/// carry).
fn body_of(n: usize, seed: u8) -> Vec<u8> {
    let mut body: Vec<u8> = (0..n)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect();
    if n >= 4 {
        body[1] = b'\r';
        body[2] = b'\n';
    }
    body
}

/// A makes an invitation, B joins it, A lets B in: both connections reach `CON`.
fn connect(a: &mut Party, b: &mut Party, address: &str) {
    let inv = a.command("NEW INV", None);
    assert_eq!(inv.tag(), "INV", "{inv:?}");
    a.conn = inv.conn_id.clone();
    let invitation = inv.args()[0].to_string();
    assert!(
        invitation.starts_with("https://simplex.chat/invitation#/?"),
        "{invitation}"
    );

    let joined = b.command(&format!("JOIN {invitation}"), Some(b"bob's profile"));
    assert_eq!(joined.tag(), "OK", "{joined:?}");
    b.conn = joined.conn_id.clone();

    let a_conn = a.conn.clone();
    let conf = a.client.event(&a_conn, "CONF", T).unwrap();
    assert_eq!(conf.body.as_deref(), Some(&b"bob's profile"[..]));
    // CONF lists the servers of B's reply queue: ours.
    assert_eq!(conf.args()[1], address, "{conf:?}");
    let confirmation = conf.args()[0].to_string();
    let ok = a.command(&format!("LET {confirmation}"), Some(b"alice's profile"));
    assert_eq!(ok.tag(), "OK", "{ok:?}");

    let b_conn = b.conn.clone();
    let info = b.client.event(&b_conn, "INFO", T).unwrap();
    assert_eq!(info.body.as_deref(), Some(&b"alice's profile"[..]));
    b.client.event(&b_conn, "CON", T).unwrap();
    a.client.event(&a_conn, "CON", T).unwrap();
}

#[test]
fn reference_agents_talk_through_our_server_mio() {
    let test = "reference_agents_talk_through_our_server_mio";
    let Some(programs) = programs(test) else {
        return;
    };
    talk_across_restarts(&programs, Server::ours(Runtime::Mio, 1));
}

/// The other shell, and queues spread over shards (an agent's queues and its peer's may sit
/// on different ones).
#[test]
fn reference_agents_talk_through_our_server_smol_four_shards() {
    let test = "reference_agents_talk_through_our_server_smol_four_shards";
    let Some(programs) = programs(test) else {
        return;
    };
    talk_across_restarts(&programs, Server::ours(Runtime::Smol, 4));
}

/// The control: the same run and assertions with the reference server, so what the test
/// expects of the agents is what they do with the server they were written for.
#[test]
fn reference_agents_talk_through_the_reference_server() {
    let test = "reference_agents_talk_through_the_reference_server";
    let Some(programs) = programs(test) else {
        return;
    };
    let mut server = ReferenceSmpServer::init(&programs, &ServerSetup::default());
    server.start();
    talk_across_restarts(&programs, Server::Reference(server));
}

/// The SMP server the agents use, stopped gracefully and started again on the same files and
/// port.
enum Server {
    Ours {
        runtime: Runtime,
        shards: u16,
        files: DataFiles,
        /// Kept for the files.
        _dir: tempfile::TempDir,
        addr: SocketAddr,
        address: String,
        running: Option<TestServer>,
    },
    Reference(ReferenceSmpServer),
}

impl Server {
    /// Our server, running, with a store log and the saving of undelivered messages.
    fn ours(runtime: Runtime, shards: u16) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let files = DataFiles::in_dir(dir.path(), FileOptions::RESTORABLE);
        let server = TestServer::start(runtime, our_options(&files, shards));
        Server::Ours {
            runtime,
            shards,
            files,
            _dir: dir,
            addr: server.addr,
            address: server.address(),
            running: Some(server),
        }
    }

    fn address(&self) -> String {
        match self {
            Server::Ours { address, .. } => address.clone(),
            Server::Reference(server) => server.address(),
        }
    }

    /// Stops it gracefully (undelivered messages saved).
    fn stop(&mut self) {
        match self {
            Server::Ours { running, .. } => {
                let server = running.take().unwrap();
                server.stop();
            }
            Server::Reference(server) => server.stop(StopSignal::Interrupt),
        }
    }

    /// Starts it again where it was.
    fn restart(&mut self) {
        match self {
            Server::Ours {
                runtime,
                shards,
                files,
                addr,
                running,
                ..
            } => {
                let options = our_options(files, *shards);
                *running = Some(TestServer::start_at(*runtime, options, *addr));
            }
            Server::Reference(server) => server.start(),
        }
    }

    /// The undelivered messages it saved at its last stop, one line each.
    fn saved_messages(&self) -> String {
        let path = match self {
            Server::Ours { files, .. } => files.messages.clone().unwrap(),
            Server::Reference(server) => server.log_dir().join("smp-server-messages.log"),
        };
        std::fs::read_to_string(path).unwrap()
    }
}

fn our_options(files: &DataFiles, shards: u16) -> Options {
    Options {
        files: files.clone(),
        shards,
        ..Options::default()
    }
}

fn talk_across_restarts(programs: &Programs, mut server: Server) {
    let dir = tempfile::tempdir().unwrap();
    let address = server.address();

    let agent_a = ReferenceAgent::start(programs, &dir.path().join("agent-a"), &address).unwrap();
    let mut agent_b =
        ReferenceAgent::start(programs, &dir.path().join("agent-b"), &address).unwrap();
    let mut a = Party::new("A", agent_a.client(1, T).unwrap());
    let mut b = Party::new("B", agent_b.client(2, T).unwrap());

    connect(&mut a, &mut b, &address);

    // Both ways. The handshake used ids 1-3 of each side's sequence, so the first message each
    // side sees is 4; the sender's own count of sent messages (S=) starts at 3.
    assert_eq!(b.send(b"hello alice"), 4);
    assert_eq!(a.receive(T), b"hello alice");
    assert_eq!((a.last_received, a.last_peer_sent), (Some(4), Some(3)));
    assert_eq!(a.send(b"hello bob"), 5);
    assert_eq!(b.receive(T), b"hello bob");
    assert_eq!((b.last_received, b.last_peer_sent), (Some(5), Some(3)));
    let largest_from_a = body_of(LARGEST_BODY, 1);
    let largest_from_b = body_of(LARGEST_BODY, 2);
    a.send(&largest_from_a);
    b.send(&largest_from_b);
    assert_eq!(b.receive(T), largest_from_a);
    assert_eq!(a.receive(T), largest_from_b);

    // Restart 1: the server stops gracefully while both agents stay up. A has seen a message
    // and not acknowledged it, and it is still the last message of A's connection: the server
    // keeps it and, once A's agent has resubscribed, hands it over again; the agent passes it
    // on with the same ids, and one ACK settles it. Only B sends while the server is down.
    b.send(b"seen, not acknowledged");
    let unacknowledged = a.receive_without_ack(T);
    server.stop();
    a.server_event("DOWN", &address, T);
    b.server_event("DOWN", &address, T);
    let down_b: &[u8] = b"B, while down";
    let corr_b = b.send_unanswered(&[down_b]);
    server.restart();
    // The agents reconnect and resubscribe by themselves: UP lists the connections.
    a.server_event("UP", &address, RECONNECT);
    b.server_event("UP", &address, RECONNECT);
    b.answered(&corr_b);
    a.receive_again(&unacknowledged, RECONNECT);
    assert_eq!(a.receive(RECONNECT), down_b);

    // Restart 2: the same, but A has sent a message since the one it has not acknowledged: the
    // agent then reports the message handed over again as `ERR AGENT A_DUPLICATE` and settles
    // it with the server itself (a reference agent's way, with its own server too). A sends
    // while the server is down.
    b.send(b"seen, not acknowledged, answered");
    a.receive_without_ack(T);
    a.send(b"the answer");
    assert_eq!(b.receive(T), b"the answer");
    server.stop();
    a.server_event("DOWN", &address, T);
    b.server_event("DOWN", &address, T);
    let down_a: [&[u8]; 2] = [b"A, while down", b"A, while down, again"];
    let corr_a = a.send_unanswered(&down_a);
    server.restart();
    a.server_event("UP", &address, RECONNECT);
    b.server_event("UP", &address, RECONNECT);
    a.answered(&corr_a);
    for body in down_a {
        assert_eq!(b.receive(RECONNECT), body);
    }
    let a_conn = a.conn.clone();
    let duplicate = a
        .client
        .wait_for(RECONNECT, |r| r.conn_id == a_conn && r.tag() == "ERR")
        .unwrap();
    assert_eq!(duplicate.corr_id, "", "an event: {duplicate:?}");
    assert_eq!(duplicate.command, "ERR AGENT A_DUPLICATE");
    b.send(b"after the restarts");
    assert_eq!(a.receive(T), b"after the restarts");
    a.send(b"and back");
    assert_eq!(b.receive(T), b"and back");

    // Restart 3: B's agent is down; A's messages wait on our server, which stops (saving them)
    // and starts again from its files before B's agent comes back.
    agent_b.kill();
    drop(b.client);
    let waiting = [body_of(100, 3), body_of(LARGEST_BODY, 4), b"third".to_vec()];
    for body in &waiting {
        a.send(body);
    }
    server.stop();
    let saved = server.saved_messages();
    assert_eq!(
        saved.lines().count(),
        waiting.len(),
        "undelivered messages saved"
    );
    a.server_event("DOWN", &address, T);
    server.restart();
    a.server_event("UP", &address, RECONNECT);
    let agent_b = ReferenceAgent::start(programs, &dir.path().join("agent-b"), &address).unwrap();
    b.client = agent_b.client(3, T).unwrap();
    // A new client session subscribes itself (the restarted agent does not).
    let sub = b.command("SUB", None);
    assert_eq!(sub.tag(), "OK", "{sub:?}");
    for body in &waiting {
        assert_eq!(&b.receive(RECONNECT), body);
    }
    b.send(b"back again");
    assert_eq!(a.receive(T), b"back again");

    // Nothing arrived twice or out of turn.
    a.assert_no_more_messages(Duration::from_secs(1));
    b.assert_no_more_messages(Duration::from_secs(1));
    assert_eq!(a.received.len(), 7);
    assert_eq!(b.received.len(), 6 + waiting.len());
    a.assert_ids_without_gaps();
    b.assert_ids_without_gaps();

    // OFF: A's queue is suspended, so B's next message is refused by the server.
    let off = a.command("OFF", None);
    assert_eq!(off.tag(), "OK", "{off:?}");
    let refused = b.submit(b"after OFF");
    let b_conn = b.conn.clone();
    let want = refused.to_string();
    let merr = b
        .client
        .wait_for(T, |r| {
            r.conn_id == b_conn
                && matches!(r.tag(), "SENT" | "MERR")
                && r.args().first() == Some(&want.as_str())
        })
        .unwrap();
    assert_eq!(merr.command, format!("MERR {refused} SMP AUTH"), "{merr:?}");

    // DEL on both sides.
    for party in [&mut a, &mut b] {
        let deleted = party.command("DEL", None);
        assert_eq!(deleted.tag(), "OK", "{}: {deleted:?}", party.name);
    }
    a.assert_no_more_messages(Duration::from_millis(500));
    server.stop();
}
