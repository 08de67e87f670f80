//! Our agent command codec (`simplex_agent::command`) against the running reference smp-agent
//! (simplexmq v3.2.0): every command two clients send is written by our encoder (and one
//! `:text` body and one unknown command by hand), the reference answers them as a command it
//! understood, and everything it writes back — responses and events of an invitation and of a
//! contact address handshake, messages with line breaks in their bodies and of the largest
//! size, STAT, errors, CONNECT — decodes with our decoder and re-encodes to the very same
//! bytes. Gated on `SIMPLEX_REFERENCE_DIR` (see `tests/src/reference`); every wait is bounded.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use simplex_agent::command::{
    parse_command_line, transmission_bytes, AgentResponse, ClientCommand, Decoder, ParsedCommand,
    Transmission,
};
use simplex_agent::error::{AgentErrorType, CommandErrorType};
use simplex_agent::meta::{MsgErrorType, MsgIntegrity};
use simplex_agent::protocol::ConnectionMode;
use simplex_core::protocol::MsgFlags;
use simplex_tests::reference::agent::{AgentClient, AgentReply, ReferenceAgent};
use simplex_tests::reference::programs;
use simplex_tests::reference::smp_server::{ReferenceSmpServer, ServerSetup};

/// A reply or event that should come promptly.
const T: Duration = Duration::from_secs(20);
/// The largest user message body (REFERENCE-NOTES item 29).
const LARGEST_BODY: usize = 15811;

/// One client session of a reference agent, writing its commands with our encoder.
struct Side {
    name: &'static str,
    client: AgentClient,
    corr: u32,
}

impl Side {
    fn new(name: &'static str, mut client: AgentClient) -> Self {
        client.start_recording();
        Self {
            name,
            client,
            corr: 0,
        }
    }

    fn corr_id(&mut self) -> String {
        self.corr += 1;
        format!("{}{}", self.name, self.corr)
    }

    /// Sends `command` on `conn`, written by our encoder, and returns the agent's response.
    fn command(&mut self, conn: &str, command: ClientCommand) -> AgentReply {
        let corr = self.corr_id();
        let transmission = Transmission {
            corr_id: corr.clone().into_bytes(),
            conn_id: conn.as_bytes().to_vec(),
            command,
        };
        let bytes = transmission_bytes(&transmission).unwrap();
        self.client.send_raw(&bytes).unwrap();
        self.client.response(&corr, T).unwrap()
    }

    /// Sends a transmission written by hand and returns the agent's response.
    fn raw(&mut self, conn: &str, line: &str) -> AgentReply {
        let corr = self.corr_id();
        let bytes = format!("{corr}\r\n{conn}\r\n{line}\r\n");
        self.client.send_raw(bytes.as_bytes()).unwrap();
        self.client.response(&corr, T).unwrap()
    }

    fn event(&mut self, conn: &str, tag: &str) -> AgentReply {
        self.client.event(conn, tag, T).unwrap()
    }
}

/// The response or event as our parser reads its command line (the body left out).
fn parsed(reply: &AgentReply) -> AgentResponse {
    match parse_command_line(reply.command.as_bytes()) {
        Some((ParsedCommand::Agent(response), _)) => response,
        other => panic!("{reply:?} parses as {other:?}"),
    }
}

fn expect_tag(reply: &AgentReply, tag: &str) {
    assert_eq!(reply.tag(), tag, "{reply:?}");
}

fn send(body: &[u8], notification: bool) -> ClientCommand {
    ClientCommand::Send {
        flags: MsgFlags { notification },
        body: body.to_vec(),
    }
}

/// A body with every byte value and line breaks inside.
fn body_of(n: usize) -> Vec<u8> {
    let mut body: Vec<u8> = (0..n).map(|i| (i as u8).wrapping_mul(31)).collect();
    if n >= 4 {
        body[1] = b'\r';
        body[2] = b'\n';
    }
    body
}

