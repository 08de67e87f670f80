//! The SimpleX agent: duplex connections over pairs of SMP queues, their lifecycle, the double
//! ratchet sessions, and their storage.
//!
//! Built so far: [`protocol`] (wire formats), [`store`] (the durable records and the store
//! trait), [`machine`] (the `Agent` machine: its inputs, outputs and commit rule, with `NEW`),
//! and [`queue_file`], the text file in which `smp-client` (crate `simplex-agent-cli`)
//! keeps a queue between invocations. The library links no I/O shell: the client on a shell
//! thread lives in `simplex-agent-cli`. The duplex connections are still to come.

pub mod machine;
pub mod protocol;
pub mod queue_file;
pub mod store;
