//! Round trips of every command and event of the agent's TCP protocol over generated values:
//! what our encoder writes, our decoder reads back as the same transmission, whole or in any
//! chunks; and arbitrary bytes never make the decoder panic or keep more than its bounds.

// Helpers outside #[test] functions fail loudly on malformed values, as tests should.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;
use simplex_agent::command::{
    transmission_bytes, AgentResponse, ClientCommand, Decoded, Decoder, Transmission, WireCommand,
    WriteCommand, MAX_BODY,
};
use simplex_agent::error::{
    AgentErrorType, BrokerErrorType, CommandErrorType, ConnectionErrorType, HandshakeError,
    SmpAgentError, TransportError,
};
use simplex_agent::meta::{ConnectionStats, MsgErrorType, MsgIntegrity, MsgMeta};
use simplex_agent::protocol::{
    ConnReqData, ConnReqScheme, ConnectionMode, ConnectionRequest, SmpQueueAddress, SmpQueueUri,
};
use simplex_core::address::{Scheme, ServerAddress, ServiceLocation, TransportHost};
use simplex_core::crypto::hash::KeyHash;
use simplex_core::crypto::{x25519, x448};
use simplex_core::encoding::{NonEmpty, UtcTime, VersionRange};
use simplex_core::protocol::{CommandError, EntityId, ErrorType, MsgFlags};
use simplex_core::ratchet::params::E2eRatchetParamsUri;

fn host() -> impl Strategy<Value = TransportHost> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(TransportHost::Ipv4),
        "[a-z][a-z0-9]{0,10}(\\.[a-z][a-z0-9]{0,10}){1,2}"
            .prop_filter("an onion name reads as an onion host", |d| !d
                .ends_with(".onion"))
            .prop_map(TransportHost::Domain),
        "[a-z2-7]{56}".prop_map(|name| TransportHost::Onion(format!("{name}.onion"))),
    ]
}

fn server() -> impl Strategy<Value = ServerAddress> {
    (
        prop::collection::vec(host(), 1..3),
        prop_oneof![Just(String::new()), (1u16..).prop_map(|p| p.to_string())],
        any::<[u8; 32]>(),
    )
        .prop_map(|(hosts, port, hash)| ServerAddress {
            scheme: Scheme::Smp,
            hosts: NonEmpty::new(hosts).unwrap(),
            port,
            key_hash: KeyHash::from_bytes(hash),
        })
}

fn versions() -> impl Strategy<Value = VersionRange> {
    (1u16..4, 0u16..3).prop_map(|(min, extra)| VersionRange::new(min, min + extra).unwrap())
}

fn queue_uri() -> impl Strategy<Value = SmpQueueUri> {
    (
        versions(),
        server(),
        prop::collection::vec(any::<u8>(), 1..32),
        any::<[u8; 32]>(),
    )
        .prop_map(|(client_versions, server, id, seed)| SmpQueueUri {
            client_versions,
            address: SmpQueueAddress {
                server,
                sender_id: EntityId::new(id).unwrap(),
                dh_public: x25519::PrivateKey::from_bytes(&seed).public_key(),
            },
        })
}

fn x448_key(seed: [u8; 32]) -> x448::PublicKey {
    let mut bytes = [0u8; 56];
    bytes[..32].copy_from_slice(&seed);
    x448::PrivateKey::from_bytes(&bytes).public_key()
}

