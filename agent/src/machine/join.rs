//! `JOIN` of an invitation link: the joining party's half of the v2 duplex handshake (the
//! reference's `joinConn`, `confirmQueue` and `createReplyQueue`).
//!
//! The reference stores the send-only connection and its ratchet, creates the reply queue on
//! its server, stores it, ratchet-encrypts the confirmation (storing the ratchet step), sends
//! it and marks the send queue confirmed: four transactions with the network in between. Here
//! the reply queue's `NEW` goes first (nothing is stored yet, so a crash loses nothing but a
//! queue no one knows), then everything the confirmation depends on is one batch: the
//! connection, both queues, the ratchet after encrypting the confirmation and the counters.
//! Only once that batch is durable does the confirmation's `SEND` go out (unsigned: the
//! inviter has not secured its queue yet), so no peer ever holds a ratchet message we could
//! forget having made. The server's `OK` marks the send queue confirmed; `OK` to the user
//! follows that commit.

use bytes::Bytes;
use simplex_core::address::ServerAddress;
use simplex_core::client::{
    generate_sign_key, ManagerInput, QueueSubscription, RecipientKeys, Reply, Request,
    RequestError, SubParty,
};
use simplex_core::crypto::cbox::{CbKey, CbNonce};
use simplex_core::crypto::keys::{DhPublicKey, SignKey};
use simplex_core::crypto::{x25519, x448};
use simplex_core::encoding::{NonEmpty, Version};
use simplex_core::protocol::MsgFlags;
use simplex_core::ratchet::{generate_e2e_params, E2eRatchetParams, Ratchet};

use super::connection::QueueStatus;
use super::new_conn::CreatedQueue;
use super::{Agent, AgentEvent, CommandError, CorrId, Effect, PendingRequest};
use crate::error::SmpAgentError;
use crate::integrity::SndIntegrity;
use crate::pipeline::{self, SndQueueBox};
use crate::protocol::{
    AgentMessage, ConnectionMode, ConnectionRequest, SmpQueueAddress, SmpQueueInfo, AGENT_VERSIONS,
    SMP_CLIENT_VERSIONS,
};
use crate::store::{
    ConnectionId, MsgCounters, RcvQueueRecord, Record, SecretBytes, SndQueueRecord,
};

/// A `JOIN` whose reply queue is being created: everything made from the link, kept in
/// memory until the queue's `IDS` lets the whole connection be stored at once.
pub(super) struct Joining {
    corr_id: CorrId,
    conn: Option<ConnectionId>,
    agent_version: Version,
    /// The inviter's queue, at the SMP client version both sides speak.
    inviter_queue: SmpQueueInfo,
    /// Signs our `SEND`s once the inviter has secured its queue.
    snd_sign_key: SignKey,
    /// Our X25519 key for the inviter's per-queue box.
    snd_dh_key: x25519::PrivateKey,
    /// The ratchet started from the link's keys and ours.
    ratchet: Ratchet,
    /// Our X3DH public keys, for the confirmation.
    e2e: E2eRatchetParams,
    conn_info: Bytes,
    reply_server: ServerAddress,
    reply_keys: RecipientKeys,
}

impl Joining {
    /// The id the user asked for, if any.
    pub(super) fn conn(&self) -> Option<&ConnectionId> {
        self.conn.as_ref()
    }
}

impl std::fmt::Debug for Joining {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // No keys, no queue ids.
        f.debug_struct("Joining")
            .field("agent_version", &self.agent_version)
            .finish_non_exhaustive()
    }
}

/// A joining party's confirmation on its way to the inviter's server.
#[derive(Debug)]
pub(super) struct ConfirmationSent {
    corr_id: CorrId,
    conn: ConnectionId,
}

impl ConfirmationSent {
    /// The `JOIN` waiting for the answer.
    pub(super) fn waiting(self) -> (CorrId, ConnectionId) {
        (self.corr_id, self.conn)
    }
}

