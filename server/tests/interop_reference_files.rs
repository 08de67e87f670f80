//! Interop: our `smp-server` program run on the reference smp-server v3.2.0's own directories.
//! The reference `init`s (its own Ed448 identity, its INI with the comment lines it cannot read
//! itself), takes a secured queue and two messages, and stops gracefully; our program starts on
//! the same config and log directories and INI and serves the same identity, queue and
//! messages; after it stops gracefully the reference starts again on what ours left and still
//! has the undelivered message, with the same id.
//!
//! Gated by `SIMPLEX_REFERENCE_DIR` (see `tests/src/reference`, whose launcher is included here
//! by path as this crate cannot depend on the tests crate).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../tests/src/net.rs"]
#[allow(dead_code)]
mod net;
/// The reference launcher of `tests/src/reference`, its two files included by path (not its
/// `mod.rs`, whose other modules need the tests crate), with the gating of that `mod.rs`.
#[allow(dead_code)]
#[path = "../../tests/src/reference"]
mod reference {
    pub mod process;
    pub mod smp_server;

    use std::path::PathBuf;

    /// The directory of the reference programs.
    pub struct Programs {
        dir: PathBuf,
    }

    impl Programs {
        /// The reference smp-server, which must be there when the variable is set.
        pub fn smp_server(&self) -> PathBuf {
            let path = self.dir.join("smp-server");
            assert!(path.is_file(), "{} has no smp-server", self.dir.display());
            path
        }
    }

    /// The programs named by `SIMPLEX_REFERENCE_DIR`, or `None` (saying so) when it is unset.
    pub fn programs(test: &str) -> Option<Programs> {
        match std::env::var_os("SIMPLEX_REFERENCE_DIR") {
            Some(dir) if !dir.is_empty() => Some(Programs { dir: dir.into() }),
            _ => {
                println!("interop test {test} did not run: SIMPLEX_REFERENCE_DIR is not set");
                None
            }
        }
    }
}

use std::process::Command;
use std::time::{Duration, Instant};

use bytes::Bytes;
use simplex_core::crypto::hash::KeyHash;
use simplex_core::crypto::keys::{Algorithm, PrivateKey, SignKey};
use simplex_core::crypto::x25519;
use simplex_core::protocol::{BrokerMsg, Command as Smp, ErrorType, MsgFlags, MsgId};

use net::{open_message, NetClient, SecuredQueue};
use reference::process::{ChildGuard, StopSignal};
use reference::smp_server::{Identity, ReferenceSmpServer, ServerSetup};

const T: Duration = Duration::from_secs(15);
const BIN: &str = env!("CARGO_BIN_EXE_smp-server");

fn key(alg: Algorithm, byte: u8) -> SignKey {
    let len = if alg == Algorithm::Ed448 { 57 } else { 32 };
    SignKey::try_from(PrivateKey::from_raw(alg, &vec![byte; len]).unwrap()).unwrap()
}

fn send(sender: &mut NetClient, q: &SecuredQueue, skey: &SignKey, body: &'static [u8]) {
    let cmd = Smp::Send {
        flags: MsgFlags::default(),
        body: Bytes::from_static(body),
    };
    let answer = sender.request("s", &q.sid, &cmd, Some(skey), T).unwrap();
    assert_eq!(answer, BrokerMsg::Ok);
}

/// `SUB` on a new connection: the first waiting message, opened, with its id.
fn subscribe(
    addr: std::net::SocketAddr,
    key_hash: KeyHash,
    seed: u64,
    q: &SecuredQueue,
    rkey: &SignKey,
) -> (NetClient, MsgId, Vec<u8>) {
    let mut c = NetClient::connect(addr, key_hash, seed, T).unwrap();
    match c.request("sub", &q.rid, &Smp::Sub, Some(rkey), T).unwrap() {
        BrokerMsg::Msg(m) => {
            let body = open_message(&q.body_key, &m).unwrap();
            (c, m.msg_id, body)
        }
        other => panic!("SUB answered {other:?}"),
    }
}

