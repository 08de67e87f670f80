//! The agent machine (being built).

pub mod connection;
