//! The user's commands to a [`ConnectionManager`] (requests, subscriptions, forgetting one,
//! closing everything), as [`super::ManagerInput`] variants take them.

use super::{ConnectionManager, Slot, SlotState, SubEntry, SubStatus};
use crate::address::ServerAddress;
use crate::client::expect::Expect;
use crate::client::machine::{ClientInput, Request, RequestError};
use crate::client::manager::{ManagerEvent, ManagerRequestId, QueueSubscription, SubKey};
use crate::time::Instant;

impl ConnectionManager {
    /// Sends a request to a server, connecting first if needed (requests made while it
    /// connects wait on that one connection). The answer comes as
    /// [`ManagerEvent::Response`].
    pub(super) fn request(
        &mut self,
        now: Instant,
        server: &ServerAddress,
        request: Request,
    ) -> ManagerRequestId {
        let id = ManagerRequestId(self.next_request);
        self.next_request += 1;
        self.ensure_link(now, server);
        let entity_id = request.entity_id.clone();
        let expect = Expect::of(&request.command);
        let unreachable = if self.config.network.target(server).is_err() {
            RequestError::IncompatibleHost
        } else {
            RequestError::Network
        };
        let result = match self.slots.get_mut(server) {
            Some(slot) => match &mut slot.state {
                SlotState::Linked(link) => {
                    match link
                        .client
                        .handle_input(now, ClientInput::Submit(vec![request]))
                    {
                        Ok(handled) => {
                            for rid in handled.submitted {
                                slot.user_requests.insert(rid, (id, expect));
                            }
                            Ok(())
                        }
                        Err(_) => Err(RequestError::Network),
                    }
                }
                _ => Err(unreachable),
            },
            None => Err(unreachable),
        };
        match result {
            Ok(()) => {
                self.process_link(now, server, false);
            }
            Err(error) => self.event(ManagerEvent::Response {
                id,
                server: server.clone(),
                entity_id,
                result: Err(error),
            }),
        }
        id
    }

    /// Subscribes queues of one server and keeps them subscribed across reconnections, in as
    /// few blocks as fit. The outcome comes as [`ManagerEvent::Subscribed`] or
    /// [`ManagerEvent::SubscriptionFailed`].
    pub(super) fn subscribe(
        &mut self,
        now: Instant,
        server: &ServerAddress,
        subs: Vec<QueueSubscription>,
    ) {
        let reconnect = self.config.reconnect;
        let slot = self
            .slots
            .get_or_insert_with(server, || Slot::new(&reconnect));
        for sub in subs {
            let key = (sub.party, sub.queue_id.clone());
            slot.subs.insert(
                key,
                SubEntry {
                    sub,
                    status: SubStatus::Pending,
                    was_down: false,
                },
            );
        }
        self.ensure_link(now, server);
        self.send_pending_subs(now, server);
    }

    /// Forgets a subscription locally (the server keeps it until the connection ends).
    pub(super) fn forget(&mut self, server: &ServerAddress, sub: &SubKey) -> bool {
        self.slots
            .get_mut(server)
            .is_some_and(|slot| slot.subs.remove(sub).is_some())
    }

    /// Closes every connection and forgets every subscription; open requests are answered
    /// with [`RequestError::Network`].
    pub(super) fn close(&mut self, now: Instant) {
        let linked: Vec<ServerAddress> = self.conns.values().cloned().collect();
        for slot in self.slots.values_mut() {
            slot.subs.clear();
        }
        for server in linked {
            self.link_failed(now, &server);
        }
        self.slots.clear();
        self.deadlines.clear();
    }
}
