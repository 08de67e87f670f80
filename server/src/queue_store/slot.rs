//! One queue as stored: a compact slot holding both ids, the keys as raw bytes and the DH
//! secret inline, with boxes for what only queues in use have (messages, a subscriber,
//! notifier credentials).

use simplex_core::crypto::cbox::CbKey;
use simplex_core::crypto::keys::{Signature, VerifyKey};
use simplex_core::crypto::{ed25519, ed448, x25519};
use simplex_core::protocol::MsgId;
use zeroize::Zeroize;

use crate::machine::ClientId;
use crate::message::MsgQueue;
use crate::msg_log::StoredMessage;
use crate::queue::{NtfCreds, QueueRec, QueueStatus};

use super::{entity_id, QueueId};

/// A signature key as its raw public bytes (58 bytes instead of a parsed key's 232).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum RawKey {
    Ed25519([u8; 32]),
    Ed448([u8; 57]),
}

impl RawKey {
    pub(crate) fn new(key: &VerifyKey) -> Self {
        match key {
            VerifyKey::Ed25519(k) => Self::Ed25519(*k.as_bytes()),
            VerifyKey::Ed448(k) => Self::Ed448(*k.as_bytes()),
        }
    }

    /// The parsed key. Parsing raw bytes never fails, and gives back the very key stored.
    fn parse(&self) -> VerifyKey {
        match self {
            Self::Ed25519(b) => VerifyKey::Ed25519(ed25519::VerifyingKey::from_bytes(b)),
            Self::Ed448(b) => VerifyKey::Ed448(ed448::VerifyingKey::from_bytes(b)),
        }
    }

    pub(super) fn matches(&self, sig: &Signature) -> bool {
        matches!(
            (self, sig),
            (Self::Ed25519(_), Signature::Ed25519(_)) | (Self::Ed448(_), Signature::Ed448(_))
        )
    }
}

/// A DH secret kept inline, wiped when dropped (and, by the store, before its slot is freed).
/// No `Clone`, `PartialEq` or `Debug`: it is only ever turned into the key it derives.
pub(super) struct InlineSecret([u8; 32]);

impl InlineSecret {
    pub(super) fn new(s: &x25519::SharedSecret) -> Self {
        Self(*s.as_secret().expose())
    }

    pub(super) fn shared(&self) -> x25519::SharedSecret {
        x25519::SharedSecret::from_bytes(&self.0)
    }

    /// Wipes the secret now (it is wiped again when dropped).
    pub(super) fn wipe(&mut self) {
        self.0.zeroize();
    }
}

impl Drop for InlineSecret {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

/// A key that verifies a command, as the machine asks for it.
pub(crate) struct StoredKey<'a>(&'a RawKey);

impl<'a> StoredKey<'a> {
    /// A stored key (tests build them from keys of their own).
    #[cfg(test)]
    pub(crate) fn new(raw: &'a RawKey) -> Self {
        Self(raw)
    }

    /// The raw public bytes.
    pub fn raw_bytes(&self) -> &'a [u8] {
        match self.0 {
            RawKey::Ed25519(b) => b,
            RawKey::Ed448(b) => b,
        }
    }

    /// The parsed key.
    pub fn parse(&self) -> VerifyKey {
        self.0.parse()
    }

    /// Whether the signature is of the key's algorithm.
    pub fn matches(&self, sig: &Signature) -> bool {
        self.0.matches(sig)
    }

    /// Parses the key and verifies `sig` over `signed` (uncached).
    #[cfg(test)]
    pub fn verify(&self, signed: &[u8], sig: &Signature) -> bool {
        self.0.parse().verify(signed, sig)
    }
}

/// A queue's notifier credentials and the notifier's subscription.
pub(super) struct Notifier {
    pub(super) id: QueueId,
    pub(super) key: RawKey,
    pub(super) secret: InlineSecret,
    pub(super) subscriber: Option<ClientId>,
}