/// `NEW` on `a`, `JOIN` on `b`, then `CONF`/`LET` (invitation) or `REQ`/`ACPT`/`CONF`/`LET`
/// (contact address) until both see `CON`. Returns the two connection ids.
fn connect(a: &mut Side, b: &mut Side, mode: ConnectionMode) -> (String, String) {
    let inv = a.command("", ClientCommand::New(mode));
    let AgentResponse::Invitation(request) = parsed(&inv) else {
        panic!("{inv:?}");
    };
    assert_eq!(request.mode(), mode);
    let joined = b.command(
        "",
        ClientCommand::Join {
            request,
            info: b"bob's\r\nprofile".to_vec(),
        },
    );
    expect_tag(&joined, "OK");
    let b_conn = joined.conn_id.clone();
    let a_conn = match mode {
        ConnectionMode::Invitation => inv.conn_id.clone(),
        ConnectionMode::Contact => {
            let req = a.event(&inv.conn_id, "REQ");
            assert_eq!(req.body.as_deref(), Some(&b"bob's\r\nprofile"[..]));
            let AgentResponse::Request { invitation_id, .. } = parsed(&req) else {
                panic!("{req:?}");
            };
            let accepted = a.command(
                "",
                ClientCommand::Accept {
                    invitation_id,
                    info: b"alice's profile".to_vec(),
                },
            );
            expect_tag(&accepted, "OK");
            accepted.conn_id
        }
    };
    // The side that joined last confirms: A for an invitation, B for a contact address.
    let (confirmed, confirming, confirmed_conn, confirming_conn) = match mode {
        ConnectionMode::Invitation => (b, &mut *a, &b_conn, &a_conn),
        ConnectionMode::Contact => (&mut *a, b, &a_conn, &b_conn),
    };
    let conf = confirming.event(confirming_conn, "CONF");
    let AgentResponse::Confirmation {
        confirmation_id, ..
    } = parsed(&conf)
    else {
        panic!("{conf:?}");
    };
    let ok = confirming.command(
        confirming_conn,
        ClientCommand::Let {
            confirmation_id,
            info: b"let in".to_vec(),
        },
    );
    expect_tag(&ok, "OK");
    let info = confirmed.event(confirmed_conn, "INFO");
    assert_eq!(info.body.as_deref(), Some(&b"let in"[..]));
    confirmed.event(confirmed_conn, "CON");
    confirming.event(confirming_conn, "CON");
    (a_conn, b_conn)
}

/// Sends `body` from `from` and waits for it at `to`, which acknowledges it.
fn deliver(from: &mut Side, from_conn: &str, to: &mut Side, to_conn: &str, body: &[u8]) {
    let mid = from.command(from_conn, send(body, false));
    let AgentResponse::MsgId(id) = parsed(&mid) else {
        panic!("{mid:?}");
    };
    from.client
        .wait_for(T, |r| {
            r.conn_id == from_conn && r.command == format!("SENT {id}")
        })
        .unwrap();
    let msg = to.event(to_conn, "MSG");
    assert_eq!(msg.body.as_deref(), Some(body));
    let AgentResponse::Message { meta, .. } = parsed(&msg) else {
        panic!("{msg:?}");
    };
    expect_tag(&to.command(to_conn, ClientCommand::Ack(meta.rcv_id)), "OK");
}

/// Everything `side`'s agent wrote decodes with our decoder and our encoder writes it back
/// byte for byte. Returns what was decoded.
fn decodes_and_reencodes(side: &mut Side) -> Vec<Transmission<AgentResponse>> {
    let recording = side.client.take_recording();
    let mut decoder = Decoder::<AgentResponse>::new();
    let mut decoded = Vec::new();
    let mut rest = recording.as_slice();
    let mut start = 0;
    while !rest.is_empty() {
        let (used, done) = decoder.feed(rest);
        rest = &rest[used..];
        let Some(done) = done else {
            // An event may be arriving as the test ends.
            break;
        };
        let theirs = &recording[start..recording.len() - rest.len()];
        start = recording.len() - rest.len();
        let transmission =
            done.unwrap_or_else(|e| panic!("{}: our decoder refused {e:?}", side.name));
        let ours = transmission_bytes(&transmission).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&integrity_as_we_write_it(theirs)),
            String::from_utf8_lossy(&ours),
            "{}: our encoding differs from the reference's",
            side.name
        );
        decoded.push(transmission);
    }
    assert!(!decoded.is_empty());
    decoded
}

