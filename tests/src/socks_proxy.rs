//! A real SOCKS5 proxy for the tests: Debian's `microsocks`, started on a free loopback port
//! and killed when dropped (`.ci/run` installs it).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const T: Duration = Duration::from_secs(10);

/// A running `microsocks`, killed when dropped; its log lines arrive on `log`.
pub struct Proxy {
    child: Child,
    /// Where it listens (on 127.0.0.1).
    pub port: u16,
    /// Its log lines (one per connection it makes, naming the target).
    pub log: mpsc::Receiver<String>,
}

impl Proxy {
    /// Starts it and waits until it accepts connections.
    pub fn start() -> Self {
        let port = {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let mut child = Command::new("microsocks")
            .args(["-i", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("microsocks is needed (apt-get install microsocks; .ci/run installs it)");
        let (tx, log) = mpsc::channel();
        for pipe in [
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
            child
                .stderr
                .take()
                .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    let _ = tx.send(line);
                }
            });
        }
        // Ready once it accepts a connection.
        let until = std::time::Instant::now() + T;
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < until,
                "microsocks did not start"
            );
            if let Ok(Some(status)) = child.try_wait() {
                panic!("microsocks exited: {status}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Proxy { child, port, log }
    }

    /// Kills it (and so every tunnel through it).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop();
    }
}
