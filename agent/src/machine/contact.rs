//! Contact addresses (the reference's `joinConn` for a contact link, `sendInvitation`,
//! `smpInvitation`, `acceptContact'`, `rejectContact'`). See `spec/agent.md`, "Contact
//! addresses".
//!
//! A contact address is a receive queue that takes invitations from anyone who has its link.
//! - `JOIN contactLink info` (the requester): a new one-time invitation connection is made
//!   exactly as `NEW INV` makes one, and once it is durable, instead of `INV`, its link goes
//!   to the address in an invitation (boxed with a one-time key, no ratchet yet); the
//!   server's `OK` answers `JOIN` with the new connection's id. From then on the requester is
//!   an inviter like any other: `CONF`, `LET`, `CON`.
//! - The invitation arrives (the address owner): stored as a contact request, then `REQ`
//!   and the server `ACK`.
//! - `ACPT invId info`: the request is marked accepted, and its link joined as `JOIN` joins
//!   one, under the command's connection id; `RJCT invId` forgets it. Each request becomes its
//!   own connection, however many come through one address.

use bytes::Bytes;
use simplex_core::client::{Reply, Request, RequestError};
use simplex_core::crypto::cbox::CbNonce;
use simplex_core::crypto::x25519;
use simplex_core::encoding::string::{StrDecode, StrEncode};
use simplex_core::encoding::Version;
use simplex_core::protocol::MsgFlags;

use super::connection::ConnectionType;
use super::{Agent, AgentEvent, CommandError, CorrId, Effect, PendingRequest};
use crate::error::SmpAgentError;
use crate::pipeline::{self, OpenedInvitation};
use crate::protocol::{
    ConnReqData, ConnectionMode, ConnectionRequest, SmpQueueInfo, AGENT_VERSIONS,
    SMP_CLIENT_VERSIONS,
};
use crate::store::{ConnectionId, InvitationId, InvitationRecord, Record};

/// How many fresh invitation ids to try (the reference's `createWithRandomId`).
const ID_ATTEMPTS: usize = 3;

/// What `JOIN` of a contact address sends once its invitation connection is durable.
#[derive(Debug)]
pub(super) struct Invite {
    /// The address's queue, at the SMP client version both sides speak.
    address: SmpQueueInfo,
    /// The agent version both sides speak.
    agent_version: Version,
    /// Our connection info.
    info: Bytes,
}

/// An invitation on its way to a contact address.
#[derive(Debug)]
pub(super) struct InvitationSent {
    corr_id: CorrId,
    conn: ConnectionId,
}

impl InvitationSent {
    /// The `JOIN` waiting for the answer.
    pub(super) fn waiting(self) -> (CorrId, ConnectionId) {
        (self.corr_id, self.conn)
    }
}

impl Agent {
    /// `JOIN` of a contact link: check its versions, then make the invitation connection.
    pub(super) fn join_contact(
        &mut self,
        corr_id: CorrId,
        conn: Option<ConnectionId>,
        data: ConnReqData,
        info: Bytes,
    ) {
        let versions = (
            data.queues.first().compatible(&SMP_CLIENT_VERSIONS),
            data.agent_versions.compatible_version(&AGENT_VERSIONS),
        );
        let (Some(address), Some(agent_version)) = versions else {
            let error = CommandError::Agent(SmpAgentError::Version);
            return self.event(corr_id, conn, AgentEvent::Err(error));
        };
        let invite = Invite {
            address,
            agent_version,
            info,
        };
        self.new_connection_then(
            corr_id,
            conn,
            ConnectionMode::Invitation,
            Some(Box::new(invite)),
        );
    }

    /// The invitation `SEND` carrying `link`, our new connection's, to the address: an effect
    /// of the batch that stores that connection.
    pub(super) fn invitation_effect(
        &mut self,
        corr_id: &CorrId,
        conn: &ConnectionId,
        invite: Invite,
        link: ConnectionRequest,
    ) -> Result<Effect, CommandError> {
        let envelope = pipeline::invitation_envelope(invite.agent_version, link, invite.info)
            .map_err(|_| CommandError::Internal("invitation"))?;
        let one_time = x25519::PrivateKey::generate(&mut *self.rng);
        let nonce = CbNonce::random(&mut *self.rng);
        let body = pipeline::seal_invitation(
            invite.address.client_version,
            &invite.address.address.dh_public,
            &one_time,
            nonce,
            &envelope,
        )
        .map_err(|_| CommandError::Internal("invitation box"))?;
        // Unsigned: an address is never secured, anyone may send to it.
        let send = Request::send(
            invite.address.address.sender_id.clone(),
            None,
            MsgFlags { notification: true },
            Bytes::from(body),
        );
        Ok(Effect::Request {
            conn: conn.clone(),
            server: invite.address.address.server.clone(),
            request: Box::new(send),
            pending: PendingRequest::InvitationSent(InvitationSent {
                corr_id: corr_id.clone(),
                conn: conn.clone(),
            }),
        })
    }

