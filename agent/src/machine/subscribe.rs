//! `SUB`: subscribe a stored connection's receive queue through the manager (which keeps it
//! subscribed across reconnections), answered `OK` when the server confirms; the send queue's
//! pending messages are delivered again from the store. Cases as the
//! reference's `subscribeConnection`: a send-only connection has nothing to subscribe and is
//! `OK` while its queue is confirmed, `CONN SIMPLEX` once active.

use simplex_core::address::ServerAddress;
use simplex_core::client::{QueueSubscription, RequestError, SubKey, SubParty};
use simplex_core::crypto::cbox::CbKey;
use simplex_core::crypto::keys::SignKey;
use simplex_core::crypto::x25519;

use super::connection::{ConnectionType, QueueStatus};
use super::delivery::OutboxStep;
use super::{Agent, AgentEvent, CommandError, CorrId, Effect};
use crate::store::{ConnectionId, RcvQueueRecord};

impl Agent {
    pub(super) fn subscribe_connection(&mut self, corr_id: CorrId, conn: Option<ConnectionId>) {
        let Some(conn) = conn else {
            return self.event(corr_id, None, AgentEvent::Err(CommandError::NotFound));
        };
        if self.halted.contains(&conn) {
            return self.event(corr_id, Some(conn), AgentEvent::Err(CommandError::Halted));
        }
        let Some(stored) = self.state.connections.get(&conn) else {
            return self.event(corr_id, Some(conn), AgentEvent::Err(CommandError::NotFound));
        };
        let answer = match (
            ConnectionType::of(stored),
            &stored.rcv_queue,
            &stored.snd_queue,
        ) {
            (Some(ConnectionType::Snd), _, Some(sq)) => match sq.status {
                QueueStatus::Confirmed => Ok(None),
                QueueStatus::Active => Err(CommandError::Simplex),
                _ => Err(CommandError::Internal("unexpected queue status")),
            },
            (_, Some(rq), _) => match subscription(rq) {
                Some(sub) => Ok(Some((rq.server.clone(), sub))),
                None => Err(CommandError::Internal("stored queue keys")),
            },
            _ => Err(CommandError::NotFound),
        };
        // `subscribeConnection'` resumes the delivery of what the send queue has pending
        // (after a restart: what a crash left undelivered) before it subscribes.
        if stored.snd_queue.is_some() {
            self.after_commits(Effect::Outbox {
                conn: conn.clone(),
                step: OutboxStep::Resume,
            });
        }
        match answer {
            Ok(Some((server, sub))) => self.after_commits(Effect::Subscribe {
                conn,
                server,
                sub,
                answer: Some(corr_id),
            }),
            Ok(None) => self.after_commits(Effect::Event {
                corr_id,
                conn,
                event: AgentEvent::Ok,
            }),
            Err(e) => self.event(corr_id, Some(conn), AgentEvent::Err(e)),
        }
    }

    /// The manager's word on a subscription: answers every `SUB` waiting for it.
    pub(super) fn subscribed(
        &mut self,
        server: ServerAddress,
        sub: SubKey,
        result: Result<(), RequestError>,
    ) {
        let Some(waiting) = self.subscribing.remove(&(server.clone(), sub.clone())) else {
            // A resubscription after a reconnection failed for good: the reference's
            // `reconnectClient` tells the connection `ERR` (temporary errors are retried by
            // the manager and never come here).
            if let Err(e) = result {
                if let Some(conn) = self.connections_of(&server, &[sub]).pop() {
                    let error = AgentEvent::Err(CommandError::Server(e));
                    self.event(CorrId::default(), Some(conn), error);
                }
            }
            return;
        };
        for (corr_id, conn) in waiting {
            let event = match &result {
                Ok(()) => AgentEvent::Ok,
                Err(e) => AgentEvent::Err(CommandError::Server(e.clone())),
            };
            self.event(corr_id, Some(conn), event);
        }
    }
}

/// The manager's subscription for a stored receive queue (its keys decoded from the record).
pub(super) fn subscription(rq: &RcvQueueRecord) -> Option<QueueSubscription> {
    let sign_key = SignKey::from_der(rq.rcv_private_key.expose()).ok()?;
    let secret: &[u8; 32] = rq.rcv_dh_secret.expose().try_into().ok()?;
    Some(QueueSubscription {
        party: SubParty::Recipient,
        queue_id: rq.rcv_id.clone(),
        sign_key,
        body_key: Some(CbKey::new(&x25519::SharedSecret::from_bytes(secret))),
    })
}
