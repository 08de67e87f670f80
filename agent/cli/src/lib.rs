//! The host side of the SMP client: [`client_runtime`] runs the client machine
//! (`simplex_core::client`) on a shell thread of its own (mio or smol) and offers it
//! blocking-style to the `smp-client` program and the tests.
//!
//! Kept out of `simplex-agent` so that the agent library links no shell.

pub mod client_runtime;
