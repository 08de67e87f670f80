//! The NTF store log, in the reference's text format (`Notifications/Server/StoreLog.hs`):
//! one record a line, appended as things change; at start the file is replayed into a store
//! and rewritten as one `TCREATE` per token and one `SCREATE` per subscription (compaction).
//!
//! ```text
//! TCREATE tknId=<id> token=<provider> <hex> tokenStatus=<status> verifyKey=<key> dhKeys=<pub> <priv> dhSecret=<secret> regCode=<code> cron=<minutes>
//! TSTATUS <id> <status>
//! TUPDATE <id> <provider> <hex> <code>
//! TCRON <id> <minutes>
//! TDELETE <id>
//! SCREATE subId=<id> smpQueue=<smp://…/notifier id> notifierKey=<key> tknId=<id> subStatus=<status>
//! SSTATUS <id> <status>
//! SDELETE <id>
//! ```
//!
//! Ids, codes, secrets and keys (DER) are base64url with padding. A line that does not parse
//! is skipped (the reference prints it and goes on). Lines hold secrets: `Debug` names the
//! record kind only.

use simplex_core::crypto::cbox::CbKey;
use simplex_core::crypto::keys::{DhPrivateKey, DhPublicKey, SignKey, VerifyKey};
use simplex_core::crypto::x25519;
use simplex_core::encoding::string::{base64url_encode, Scanner, StrDecode, StrEncode};
use simplex_core::encoding::DecodeError;
use simplex_core::ntf::{DeviceToken, NtfRegCode, NtfSubStatus, NtfTknStatus, SmpQueueNtf};
use simplex_core::protocol::EntityId;
use zeroize::Zeroizing;

use super::store::{NtfStore, SubData, TokenData};

/// One store log record.
#[derive(Clone)]
pub enum NtfStoreLogRecord {
    /// A token was created (or, in a compacted log, exists).
    CreateToken(Box<TokenData>),
    /// A token's status changed.
    TokenStatus(EntityId, NtfTknStatus),
    /// `TRPL`: a new device token and registration code.
    UpdateToken(EntityId, DeviceToken, NtfRegCode),
    /// `TCRN`: the background push interval.
    TokenCron(EntityId, u16),
    /// A token was deleted.
    DeleteToken(EntityId),
    /// A subscription was created.
    CreateSubscription(Box<SubData>),
    /// A subscription's status changed.
    SubscriptionStatus(EntityId, NtfSubStatus),
    /// A subscription was deleted.
    DeleteSubscription(EntityId),
}

impl std::fmt::Debug for NtfStoreLogRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::CreateToken(_) => "CreateToken",
            Self::TokenStatus(..) => "TokenStatus",
            Self::UpdateToken(..) => "UpdateToken",
            Self::TokenCron(..) => "TokenCron",
            Self::DeleteToken(_) => "DeleteToken",
            Self::CreateSubscription(_) => "CreateSubscription",
            Self::SubscriptionStatus(..) => "SubscriptionStatus",
            Self::DeleteSubscription(_) => "DeleteSubscription",
        })
    }
}

fn b64(bytes: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(base64url_encode(bytes).as_bytes());
}

fn id(s: &mut Scanner<'_>) -> Result<EntityId, DecodeError> {
    EntityId::new(s.base64url()?).map_err(|_| DecodeError::Invalid("id"))
}

fn der<T>(s: &mut Scanner<'_>, parse: impl FnOnce(&[u8]) -> Option<T>) -> Result<T, DecodeError> {
    let bytes = Zeroizing::new(s.base64url()?);
    parse(&bytes).ok_or(DecodeError::Invalid("key"))
}

