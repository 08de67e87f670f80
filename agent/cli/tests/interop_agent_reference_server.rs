//! Interop: two of our agents (in process, through the connection manager, on both shells)
//! connect through the reference smp-server v3.2.0 on loopback: the duplex handshake, then a
//! restart of one agent on its store and `SUB`; a graceful restart of the reference server
//! seen as `DOWN` and `UP`.
//!
//! Gated by `SIMPLEX_REFERENCE_DIR` (see `simplex_tests::reference`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod agents;

use simplex_agent_cli::client_runtime::Runtime;
use simplex_tests::reference::process::StopSignal;
use simplex_tests::reference::programs;
use simplex_tests::reference::smp_server::{ReferenceSmpServer, ServerSetup};

fn through_reference_server(runtime: Runtime, test: &str) {
    let Some(programs) = programs(test) else {
        return;
    };
    let mut server = ReferenceSmpServer::init(&programs, &ServerSetup::default());
    server.start();
    agents::handshake_and_restart(runtime, &server.address());
    server.stop(StopSignal::Interrupt);
}

#[test]
fn interop_our_agents_through_reference_server_mio() {
    through_reference_server(
        Runtime::Mio,
        "interop_our_agents_through_reference_server_mio",
    );
}

#[test]
fn interop_our_agents_through_reference_server_smol() {
    through_reference_server(
        Runtime::Smol,
        "interop_our_agents_through_reference_server_smol",
    );
}

fn reference_server_restart(runtime: Runtime, test: &str) {
    let Some(programs) = programs(test) else {
        return;
    };
    let mut server = ReferenceSmpServer::init(&programs, &ServerSetup::default());
    server.start();
    let address = server.address();
    agents::server_restart_down_up(runtime, &address, || {
        server.stop(StopSignal::Interrupt);
        server.start();
    });
    server.stop(StopSignal::Interrupt);
}

#[test]
fn interop_reference_server_restart_is_down_then_up_mio() {
    reference_server_restart(
        Runtime::Mio,
        "interop_reference_server_restart_is_down_then_up_mio",
    );
}

#[test]
fn interop_reference_server_restart_is_down_then_up_smol() {
    reference_server_restart(
        Runtime::Smol,
        "interop_reference_server_restart_is_down_then_up_smol",
    );
}

fn reference_server_messages(runtime: Runtime, test: &str) {
    let Some(programs) = programs(test) else {
        return;
    };
    let mut server = ReferenceSmpServer::init(&programs, &ServerSetup::default());
    server.start();
    agents::messages_both_ways(runtime, &server.address());
    server.stop(StopSignal::Interrupt);
}

#[test]
fn interop_messages_through_reference_server_mio() {
    reference_server_messages(
        Runtime::Mio,
        "interop_messages_through_reference_server_mio",
    );
}

#[test]
fn interop_messages_through_reference_server_smol() {
    reference_server_messages(
        Runtime::Smol,
        "interop_messages_through_reference_server_smol",
    );
}

#[test]
fn interop_offline_recipient_and_quota_through_reference_server() {
    let test = "interop_offline_recipient_and_quota_through_reference_server";
    let Some(programs) = programs(test) else {
        return;
    };
    let mut server = ReferenceSmpServer::init(&programs, &ServerSetup::default());
    server.start();
    agents::offline_recipient_and_quota(Runtime::Mio, &server.address());
    server.stop(StopSignal::Interrupt);
}

#[test]
fn interop_contact_address_through_reference_server() {
    let test = "interop_contact_address_through_reference_server";
    let Some(programs) = programs(test) else {
        return;
    };
    let mut server = ReferenceSmpServer::init(&programs, &ServerSetup::default());
    server.start();
    agents::contact_address(Runtime::Smol, &server.address());
    server.stop(StopSignal::Interrupt);
}