/// What a queue has only while in use: messages and the recipient's subscription.
#[derive(Default)]
pub(super) struct Activity {
    msgs: MsgQueue,
    subscriber: Option<ClientId>,
}

/// One queue.
pub(crate) struct QueueSlot {
    pub(super) recipient_id: QueueId,
    pub(super) sender_id: QueueId,
    pub(super) recipient_key: RawKey,
    pub(super) sender_key: Option<RawKey>,
    pub(super) dh_secret: InlineSecret,
    pub(super) status: QueueStatus,
    pub(super) notifier: Option<Box<Notifier>>,
    pub(super) activity: Option<Box<Activity>>,
}

/// Never prints ids, keys or secrets.
impl std::fmt::Debug for QueueSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueueSlot")
            .field("secured", &self.sender_key.is_some())
            .field("notifier", &self.notifier.is_some())
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

impl QueueSlot {
    pub(super) fn new(rec: &QueueRec, recipient_id: QueueId, sender_id: QueueId) -> Self {
        Self {
            recipient_id,
            sender_id,
            recipient_key: RawKey::new(&rec.recipient_key),
            sender_key: rec.sender_key.as_ref().map(RawKey::new),
            dh_secret: InlineSecret::new(&rec.rcv_dh_secret),
            status: rec.status,
            notifier: None,
            activity: None,
        }
    }

    /// The queue's record, as the store log writes it.
    pub fn to_rec(&self) -> QueueRec {
        QueueRec {
            recipient_id: entity_id(&self.recipient_id),
            recipient_key: self.recipient_key.parse(),
            rcv_dh_secret: self.dh_secret.shared(),
            sender_id: entity_id(&self.sender_id),
            sender_key: self.sender_key.as_ref().map(RawKey::parse),
            notifier: self.notifier.as_ref().map(|n| NtfCreds {
                notifier_id: entity_id(&n.id),
                notifier_key: n.key.parse(),
                ntf_dh_secret: n.secret.shared(),
            }),
            status: self.status,
        }
    }

    /// The recipient id.
    pub fn recipient_id(&self) -> &QueueId {
        &self.recipient_id
    }

