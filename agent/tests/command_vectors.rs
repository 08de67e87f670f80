//! The agent's TCP command protocol byte for byte: the transmissions of the reference's
//! `syntaxTests` and `AgentTests.hs` transcripts (simplexmq v3.2.0, `tests/AgentTests.hs`,
//! written there through `tPutRaw`: each line ended by CRLF), the agent's responses as its
//! `serializeCommand` and `tPut` write them, and the refusals and resynchronisation of the
//! decoder. See `spec/agent-protocol.md`.

// Helpers outside #[test] functions fail loudly on malformed vectors, as tests should.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use simplex_agent::command::{
    transmission_bytes, AgentResponse, ClientCommand, Decoded, Decoder, EncodeError, Rejected,
    Transmission, MAX_BODY, MAX_LINE,
};
use simplex_agent::error::{
    AgentErrorType, BrokerErrorType, CommandErrorType, ConnectionErrorType,
};
use simplex_agent::meta::{ConnectionStats, MsgIntegrity, MsgMeta};
use simplex_agent::protocol::{ConnectionMode, ConnectionRequest};
use simplex_core::address::{Scheme, ServerAddress, TransportHost};
use simplex_core::encoding::string::{base64url_decode, StrDecode};
use simplex_core::encoding::{NonEmpty, UtcTime};
use simplex_core::protocol::{ErrorType, MsgFlags};

/// The `JOIN` of the reference's syntax test "using same server as in invitation", with its
/// URL-encoded pieces (`urlEncode True`) spelled out.
const SYNTAX_TEST_JOIN: &str = concat!(
    "JOIN https://simpex.chat/invitation#/?smp=smp%3A%2F%2F",
    "LcJUMfVhwD8yxjAiSaDzzGF3-kLG4Uh0Fl_ZIjrRwjI%3D",
    "%40localhost%3A5001%2F3456-w%3D%3D%23",
    "MCowBQYDK2VuAyEAjiswwI3O_NlS8Fk3HJUW870EY2bAwmttMBsvRB9eV3o%3D",
    "&v=1",
    "&e2e=v%3D1%26x3dh%3DMEIwBQYDK2VvAzkAmKuSYeQ_m0SixPDS8Wq8VBaTS1cW-Lp0n0h4Diu-kUpR-qXx4SDJ32YGEFoGFGSbGPry5Ychr6U%3D%2CMEIwBQYDK2VvAzkAmKuSYeQ_m0SixPDS8Wq8VBaTS1cW-Lp0n0h4Diu-kUpR-qXx4SDJ32YGEFoGFGSbGPry5Ychr6U%3D",
    " 14\nbob's connInfo"
);

/// A transmission as the reference's test client writes it (`tPutRaw`).
fn raw(corr_id: &str, conn_id: &str, command: &str) -> Vec<u8> {
    format!("{corr_id}\r\n{conn_id}\r\n{command}\r\n").into_bytes()
}

fn client_decode(bytes: &[u8]) -> Vec<Decoded<ClientCommand>> {
    Decoder::<ClientCommand>::new().feed_all(bytes)
}

/// The one client command in `bytes`.
fn client_command(bytes: &[u8]) -> Transmission<ClientCommand> {
    let mut decoded = client_decode(bytes);
    assert_eq!(decoded.len(), 1, "{:?}", String::from_utf8_lossy(bytes));
    decoded.remove(0).unwrap()
}

/// The refusal of the one transmission in `bytes`.
fn refusal(bytes: &[u8]) -> Rejected {
    let mut decoded = client_decode(bytes);
    assert_eq!(decoded.len(), 1, "{:?}", String::from_utf8_lossy(bytes));
    decoded.remove(0).unwrap_err()
}

fn t<C>(corr_id: &str, conn_id: &str, command: C) -> Transmission<C> {
    Transmission {
        corr_id: corr_id.as_bytes().to_vec(),
        conn_id: conn_id.as_bytes().to_vec(),
        command,
    }
}

fn server() -> ServerAddress {
    ServerAddress::str_decode(b"smp://LcJUMfVhwD8yxjAiSaDzzGF3-kLG4Uh0Fl_ZIjrRwjI=@localhost:5001")
        .unwrap()
}

fn time(text: &str) -> UtcTime {
    UtcTime::str_decode(text.as_bytes()).unwrap()
}