fn conn_request() -> impl Strategy<Value = ConnectionRequest> {
    let scheme = prop_oneof![
        Just(ConnReqScheme::Simplex),
        Just(ConnReqScheme::simplex_chat()),
        ("[a-z]{1,8}\\.[a-z]{2,4}", 1u16..).prop_map(|(host, port)| {
            ConnReqScheme::AppServer(ServiceLocation {
                host,
                port: port.to_string(),
            })
        }),
    ];
    (
        scheme,
        versions(),
        prop::collection::vec(queue_uri(), 1..3),
        any::<Option<([u8; 32], [u8; 32])>>(),
    )
        .prop_map(|(scheme, agent_versions, queues, keys)| {
            let data = ConnReqData {
                scheme,
                agent_versions,
                queues: NonEmpty::new(queues).unwrap(),
            };
            match keys {
                Some((a, b)) => ConnectionRequest::Invitation {
                    data,
                    e2e: E2eRatchetParamsUri {
                        versions: VersionRange::single(1),
                        key1: x448_key(a),
                        key2: x448_key(b),
                    },
                },
                None => ConnectionRequest::Contact { data },
            }
        })
}

fn smp_error() -> impl Strategy<Value = ErrorType> {
    let cmd = prop::sample::select(vec![
        CommandError::Unknown,
        CommandError::Syntax,
        CommandError::Prohibited,
        CommandError::NoAuth,
        CommandError::HasAuth,
        CommandError::NoEntity,
    ]);
    prop_oneof![
        prop::sample::select(vec![
            ErrorType::Block,
            ErrorType::Session,
            ErrorType::Auth,
            ErrorType::Quota,
            ErrorType::NoMsg,
            ErrorType::LargeMsg,
            ErrorType::Internal,
            ErrorType::Duplicate,
        ]),
        cmd.prop_map(ErrorType::Cmd),
    ]
}

fn agent_error() -> impl Strategy<Value = AgentErrorType> {
    let transport = prop_oneof![
        prop::sample::select(vec![
            TransportError::BadBlock,
            TransportError::LargeMsg,
            TransportError::BadSession,
        ]),
        prop::sample::select(HandshakeError::ALL).prop_map(TransportError::Handshake),
    ];
    let broker = prop_oneof![
        smp_error().prop_map(BrokerErrorType::Response),
        transport.prop_map(BrokerErrorType::Transport),
        prop::sample::select(vec![
            BrokerErrorType::Unexpected,
            BrokerErrorType::Network,
            BrokerErrorType::Host,
            BrokerErrorType::Timeout,
        ]),
    ];
    prop_oneof![
        prop::sample::select(CommandErrorType::ALL).prop_map(AgentErrorType::Cmd),
        prop::sample::select(ConnectionErrorType::ALL).prop_map(AgentErrorType::Conn),
        smp_error().prop_map(AgentErrorType::Smp),
        smp_error().prop_map(AgentErrorType::Ntf),
        broker.prop_map(AgentErrorType::Broker),
        prop::sample::select(SmpAgentError::ALL).prop_map(AgentErrorType::Agent),
        any::<String>().prop_map(AgentErrorType::Internal),
    ]
}

fn integrity() -> impl Strategy<Value = MsgIntegrity> {
    let id = 0..i64::MAX;
    prop_oneof![
        Just(MsgIntegrity::Ok),
        (id.clone(), id.clone())
            .prop_map(|(from, to)| MsgIntegrity::Error(MsgErrorType::Skipped { from, to })),
        id.prop_map(|i| MsgIntegrity::Error(MsgErrorType::BadId(i))),
        Just(MsgIntegrity::Error(MsgErrorType::BadHash)),
        Just(MsgIntegrity::Error(MsgErrorType::Duplicate)),
    ]
}

/// Times from 1970 to 9999 in whole milliseconds, the precision `MSG` carries.
fn millis_time() -> impl Strategy<Value = UtcTime> {
    (0i64..253_402_300_800, 0u32..1000).prop_map(|(seconds, millis)| UtcTime {
        seconds,
        nanoseconds: millis * 1_000_000,
    })
}

fn meta() -> impl Strategy<Value = MsgMeta> {
    (
        integrity(),
        0..i64::MAX,
        millis_time(),
        prop::collection::vec(any::<u8>(), 1..32),
        millis_time(),
        0..i64::MAX,
    )
        .prop_map(
            |(integrity, rcv_id, rcv_time, broker_id, broker_time, snd_id)| MsgMeta {
                integrity,
                rcv_id,
                rcv_time,
                broker_id,
                broker_time,
                snd_id,
            },
        )
}

