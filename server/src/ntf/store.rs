//! The NTF server's store: tokens (with their registrations by device token and verify key),
//! subscriptions (by id and by SMP queue) and which subscriptions each token has. The
//! operations mirror the reference's `Notifications/Server/Store.hs`, quirks included (see
//! `spec/notifications.md`).

use std::collections::{BTreeSet, HashMap};

use simplex_core::crypto::cbox::CbKey;
use simplex_core::crypto::keys::{SignKey, VerifyKey};
use simplex_core::crypto::x25519;
use simplex_core::ntf::{DeviceToken, NtfRegCode, NtfSubStatus, NtfTknStatus, SmpQueueNtf};
use simplex_core::protocol::EntityId;

/// A registered token.
#[derive(Debug, Clone)]
pub struct TokenData {
    /// The token id (random, 24 bytes).
    pub id: EntityId,
    /// The device's push token.
    pub token: DeviceToken,
    /// Its status.
    pub status: NtfTknStatus,
    /// Verifies the client's token and subscription commands.
    pub verify_key: VerifyKey,
    /// The server's DH public key for this token.
    pub dh_public: x25519::PublicKey,
    /// The server's DH private key for this token (kept for the store log and `TNEW` repeats).
    pub dh_private: x25519::PrivateKey,
    /// The DH secret with the client's key: push payloads are boxed with it.
    pub dh_secret: x25519::SharedSecret,
    /// The box key derived from `dh_secret`, computed once.
    pub box_key: CbKey,
    /// The registration code the client must return.
    pub reg_code: NtfRegCode,
    /// Minutes between background pushes; 0 for none.
    pub cron_interval: u16,
}

/// A subscription.
#[derive(Debug, Clone)]
pub struct SubData {
    /// The subscription id.
    pub id: EntityId,
    /// The queue it watches.
    pub queue: SmpQueueNtf,
    /// Signs `NSUB`.
    pub notifier_key: SignKey,
    /// The token the pushes go to.
    pub token_id: EntityId,
    /// Its status.
    pub status: NtfSubStatus,
}

/// The registration key of a token: its verify key's DER (the reference's `pubKeyBytes`).
fn reg_key(key: &VerifyKey) -> Vec<u8> {
    key.to_der()
}

/// All tokens and subscriptions.
#[derive(Debug, Default)]
pub struct NtfStore {
    tokens: HashMap<EntityId, TokenData>,
    /// Device token → verify key → token id: several clients may register one device.
    registrations: HashMap<DeviceToken, HashMap<Vec<u8>, EntityId>>,
    subscriptions: HashMap<EntityId, SubData>,
    token_subscriptions: HashMap<EntityId, BTreeSet<EntityId>>,
    by_queue: HashMap<SmpQueueNtf, EntityId>,
}

impl NtfStore {
    /// A token by id.
    pub fn token(&self, id: &EntityId) -> Option<&TokenData> {
        self.tokens.get(id)
    }

    /// A token by id, to change it.
    pub fn token_mut(&mut self, id: &EntityId) -> Option<&mut TokenData> {
        self.tokens.get_mut(id)
    }

    /// A token by id if it is `ACTIVE`.
    pub fn active_token(&self, id: &EntityId) -> Option<&TokenData> {
        self.tokens
            .get(id)
            .filter(|t| t.status == NtfTknStatus::Active)
    }

    /// Every token.
    pub fn tokens(&self) -> impl Iterator<Item = &TokenData> {
        self.tokens.values()
    }

    /// Every subscription.
    pub fn subscriptions(&self) -> impl Iterator<Item = &SubData> {
        self.subscriptions.values()
    }

    /// How many tokens and subscriptions there are.
    pub fn counts(&self) -> (usize, usize) {
        (self.tokens.len(), self.subscriptions.len())
    }

    /// Adds (or replaces) a token and its registration.
    pub fn add_token(&mut self, token: TokenData) {
        self.registrations
            .entry(token.token.clone())
            .or_default()
            .insert(reg_key(&token.verify_key), token.id.clone());
        self.tokens.insert(token.id.clone(), token);
    }

