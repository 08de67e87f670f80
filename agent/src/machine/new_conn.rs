//! `NEW INV` and `NEW CON`: create a receive queue, then the connection, then answer `INV`.
//!
//! The order is the reference's (`newConn`: the queue on the server first, then the store),
//! with its two store transactions made one batch: the connection, its queue and (for an
//! invitation) the X3DH keys are durable together before the user sees the link or the
//! manager subscribes the queue. A crash before the commit leaves at most a queue on the
//! server that no link names (the reference leaves the same).

use simplex_core::address::ServerAddress;
use simplex_core::client::{
    QueueSubscription, RecipientKeys, Reply, Request, RequestError, SubParty,
};
use simplex_core::crypto::cbox::CbKey;
use simplex_core::crypto::x25519;
use simplex_core::encoding::NonEmpty;
use simplex_core::protocol::EntityId;
use simplex_core::ratchet::{generate_e2e_params, E2E_ENCRYPT_VERSIONS};

use super::connection::QueueStatus;
use super::contact;
use super::{Agent, AgentEvent, CommandError, CorrId, Effect, PendingRequest};
use crate::protocol::{
    ConnReqData, ConnReqScheme, ConnectionMode, ConnectionRequest, SmpQueueAddress, SmpQueueUri,
    AGENT_VERSIONS, SMP_CLIENT_VERSIONS,
};
use crate::store::{ConnectionId, RatchetKeys, RcvQueueRecord, Record, SecretBytes};

/// How many fresh ids to try before giving up (the reference's `createWithRandomId`).
const ID_ATTEMPTS: usize = 3;

/// A `NEW` sent to a server, waiting for `IDS`.
#[derive(Debug)]
pub(super) struct NewQueue {
    corr_id: CorrId,
    conn: Option<ConnectionId>,
    mode: ConnectionMode,
    server: ServerAddress,
    keys: RecipientKeys,
    /// `JOIN` of a contact address: the invitation to send with the new link, instead of
    /// showing it in `INV`.
    invite: Option<Box<contact::Invite>>,
}

impl Agent {
    /// `NEW`: sends the queue's `NEW` (nothing is stored yet: there is nothing to lose).
    pub(super) fn new_connection(
        &mut self,
        corr_id: CorrId,
        conn: Option<ConnectionId>,
        mode: ConnectionMode,
    ) {
        self.new_connection_then(corr_id, conn, mode, None)
    }

    /// [`Self::new_connection`], then (with `invite`) the invitation to a contact address
    /// instead of `INV`.
    pub(super) fn new_connection_then(
        &mut self,
        corr_id: CorrId,
        conn: Option<ConnectionId>,
        mode: ConnectionMode,
        invite: Option<Box<contact::Invite>>,
    ) {
        if conn.as_ref().is_some_and(|c| self.id_taken(c)) {
            self.event(corr_id, conn, AgentEvent::Err(CommandError::Duplicate));
            return;
        }
        let Some(server) = self.pick_server() else {
            self.event(corr_id, conn, AgentEvent::Err(CommandError::NoServers));
            return;
        };
        let keys = RecipientKeys::generate(self.config.sign_algorithm, &mut *self.rng);
        let request = Request::create(&keys);
        let new = NewQueue {
            corr_id,
            conn,
            mode,
            server: server.clone(),
            keys,
            invite,
        };
        let input = simplex_core::client::ManagerInput::Request {
            server,
            request: Box::new(request),
        };
        // A request names no stream: the manager never refuses it.
        if let Ok(handled) = self.feed_manager(input) {
            if let Some(id) = handled.request {
                self.requests
                    .insert(id, PendingRequest::CreateQueue(Box::new(new)));
            }
        }
    }

