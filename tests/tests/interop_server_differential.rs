//! Interop, differential: one script of SMP commands, edge cases included, runs against the
//! reference smp-server v3.2.0 and against ours (both shells), each over three connections of
//! our transport; every answer and every pushed transmission, reduced to what does not depend
//! on random ids, must be the same on both servers.
//!
//! The script covers `NEW` (and bad signatures on it), sending before and after `KEY`, signed
//! sends to an unsecured queue, a second `KEY`, `SUB` again, `ACK` with a wrong id, `GET` on the
//! subscribed connection and on another, the takeover `END`, the largest and too-large bodies,
//! `NKEY` twice, `NSUB`, `NDEL` twice, `OFF` and what follows it, `DEL` twice, keys used on the
//! wrong entity, at protocol v3 and v4.
//!
//! Gated by `SIMPLEX_REFERENCE_DIR` (see `simplex_tests::reference`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use bytes::Bytes;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use simplex_core::client::{generate_sign_key, SignAlgorithm};
use simplex_core::crypto::cbox::CbKey;
use simplex_core::crypto::hash::KeyHash;
use simplex_core::crypto::keys::SignKey;
use simplex_core::crypto::x25519;
use simplex_core::encoding::VersionRange;
use simplex_core::protocol::{BrokerMsg, Command, MsgFlags, MsgId};
use simplex_core::transport::Framing;
use simplex_tests::harness::{Options, Runtime as ServerShell, TestServer};
use simplex_tests::net::{open_message, NetClient, Received};
use simplex_tests::reference::process::StopSignal;
use simplex_tests::reference::programs;
use simplex_tests::reference::smp_server::{ReferenceSmpServer, ServerSetup};

const T: Duration = Duration::from_secs(10);
/// How long to wait for transmissions a server pushes (or must not push).
const PUSH_WAIT: Duration = Duration::from_millis(250);
/// The largest body the reference accepts (REFERENCE-NOTES 10).
const MAX_BODY: usize = 16_088;

/// The three connections: R (recipient), S (sender), O (another recipient connection).
#[derive(Debug, Clone, Copy)]
enum Who {
    R,
    S,
    O,
}

struct Script {
    conns: [NetClient; 3],
    log: Vec<String>,
    corr: u32,
    body_key: Option<CbKey>,
}

impl Script {
    fn conn(&mut self, who: Who) -> &mut NetClient {
        &mut self.conns[who as usize]
    }

    fn show(&self, m: &BrokerMsg) -> String {
        match m {
            BrokerMsg::Ids { .. } => "IDS".into(),
            BrokerMsg::Msg(msg) => match &self.body_key {
                Some(key) => match open_message(key, msg) {
                    Ok(body) => format!(
                        "MSG {} bytes {:?} notify={}",
                        body.len(),
                        String::from_utf8_lossy(body.get(..body.len().min(24)).unwrap()),
                        msg.flags.notification
                    ),
                    Err(e) => format!("MSG that does not open: {e}"),
                },
                None => "MSG".into(),
            },
            BrokerMsg::Nid { .. } => "NID".into(),
            BrokerMsg::NMsg { .. } => "NMSG".into(),
            BrokerMsg::End => "END".into(),
            BrokerMsg::Ok => "OK".into(),
            BrokerMsg::Err(e) => format!("ERR {e:?}"),
            BrokerMsg::Pong => "PONG".into(),
        }
    }

    fn show_received(&self, t: &Received) -> String {
        match &t.message {
            Ok(m) => self.show(m),
            Err(e) => format!("transport error {e:?}"),
        }
    }

    /// Sends `cmd` on `who`'s connection and logs the answer under `label`.
    fn ask(
        &mut self,
        who: Who,
        label: &str,
        entity: &[u8],
        cmd: Command,
        key: Option<&SignKey>,
    ) -> BrokerMsg {
        self.corr += 1;
        let corr = format!("c{}", self.corr);
        let answer = self
            .conn(who)
            .request(&corr, entity, &cmd, key, T)
            .unwrap_or_else(|e| panic!("{label}: {e}"));
        let line = format!("{label}: {}", self.show(&answer));
        self.log.push(line);
        answer
    }

