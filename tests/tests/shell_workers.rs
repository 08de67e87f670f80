//! Several services as one server (`run_workers`) on both shells: each service hears its place
//! among the workers, the first loop deals accepted sockets out in turn, each worker numbers
//! its sockets so that the id names the worker holding it, the wakers of all workers work
//! across threads, and the bound on open sockets is the server's, not one worker's.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use simplex_core::time::Clock;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use simplex_core::driver::{
    Service, ShellInput, ShellLimits, SocketAction, StopFlag, Waker, Workers,
};
use simplex_core::time::Instant;

const T: Duration = Duration::from_secs(10);

/// What the workers saw, shared by all of them and the test.
#[derive(Default)]
struct Seen {
    /// (worker, socket id) for each accepted socket.
    accepted: Vec<(usize, u64)>,
    /// Each worker's waker, once set.
    wakers: Vec<Option<Waker>>,
    /// Ticks each worker got after another thread woke it.
    woken: Vec<usize>,
    /// Workers asked to wake, by index.
    wake_asked: Vec<bool>,
}

/// Answers each socket's bytes with its own worker index and socket id, and counts wake-ups.
struct Worker {
    place: Option<Workers>,
    seen: Arc<Mutex<Seen>>,
    open: Vec<u64>,
}

impl Service for Worker {
    fn set_waker(&mut self, waker: Waker) {
        let index = self.place.expect("set_workers comes first").index();
        self.seen.lock().unwrap().wakers[index] = Some(waker);
    }

    fn set_workers(&mut self, workers: Workers) {
        self.place = Some(workers);
    }

    fn handle(
        &mut self,
        _clock: Clock,
        input: ShellInput<'_>,
        actions: &mut Vec<SocketAction>,
    ) -> Option<Instant> {
        let index = self.place.unwrap().index();
        let mut seen = self.seen.lock().unwrap();
        match input {
            ShellInput::Accepted(id, _) => {
                seen.accepted.push((index, id));
                self.open.push(id);
            }
            ShellInput::PeerClosed(id) => self.open.retain(|o| *o != id),
            ShellInput::Shutdown => {
                actions.extend(self.open.drain(..).map(SocketAction::Close));
            }
            ShellInput::Received(id, _) => actions.push(SocketAction::Write(
                id,
                format!("{index} {id}\n").into_bytes(),
            )),
            ShellInput::Tick if seen.wake_asked[index] => {
                seen.wake_asked[index] = false;
                seen.woken[index] += 1;
            }
            _ => {}
        }
        None
    }
}

fn ask(stream: &mut TcpStream) -> Option<(usize, u64)> {
    stream.write_all(b"?").ok()?;
    let mut got = Vec::new();
    let mut byte = [0u8; 1];
    while stream.read(&mut byte).ok()? == 1 {
        if byte[0] == b'\n' {
            let text = String::from_utf8(got).ok()?;
            let (w, id) = text.split_once(' ')?;
            return Some((w.parse().ok()?, id.parse().ok()?));
        }
        got.push(byte[0]);
    }
    None
}

fn workers_share_a_server(mio: bool) {
    const WORKERS: usize = 3;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Seen {
        wakers: vec![None; WORKERS],
        woken: vec![0; WORKERS],
        wake_asked: vec![false; WORKERS],
        ..Seen::default()
    }));
    let stop = StopFlag::new();
    let limits = ShellLimits {
        max_connections: 7,
        ..ShellLimits::default()
    };
    let server = {
        let seen = seen.clone();
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut services: Vec<Worker> = (0..WORKERS)
                .map(|_| Worker {
                    place: None,
                    seen: seen.clone(),
                    open: Vec::new(),
                })
                .collect();
            if mio {
                simplex_io_mio::run_workers(vec![listener], &mut services, &stop, limits)
            } else {
                simplex_io_smol::run_workers(vec![listener], &mut services, &stop, limits)
            }
            .unwrap();
        })
    };

    // Six clients: dealt two to each worker, in turn, each id naming its holder.
    let mut clients: Vec<TcpStream> = (0..6)
        .map(|_| {
            let s = TcpStream::connect(addr).unwrap();
            s.set_read_timeout(Some(T)).unwrap();
            s
        })
        .collect();
    let answers: Vec<(usize, u64)> = clients.iter_mut().map(|c| ask(c).unwrap()).collect();
    let mut per_worker = [0usize; WORKERS];
    for (worker, id) in &answers {
        per_worker[*worker] += 1;
        assert_eq!(
            Workers::new(*worker, WORKERS).owner(*id),
            *worker,
            "{answers:?}"
        );
    }
    assert_eq!(per_worker, [2, 2, 2], "{answers:?}");
    let mut ids: Vec<u64> = answers.iter().map(|(_, id)| *id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 6, "ids unique across workers: {answers:?}");

    // Seven open in all: the eighth is closed at once, whichever worker its turn falls on.
    let mut seventh = TcpStream::connect(addr).unwrap();
    seventh.set_read_timeout(Some(T)).unwrap();
    assert!(ask(&mut seventh).is_some());
    let mut eighth = TcpStream::connect(addr).unwrap();
    eighth.set_read_timeout(Some(T)).unwrap();
    assert_eq!(ask(&mut eighth), None, "past the server's bound");
    // One closes: there is room again.
    drop(clients.pop());
    let until = std::time::Instant::now() + T;
    let ninth = loop {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(T)).unwrap();
        if let Some(answer) = ask(&mut s) {
            break answer;
        }
        assert!(std::time::Instant::now() < until, "no room after a close");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(Workers::new(ninth.0, WORKERS).owner(ninth.1), ninth.0);

    // Each worker's waker wakes that worker's loop from this thread.
    for index in 0..WORKERS {
        let waker = {
            let mut s = seen.lock().unwrap();
            s.wake_asked[index] = true;
            s.wakers[index].clone().expect("a waker per worker")
        };
        waker();
        let until = std::time::Instant::now() + T;
        while seen.lock().unwrap().woken[index] == 0 {
            assert!(
                std::time::Instant::now() < until,
                "worker {index} not woken"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    stop.stop();
    server.join().unwrap();
    let seen = seen.lock().unwrap();
    for (worker, id) in &seen.accepted {
        assert_eq!(Workers::new(*worker, WORKERS).owner(*id), *worker);
    }
}

#[test]
fn mio_workers_share_a_server() {
    workers_share_a_server(true);
}

#[test]
fn smol_workers_share_a_server() {
    workers_share_a_server(false);
}

#[test]
fn one_worker_numbers_sockets_from_one() {
    let one = Workers::single();
    assert_eq!(one.first_socket(), 1);
    assert_eq!(one.owner(17), 0);
    let w = Workers::new(2, 3);
    assert_eq!(w.first_socket(), 5);
    assert_eq!(w.owner(5), 2);
    assert_eq!(w.owner(8), 2);
    assert_eq!(
        Workers::new(9, 3).index(),
        2,
        "an index past the end is the last"
    );
    assert_eq!(Workers::new(0, 0).count(), 1, "at least one worker");
}
