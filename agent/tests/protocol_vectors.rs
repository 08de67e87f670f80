//! The agent's wire formats against `spec/vectors/reference/agent.json` (produced by running the
//! reference simplexmq v3.2.0 library; see that folder's README): every case is built or read
//! here and must give the reference's bytes back exactly.

// Helpers outside #[test] functions fail loudly on malformed vectors, as tests should.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::Value;
use simplex_agent::protocol::{
    AMessage, AgentEnvelope, AgentMessage, ConnReqScheme, ConnectionRequest, SmpQueueAddress,
    SmpQueueInfo, SmpQueueUri,
};
use simplex_core::address::{ServerAddress, TransportHost};
use simplex_core::crypto::keys::DhPublicKey;
use simplex_core::crypto::x25519;
use simplex_core::encoding::string::{StrDecode, StrEncode};
use simplex_core::encoding::{Decode, Encode, Reader, VersionRange};
use simplex_core::protocol::EntityId;
use simplex_core::ratchet::params::E2eRatchetParams;

fn vectors(file: &str) -> Vec<Value> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../spec/vectors/reference")
        .join(file);
    let text = std::fs::read_to_string(&path).expect("read vectors");
    let json: Value = serde_json::from_str(&text).expect("vectors are JSON");
    json["cases"].as_array().expect("cases").clone()
}

fn case(file: &str, name: &str) -> Value {
    vectors(file)
        .into_iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no case {name}"))
}

fn hex_of(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().expect("hex string")).expect("hex")
}

fn text_of(v: &Value) -> Vec<u8> {
    v.as_str().expect("text").as_bytes().to_vec()
}

fn versions(v: &Value) -> VersionRange {
    let pair = v.as_array().expect("version pair");
    let (min, max) = (pair[0].as_u64().unwrap(), pair[1].as_u64().unwrap());
    VersionRange::new(min as u16, max as u16).expect("range")
}

fn dh_key(der_hex: &Value) -> x25519::PublicKey {
    match DhPublicKey::from_der(&hex_of(der_hex)).expect("DH key") {
        DhPublicKey::X25519(key) => key,
        other => panic!("not X25519: {other:?}"),
    }
}

fn address(inputs: &Value) -> SmpQueueAddress {
    let server = ServerAddress::str_decode(&text_of(&inputs["server"])).expect("server");
    assert_eq!(
        server.key_hash.as_bytes(),
        &hex_of(&inputs["server_keyhash_hex"])[..]
    );
    SmpQueueAddress {
        server,
        sender_id: EntityId::new(hex_of(&inputs["sender_id_hex"])).expect("id"),
        dh_public: dh_key(&inputs["dh_public_der_hex"]),
    }
}

fn queue_uri(name: &str) -> SmpQueueUri {
    let c = case("agent.json", name);
    SmpQueueUri {
        client_versions: versions(&c["inputs"]["client_version_range"]),
        address: address(&c["inputs"]),
    }
}

#[test]
fn queue_uris_are_written_and_read_as_the_reference_does() {
    for name in [
        "queue_uri_v1_2_two_hosts",
        "queue_uri_v2_2_two_hosts",
        "queue_uri_v1_2_ipv4_no_port",
    ] {
        let c = case("agent.json", name);
        let uri = queue_uri(name);
        let expected = text_of(&c["outputs"]["uri_text"]);
        assert_eq!(hex_of(&c["outputs"]["uri_hex"]), expected, "{name}");
        assert_eq!(
            String::from_utf8_lossy(&uri.to_str_bytes()),
            String::from_utf8_lossy(&expected),
            "{name}"
        );
        assert_eq!(
            SmpQueueUri::str_decode(&expected).expect(name),
            uri,
            "{name}"
        );
    }
}

#[test]
fn a_single_host_preset_server_gains_its_onion_host() {
    let mut uri = queue_uri("queue_uri_v1_2_ipv4_no_port");
    uri.client_versions = VersionRange::single(1);
    uri.address.server.hosts =
        simplex_core::encoding::NonEmpty::one(TransportHost::Domain("smp5.simplex.im".into()));
    let read = SmpQueueUri::str_decode(&uri.to_str_bytes()).expect("read back");
    let hosts = read.address.server.hosts.as_slice();
    assert_eq!(hosts.len(), 2);
    assert!(hosts[1].is_onion());
}

