//! Push notifications: what the NTF server sends to a device through its push provider, and
//! the APNS request it becomes (path, headers and the JSON body byte for byte as the
//! reference's aeson encoding writes it).
//!
//! Every payload the device must read is boxed (crypto_box, padded to 512) with the token's DH
//! secret (the server's token DH private key with the client's `TNEW` DH key), and sent with a
//! fresh nonce as base64url text.

use bytes::Bytes;

use super::types::{NtfRegCode, SmpQueueNtf};
use crate::crypto::cbox::{CbKey, CbNonce};
use crate::crypto::error::CryptoError;
use crate::encoding::string::{base64url_encode, Scanner, StrDecode, StrEncode};
use crate::encoding::{DecodeError, UnixTime};

/// The length every encrypted push payload is padded to (the reference's `paddedNtfLength`).
pub const PADDED_NTF_LENGTH: usize = 512;

/// The category the app registers for message notifications.
pub const CATEGORY_CHECK_MESSAGE: &str = "NTF_CAT_CHECK_MESSAGE";

/// The alert text a message notification shows if the app cannot process it in time.
pub const MESSAGE_ALERT_TEXT: &str = "Encrypted message or another app event";

/// The default APNS topic (the app's bundle id).
pub const DEFAULT_APNS_TOPIC: &str = "chat.simplex.app";

/// What an `NMSG` turns into: the queue it came from, when the NTF server got it, and the SMP
/// server's encrypted metadata (nonce and ciphertext), which only the recipient can open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PnMessageData {
    /// The queue (SMP server and notifier id).
    pub queue: SmpQueueNtf,
    /// When the NTF server received the `NMSG` (seconds).
    pub ntf_ts: UnixTime,
    /// The `NMSG` nonce.
    pub nmsg_nonce: CbNonce,
    /// The `NMSG` encrypted metadata (message id and time).
    pub enc_meta: Bytes,
}

/// Text form (what is encrypted in the push): `<queue> <seconds> <nonce> <meta>`, the nonce
/// and the metadata base64url.
impl StrEncode for PnMessageData {
    fn str_encode(&self, out: &mut Vec<u8>) {
        self.queue.str_encode(out);
        out.push(b' ');
        self.ntf_ts.str_encode(out);
        out.push(b' ');
        out.extend_from_slice(base64url_encode(&self.nmsg_nonce.0).as_bytes());
        out.push(b' ');
        out.extend_from_slice(base64url_encode(&self.enc_meta).as_bytes());
    }
}

impl StrDecode for PnMessageData {
    fn str_parse(s: &mut Scanner<'_>) -> Result<Self, DecodeError> {
        let queue = SmpQueueNtf::str_parse(s)?;
        s.space()?;
        let ntf_ts = UnixTime::str_parse(s)?;
        s.space()?;
        // The reference's `cbNonce`: shorter is zero-filled, longer is cut.
        let nmsg_nonce = CbNonce::from_slice_padded(&s.base64url()?);
        s.space()?;
        let enc_meta = Bytes::from(s.base64url()?);
        Ok(Self {
            queue,
            ntf_ts,
            nmsg_nonce,
            enc_meta,
        })
    }
}

/// A notification for one device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushNotification {
    /// The registration code, after `TNEW` and `TRPL`: a background push.
    Verification(NtfRegCode),
    /// A message arrived in a subscribed queue: a mutable-content alert.
    Message(PnMessageData),
    /// A plain visible alert (the reference has it; its server never sends one).
    Alert(String),
    /// The periodic `TCRN` push asking the app to check for messages: a background push.
    CheckMessages,
}

/// The APNS push type header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApnsPushType {
    /// `background` (with `apns-priority: 5`).
    Background,
    /// `alert`.
    Alert,
}

/// One APNS request, without the `authorization` header (the client adds its provider JWT).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApnsRequest {
    /// `/3/device/<device token>`.
    pub path: String,
    /// The push type.
    pub push_type: ApnsPushType,
    /// The JSON body.
    pub body: Vec<u8>,
}

impl ApnsRequest {
    /// The headers APNS needs besides `authorization`, in the reference's order:
    /// `apns-topic`, `apns-push-type`, and `apns-priority: 5` for background pushes.
    pub fn headers(&self, topic: &str) -> Vec<(&'static str, String)> {
        let mut headers = vec![
            ("apns-topic", topic.to_owned()),
            (
                "apns-push-type",
                match self.push_type {
                    ApnsPushType::Background => "background",
                    ApnsPushType::Alert => "alert",
                }
                .to_owned(),
            ),
        ];
        if self.push_type == ApnsPushType::Background {
            headers.push(("apns-priority", "5".to_owned()));
        }
        headers
    }
}

