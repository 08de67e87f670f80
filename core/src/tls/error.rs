//! Typed errors of the TLS layer.

/// Why a server's identity (its certificate chain, or the keys we load for our own) is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    /// The server did not present exactly two certificates (online, then CA).
    #[error("server presented {count} certificates, expected exactly 2")]
    ChainLength {
        /// How many it presented.
        count: usize,
    },
    /// SHA-256 of the CA certificate differs from the key hash in the server address.
    #[error("CA certificate does not match the server's key hash")]
    UnknownCa,
    /// The online certificate is not signed by the CA certificate (issuer name or signature).
    #[error("online certificate is not signed by the CA certificate")]
    NotSignedByCa,
    /// The handshake signature does not verify with the online certificate's key.
    #[error("handshake signature does not verify")]
    BadHandshakeSignature,
    /// A key or signature algorithm other than Ed25519 or Ed448.
    #[error("unsupported key or signature algorithm")]
    UnsupportedAlgorithm,
    /// A certificate, key or PEM document that does not parse.
    #[error("malformed certificate, key or PEM document")]
    Malformed,
}

/// Why the tls-unique value could not be read from the client's Finished record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TlsUniqueError {
    /// The handshake ended before the client's Finished record was seen.
    #[error("client Finished record not seen")]
    NotSeen,
    /// The client handshake traffic secret was not captured.
    #[error("client handshake traffic secret not available")]
    NoSecret,
    /// The record did not decrypt, or did not hold a 32-byte Finished message.
    #[error("client Finished record does not decrypt to a Finished message")]
    BadRecord,
}

/// A failure of a TLS connection. It is reported once, as an event, and the connection is closed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TlsError {
    /// The handshake did not complete before the deadline given at construction.
    #[error("TLS handshake timed out")]
    HandshakeTimeout,
    /// The server's identity was refused.
    #[error("server identity refused: {0}")]
    Identity(#[from] IdentityError),
    /// The session id (tls-unique) could not be obtained.
    #[error("tls-unique unavailable: {0}")]
    TlsUnique(#[from] TlsUniqueError),
    /// A TLS protocol error: malformed records, alerts from the peer, failed decryption...
    #[error("TLS protocol error: {0}")]
    Protocol(rustls::Error),
}

/// A misuse of the API by the caller (not a protocol failure).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TlsApiError {
    /// The connection is closed (or closing): nothing more can be sent.
    #[error("connection closed")]
    Closed,
    /// The handshake has not completed yet.
    #[error("handshake not complete")]
    NotEstablished,
    /// More than the fixed limit of ciphertext is waiting: drain `poll_output` first.
    #[error("send buffer full")]
    SendBufferFull,
    /// Network input (bytes, EOF, a timeout) before the previous outputs were drained with
    /// `poll_output`: drain to `Timeout` first. Nothing was taken.
    #[error("outputs are pending: drain poll_output first")]
    OutputPending,
    /// The configuration could not be built (bad server name or identity).
    #[error("invalid configuration: {0}")]
    Config(String),
}
