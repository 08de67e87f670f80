//! Two of our agents on real sockets through our SMP server on loopback, on both shells: the
//! duplex handshake, messages both ways (before and after both restart on their stores), a
//! restart of one agent on its store and `SUB`; a server restart
//! seen as `DOWN` and `UP`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod agents;

use simplex_agent_cli::client_runtime::Runtime;
use simplex_server::files::{DataFiles, FileOptions};
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

/// A server keeping its queues in a store log, so they outlive its restart.
fn logged(dir: &std::path::Path) -> Options {
    Options {
        files: DataFiles::in_dir(dir, FileOptions::RESTORABLE),
        ..Options::default()
    }
}

fn server_restart(agent_runtime: Runtime, server_runtime: harness::Runtime) {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(server_runtime, logged(dir.path()));
    let (addr, address) = (server.addr, server.address());
    let mut restarted = None;
    agents::server_restart_down_up(agent_runtime, &address, || {
        server.stop();
        restarted = Some(TestServer::start_at(
            server_runtime,
            logged(dir.path()),
            addr,
        ));
    });
    restarted.unwrap().stop();
}

#[test]
fn server_restart_is_down_then_up_on_mio() {
    server_restart(Runtime::Mio, harness::Runtime::Mio);
}

#[test]
fn server_restart_is_down_then_up_on_smol() {
    server_restart(Runtime::Smol, harness::Runtime::Smol);
}

fn suspend_and_servers(agent_runtime: Runtime, server_runtime: harness::Runtime) {
    let first = TestServer::start(server_runtime, Options::default());
    let second = TestServer::start(server_runtime, Options::default());
    agents::suspend_activate_and_new_servers(agent_runtime, &first.address(), &second.address());
    first.stop();
    second.stop();
}

#[test]
fn suspend_activate_and_new_servers_on_mio() {
    suspend_and_servers(Runtime::Mio, harness::Runtime::Mio);
}

#[test]
fn suspend_activate_and_new_servers_on_smol() {
    suspend_and_servers(Runtime::Smol, harness::Runtime::Smol);
}

fn messages(agent_runtime: Runtime, server_runtime: harness::Runtime) {
    let server = TestServer::start(server_runtime, Options::default());
    agents::messages_both_ways(agent_runtime, &server.address());
    assert_eq!(server.stop(), 0);
}

#[test]
fn messages_both_ways_on_mio() {
    messages(Runtime::Mio, harness::Runtime::Mio);
}

#[test]
fn messages_both_ways_on_smol() {
    messages(Runtime::Smol, harness::Runtime::Smol);
}

#[test]
fn offline_recipient_and_quota_on_mio() {
    let server = TestServer::start(harness::Runtime::Mio, Options::default());
    agents::offline_recipient_and_quota(Runtime::Mio, &server.address());
    assert_eq!(server.stop(), 0);
}

#[test]
fn offline_recipient_and_quota_on_smol() {
    let server = TestServer::start(harness::Runtime::Smol, Options::default());
    agents::offline_recipient_and_quota(Runtime::Smol, &server.address());
    assert_eq!(server.stop(), 0);
}

#[test]
fn contact_address_on_mio() {
    let server = TestServer::start(harness::Runtime::Mio, Options::default());
    agents::contact_address(Runtime::Mio, &server.address());
    assert_eq!(server.stop(), 0);
}

#[test]
fn contact_address_on_smol() {
    let server = TestServer::start(harness::Runtime::Smol, Options::default());
    agents::contact_address(Runtime::Smol, &server.address());
    assert_eq!(server.stop(), 0);
}