/// A JSON string literal, escaped as aeson does (quote, backslash, control characters).
fn json_string(text: &str, out: &mut String) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Boxes `data` for the device and gives it as base64url text.
fn seal(key: &CbKey, nonce: &CbNonce, data: &[u8]) -> Result<String, CryptoError> {
    Ok(base64url_encode(&key.encrypt(
        nonce,
        data,
        PADDED_NTF_LENGTH,
    )?))
}

/// The APNS JSON body of a notification. `key` is the token's box key, `nonce` fresh for
/// this push. Fails only if the payload does not fit [`PADDED_NTF_LENGTH`].
///
/// aeson writes a record's fields in declaration order and a `Value` object's keys sorted,
/// so `aps` comes before `notificationData`, and inside the data `message` < `nonce` <
/// `verification`.
pub fn apns_body(
    key: &CbKey,
    nonce: &CbNonce,
    notification: &PushNotification,
) -> Result<(ApnsPushType, Vec<u8>), CryptoError> {
    let nonce_text = base64url_encode(&nonce.0);
    let mut out = String::with_capacity(1024);
    let push_type = match notification {
        PushNotification::Verification(code) => {
            let sealed = seal(key, nonce, code.expose())?;
            out.push_str(r#"{"aps":{"content-available":1},"notificationData":{"nonce":"#);
            json_string(&nonce_text, &mut out);
            out.push_str(r#","verification":"#);
            json_string(&sealed, &mut out);
            out.push_str("}}");
            ApnsPushType::Background
        }
        PushNotification::Message(data) => {
            let sealed = seal(key, nonce, &data.to_str_bytes())?;
            out.push_str(r#"{"aps":{"mutable-content":1,"alert":"#);
            json_string(MESSAGE_ALERT_TEXT, &mut out);
            out.push_str(r#","category":"#);
            json_string(CATEGORY_CHECK_MESSAGE, &mut out);
            out.push_str(r#"},"notificationData":{"message":"#);
            json_string(&sealed, &mut out);
            out.push_str(r#","nonce":"#);
            json_string(&nonce_text, &mut out);
            out.push_str("}}");
            ApnsPushType::Alert
        }
        PushNotification::Alert(text) => {
            out.push_str(r#"{"aps":{"alert":"#);
            json_string(text, &mut out);
            out.push_str("}}");
            ApnsPushType::Alert
        }
        PushNotification::CheckMessages => {
            out.push_str(
                r#"{"aps":{"content-available":1},"notificationData":{"checkMessages":true}}"#,
            );
            ApnsPushType::Background
        }
    };
    Ok((push_type, out.into_bytes()))
}

/// The whole APNS request for `notification` to the device token `device_token` (hex text).
pub fn apns_request(
    key: &CbKey,
    nonce: &CbNonce,
    device_token: &[u8],
    notification: &PushNotification,
) -> Result<ApnsRequest, CryptoError> {
    let (push_type, body) = apns_body(key, nonce, notification)?;
    Ok(ApnsRequest {
        path: format!("/3/device/{}", String::from_utf8_lossy(device_token)),
        push_type,
        body,
    })
}

/// How a push failed, as the reference classifies APNS answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushProviderError {
    /// No connection to the provider (retried once on a new connection).
    Connection,
    /// The payload could not be encrypted.
    Crypto,
    /// An answer the server does not act on: status and reason.
    Response(Option<u16>, String),
    /// The device token is invalid: the token becomes `INVALID`.
    TokenInvalid,
    /// The provider asks to retry later (503; the connection is dropped and remade).
    RetryLater,
    /// An error retrying cannot fix (bad topic or provider token).
    Permanent,
}

/// Maps an APNS answer (status and the `reason` of its JSON body) as the reference does.
pub fn apns_result(status: u16, reason: &str) -> Result<(), PushProviderError> {
    let other = || Err(PushProviderError::Response(Some(status), reason.to_owned()));
    match status {
        200 => Ok(()),
        400 => match reason {
            "BadDeviceToken" | "DeviceTokenNotForTopic" => Err(PushProviderError::TokenInvalid),
            "TopicDisallowed" => Err(PushProviderError::Permanent),
            _ => other(),
        },
        403 => match reason {
            "ExpiredProviderToken" | "InvalidProviderToken" => Err(PushProviderError::Permanent),
            _ => other(),
        },
        410 => Err(PushProviderError::TokenInvalid),
        503 => Err(PushProviderError::RetryLater),
        _ => other(),
    }
}
