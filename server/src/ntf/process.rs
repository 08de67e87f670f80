//! One client transmission: its signature checked against the entity it names (the
//! reference's `verifyNtfTransmission`), then the command carried out (`processCommand`).

use bytes::Bytes;
use simplex_core::crypto::cbox::CbKey;
use simplex_core::crypto::ed25519;
use simplex_core::crypto::keys::{SignKey, Signature, VerifyKey};
use simplex_core::crypto::x25519;
use simplex_core::ntf::{
    NewSubscription, NewToken, NtfCommand, NtfRegCode, NtfResponse, NtfSubStatus, NtfTknStatus,
    PushNotification,
};
use simplex_core::protocol::{
    encode_transmission, signed_part, CorrId, EntityId, ErrorType, VerifiedTransmission,
};

use super::store::{SubData, TokenData};
use super::{NtfClientId, NtfOutput, NtfServer, NtfStoreLogRecord, PushKind};

/// The shortest `TCRN` interval, in minutes (0 turns them off).
pub const MIN_CRON_INTERVAL: u16 = 20;

/// What a verified transmission is about.
enum Request {
    NewToken(NewToken),
    NewSubscription(NewSubscription),
    Token(EntityId, NtfCommand),
    Subscription(EntityId, NtfCommand),
}

fn verified(sig: Option<&Signature>, signed: &[u8], key: &VerifyKey) -> bool {
    sig.is_some_and(|s| key.verify(signed, s))
}

/// A verification against a key nobody holds, so a missing entity costs about what a wrong
/// signature does (the reference's `dummyVerifyCmd`).
fn dummy_verify(sig: Option<&Signature>, signed: &[u8]) -> bool {
    let key = SignKey::Ed25519(ed25519::SigningKey::from_bytes(&[0x5a; 32])).verify_key();
    verified(sig, signed, &key)
}

impl NtfServer {
    pub(super) fn transmission(
        &mut self,
        client: NtfClientId,
        session_id: &Bytes,
        t: VerifiedTransmission<NtfCommand>,
    ) {
        let response = match t.message {
            Err(e) => NtfResponse::Err(e),
            Ok(cmd) => match self.verify(t.signature.as_ref(), &t.signed, &t.entity_id, cmd) {
                Some(request) => self.process(request),
                None => NtfResponse::Err(ErrorType::Auth),
            },
        };
        self.respond(client, session_id, &t.corr_id, &t.entity_id, &response);
    }

    fn respond(
        &mut self,
        client: NtfClientId,
        session_id: &[u8],
        corr_id: &CorrId,
        entity_id: &EntityId,
        response: &NtfResponse,
    ) {
        // Session ids are tls-unique values (12 to 48 bytes): always within a short string.
        if let Ok(signed) = signed_part(session_id, corr_id, entity_id, &response.to_bytes()) {
            self.outputs.push_back(NtfOutput::Send {
                client,
                transmission: encode_transmission(None, &signed),
            });
        }
    }

    fn verify(
        &self,
        sig: Option<&Signature>,
        signed: &[u8],
        entity: &EntityId,
        cmd: NtfCommand,
    ) -> Option<Request> {
        let by_token = |token: Option<&TokenData>| match token {
            Some(t) => verified(sig, signed, &t.verify_key),
            None => {
                dummy_verify(sig, signed);
                false
            }
        };
        match cmd {
            NtfCommand::TNew(new) => {
                if !verified(sig, signed, &new.verify_key) {
                    return None;
                }
                // Registrations are keyed by the verify key, so a found one has the same key.
                match self.store.registration(&new.token, &new.verify_key) {
                    Some(t) => Some(Request::Token(t.id.clone(), NtfCommand::TNew(new))),
                    None => Some(Request::NewToken(new)),
                }
            }
            NtfCommand::SNew(new) => match self.store.find_subscription(&new.queue) {
                None => by_token(self.store.active_token(&new.token_id))
                    .then_some(Request::NewSubscription(new)),
                Some(sub) if sub.token_id == new.token_id => {
                    let id = sub.id.clone();
                    by_token(self.store.active_token(&new.token_id))
                        .then_some(Request::Subscription(id, NtfCommand::SNew(new)))
                }
                Some(_) => {
                    dummy_verify(sig, signed);
                    None
                }
            },
            cmd @ (NtfCommand::TVfy(_)
            | NtfCommand::TChk
            | NtfCommand::TRpl(_)
            | NtfCommand::TDel
            | NtfCommand::TCrn(_)) => {
                by_token(self.store.token(entity)).then(|| Request::Token(entity.clone(), cmd))
            }
            // PING has no entity, so it finds no subscription: the reference answers it with
            // `ERR AUTH`, and so do we.
            cmd @ (NtfCommand::SChk | NtfCommand::SDel | NtfCommand::Ping) => {
                match self.store.subscription(entity) {
                    Some(sub) => by_token(self.store.active_token(&sub.token_id))
                        .then(|| Request::Subscription(entity.clone(), cmd)),
                    None => {
                        dummy_verify(sig, signed);
                        None
                    }
                }
            }
        }
    }