#[test]
fn syntax_tests_unknown_command() {
    let rejected = refusal(&raw("1", "5678", "HELLO"));
    assert_eq!(rejected.error, CommandErrorType::Syntax);
    let answer = transmission_bytes(&rejected.answer()).unwrap();
    assert_eq!(answer, raw("1", "5678", "ERR CMD SYNTAX"));
}

#[test]
fn syntax_tests_new() {
    assert_eq!(
        client_command(&raw("211", "", "NEW INV")),
        t("211", "", ClientCommand::New(ConnectionMode::Invitation))
    );
    let rejected = refusal(&raw("222", "", "NEW hi"));
    let answer = transmission_bytes(&rejected.answer()).unwrap();
    assert_eq!(answer, raw("222", "", "ERR CMD SYNTAX"));
}

#[test]
fn syntax_tests_join() {
    let join = client_command(&raw("311", "a", SYNTAX_TEST_JOIN));
    assert_eq!(
        (&join.corr_id[..], &join.conn_id[..]),
        (&b"311"[..], &b"a"[..])
    );
    let ClientCommand::Join { request, info } = join.command else {
        panic!("not a JOIN: {:?}", join.command);
    };
    assert_eq!(info, b"bob's connInfo");
    assert!(matches!(request, ConnectionRequest::Invitation { .. }));
    let queue = request.data().queues.first();
    assert_eq!(queue.address.server.port, "5001");
    assert_eq!(
        queue.address.sender_id.as_bytes(),
        base64url_decode(b"3456-w==").unwrap()
    );

    let rejected = refusal(&raw("321", "", "JOIN"));
    let answer = transmission_bytes(&rejected.answer()).unwrap();
    assert_eq!(answer, raw("321", "", "ERR CMD SYNTAX"));
}

#[test]
fn transcript_client_commands() {
    let cases: Vec<(&str, &str, &str, ClientCommand)> = vec![
        (
            "1",
            "bob",
            "NEW INV",
            ClientCommand::New(ConnectionMode::Invitation),
        ),
        (
            "1",
            "alice_contact",
            "NEW CON",
            ClientCommand::New(ConnectionMode::Contact),
        ),
        (
            "2",
            "bob",
            "LET Y29uZmlybWF0aW9u 16\nalice's connInfo",
            ClientCommand::Let {
                confirmation_id: b"Y29uZmlybWF0aW9u".to_vec(),
                info: b"alice's connInfo".to_vec(),
            },
        ),
        (
            "3",
            "bob",
            "ACPT aW52 12\nalice's info",
            ClientCommand::Accept {
                invitation_id: b"aW52".to_vec(),
                info: b"alice's info".to_vec(),
            },
        ),
        (
            "2b",
            "a_contact",
            "RJCT aW52",
            ClientCommand::Reject {
                invitation_id: b"aW52".to_vec(),
            },
        ),
        (
            "3",
            "bob",
            "SEND F :hello",
            ClientCommand::Send {
                flags: MsgFlags {
                    notification: false,
                },
                body: b"hello".to_vec(),
            },
        ),
        (
            "4",
            "bob",
            "SEND F :how are you?",
            ClientCommand::Send {
                flags: MsgFlags {
                    notification: false,
                },
                body: b"how are you?".to_vec(),
            },
        ),
        (
            "14",
            "alice",
            "SEND F 9\nhello too",
            ClientCommand::Send {
                flags: MsgFlags {
                    notification: false,
                },
                body: b"hello too".to_vec(),
            },
        ),
        ("12", "alice", "ACK 4", ClientCommand::Ack(4)),
        ("21", "bob", "SUB", ClientCommand::Subscribe),
        ("5", "bob", "OFF", ClientCommand::Suspend),
        ("6", "bob", "DEL", ClientCommand::Delete),
        ("7", "bob", "CHK", ClientCommand::Check),
    ];
    for (corr_id, conn_id, line, command) in cases {
        let expected = t(corr_id, conn_id, command);
        let bytes = raw(corr_id, conn_id, line);
        assert_eq!(client_command(&bytes), expected, "{line:?}");
        // Our encoder writes the reference's sized form, which reads back the same.
        let ours = transmission_bytes(&expected).unwrap();
        assert_eq!(client_command(&ours), expected, "{line:?}");
        if !line.contains(':') {
            assert_eq!(ours, bytes, "{line:?}");
        }
    }
}

