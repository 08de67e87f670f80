//! Suspending and activating the agent, as the reference's `suspendAgent` / `activateAgent`
//! (`Agent.hs`, and the operation counters of `Agent/Client.hs`).
//!
//! The reference counts operations in progress of four kinds and suspends them in an order:
//! receiving first (no new server message is processed), then message delivery, then sending
//! and the database; when the last of them has nothing in progress it says `SUSPENDED`. If
//! receiving or delivery are still busy after `maxDelay`, it suspends sending and the database
//! anyway (those two are always waited for: their work is short and must not be cut).
//!
//! Here the same order, in the machine's terms:
//! - **receiving**: from `Suspend` on, server messages the manager hands over are held, not
//!   processed, until `Activate` (the server sends a queue's next message only after our
//!   `ACK`, so at most one per queue is held);
//! - **delivery**: a message waiting for a retry is delivery in progress; it is waited for
//!   until `max_delay`;
//! - **sending and the database**: requests in flight to a server and record batches not yet
//!   committed; always waited for (a batch's effects and a request's answer finish the work
//!   they belong to).
//!
//! Once suspended, user commands are held too, and run in order after `Activate`, as the
//! reference's commands wait for its database to be let go. `max_delay` of zero suspends at
//! once (nothing waited for), as the reference's `suspendAgent c 0`.

use core::time::Duration;

use simplex_core::address::ServerAddress;
use simplex_core::client::{MessageError, ReceivedMessage};
use simplex_core::protocol::EntityId;
use simplex_core::time::Instant;

use super::{Agent, AgentCommand, AgentEvent, CorrId};
use crate::store::ConnectionId;

/// Where the agent is in its life cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AgentState {
    /// Working.
    #[default]
    Active,
    /// Finishing what is in progress; `SUSPENDED` follows.
    Suspending {
        /// After this, delivery in progress is no longer waited for.
        deadline: Instant,
    },
    /// Nothing in progress; server messages and user commands are held until `Activate`.
    Suspended,
}

/// What a suspension holds until `Activate`.
#[derive(Debug, Default)]
pub(super) struct Held {
    /// Server messages handed over by the manager, in order.
    messages: Vec<(
        ServerAddress,
        EntityId,
        Result<ReceivedMessage, MessageError>,
    )>,
    /// User commands, in order.
    commands: Vec<(CorrId, Option<ConnectionId>, AgentCommand)>,
}

#[cfg(test)]
impl Held {
    /// How many server messages are held.
    pub(super) fn messages_len(&self) -> usize {
        self.messages.len()
    }
}

impl Agent {
    /// Where the agent is in its life cycle.
    pub fn lifecycle(&self) -> AgentState {
        self.lifecycle
    }

    /// `suspendAgent`: stop taking new work and say `SUSPENDED` once what is in progress is
    /// done (delivery waited for at most `max_delay`). A second call while suspending or
    /// suspended changes nothing.
    pub(super) fn suspend(&mut self, max_delay: Duration) {
        if self.lifecycle != AgentState::Active {
            return;
        }
        if max_delay.is_zero() {
            self.lifecycle = AgentState::Suspended;
            return self.event(CorrId::default(), None, AgentEvent::Suspended);
        }
        self.lifecycle = AgentState::Suspending {
            deadline: self.clock.now.saturating_add(max_delay),
        };
        self.check_suspended();
    }

    /// `activateAgent`: back to work; what was held runs now, messages first (they were
    /// received before the commands were given), each in its order.
    pub(super) fn activate(&mut self) {
        self.lifecycle = AgentState::Active;
        let held = std::mem::take(&mut self.held);
        for (server, queue_id, message) in held.messages {
            self.message_received(server, queue_id, message);
        }
        for (corr_id, conn, command) in held.commands {
            self.run_command(corr_id, conn, command);
        }
    }

    /// Whether server messages wait (receiving is suspended).
    pub(super) fn receiving_suspended(&self) -> bool {
        self.lifecycle != AgentState::Active
    }

    /// Holds a server message until `Activate`.
    pub(super) fn hold_message(
        &mut self,
        server: ServerAddress,
        queue_id: EntityId,
        message: Result<ReceivedMessage, MessageError>,
    ) {
        self.held.messages.push((server, queue_id, message));
    }

    /// Holds a user command until `Activate` (once suspended); `None` if it may run now.
    pub(super) fn hold_command(
        &mut self,
        corr_id: CorrId,
        conn: Option<ConnectionId>,
        command: AgentCommand,
    ) -> Option<(CorrId, Option<ConnectionId>, AgentCommand)> {
        if self.lifecycle == AgentState::Suspended {
            self.held.commands.push((corr_id, conn, command));
            return None;
        }
        Some((corr_id, conn, command))
    }

    /// The suspension deadline, while suspending.
    pub(super) fn suspend_deadline(&self) -> Option<Instant> {
        match self.lifecycle {
            AgentState::Suspending { deadline } => Some(deadline),
            _ => None,
        }
    }

    /// Says `SUSPENDED` if suspending and nothing that is waited for is in progress. Called
    /// after every input.
    pub(super) fn check_suspended(&mut self) {
        let AgentState::Suspending { deadline } = self.lifecycle else {
            return;
        };
        let sending_or_storing = !self.requests.is_empty() || !self.uncommitted.is_empty();
        let delivering = self.clock.now < deadline && self.delivery_in_progress();
        if !sending_or_storing && !delivering {
            self.lifecycle = AgentState::Suspended;
            self.event(CorrId::default(), None, AgentEvent::Suspended);
        }
    }

    /// Whether a message is waiting to be delivered (an attempt in flight is a request, and
    /// counted there).
    fn delivery_in_progress(&self) -> bool {
        self.state
            .connections
            .values()
            .any(|c| c.snd_queue.is_some() && c.snd_messages.values().any(|m| !m.delivered))
    }
}