    fn process(&mut self, request: Request) -> NtfResponse {
        match request {
            Request::NewToken(new) => self.new_token(new),
            Request::Token(id, cmd) => self.token_command(&id, cmd),
            Request::NewSubscription(new) => self.new_subscription(new),
            Request::Subscription(id, cmd) => self.subscription_command(&id, cmd),
        }
    }

    fn new_token(&mut self, new: NewToken) -> NtfResponse {
        let dh_private = x25519::PrivateKey::generate(&mut self.rng);
        let Ok(dh_secret) = dh_private.diffie_hellman(&new.dh_key) else {
            // A low-order client key gives no secret: nothing could be pushed to it.
            return NtfResponse::Err(ErrorType::Auth);
        };
        let id_bytes = self.random_bytes(self.config.id_bytes);
        let code_bytes = zeroize::Zeroizing::new(self.random_bytes(self.config.reg_code_bytes));
        let (Ok(id), Ok(reg_code)) = (EntityId::new(id_bytes), NtfRegCode::new(&code_bytes)) else {
            return NtfResponse::Err(ErrorType::Internal);
        };
        let dh_public = dh_private.public_key();
        let token = TokenData {
            id: id.clone(),
            token: new.token,
            status: NtfTknStatus::Registered,
            verify_key: new.verify_key,
            dh_public,
            dh_private,
            box_key: CbKey::new(&dh_secret),
            dh_secret,
            reg_code: reg_code.clone(),
            cron_interval: 0,
        };
        self.store.add_token(token.clone());
        self.persist(NtfStoreLogRecord::CreateToken(Box::new(token)));
        self.stats.tokens_created += 1;
        self.push(
            &id,
            PushKind::Verification,
            PushNotification::Verification(reg_code),
        );
        NtfResponse::TknId {
            token_id: id,
            dh_key: dh_public,
        }
    }

