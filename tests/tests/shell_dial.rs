//! Outgoing sockets on both shells (`SocketAction::Connect`, `run_outgoing`): a dial that
//! succeeds carries bytes both ways and reports the peer's close, a refused dial is reported
//! failed, and a dial the service abandons at once is never reported. The two shells must
//! report the same thing for each socket.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use simplex_core::time::Clock;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;

use simplex_core::client::KeepAlive;
use simplex_core::driver::{
    Service, ShellInput, ShellLimits, SocketAction, StopFlag, FIRST_OUTGOING_SOCKET,
};
use simplex_core::time::Instant;

const ECHO: u64 = FIRST_OUTGOING_SOCKET;
const REFUSED: u64 = FIRST_OUTGOING_SOCKET + 1;
const ABANDONED: u64 = FIRST_OUTGOING_SOCKET + 2;

/// Dials on its first turn and writes down what the shell reports, per socket.
struct Recorder {
    echo_port: u16,
    refused_port: u16,
    started: bool,
    log: BTreeMap<u64, Vec<String>>,
    stop: StopFlag,
}

impl Recorder {
    fn note(&mut self, socket: u64, what: String) {
        self.log.entry(socket).or_default().push(what);
    }

    fn done(&self) -> bool {
        let ended = |s: u64| {
            self.log
                .get(&s)
                .and_then(|l| l.last())
                .is_some_and(|e| e == "closed" || e == "failed")
        };
        ended(ECHO) && ended(REFUSED)
    }
}

impl Service for Recorder {
    fn handle(
        &mut self,
        _clock: Clock,
        input: ShellInput<'_>,
        actions: &mut Vec<SocketAction>,
    ) -> Option<Instant> {
        match input {
            ShellInput::Tick if !self.started => {
                self.started = true;
                actions.push(SocketAction::Connect {
                    socket: ECHO,
                    host: "localhost".into(),
                    port: self.echo_port,
                    keep_alive: Some(KeepAlive::default()),
                });
                actions.push(SocketAction::Connect {
                    socket: REFUSED,
                    host: "127.0.0.1".into(),
                    port: self.refused_port,
                    keep_alive: None,
                });
                actions.push(SocketAction::Connect {
                    socket: ABANDONED,
                    host: "127.0.0.1".into(),
                    port: self.echo_port,
                    keep_alive: None,
                });
                actions.push(SocketAction::Close(ABANDONED));
            }
            ShellInput::Connected(s) => {
                self.note(s, "connected".into());
                actions.push(SocketAction::Write(s, b"ping".to_vec()));
            }
            ShellInput::ConnectFailed(s) => self.note(s, "failed".into()),
            ShellInput::Received(s, bytes) => {
                // The peer's bytes may come in pieces: join them into one entry.
                let text = String::from_utf8_lossy(bytes).into_owned();
                match self.log.entry(s).or_default().last_mut() {
                    Some(last) if last.starts_with("received ") => last.push_str(&text),
                    _ => self.note(s, format!("received {text}")),
                }
            }
            ShellInput::PeerClosed(s) => self.note(s, "closed".into()),
            ShellInput::Accepted(s, _) => self.note(s, "accepted".into()),
            ShellInput::Tick | ShellInput::Shutdown => {}
        }
        if self.done() {
            self.stop.stop();
        }
        None
    }
}

/// Answers every connection's "ping" with "pong", then closes it.
fn echo_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            std::thread::spawn(move || {
                stream
                    .set_read_timeout(Some(Duration::from_secs(5)))
                    .unwrap();
                let mut buf = [0u8; 4];
                if stream.read_exact(&mut buf).is_ok() && &buf == b"ping" {
                    let _ = stream.write_all(b"pong");
                }
            });
        }
    });
    port
}

fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn run(mio: bool) -> BTreeMap<u64, Vec<String>> {
    let stop = StopFlag::new();
    let mut service = Recorder {
        echo_port: echo_server(),
        refused_port: closed_port(),
        started: false,
        log: BTreeMap::new(),
        stop: stop.clone(),
    };
    // Bounded: the test fails rather than hangs if a report never comes.
    let watchdog = stop.clone();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(20));
        watchdog.stop();
    });
    if mio {
        simplex_io_mio::run_outgoing(&mut service, &stop, ShellLimits::default()).unwrap();
    } else {
        simplex_io_smol::run_outgoing(&mut service, &stop, ShellLimits::default()).unwrap();
    }
    service.log
}

#[test]
fn both_shells_dial_alike() {
    let expected: BTreeMap<u64, Vec<String>> = [
        (
            ECHO,
            vec!["connected".into(), "received pong".into(), "closed".into()],
        ),
        (REFUSED, vec!["failed".into()]),
    ]
    .into_iter()
    .collect();
    assert_eq!(run(true), expected, "mio");
    assert_eq!(run(false), expected, "smol");
}