#[test]
fn queue_infos_match_at_both_versions() {
    for (name, uri_case) in [
        ("queue_info_v2", "queue_uri_v2_2_two_hosts"),
        ("queue_info_v1_legacy", "queue_uri_v1_2_ipv4_no_port"),
    ] {
        let c = case("agent.json", name);
        let version = c["inputs"]["client_version"].as_u64().unwrap() as u16;
        let info = SmpQueueInfo {
            client_version: version,
            address: address(&c["inputs"]),
        };
        assert_eq!(info.address, queue_uri(uri_case).address);
        let expected = hex_of(&c["outputs"]["encoded_hex"]);
        assert_eq!(
            hex::encode(info.to_bytes()),
            hex::encode(&expected),
            "{name}"
        );
        let mut r = Reader::from_slice(&expected);
        assert_eq!(SmpQueueInfo::decode(&mut r).expect(name), info);
        assert!(r.is_empty());
    }
}

fn e2e_params(name: &str) -> E2eRatchetParams {
    let c = case("ratchet.json", name);
    let bytes = hex_of(&c["outputs"]["smp_encoded_hex"]);
    E2eRatchetParams::decode(&mut Reader::from_slice(&bytes)).expect("params")
}

#[test]
fn connection_requests_round_trip_and_hold_the_expected_queues() {
    let v1_2_two_hosts = queue_uri("queue_uri_v1_2_two_hosts");
    let ipv4 = queue_uri("queue_uri_v1_2_ipv4_no_port");
    let alice = e2e_params("e2e_params_alice");
    for (name, scheme, queues) in [
        (
            "conn_req_invitation_simplex_scheme",
            ConnReqScheme::Simplex,
            vec![v1_2_two_hosts.clone()],
        ),
        (
            "conn_req_invitation_https_simplex_chat",
            ConnReqScheme::simplex_chat(),
            vec![v1_2_two_hosts.clone()],
        ),
        (
            "conn_req_invitation_https_custom_port_two_queues",
            ConnReqScheme::Simplex,
            vec![],
        ),
        (
            "conn_req_contact_simplex_scheme",
            ConnReqScheme::Simplex,
            vec![v1_2_two_hosts.clone()],
        ),
        (
            "conn_req_contact_https_simplex_chat_two_queues",
            ConnReqScheme::simplex_chat(),
            vec![v1_2_two_hosts.clone(), ipv4.clone()],
        ),
    ] {
        let c = case("agent.json", name);
        let text = text_of(&c["outputs"]["uri_text"]);
        assert_eq!(hex_of(&c["outputs"]["uri_hex"]), text);
        let req = ConnectionRequest::str_decode(&text).expect(name);
        assert_eq!(
            String::from_utf8_lossy(&req.to_str_bytes()),
            String::from_utf8_lossy(&text),
            "{name}"
        );
        let data = req.data();
        assert_eq!(
            data.agent_versions,
            versions(&c["inputs"]["agent_version_range"])
        );
        let mode = c["inputs"]["mode"].as_str().unwrap();
        match (&req, mode) {
            (ConnectionRequest::Invitation { e2e, .. }, "invitation") => {
                assert_eq!(e2e.key1, alice.key1);
                assert_eq!(e2e.key2, alice.key2);
            }
            (ConnectionRequest::Contact { .. }, "contact") => {}
            _ => panic!("{name}: wrong mode"),
        }
        if !queues.is_empty() {
            assert_eq!(data.scheme, scheme, "{name}");
            assert_eq!(data.queues.as_slice(), &queues[..], "{name}");
        }
    }
    let custom = ConnectionRequest::str_decode(&text_of(
        &case(
            "agent.json",
            "conn_req_invitation_https_custom_port_two_queues",
        )["outputs"]["uri_text"],
    ))
    .unwrap();
    match &custom.data().scheme {
        ConnReqScheme::AppServer(location) => {
            assert_eq!(
                (location.host.as_str(), location.port.as_str()),
                ("example.com", "8443")
            )
        }
        other => panic!("scheme {other:?}"),
    }
    assert_eq!(custom.data().queues.as_slice().len(), 2);
}

#[test]
fn a_queue_with_several_hosts_in_its_authority_is_read_although_the_reference_cannot() {
    let c = case(
        "agent.json",
        "conn_req_contact_v2_queue_two_hosts_reference_cannot_parse",
    );
    assert_eq!(c["outputs"]["reference_parses_it"], false);
    let text = text_of(&c["outputs"]["uri_text"]);
    let req = ConnectionRequest::str_decode(&text).expect("we read it");
    let queues = req.data().queues.as_slice();
    assert_eq!(queues.len(), 1);
    assert_eq!(queues[0], queue_uri("queue_uri_v2_2_two_hosts"));
    assert_eq!(req.to_str_bytes(), text);
}