    fn token_command(&mut self, id: &EntityId, cmd: NtfCommand) -> NtfResponse {
        let Some(token) = self.store.token(id).cloned() else {
            return NtfResponse::Err(ErrorType::Auth);
        };
        match cmd {
            NtfCommand::TNew(new) => {
                // A repeated TNEW must come with the same DH key, so that a delayed
                // verification push still opens.
                let same = token
                    .dh_private
                    .diffie_hellman(&new.dh_key)
                    .is_ok_and(|s| s.as_secret() == token.dh_secret.as_secret());
                if !same {
                    return NtfResponse::Err(ErrorType::Auth);
                }
                self.push(
                    id,
                    PushKind::Verification,
                    PushNotification::Verification(token.reg_code.clone()),
                );
                NtfResponse::TknId {
                    token_id: token.id,
                    dh_key: token.dh_public,
                }
            }
            NtfCommand::TVfy(code) => {
                let may_verify = matches!(
                    token.status,
                    NtfTknStatus::Registered | NtfTknStatus::Confirmed | NtfTknStatus::Active
                );
                if !may_verify || code != token.reg_code {
                    return NtfResponse::Err(ErrorType::Auth);
                }
                if let Some(t) = self.store.token_mut(id) {
                    t.status = NtfTknStatus::Active;
                }
                for removed in self.store.remove_inactive_registrations(id) {
                    self.crons.remove(&removed);
                }
                self.persist(NtfStoreLogRecord::TokenStatus(
                    id.clone(),
                    NtfTknStatus::Active,
                ));
                self.stats.tokens_verified += 1;
                NtfResponse::Ok
            }
            NtfCommand::TChk => NtfResponse::Tkn(token.status),
            NtfCommand::TRpl(device) => {
                let code_bytes =
                    zeroize::Zeroizing::new(self.random_bytes(self.config.reg_code_bytes));
                let Ok(reg_code) = NtfRegCode::new(&code_bytes) else {
                    return NtfResponse::Err(ErrorType::Internal);
                };
                self.store.remove_registration(id);
                let mut replaced = token;
                replaced.status = NtfTknStatus::Registered;
                replaced.token = device.clone();
                replaced.reg_code = reg_code.clone();
                self.store.add_token(replaced);
                self.persist(NtfStoreLogRecord::UpdateToken(
                    id.clone(),
                    device,
                    reg_code.clone(),
                ));
                self.push(
                    id,
                    PushKind::Verification,
                    PushNotification::Verification(reg_code),
                );
                self.stats.tokens_deleted += 1;
                self.stats.tokens_created += 1;
                NtfResponse::Ok
            }
            NtfCommand::TDel => {
                for queue in self.store.delete_token(id) {
                    self.outputs.push_back(NtfOutput::Unsubscribe(queue));
                }
                self.crons.remove(id);
                self.persist(NtfStoreLogRecord::DeleteToken(id.clone()));
                self.stats.tokens_deleted += 1;
                NtfResponse::Ok
            }
            NtfCommand::TCrn(0) => {
                if let Some(t) = self.store.token_mut(id) {
                    t.cron_interval = 0;
                }
                self.crons.remove(id);
                self.persist(NtfStoreLogRecord::TokenCron(id.clone(), 0));
                NtfResponse::Ok
            }
            NtfCommand::TCrn(minutes) if minutes < MIN_CRON_INTERVAL => {
                NtfResponse::Err(ErrorType::Quota)
            }
            NtfCommand::TCrn(minutes) => {
                if let Some(t) = self.store.token_mut(id) {
                    t.cron_interval = minutes;
                }
                // The schedule restarts only when the interval changes.
                if self.crons.get(id).map(|c| c.interval) != Some(minutes) {
                    self.start_cron(id.clone(), minutes);
                }
                self.persist(NtfStoreLogRecord::TokenCron(id.clone(), minutes));
                NtfResponse::Ok
            }
            _ => NtfResponse::Err(ErrorType::Auth),
        }
    }

    fn new_subscription(&mut self, new: NewSubscription) -> NtfResponse {
        let Ok(id) = EntityId::new(self.random_bytes(self.config.id_bytes)) else {
            return NtfResponse::Err(ErrorType::Internal);
        };
        let sub = SubData {
            id: id.clone(),
            queue: new.queue.clone(),
            notifier_key: new.notifier_key,
            token_id: new.token_id,
            status: NtfSubStatus::New,
        };
        self.store.add_subscription(sub.clone());
        self.persist(NtfStoreLogRecord::CreateSubscription(Box::new(sub)));
        self.stats.subscriptions_created += 1;
        self.subscribe(&new.queue);
        NtfResponse::SubId(id)
    }

    fn subscription_command(&mut self, id: &EntityId, cmd: NtfCommand) -> NtfResponse {
        let Some(sub) = self.store.subscription(id).cloned() else {
            return NtfResponse::Err(ErrorType::Auth);
        };
        match cmd {
            // The reference answers a repeated SNEW with the transmission's entity id, which
            // SNEW must leave empty: `IDSUB` with an empty id. Kept for compatibility.
            NtfCommand::SNew(new) if new.notifier_key == sub.notifier_key => {
                NtfResponse::SubId(EntityId::empty())
            }
            NtfCommand::SNew(_) => NtfResponse::Err(ErrorType::Auth),
            NtfCommand::SChk => NtfResponse::Sub(sub.status),
            NtfCommand::SDel => {
                self.store.delete_subscription(id);
                self.outputs.push_back(NtfOutput::Unsubscribe(sub.queue));
                self.persist(NtfStoreLogRecord::DeleteSubscription(id.clone()));
                self.stats.subscriptions_deleted += 1;
                NtfResponse::Ok
            }
            NtfCommand::Ping => NtfResponse::Pong,
            _ => NtfResponse::Err(ErrorType::Auth),
        }
    }
}
