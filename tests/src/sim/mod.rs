//! The deterministic simulator: production machines in one process over a simulated network,
//! with a virtual clock that jumps to the next delivery or deadline (see `spec/testing.md`).

pub mod net;
