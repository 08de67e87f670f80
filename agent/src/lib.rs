//! The SimpleX agent: duplex connections over pairs of SMP queues, their lifecycle, the double
//! ratchet sessions, and their storage.
//!
//! Built so far: the wire formats ([`protocol`]); what the agent reports to its users (errors,
//! message metadata, connection facts) in the text forms of its TCP protocol ([`error`],
//! [`meta`]) and as the JSON simplex-chat reads ([`json`]); and [`queue_file`], the text file in which `smp-client` (crate
//! `simplex-agent-cli`) keeps a queue between invocations. The library links no I/O shell: the
//! client on a shell thread lives in `simplex-agent-cli`. The duplex connections are still to
//! come.

pub mod error;
pub mod haskell_string;
pub mod json;
pub mod meta;
pub mod protocol;
pub mod queue_file;
