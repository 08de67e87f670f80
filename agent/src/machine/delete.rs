//! `DEL` and `OFF`: the commands that end a receive queue's use, sent to its server first as
//! the reference's `deleteConnection` / `suspendConnection` do.
//!
//! `DEL`: after the server's `OK`, the subscription is forgotten and the connection deleted
//! from the store; `OK` follows the commit. A send-only connection has no queue of ours: it is
//! only deleted from the store. A crash after the server's `OK` and before the commit leaves
//! the connection stored with its queue gone (the reference leaves the same; a later `SUB`
//! reports the server's error).
//!
//! `OFF`: the queue is suspended on the server and nothing is stored (the reference keeps the
//! queue's status as it was); a send-only connection is `CONN SIMPLEX`.

use simplex_core::address::ServerAddress;
use simplex_core::client::{ManagerInput, Reply, Request, RequestError, SubParty};
use simplex_core::protocol::{Command, EntityId};

use super::subscribe::subscription;
use super::{Agent, AgentEvent, CommandError, CorrId, Effect, PendingRequest};
use crate::store::{ConnectionId, Record};

/// Which command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Del,
    Off,
}

/// A `DEL` or `OFF` sent to a server, waiting for `OK`.
#[derive(Debug)]
pub(super) struct QueueCommand {
    kind: Kind,
    corr_id: CorrId,
    conn: ConnectionId,
    server: ServerAddress,
    rcv_id: EntityId,
}

impl Agent {
    pub(super) fn delete_connection(&mut self, corr_id: CorrId, conn: Option<ConnectionId>) {
        self.queue_command(Kind::Del, corr_id, conn);
    }

    pub(super) fn suspend_connection(&mut self, corr_id: CorrId, conn: Option<ConnectionId>) {
        self.queue_command(Kind::Off, corr_id, conn);
    }

    fn queue_command(&mut self, kind: Kind, corr_id: CorrId, conn: Option<ConnectionId>) {
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
            return match kind {
                Kind::Del => self.delete_stored(corr_id, conn),
                Kind::Off => {
                    self.event(corr_id, Some(conn), AgentEvent::Err(CommandError::Simplex))
                }
            };
        };
        let Some(sub) = subscription(rq) else {
            let error = CommandError::Internal("stored queue keys");
            return self.event(corr_id, Some(conn), AgentEvent::Err(error));
        };
        let server = rq.server.clone();
        let command = match kind {
            Kind::Del => Command::Del,
            Kind::Off => Command::Off,
        };
        let request = Request::signed(rq.rcv_id.clone(), &sub.sign_key, command);
        let pending = QueueCommand {
            kind,
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
                self.requests
                    .insert(id, PendingRequest::QueueCommand(pending));
            }
        }
    }

    pub(super) fn queue_command_done(
        &mut self,
        q: QueueCommand,
        result: Result<Reply, RequestError>,
    ) {
        let error = match result {
            Ok(Reply::Ok) => None,
            Ok(_) => Some(CommandError::Internal("unexpected reply")),
            Err(e) => Some(CommandError::Server(e)),
        };
        if let Some(error) = error {
            return self.event(q.corr_id, Some(q.conn), AgentEvent::Err(error));
        }
        if q.kind == Kind::Off {
            // Nothing stored; still, nothing about a connection shows before it is durable.
            return self.after_commits(Effect::Event {
                corr_id: q.corr_id,
                conn: q.conn,
                event: AgentEvent::Ok,
            });
        }
        let forget = ManagerInput::Forget {
            server: q.server,
            sub: (SubParty::Recipient, q.rcv_id),
        };
        // A forget names no stream: the manager never refuses it.
        let _ = self.feed_manager(forget);
        if self.state.connections.contains_key(&q.conn) {
            self.delete_stored(q.corr_id, q.conn);
        } else {
            // Deleted meanwhile by another `DEL`.
            self.event(
                q.corr_id,
                Some(q.conn),
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
