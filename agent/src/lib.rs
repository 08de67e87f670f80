//! The SimpleX agent: duplex connections over pairs of SMP queues, their lifecycle, the double
//! ratchet sessions, and their storage.
//!
//! Not yet built: this crate reserves its place in the workspace.
