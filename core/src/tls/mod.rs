//! The TLS layer of an SMP connection: rustls 0.23 driven as a sans-IO machine, with the
//! reference's parameters (TLS 1.3, ChaCha20-Poly1305, X448/X25519, Ed448/Ed25519, no
//! resumption), server identity pinning by key hash, and the tls-unique session id.
//! See `spec/tls.md`.

mod der;
pub mod error;
pub mod identity;
pub mod kx;
pub mod provider;
pub mod rng;
pub mod session;
pub mod sign;
pub mod tls_unique;
pub mod verify;

pub use der::{Certificate, EdAlgorithm};
pub use error::{IdentityError, TlsApiError, TlsError, TlsUniqueError};
pub use identity::{pem_blocks, ServerIdentity};
pub use rng::SessionRng;
pub use session::{
    Role, SessionId, TlsEvent, TlsOutput, TlsSession, MAX_UNREAD_PLAINTEXT, MAX_UNSENT,
};
pub use verify::check_server_chain;
