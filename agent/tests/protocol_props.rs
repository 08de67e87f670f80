//! Round trips of every agent wire format over generated values: what we write, we read back
//! as the same value, and reading never panics on arbitrary bytes.

// Helpers outside #[test] functions fail loudly on malformed vectors, as tests should.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;
use simplex_agent::protocol::{
    AMessage, AgentEnvelope, AgentMessage, ConnReqData, ConnReqScheme, ConnectionRequest,
    MsgPrivHeader, SmpQueueAddress, SmpQueueInfo, SmpQueueUri,
};
use simplex_core::address::{Scheme, ServerAddress, ServiceLocation, TransportHost};
use simplex_core::crypto::hash::KeyHash;
use simplex_core::crypto::{x25519, x448};
use simplex_core::encoding::string::{StrDecode, StrEncode};
use simplex_core::encoding::{Decode, Encode, NonEmpty, Reader, ShortBytes, VersionRange};
use simplex_core::protocol::EntityId;
use simplex_core::ratchet::params::{E2eRatchetParams, E2eRatchetParamsUri};

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
        prop::collection::vec(host(), 1..4),
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

fn queue_address() -> impl Strategy<Value = SmpQueueAddress> {
    (
        server(),
        prop::collection::vec(any::<u8>(), 1..32),
        any::<[u8; 32]>(),
    )
        .prop_map(|(server, id, seed)| SmpQueueAddress {
            server,
            sender_id: EntityId::new(id).unwrap(),
            dh_public: x25519::PrivateKey::from_bytes(&seed).public_key(),
        })
}

fn versions() -> impl Strategy<Value = VersionRange> {
    (1u16..4, 0u16..3).prop_map(|(min, extra)| VersionRange::new(min, min + extra).unwrap())
}

fn queue_uri() -> impl Strategy<Value = SmpQueueUri> {
    (versions(), queue_address()).prop_map(|(client_versions, address)| SmpQueueUri {
        client_versions,
        address,
    })
}

fn queue_info() -> impl Strategy<Value = SmpQueueInfo> {
    // A version-1 info carries one host; with more it reads back shorter, by design.
    (1u16..4, queue_address()).prop_map(|(client_version, mut address)| {
        if client_version == 1 {
            address.server.hosts = NonEmpty::one(address.server.hosts.first().clone());
        }
        SmpQueueInfo {
            client_version,
            address,
        }
    })
}

fn x448_key(seed: [u8; 32]) -> x448::PublicKey {
    let mut bytes = [0u8; 56];
    bytes[..32].copy_from_slice(&seed);
    x448::PrivateKey::from_bytes(&bytes).public_key()
}

fn scheme() -> impl Strategy<Value = ConnReqScheme> {
    prop_oneof![
        Just(ConnReqScheme::Simplex),
        Just(ConnReqScheme::simplex_chat()),
        ("[a-z]{1,8}\\.[a-z]{2,4}", 1u16..).prop_map(|(host, port)| {
            ConnReqScheme::AppServer(ServiceLocation {
                host,
                port: port.to_string(),
            })
        }),
    ]
}

fn conn_request() -> impl Strategy<Value = ConnectionRequest> {
    (
        scheme(),
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

fn bytes() -> impl Strategy<Value = bytes::Bytes> {
    prop::collection::vec(any::<u8>(), 0..200).prop_map(bytes::Bytes::from)
}

fn agent_message() -> impl Strategy<Value = AgentMessage> {
    let header = (any::<i64>(), prop::collection::vec(any::<u8>(), 0..=32)).prop_map(
        |(snd_msg_id, hash)| MsgPrivHeader {
            snd_msg_id,
            prev_msg_hash: ShortBytes::new(hash).unwrap(),
        },
    );
    let payload = prop_oneof![
        Just(AMessage::Hello),
        prop::collection::vec(queue_info(), 1..3)
            .prop_map(|q| AMessage::Reply(NonEmpty::new(q).unwrap())),
        bytes().prop_map(AMessage::UserMessage),
    ];
    prop_oneof![
        bytes().prop_map(AgentMessage::ConnInfo),
        (prop::collection::vec(queue_info(), 1..3), bytes()).prop_map(|(q, conn_info)| {
            AgentMessage::ConnInfoReply {
                reply_queues: NonEmpty::new(q).unwrap(),
                conn_info,
            }
        }),
        (header, payload).prop_map(|(header, message)| AgentMessage::Message { header, message }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn queue_uris_read_back(uri in queue_uri()) {
        prop_assert_eq!(SmpQueueUri::str_decode(&uri.to_str_bytes()).unwrap(), uri);
    }

    #[test]
    fn queue_infos_read_back(info in queue_info()) {
        prop_assert_eq!(SmpQueueInfo::decode(&mut Reader::new(info.to_bytes())).unwrap(), info);
    }

    #[test]
    fn connection_requests_read_back(req in conn_request()) {
        prop_assert_eq!(ConnectionRequest::str_decode(&req.to_str_bytes()).unwrap(), req);
    }

    #[test]
    fn agent_messages_read_back(message in agent_message()) {
        let bytes = message.to_bytes();
        prop_assert_eq!(AgentMessage::decode(&mut Reader::new(bytes)).unwrap(), message);
    }

    #[test]
    fn envelopes_read_back(
        version in 1u16..3,
        e2e in any::<Option<([u8; 32], [u8; 32])>>(),
        body in bytes(),
        link in conn_request(),
    ) {
        let e2e = e2e.map(|(a, b)| E2eRatchetParams { version: 1, key1: x448_key(a), key2: x448_key(b) });
        let mut envelopes = vec![
            AgentEnvelope::Confirmation { agent_version: version, e2e, enc_conn_info: body.clone() },
            AgentEnvelope::Message { agent_version: version, enc_agent_message: body.clone() },
        ];
        if matches!(link, ConnectionRequest::Invitation { .. }) {
            envelopes.push(AgentEnvelope::Invitation { agent_version: version, conn_req: link, conn_info: body });
        }
        for envelope in envelopes {
            let bytes = envelope.to_bytes().unwrap();
            prop_assert_eq!(AgentEnvelope::decode(&mut Reader::new(bytes)).unwrap(), envelope);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(input in prop::collection::vec(any::<u8>(), 0..400)) {
        let _ = AgentEnvelope::decode(&mut Reader::from_slice(&input));
        let _ = AgentMessage::decode(&mut Reader::from_slice(&input));
        let _ = SmpQueueInfo::decode(&mut Reader::from_slice(&input));
        let _ = SmpQueueUri::str_decode(&input);
        let _ = ConnectionRequest::str_decode(&input);
    }
}
