//! Fuzz target bodies: each takes arbitrary bytes and must never panic.
//!
//! A target may assert properties of what it decodes (re-encoding gives the input back, and
//! so on); a failed assertion is a finding just like a panic inside the code under test.
//! One file per area; [`TARGETS`] lists every body by the name of its `fuzz/` target.

// Fuzz bodies state their expectations as assertions: a failing one is a finding.
#![allow(clippy::expect_used, clippy::panic)]

mod agent;
mod agent_command;
mod client;
mod codec;
mod ntf;
mod ratchet;
mod server;
mod tls;
mod transport;
mod websocket;

// The core tests' helpers (test certificates), shared rather than copied.
#[path = "../../../core/tests/support/mod.rs"]
#[allow(missing_docs)]
mod support;

pub use agent::{agent_envelope, agent_message, conn_request, queue_info, queue_uri};
pub use agent_command::agent_command;
pub use client::{client_machine, queue_file, socks5};
pub use codec::{address, encoding, keys, padding, string};
pub use ntf::{ntf_command, ntf_machine};
pub use ratchet::{ratchet_decrypt, ratchets_for};
pub use server::{server_machine, trace};
pub use tls::{handshake_transcript, tls_server};
pub use transport::{block, handshake, transmission};
pub use websocket::websocket;

/// A fuzz target: its name (a folder under `fuzz/corpus/`) and its body.
pub type Target = (&'static str, fn(&[u8]));

/// Every fuzz target. `fuzz/fuzz_targets/<name>.rs` calls the body of the same name.
pub const TARGETS: &[Target] = &[
    ("encoding", encoding),
    ("padding", padding),
    ("string", string),
    ("keys", keys),
    ("address", address),
    ("block", block),
    ("transmission", transmission),
    ("handshake", handshake),
    ("tls_server", tls_server),
    ("ratchet_decrypt", ratchet_decrypt),
    ("server_machine", server_machine),
    ("socks5", socks5),
    ("client_machine", client_machine),
    ("trace", trace),
    ("websocket", websocket),
    ("queue_file", queue_file),
    ("agent_envelope", agent_envelope),
    ("agent_message", agent_message),
    ("queue_info", queue_info),
    ("queue_uri", queue_uri),
    ("conn_request", conn_request),
    ("ntf_command", ntf_command),
    ("ntf_machine", ntf_machine),
    ("agent_command", agent_command),
];
