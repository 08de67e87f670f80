//! No socket, thread or task outlives its connection: many clients connect, talk and leave
//! (cleanly, abruptly, or mid-handshake), and the process's open descriptors and threads come
//! back to where they were, on both shells. Alone in its test binary so that no other test
//! opens descriptors meanwhile.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
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

fn settles(what: &str, baseline: usize, read: fn() -> usize) {
    let until = Instant::now() + T;
    while read() > baseline {
        assert!(Instant::now() < until, "{what}: {} > {baseline}", read());
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
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
