//! What the connection manager says about servers, told to the user as the reference's agent
//! tells it (`Agent/Client.hs`: `newProtocolClient`, `clientDisconnected`, `reconnectClient`,
//! and `processSMPTransmission` for `END`):
//!
//! - `CONNECT SMP host` each time a connection to a server is up, naming the host dialled;
//! - `DISCONNECT SMP host` then `DOWN server conns` when a connection that carried active
//!   subscriptions drops (nothing when it carried none, as in the reference);
//! - `UP server conns` once the manager resubscribed them after reconnecting;
//! - `END` on a connection whose subscription another client took over.
//!
//! The manager keeps the subscriptions and resubscribes by itself; the agent only translates
//! its subscription keys into connection ids.

use std::collections::HashMap;

use simplex_core::address::{Scheme, ServerAddress};
use simplex_core::client::{SubKey, SubParty};
use simplex_core::protocol::EntityId;

use super::{Agent, AgentEvent, CorrId};
use crate::store::ConnectionId;

impl Agent {
    /// A connection to `server` is up.
    pub(super) fn server_connected(&mut self, server: ServerAddress) {
        let host = self.dialled_host(&server);
        self.event(
            CorrId::default(),
            None,
            AgentEvent::Connect {
                scheme: Scheme::Smp,
                host,
            },
        );
    }

    /// The connection to `server` dropped with these subscriptions active.
    pub(super) fn server_down(&mut self, server: ServerAddress, subs: Vec<SubKey>) {
        let host = self.dialled_host(&server);
        self.event(
            CorrId::default(),
            None,
            AgentEvent::Disconnect {
                scheme: Scheme::Smp,
                host,
            },
        );
        let conns = self.connections_of(&server, &subs);
        if !conns.is_empty() {
            self.event(CorrId::default(), None, AgentEvent::Down { server, conns });
        }
    }

    /// These subscriptions are active again after a reconnection to `server`.
    pub(super) fn server_up(&mut self, server: ServerAddress, subs: Vec<SubKey>) {
        let conns = self.connections_of(&server, &subs);
        if !conns.is_empty() {
            self.event(CorrId::default(), None, AgentEvent::Up { server, conns });
        }
    }

    /// Another client subscribed to this queue: the server ended ours.
    pub(super) fn subscription_ended(&mut self, server: ServerAddress, sub: SubKey) {
        if let Some(conn) = self.connections_of(&server, &[sub]).pop() {
            self.event(CorrId::default(), Some(conn), AgentEvent::End);
        }
    }

    /// The host last dialled for `server` (its first host before any dial).
    fn dialled_host(&self, server: &ServerAddress) -> simplex_core::address::TransportHost {
        self.dialled
            .get(server)
            .cloned()
            .unwrap_or_else(|| server.hosts.first().clone())
    }

    /// The connections whose receive queues on `server` these subscriptions are, in the
    /// order of `subs` (one pass over the connections, however many subscriptions).
    pub(super) fn connections_of(
        &self,
        server: &ServerAddress,
        subs: &[SubKey],
    ) -> Vec<ConnectionId> {
        let by_queue: HashMap<&EntityId, &ConnectionId> = self
            .state
            .connections
            .iter()
            .filter_map(|(id, c)| {
                let q = c.rcv_queue.as_ref()?;
                (&q.server == server).then_some((&q.rcv_id, id))
            })
            .collect();
        subs.iter()
            .filter(|(party, _)| *party == SubParty::Recipient)
            .filter_map(|(_, queue_id)| by_queue.get(queue_id).map(|c| (*c).clone()))
            .collect()
    }
}