/// spec/agent-protocol.md, difference 2: the reference refuses a `SEND` one byte over the
/// largest body with `ERR CMD LARGE`, as our decoder does, but only after giving it a message
/// id: the next message's id skips one, and the peer sees its integrity as `ERR IDS`.
fn too_large_send(b: &mut Side, b_conn: &str, a: &mut Side, a_conn: &str) {
    let command = send(&body_of(LARGEST_BODY + 1), false);
    let ours = Decoder::<ClientCommand>::new().feed_all(
        &transmission_bytes(&Transmission {
            corr_id: b"x".to_vec(),
            conn_id: b"c".to_vec(),
            command: command.clone(),
        })
        .unwrap(),
    );
    assert_eq!(ours[0].as_ref().unwrap_err().error, CommandErrorType::Large);
    let before = b.command(b_conn, send(b"before", false));
    let refused = b.command(b_conn, command);
    let after = b.command(b_conn, send(b"after", false));
    let mut received = Vec::new();
    for _ in 0..2 {
        let msg = a.event(a_conn, "MSG");
        let AgentResponse::Message { meta, .. } = parsed(&msg) else {
            panic!("{msg:?}");
        };
        expect_tag(&a.command(a_conn, ClientCommand::Ack(meta.rcv_id)), "OK");
        received.push(meta);
    }
    let (AgentResponse::MsgId(before), AgentResponse::MsgId(after)) =
        (parsed(&before), parsed(&after))
    else {
        panic!("{before:?} {after:?}");
    };
    assert_eq!(refused.command, "ERR CMD LARGE");
    assert_eq!(after, before + 2, "the refused SEND took an id");
    assert_eq!(received[0].integrity, MsgIntegrity::Ok);
    // The reference prints this `ERRNO_ID n n` (difference 7), which our decoder reads.
    let skipped = received[0].snd_id + 1;
    assert_eq!(
        received[1].integrity,
        MsgIntegrity::Error(MsgErrorType::Skipped {
            from: skipped,
            to: skipped
        })
    );
}

/// The reference's `MSG` line with an integrity error as the reference's own parser reads it
/// and as we write it (`ERRNO_ID 1 2` → `ERR IDS 1 2`, `ERRHASH` → `ERR HASH`...).
fn integrity_as_we_write_it(theirs: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(theirs);
    let fixed = [
        ("\r\nMSG ERRNO_ID ", "\r\nMSG ERR IDS "),
        ("\r\nMSG ERRID ", "\r\nMSG ERR ID "),
        ("\r\nMSG ERRHASH ", "\r\nMSG ERR HASH "),
        ("\r\nMSG ERRDUPLICATE ", "\r\nMSG ERR DUPLICATE "),
    ]
    .iter()
    .fold(text.into_owned(), |text, (from, to)| {
        text.replacen(from, to, 1)
    });
    fixed.into_bytes()
}

/// spec/agent-protocol.md, difference 3: the reference refuses a `SEND` without a connection
/// before reading its sized body, and then reads the body as the next transmission. A body
/// that is itself a `CHK` gets its own answer from the reference; our decoder skips it.
fn body_of_a_refused_command(a: &mut Side, a_conn: &str) {
    let refused = a.corr_id();
    let smuggled = a.corr_id();
    let command = send(format!("{smuggled}\r\n{a_conn}\r\nCHK").as_bytes(), false);
    let transmission = Transmission {
        corr_id: refused.clone().into_bytes(),
        conn_id: Vec::new(),
        command,
    };
    let bytes = transmission_bytes(&transmission).unwrap();
    a.client.send_raw(&bytes).unwrap();
    let answer = a.client.response(&refused, T).unwrap();
    assert_eq!(answer.command, "ERR CMD NO_CONN");
    let stat = a.client.response(&smuggled, T).unwrap();
    expect_tag(&stat, "STAT");
    let ours = Decoder::<ClientCommand>::new().feed_all(&bytes);
    assert_eq!(ours.len(), 1);
    assert_eq!(
        ours[0].as_ref().unwrap_err().error,
        CommandErrorType::NoConn
    );
}

