//! Sans-IO core of a SimpleX Messaging Protocol (SMP) implementation, wire-compatible with
//! simplexmq v3.2.0.
//!
//! Nothing in this crate touches a socket, a file, a thread, the OS clock or OS randomness:
//! time and randomness are inputs. See `spec/` for the protocol notes each module follows.

pub mod address;
pub mod client;
pub mod crypto;
pub mod driver;
pub mod e2e;
pub mod encoding;
pub mod ntf;
pub mod protocol;
pub mod ratchet;
pub mod socks5;
pub mod time;
pub mod tls;
pub mod transport;
