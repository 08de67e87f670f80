//! Unit tests of [`super`]: the message types, the retry schedule, the error table.
use super::*;

#[test]
fn message_types_keep_the_reference_tags() {
    for (t, tag) in [
        (SndMessageType::ConnInfo, b'C'),
        (SndMessageType::ConnInfoReply, b'D'),
        (SndMessageType::Hello, b'H'),
        (SndMessageType::Reply, b'R'),
        (SndMessageType::UserMessage, b'M'),
    ] {
        assert_eq!(t.tag(), tag);
        assert_eq!(SndMessageType::from_tag(tag), Some(t));
    }
    assert_eq!(SndMessageType::from_tag(b'X'), None);
}

#[test]
fn the_reference_retry_schedule() {
    let retry = DeliveryConfig::REFERENCE.retry;
    let mut backoff = Backoff::new(&retry);
    let waits: Vec<u64> = (0..16)
        .map(|_| backoff.next_delay(&retry).as_millis() as u64)
        .collect();
    // 1 s until 10 s have been waited, then half as long again each time, at most 60 s.
    assert_eq!(
        waits,
        [
            1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1500, 2250, 3375,
            5062, 7593
        ]
    );
    let mut long = Backoff::new(&retry);
    let last = (0..40).map(|_| long.next_delay(&retry)).last();
    assert_eq!(last, Some(Duration::from_secs(60)));
}

fn agent() -> Agent {
    use rand_chacha::rand_core::SeedableRng;
    let manager = simplex_core::client::ConnectionManager::new(
        simplex_core::client::ManagerConfig::default(),
        Box::new(rand_chacha::ChaCha20Rng::seed_from_u64(1)),
        Instant::ZERO,
    );
    Agent::new(
        super::super::AgentConfig {
            smp_servers: Vec::new(),
            sign_algorithm: simplex_core::client::SignAlgorithm::Ed25519,
            delivery: DeliveryConfig::REFERENCE,
        },
        crate::store::StoreState::new(),
        manager,
        Box::new(rand_chacha::ChaCha20Rng::seed_from_u64(2)),
        simplex_core::time::Clock::default(),
    )
}

fn fails(v: Verdict) -> Option<AgentEvent> {
    match v {
        Verdict::Retry => None,
        Verdict::Fail(e) => Some(e),
    }
}

/// The reference's table: what each error does to each kind of message, fresh (stored
/// now) and expired (stored more than two days ago).
#[test]
fn errors_map_as_the_reference_maps_them() {
    use SndMessageType as T;
    let agent = agent();
    let conn = ConnectionId(b"c".to_vec());
    let fresh = UnixTime::default();
    let old = UnixTime {
        seconds: -(2 * 86_400) - 1,
        nanoseconds: 0,
    };
    let verdict = |t, at, e: RequestError| fails(agent.verdict(&conn, 7, t, at, e));
    let quota = || RequestError::Protocol(ErrorType::Quota);
    let auth = || RequestError::Protocol(ErrorType::Auth);
    let server = |e: RequestError| CommandError::Server(e);
    // QUOTA: confirmations give up, everything else waits for as long as it takes.
    assert_eq!(
        verdict(T::ConnInfo, fresh, quota()),
        Some(AgentEvent::Err(CommandError::NotAvailable))
    );
    assert_eq!(verdict(T::UserMessage, old, quota()), None);
    assert_eq!(verdict(T::Hello, old, quota()), None);
    // AUTH: permanent; HELLO (v2, sent once) is CONN NOT_ACCEPTED for a party without a
    // receive queue (NOT_AVAILABLE with one).
    assert_eq!(
        verdict(T::ConnInfoReply, fresh, auth()),
        Some(AgentEvent::Err(CommandError::NotAvailable))
    );
    assert_eq!(
        verdict(T::Hello, fresh, auth()),
        Some(AgentEvent::Err(CommandError::NotAccepted))
    );
    assert_eq!(
        verdict(T::UserMessage, fresh, auth()),
        Some(AgentEvent::Merr(7, server(auth())))
    );
    assert_eq!(
        verdict(T::Reply, fresh, auth()),
        Some(AgentEvent::Err(server(auth())))
    );
    // Network, timeout, host: retried until the message expires, then reported with the
    // error (ERR for the reply confirmation, MERR otherwise).
    for e in [
        RequestError::Network,
        RequestError::Timeout,
        RequestError::IncompatibleHost,
    ] {
        for t in [T::ConnInfo, T::Hello, T::UserMessage] {
            assert_eq!(verdict(t, fresh, e.clone()), None);
        }
        assert_eq!(
            verdict(T::ConnInfo, old, e.clone()),
            Some(AgentEvent::Err(server(e.clone())))
        );
        assert_eq!(
            verdict(T::Hello, old, e.clone()),
            Some(AgentEvent::Merr(7, server(e.clone())))
        );
    }
    // Anything else is permanent at once.
    let other = RequestError::Protocol(ErrorType::LargeMsg);
    assert_eq!(
        verdict(T::UserMessage, fresh, other.clone()),
        Some(AgentEvent::Merr(7, server(other)))
    );
}

#[test]
fn hello_and_messages_expire_by_their_own_timeouts() {
    use SndMessageType as T;
    let mut agent = agent();
    agent.config.delivery.hello_timeout = Duration::from_secs(60);
    let conn = ConnectionId(b"c".to_vec());
    let stored = UnixTime {
        seconds: -61,
        nanoseconds: 0,
    };
    let network = RequestError::Network;
    assert!(fails(agent.verdict(&conn, 3, T::Hello, stored, network.clone())).is_some());
    assert!(fails(agent.verdict(&conn, 4, T::UserMessage, stored, network)).is_none());
}

#[test]
fn elapsed_counts_only_forward() {
    let at = |seconds, nanoseconds| UnixTime {
        seconds,
        nanoseconds,
    };
    assert_eq!(
        elapsed(at(10, 500_000_000), at(12, 0)),
        Duration::from_millis(1500)
    );
    assert_eq!(elapsed(at(12, 0), at(10, 0)), Duration::ZERO);
}
