//! The SMP server machine: queues, delivery, subscriptions, notifications, limits, persistence
//! and stats, as a pure state machine driven by the shells.
//!
//! Not yet built: this crate reserves its place in the workspace.