#[test]
fn agent_responses_as_the_reference_writes_them() {
    let meta = MsgMeta {
        integrity: MsgIntegrity::Ok,
        rcv_id: 4,
        rcv_time: time("2022-08-29T10:11:12.345Z"),
        broker_id: vec![0xfb, 0xff, 0x01],
        broker_time: time("2022-08-29T10:11:12.001Z"),
        snd_id: 3,
    };
    let cases: Vec<(Transmission<AgentResponse>, &str)> = vec![
        (t("11", "alice", AgentResponse::Ok), "11\r\nalice\r\nOK\r\n"),
        (t("3", "bob", AgentResponse::MsgId(4)), "3\r\nbob\r\nMID 4\r\n"),
        (t("", "bob", AgentResponse::Sent(4)), "\r\nbob\r\nSENT 4\r\n"),
        (
            t(
                "",
                "alice",
                AgentResponse::MsgError {
                    id: 8,
                    error: AgentErrorType::Smp(ErrorType::Auth),
                },
            ),
            "\r\nalice\r\nMERR 8 SMP AUTH\r\n",
        ),
        (
            t("", "alice", AgentResponse::Info(b"alice's connInfo".to_vec())),
            "\r\nalice\r\nINFO 16\nalice's connInfo\r\n",
        ),
        (t("", "bob", AgentResponse::Connected), "\r\nbob\r\nCON\r\n"),
        (t("", "bob", AgentResponse::End), "\r\nbob\r\nEND\r\n"),
        (
            t(
                "2a",
                "bob",
                AgentResponse::Err(AgentErrorType::Conn(ConnectionErrorType::NotFound)),
            ),
            "2a\r\nbob\r\nERR CONN NOT_FOUND\r\n",
        ),
        (
            t(
                "3",
                "bob",
                AgentResponse::Err(AgentErrorType::Cmd(CommandErrorType::Prohibited)),
            ),
            "3\r\nbob\r\nERR CMD PROHIBITED\r\n",
        ),
        (
            t(
                "1",
                "alice",
                AgentResponse::Err(AgentErrorType::Broker(BrokerErrorType::Network)),
            ),
            "1\r\nalice\r\nERR BROKER NETWORK\r\n",
        ),
        (
            t(
                "5",
                "bob",
                AgentResponse::Err(AgentErrorType::Internal("SEMsgNotFound".into())),
            ),
            "5\r\nbob\r\nERR INTERNAL \"SEMsgNotFound\"\r\n",
        ),
        (
            t(
                "",
                "bob",
                AgentResponse::Confirmation {
                    confirmation_id: b"Y29uZg".to_vec(),
                    servers: vec![server()],
                    info: b"bob's connInfo".to_vec(),
                },
            ),
            "\r\nbob\r\nCONF Y29uZg smp://LcJUMfVhwD8yxjAiSaDzzGF3-kLG4Uh0Fl_ZIjrRwjI=@localhost:5001 14\nbob's connInfo\r\n",
        ),
        (
            t(
                "",
                "bob",
                AgentResponse::Confirmation {
                    confirmation_id: b"Y29uZg".to_vec(),
                    servers: vec![],
                    info: b"v1".to_vec(),
                },
            ),
            "\r\nbob\r\nCONF Y29uZg  2\nv1\r\n",
        ),
        (
            t(
                "",
                "alice_contact",
                AgentResponse::Request {
                    invitation_id: b"aW52".to_vec(),
                    servers: NonEmpty::new(vec![server(), server()]).unwrap(),
                    info: b"bob's connInfo".to_vec(),
                },
            ),
            "\r\nalice_contact\r\nREQ aW52 smp://LcJUMfVhwD8yxjAiSaDzzGF3-kLG4Uh0Fl_ZIjrRwjI=@localhost:5001,smp://LcJUMfVhwD8yxjAiSaDzzGF3-kLG4Uh0Fl_ZIjrRwjI=@localhost:5001 14\nbob's connInfo\r\n",
        ),
        (
            t(
                "",
                "alice",
                AgentResponse::Message {
                    meta,
                    flags: MsgFlags { notification: true },
                    body: b"hi\r\nthere".to_vec(),
                },
            ),
            "\r\nalice\r\nMSG OK R=4,2022-08-29T10:11:12.345Z B=+/8B,2022-08-29T10:11:12.001Z S=3 T 9\nhi\r\nthere\r\n",
        ),
        (
            t(
                "7",
                "bob",
                AgentResponse::Stat(ConnectionStats {
                    rcv_servers: vec![server()],
                    snd_servers: vec![],
                }),
            ),
            "7\r\nbob\r\nSTAT rcv=smp://LcJUMfVhwD8yxjAiSaDzzGF3-kLG4Uh0Fl_ZIjrRwjI=@localhost:5001 snd=\r\n",
        ),
        (
            t(
                "",
                "",
                AgentResponse::Connect {
                    protocol: Scheme::Smp,
                    host: TransportHost::Domain("localhost".into()),
                },
            ),
            "\r\n\r\nCONNECT smp localhost\r\n",
        ),
        (
            t(
                "",
                "",
                AgentResponse::Disconnect {
                    protocol: Scheme::Smp,
                    host: TransportHost::Ipv4([127, 0, 0, 1]),
                },
            ),
            "\r\n\r\nDISCONNECT smp 127.0.0.1\r\n",
        ),
        (
            t(
                "",
                "",
                AgentResponse::Down {
                    server: server(),
                    connections: vec![b"alice".to_vec(), b"bob".to_vec()],
                },
            ),
            "\r\n\r\nDOWN smp://LcJUMfVhwD8yxjAiSaDzzGF3-kLG4Uh0Fl_ZIjrRwjI=@localhost:5001 YWxpY2U=,Ym9i\r\n",
        ),
        (
            t(
                "",
                "",
                AgentResponse::Up {
                    server: server(),
                    connections: vec![],
                },
            ),
            "\r\n\r\nUP smp://LcJUMfVhwD8yxjAiSaDzzGF3-kLG4Uh0Fl_ZIjrRwjI=@localhost:5001 \r\n",
        ),
        (t("", "", AgentResponse::Suspended), "\r\n\r\nSUSPENDED\r\n"),
    ];
    for (transmission, text) in cases {
        let bytes = transmission_bytes(&transmission).unwrap();
        assert_eq!(String::from_utf8_lossy(&bytes), text);
        let mut decoded = Decoder::<AgentResponse>::new().feed_all(text.as_bytes());
        assert_eq!(decoded.len(), 1, "{text:?}");
        assert_eq!(decoded.remove(0).unwrap(), transmission, "{text:?}");
    }
}

