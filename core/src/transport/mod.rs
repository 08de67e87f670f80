//! The SMP transport over an established TLS session: fixed 16384-byte blocks, the
//! server/client hello that negotiates the protocol version, and v4 batching of several
//! transmissions per block (see `spec/smp-transport.md`); blocks go straight on the TLS stream
//! or, with WebSocket framing ([`websocket`]), one per binary WebSocket message.

mod block;
mod connection;
mod handshake;
pub mod websocket;

pub use block::{
    pack_transmissions, pack_transmissions_sized, unpack_block, unpack_block_sized, BlockError,
    Packed, BLOCK_SIZE,
};
pub use connection::{
    ApiError, ClientConnection, CloseReason, Framing, Input, Output, ServerConnection,
    SmpConnection, MAX_PENDING_BLOCKS,
};
pub use handshake::{
    client_hello_reply, client_hello_reply_sized, server_accept_hello, server_accept_hello_sized,
    server_hello, server_hello_sized, ClientHello, HandshakeError, Negotiated, ServerHello,
};