impl StrEncode for NtfStoreLogRecord {
    fn str_encode(&self, out: &mut Vec<u8>) {
        match self {
            Self::CreateToken(t) => {
                out.extend_from_slice(b"TCREATE tknId=");
                b64(t.id.as_bytes(), out);
                out.extend_from_slice(b" token=");
                t.token.str_encode(out);
                out.extend_from_slice(b" tokenStatus=");
                t.status.str_encode(out);
                out.extend_from_slice(b" verifyKey=");
                b64(&t.verify_key.to_der(), out);
                out.extend_from_slice(b" dhKeys=");
                b64(&DhPublicKey::X25519(t.dh_public).to_der(), out);
                out.push(b' ');
                b64(&DhPrivateKey::X25519(t.dh_private.clone()).to_der(), out);
                out.extend_from_slice(b" dhSecret=");
                b64(t.dh_secret.as_secret().expose(), out);
                out.extend_from_slice(b" regCode=");
                t.reg_code.str_encode(out);
                out.extend_from_slice(format!(" cron={}", t.cron_interval).as_bytes());
            }
            Self::TokenStatus(id, status) => {
                out.extend_from_slice(b"TSTATUS ");
                b64(id.as_bytes(), out);
                out.push(b' ');
                status.str_encode(out);
            }
            Self::UpdateToken(id, token, code) => {
                out.extend_from_slice(b"TUPDATE ");
                b64(id.as_bytes(), out);
                out.push(b' ');
                token.str_encode(out);
                out.push(b' ');
                code.str_encode(out);
            }
            Self::TokenCron(id, minutes) => {
                out.extend_from_slice(b"TCRON ");
                b64(id.as_bytes(), out);
                out.extend_from_slice(format!(" {minutes}").as_bytes());
            }
            Self::DeleteToken(id) => {
                out.extend_from_slice(b"TDELETE ");
                b64(id.as_bytes(), out);
            }
            Self::CreateSubscription(s) => {
                out.extend_from_slice(b"SCREATE subId=");
                b64(s.id.as_bytes(), out);
                out.extend_from_slice(b" smpQueue=");
                s.queue.str_encode(out);
                out.extend_from_slice(b" notifierKey=");
                b64(&s.notifier_key.to_der(), out);
                out.extend_from_slice(b" tknId=");
                b64(s.token_id.as_bytes(), out);
                out.extend_from_slice(b" subStatus=");
                s.status.str_encode(out);
            }
            Self::SubscriptionStatus(id, status) => {
                out.extend_from_slice(b"SSTATUS ");
                b64(id.as_bytes(), out);
                out.push(b' ');
                status.str_encode(out);
            }
            Self::DeleteSubscription(id) => {
                out.extend_from_slice(b"SDELETE ");
                b64(id.as_bytes(), out);
            }
        }
    }
}

fn parse_token(s: &mut Scanner<'_>) -> Result<TokenData, DecodeError> {
    s.expect_str(b"tknId=", "tknId")?;
    let token_id = id(s)?;
    s.expect_str(b" token=", "token")?;
    let token = DeviceToken::str_parse(s)?;
    s.expect_str(b" tokenStatus=", "tokenStatus")?;
    let status = NtfTknStatus::str_parse(s)?;
    s.expect_str(b" verifyKey=", "verifyKey")?;
    let verify_key = der(s, |d| VerifyKey::from_der(d).ok())?;
    s.expect_str(b" dhKeys=", "dhKeys")?;
    let dh_public = der(s, |d| match DhPublicKey::from_der(d) {
        Ok(DhPublicKey::X25519(k)) => Some(k),
        _ => None,
    })?;
    s.space()?;
    let dh_private = der(s, |d| match DhPrivateKey::from_der(d) {
        Ok(DhPrivateKey::X25519(k)) => Some(k),
        _ => None,
    })?;
    s.expect_str(b" dhSecret=", "dhSecret")?;
    let dh_secret = der(s, |d| {
        <&[u8; 32]>::try_from(d)
            .ok()
            .map(x25519::SharedSecret::from_bytes)
    })?;
    s.expect_str(b" regCode=", "regCode")?;
    let reg_code = NtfRegCode::str_parse(s)?;
    s.expect_str(b" cron=", "cron")?;
    let cron_interval =
        u16::try_from(s.decimal()?).map_err(|_| DecodeError::Invalid("cron interval"))?;
    Ok(TokenData {
        id: token_id,
        token,
        status,
        verify_key,
        dh_public,
        dh_private,
        box_key: CbKey::new(&dh_secret),
        dh_secret,
        reg_code,
        cron_interval,
    })
}