#[test]
fn the_reference_printers_integrity_errors_are_read() {
    // v3.2.0 writes `ERR` and `NO_ID` without the space its parser expects (item 34).
    let text = "\r\nc\r\nMSG ERRNO_ID 5 6 R=7,2022-08-29T10:11:12.345Z B=AQ==,2022-08-29T10:11:12.000Z S=7 F :x\r\n";
    let mut decoded = Decoder::<AgentResponse>::new().feed_all(text.as_bytes());
    let AgentResponse::Message { meta, body, .. } = decoded.remove(0).unwrap().command else {
        panic!("not a MSG");
    };
    assert_eq!(body, b"x");
    let written = transmission_bytes(&t(
        "",
        "c",
        AgentResponse::Message {
            meta,
            flags: MsgFlags {
                notification: false,
            },
            body,
        },
    ))
    .unwrap();
    assert!(String::from_utf8_lossy(&written).contains("MSG ERR IDS 5 6 R=7,"));
}

#[test]
fn line_ends_may_be_lf_or_crlf() {
    let lf = b"1\nbob\nSEND T 5\nhello\n";
    let crlf = b"1\r\nbob\r\nSEND T 5\nhello\r\n";
    assert_eq!(client_command(lf), client_command(crlf));
    assert_eq!(
        client_command(lf).command,
        ClientCommand::Send {
            flags: MsgFlags { notification: true },
            body: b"hello".to_vec()
        }
    );
}

#[test]
fn unknown_flag_characters_are_skipped() {
    let send = client_command(&raw("1", "c", "SEND TXY :hi there"));
    assert_eq!(
        send.command,
        ClientCommand::Send {
            flags: MsgFlags { notification: true },
            body: b"hi there".to_vec()
        }
    );
}

