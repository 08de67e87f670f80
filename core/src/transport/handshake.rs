//! The SMP handshake, once TLS is up: the server sends its version range and the session id;
//! the client checks the session id, picks the version (the lower of the two maxima) and
//! answers with it and the server's identity (the CA certificate's key hash). Each hello is
//! one padded block.

use bytes::Bytes;

use super::block::{block_content, BLOCK_SIZE};
use crate::crypto::hash::KeyHash;
use crate::encoding::{
    pad, Decode, DecodeError, Encode, Reader, ShortBytes, Version, VersionRange,
};

/// Why the SMP handshake failed (the reference's `TEHandshake` errors and `TEBadSession`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    /// A hello did not parse.
    #[error("handshake block does not parse")]
    Parse,
    /// No version both sides support.
    #[error("no common protocol version")]
    Version,
    /// The client expected another server identity.
    #[error("server identity does not match")]
    Identity,
    /// The server's session id is not this TLS session's.
    #[error("session id does not match the TLS session")]
    BadSession,
}

/// The server's hello.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerHello {
    /// The versions the server supports.
    pub version_range: VersionRange,
    /// The TLS session's tls-unique value.
    pub session_id: ShortBytes,
}

/// The client's reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientHello {
    /// The version the client chose.
    pub version: Version,
    /// The server identity the client expects.
    pub key_hash: KeyHash,
}

impl Encode for ServerHello {
    fn encode(&self, out: &mut Vec<u8>) {
        self.version_range.encode(out);
        self.session_id.encode(out);
    }
}

impl Decode for ServerHello {
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(Self {
            version_range: VersionRange::decode(r)?,
            session_id: ShortBytes::decode(r)?,
        })
    }
}

impl Encode for ClientHello {
    fn encode(&self, out: &mut Vec<u8>) {
        self.version.encode(out);
        self.key_hash.encode(out);
    }
}

impl Decode for ClientHello {
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(Self {
            version: u16::decode(r)?,
            key_hash: KeyHash::decode(r)?,
        })
    }
}

/// The outcome of a successful handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Negotiated {
    /// The agreed protocol version.
    pub version: Version,
    /// Whether blocks carry batches (v4 and later).
    pub batch: bool,
}

impl Negotiated {
    fn at(version: Version) -> Self {
        Self {
            version,
            batch: version >= 4,
        }
    }
}

fn hello_block<T: Encode>(block_size: usize, hello: &T) -> Vec<u8> {
    // Hellos are a few dozen bytes: padding them to a block (512 or more) cannot fail.
    pad(&hello.to_bytes(), block_size).unwrap_or_default()
}

fn parse_hello<T: Decode>(block_size: usize, block: &Bytes) -> Result<T, HandshakeError> {
    let mut r = block_content(block_size, block).map_err(|_| HandshakeError::Parse)?;
    let hello = T::decode(&mut r).map_err(|_| HandshakeError::Parse)?;
    r.finish().map_err(|_| HandshakeError::Parse)?;
    Ok(hello)
}

/// The server's first block.
pub fn server_hello(
    version_range: VersionRange,
    session_id: &[u8],
) -> Result<Vec<u8>, crate::encoding::TooLong> {
    server_hello_sized(BLOCK_SIZE, version_range, session_id)
}

/// [`server_hello`] in a block of `block_size` bytes (the NTF transport's hellos are 512).
pub fn server_hello_sized(
    block_size: usize,
    version_range: VersionRange,
    session_id: &[u8],
) -> Result<Vec<u8>, crate::encoding::TooLong> {
    Ok(hello_block(
        block_size,
        &ServerHello {
            version_range,
            session_id: ShortBytes::from_slice(session_id)?,
        },
    ))
}

/// The client's side: checks the server's hello against the TLS session and picks the
/// version; returns the reply block to send and the outcome.
pub fn client_hello_reply(
    server_block: &Bytes,
    session_id: &[u8],
    client_range: VersionRange,
    key_hash: &KeyHash,
) -> Result<(Vec<u8>, Negotiated), HandshakeError> {
    client_hello_reply_sized(BLOCK_SIZE, server_block, session_id, client_range, key_hash)
}

/// [`client_hello_reply`] with blocks of `block_size` bytes.
pub fn client_hello_reply_sized(
    block_size: usize,
    server_block: &Bytes,
    session_id: &[u8],
    client_range: VersionRange,
    key_hash: &KeyHash,
) -> Result<(Vec<u8>, Negotiated), HandshakeError> {
    let hello: ServerHello = parse_hello(block_size, server_block)?;
    if hello.session_id.as_bytes() != session_id {
        return Err(HandshakeError::BadSession);
    }
    let version = hello
        .version_range
        .compatible_version(&client_range)
        .ok_or(HandshakeError::Version)?;
    let reply = hello_block(
        block_size,
        &ClientHello {
            version,
            key_hash: *key_hash,
        },
    );
    Ok((reply, Negotiated::at(version)))
}

/// The server's side: checks the client's reply. Any version inside the server's range is
/// accepted, not only the highest.
pub fn server_accept_hello(
    client_block: &Bytes,
    server_range: VersionRange,
    key_hash: &KeyHash,
) -> Result<Negotiated, HandshakeError> {
    server_accept_hello_sized(BLOCK_SIZE, client_block, server_range, key_hash)
}

/// [`server_accept_hello`] with blocks of `block_size` bytes.
pub fn server_accept_hello_sized(
    block_size: usize,
    client_block: &Bytes,
    server_range: VersionRange,
    key_hash: &KeyHash,
) -> Result<Negotiated, HandshakeError> {
    let hello: ClientHello = parse_hello(block_size, client_block)?;
    if hello.key_hash != *key_hash {
        return Err(HandshakeError::Identity);
    }
    if !server_range.contains(hello.version) {
        return Err(HandshakeError::Version);
    }
    Ok(Negotiated::at(hello.version))
}
