//! Faults and time in the world: the server unreachable, the clocks moving or jumping, and
//! the whole invitation handshake as one step for tests about what comes after it.

use std::time::Duration;

use simplex_agent::machine::{AgentCommand, AgentEvent, AgentInput};
use simplex_agent::protocol::ConnectionMode;
use simplex_agent::store::ConnectionId;
use simplex_core::client::ConnId;
use simplex_core::time::Instant;
use simplex_server::driver::DriverInput;

use super::{Delivery, Owned, ServerIn, World};

impl World {
    /// The server becomes unreachable (every connection drops, new ones are refused) or
    /// reachable again.
    pub fn set_down(&mut self, down: bool) {
        self.down = down;
        if down {
            let sockets: Vec<(u64, (usize, ConnId))> =
                self.to_node.iter().map(|(s, a)| (*s, *a)).collect();
            for (socket, (i, c)) in sockets {
                self.to_node.remove(&socket);
                self.to_server.remove(&(i, c));
                self.queue
                    .push_back(Delivery::ToServer(ServerIn::PeerClosed(socket)));
                self.queue.push_back(Delivery::ToNode(i, Owned::Closed(c)));
            }
        }
        self.run();
    }

    /// Time passes by `by` in steps of at most `step`: after each step every agent and the
    /// server get `Timeout`, and the world runs to rest.
    pub fn advance(&mut self, by: Duration, step: Duration) {
        let mut left = by;
        while !left.is_zero() {
            let d = left.min(step);
            left -= d;
            self.jump(d, d);
        }
    }

    /// The monotonic clock moves by `mono` and the wall clock by `wall`; then `Timeout`s.
    pub fn jump(&mut self, mono: Duration, wall: Duration) {
        self.clock.now = Instant::from_micros(
            self.clock.now.as_micros() + u64::try_from(mono.as_micros()).unwrap(),
        );
        self.clock.wall_clock.seconds += i64::try_from(wall.as_secs()).unwrap();
        let _ = self.server.handle_input(self.clock, DriverInput::Tick);
        self.drain_server();
        for i in 0..self.nodes.len() {
            self.nodes[i]
                .agent
                .handle_input(self.clock, AgentInput::Timeout)
                .unwrap();
            self.drain_agent(i);
        }
        self.run();
    }

    /// A duplex connection between agents `a` (inviter) and `b` (joiner), both `CON`;
    /// their connection ids.
    pub fn connect(&mut self, a: usize, b: usize) -> (ConnectionId, ConnectionId) {
        self.command(
            a,
            b"inv",
            AgentCommand::New {
                mode: ConnectionMode::Invitation,
            },
        );
        self.run();
        let Some((_, _, AgentEvent::Inv(link))) = self.nodes[a].events.pop() else {
            panic!("{:?}", self.nodes[a].events)
        };
        let before: Vec<ConnectionId> = self.nodes[b]
            .store
            .state()
            .connections
            .keys()
            .cloned()
            .collect();
        self.command(
            b,
            b"j",
            AgentCommand::Join {
                conn_req: Box::new(link),
                info: bytes::Bytes::from_static(b"joiner"),
            },
        );
        self.run();
        let Some((_, Some(a_conn), AgentEvent::Conf { id, .. })) =
            self.nodes[a].events.last().cloned()
        else {
            panic!("{:?}", self.nodes[a].events)
        };
        self.command_on(
            a,
            b"let",
            Some(a_conn.clone()),
            AgentCommand::Let {
                conf_id: id,
                info: bytes::Bytes::from_static(b"inviter"),
            },
        );
        self.run();
        let b_conn = self.nodes[b]
            .store
            .state()
            .connections
            .keys()
            .find(|c| !before.contains(c))
            .unwrap()
            .clone();
        for (i, conn) in [(a, &a_conn), (b, &b_conn)] {
            assert!(
                self.nodes[i]
                    .events
                    .iter()
                    .any(|(_, c, e)| c.as_ref() == Some(conn) && *e == AgentEvent::Con),
                "{:?}",
                self.nodes[i].events
            );
        }
        (a_conn, b_conn)
    }
}