    /// The server answered `NEW`: store the connection; `INV` and the subscription wait for
    /// the commit.
    pub(super) fn queue_created(&mut self, new: NewQueue, result: Result<Reply, RequestError>) {
        let CreatedQueue {
            recipient_id,
            sender_id,
            rcv_dh_secret,
            conn,
        } = match self.created_queue(result, &new.keys.dh_key, new.conn.as_ref()) {
            Ok(created) => created,
            Err(e) => return self.new_failed(new, e),
        };
        let e2e_key = x25519::PrivateKey::generate(&mut *self.rng);
        let queue = RcvQueueRecord {
            server: new.server.clone(),
            rcv_id: recipient_id.clone(),
            rcv_private_key: SecretBytes::from(new.keys.sign_key.to_der()),
            rcv_dh_secret: SecretBytes::new(rcv_dh_secret.as_secret().expose().to_vec()),
            e2e_private_key: SecretBytes::new(e2e_key.to_bytes().expose().to_vec()),
            e2e_dh_secret: None,
            snd_id: sender_id.clone(),
            status: QueueStatus::New,
            smp_client_version: SMP_CLIENT_VERSIONS.max(),
        };
        let mut records = vec![
            Record::ConnectionCreated {
                conn: conn.clone(),
                mode: new.mode,
                agent_version: AGENT_VERSIONS.max(),
                duplex_handshake: None,
            },
            Record::RcvQueueAdded {
                conn: conn.clone(),
                queue,
            },
        ];
        let data = ConnReqData {
            scheme: ConnReqScheme::simplex_chat(),
            agent_versions: AGENT_VERSIONS,
            queues: NonEmpty::one(SmpQueueUri {
                client_versions: SMP_CLIENT_VERSIONS,
                address: SmpQueueAddress {
                    server: new.server.clone(),
                    sender_id,
                    dh_public: e2e_key.public_key(),
                },
            }),
        };
        let request = match new.mode {
            ConnectionMode::Invitation => {
                let (key1, key2, params) =
                    generate_e2e_params(&mut *self.rng, E2E_ENCRYPT_VERSIONS.max());
                records.push(Record::RatchetKeysCreated {
                    conn: conn.clone(),
                    keys: RatchetKeys {
                        key1: SecretBytes::new(key1.to_bytes().expose().to_vec()),
                        key2: SecretBytes::new(key2.to_bytes().expose().to_vec()),
                    },
                });
                ConnectionRequest::Invitation {
                    data,
                    e2e: params.with_versions(E2E_ENCRYPT_VERSIONS),
                }
            }
            ConnectionMode::Contact => ConnectionRequest::Contact { data },
        };
        let sub = QueueSubscription {
            party: SubParty::Recipient,
            queue_id: recipient_id,
            sign_key: new.keys.sign_key.clone(),
            body_key: Some(CbKey::new(&rcv_dh_secret)),
        };
        let shown = match new.invite {
            None => Effect::Event {
                corr_id: new.corr_id.clone(),
                conn: conn.clone(),
                event: AgentEvent::Inv(request),
            },
            Some(invite) => match self.invitation_effect(&new.corr_id, &conn, *invite, request) {
                Ok(effect) => effect,
                Err(e) => return self.event(new.corr_id, Some(conn), AgentEvent::Err(e)),
            },
        };
        let effects = vec![
            Effect::Subscribe {
                conn: conn.clone(),
                server: new.server,
                sub,
                answer: None,
            },
            shown,
        ];
        if self.emit(records, effects).is_err() {
            self.event(
                new.corr_id,
                Some(conn),
                AgentEvent::Err(CommandError::Internal("store record")),
            );
        }
    }

    fn new_failed(&mut self, new: NewQueue, error: CommandError) {
        self.event(new.corr_id, new.conn, AgentEvent::Err(error));
    }

    /// The server's answer to a `NEW` (ours or a joiner's reply queue): the queue's ids, the
    /// secret for its message bodies, and the connection id it goes under (the one asked for,
    /// checked free, or a fresh one).
    pub(super) fn created_queue(
        &mut self,
        result: Result<Reply, RequestError>,
        dh_key: &x25519::PrivateKey,
        conn: Option<&ConnectionId>,
    ) -> Result<CreatedQueue, CommandError> {
        let (recipient_id, sender_id, server_dh_key) = match result {
            Ok(Reply::Ids {
                recipient_id,
                sender_id,
                server_dh_key,
            }) => (recipient_id, sender_id, server_dh_key),
            Ok(_) => return Err(CommandError::Internal("unexpected reply")),
            Err(e) => return Err(CommandError::Server(e)),
        };
        let rcv_dh_secret = dh_key
            .diffie_hellman(&server_dh_key)
            .map_err(|_| CommandError::Internal("server DH key"))?;
        let conn = match conn {
            Some(c) if self.id_taken(c) => return Err(CommandError::Duplicate),
            Some(c) => c.clone(),
            None => self
                .fresh_connection_id()
                .ok_or(CommandError::Internal("unique id"))?,
        };
        Ok(CreatedQueue {
            recipient_id,
            sender_id,
            rcv_dh_secret,
            conn,
        })
    }

    /// Whether an id names a connection, or one being created under it.
    pub(super) fn id_taken(&self, conn: &ConnectionId) -> bool {
        self.state.connections.contains_key(conn)
            || self.requests.values().any(|r| match r {
                PendingRequest::CreateQueue(n) => n.conn.as_ref() == Some(conn),
                PendingRequest::JoinQueue(j) => j.conn() == Some(conn),
                PendingRequest::QueueCommand(_)
                | PendingRequest::ConfirmationSent(_)
                | PendingRequest::Ack
                | PendingRequest::Secure(_)
                | PendingRequest::UserAck(_)
                | PendingRequest::InvitationSent(_)
                | PendingRequest::Deliver(_) => false,
            })
    }

    pub(super) fn fresh_connection_id(&mut self) -> Option<ConnectionId> {
        (0..ID_ATTEMPTS)
            .map(|_| ConnectionId::generate(&mut *self.rng))
            .find(|c| !self.state.connections.contains_key(c))
    }

    /// One of the configured servers, at random.
    pub(super) fn pick_server(&mut self) -> Option<ServerAddress> {
        let n = self.config.smp_servers.len();
        if n == 0 {
            return None;
        }
        let i = (self.rng.next_u64() % n as u64) as usize;
        self.config.smp_servers.get(i).cloned()
    }
}

/// What [`Agent::created_queue`] takes from the server's answer to `NEW`.
pub(super) struct CreatedQueue {
    /// The recipient's id.
    pub recipient_id: EntityId,
    /// The id senders use.
    pub sender_id: EntityId,
    /// The secret the server's message bodies are boxed with.
    pub rcv_dh_secret: x25519::SharedSecret,
    /// The connection the queue belongs to.
    pub conn: ConnectionId,
}
