//! What each command does to the queues, subscriptions and messages: the handlers
//! `Server::process` dispatches to, and the signature check before them.

use super::*;

impl<R: CryptoRng> Server<R> {
    /// Whether the transmission is signed by the key its command needs (a missing queue
    /// still costs a check against a dummy key, so timing does not tell).
    pub(super) fn verify(&mut self, t: &VerifiedTransmission<Command>, cmd: &Command) -> bool {
        let sig = t.signature.as_ref();
        let signed = &t.signed[..];
        let entity = &t.entity_id;
        let v = &mut self.verifier;
        match cmd {
            Command::New { recipient_key, .. } => v.verify_with(sig, signed, recipient_key),
            Command::Ping => true,
            Command::Send { .. } => match self.queues.by_sender(entity.as_bytes()) {
                Some(q) => v.verify_maybe(sig, signed, q.sender_key()),
                None => v.no_queue(sig, signed),
            },
            Command::NSub => match self.queues.by_notifier(entity.as_bytes()) {
                Some(q) => v.verify_maybe(sig, signed, q.notifier_key()),
                None => v.no_queue(sig, signed),
            },
            _ => match self.queues.get(entity.as_bytes()) {
                Some(q) => v.verify_with(sig, signed, &q.recipient_key()),
                None => v.no_queue(sig, signed),
            },
        }
    }

    /// Carries out one verified command: the entity the answer names, and the answer.
    /// Transmissions for other clients (a subscription taken over) go to `deferred`.
    pub(super) fn process(
        &mut self,
        client: ClientId,
        entity: &EntityId,
        cmd: Command,
        deferred: &mut Vec<(ClientId, Vec<u8>)>,
    ) -> (EntityId, BrokerMsg) {
        let answer = match cmd {
            Command::Ping => return (EntityId::empty(), BrokerMsg::Pong),
            Command::New {
                recipient_key,
                dh_key,
            } => self.create_queue(client, recipient_key, dh_key, deferred),
            Command::Send { flags, body } => self.send(entity, flags, body, deferred),
            Command::NSub => self.subscribe_notifications(client, entity, deferred),
            _ if !self.queues.contains(entity.as_bytes()) => BrokerMsg::Err(ErrorType::Auth),
            Command::Sub => self.subscribe(client, entity, deferred),
            Command::Get => self.get_message(client, entity),
            Command::Ack(msg_id) => self.acknowledge(client, entity, &msg_id),
            Command::Key(key) => self.secure(entity, key),
            Command::NKey {
                notifier_key,
                dh_key,
            } => self.add_notifier(entity, notifier_key, dh_key),
            Command::NDel => self.delete_notifier(entity),
            Command::Off => self.suspend(entity),
            Command::Del => self.delete(entity),
        };
        (entity.clone(), answer)
    }

    fn create_queue(
        &mut self,
        client: ClientId,
        recipient_key: VerifyKey,
        dh_key: x25519::PublicKey,
        deferred: &mut Vec<(ClientId, Vec<u8>)>,
    ) -> BrokerMsg {
        if !self.config.allow_new_queues {
            return BrokerMsg::Err(ErrorType::Auth);
        }
        let server_key = x25519::PrivateKey::generate(&mut self.rng);
        let Ok(rcv_dh_secret) = server_key.diffie_hellman(&dh_key) else {
            return BrokerMsg::Err(ErrorType::Internal);
        };
        let Some(rid) = self.new_queue_id(|s, id| s.queues.contains(id.as_bytes())) else {
            return BrokerMsg::Err(ErrorType::Internal);
        };
        let Some(sid) = self.new_queue_id(|s, id| s.queues.by_sender(id.as_bytes()).is_some())
        else {
            return BrokerMsg::Err(ErrorType::Internal);
        };
        let rec = QueueRec {
            recipient_id: rid.clone(),
            recipient_key,
            rcv_dh_secret,
            sender_id: sid.clone(),
            sender_key: None,
            notifier: None,
            status: QueueStatus::Active,
        };
        if self.queues.insert(&rec).is_err() {
            return BrokerMsg::Err(ErrorType::Internal);
        }
        self.persist(StoreLogRecord::CreateQueue(Box::new(rec)));
        self.stats.q_created += 1;
        // The creating connection is subscribed; an empty queue just starts waiting.
        let _ = self.subscribe(client, &rid, deferred);
        BrokerMsg::Ids {
            recipient_id: rid,
            sender_id: sid,
            server_dh_key: server_key.public_key(),
        }
    }

