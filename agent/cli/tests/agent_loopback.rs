//! Two of our agents on real sockets through our SMP server on loopback, on both shells: the
//! duplex handshake, then a restart of one agent on its store and `SUB`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod agents;

use simplex_agent_cli::client_runtime::Runtime;
use simplex_tests::harness::{self, Options, TestServer};

fn through_our_server(agent_runtime: Runtime, server_runtime: harness::Runtime) {
    let server = TestServer::start(server_runtime, Options::default());
    agents::handshake_and_restart(agent_runtime, &server.address());
    assert_eq!(server.stop(), 0);
}

#[test]
fn agents_connect_on_mio() {
    through_our_server(Runtime::Mio, harness::Runtime::Mio);
}

#[test]
fn agents_connect_on_smol() {
    through_our_server(Runtime::Smol, harness::Runtime::Smol);
}
