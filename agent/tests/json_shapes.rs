//! The JSON the agent's types take, compared with the exact strings the v3.2.0 reference's
//! `ToJSON` instances produce. Each expectation is derived from the instance named beside it
//! and aeson's documented generic encoding under the reference's options:
//!
//! - `sumTypeJSON f` (Parsers.hs) is `taggedObjectJSON f` outside the iOS build: aeson's
//!   `TaggedObject "type" "data"` with `constructorTagModifier = f`, `allNullaryToStringTag =
//!   False` (so even all-unit enums are objects) and `omitNothingFields`. A record
//!   constructor's fields sit beside the tag, in declaration order after it; a unit
//!   constructor is the tag alone.
//! - `J.defaultOptions` on a record: an object of its fields in declaration order.
//! - `strToJSON` / `strToJEncoding`: the JSON string of the `StrEncoding` text.

// Helpers outside #[test] functions fail loudly on malformed values, as tests should.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;
use serde::de::DeserializeOwned;
use serde::Serialize;
use simplex_agent::error::{
    AgentErrorType, BrokerErrorType, CommandErrorType, ConnectionErrorType, HandshakeError,
    SmpAgentError, TransportError,
};
use simplex_agent::meta::{ConnectionStats, MsgErrorType, MsgIntegrity, NotificationsMode};
use simplex_agent::protocol::ConnectionRequest;
use simplex_core::address::ServerAddress;
use simplex_core::encoding::string::{StrDecode, StrEncode};
use simplex_core::protocol::{CommandError, ErrorType};

/// `value` writes exactly `json`, and `json` reads back as `value`.
fn assert_json<T>(value: &T, json: &str)
where
    T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug,
{
    assert_eq!(serde_json::to_string(value).unwrap(), json);
    assert_eq!(&serde_json::from_str::<T>(json).unwrap(), value, "{json}");
}

#[test]
fn agent_errors() {
    use AgentErrorType as A;
    // `ToJSON AgentErrorType`: sumTypeJSON id; record fields cmdErr, connErr, smpErr, ntfErr,
    // brokerErr, agentErr, internalErr. The inner enums (`ToJSON CommandErrorType`,
    // `ConnectionErrorType`, `SMPAgentError`, `BrokerErrorType`, and the SMP `ErrorType` and
    // `CommandError` of Protocol.hs) use sumTypeJSON id too.
    let cases: Vec<(AgentErrorType, &str)> = vec![
        (
            A::Cmd(CommandErrorType::Syntax),
            r#"{"type":"CMD","cmdErr":{"type":"SYNTAX"}}"#,
        ),
        (
            A::Conn(ConnectionErrorType::NotFound),
            r#"{"type":"CONN","connErr":{"type":"NOT_FOUND"}}"#,
        ),
        (
            A::Smp(ErrorType::Auth),
            r#"{"type":"SMP","smpErr":{"type":"AUTH"}}"#,
        ),
        (
            A::Smp(ErrorType::Cmd(CommandError::NoEntity)),
            r#"{"type":"SMP","smpErr":{"type":"CMD","cmdErr":{"type":"NO_ENTITY"}}}"#,
        ),
        (
            A::Smp(ErrorType::Duplicate),
            r#"{"type":"SMP","smpErr":{"type":"DUPLICATE_"}}"#,
        ),
        (
            A::Ntf(ErrorType::NoMsg),
            r#"{"type":"NTF","ntfErr":{"type":"NO_MSG"}}"#,
        ),
        (
            A::Broker(BrokerErrorType::Timeout),
            r#"{"type":"BROKER","brokerErr":{"type":"TIMEOUT"}}"#,
        ),
        (
            A::Broker(BrokerErrorType::Response(ErrorType::LargeMsg)),
            r#"{"type":"BROKER","brokerErr":{"type":"RESPONSE","smpErr":{"type":"LARGE_MSG"}}}"#,
        ),
        // `ToJSON TransportError`: sumTypeJSON (dropPrefix "TE"), which also lowers the first
        // letter; `ToJSON HandshakeError`: sumTypeJSON id.
        (
            A::Broker(BrokerErrorType::Transport(TransportError::BadBlock)),
            r#"{"type":"BROKER","brokerErr":{"type":"TRANSPORT","transportErr":{"type":"badBlock"}}}"#,
        ),
        (
            A::Broker(BrokerErrorType::Transport(TransportError::Handshake(
                HandshakeError::Identity,
            ))),
            r#"{"type":"BROKER","brokerErr":{"type":"TRANSPORT","transportErr":{"type":"handshake","handshakeErr":{"type":"IDENTITY"}}}}"#,
        ),
        (
            A::Agent(SmpAgentError::Duplicate),
            r#"{"type":"AGENT","agentErr":{"type":"A_DUPLICATE"}}"#,
        ),
        (
            A::Internal("SEMsgNotFound".into()),
            r#"{"type":"INTERNAL","internalErr":"SEMsgNotFound"}"#,
        ),
    ];
    for (error, json) in cases {
        assert_json(&error, json);
    }
}