impl Agent {
    /// `JOIN`: checks the link's versions, starts the ratchet from its keys and creates the
    /// reply queue on one of our servers. Nothing is stored until the queue exists.
    pub(super) fn join_connection(
        &mut self,
        corr_id: CorrId,
        conn: Option<ConnectionId>,
        conn_req: ConnectionRequest,
        conn_info: Bytes,
    ) {
        if conn.as_ref().is_some_and(|c| self.id_taken(c)) {
            return self.event(corr_id, conn, AgentEvent::Err(CommandError::Duplicate));
        }
        let (data, e2e_uri) = match conn_req {
            ConnectionRequest::Invitation { data, e2e } => (data, e2e),
            // Joining a contact address sends an invitation, not a confirmation.
            ConnectionRequest::Contact { data } => {
                return self.join_contact(corr_id, conn, data, conn_info)
            }
        };
        // The reference's three `compatibleVersion` checks, and only the first queue.
        let versions = (
            data.queues.first().compatible(&SMP_CLIENT_VERSIONS),
            e2e_uri.compatible_with_ours(),
            data.agent_versions.compatible_version(&AGENT_VERSIONS),
        );
        let (Some(inviter_queue), Some(their_e2e), Some(agent_version)) = versions else {
            let error = CommandError::Agent(SmpAgentError::Version);
            return self.event(corr_id, conn, AgentEvent::Err(error));
        };
        if agent_version < 2 {
            // Version 1 (a `REPLY` message instead of the reply queue in the confirmation)
            // is what v3.2.0 agents only fall back to for v1 links; not carried over yet.
            let error = CommandError::Internal("agent version 1 handshake");
            return self.event(corr_id, conn, AgentEvent::Err(error));
        }
        let Some(reply_server) = self.pick_server() else {
            return self.event(corr_id, conn, AgentEvent::Err(CommandError::NoServers));
        };
        let (own1, own2, e2e) = generate_e2e_params(&mut *self.rng, their_e2e.version);
        let ratchet_key = x448::PrivateKey::generate(&mut *self.rng);
        let Ok(ratchet) = pipeline::session::joiner_ratchet(&own1, &own2, ratchet_key, &their_e2e)
        else {
            let error = CommandError::Internal("X3DH with the link's keys");
            return self.event(corr_id, conn, AgentEvent::Err(error));
        };
        let snd_sign_key = generate_sign_key(self.config.sign_algorithm, &mut *self.rng);
        let snd_dh_key = x25519::PrivateKey::generate(&mut *self.rng);
        let reply_keys = RecipientKeys::generate(self.config.sign_algorithm, &mut *self.rng);
        let request = Request::create(&reply_keys);
        let joining = Joining {
            corr_id,
            conn,
            agent_version,
            inviter_queue,
            snd_sign_key,
            snd_dh_key,
            ratchet,
            e2e,
            conn_info,
            reply_server: reply_server.clone(),
            reply_keys,
        };
        self.send_request(
            reply_server,
            Box::new(request),
            PendingRequest::JoinQueue(Box::new(joining)),
        );
    }

