//! The text forms of agent errors, as they follow `ERR` and `MERR n` in the agent's TCP
//! protocol. Each expected string is what the reference's `strEncode` for `AgentErrorType`
//! (Agent/Protocol.hs, v3.2.0) prints for the value; those marked "seen" were also printed by
//! the running reference smp-agent (REFERENCE-NOTES item 32, and by hand: `SUB` without a
//! connection id, `SUB` of an unknown connection, an unknown command, a client sending `OK`,
//! `NEW INV` with no server reachable).

// Helpers outside #[test] functions fail loudly on malformed values, as tests should.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;
use simplex_agent::error::{
    AgentErrorType, BrokerErrorType, CommandErrorType, ConnectionErrorType, HandshakeError,
    SmpAgentError, TransportError,
};
use simplex_core::encoding::string::{StrDecode, StrEncode};
use simplex_core::protocol::{CommandError, ErrorType};

fn text(e: &AgentErrorType) -> String {
    String::from_utf8(e.to_str_bytes()).unwrap()
}

#[test]
fn prints_and_reads_the_reference_forms() {
    let cases: Vec<(AgentErrorType, &str)> = vec![
        // seen: SEND before the connection is established
        (
            AgentErrorType::Conn(ConnectionErrorType::Simplex),
            "CONN SIMPLEX",
        ),
        // seen: a repeated ACK
        (
            AgentErrorType::Internal("SEMsgNotFound".into()),
            "INTERNAL \"SEMsgNotFound\"",
        ),
        // seen: MERR after the peer deleted the queue
        (AgentErrorType::Smp(ErrorType::Auth), "SMP AUTH"),
        (
            AgentErrorType::Conn(ConnectionErrorType::NotAccepted),
            "CONN NOT_ACCEPTED",
        ),
        // seen
        (AgentErrorType::Cmd(CommandErrorType::NoConn), "CMD NO_CONN"),
        // seen
        (
            AgentErrorType::Conn(ConnectionErrorType::NotFound),
            "CONN NOT_FOUND",
        ),
        // seen
        (AgentErrorType::Cmd(CommandErrorType::Syntax), "CMD SYNTAX"),
        // seen
        (
            AgentErrorType::Cmd(CommandErrorType::Prohibited),
            "CMD PROHIBITED",
        ),
        // seen
        (
            AgentErrorType::Broker(BrokerErrorType::Network),
            "BROKER NETWORK",
        ),
        (
            AgentErrorType::Smp(ErrorType::Cmd(CommandError::NoEntity)),
            "SMP CMD NO_ENTITY",
        ),
        (AgentErrorType::Smp(ErrorType::Duplicate), "SMP DUPLICATE_"),
        (AgentErrorType::Ntf(ErrorType::LargeMsg), "NTF LARGE_MSG"),
        (
            AgentErrorType::Broker(BrokerErrorType::Timeout),
            "BROKER TIMEOUT",
        ),
        (AgentErrorType::Broker(BrokerErrorType::Host), "BROKER HOST"),
        (
            AgentErrorType::Broker(BrokerErrorType::Response(ErrorType::Cmd(
                CommandError::Syntax,
            ))),
            "BROKER RESPONSE CMD SYNTAX",
        ),
        (
            AgentErrorType::Broker(BrokerErrorType::Transport(TransportError::BadBlock)),
            "BROKER TRANSPORT BLOCK",
        ),
        (
            AgentErrorType::Broker(BrokerErrorType::Transport(TransportError::BadSession)),
            "BROKER TRANSPORT SESSION",
        ),
        (
            AgentErrorType::Broker(BrokerErrorType::Transport(TransportError::Handshake(
                HandshakeError::Identity,
            ))),
            "BROKER TRANSPORT IDENTITY",
        ),
        (
            AgentErrorType::Agent(SmpAgentError::Duplicate),
            "AGENT A_DUPLICATE",
        ),
        (
            AgentErrorType::Internal("say \"hi\"\n\u{e9}".into()),
            "INTERNAL \"say \\\"hi\\\"\\n\\233\"",
        ),
    ];
    for (error, expected) in cases {
        assert_eq!(text(&error), expected);
        assert_eq!(error.to_string(), expected);
        assert_eq!(
            AgentErrorType::str_decode(expected.as_bytes()).unwrap(),
            error
        );
    }
}

#[test]
fn refuses_what_the_reference_refuses() {
    for bad in [
        "",
        "CONN",
        "CONN ",
        "CONN simplex",
        "CONN SIMPLEX extra",
        "SMP CMD",
        "SMP FOO",
        "BROKER RESPONSE",
        "BROKER TRANSPORT FOO",
        "BROKER ERROR",
        "AGENT DUPLICATE",
        "INTERNAL SEMsgNotFound",
        "INTERNAL \"open",
        "NOPE X",
    ] {
        assert!(
            AgentErrorType::str_decode(bad.as_bytes()).is_err(),
            "{bad:?} parsed"
        );
    }
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

fn transport_error() -> impl Strategy<Value = TransportError> {
    prop_oneof![
        prop::sample::select(vec![
            TransportError::BadBlock,
            TransportError::LargeMsg,
            TransportError::BadSession,
        ]),
        prop::sample::select(HandshakeError::ALL).prop_map(TransportError::Handshake),
    ]
}

fn broker_error() -> impl Strategy<Value = BrokerErrorType> {
    prop_oneof![
        smp_error().prop_map(BrokerErrorType::Response),
        transport_error().prop_map(BrokerErrorType::Transport),
        prop::sample::select(vec![
            BrokerErrorType::Unexpected,
            BrokerErrorType::Network,
            BrokerErrorType::Host,
            BrokerErrorType::Timeout,
        ]),
    ]
}

/// Any agent error.
fn agent_error() -> impl Strategy<Value = AgentErrorType> {
    prop_oneof![
        prop::sample::select(CommandErrorType::ALL).prop_map(AgentErrorType::Cmd),
        prop::sample::select(ConnectionErrorType::ALL).prop_map(AgentErrorType::Conn),
        smp_error().prop_map(AgentErrorType::Smp),
        smp_error().prop_map(AgentErrorType::Ntf),
        broker_error().prop_map(AgentErrorType::Broker),
        prop::sample::select(SmpAgentError::ALL).prop_map(AgentErrorType::Agent),
        any::<String>().prop_map(AgentErrorType::Internal),
    ]
}

proptest! {
    #[test]
    fn text_round_trips(error in agent_error()) {
        let text = error.to_str_bytes();
        prop_assert!(text.is_ascii());
        prop_assert_eq!(AgentErrorType::str_decode(&text).unwrap(), error);
    }

    /// Reading any bytes, or error-like text, does not panic, and whatever parses prints back
    /// to text that parses to the same value.
    #[test]
    fn reading_any_text_is_safe(
        text in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..40),
            "(CMD|CONN|SMP|NTF|BROKER|AGENT|INTERNAL) [A-Z_ \"\\\\]{0,20}"
                .prop_map(String::into_bytes),
        ]
    ) {
        if let Ok(error) = AgentErrorType::str_decode(&text) {
            prop_assert_eq!(AgentErrorType::str_decode(&error.to_str_bytes()).unwrap(), error);
        }
    }
}