    /// Sends raw transmissions (one batch where the version allows) and logs everything that
    /// comes back, with its correlation id, up to the answer to a `PING` sent after them in a
    /// block of its own (both servers answer a connection's blocks after the ones before).
    /// Before v4 each transmission is a block of its own, and the reference answers separate
    /// blocks in an order that depends on its threads (its reader may check the next block
    /// before the previous one's command ran), so there the answers are compared in any order.
    fn raw(&mut self, who: Who, label: &str, transmissions: Vec<Vec<u8>>) {
        let any_order = transmissions.len() > 1 && self.conn(who).version() < Some(4);
        let conn = self.conn(who);
        conn.send_raw(transmissions)
            .unwrap_or_else(|e| panic!("{label}: {e}"));
        conn.send("end", &[], &Command::Ping, None)
            .unwrap_or_else(|e| panic!("{label}: {e}"));
        let mut seen = Vec::new();
        loop {
            let t = self
                .conn(who)
                .receive(T)
                .unwrap_or_else(|e| panic!("{label}: {e} after {seen:?}"));
            let corr = String::from_utf8_lossy(t.corr_id.as_bytes()).into_owned();
            if corr == "end" && matches!(t.message, Ok(BrokerMsg::Pong)) {
                break;
            }
            seen.push(format!("{corr:?} {}", self.show_received(&t)));
        }
        if any_order {
            seen.sort();
        }
        self.log.push(format!("{label}: {seen:?}"));
    }

    /// Logs what the server pushed to `who` (nothing, or `MSG`, `END`, `NMSG`...).
    fn pushed(&mut self, who: Who, label: &str) {
        let mut seen = Vec::new();
        while let Ok(t) = self.conn(who).receive(PUSH_WAIT) {
            seen.push(self.show_received(&t));
        }
        self.log.push(format!("{label}: pushed {seen:?}"));
    }
}

fn msg_id(m: &BrokerMsg, label: &str) -> MsgId {
    match m {
        BrokerMsg::Msg(msg) => msg.msg_id.clone(),
        other => panic!("{label}: not a message: {other:?}"),
    }
}

fn send(body: &[u8], notify: bool) -> Command {
    Command::Send {
        flags: MsgFlags {
            notification: notify,
        },
        body: Bytes::copy_from_slice(body),
    }
}

