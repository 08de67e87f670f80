//! Our client runtime (the connection manager on a shell, `simplex_agent_cli::client_runtime`)
//! as the tests over real sockets drive it, against our server or the reference one: a client
//! that reconnects quickly, queues made and given a notifier, the next message awaited, and what
//! a subscriber saw of a stream of messages across a server restart.

#![allow(clippy::panic, clippy::expect_used)]

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rand_chacha::ChaCha20Rng;
use simplex_agent_cli::client_runtime::{ClientRuntime, Runtime as ClientShell, RuntimeConfig};
use simplex_core::address::ServerAddress;
use simplex_core::client::{
    body_key, generate_sign_key, ClientConfig, ManagerConfig, ManagerEvent, QueueSubscription,
    ReceivedMessage, RecipientKeys, Reply, Request, RetryInterval, SignAlgorithm, SubParty,
};
use simplex_core::crypto::cbox::CbKey;
use simplex_core::crypto::x25519;
use simplex_core::encoding::VersionRange;
use simplex_core::protocol::{Command, EntityId, MsgId};

use crate::client_queue::Queue;

/// How often the waits here look at the clock between events.
const POLL: Duration = Duration::from_millis(200);
/// How long an acknowledgement may take.
const ACK_TIMEOUT: Duration = Duration::from_secs(10);

/// A client on `shell` (its randomness from `seed`) offering `versions`, that comes back
/// within a second after its server restarts (the schedule itself is tested in memory).
///
/// # Panics
/// When the runtime does not start.
pub fn quick_reconnecting_client(
    shell: ClientShell,
    versions: VersionRange,
    seed: u8,
) -> ClientRuntime {
    let mut config = RuntimeConfig::new(shell);
    config.seed = Some([seed; 32]);
    config.manager = ManagerConfig {
        client: ClientConfig {
            version_range: versions,
            ..ClientConfig::default()
        },
        reconnect: RetryInterval {
            initial: Duration::from_millis(200),
            increase_after: Duration::from_secs(5),
            max: Duration::from_secs(1),
        },
        ..ManagerConfig::default()
    };
    ClientRuntime::start(config).expect("the client runtime starts")
}

/// A new queue on `server` with `keys`, made through `c` (which `NEW` subscribes to it).
///
/// # Panics
/// When the request fails or `NEW` answers anything but `IDS`.
pub fn create_queue(
    c: &ClientRuntime,
    server: &ServerAddress,
    keys: RecipientKeys,
    timeout: Duration,
) -> Queue {
    let reply = c
        .request(server, Request::create(&keys), timeout)
        .unwrap_or_else(|e| panic!("NEW failed: {e:?}"));
    Queue::from_ids(keys, reply)
}

/// The next message delivered to `c` for `queue` within `wait` (events for other queues and
/// other events are dropped), or `None`.
pub fn message_within(
    c: &mut ClientRuntime,
    queue: &EntityId,
    wait: Duration,
) -> Option<ReceivedMessage> {
    let until = Instant::now() + wait;
    while Instant::now() < until {
        if let Some(ManagerEvent::Message {
            queue_id, message, ..
        }) = c.next_event(POLL)
        {
            if &queue_id == queue {
                return Some(message.unwrap_or_else(|e| panic!("undecryptable message: {e:?}")));
            }
        }
    }
    None
}

/// As [`message_within`], but a message must come; `context` names the step in the failure.
pub fn next_message(
    c: &mut ClientRuntime,
    queue: &EntityId,
    wait: Duration,
    context: &str,
) -> ReceivedMessage {
    message_within(c, queue, wait).unwrap_or_else(|| panic!("{context}: no message"))
}

/// Fails the test when a message arrives at `c` before it has been quiet for `period`.
pub fn assert_no_more_messages(c: &mut ClientRuntime, period: Duration) {
    while let Some(event) = c.next_event(period) {
        if let ManagerEvent::Message { message: Ok(m), .. } = event {
            panic!("a message after the last one: {:?}", m.body);
        }
    }
}

/// A queue's notifier as `NKEY` made it.
pub struct Notifier {
    /// The notifier id `NID` answered.
    pub id: EntityId,
    /// What `NSUB` needs (the notifier's key).
    pub subscription: QueueSubscription,
    /// Opens the notifications' metadata.
    pub meta_key: CbKey,
}

