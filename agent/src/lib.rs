//! The SimpleX agent: duplex connections over pairs of SMP queues, their lifecycle, the double
//! ratchet sessions, and their storage.
//!
//! Built so far: [`client_runtime`], the SMP client (`simplex_core::client`) running on a
//! shell thread of its own, used blocking-style by the `smp-client` program and the tests.
//! The duplex connections are still to come.

pub mod client_runtime;
pub mod queue_file;
