//! What the manager does with its clients' outputs: answers go to the user or to the
//! subscription they were for, deliveries are opened with the queue's key, `END` drops a
//! subscription, and a finished resubscription round is reported `Up` once.

use super::{ConnectionManager, Link, Slot, SubStatus};
use crate::address::ServerAddress;
use crate::client::decrypt::{decrypt_message, ReceivedMessage};
use crate::client::expect::{Expect, ReplyKind, Unexpected};
use crate::client::machine::{ClientOutput, Reply, RequestError};
use crate::client::manager::{ManagerEvent, MessageError, SubKey, SubParty};
use crate::client::retry::Backoff;
use crate::protocol::{EntityId, RcvMessage};
use crate::time::Instant;

impl ConnectionManager {
    pub(super) fn on_client_output(
        &mut self,
        now: Instant,
        server: &ServerAddress,
        slot: &mut Slot,
        link: &mut Link,
        out: ClientOutput,
    ) {
        let version = link.client.version().unwrap_or(4);
        match out {
            ClientOutput::Connected { .. } => {
                link.up = true;
                slot.backoff = Backoff::new(&self.config.reconnect);
                self.event(ManagerEvent::Connected {
                    server: server.clone(),
                });
                link.submit_subs = true;
            }
            ClientOutput::Response {
                id,
                entity_id,
                result,
            } => {
                if let Some((mid, expect)) = slot.user_requests.remove(&id) {
                    // A message in answer to ACK or SUB is a delivery, as in the reference:
                    // the user gets it opened, and the command's answer is OK. GET keeps the
                    // message as its answer too.
                    let result = match result {
                        Ok(Reply::Message(message)) => {
                            let opened = open_message(slot, version, &entity_id, message.clone());
                            self.event(ManagerEvent::Message {
                                server: server.clone(),
                                queue_id: entity_id.clone(),
                                message: opened,
                            });
                            if expect == Expect::Message {
                                Ok(Reply::Message(message))
                            } else {
                                Ok(Reply::Ok)
                            }
                        }
                        other => other,
                    };
                    self.event(ManagerEvent::Response {
                        id: mid,
                        server: server.clone(),
                        entity_id,
                        result,
                    });
                } else if let Some(key) = slot.sub_requests.remove(&id) {
                    self.on_sub_result(now, server, slot, key, version, result);
                }
            }
            ClientOutput::Message { entity_id, message } => {
                let message = open_message(slot, version, &entity_id, message);
                self.event(ManagerEvent::Message {
                    server: server.clone(),
                    queue_id: entity_id,
                    message,
                });
            }
            ClientOutput::End { entity_id } => {
                for party in [SubParty::Recipient, SubParty::Notifier] {
                    let key = (party, entity_id.clone());
                    if slot.subs.remove(&key).is_some() {
                        self.event(ManagerEvent::End {
                            server: server.clone(),
                            sub: key,
                        });
                    }
                }
            }
            ClientOutput::Notification {
                entity_id,
                nonce,
                encrypted_meta,
            } => self.event(ManagerEvent::Notification {
                server: server.clone(),
                notifier_id: entity_id,
                nonce,
                encrypted_meta,
            }),
            ClientOutput::Unsolicited { .. }
            | ClientOutput::Transmit(_)
            | ClientOutput::Closed(_)
            | ClientOutput::Timeout(_) => {}
        }
    }

    fn on_sub_result(
        &mut self,
        now: Instant,
        server: &ServerAddress,
        slot: &mut Slot,
        key: SubKey,
        version: crate::encoding::Version,
        result: Result<Reply, RequestError>,
    ) {
        let Some(entry) = slot.subs.get_mut(&key) else {
            return;
        };
        let was_down = entry.was_down;
        match result {
            Ok(Reply::Ok) | Ok(Reply::Message(_)) => {
                entry.status = SubStatus::Active;
                entry.was_down = false;
                if was_down {
                    if let Some((_, up)) = slot.resubscribing.as_mut() {
                        up.push(key.clone());
                    }
                } else {
                    self.event(ManagerEvent::Subscribed {
                        server: server.clone(),
                        sub: key.clone(),
                    });
                }
                if let Ok(Reply::Message(message)) = result {
                    let message = open_message(slot, version, &key.1, message);
                    self.event(ManagerEvent::Message {
                        server: server.clone(),
                        queue_id: key.1.clone(),
                        message,
                    });
                }
            }
            Err(RequestError::Timeout) | Err(RequestError::Network) => {
                entry.status = SubStatus::Pending;
                let at = now + self.config.reconnect.initial;
                slot.retry_subs_at = Some(slot.retry_subs_at.map_or(at, |t| t.min(at)));
            }
            Ok(other) => {
                slot.subs.remove(&key);
                self.event(ManagerEvent::SubscriptionFailed {
                    server: server.clone(),
                    sub: key.clone(),
                    error: RequestError::Unexpected(Unexpected::Reply {
                        expected: match key.0 {
                            SubParty::Recipient => Expect::Delivery,
                            SubParty::Notifier => Expect::Ok,
                        },
                        got: ReplyKind::of_reply(&other),
                    }),
                });
            }
            Err(error) => {
                slot.subs.remove(&key);
                self.event(ManagerEvent::SubscriptionFailed {
                    server: server.clone(),
                    sub: key.clone(),
                    error,
                });
            }
        }
        if was_down {
            if let Some((outstanding, _)) = slot.resubscribing.as_mut() {
                *outstanding = outstanding.saturating_sub(1);
                if *outstanding == 0 {
                    if let Some((_, mut up)) = slot.resubscribing.take() {
                        // Those that timed out stay down and come up in a later round.
                        if !up.is_empty() {
                            up.sort();
                            self.event(ManagerEvent::Up {
                                server: server.clone(),
                                subs: up,
                            });
                        }
                    }
                }
            }
        }
    }
}

/// Opens a delivered message with the queue's body key.
fn open_message(
    slot: &Slot,
    version: crate::encoding::Version,
    queue_id: &EntityId,
    message: RcvMessage,
) -> Result<ReceivedMessage, MessageError> {
    let key = slot
        .subs
        .get(&(SubParty::Recipient, queue_id.clone()))
        .and_then(|e| e.sub.body_key.as_ref());
    match key {
        Some(key) => decrypt_message(version, key, &message).map_err(MessageError::Decrypt),
        None => Err(MessageError::NoKey(message)),
    }
}