    /// Verifies the recipient's commands.
    pub fn recipient_key(&self) -> StoredKey<'_> {
        StoredKey(&self.recipient_key)
    }

    /// Verifies `SEND` once secured.
    pub fn sender_key(&self) -> Option<StoredKey<'_>> {
        self.sender_key.as_ref().map(StoredKey)
    }

    /// Whether the sender key is set.
    pub fn is_secured(&self) -> bool {
        self.sender_key.is_some()
    }

    /// Sets the sender key (`KEY`).
    pub fn set_sender_key(&mut self, key: &VerifyKey) {
        self.sender_key = Some(RawKey::new(key));
    }

    /// Active or suspended.
    pub fn status(&self) -> QueueStatus {
        self.status
    }

    /// Suspends or reactivates.
    pub fn set_status(&mut self, status: QueueStatus) {
        self.status = status;
    }

    /// The crypto_box key of delivered bodies, derived from the DH secret.
    pub fn cb_key(&self) -> CbKey {
        CbKey::new(&self.dh_secret.shared())
    }

    /// The notifier id, if notifications are on.
    pub fn notifier_id(&self) -> Option<&QueueId> {
        self.notifier.as_ref().map(|n| &n.id)
    }

    /// Verifies `NSUB`, if notifications are on.
    pub fn notifier_key(&self) -> Option<StoredKey<'_>> {
        self.notifier.as_ref().map(|n| StoredKey(&n.key))
    }

    /// The crypto_box key of notification metadata, if notifications are on.
    pub fn ntf_cb_key(&self) -> Option<CbKey> {
        self.notifier
            .as_ref()
            .map(|n| CbKey::new(&n.secret.shared()))
    }

    /// The connection subscribed to notifications.
    pub fn notifier_sub(&self) -> Option<ClientId> {
        self.notifier.as_ref().and_then(|n| n.subscriber)
    }

    /// Sets the notifier's subscription (notifications must be on); returns the previous one.
    pub fn replace_notifier_sub(&mut self, client: ClientId) -> Option<ClientId> {
        self.notifier
            .as_mut()
            .and_then(|n| n.subscriber.replace(client))
    }

    /// Ends `client`'s notifier subscription, if it holds it.
    pub fn end_notifier_sub(&mut self, client: ClientId) {
        if let Some(n) = self.notifier.as_mut() {
            if n.subscriber == Some(client) {
                n.subscriber = None;
            }
        }
    }

    /// The recipient's subscribed connection.
    pub fn subscriber(&self) -> Option<ClientId> {
        self.activity.as_ref().and_then(|a| a.subscriber)
    }

    /// Sets the recipient's subscription; returns the previous one.
    pub fn replace_subscriber(&mut self, client: ClientId) -> Option<ClientId> {
        self.activity_mut().subscriber.replace(client)
    }

    /// Ends `client`'s subscription, if it holds it.
    pub fn end_subscriber(&mut self, client: ClientId) {
        if let Some(a) = self.activity.as_mut() {
            if a.subscriber == Some(client) {
                a.subscriber = None;
            }
        }
        self.tidy();
    }

    /// Number of messages held.
    pub fn msg_count(&self) -> usize {
        self.activity.as_ref().map_or(0, |a| a.msgs.len())
    }

    /// Whether the queue holds `quota` messages.
    pub fn is_full(&self, quota: usize) -> bool {
        match &self.activity {
            Some(a) => a.msgs.is_full(quota),
            None => quota == 0,
        }
    }

    /// The first message.
    pub fn peek(&self) -> Option<&StoredMessage> {
        self.activity.as_ref().and_then(|a| a.msgs.peek())
    }

    /// Appends a message.
    pub fn push(&mut self, m: StoredMessage) {
        self.activity_mut().msgs.push(m);
    }

    /// [`MsgQueue::try_del`].
    pub fn try_del(&mut self, msg_id: &MsgId) -> Option<StoredMessage> {
        let m = self.activity.as_mut().and_then(|a| a.msgs.try_del(msg_id));
        self.tidy();
        m
    }

    /// [`MsgQueue::expire`].
    pub fn expire(&mut self, before: i64) -> Vec<MsgId> {
        let gone = self
            .activity
            .as_mut()
            .map(|a| a.msgs.expire(before))
            .unwrap_or_default();
        self.tidy();
        gone
    }

    /// Takes all messages out.
    pub fn take_messages(&mut self) -> MsgQueue {
        let msgs = self
            .activity
            .as_mut()
            .map(|a| std::mem::take(&mut a.msgs))
            .unwrap_or_default();
        self.tidy();
        msgs
    }

    fn activity_mut(&mut self) -> &mut Activity {
        self.activity.get_or_insert_with(Box::default)
    }

    /// Frees the activity box once it holds nothing: an idle queue is back to its slot.
    fn tidy(&mut self) {
        if self
            .activity
            .as_ref()
            .is_some_and(|a| a.subscriber.is_none() && a.msgs.len() == 0)
        {
            self.activity = None;
        }
    }

    /// Wipes the secrets in place (before the slot is vacated).
    pub(super) fn wipe(&mut self) {
        self.dh_secret.0.zeroize();
        if let Some(n) = self.notifier.as_mut() {
            n.secret.0.zeroize();
        }
    }
}

/// What a removed queue leaves for the machine to clean up.
pub(crate) struct RemovedQueue {
    /// Whether it held messages.
    pub had_messages: bool,
    /// The recipient's subscribed connection.
    pub subscriber: Option<ClientId>,
    /// Its notifier, if any.
    pub notifier: Option<RemovedNotifier>,
}

/// A notifier taken off a queue.
pub(crate) struct RemovedNotifier {
    /// Its id.
    pub id: QueueId,
    /// Its subscribed connection.
    pub subscriber: Option<ClientId>,
}
