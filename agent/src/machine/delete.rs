//! `DEL`: as the reference's `deleteConnection`, the receive queue is deleted on its server
//! first, then the subscription is forgotten and the connection deleted from the store; `OK`
//! follows the commit. A send-only connection has no queue of ours: it is only deleted from
//! the store. A crash after the server's `OK` and before the commit leaves the connection
//! stored with its queue gone (the reference leaves the same; a later `SUB` reports the
//! server's error).

use simplex_core::address::ServerAddress;
use simplex_core::client::{ManagerInput, Reply, Request, RequestError, SubParty};
use simplex_core::protocol::{Command, EntityId};

use super::subscribe::subscription;
use super::{Agent, AgentEvent, CommandError, CorrId, Effect, PendingRequest};
use crate::store::{ConnectionId, Record};

/// A `DEL` sent to a server, waiting for `OK`.
#[derive(Debug)]
pub(super) struct DeleteQueue {
    corr_id: CorrId,
    conn: ConnectionId,
    server: ServerAddress,
    rcv_id: EntityId,
}

impl Agent {
    pub(super) fn delete_connection(&mut self, corr_id: CorrId, conn: Option<ConnectionId>) {
        let Some(conn) = conn else {
            return self.event(corr_id, None, AgentEvent::Err(CommandError::NotFound));
        };
        if self.halted.contains(&conn) {
            return self.event(corr_id, Some(conn), AgentEvent::Err(CommandError::Halted));
        }
        let Some(stored) = self.state.connections.get(&conn) else {
            return self.event(corr_id, Some(conn), AgentEvent::Err(CommandError::NotFound));
        };
        let Some(rq) = &stored.rcv_queue else {
            return self.delete_stored(corr_id, conn);
        };
        let Some(sub) = subscription(rq) else {
            let error = CommandError::Internal("stored queue keys");
            return self.event(corr_id, Some(conn), AgentEvent::Err(error));
        };
        let server = rq.server.clone();
        let request = Request::signed(rq.rcv_id.clone(), &sub.sign_key, Command::Del);
        let del = DeleteQueue {
            corr_id,
            conn,
            server: server.clone(),
            rcv_id: rq.rcv_id.clone(),
        };
        let input = ManagerInput::Request {
            server,
            request: Box::new(request),
        };
        // A request names no stream: the manager never refuses it.
        if let Ok(handled) = self.feed_manager(input) {
            if let Some(id) = handled.request {
                self.requests.insert(id, PendingRequest::DeleteQueue(del));
            }
        }
    }

    pub(super) fn queue_deleted(&mut self, del: DeleteQueue, result: Result<Reply, RequestError>) {
        match result {
            Ok(Reply::Ok) => {}
            Ok(_) => {
                let error = CommandError::Internal("unexpected reply");
                return self.event(del.corr_id, Some(del.conn), AgentEvent::Err(error));
            }
            Err(e) => {
                let error = CommandError::Server(e);
                return self.event(del.corr_id, Some(del.conn), AgentEvent::Err(error));
            }
        }
        let forget = ManagerInput::Forget {
            server: del.server,
            sub: (SubParty::Recipient, del.rcv_id),
        };
        // A forget names no stream: the manager never refuses it.
        let _ = self.feed_manager(forget);
        if self.state.connections.contains_key(&del.conn) {
            self.delete_stored(del.corr_id, del.conn);
        } else {
            // Deleted meanwhile by another `DEL`.
            self.event(
                del.corr_id,
                Some(del.conn),
                AgentEvent::Err(CommandError::NotFound),
            );
        }
    }

    /// Deletes the connection from the store; `OK` after the commit.
    fn delete_stored(&mut self, corr_id: CorrId, conn: ConnectionId) {
        let records = vec![Record::ConnectionDeleted { conn: conn.clone() }];
        let effects = vec![Effect::Event {
            corr_id: corr_id.clone(),
            conn: conn.clone(),
            event: AgentEvent::Ok,
        }];
        if self.emit(records, effects).is_err() {
            let error = CommandError::Internal("store record");
            self.event(corr_id, Some(conn), AgentEvent::Err(error));
        }
    }
}