#[test]
fn refusals_in_the_reference_order() {
    let cases: Vec<(Vec<u8>, CommandErrorType)> = vec![
        (raw("1", "c", "SUB "), CommandErrorType::Syntax),
        (raw("1", "c", "OKAY"), CommandErrorType::Syntax),
        (raw("1", "c", "ACK"), CommandErrorType::Syntax),
        (raw("1", "c", "ACK x"), CommandErrorType::Syntax),
        (
            raw("1", "c", "ACK 99999999999999999999"),
            CommandErrorType::Syntax,
        ),
        (raw("1", "c", "SEND X :hi"), CommandErrorType::Syntax),
        // A client sending the agent's responses.
        (raw("1", "c", "OK"), CommandErrorType::Prohibited),
        (raw("1", "c", "MID 4"), CommandErrorType::Prohibited),
        (raw("1", "c", "INFO :x"), CommandErrorType::Prohibited),
        // Only NEW, JOIN and ACPT may come without a connection.
        (raw("1", "", "SUB"), CommandErrorType::NoConn),
        (raw("1", "", "SEND F :hi"), CommandErrorType::NoConn),
        (raw("1", "", "LET id :hi"), CommandErrorType::NoConn),
        // The body comes last: a bad size after a missing connection is NO_CONN.
        (raw("1", "", "SEND F x"), CommandErrorType::NoConn),
        (raw("1", "c", "SEND F x"), CommandErrorType::Syntax),
        (raw("1", "c", "SEND F -1"), CommandErrorType::Syntax),
        (raw("1", "c", "SEND F "), CommandErrorType::Syntax),
        (
            b"1\r\nc\r\nSEND F 5\nhelloX\r\n".to_vec(),
            CommandErrorType::Size,
        ),
    ];
    for (bytes, error) in cases {
        let rejected = refusal(&bytes);
        assert_eq!(
            rejected.error,
            error,
            "{:?}",
            String::from_utf8_lossy(&bytes)
        );
        assert_eq!(rejected.corr_id, b"1");
    }
    // ACPT without a connection is accepted: the agent names the new one.
    let accept = client_command(&raw("2", "", "ACPT aW52 :info"));
    assert!(matches!(accept.command, ClientCommand::Accept { .. }));
}

#[test]
fn after_a_syntax_error_reading_resumes_at_the_next_line() {
    // As in the reference, the body of an unparsable command is read as lines.
    let mut bytes = b"1\r\nc\r\nSEND X 5\nhello\r\n".to_vec();
    bytes.extend(raw("2", "c", "ACK 4"));
    let decoded = client_decode(&bytes);
    // `hello`, `2` and `c` make the next transmission, refused; `ACK 4` is left waiting for
    // two more lines.
    assert_eq!(decoded.len(), 2);
    assert_eq!(
        decoded[0].as_ref().unwrap_err().error,
        CommandErrorType::Syntax
    );
    let second = decoded[1].as_ref().unwrap_err();
    assert_eq!(
        (&second.corr_id[..], &second.conn_id[..]),
        (&b"hello"[..], &b"2"[..])
    );
    assert_eq!(second.error, CommandErrorType::Syntax);
}

#[test]
fn the_body_of_a_refused_command_is_skipped_by_its_size() {
    let mut bytes = b"1\r\n\r\nSEND F 7\nab\r\ncd\n\r\n".to_vec();
    bytes.extend(raw("2", "c", "ACK 4"));
    bytes.extend(b"3\r\nc\r\nMSG OK R=1,2022-08-29T10:11:12.000Z B=AQ==,2022-08-29T10:11:12.000Z S=1 F 2\nhi\r\n");
    bytes.extend(raw("4", "c", "DEL"));
    let decoded = client_decode(&bytes);
    assert_eq!(decoded.len(), 4);
    assert_eq!(
        decoded[0].as_ref().unwrap_err().error,
        CommandErrorType::NoConn
    );
    assert_eq!(decoded[1].as_ref().unwrap().command, ClientCommand::Ack(4));
    assert_eq!(
        decoded[2].as_ref().unwrap_err().error,
        CommandErrorType::Prohibited
    );
    assert_eq!(decoded[3].as_ref().unwrap().command, ClientCommand::Delete);
}