/// Runs the script against the server at `addr` at protocol `1..=max_version`; the log.
fn run(addr: std::net::SocketAddr, key_hash: KeyHash, max_version: u16) -> Vec<String> {
    let versions = VersionRange::between(1, max_version);
    let connect = |seed| NetClient::connect_with(addr, key_hash, seed, T, Framing::Raw, versions);
    let mut s = Script {
        conns: [
            connect(1).unwrap(),
            connect(2).unwrap(),
            connect(3).unwrap(),
        ],
        log: Vec::new(),
        corr: 0,
        body_key: None,
    };
    use Who::{O, R, S};
    let mut rng = ChaCha20Rng::seed_from_u64(u64::from(max_version));
    let rkey = generate_sign_key(SignAlgorithm::Ed448, &mut rng);
    let skey = generate_sign_key(SignAlgorithm::Ed25519, &mut rng);
    let nkey = generate_sign_key(SignAlgorithm::Ed25519, &mut rng);
    let other = generate_sign_key(SignAlgorithm::Ed448, &mut rng);
    let dh = x25519::PrivateKey::generate(&mut rng);
    let new = || Command::New {
        recipient_key: rkey.verify_key(),
        dh_key: dh.public_key(),
    };

    s.ask(R, "PING", &[], Command::Ping, None);
    s.ask(R, "NEW signed by another key", &[], new(), Some(&other));
    s.ask(R, "NEW unsigned", &[], new(), None);
    let (rid, sid, server_dh) = match s.ask(R, "NEW", &[], new(), Some(&rkey)) {
        BrokerMsg::Ids {
            recipient_id,
            sender_id,
            server_dh_key,
        } => (recipient_id, sender_id, server_dh_key),
        other => panic!("NEW: {other:?}"),
    };
    s.body_key = Some(CbKey::new(&dh.diffie_hellman(&server_dh).unwrap()));
    let (rid, sid) = (rid.as_bytes().to_vec(), sid.as_bytes().to_vec());

    s.ask(
        S,
        "SEND unsigned, unsecured",
        &sid,
        send(b"one", false),
        None,
    );
    s.pushed(R, "after the first SEND");
    s.ask(
        S,
        "SEND signed, unsecured",
        &sid,
        send(b"x", false),
        Some(&skey),
    );
    s.ask(
        R,
        "KEY unsigned",
        &rid,
        Command::Key(skey.verify_key()),
        None,
    );
    s.ask(R, "KEY", &rid, Command::Key(skey.verify_key()), Some(&rkey));
    s.ask(
        R,
        "KEY again",
        &rid,
        Command::Key(other.verify_key()),
        Some(&rkey),
    );
    s.ask(S, "SEND unsigned, secured", &sid, send(b"x", false), None);
    s.ask(
        S,
        "SEND by another key",
        &sid,
        send(b"x", false),
        Some(&other),
    );
    s.ask(S, "SEND signed", &sid, send(b"two", true), Some(&skey));
    s.pushed(R, "nothing before ACK");
    let first = s.ask(R, "SUB again", &rid, Command::Sub, Some(&rkey));
    let first = msg_id(&first, "SUB again");
    s.ask(
        R,
        "ACK a wrong id",
        &rid,
        Command::Ack(MsgId::from_slice(b"nope").unwrap()),
        Some(&rkey),
    );
    s.ask(
        R,
        "GET on the subscribed connection",
        &rid,
        Command::Get,
        Some(&rkey),
    );
    let second = s.ask(R, "ACK", &rid, Command::Ack(first.clone()), Some(&rkey));
    let second = msg_id(&second, "ACK");
    s.ask(
        R,
        "ACK the same id again",
        &rid,
        Command::Ack(first),
        Some(&rkey),
    );
    s.ask(O, "GET elsewhere", &rid, Command::Get, Some(&rkey));
    s.ask(O, "GET by another key", &rid, Command::Get, Some(&other));
    s.ask(O, "SUB where GET was used", &rid, Command::Sub, Some(&rkey));
    s.ask(S, "SUB elsewhere", &rid, Command::Sub, Some(&rkey));
    s.pushed(R, "the first subscriber");
    s.ask(
        R,
        "ACK after END",
        &rid,
        Command::Ack(second.clone()),
        Some(&rkey),
    );
    s.ask(
        S,
        "ACK on the new subscriber",
        &rid,
        Command::Ack(second),
        Some(&rkey),
    );

    let largest = vec![b'L'; MAX_BODY];
    s.ask(
        S,
        "SEND the largest body",
        &sid,
        send(&largest, false),
        Some(&skey),
    );
    s.pushed(S, "the largest body");
    let too_large = vec![b'L'; MAX_BODY + 1];
    s.ask(
        S,
        "SEND a body too large",
        &sid,
        send(&too_large, false),
        Some(&skey),
    );
    s.ask(S, "SEND an empty body", &sid, send(b"", false), Some(&skey));
    s.pushed(S, "nothing before ACK of the largest");

    let ntf_dh = x25519::PrivateKey::generate(&mut rng);
    let nkey_cmd = |k: &SignKey| Command::NKey {
        notifier_key: k.verify_key(),
        dh_key: ntf_dh.public_key(),
    };
    s.ask(R, "NKEY unsigned", &rid, nkey_cmd(&nkey), None);
    let nid = match s.ask(R, "NKEY", &rid, nkey_cmd(&nkey), Some(&rkey)) {
        BrokerMsg::Nid { notifier_id, .. } => notifier_id.as_bytes().to_vec(),
        other => panic!("NKEY: {other:?}"),
    };
    let nid2 = match s.ask(R, "NKEY again", &rid, nkey_cmd(&other), Some(&rkey)) {
        BrokerMsg::Nid { notifier_id, .. } => notifier_id.as_bytes().to_vec(),
        other => panic!("NKEY again: {other:?}"),
    };
    s.log
        .push(format!("NKEY again keeps the notifier id: {}", nid == nid2));
    s.ask(
        O,
        "NSUB by the recipient key",
        &nid2,
        Command::NSub,
        Some(&rkey),
    );
    s.ask(
        O,
        "NSUB by the replaced key",
        &nid2,
        Command::NSub,
        Some(&nkey),
    );
    s.ask(O, "NSUB", &nid2, Command::NSub, Some(&other));
    s.ask(
        O,
        "NSUB on the recipient id",
        &rid,
        Command::NSub,
        Some(&other),
    );
    s.ask(R, "SUB on the sender id", &sid, Command::Sub, Some(&rkey));
    s.ask(
        R,
        "SUB on the notifier id",
        &nid2,
        Command::Sub,
        Some(&rkey),
    );
    s.ask(
        R,
        "SEND on the recipient id",
        &rid,
        send(b"x", false),
        Some(&skey),
    );
    s.ask(R, "SEND flagged", &sid, send(b"flagged", true), Some(&skey));
    s.pushed(O, "the notifier");
    s.ask(R, "NDEL", &rid, Command::NDel, Some(&rkey));
    s.ask(R, "NDEL again", &rid, Command::NDel, Some(&rkey));
    s.ask(
        R,
        "SEND flagged after NDEL",
        &sid,
        send(b"late", true),
        Some(&skey),
    );
    s.pushed(O, "the notifier after NDEL");
    s.ask(O, "NSUB after NDEL", &nid2, Command::NSub, Some(&other));

    s.ask(R, "OFF by another key", &rid, Command::Off, Some(&other));
    s.ask(R, "OFF", &rid, Command::Off, Some(&rkey));
    s.ask(S, "SEND after OFF", &sid, send(b"x", false), Some(&skey));
    s.ask(R, "SUB after OFF", &rid, Command::Sub, Some(&rkey));
    s.ask(R, "OFF again", &rid, Command::Off, Some(&rkey));
    s.pushed(S, "the subscriber after OFF");
    s.ask(R, "DEL", &rid, Command::Del, Some(&rkey));
    s.ask(R, "DEL again", &rid, Command::Del, Some(&rkey));
    s.ask(S, "SEND after DEL", &sid, send(b"x", false), Some(&skey));
    s.pushed(S, "the subscriber after DEL");
    s.ask(O, "SUB after DEL", &rid, Command::Sub, Some(&rkey));
    s.ask(R, "PING at the end", &[], Command::Ping, None);
    for c in &mut s.conns {
        c.close().unwrap();
    }
    s.log
}