fn parse_subscription(s: &mut Scanner<'_>) -> Result<SubData, DecodeError> {
    s.expect_str(b"subId=", "subId")?;
    let sub_id = id(s)?;
    s.expect_str(b" smpQueue=", "smpQueue")?;
    let queue = SmpQueueNtf::str_parse(s)?;
    s.expect_str(b" notifierKey=", "notifierKey")?;
    let notifier_key = der(s, |d| SignKey::from_der(d).ok())?;
    s.expect_str(b" tknId=", "tknId")?;
    let token_id = id(s)?;
    s.expect_str(b" subStatus=", "subStatus")?;
    let status = NtfSubStatus::str_parse(s)?;
    Ok(SubData {
        id: sub_id,
        queue,
        notifier_key,
        token_id,
        status,
    })
}

impl StrDecode for NtfStoreLogRecord {
    fn str_parse(s: &mut Scanner<'_>) -> Result<Self, DecodeError> {
        let tag = s.take_till(|b| b == b' ');
        s.space()?;
        Ok(match tag {
            b"TCREATE" => Self::CreateToken(Box::new(parse_token(s)?)),
            b"TSTATUS" => {
                let id = id(s)?;
                s.space()?;
                Self::TokenStatus(id, NtfTknStatus::str_parse(s)?)
            }
            b"TUPDATE" => {
                let id = id(s)?;
                s.space()?;
                let token = DeviceToken::str_parse(s)?;
                s.space()?;
                Self::UpdateToken(id, token, NtfRegCode::str_parse(s)?)
            }
            b"TCRON" => {
                let id = id(s)?;
                s.space()?;
                let minutes =
                    u16::try_from(s.decimal()?).map_err(|_| DecodeError::Invalid("cron"))?;
                Self::TokenCron(id, minutes)
            }
            b"TDELETE" => Self::DeleteToken(id(s)?),
            b"SCREATE" => Self::CreateSubscription(Box::new(parse_subscription(s)?)),
            b"SSTATUS" => {
                let id = id(s)?;
                s.space()?;
                Self::SubscriptionStatus(id, NtfSubStatus::str_parse(s)?)
            }
            b"SDELETE" => Self::DeleteSubscription(id(s)?),
            _ => return Err(DecodeError::Invalid("store log record")),
        })
    }
}

/// Applies one record to a store, as the reference's replay does.
pub fn apply(store: &mut NtfStore, record: NtfStoreLogRecord) {
    match record {
        NtfStoreLogRecord::CreateToken(t) => store.add_token(*t),
        NtfStoreLogRecord::TokenStatus(id, status) => {
            if let Some(t) = store.token_mut(&id) {
                t.status = status;
            }
        }
        NtfStoreLogRecord::UpdateToken(id, token, code) => {
            store.remove_registration(&id);
            if let Some(mut t) = store.token(&id).cloned() {
                t.status = NtfTknStatus::Registered;
                t.token = token;
                t.reg_code = code;
                store.add_token(t);
            }
        }
        NtfStoreLogRecord::TokenCron(id, minutes) => {
            if let Some(t) = store.token_mut(&id) {
                t.cron_interval = minutes;
            }
        }
        NtfStoreLogRecord::DeleteToken(id) => {
            store.delete_token(&id);
        }
        NtfStoreLogRecord::CreateSubscription(s) => store.add_subscription(*s),
        NtfStoreLogRecord::SubscriptionStatus(id, status) => {
            if let Some(s) = store.subscription_mut(&id) {
                s.status = status;
            }
        }
        NtfStoreLogRecord::DeleteSubscription(id) => {
            store.delete_subscription(&id);
        }
    }
}

/// Replays a store log's text into a store; returns how many lines were skipped because they
/// did not parse. A torn last line (no newline) is one of them.
pub fn replay(text: &[u8], store: &mut NtfStore) -> usize {
    let mut skipped = 0;
    for line in text.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        match NtfStoreLogRecord::str_decode(line) {
            Ok(record) => apply(store, record),
            Err(_) => skipped += 1,
        }
    }
    skipped
}

/// The compacted log: every token, then every subscription.
pub fn compacted(store: &NtfStore) -> Vec<NtfStoreLogRecord> {
    let tokens = store
        .tokens()
        .map(|t| NtfStoreLogRecord::CreateToken(Box::new(t.clone())));
    let subs = store
        .subscriptions()
        .map(|s| NtfStoreLogRecord::CreateSubscription(Box::new(s.clone())));
    tokens.chain(subs).collect()
}