    fn secure(&mut self, rid: &EntityId, key: VerifyKey) -> BrokerMsg {
        let Some(q) = self.queues.get_mut(rid.as_bytes()) else {
            return BrokerMsg::Err(ErrorType::Auth);
        };
        if q.is_secured() {
            return BrokerMsg::Err(ErrorType::Auth);
        }
        q.set_sender_key(&key);
        self.stats.q_secured += 1;
        self.persist(StoreLogRecord::SecureQueue {
            recipient_id: rid.clone(),
            sender_key: key,
        });
        BrokerMsg::Ok
    }

    fn add_notifier(
        &mut self,
        rid: &EntityId,
        notifier_key: VerifyKey,
        dh_key: x25519::PublicKey,
    ) -> BrokerMsg {
        let server_key = x25519::PrivateKey::generate(&mut self.rng);
        let Ok(ntf_dh_secret) = server_key.diffie_hellman(&dh_key) else {
            return BrokerMsg::Err(ErrorType::Internal);
        };
        let Some(nid) = self.new_queue_id(|s, id| s.queues.by_notifier(id.as_bytes()).is_some())
        else {
            return BrokerMsg::Err(ErrorType::Internal);
        };
        let (Some(stored_rid), Some(stored_nid)) =
            (queue_id(rid.as_bytes()), queue_id(nid.as_bytes()))
        else {
            return BrokerMsg::Err(ErrorType::Auth);
        };
        let Some(old) =
            self.queues
                .set_notifier(&stored_rid, stored_nid, &notifier_key, &ntf_dh_secret)
        else {
            return BrokerMsg::Err(ErrorType::Auth);
        };
        if let Some(old) = old {
            if let Some(c) = old.subscriber.and_then(|c| self.clients.get_mut(&c)) {
                c.ntf_subs.remove(&entity_id(&old.id));
            }
        }
        let creds = NtfCreds {
            notifier_id: nid.clone(),
            notifier_key,
            ntf_dh_secret,
        };
        self.persist(StoreLogRecord::AddNotifier {
            recipient_id: rid.clone(),
            creds,
        });
        BrokerMsg::Nid {
            notifier_id: nid,
            server_dh_key: server_key.public_key(),
        }
    }

    fn delete_notifier(&mut self, rid: &EntityId) -> BrokerMsg {
        self.persist(StoreLogRecord::DeleteNotifier {
            recipient_id: rid.clone(),
        });
        let Some(old) = self.queues.remove_notifier(rid.as_bytes()) else {
            return BrokerMsg::Err(ErrorType::Auth);
        };
        if let Some(old) = old {
            if let Some(c) = old.subscriber.and_then(|c| self.clients.get_mut(&c)) {
                c.ntf_subs.remove(&entity_id(&old.id));
            }
        }
        BrokerMsg::Ok
    }

    fn suspend(&mut self, rid: &EntityId) -> BrokerMsg {
        // The reference records OFF as a deletion in the store log: a suspended queue does
        // not survive a restart.
        self.persist(StoreLogRecord::DeleteQueue {
            recipient_id: rid.clone(),
        });
        match self.queues.get_mut(rid.as_bytes()) {
            Some(q) => {
                q.set_status(QueueStatus::Off);
                BrokerMsg::Ok
            }
            None => BrokerMsg::Err(ErrorType::Auth),
        }
    }

    fn delete(&mut self, rid: &EntityId) -> BrokerMsg {
        self.persist(StoreLogRecord::DeleteQueue {
            recipient_id: rid.clone(),
        });
        self.stats.q_deleted += 1;
        let Some(q) = self.queues.remove(rid.as_bytes()) else {
            return BrokerMsg::Err(ErrorType::Auth);
        };
        if self.config.durable_messages && q.had_messages {
            self.outputs
                .push_back(ServerOutput::Journal(JournalRecord::DeleteQueue {
                    recipient_id: rid.clone(),
                }));
        }
        if let Some(n) = &q.notifier {
            if let Some(c) = n.subscriber.and_then(|c| self.clients.get_mut(&c)) {
                c.ntf_subs.remove(&entity_id(&n.id));
            }
        }
        if let Some(c) = q.subscriber.and_then(|c| self.clients.get_mut(&c)) {
            c.subs.remove(rid);
        }
        BrokerMsg::Ok
    }

