//! No socket, thread or task outlives its connection: many clients connect, talk and leave
//! (cleanly, abruptly, or mid-handshake), and the process's open descriptors and threads come
//! back to where they were, on both shells. Alone in its test binary so that no other test
//! opens descriptors meanwhile.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use simplex_core::protocol::{BrokerMsg, Command};
use simplex_tests::harness::{Options, Runtime, TestServer};

const T: Duration = Duration::from_secs(10);

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

fn threads() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("Threads:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn rss_kib() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn settles(what: &str, baseline: usize, read: fn() -> usize) {
    let until = Instant::now() + T;
    while read() > baseline {
        assert!(Instant::now() < until, "{what}: {} > {baseline}", read());
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// One test, so that the parts never run in parallel (they count the process's descriptors).
#[test]
fn no_leaks_and_bounded_memory() {
    connections_leave_nothing_behind();
    many_stalled_and_garbage_connections_keep_memory_bounded();
}

fn connections_leave_nothing_behind() {
    for rt in [Runtime::Mio, Runtime::Smol] {
        let server = TestServer::start(rt, Options::default());
        // One client first, so lazily created runtime threads and buffers exist already.
        let mut warm = server.client(1);
        assert_eq!(
            warm.request("p", &[], &Command::Ping, None, T).unwrap(),
            BrokerMsg::Pong
        );
        drop(warm);
        std::thread::sleep(Duration::from_millis(200));
        let (fds, thr) = (open_fds(), threads());
        for i in 0..60u64 {
            match i % 3 {
                // Clean: TLS close_notify, then the socket closes.
                0 => {
                    let mut c = server.client(100 + i);
                    c.request("p", &[], &Command::Ping, None, T).unwrap();
                    c.close().unwrap();
                }
                // Abrupt: the socket just goes away.
                1 => {
                    let mut c = server.client(100 + i);
                    c.request("p", &[], &Command::Ping, None, T).unwrap();
                }
                // Mid-handshake.
                _ => {
                    let mut s = TcpStream::connect(server.addr).unwrap();
                    s.write_all(&[0x16, 0x03, 0x01]).unwrap();
                }
            }
        }
        settles("open descriptors", fds, open_fds);
        settles("threads", thr, threads);
        assert_eq!(server.stop(), 0);
    }
}

fn many_stalled_and_garbage_connections_keep_memory_bounded() {
    for rt in [Runtime::Mio, Runtime::Smol] {
        let server = TestServer::start(
            rt,
            Options {
                handshake_timeout: Duration::from_secs(1),
                ..Options::default()
            },
        );
        let mut good = server.client(1);
        let before = rss_kib();
        let fds = open_fds();
        let mut held = Vec::new();
        for i in 0..300u32 {
            let mut s = TcpStream::connect(server.addr).unwrap();
            if i % 3 == 0 {
                let _ = s.write_all(&[i as u8; 5000]);
            }
            held.push(s);
        }
        // The good client is served meanwhile.
        assert_eq!(
            good.request("p", &[], &Command::Ping, None, T).unwrap(),
            BrokerMsg::Pong
        );
        let grown = rss_kib().saturating_sub(before);
        assert!(grown < 150 * 1024, "{grown} KiB for 300 connections");
        // The server closes every one of them (garbage at once, the rest at the timeout),
        // so once the client ends drop theirs, no descriptor is left.
        for s in &mut held {
            s.set_read_timeout(Some(T)).unwrap();
            let mut buf = [0u8; 1024];
            loop {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {} // a TLS alert first
                }
            }
        }
        drop(held);
        settles("open descriptors", fds, open_fds);
        assert_eq!(
            good.request("p2", &[], &Command::Ping, None, T).unwrap(),
            BrokerMsg::Pong
        );
        assert_eq!(server.stop(), 0);
    }
}
