//! The NTF protocol v1 (push notifications) between an app and a notification server: its
//! commands and responses, the values they carry, the push payloads the server sends through
//! the device's push provider, and the transport (the SMP transport with 512-byte blocks).
//! See `spec/notifications.md`.

mod command;
mod push;
mod response;
mod types;

pub use command::{NewSubscription, NewToken, NtfCommand, NtfEntity};
pub use push::{
    apns_body, apns_request, apns_result, ApnsPushType, ApnsRequest, PnMessageData,
    PushNotification, PushProviderError, CATEGORY_CHECK_MESSAGE, DEFAULT_APNS_TOPIC,
    MESSAGE_ALERT_TEXT, PADDED_NTF_LENGTH,
};
pub use response::NtfResponse;
pub use types::{DeviceToken, NtfRegCode, NtfSubStatus, NtfTknStatus, PushProvider, SmpQueueNtf};

use std::time::Duration;

use crate::crypto::hash::KeyHash;
use crate::encoding::VersionRange;
use crate::time::Instant;
use crate::tls::TlsSession;
use crate::transport::SmpConnection;

/// The NTF protocol versions of the reference v3.2.0 server (only 1).
pub const NTF_VERSION_RANGE: VersionRange = VersionRange::single(1);

/// Every NTF block is 512 bytes (SMP's are 16384); v1 carries one transmission per block.
pub const NTF_BLOCK_SIZE: usize = 512;

/// An NTF server's end of a client connection: receives commands.
pub type NtfServerConnection = SmpConnection<NtfCommand>;

/// An NTF client's end: receives responses.
pub type NtfClientConnection = SmpConnection<NtfResponse>;

/// The server's end over a fresh server TLS session: the hello and every block are 512
/// bytes, versions [`NTF_VERSION_RANGE`]. `key_hash` is the server's own identity.
pub fn ntf_server_connection(
    tls: TlsSession,
    key_hash: KeyHash,
    now: Instant,
    handshake_timeout: Duration,
) -> NtfServerConnection {
    SmpConnection::accepting(tls, key_hash, NTF_VERSION_RANGE, now, handshake_timeout)
        .with_block_size(NTF_BLOCK_SIZE)
}

/// The client's end over a fresh client TLS session for a server with identity `key_hash`.
pub fn ntf_client_connection(
    tls: TlsSession,
    key_hash: KeyHash,
    now: Instant,
    handshake_timeout: Duration,
) -> NtfClientConnection {
    SmpConnection::connecting(tls, key_hash, NTF_VERSION_RANGE, now, handshake_timeout)
        .with_block_size(NTF_BLOCK_SIZE)
}
