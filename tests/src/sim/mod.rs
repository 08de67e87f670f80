//! The deterministic simulator: production machines in one process over a simulated network,
//! with a virtual clock that jumps to the next delivery or deadline (see `spec/testing.md`).

pub mod net;
pub mod persisted;
pub mod sharded;
pub mod world;

pub use world::{Report, SimConfig, World};

/// Runs one simulation.
pub fn simulate(config: SimConfig) -> Report {
    World::new(config).run()
}
