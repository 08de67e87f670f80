//! The values NTF commands carry: push providers and device tokens, registration codes, the
//! SMP queue a subscription is for, and the token and subscription statuses. Each has the
//! binary form the protocol uses and the text form the store log uses.

use bytes::Bytes;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::address::ServerAddress;
use crate::encoding::string::{base64url_encode, Scanner, StrDecode, StrEncode};
use crate::encoding::{Decode, DecodeError, Encode, Reader, ShortBytes};
use crate::protocol::EntityId;

/// Which push service delivers to a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PushProvider {
    /// Apple's sandbox APNS (`AD`, `apns_dev`).
    ApnsDev,
    /// Apple's production APNS (`AP`, `apns_prod`).
    ApnsProd,
    /// A local stand-in for tests (`AT`, `apns_test`); the reference sends to `localhost`.
    ApnsTest,
}

impl PushProvider {
    fn code(self) -> &'static [u8; 2] {
        match self {
            Self::ApnsDev => b"AD",
            Self::ApnsProd => b"AP",
            Self::ApnsTest => b"AT",
        }
    }

    /// The text form (store log, configuration).
    pub fn name(self) -> &'static str {
        match self {
            Self::ApnsDev => "apns_dev",
            Self::ApnsProd => "apns_prod",
            Self::ApnsTest => "apns_test",
        }
    }
}

impl Encode for PushProvider {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.code());
    }
}

impl Decode for PushProvider {
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        match &r.take_array::<2>()? {
            b"AD" => Ok(Self::ApnsDev),
            b"AP" => Ok(Self::ApnsProd),
            b"AT" => Ok(Self::ApnsTest),
            _ => Err(DecodeError::Invalid("push provider")),
        }
    }
}

impl StrEncode for PushProvider {
    fn str_encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.name().as_bytes());
    }
}

impl StrDecode for PushProvider {
    fn str_parse(s: &mut Scanner<'_>) -> Result<Self, DecodeError> {
        match s.take_till(|b| b == b' ') {
            b"apns_dev" => Ok(Self::ApnsDev),
            b"apns_prod" => Ok(Self::ApnsProd),
            b"apns_test" => Ok(Self::ApnsTest),
            _ => Err(DecodeError::Invalid("push provider")),
        }
    }
}

/// A device's push token with its provider. The token is what the app got from the provider,
/// as the lowercase hex text APNS takes in its request path (the reference keeps those bytes
/// as they came).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct DeviceToken {
    /// The push service.
    pub provider: PushProvider,
    /// The token bytes (hex text, at most 255 bytes in the binary form).
    pub token: ShortBytes,
}

impl std::fmt::Debug for DeviceToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A device token identifies a phone: only its length is shown.
        write!(
            f,
            "DeviceToken({:?}, {} bytes)",
            self.provider,
            self.token.as_bytes().len()
        )
    }
}

impl Encode for DeviceToken {
    fn encode(&self, out: &mut Vec<u8>) {
        self.provider.encode(out);
        self.token.encode(out);
    }
}

impl Decode for DeviceToken {
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(Self {
            provider: PushProvider::decode(r)?,
            token: ShortBytes::decode(r)?,
        })
    }
}

/// Text form: `<provider> <token>`, the token as it is (hex text).
impl StrEncode for DeviceToken {
    fn str_encode(&self, out: &mut Vec<u8>) {
        self.provider.str_encode(out);
        out.push(b' ');
        out.extend_from_slice(self.token.as_bytes());
    }
}

