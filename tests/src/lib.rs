//! Shared support for the integration tests, and the bodies of the fuzz targets.
//!
//! Every fuzz target in `fuzz/` is a one-line call into [`fuzz`], and
//! `tests/tests/fuzz_corpus.rs` replays each saved corpus through the same functions, so the
//! stable toolchain in CI checks every input the fuzzers ever kept.

pub mod client_queue;
pub mod floor;
pub mod fuzz;
pub mod harness;
pub mod net;
pub mod reference;
pub mod runtime_client;
pub mod sim;
pub mod socks_proxy;