    /// Delivers `head` to the subscription of `client` on `rid` unless a delivery is pending
    /// already; with nothing to deliver the subscription waits for the next message.
    fn deliver(&mut self, client: ClientId, rid: &EntityId) -> BrokerMsg {
        let Some(q) = self.queues.get(rid.as_bytes()) else {
            return BrokerMsg::Err(ErrorType::Auth);
        };
        let Some(c) = self.clients.get_mut(&client) else {
            return BrokerMsg::Ok;
        };
        let version = c.version;
        let Some(sub) = c.subs.get_mut(rid) else {
            return BrokerMsg::Ok;
        };
        if sub.waiting {
            return BrokerMsg::Ok;
        }
        match q.peek() {
            Some(m) => {
                sub.delivered = Some(m.msg_id.clone());
                encrypt_message(&q.cb_key(), version, m)
            }
            None => {
                sub.waiting = true;
                BrokerMsg::Ok
            }
        }
    }

    fn subscribe(
        &mut self,
        client: ClientId,
        rid: &EntityId,
        deferred: &mut Vec<(ClientId, Vec<u8>)>,
    ) -> BrokerMsg {
        let Some(c) = self.clients.get_mut(&client) else {
            return BrokerMsg::Ok;
        };
        match c.subs.get_mut(rid) {
            Some(sub) if sub.mode == SubMode::GetOnly => {
                return BrokerMsg::Err(ErrorType::Cmd(CommandError::Prohibited))
            }
            Some(sub) => sub.delivered = None,
            None => {
                c.subs.insert(
                    rid.clone(),
                    Sub {
                        mode: SubMode::Subscribed,
                        delivered: None,
                        waiting: false,
                    },
                );
                let previous = self
                    .queues
                    .get_mut(rid.as_bytes())
                    .and_then(|q| q.replace_subscriber(client));
                if let Some(old) = previous.filter(|old| *old != client) {
                    if let Some(oc) = self.clients.get_mut(&old) {
                        oc.subs.remove(rid);
                    }
                    if let Some(bytes) =
                        self.encode_for(old, &CorrId::empty(), rid, &BrokerMsg::End)
                    {
                        deferred.push((old, bytes));
                    }
                }
            }
        }
        self.deliver(client, rid)
    }

    fn get_message(&mut self, client: ClientId, rid: &EntityId) -> BrokerMsg {
        let Some(c) = self.clients.get_mut(&client) else {
            return BrokerMsg::Ok;
        };
        let version = c.version;
        let sub = c.subs.entry(rid.clone()).or_insert(Sub {
            mode: SubMode::GetOnly,
            delivered: None,
            waiting: false,
        });
        if sub.mode != SubMode::GetOnly {
            return BrokerMsg::Err(ErrorType::Cmd(CommandError::Prohibited));
        }
        sub.delivered = None;
        let Some(q) = self.queues.get(rid.as_bytes()) else {
            return BrokerMsg::Err(ErrorType::Auth);
        };
        match q.peek() {
            Some(m) => {
                sub.delivered = Some(m.msg_id.clone());
                encrypt_message(&q.cb_key(), version, m)
            }
            None => BrokerMsg::Ok,
        }
    }

    fn acknowledge(&mut self, client: ClientId, rid: &EntityId, msg_id: &MsgId) -> BrokerMsg {
        let Some(c) = self.clients.get_mut(&client) else {
            return BrokerMsg::Ok;
        };
        let Some(sub) = c.subs.get_mut(rid) else {
            return BrokerMsg::Err(ErrorType::NoMsg);
        };
        match &sub.delivered {
            Some(d) if msg_id.is_empty() || d == msg_id => sub.delivered = None,
            _ => return BrokerMsg::Err(ErrorType::NoMsg),
        }
        let mode = sub.mode;
        let Some(q) = self.queues.get_mut(rid.as_bytes()) else {
            return BrokerMsg::Err(ErrorType::Auth);
        };
        if let Some(m) = q.try_del(msg_id) {
            if self.config.mutations.ack_drops_next {
                let next = q.peek().map(|n| n.msg_id.clone());
                if let Some(next) = next {
                    q.try_del(&next);
                }
            }
            self.stats.msg_recv += 1;
            self.stats.active(rid);
            if self.config.durable_messages {
                self.outputs
                    .push_back(ServerOutput::Journal(JournalRecord::Remove {
                        recipient_id: rid.clone(),
                        msg_id: m.msg_id,
                    }));
            }
        }
        match mode {
            SubMode::GetOnly => BrokerMsg::Ok,
            SubMode::Subscribed => self.deliver(client, rid),
        }
    }