    /// The token registered for this device token and verify key, if any.
    pub fn registration(&self, token: &DeviceToken, key: &VerifyKey) -> Option<&TokenData> {
        let id = self.registrations.get(token)?.get(&reg_key(key))?;
        self.tokens.get(id)
    }

    /// Removes the other registrations of `id`'s device token and their tokens (after `TVFY`);
    /// returns the removed token ids. Their subscriptions stay, as in the reference.
    pub fn remove_inactive_registrations(&mut self, id: &EntityId) -> Vec<EntityId> {
        let Some(device) = self.tokens.get(id).map(|t| t.token.clone()) else {
            return Vec::new();
        };
        let Some(regs) = self.registrations.get_mut(&device) else {
            return Vec::new();
        };
        let others: Vec<(Vec<u8>, EntityId)> = regs
            .iter()
            .filter(|(_, t)| *t != id)
            .map(|(k, t)| (k.clone(), t.clone()))
            .collect();
        for (key, other) in &others {
            regs.remove(key);
            self.tokens.remove(other);
        }
        others.into_iter().map(|(_, t)| t).collect()
    }

    /// Removes `id`'s registration under its current device token (before `TRPL`).
    pub fn remove_registration(&mut self, id: &EntityId) {
        let Some(token) = self.tokens.get(id) else {
            return;
        };
        let key = reg_key(&token.verify_key);
        if let Some(regs) = self.registrations.get_mut(&token.token) {
            if regs.get(&key) == Some(id) {
                regs.remove(&key);
            }
        }
    }

    /// Deletes a token and its subscriptions; returns the queues that were subscribed.
    pub fn delete_token(&mut self, id: &EntityId) -> Vec<SmpQueueNtf> {
        if let Some(token) = self.tokens.remove(id) {
            if let Some(regs) = self.registrations.get_mut(&token.token) {
                regs.remove(&reg_key(&token.verify_key));
                if regs.is_empty() {
                    self.registrations.remove(&token.token);
                }
            }
        }
        let mut queues = Vec::new();
        for sub_id in self.token_subscriptions.remove(id).unwrap_or_default() {
            if let Some(sub) = self.subscriptions.remove(&sub_id) {
                self.by_queue.remove(&sub.queue);
                queues.push(sub.queue);
            }
        }
        queues
    }

    /// A subscription by id.
    pub fn subscription(&self, id: &EntityId) -> Option<&SubData> {
        self.subscriptions.get(id)
    }

    /// The subscription watching `queue`.
    pub fn find_subscription(&self, queue: &SmpQueueNtf) -> Option<&SubData> {
        self.subscriptions.get(self.by_queue.get(queue)?)
    }

    /// The subscription watching `queue`, to change it.
    pub fn find_subscription_mut(&mut self, queue: &SmpQueueNtf) -> Option<&mut SubData> {
        let id = self.by_queue.get(queue)?;
        self.subscriptions.get_mut(id)
    }

    /// A subscription by id, to change it.
    pub fn subscription_mut(&mut self, id: &EntityId) -> Option<&mut SubData> {
        self.subscriptions.get_mut(id)
    }

    /// The active token a message on `queue` goes to.
    pub fn subscription_token(&self, queue: &SmpQueueNtf) -> Option<&TokenData> {
        let sub = self.find_subscription(queue)?;
        self.active_token(&sub.token_id)
    }

    /// Adds a subscription.
    pub fn add_subscription(&mut self, sub: SubData) {
        self.token_subscriptions
            .entry(sub.token_id.clone())
            .or_default()
            .insert(sub.id.clone());
        self.by_queue.insert(sub.queue.clone(), sub.id.clone());
        self.subscriptions.insert(sub.id.clone(), sub);
    }

    /// Deletes a subscription; returns it.
    pub fn delete_subscription(&mut self, id: &EntityId) -> Option<SubData> {
        let sub = self.subscriptions.remove(id)?;
        self.by_queue.remove(&sub.queue);
        if let Some(subs) = self.token_subscriptions.get_mut(&sub.token_id) {
            subs.remove(id);
        }
        Some(sub)
    }
}