/// Gives `q` a notifier: a key of `alg` and a DH key drawn from `rng` (in that order), sent
/// with `NKEY` through `c`.
///
/// # Panics
/// When the request fails or `NKEY` answers anything but `NID`.
pub fn enable_notifications(
    c: &ClientRuntime,
    server: &ServerAddress,
    q: &Queue,
    alg: SignAlgorithm,
    rng: &mut ChaCha20Rng,
    timeout: Duration,
) -> Notifier {
    let notifier_key = generate_sign_key(alg, rng);
    let ntf_dh = x25519::PrivateKey::generate(rng);
    let nkey = Request::signed(
        q.recipient_id.clone(),
        &q.keys.sign_key,
        Command::NKey {
            notifier_key: notifier_key.verify_key(),
            dh_key: ntf_dh.public_key(),
        },
    );
    let (id, server_dh) = match c.request(server, nkey, timeout) {
        Ok(Reply::Nid {
            notifier_id,
            server_dh_key,
        }) => (notifier_id, server_dh_key),
        other => panic!("NKEY answered {other:?}"),
    };
    Notifier {
        subscription: QueueSubscription {
            party: SubParty::Notifier,
            queue_id: id.clone(),
            sign_key: notifier_key,
            body_key: None,
        },
        id,
        meta_key: body_key(&ntf_dh, &server_dh).expect("the server's DH key is usable"),
    }
}

/// What a subscriber saw of a stream of messages across a restart: distinct messages in
/// arrival order, and DOWN/UP counts.
#[derive(Default)]
pub struct Seen {
    /// Every message id that arrived.
    pub ids: BTreeSet<MsgId>,
    /// The ids acknowledged.
    pub acked: BTreeSet<MsgId>,
    /// The distinct messages' bodies, in arrival order.
    pub bodies: Vec<Bytes>,
    /// `DOWN` events.
    pub downs: usize,
    /// `UP` events.
    pub ups: usize,
}

impl Seen {
    /// Counts one event, acknowledging each message once (a redelivery after a restart is
    /// acknowledged, not counted again), except the `keep_unacked`-th distinct one, which the
    /// server must then deliver again.
    ///
    /// # Panics
    /// On a message that does not open, or an acknowledgement not answered `OK`.
    pub fn on_event(
        &mut self,
        c: &ClientRuntime,
        server: &ServerAddress,
        q: &Queue,
        event: ManagerEvent,
        keep_unacked: Option<usize>,
    ) {
        match event {
            ManagerEvent::Message { message, .. } => {
                let m = message.unwrap_or_else(|e| panic!("undecryptable message: {e:?}"));
                if self.ids.insert(m.msg_id.clone()) {
                    self.bodies.push(m.body.clone());
                    if keep_unacked == Some(self.bodies.len()) {
                        return;
                    }
                }
                if self.acked.insert(m.msg_id.clone()) {
                    let ack = Request::ack(q.recipient_id.clone(), &q.keys.sign_key, m.msg_id);
                    // The answer may be the next message: it comes as an event too.
                    assert_eq!(c.request(server, ack, ACK_TIMEOUT), Ok(Reply::Ok));
                }
            }
            ManagerEvent::Down { .. } => self.downs += 1,
            ManagerEvent::Up { .. } => self.ups += 1,
            _ => {}
        }
    }

    /// Takes `c`'s events (see [`Seen::on_event`]) until `done`; fails after `wait`, naming
    /// `what`.
    #[allow(clippy::too_many_arguments)]
    pub fn take_until(
        &mut self,
        c: &mut ClientRuntime,
        server: &ServerAddress,
        q: &Queue,
        keep_unacked: Option<usize>,
        wait: Duration,
        what: &str,
        done: impl Fn(&Self) -> bool,
    ) {
        let until = Instant::now() + wait;
        while !done(self) {
            assert!(Instant::now() < until, "{what}: only {:?}", self.bodies);
            if let Some(event) = c.next_event(POLL) {
                self.on_event(c, server, q, event, keep_unacked);
            }
        }
    }
}