/// Our program's `Server address: smp://FINGERPRINT@HOST:PORT` and listening port, from its
/// output so far, waiting at most `T`.
fn our_address(ours: &mut ChildGuard) -> (String, u16) {
    let until = Instant::now() + T;
    loop {
        let out = ours.output();
        let address = out
            .lines()
            .find_map(|l| l.strip_prefix("Server address: "))
            .map(str::to_string);
        let port = out
            .lines()
            .find_map(|l| l.strip_prefix("Listening on 127.0.0.1:"))
            .and_then(|rest| rest.split(' ').next())
            .and_then(|p| p.parse().ok());
        if let (Some(address), Some(port)) = (address, port) {
            return (address, port);
        }
        assert!(ours.is_running(), "our server exited\n{out}");
        assert!(Instant::now() < until, "our server did not start\n{out}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn our_program_on_the_reference_directories() {
    let Some(programs) = reference::programs("our_program_on_the_reference_directories") else {
        return;
    };
    let setup = ServerSetup {
        identity: Identity::GeneratedEd448,
        ..ServerSetup::default()
    };
    let mut theirs = ReferenceSmpServer::init(&programs, &setup);
    theirs.start();
    let key_hash = KeyHash::from_base64url(theirs.fingerprint()).unwrap();
    let rkey = key(Algorithm::Ed448, 1);
    let skey = key(Algorithm::Ed25519, 2);
    let dh = x25519::PrivateKey::from_bytes(&[3; 32]);
    let mut recipient = NetClient::connect(theirs.addr(), key_hash, 1, T).unwrap();
    let q = recipient.secured_queue(&rkey, &skey, &dh, T).unwrap();
    let mut sender = NetClient::connect(theirs.addr(), key_hash, 2, T).unwrap();
    send(&mut sender, &q, &skey, b"one");
    send(&mut sender, &q, &skey, b"two");
    recipient.close().unwrap();
    sender.close().unwrap();
    theirs.stop(StopSignal::Interrupt);

    // Ours, on the reference's INI as it generated it (comment lines and all).
    std::fs::write(
        theirs.config_dir().join("smp-server.ini"),
        theirs.generated_ini(),
    )
    .unwrap();
    let mut command = Command::new(BIN);
    command
        .arg("--config-dir")
        .arg(theirs.config_dir())
        .arg("--log-dir")
        .arg(theirs.log_dir())
        .args([
            "start",
            "--runtime",
            "mio",
            "--bind",
            "127.0.0.1",
            "--port",
            "0",
        ])
        .env_remove("SMP_SERVER_CONFIG_DIR")
        .env_remove("SMP_SERVER_LOG_DIR");
    let out_dir = tempfile::tempdir().unwrap();
    let mut ours = ChildGuard::spawn(command, "our-smp-server", out_dir.path()).unwrap();
    let (address, port) = our_address(&mut ours);
    assert!(
        address.starts_with(&format!("smp://{}@", theirs.fingerprint())),
        "{address}"
    );
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let (mut c, first_id, first) = subscribe(addr, key_hash, 3, &q, &rkey);
    assert_eq!(first, b"one");
    let second = match c
        .request("ack", &q.rid, &Smp::Ack(first_id), Some(&rkey), T)
        .unwrap()
    {
        BrokerMsg::Msg(m) => m,
        other => panic!("ACK answered {other:?}"),
    };
    assert_eq!(open_message(&q.body_key, &second).unwrap(), b"two");
    let mut other = NetClient::connect(addr, key_hash, 4, T).unwrap();
    let unsigned = Smp::Send {
        flags: MsgFlags::default(),
        body: Bytes::from_static(b"x"),
    };
    assert_eq!(
        other.request("u", &q.sid, &unsigned, None, T).unwrap(),
        BrokerMsg::Err(ErrorType::Auth),
        "still secured"
    );
    c.close().unwrap();
    other.close().unwrap();
    let status = ours.stop(StopSignal::Terminate, T).unwrap();
    assert!(status.success(), "{status}\n{}", ours.output());

    // The reference again, on what ours left: "two" is still waiting, with the same id.
    theirs.start();
    let (mut c, id, body) = subscribe(theirs.addr(), key_hash, 5, &q, &rkey);
    assert_eq!(body, b"two");
    assert_eq!(id, second.msg_id);
    c.close().unwrap();
    assert!(theirs.is_running(), "{}", theirs.output());
    theirs.stop(StopSignal::Interrupt);
}
