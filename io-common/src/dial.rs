//! The blocking half of dialling, shared by both shells: each runs it off its loop (mio on a
//! short-lived thread, smol on its blocking pool), so a slow name lookup or connect never
//! stalls serving the other sockets.

use std::io;
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use simplex_core::client::KeepAlive;

/// How long one address may take to accept a dial (the service has its own, shorter, deadline
/// and abandons the socket past it).
const DIAL_TIMEOUT: Duration = Duration::from_secs(30);

/// Resolves `host` and tries its addresses in turn (blocking), setting TCP keep-alive on the
/// connected socket when asked.
pub fn dial_blocking(
    host: &str,
    port: u16,
    keep_alive: Option<&KeepAlive>,
) -> io::Result<TcpStream> {
    let mut last = io::Error::new(io::ErrorKind::NotFound, "the name has no address");
    for addr in (host, port).to_socket_addrs()? {
        match TcpStream::connect_timeout(&addr, DIAL_TIMEOUT) {
            Ok(stream) => {
                if let Some(k) = keep_alive {
                    // Best effort: without keep-alive the connection still works.
                    let _ = set_keep_alive(&stream, k);
                }
                return Ok(stream);
            }
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// Sets TCP keep-alive: the idle time everywhere, the probe interval and count where the
/// platform has them.
fn set_keep_alive(stream: &TcpStream, k: &KeepAlive) -> io::Result<()> {
    let params = socket2::TcpKeepalive::new().with_time(k.idle);
    #[cfg(any(
        target_os = "linux",
        target_os = "android",
        target_os = "freebsd",
        target_os = "macos"
    ))]
    let params = params.with_interval(k.interval).with_retries(k.count);
    socket2::SockRef::from(stream).set_tcp_keepalive(&params)
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn dialled_sockets_get_the_keep_alive_asked_for() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let k = KeepAlive {
            idle: Duration::from_secs(31),
            interval: Duration::from_secs(16),
            count: 5,
        };
        let stream = dial_blocking("127.0.0.1", port, Some(&k)).unwrap();
        let sock = socket2::SockRef::from(&stream);
        assert!(sock.keepalive().unwrap());
        assert_eq!(sock.keepalive_time().unwrap(), k.idle);
        assert_eq!(sock.keepalive_interval().unwrap(), k.interval);
        assert_eq!(sock.keepalive_retries().unwrap(), k.count);
        let plain = dial_blocking("127.0.0.1", port, None).unwrap();
        assert!(!socket2::SockRef::from(&plain).keepalive().unwrap());
    }
}