/// Bytes for an id line: anything but a line feed (a CR at the end included).
fn line_id(min: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        any::<u8>().prop_filter("no line feed", |b| *b != b'\n'),
        min..12,
    )
}

/// A confirmation or invitation id: no spaces or line breaks either.
fn raw_id() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        any::<u8>().prop_filter("no space or line feed", |b| !b" \n".contains(b)),
        0..24,
    )
}

/// A body, line ends and all; now and then one of the largest.
fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        8 => prop::collection::vec(any::<u8>(), 0..64),
        1 => prop::collection::vec(prop::sample::select(b"\r\n x".to_vec()), 0..16),
        1 => Just(vec![b'\n'; MAX_BODY]),
    ]
}

fn flags() -> impl Strategy<Value = MsgFlags> {
    any::<bool>().prop_map(|notification| MsgFlags { notification })
}

fn msg_id() -> impl Strategy<Value = i64> {
    0..i64::MAX
}

fn client_command() -> impl Strategy<Value = ClientCommand> {
    prop_oneof![
        prop::sample::select(vec![ConnectionMode::Invitation, ConnectionMode::Contact])
            .prop_map(ClientCommand::New),
        (conn_request(), body()).prop_map(|(request, info)| ClientCommand::Join { request, info }),
        (raw_id(), body()).prop_map(|(confirmation_id, info)| ClientCommand::Let {
            confirmation_id,
            info
        }),
        (raw_id(), body()).prop_map(|(invitation_id, info)| ClientCommand::Accept {
            invitation_id,
            info
        }),
        raw_id().prop_map(|invitation_id| ClientCommand::Reject { invitation_id }),
        Just(ClientCommand::Subscribe),
        (flags(), body()).prop_map(|(flags, body)| ClientCommand::Send { flags, body }),
        msg_id().prop_map(ClientCommand::Ack),
        Just(ClientCommand::Suspend),
        Just(ClientCommand::Delete),
        Just(ClientCommand::Check),
    ]
}

fn connections() -> impl Strategy<Value = Vec<Vec<u8>>> {
    prop::collection::vec(prop::collection::vec(any::<u8>(), 1..24), 0..4)
}

fn protocol() -> impl Strategy<Value = Scheme> {
    prop::sample::select(vec![Scheme::Smp, Scheme::Ntf])
}

fn agent_response() -> impl Strategy<Value = AgentResponse> {
    prop_oneof![
        conn_request().prop_map(AgentResponse::Invitation),
        (raw_id(), prop::collection::vec(server(), 0..3), body()).prop_map(
            |(confirmation_id, servers, info)| AgentResponse::Confirmation {
                confirmation_id,
                servers,
                info
            }
        ),
        (raw_id(), prop::collection::vec(server(), 1..3), body()).prop_map(
            |(invitation_id, servers, info)| AgentResponse::Request {
                invitation_id,
                servers: NonEmpty::new(servers).unwrap(),
                info
            }
        ),
        body().prop_map(AgentResponse::Info),
        Just(AgentResponse::Connected),
        Just(AgentResponse::End),
        (protocol(), host()).prop_map(|(protocol, host)| AgentResponse::Connect { protocol, host }),
        (protocol(), host())
            .prop_map(|(protocol, host)| AgentResponse::Disconnect { protocol, host }),
        (server(), connections()).prop_map(|(server, connections)| AgentResponse::Down {
            server,
            connections
        }),
        (server(), connections()).prop_map(|(server, connections)| AgentResponse::Up {
            server,
            connections
        }),
        msg_id().prop_map(AgentResponse::MsgId),
        msg_id().prop_map(AgentResponse::Sent),
        (msg_id(), agent_error()).prop_map(|(id, error)| AgentResponse::MsgError { id, error }),
        (meta(), flags(), body()).prop_map(|(meta, flags, body)| AgentResponse::Message {
            meta,
            flags,
            body
        }),
        (
            prop::collection::vec(server(), 0..3),
            prop::collection::vec(server(), 0..3)
        )
            .prop_map(
                |(rcv_servers, snd_servers)| AgentResponse::Stat(ConnectionStats {
                    rcv_servers,
                    snd_servers
                })
            ),
        Just(AgentResponse::Ok),
        agent_error().prop_map(AgentResponse::Err),
        Just(AgentResponse::Suspended),
    ]
}