    /// The reply queue exists: the confirmation is made and the whole connection stored in
    /// one batch; the `SEND` and the reply queue's subscription wait for its commit.
    pub(super) fn reply_queue_created(
        &mut self,
        join: Joining,
        result: Result<Reply, RequestError>,
    ) {
        let CreatedQueue {
            recipient_id,
            sender_id,
            rcv_dh_secret,
            conn,
        } = match self.created_queue(result, &join.reply_keys.dh_key, join.conn.as_ref()) {
            Ok(created) => created,
            Err(e) => return self.join_failed(join, e),
        };
        let Ok(snd_box) = SndQueueBox::new(
            &join.inviter_queue,
            &join.snd_dh_key,
            join.snd_sign_key.verify_key(),
        ) else {
            return self.join_failed(join, CommandError::Internal("inviter's queue DH key"));
        };
        // The reply queue as the inviter will send to it: our key for its per-queue box, at
        // the client version agreed for the inviter's queue (the reference's `toVersionT`).
        let reply_e2e_key = x25519::PrivateKey::generate(&mut *self.rng);
        let client_version = join.inviter_queue.client_version;
        let reply_queue = SmpQueueInfo {
            client_version,
            address: SmpQueueAddress {
                server: join.reply_server.clone(),
                sender_id: sender_id.clone(),
                dh_public: reply_e2e_key.public_key(),
            },
        };
        let message = AgentMessage::ConnInfoReply {
            reply_queues: NonEmpty::one(reply_queue),
            conn_info: join.conn_info.clone(),
        };
        let prepared = match pipeline::prepare_join_confirmation(
            &join.ratchet,
            &SndIntegrity::default(),
            join.agent_version,
            join.e2e.clone(),
            &message,
        ) {
            Ok(p) => p,
            Err(_) => return self.join_failed(join, CommandError::Internal("confirmation")),
        };
        let nonce = CbNonce::random(&mut *self.rng);
        let Ok(body) = snd_box.seal_confirmation(nonce, &prepared.envelope) else {
            return self.join_failed(join, CommandError::Internal("confirmation box"));
        };
        let Ok(ratchet_state) = prepared.ratchet.to_bytes() else {
            return self.join_failed(join, CommandError::Internal("ratchet state"));
        };
        let snd_id_taken = u64::try_from(prepared.snd_msg_id).unwrap_or(0);
        let records = vec![
            Record::ConnectionCreated {
                conn: conn.clone(),
                mode: ConnectionMode::Invitation,
                agent_version: join.agent_version,
                duplex_handshake: Some(true),
            },
            Record::SndQueueAdded {
                conn: conn.clone(),
                queue: SndQueueRecord {
                    server: join.inviter_queue.address.server.clone(),
                    snd_id: join.inviter_queue.address.sender_id.clone(),
                    snd_private_key: SecretBytes::from(join.snd_sign_key.to_der()),
                    e2e_pub_key: Some(DhPublicKey::X25519(join.snd_dh_key.public_key()).to_der()),
                    e2e_dh_secret: SecretBytes::new(
                        snd_box.dh_secret.as_secret().expose().to_vec(),
                    ),
                    status: QueueStatus::New,
                    smp_client_version: client_version,
                },
            },
            Record::RcvQueueAdded {
                conn: conn.clone(),
                queue: RcvQueueRecord {
                    server: join.reply_server.clone(),
                    rcv_id: recipient_id.clone(),
                    rcv_private_key: SecretBytes::from(join.reply_keys.sign_key.to_der()),
                    rcv_dh_secret: SecretBytes::new(rcv_dh_secret.as_secret().expose().to_vec()),
                    e2e_private_key: SecretBytes::new(reply_e2e_key.to_bytes().expose().to_vec()),
                    e2e_dh_secret: None,
                    snd_id: sender_id,
                    status: QueueStatus::New,
                    smp_client_version: client_version,
                },
            },
            Record::RatchetReplaced {
                conn: conn.clone(),
                state: SecretBytes::from(ratchet_state),
            },
            // The confirmation takes the first id and records no hash (`updateSndIds`).
            Record::CountersSet {
                conn: conn.clone(),
                counters: MsgCounters {
                    last_internal_msg_id: snd_id_taken,
                    last_internal_snd_msg_id: snd_id_taken,
                    ..MsgCounters::default()
                },
            },
        ];
        let sub = QueueSubscription {
            party: SubParty::Recipient,
            queue_id: recipient_id,
            sign_key: join.reply_keys.sign_key.clone(),
            body_key: Some(CbKey::new(&rcv_dh_secret)),
        };
        // Unsigned: the inviter secures its queue only after it has our key from this
        // confirmation.
        let send = Request::send(
            join.inviter_queue.address.sender_id.clone(),
            None,
            MsgFlags { notification: true },
            Bytes::from(body),
        );
        let effects = vec![
            Effect::Subscribe {
                conn: conn.clone(),
                server: join.reply_server.clone(),
                sub,
                answer: None,
            },
            Effect::Request {
                conn: conn.clone(),
                server: join.inviter_queue.address.server.clone(),
                request: Box::new(send),
                pending: PendingRequest::ConfirmationSent(ConfirmationSent {
                    corr_id: join.corr_id.clone(),
                    conn: conn.clone(),
                }),
            },
        ];
        if self.emit(records, effects).is_err() {
            self.event(
                join.corr_id,
                Some(conn),
                AgentEvent::Err(CommandError::Internal("store record")),
            );
        }
    }

    /// The inviter's server answered the confirmation: on `OK` the send queue is confirmed and
    /// `JOIN` answered after the commit; otherwise the connection is deleted, as the
    /// reference's synchronous `joinConn` does, and `JOIN` fails.
    pub(super) fn confirmation_sent(
        &mut self,
        sent: ConfirmationSent,
        result: Result<Reply, RequestError>,
    ) {
        let ConfirmationSent { corr_id, conn } = sent;
        let (records, event) = match result {
            Ok(Reply::Ok) => (
                vec![Record::SndQueueStatus {
                    conn: conn.clone(),
                    status: QueueStatus::Confirmed,
                }],
                AgentEvent::Ok,
            ),
            other => {
                let error = match other {
                    Err(e) => CommandError::Server(e),
                    Ok(_) => CommandError::Internal("unexpected reply"),
                };
                // The reply queue stays on its server, as in the reference; our subscription
                // of it goes with the connection.
                if let Some(rq) = self
                    .state
                    .connections
                    .get(&conn)
                    .and_then(|c| c.rcv_queue.as_ref())
                {
                    let forget = ManagerInput::Forget {
                        server: rq.server.clone(),
                        sub: (SubParty::Recipient, rq.rcv_id.clone()),
                    };
                    // A forget names no stream: the manager never refuses it.
                    let _ = self.feed_manager(forget);
                }
                (
                    vec![Record::ConnectionDeleted { conn: conn.clone() }],
                    AgentEvent::Err(error),
                )
            }
        };
        let effect = Effect::Event {
            corr_id: corr_id.clone(),
            conn: conn.clone(),
            event,
        };
        if self.emit(records, vec![effect]).is_err() {
            self.event(
                corr_id,
                Some(conn),
                AgentEvent::Err(CommandError::Internal("store record")),
            );
        }
    }

    fn join_failed(&mut self, join: Joining, error: CommandError) {
        self.event(join.corr_id, join.conn, AgentEvent::Err(error));
    }
}