    /// The address's server answered the invitation: `OK` to `JOIN`, or its error (the
    /// invitation connection stays, as in the reference).
    pub(super) fn invitation_sent(
        &mut self,
        sent: InvitationSent,
        result: Result<Reply, RequestError>,
    ) {
        let InvitationSent { corr_id, conn } = sent;
        let event = match result {
            Ok(Reply::Ok) => AgentEvent::Ok,
            Ok(_) => AgentEvent::Err(CommandError::Internal("unexpected reply")),
            Err(e) => AgentEvent::Err(CommandError::Server(e)),
        };
        self.event(corr_id, Some(conn), event);
    }

    /// An invitation on one of our queues: only a contact address takes it, as a stored
    /// request, then `REQ` (the caller acknowledges the server's copy after the commit).
    pub(super) fn contact_request(
        &mut self,
        conn: &ConnectionId,
        invitation: &OpenedInvitation,
    ) -> Result<(Vec<Record>, Vec<Effect>), CommandError> {
        let stored = self
            .state
            .connections
            .get(conn)
            .ok_or(CommandError::NotFound)?;
        if ConnectionType::of(stored) != Some(ConnectionType::Contact) {
            return Err(CommandError::Agent(SmpAgentError::Prohibited));
        }
        let id = (0..ID_ATTEMPTS)
            .map(|_| InvitationId::generate(&mut *self.rng))
            .find(|id| !self.state.invitations.contains_key(id))
            .ok_or(CommandError::Internal("unique id"))?;
        let servers = invitation
            .conn_req
            .data()
            .queues
            .as_slice()
            .iter()
            .map(|q| q.address.server.clone())
            .collect();
        let records = vec![Record::InvitationStored {
            id: id.clone(),
            invitation: InvitationRecord {
                contact_conn: conn.clone(),
                conn_req: Bytes::from(invitation.conn_req.to_str_bytes()),
                recipient_conn_info: invitation.conn_info.clone(),
                own_conn_info: None,
            },
        }];
        let effects = vec![Effect::Event {
            corr_id: CorrId::default(),
            conn: conn.clone(),
            event: AgentEvent::Req {
                id,
                servers,
                info: invitation.conn_info.clone(),
            },
        }];
        Ok((records, effects))
    }

    /// `ACPT invId info`: the request is accepted with our info, then its link joined as a
    /// new connection (named by `conn`, or a fresh id).
    pub(super) fn accept_contact(
        &mut self,
        corr_id: CorrId,
        conn: Option<ConnectionId>,
        inv_id: InvitationId,
        info: Bytes,
    ) {
        let link = match self.acceptable(&inv_id) {
            Ok(link) => link,
            Err(error) => return self.event(corr_id, conn, AgentEvent::Err(error)),
        };
        let records = vec![Record::InvitationAccepted {
            id: inv_id,
            own_conn_info: info.clone(),
        }];
        if self.emit(records, Vec::new()).is_err() {
            let error = CommandError::Internal("store record");
            return self.event(corr_id, conn, AgentEvent::Err(error));
        }
        // Nothing of the join is stored or shown before the reply queue exists, and then
        // only in later batches: the acceptance is durable before anything shows it.
        self.join_connection(corr_id, conn, link, info);
    }

    /// The link of a request that may be accepted (the reference's `getInvitation`, which
    /// finds only requests not accepted yet, and its check of the address).
    fn acceptable(&self, inv_id: &InvitationId) -> Result<ConnectionRequest, CommandError> {
        let invitation = self
            .state
            .invitations
            .get(inv_id)
            .filter(|i| i.own_conn_info.is_none())
            .ok_or(CommandError::Prohibited)?;
        if self.halted.contains(&invitation.contact_conn) {
            return Err(CommandError::Halted);
        }
        let address = self
            .state
            .connections
            .get(&invitation.contact_conn)
            .ok_or(CommandError::NotFound)?;
        if ConnectionType::of(address) != Some(ConnectionType::Contact) {
            return Err(CommandError::Prohibited);
        }
        ConnectionRequest::str_decode(&invitation.conn_req)
            .map_err(|_| CommandError::Internal("stored invitation link"))
    }

    /// `RJCT invId` on a contact address: the request is forgotten (`OK` also when there is
    /// no such request of this address, as the reference's delete of no rows).
    pub(super) fn reject_contact(
        &mut self,
        corr_id: CorrId,
        conn: Option<ConnectionId>,
        inv_id: InvitationId,
    ) {
        let Some(conn) = conn else {
            return self.event(corr_id, None, AgentEvent::Err(CommandError::NotFound));
        };
        if self.halted.contains(&conn) {
            return self.event(corr_id, Some(conn), AgentEvent::Err(CommandError::Halted));
        }
        let is_contact = self
            .state
            .connections
            .get(&conn)
            .and_then(ConnectionType::of)
            == Some(ConnectionType::Contact);
        if !is_contact {
            return self.event(corr_id, Some(conn), AgentEvent::Err(CommandError::NotFound));
        }
        let ok = Effect::Event {
            corr_id: corr_id.clone(),
            conn: conn.clone(),
            event: AgentEvent::Ok,
        };
        let ours = self
            .state
            .invitations
            .get(&inv_id)
            .is_some_and(|i| i.contact_conn == conn);
        if !ours {
            return self.after_commits(ok);
        }
        let records = vec![Record::InvitationDeleted { id: inv_id }];
        if self.emit(records, vec![ok]).is_err() {
            let error = CommandError::Internal("store record");
            self.event(corr_id, Some(conn), AgentEvent::Err(error));
        }
    }
}