#[test]
fn bodies_and_lines_beyond_the_bounds_are_large() {
    let largest = vec![b'a'; MAX_BODY];
    let mut bytes = format!("1\r\nc\r\nSEND F {}\n", MAX_BODY).into_bytes();
    bytes.extend(&largest);
    bytes.extend(b"\r\n");
    let send = client_command(&bytes);
    assert_eq!(
        send.command,
        ClientCommand::Send {
            flags: MsgFlags {
                notification: false
            },
            body: largest
        }
    );

    // One byte more is refused, read through, and the next transmission is intact.
    let mut bytes = format!("1\r\nc\r\nSEND F {}\n", MAX_BODY + 1).into_bytes();
    bytes.extend(vec![b'\n'; MAX_BODY + 1]);
    bytes.extend(b"\r\n");
    bytes.extend(raw("2", "c", "OFF"));
    let decoded = client_decode(&bytes);
    assert_eq!(decoded.len(), 2);
    assert_eq!(
        decoded[0].as_ref().unwrap_err().error,
        CommandErrorType::Large
    );
    assert_eq!(decoded[1].as_ref().unwrap().command, ClientCommand::Suspend);

    let inline = format!("SEND F :{}", "b".repeat(MAX_BODY + 1));
    assert_eq!(
        refusal(&raw("1", "c", &inline)).error,
        CommandErrorType::Large
    );

    // A huge declared size costs no memory: the decoder only counts it down.
    let mut decoder = Decoder::<ClientCommand>::new();
    let (used, done) = decoder.feed(b"1\r\nc\r\nSEND F 18446744073709551615\n");
    assert_eq!((used, done), (34, None));
    assert!(decoder.in_progress());

    // Over-long lines: the command line, and an id line (answered with an empty id).
    let long = format!("SEND F :{}", "c".repeat(MAX_LINE));
    let mut bytes = raw("1", "c", &long);
    bytes.extend(raw(&"d".repeat(MAX_LINE), "c", "SUB"));
    bytes.extend(raw("3", "c", "SUB"));
    let decoded = client_decode(&bytes);
    assert_eq!(decoded.len(), 3);
    let first = decoded[0].as_ref().unwrap_err();
    assert_eq!(
        (first.error, &first.corr_id[..]),
        (CommandErrorType::Large, &b"1"[..])
    );
    let second = decoded[1].as_ref().unwrap_err();
    assert_eq!(
        (second.error, &second.corr_id[..]),
        (CommandErrorType::Large, &b""[..])
    );
    assert_eq!(
        decoded[2].as_ref().unwrap().command,
        ClientCommand::Subscribe
    );
}

#[test]
fn the_encoder_refuses_what_would_read_back_differently() {
    let sub = |corr: &[u8], conn: &[u8]| Transmission {
        corr_id: corr.to_vec(),
        conn_id: conn.to_vec(),
        command: ClientCommand::Subscribe,
    };
    assert!(matches!(
        transmission_bytes(&sub(b"1\n2", b"c")),
        Err(EncodeError::LineBreak(_))
    ));
    // Every line ends with CRLF and one CR is dropped: an id ending in CR survives.
    let cr = sub(b"1\r", b"c\r\r");
    let decoded = Decoder::<ClientCommand>::new().feed_all(&transmission_bytes(&cr).unwrap());
    assert_eq!(decoded, vec![Ok(cr)]);
    let let_ = t(
        "1",
        "c",
        ClientCommand::Let {
            confirmation_id: b"a b".to_vec(),
            info: vec![],
        },
    );
    assert!(matches!(
        transmission_bytes(&let_),
        Err(EncodeError::SpaceInId(_))
    ));
    let internal = t(
        "1",
        "c",
        AgentResponse::Err(AgentErrorType::Internal("line\nbreak\r".into())),
    );
    // A Haskell string literal escapes line breaks, so this one is fine.
    let bytes = transmission_bytes(&internal).unwrap();
    let decoded = Decoder::<AgentResponse>::new().feed_all(&bytes);
    assert_eq!(decoded, vec![Ok(internal)]);
}

#[test]
fn a_stream_decodes_the_same_split_at_every_point() {
    let mut stream = raw("311", "a", SYNTAX_TEST_JOIN);
    stream.extend(raw("1", "5678", "HELLO"));
    stream.extend(b"14\nalice\nSEND F 9\nhello\r\ntoo\r\n");
    stream.extend(raw("", "", "OK"));
    stream.extend(b"1\r\nc\r\nSEND F 3\nabcX\n");
    stream.extend(raw("12", "alice", "ACK 4"));
    let whole = client_decode(&stream);
    assert_eq!(whole.len(), 6);
    for split in 0..=stream.len() {
        let mut decoder = Decoder::<ClientCommand>::new();
        let mut decoded = decoder.feed_all(&stream[..split]);
        decoded.extend(decoder.feed_all(&stream[split..]));
        assert_eq!(decoded, whole, "split at {split}");
        assert!(!decoder.in_progress());
    }
    let mut decoder = Decoder::<ClientCommand>::new();
    let one_by_one: Vec<_> = stream
        .iter()
        .flat_map(|b| decoder.feed_all(std::slice::from_ref(b)))
        .collect();
    assert_eq!(one_by_one, whole);
}