#[test]
fn every_unit_constructor_is_a_tagged_object() {
    for e in CommandErrorType::ALL {
        assert_json(e, &format!(r#"{{"type":"{}"}}"#, e.name()));
    }
    for e in ConnectionErrorType::ALL {
        assert_json(e, &format!(r#"{{"type":"{}"}}"#, e.name()));
    }
    for e in SmpAgentError::ALL {
        assert_json(e, &format!(r#"{{"type":"{}"}}"#, e.name()));
    }
    for e in HandshakeError::ALL {
        assert_json(e, &format!(r#"{{"type":"{}"}}"#, e.name()));
    }
    for (e, tag) in [
        (TransportError::LargeMsg, "largeMsg"),
        (TransportError::BadSession, "badSession"),
    ] {
        assert_json(&e, &format!(r#"{{"type":"{tag}"}}"#));
    }
    for (e, tag) in [
        (BrokerErrorType::Unexpected, "UNEXPECTED"),
        (BrokerErrorType::Network, "NETWORK"),
        (BrokerErrorType::Host, "HOST"),
    ] {
        assert_json(&e, &format!(r#"{{"type":"{tag}"}}"#));
    }
}

#[test]
fn reading_is_as_lenient_as_aeson_and_no_more() {
    // aeson's generic parser ignores unknown fields and field order.
    let read: AgentErrorType =
        serde_json::from_str(r#"{"connErr":{"type":"SIMPLEX","x":1},"type":"CONN","y":null}"#)
            .unwrap();
    assert_eq!(read, AgentErrorType::Conn(ConnectionErrorType::Simplex));
    for bad in [
        r#"{"type":"CONN"}"#,
        r#"{"type":"CONN","connErr":"SIMPLEX"}"#,
        r#"{"type":"conn","connErr":{"type":"SIMPLEX"}}"#,
        r#"{"type":"CMD","cmdErr":{"type":"UNKNOWN"}}"#,
        r#""CONN SIMPLEX""#,
        r#"{"type":"BROKER","brokerErr":{"type":"TRANSPORT","transportErr":{"type":"TEBadBlock"}}}"#,
    ] {
        assert!(
            serde_json::from_str::<AgentErrorType>(bad).is_err(),
            "{bad} parsed"
        );
    }
}

#[test]
fn message_integrity() {
    // `ToJSON MsgIntegrity` and `ToJSON MsgErrorType`: sumTypeJSON fstToLower (the reference
    // also has the matching `FromJSON` instances); record fields errorInfo, fromMsgId,
    // toMsgId, msgId.
    assert_json(&MsgIntegrity::Ok, r#"{"type":"msgOk"}"#);
    let cases = [
        (
            MsgErrorType::Skipped { from: 4, to: 6 },
            r#"{"type":"msgSkipped","fromMsgId":4,"toMsgId":6}"#,
        ),
        (MsgErrorType::BadId(3), r#"{"type":"msgBadId","msgId":3}"#),
        (MsgErrorType::BadHash, r#"{"type":"msgBadHash"}"#),
        (MsgErrorType::Duplicate, r#"{"type":"msgDuplicate"}"#),
    ];
    for (error, json) in cases {
        assert_json(&error, json);
        assert_json(
            &MsgIntegrity::Error(error),
            &format!(r#"{{"type":"msgError","errorInfo":{json}}}"#),
        );
    }
}

fn server(text: &str) -> ServerAddress {
    ServerAddress::str_decode(text.as_bytes()).unwrap()
}

#[test]
fn connection_stats() {
    // `ToJSON ConnectionStats`: genericToEncoding defaultOptions, servers by `ToJSON
    // ProtocolServer` (strToJSON: the full multi-host text form).
    let a = "smp://LcJUMfVhwD8yxjAiSaDzzGF3-kLG4Uh9Fe_ZkQO5Aro=@smp4.simplex.im,o5vmywmrnaxalvz6wi3zicyftgio6psuvyniis6gco6bp6ekl4cqj4id.onion";
    let b = "smp://hpq7_4gGJiilmz5Rf-CswuU5kZGkm_zOIooSw6yALRg=@localhost:5001";
    let stats = ConnectionStats {
        rcv_servers: vec![server(a)],
        snd_servers: vec![server(b), server(a)],
    };
    assert_json(
        &stats,
        &format!(r#"{{"rcvServers":["{a}"],"sndServers":["{b}","{a}"]}}"#),
    );
    assert_json(
        &ConnectionStats::default(),
        r#"{"rcvServers":[],"sndServers":[]}"#,
    );
}

#[test]
fn notifications_mode() {
    // `ToJSON NotificationsMode`: strToJSON.
    assert_json(&NotificationsMode::Periodic, r#""PERIODIC""#);
    assert_json(&NotificationsMode::Instant, r#""INSTANT""#);
    assert!(serde_json::from_str::<NotificationsMode>(r#""periodic""#).is_err());
}

#[test]
fn connection_requests_are_strings_of_their_links() {
    // `ToJSON AConnectionRequestUri` / `FromJSON`: strToJSON / strParseJSON, so the link text
    // (from the reference's vectors) in a JSON string; aeson escapes none of its characters.
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../spec/vectors/reference/agent.json");
    let vectors: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut checked = 0;
    for case in vectors["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        if !name.starts_with("conn_req_") || name.ends_with("reference_cannot_parse") {
            continue;
        }
        let link =
            String::from_utf8(hex::decode(case["outputs"]["uri_hex"].as_str().unwrap()).unwrap())
                .unwrap();
        let request = ConnectionRequest::str_decode(link.as_bytes()).unwrap();
        assert_json(&request, &format!("\"{link}\""));
        checked += 1;
    }
    assert!(checked >= 4, "only {checked} connection request vectors");
    assert!(serde_json::from_str::<ConnectionRequest>(r#""simplex:/nope""#).is_err());
}

fn agent_error() -> impl Strategy<Value = AgentErrorType> {
    let smp = prop::sample::select(vec![
        ErrorType::Block,
        ErrorType::Session,
        ErrorType::Auth,
        ErrorType::Quota,
        ErrorType::NoMsg,
        ErrorType::LargeMsg,
        ErrorType::Internal,
        ErrorType::Duplicate,
        ErrorType::Cmd(CommandError::Unknown),
        ErrorType::Cmd(CommandError::Syntax),
        ErrorType::Cmd(CommandError::Prohibited),
        ErrorType::Cmd(CommandError::NoAuth),
        ErrorType::Cmd(CommandError::HasAuth),
        ErrorType::Cmd(CommandError::NoEntity),
    ]);
    let transport = prop_oneof![
        prop::sample::select(vec![
            TransportError::BadBlock,
            TransportError::LargeMsg,
            TransportError::BadSession,
        ]),
        prop::sample::select(HandshakeError::ALL).prop_map(TransportError::Handshake),
    ];
    let broker = prop_oneof![
        smp.clone().prop_map(BrokerErrorType::Response),
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
        smp.clone().prop_map(AgentErrorType::Smp),
        smp.prop_map(AgentErrorType::Ntf),
        broker.prop_map(AgentErrorType::Broker),
        prop::sample::select(SmpAgentError::ALL).prop_map(AgentErrorType::Agent),
        any::<String>().prop_map(AgentErrorType::Internal),
    ]
}

proptest! {
    #[test]
    fn agent_error_json_round_trips(error in agent_error()) {
        let json = serde_json::to_string(&error).unwrap();
        prop_assert_eq!(serde_json::from_str::<AgentErrorType>(&json).unwrap(), error.clone());
        // The text form and the JSON form carry the same value.
        let text = error.to_str_bytes();
        prop_assert_eq!(AgentErrorType::str_decode(&text).unwrap(), error);
    }

    #[test]
    fn integrity_json_round_trips(
        kind in 0..5u8,
        a in any::<i64>(),
        b in any::<i64>(),
    ) {
        let integrity = match kind {
            0 => MsgIntegrity::Ok,
            1 => MsgIntegrity::Error(MsgErrorType::Skipped { from: a, to: b }),
            2 => MsgIntegrity::Error(MsgErrorType::BadId(a)),
            3 => MsgIntegrity::Error(MsgErrorType::BadHash),
            _ => MsgIntegrity::Error(MsgErrorType::Duplicate),
        };
        let json = serde_json::to_string(&integrity).unwrap();
        prop_assert_eq!(serde_json::from_str::<MsgIntegrity>(&json).unwrap(), integrity);
    }
}