/// Malformed and batched transmissions, made by editing well-formed ones: an unknown command,
/// a command only servers send, `ACK` without its id, a truncated transmission, a wrong session
/// id, a signature of the wrong size, and a batch with a bad transmission in the middle.
fn run_malformed(addr: std::net::SocketAddr, key_hash: KeyHash, max_version: u16) -> Vec<String> {
    let versions = VersionRange::between(1, max_version);
    let connect = |seed| NetClient::connect_with(addr, key_hash, seed, T, Framing::Raw, versions);
    let mut s = Script {
        conns: [
            connect(4).unwrap(),
            connect(5).unwrap(),
            connect(6).unwrap(),
        ],
        log: Vec::new(),
        corr: 0,
        body_key: None,
    };
    use Who::R;
    let mut rng = ChaCha20Rng::seed_from_u64(100 + u64::from(max_version));
    let rkey = generate_sign_key(SignAlgorithm::Ed25519, &mut rng);
    let dh = x25519::PrivateKey::generate(&mut rng);
    let new = Command::New {
        recipient_key: rkey.verify_key(),
        dh_key: dh.public_key(),
    };
    let rid = match s.ask(R, "NEW", &[], new, Some(&rkey)) {
        BrokerMsg::Ids { recipient_id, .. } => recipient_id.as_bytes().to_vec(),
        other => panic!("NEW: {other:?}"),
    };
    let encode = |s: &mut Script, corr: &str, entity: &[u8], cmd: &Command, key| {
        s.conn(R).encode(corr.as_bytes(), entity, cmd, key).unwrap()
    };
    // An unsigned PING ends in the command's bytes: swap them for others.
    let ping = encode(&mut s, "p", &[], &Command::Ping, None);
    let with_command = |t: &[u8], cmd: &[u8]| {
        let mut t = t.get(..t.len() - 4).unwrap().to_vec();
        t.extend_from_slice(cmd);
        t
    };
    s.raw(R, "an unknown command", vec![with_command(&ping, b"HELO")]);
    s.raw(R, "PONG from a client", vec![with_command(&ping, b"PONG")]);
    let sub = encode(&mut s, "a", &rid, &Command::Sub, Some(&rkey));
    s.raw(R, "SUB with its own signature", vec![sub]);
    let ack = encode(&mut s, "b", &rid, &Command::Ping, Some(&rkey));
    s.raw(R, "ACK without an id", vec![with_command(&ack, b"ACK")]);
    s.raw(
        R,
        "a truncated transmission",
        vec![ping.get(..5).unwrap().to_vec()],
    );
    // Unsigned: a zero signature length, then the session id's length and the session id.
    let mut wrong_session = ping.clone();
    wrong_session[2] ^= 0xFF;
    s.raw(R, "a wrong session id", vec![wrong_session]);
    // Signed with Ed25519: a 64-byte signature; claim 63 and drop a byte.
    let get = encode(&mut s, "g", &rid, &Command::Get, Some(&rkey));
    assert_eq!(get[0], 64);
    let mut short_sig = get.clone();
    short_sig[0] = 63;
    short_sig.remove(1);
    s.raw(R, "a signature of the wrong size", vec![short_sig]);
    let p1 = encode(&mut s, "1", &[], &Command::Ping, None);
    let p3 = encode(&mut s, "3", &[], &Command::Ping, None);
    let bad = with_command(&encode(&mut s, "2", &[], &Command::Ping, None), b"NOPE");
    s.raw(R, "a batch with a bad transmission", vec![p1, bad, p3]);
    s.ask(R, "PING at the end", &[], Command::Ping, None);
    for c in &mut s.conns {
        c.close().unwrap();
    }
    s.log
}