impl StrDecode for DeviceToken {
    /// The token must be lowercase hex of even length (possibly empty), as the reference's.
    fn str_parse(s: &mut Scanner<'_>) -> Result<Self, DecodeError> {
        let provider = PushProvider::str_parse(s)?;
        s.space()?;
        let hex = s.take_while(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if hex.len() % 2 != 0 {
            return Err(DecodeError::Invalid("odd number of hex characters"));
        }
        let token = ShortBytes::from_slice(hex).map_err(|_| DecodeError::Invalid("token"))?;
        Ok(Self { provider, token })
    }
}

/// The registration code the server sends to the device (encrypted) and the device returns
/// in `TVFY`. It proves the client holds the device: a secret, zeroized on drop and compared
/// in constant time.
#[derive(Clone)]
pub struct NtfRegCode(Zeroizing<Vec<u8>>);

impl NtfRegCode {
    /// Wraps code bytes (at most 255 to be encodable).
    pub fn new(bytes: &[u8]) -> Result<Self, crate::encoding::TooLong> {
        if bytes.len() > ShortBytes::MAX_LEN {
            return Err(crate::encoding::TooLong {
                len: bytes.len(),
                max: ShortBytes::MAX_LEN,
            });
        }
        Ok(Self(Zeroizing::new(bytes.to_vec())))
    }

    /// The code's bytes (to encrypt it for the device).
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl PartialEq for NtfRegCode {
    fn eq(&self, other: &Self) -> bool {
        self.0.len() == other.0.len() && bool::from(self.0.ct_eq(&other.0))
    }
}

impl Eq for NtfRegCode {}

impl std::fmt::Debug for NtfRegCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NtfRegCode(<redacted>)")
    }
}

impl Encode for NtfRegCode {
    fn encode(&self, out: &mut Vec<u8>) {
        // new() keeps the code within a 1-byte length.
        out.push(self.0.len() as u8);
        out.extend_from_slice(&self.0);
    }
}

impl Decode for NtfRegCode {
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        let bytes = r.short_bytes()?;
        Ok(Self(Zeroizing::new(bytes.to_vec())))
    }
}

/// Text form: base64url with padding (the store log's `regCode=`).
impl StrEncode for NtfRegCode {
    fn str_encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(base64url_encode(&self.0).as_bytes());
    }
}

impl StrDecode for NtfRegCode {
    fn str_parse(s: &mut Scanner<'_>) -> Result<Self, DecodeError> {
        let bytes = Zeroizing::new(s.base64url()?);
        Self::new(&bytes).map_err(|_| DecodeError::Invalid("registration code"))
    }
}

/// The SMP queue a subscription watches: its server and its notifier id. Subscriptions are
/// keyed by it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SmpQueueNtf {
    /// The SMP server holding the queue.
    pub server: ServerAddress,
    /// The queue's notifier id on that server.
    pub notifier_id: EntityId,
}

impl Encode for SmpQueueNtf {
    fn encode(&self, out: &mut Vec<u8>) {
        self.server.encode(out);
        self.notifier_id.encode(out);
    }
}

impl Decode for SmpQueueNtf {
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(Self {
            server: ServerAddress::decode(r)?,
            notifier_id: EntityId::decode(r)?,
        })
    }
}

/// Text form: `smp://<key hash>@<hosts>[:port]/<notifier id, base64url>`.
impl StrEncode for SmpQueueNtf {
    fn str_encode(&self, out: &mut Vec<u8>) {
        self.server.str_encode(out);
        out.push(b'/');
        out.extend_from_slice(base64url_encode(self.notifier_id.as_bytes()).as_bytes());
    }
}

impl StrDecode for SmpQueueNtf {
    fn str_parse(s: &mut Scanner<'_>) -> Result<Self, DecodeError> {
        let server = ServerAddress::str_parse(s)?;
        s.expect(b'/', "notifier id")?;
        let id = s.base64url()?;
        let notifier_id = EntityId::new(id).map_err(|_| DecodeError::Invalid("notifier id"))?;
        Ok(Self {
            server,
            notifier_id,
        })
    }
}

/// A token's status (see `spec/notifications.md` for the transitions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NtfTknStatus {
    /// Created (never used by the server: tokens start registered).
    New,
    /// After `TNEW`: the verification push is on its way.
    Registered,
    /// The push provider refused the token.
    Invalid,
    /// The provider accepted the verification push.
    Confirmed,
    /// The client returned the code (`TVFY`): notifications flow.
    Active,
    /// No longer valid at the provider.
    Expired,
}