#[test]
fn the_reference_agent_reads_our_commands_and_we_read_its_replies() {
    let test = "the_reference_agent_reads_our_commands_and_we_read_its_replies";
    let Some(programs) = programs(test) else {
        return;
    };
    let mut server = ReferenceSmpServer::init(&programs, &ServerSetup::default());
    server.start();
    let dir = tempfile::tempdir().unwrap();
    let agent_a = ReferenceAgent::start(&programs, &dir.path().join("a"), &server.address())
        .unwrap_or_else(|e| panic!("agent a: {e}"));
    let agent_b = ReferenceAgent::start(&programs, &dir.path().join("b"), &server.address())
        .unwrap_or_else(|e| panic!("agent b: {e}"));
    let mut a = Side::new("a", agent_a.client(1, T).unwrap());
    let mut b = Side::new("b", agent_b.client(2, T).unwrap());

    // An invitation, messages both ways (the largest, line breaks inside), a `:text` body.
    let (a_conn, b_conn) = connect(&mut a, &mut b, ConnectionMode::Invitation);
    deliver(&mut a, &a_conn, &mut b, &b_conn, &body_of(LARGEST_BODY));
    deliver(&mut b, &b_conn, &mut a, &a_conn, b"\r\n");
    let mid = b.raw(&b_conn, "SEND T :hi there");
    expect_tag(&mid, "MID");
    let msg = a.event(&a_conn, "MSG");
    let AgentResponse::Message { meta, flags, body } = parsed(&msg) else {
        panic!("{msg:?}");
    };
    assert!(flags.notification && body.is_empty() && msg.body.as_deref() == Some(b"hi there"));
    expect_tag(&a.command(&a_conn, ClientCommand::Ack(meta.rcv_id)), "OK");

    too_large_send(&mut b, &b_conn, &mut a, &a_conn);

    // CHK, SUB, and refusals.
    expect_tag(&a.command(&a_conn, ClientCommand::Check), "STAT");
    expect_tag(&a.command(&a_conn, ClientCommand::Subscribe), "OK");
    // Lines may end with a bare LF.
    a.client
        .send_raw(format!("lf\n{a_conn}\nSEND F 3\nl\nf\n").as_bytes())
        .unwrap();
    expect_tag(&a.client.response("lf", T).unwrap(), "MID");
    let msg = b.event(&b_conn, "MSG");
    assert_eq!(msg.body.as_deref(), Some(&b"l\nf"[..]));
    let AgentResponse::Message { meta, .. } = parsed(&msg) else {
        panic!("{msg:?}");
    };
    expect_tag(&b.command(&b_conn, ClientCommand::Ack(meta.rcv_id)), "OK");
    let unknown = a.raw(&a_conn, "HELLO");
    assert_eq!(
        parsed(&unknown),
        AgentResponse::Err(AgentErrorType::Cmd(CommandErrorType::Syntax))
    );
    let no_conn = a.raw("", "SEND F :x");
    assert_eq!(
        parsed(&no_conn),
        AgentResponse::Err(AgentErrorType::Cmd(CommandErrorType::NoConn))
    );
    body_of_a_refused_command(&mut a, &a_conn);
    expect_tag(&a.command(&a_conn, ClientCommand::Ack(9999)), "ERR");

    // A contact address: REQ, ACPT, then CONF and LET the other way.
    let (a_contact_conn, b_contact_conn) = connect(&mut a, &mut b, ConnectionMode::Contact);
    deliver(
        &mut a,
        &a_contact_conn,
        &mut b,
        &b_contact_conn,
        b"via the address",
    );

    // OFF: the peer's next message fails (MERR), then DEL.
    expect_tag(&a.command(&a_conn, ClientCommand::Suspend), "OK");
    let mid = b.command(&b_conn, send(b"after OFF", false));
    let AgentResponse::MsgId(id) = parsed(&mid) else {
        panic!("{mid:?}");
    };
    let merr = b
        .client
        .wait_for(T, |r| r.conn_id == b_conn && r.tag() == "MERR")
        .unwrap();
    assert!(matches!(parsed(&merr), AgentResponse::MsgError { id: i, .. } if i == id));
    expect_tag(&a.command(&a_conn, ClientCommand::Delete), "OK");

    let from_a = decodes_and_reencodes(&mut a);
    let from_b = decodes_and_reencodes(&mut b);
    for tag in [
        "INV", "CONF", "REQ", "CON", "MSG", "STAT", "ERR", "OK", "MID", "SENT",
    ] {
        let seen = |list: &[Transmission<AgentResponse>]| {
            list.iter().any(|t| {
                let mut line = Vec::new();
                simplex_agent::command::write_command_line(&t.command, &mut line).unwrap();
                line.starts_with(tag.as_bytes())
            })
        };
        assert!(seen(&from_a) || seen(&from_b), "no {tag} decoded");
    }
}