    fn send(
        &mut self,
        sid: &EntityId,
        flags: MsgFlags,
        body: Bytes,
        deferred: &mut Vec<(ClientId, Vec<u8>)>,
    ) -> BrokerMsg {
        if body.len() > MAX_MESSAGE_LENGTH {
            return BrokerMsg::Err(ErrorType::LargeMsg);
        }
        let rid = match self.queues.by_sender(sid.as_bytes()) {
            Some(q) if q.status() == QueueStatus::Active => entity_id(q.recipient_id()),
            _ => return BrokerMsg::Err(ErrorType::Auth),
        };
        let msg_id = self.random_id();
        let Ok(msg_id) = MsgId::from_slice(&msg_id) else {
            return BrokerMsg::Err(ErrorType::Internal);
        };
        let message = StoredMessage {
            msg_id,
            timestamp: self.wall_clock,
            flags,
            body,
        };
        if let Some(e) = self.config.message_expiration {
            let before = self.wall_clock.seconds - e.ttl_secs;
            self.expire_messages(&rid, before);
        }
        let quota = self.config.msg_queue_quota;
        let Some(q) = self.queues.get(rid.as_bytes()) else {
            return BrokerMsg::Err(ErrorType::Auth);
        };
        if q.is_full(quota) {
            return BrokerMsg::Err(ErrorType::Quota);
        }
        if flags.notification {
            if let (Some(n), Some(key), Some(to)) =
                (q.notifier_id(), q.ntf_cb_key(), q.notifier_sub())
            {
                let nid = entity_id(n);
                if let Some(nmsg) = self.notification(&key, &message) {
                    if let Some(bytes) = self.encode_for(to, &CorrId::empty(), &nid, &nmsg) {
                        deferred.push((to, bytes));
                    }
                }
            }
        }
        if self.config.durable_messages {
            self.outputs
                .push_back(ServerOutput::Journal(JournalRecord::Message {
                    recipient_id: rid.clone(),
                    message: message.clone(),
                }));
        }
        let Some(q) = self.queues.get_mut(rid.as_bytes()) else {
            return BrokerMsg::Err(ErrorType::Auth);
        };
        q.push(message);
        let subscriber = q.subscriber();
        self.stats.msg_sent += 1;
        self.stats.active(&rid);
        // A subscriber waiting for a message gets it now.
        if let Some(to) = subscriber {
            let waiting = self
                .clients
                .get(&to)
                .and_then(|c| c.subs.get(&rid))
                .is_some_and(|s| s.waiting);
            if waiting {
                if let Some(s) = self.clients.get_mut(&to).and_then(|c| c.subs.get_mut(&rid)) {
                    s.waiting = false;
                }
                let msg = self.deliver(to, &rid);
                if let Some(bytes) = self.encode_for(to, &CorrId::empty(), &rid, &msg) {
                    deferred.push((to, bytes));
                }
            }
        }
        BrokerMsg::Ok
    }

    fn notification(&mut self, key: &CbKey, m: &StoredMessage) -> Option<BrokerMsg> {
        let nonce = CbNonce::random(&mut self.rng);
        let mut meta = Vec::with_capacity(40);
        (&m.msg_id, &m.timestamp).encode(&mut meta);
        let encrypted = key.encrypt(&nonce, &meta, NMSG_META_PADDED_LEN).ok()?;
        Some(BrokerMsg::NMsg {
            nonce,
            encrypted_meta: ShortBytes::new(encrypted).ok()?,
        })
    }

    fn subscribe_notifications(
        &mut self,
        client: ClientId,
        nid: &EntityId,
        deferred: &mut Vec<(ClientId, Vec<u8>)>,
    ) -> BrokerMsg {
        let Some(rid) = self
            .queues
            .by_notifier(nid.as_bytes())
            .map(|q| *q.recipient_id())
        else {
            return BrokerMsg::Err(ErrorType::Auth);
        };
        let Some(c) = self.clients.get_mut(&client) else {
            return BrokerMsg::Ok;
        };
        if c.ntf_subs.insert(nid.clone()) {
            let previous = self
                .queues
                .get_mut(&rid)
                .and_then(|q| q.replace_notifier_sub(client));
            if let Some(old) = previous.filter(|old| *old != client) {
                if let Some(oc) = self.clients.get_mut(&old) {
                    oc.ntf_subs.remove(nid);
                }
                if let Some(bytes) = self.encode_for(old, &CorrId::empty(), nid, &BrokerMsg::End) {
                    deferred.push((old, bytes));
                }
            }
        }
        BrokerMsg::Ok
    }
}