fn message_case(name: &str) -> (Vec<u8>, AgentMessage) {
    let bytes = hex_of(&case("agent.json", name)["outputs"]["encoded_hex"]);
    let message = AgentMessage::decode(&mut Reader::from_slice(&bytes)).expect(name);
    assert_eq!(
        hex::encode(message.to_bytes()),
        hex::encode(&bytes),
        "{name}"
    );
    (bytes, message)
}

#[test]
fn agent_messages_match_byte_for_byte() {
    let info = SmpQueueInfo {
        client_version: 2,
        address: queue_uri("queue_uri_v2_2_two_hosts").address,
    };
    let (_, m) = message_case("agent_message_conn_info");
    assert_eq!(m, AgentMessage::ConnInfo(r#"{"profile":"alice"}"#.into()));
    let (_, m) = message_case("agent_message_conn_info_reply");
    match m {
        AgentMessage::ConnInfoReply {
            reply_queues,
            conn_info,
        } => {
            assert_eq!(reply_queues.as_slice(), std::slice::from_ref(&info));
            assert_eq!(&conn_info[..], br#"{"profile":"bob"}"#);
        }
        other => panic!("{other:?}"),
    }
    let expect = [
        ("agent_message_hello", 1, 0, None),
        ("agent_message_reply", 2, 32, None),
        ("agent_message_a_msg", 3, 32, Some(&b"hello from alice"[..])),
        ("agent_message_a_msg_empty", 4, 32, Some(&b""[..])),
    ];
    for (name, id, hash_len, body) in expect {
        let (_, m) = message_case(name);
        let AgentMessage::Message { header, message } = m else {
            panic!("{name}: not a numbered message")
        };
        assert_eq!(header.snd_msg_id, id, "{name}");
        assert_eq!(header.prev_msg_hash.as_bytes().len(), hash_len, "{name}");
        match (message, body) {
            (AMessage::Hello, None) if name.ends_with("hello") => {}
            (AMessage::Reply(queues), None) => {
                assert_eq!(queues.as_slice(), std::slice::from_ref(&info))
            }
            (AMessage::UserMessage(got), Some(want)) => assert_eq!(&got[..], want, "{name}"),
            (other, _) => panic!("{name}: {other:?}"),
        }
    }
}

fn envelope_case(name: &str) -> AgentEnvelope {
    let bytes = hex_of(&case("agent.json", name)["outputs"]["encoded_hex"]);
    let envelope = AgentEnvelope::decode(&mut Reader::from_slice(&bytes)).expect(name);
    assert_eq!(
        hex::encode(envelope.to_bytes().expect(name)),
        hex::encode(&bytes),
        "{name}"
    );
    envelope
}

#[test]
fn agent_envelopes_match_byte_for_byte() {
    match envelope_case("agent_envelope_confirmation_with_e2e") {
        AgentEnvelope::Confirmation {
            agent_version,
            e2e,
            enc_conn_info,
        } => {
            assert_eq!(agent_version, 2);
            assert_eq!(e2e, Some(e2e_params("e2e_params_bob")));
            assert_eq!(&enc_conn_info[..], b"<ratchet-encrypted conn info>");
        }
        other => panic!("{other:?}"),
    }
    match envelope_case("agent_envelope_confirmation_no_e2e") {
        AgentEnvelope::Confirmation {
            agent_version, e2e, ..
        } => assert_eq!((agent_version, e2e), (1, None)),
        other => panic!("{other:?}"),
    }
    match envelope_case("agent_envelope_msg_envelope") {
        AgentEnvelope::Message {
            enc_agent_message, ..
        } => assert_eq!(&enc_agent_message[..], b"<ratchet-encrypted agent message>"),
        other => panic!("{other:?}"),
    }
    let link = ConnectionRequest::str_decode(&text_of(
        &case("agent.json", "conn_req_invitation_https_simplex_chat")["outputs"]["uri_text"],
    ))
    .unwrap();
    match envelope_case("agent_envelope_invitation") {
        AgentEnvelope::Invitation {
            conn_req,
            conn_info,
            ..
        } => {
            assert_eq!(conn_req, link);
            assert_eq!(&conn_info[..], br#"{"profile":"bob"}"#);
        }
        other => panic!("{other:?}"),
    }
}
