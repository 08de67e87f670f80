//! The SimpleX agent: duplex connections over pairs of SMP queues, their lifecycle, the double
//! ratchet sessions, and their storage.
//!
//! Built so far: the wire formats ([`protocol`]); the agent's TCP command protocol for its
//! clients ([`command`]: commands, events, transmission framing); the message pipeline as pure functions
//! ([`pipeline`]: agent message to `SEND` body and `MSG` body back, through the double ratchet
//! and the per-queue box); the integrity checks of numbered messages ([`integrity`]); what the
//! agent reports to its users (errors, message metadata, connection facts) in the text forms of
//! its TCP protocol ([`error`], [`meta`]) and as the JSON simplex-chat reads ([`json`]); the
//! durable records and the store trait ([`store`]); the `Agent` machine with its inputs, outputs
//! and commit rule ([`machine`]: `NEW`, `SUB`, `OFF`, `DEL` so far); and [`queue_file`], the
//! text file in which `smp-client` (crate `simplex-agent-cli`) keeps a queue between
//! invocations. The library links no I/O shell: the client on a shell thread lives in
//! `simplex-agent-cli`. Joining, messages and the rest of the duplex life cycle are to come.

pub mod command;
pub mod error;
pub mod haskell_string;
pub mod integrity;
pub mod json;
pub mod machine;
pub mod meta;
pub mod pipeline;
pub mod protocol;
pub mod queue_file;
pub mod service;
pub mod store;