fn compare(reference: &[String], ours: &[String], what: &str) {
    let width = reference.iter().map(String::len).max().unwrap_or(0);
    let mut table = String::new();
    let mut differ = reference.len() != ours.len();
    for i in 0..reference.len().max(ours.len()) {
        let a = reference.get(i).map_or("-", String::as_str);
        let b = ours.get(i).map_or("-", String::as_str);
        let mark = if a == b { ' ' } else { '≠' };
        differ |= a != b;
        table.push_str(&format!("{mark} {a:width$} | {b}\n"));
    }
    assert!(!differ, "{what}: reference | ours\n{table}");
}

fn differential(shell: ServerShell, test: &str) {
    let Some(programs) = programs(test) else {
        return;
    };
    let mut reference = ReferenceSmpServer::init(&programs, &ServerSetup::default());
    reference.start();
    let key_hash = KeyHash::from_base64url(reference.fingerprint()).unwrap();
    let ours = TestServer::start(shell, Options::default());
    assert_eq!(ours.key_hash, key_hash, "both use the fixture identity");
    for max_version in [3, 4] {
        let theirs = run(reference.addr(), key_hash, max_version);
        let mine = run(ours.addr, key_hash, max_version);
        compare(&theirs, &mine, &format!("v{max_version}"));
        let theirs = run_malformed(reference.addr(), key_hash, max_version);
        let mine = run_malformed(ours.addr, key_hash, max_version);
        compare(&theirs, &mine, &format!("malformed, v{max_version}"));
    }
    assert!(reference.is_running(), "{}", reference.output());
    reference.stop(StopSignal::Interrupt);
    assert_eq!(ours.stop(), 0);
}

#[test]
fn same_answers_as_the_reference_mio() {
    differential(ServerShell::Mio, "same_answers_as_the_reference_mio");
}

#[test]
fn same_answers_as_the_reference_smol() {
    differential(ServerShell::Smol, "same_answers_as_the_reference_smol");
}
