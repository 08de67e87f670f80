//! The host side of the SMP client and agent: [`client_runtime`] runs the client machine
//! (`simplex_core::client`) and [`agent_runtime`] the agent machine (`simplex_agent`) on a shell
//! thread of their own (mio or smol), offered blocking-style to the programs and the tests.
//!
//! Kept out of `simplex-agent` so that the agent library links no shell.

pub mod agent_runtime;
pub mod client_runtime;