fn transmission<C: std::fmt::Debug>(
    command: impl Strategy<Value = C>,
) -> impl Strategy<Value = Transmission<C>> {
    (line_id(0), line_id(1), command).prop_map(|(corr_id, conn_id, command)| Transmission {
        corr_id,
        conn_id,
        command,
    })
}

/// Encodes `transmissions` as one stream, decodes it whole and cut at `cuts`, and checks both
/// give the transmissions back.
fn round_trip<C>(
    transmissions: &[Transmission<C>],
    cuts: &[prop::sample::Index],
) -> Result<(), TestCaseError>
where
    C: WireCommand + WriteCommand + PartialEq + std::fmt::Debug + Clone,
{
    let mut stream = Vec::new();
    for t in transmissions {
        stream.extend(transmission_bytes(t).unwrap());
    }
    let expected: Vec<Decoded<C>> = transmissions.iter().cloned().map(Ok).collect();
    prop_assert_eq!(&Decoder::<C>::new().feed_all(&stream), &expected);
    let mut points: Vec<usize> = cuts.iter().map(|i| i.index(stream.len() + 1)).collect();
    points.sort_unstable();
    let mut decoder = Decoder::<C>::new();
    let mut decoded = Vec::new();
    let mut start = 0;
    for point in points.into_iter().chain([stream.len()]) {
        decoded.extend(decoder.feed_all(&stream[start..point]));
        start = point;
    }
    prop_assert_eq!(decoded, expected);
    prop_assert!(!decoder.in_progress());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn client_commands_round_trip(
        transmissions in prop::collection::vec(transmission(client_command()), 1..4),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..6),
    ) {
        round_trip(&transmissions, &cuts)?;
    }

    #[test]
    fn agent_responses_round_trip(
        transmissions in prop::collection::vec(transmission(agent_response()), 1..4),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..6),
    ) {
        round_trip(&transmissions, &cuts)?;
    }

    #[test]
    fn each_side_refuses_the_others_commands(
        client in transmission(client_command()),
        agent in transmission(agent_response()),
    ) {
        let decoded = Decoder::<AgentResponse>::new().feed_all(&transmission_bytes(&client).unwrap());
        prop_assert_eq!(decoded.len(), 1);
        prop_assert_eq!(decoded[0].as_ref().unwrap_err().error, CommandErrorType::Prohibited);
        let decoded = Decoder::<ClientCommand>::new().feed_all(&transmission_bytes(&agent).unwrap());
        prop_assert_eq!(decoded.len(), 1);
        prop_assert_eq!(decoded[0].as_ref().unwrap_err().error, CommandErrorType::Prohibited);
    }

    #[test]
    fn arbitrary_bytes_never_panic(
        chunks in prop::collection::vec(prop::collection::vec(
            prop::sample::select(b"\r\n :0123456789SENDFTOKCMGACJIVLPR".to_vec()), 0..64), 0..8),
    ) {
        let mut decoder = Decoder::<ClientCommand>::new();
        let mut agent_side = Decoder::<AgentResponse>::new();
        for chunk in &chunks {
            for decoded in decoder.feed_all(chunk) {
                if let Err(rejected) = decoded {
                    // Every refusal has an answer the agent can write.
                    transmission_bytes(&rejected.answer()).unwrap();
                }
            }
            agent_side.feed_all(chunk);
        }
    }
}