impl NtfTknStatus {
    fn name(self) -> &'static [u8] {
        match self {
            Self::New => b"NEW",
            Self::Registered => b"REGISTERED",
            Self::Invalid => b"INVALID",
            Self::Confirmed => b"CONFIRMED",
            Self::Active => b"ACTIVE",
            Self::Expired => b"EXPIRED",
        }
    }

    fn from_name(name: &[u8]) -> Result<Self, DecodeError> {
        Ok(match name {
            b"NEW" => Self::New,
            b"REGISTERED" => Self::Registered,
            b"INVALID" => Self::Invalid,
            b"CONFIRMED" => Self::Confirmed,
            b"ACTIVE" => Self::Active,
            b"EXPIRED" => Self::Expired,
            _ => return Err(DecodeError::Invalid("token status")),
        })
    }
}

impl Encode for NtfTknStatus {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.name());
    }
}

impl Decode for NtfTknStatus {
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        Self::from_name(&r.take_until(b' '))
    }
}

impl StrEncode for NtfTknStatus {
    fn str_encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.name());
    }
}

impl StrDecode for NtfTknStatus {
    fn str_parse(s: &mut Scanner<'_>) -> Result<Self, DecodeError> {
        Self::from_name(s.take_till(|b| b == b' '))
    }
}

/// A subscription's status.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum NtfSubStatus {
    /// After `SNEW`, before the first `NSUB`.
    New,
    /// `NSUB` sent (or waiting for the SMP server to come back).
    Pending,
    /// Subscribed on the SMP server.
    Active,
    /// The SMP connection was lost.
    Inactive,
    /// The SMP server sent `END` (another notifier subscribed).
    End,
    /// The SMP server answered `ERR AUTH`.
    Auth,
    /// Any other SMP error, described as text (the rest of the field).
    Err(Bytes),
}

impl NtfSubStatus {
    /// Whether the server (re)subscribes a subscription in this status (the reference's
    /// `ntfShouldSubscribe`).
    pub fn should_subscribe(&self) -> bool {
        matches!(
            self,
            Self::New | Self::Pending | Self::Active | Self::Inactive
        )
    }

    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(match self {
            Self::New => b"NEW",
            Self::Pending => b"PENDING",
            Self::Active => b"ACTIVE",
            Self::Inactive => b"INACTIVE",
            Self::End => b"END",
            Self::Auth => b"AUTH",
            Self::Err(_) => b"ERR ",
        });
        if let Self::Err(text) = self {
            out.extend_from_slice(text);
        }
    }

    /// The name, then for `ERR` a space and all of `rest`.
    fn read(
        name: &[u8],
        rest: impl FnOnce() -> Result<Bytes, DecodeError>,
    ) -> Result<Self, DecodeError> {
        Ok(match name {
            b"NEW" => Self::New,
            b"PENDING" => Self::Pending,
            b"ACTIVE" => Self::Active,
            b"INACTIVE" => Self::Inactive,
            b"END" => Self::End,
            b"AUTH" => Self::Auth,
            b"ERR" => Self::Err(rest()?),
            _ => return Err(DecodeError::Invalid("subscription status")),
        })
    }
}

impl Encode for NtfSubStatus {
    fn encode(&self, out: &mut Vec<u8>) {
        self.write(out)
    }
}

impl Decode for NtfSubStatus {
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        let name = r.take_until(b' ');
        Self::read(&name, || {
            r.expect_byte(b' ', "space")?;
            Ok(r.take_rest())
        })
    }
}

impl StrEncode for NtfSubStatus {
    fn str_encode(&self, out: &mut Vec<u8>) {
        self.write(out)
    }
}

impl StrDecode for NtfSubStatus {
    fn str_parse(s: &mut Scanner<'_>) -> Result<Self, DecodeError> {
        let name = s.take_till(|b| b == b' ');
        Self::read(name, || {
            s.space()?;
            Ok(Bytes::copy_from_slice(s.take_rest()))
        })
    }
}
